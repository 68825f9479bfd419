package v1alpha1_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// The API server's "duration" format also takes forms such as "10 minutes" or "1d" that Go's
// time.ParseDuration (behind metav1.Duration) rejects: such a value, once stored, fails to decode in the
// manager. So the duration fields are held to Go's syntax at admission.

// Each message says the form a value takes, not a regular expression.
const (
	inDoubtMsg = "inDoubtWindow must be a duration in Go's syntax (a number and a unit: ns, us, ms, s, m, h), such as 90s, 2m or 1h30m, of at least 5s"
	discMsg    = "discovery.interval must be 0s (off), or a duration in Go's syntax (a number and a unit: ns, us, ms, s, m, h) of at least 30s"
)

func TestDurationFieldsRejectBadInput(t *testing.T) {
	runRejected(t, validProvider, map[string]rejected{
		"inDoubtWindow in words": {
			mutations: []mutation{set("10 minutes", "spec", "inDoubtWindow")},
			field:     "spec.inDoubtWindow", message: inDoubtMsg,
		},
		"inDoubtWindow in days": {
			mutations: []mutation{set("1d", "spec", "inDoubtWindow")},
			field:     "spec.inDoubtWindow", message: inDoubtMsg,
		},
		"inDoubtWindow zero": {
			mutations: []mutation{set("0s", "spec", "inDoubtWindow")},
			field:     "spec.inDoubtWindow", message: inDoubtMsg,
		},
		"inDoubtWindow negative": {
			mutations: []mutation{set("-2m", "spec", "inDoubtWindow")},
			field:     "spec.inDoubtWindow", message: inDoubtMsg,
		},
		"inDoubtWindow under the minimum": {
			mutations: []mutation{set("4s", "spec", "inDoubtWindow")},
			field:     "spec.inDoubtWindow", message: inDoubtMsg,
		},
		"inDoubtWindow not a duration": {
			mutations: []mutation{set("soon", "spec", "inDoubtWindow")},
			field:     "spec.inDoubtWindow", message: inDoubtMsg,
		},
		"discovery interval in words": {
			mutations: []mutation{set("10 minutes", "spec", "discovery", "interval")},
			field:     "spec.discovery.interval", message: discMsg,
		},
		"discovery interval under 30s": {
			mutations: []mutation{set("10s", "spec", "discovery", "interval")},
			field:     "spec.discovery.interval", message: discMsg,
		},
	})
}

// TestDurationFieldsAcceptGoodInput also reads every accepted object back as the manager does, so a
// value the API server stores but Go cannot decode fails here.
func TestDurationFieldsAcceptGoodInput(t *testing.T) {
	tests := map[string]struct {
		inDoubt, interval string
		want, wantEvery   time.Duration
	}{
		"minimums":            {inDoubt: "5s", interval: "30s", want: 5 * time.Second, wantEvery: 30 * time.Second},
		"compound":            {inDoubt: "1h30m", interval: "2h15m", want: 90 * time.Minute, wantEvery: 135 * time.Minute},
		"fraction":            {inDoubt: "1.5m", interval: "0.5h", want: 90 * time.Second, wantEvery: 30 * time.Minute},
		"discovery off (0s)":  {inDoubt: "2m", interval: "0s", want: 2 * time.Minute},
		"discovery off (0)":   {inDoubt: "2m", interval: "0", want: 2 * time.Minute},
		"milliseconds":        {inDoubt: "5000ms", interval: "60000ms", want: 5 * time.Second, wantEvery: time.Minute},
		"four parts, largest": {inDoubt: "99999h59m59s999ms", interval: "1h", want: 99999*time.Hour + 59*time.Minute + 59*time.Second + 999*time.Millisecond, wantEvery: time.Hour},
	}
	ns := newNamespace(t)
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			obj := validProvider(ns, objectName(name), set(tt.inDoubt, "spec", "inDoubtWindow"), set(tt.interval, "spec", "discovery", "interval"))
			g.Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			got := &replicationv1alpha1.VasaProvider{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), got)).To(Succeed())
			g.Expect(got.Spec.InDoubtWindow).NotTo(BeNil())
			g.Expect(got.Spec.InDoubtWindow.Duration).To(Equal(tt.want))
			g.Expect(got.Spec.Discovery.Interval.Duration).To(Equal(tt.wantEvery))
		})
	}
}
