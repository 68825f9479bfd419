package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RetryTime is a time, an RFC 3339 string on the wire, written to the microsecond, that also reads the whole-second times (RFC 3339) the
// versions of this operator before group claims wrote to status.retry.nextRetryTime: metav1.MicroTime
// alone refuses them, and one such status would make every read of ReplicationSyncs, the manager's cache
// included, fail after an upgrade.
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:Format=date-time
type RetryTime struct {
	metav1.MicroTime `json:",inline"`
}

// NewRetryTime returns t as a RetryTime.
func NewRetryTime(t time.Time) RetryTime { return RetryTime{metav1.NewMicroTime(t)} }

// UnmarshalJSON reads RFC 3339 with or without a fraction of a second.
func (t *RetryTime) UnmarshalJSON(b []byte) error {
	return t.either(t.MicroTime.UnmarshalJSON, (*metav1.Time).UnmarshalJSON, b)
}

// UnmarshalCBOR reads RFC 3339 with or without a fraction of a second, for clients that ask for CBOR.
func (t *RetryTime) UnmarshalCBOR(b []byte) error {
	return t.either(t.MicroTime.UnmarshalCBOR, (*metav1.Time).UnmarshalCBOR, b)
}

// either decodes b as a MicroTime or, failing that, as a whole-second Time.
func (t *RetryTime) either(micro func([]byte) error, whole func(*metav1.Time, []byte) error, b []byte) error {
	if err := micro(b); err == nil {
		return nil
	}
	var w metav1.Time
	if err := whole(&w, b); err != nil {
		return err
	}
	t.MicroTime = metav1.NewMicroTime(w.Time)
	return nil
}
