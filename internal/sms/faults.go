package sms

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// ErrProviderNotFound is returned (wrapped, by a *ProviderNotFoundError) when no provider matches a name
// or uid.
var ErrProviderNotFound = errors.New("vasa provider not found")

// ErrProviderAmbiguous is returned (wrapped) when more than one provider has the name asked for: the
// choice between them could change from one session to the next, and with it the array synced.
var ErrProviderAmbiguous = errors.New("more than one vasa provider has that name")

// ErrProviderInfoUnread is returned (wrapped, with their faults) when no provider read matches but some
// providers' info could not be read: the faults are theirs, and may pass (one being registered again).
var ErrProviderInfoUnread = errors.New("could not be read")

// ProviderNotFoundError says which provider was asked for and which are registered, so that a message can
// show a name that differs only by case, white space or a look-alike character.
type ProviderNotFoundError struct {
	What       string // e.g. `provider with name "array-a"`
	Registered []ProviderInfo
}

func (e *ProviderNotFoundError) Error() string {
	return fmt.Sprintf("%s: %v; registered: %s", e.What, ErrProviderNotFound, ProviderList(e.Registered))
}

// Is makes errors.Is(err, ErrProviderNotFound) hold.
func (e *ProviderNotFoundError) Is(target error) bool { return target == ErrProviderNotFound }

// maxProvidersListed bounds the providers ProviderList names.
const maxProvidersListed = 10

// ProviderList names providers as `"name" (uid)`, sorted (SMS lists them in no promised order, and a
// message that changes with it would rewrite the status), at most maxProvidersListed of them, or "none".
func ProviderList(ps []ProviderInfo) string {
	if len(ps) == 0 {
		return "none"
	}
	ps = slices.SortedFunc(slices.Values(ps), func(a, b ProviderInfo) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.UID, b.UID))
	})
	var parts []string
	for _, p := range ps[:min(len(ps), maxProvidersListed)] {
		parts = append(parts, fmt.Sprintf("%q (%s)", p.Name, p.UID))
	}
	if more := len(ps) - maxProvidersListed; more > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(parts, ", ")
}

// Fault is implemented by every typed SMS fault error.
type Fault interface {
	error
	// FaultType returns the SMS fault name, e.g. "TooMany".
	FaultType() string
	// FaultMessage returns the fault's localized message, if any.
	FaultMessage() string
}

// Answered reports whether err carries a fault: the provider or vCenter answered, as opposed to no
// answer at all (a timeout, a refused connection).
func Answered(err error) bool {
	var f Fault
	return errors.As(err, &f)
}

// FaultTypeOf returns the type of the fault err carries ("TooMany"), or "" when it carries none.
func FaultTypeOf(err error) string {
	var f Fault
	if errors.As(err, &f) {
		return f.FaultType()
	}
	return ""
}

func faultText(name, detail, msg string) string {
	s := "sms fault " + name
	if detail != "" {
		s += " (" + detail + ")"
	}
	if msg != "" {
		s += ": " + msg
	}
	return s
}

// InvalidArgumentError is the InvalidArgument fault.
type InvalidArgumentError struct {
	// Property is the invalid property, if the provider named it.
	Property string
	// Message is the fault's localized message.
	Message string
}

// Error implements error.
func (e *InvalidArgumentError) Error() string {
	return faultText("InvalidArgument", e.Property, e.Message)
}

// FaultType implements Fault.
func (e *InvalidArgumentError) FaultType() string { return "InvalidArgument" }

// FaultMessage implements Fault.
func (e *InvalidArgumentError) FaultMessage() string { return e.Message }

// NotImplementedError is the NotImplemented fault, or one as lasting (NotSupportedByProvider).
type NotImplementedError struct {
	// Fault is the fault's name on the wire when it is not NotImplemented.
	Fault string
	// Message is the fault's localized message.
	Message string
}

// Error implements error.
func (e *NotImplementedError) Error() string { return faultText(e.FaultType(), "", e.Message) }

// FaultType implements Fault.
func (e *NotImplementedError) FaultType() string { return cmp.Or(e.Fault, "NotImplemented") }

// FaultMessage implements Fault.
func (e *NotImplementedError) FaultMessage() string { return e.Message }

// ProviderUnavailableError is the ProviderUnavailable fault, or one that passes as it does
// (ProviderConnectionFailed).
type ProviderUnavailableError struct {
	// Fault is the fault's name on the wire when it is not ProviderUnavailable.
	Fault string
	// Message is the fault's localized message.
	Message string
}

// Error implements error.
func (e *ProviderUnavailableError) Error() string { return faultText(e.FaultType(), "", e.Message) }

// FaultType implements Fault.
func (e *ProviderUnavailableError) FaultType() string { return cmp.Or(e.Fault, "ProviderUnavailable") }

// FaultMessage implements Fault.
func (e *ProviderUnavailableError) FaultMessage() string { return e.Message }

// ProviderBusyError is the ProviderBusy fault.
type ProviderBusyError struct {
	// Message is the fault's localized message.
	Message string
}

// Error implements error.
func (e *ProviderBusyError) Error() string { return faultText("ProviderBusy", "", e.Message) }

// FaultType implements Fault.
func (e *ProviderBusyError) FaultType() string { return "ProviderBusy" }

// FaultMessage implements Fault.
func (e *ProviderBusyError) FaultMessage() string { return e.Message }

// ProviderOutOfResourceError is the ProviderOutOfResource fault.
type ProviderOutOfResourceError struct {
	// Message is the fault's localized message.
	Message string
}

// Error implements error.
func (e *ProviderOutOfResourceError) Error() string {
	return faultText("ProviderOutOfResource", "", e.Message)
}

// FaultType implements Fault.
func (e *ProviderOutOfResourceError) FaultType() string { return "ProviderOutOfResource" }

// FaultMessage implements Fault.
func (e *ProviderOutOfResourceError) FaultMessage() string { return e.Message }

// FaultDomainMapping names the active provider for some fault domains.
type FaultDomainMapping struct {
	// ActiveProviderRef is the moId value of the active VasaProvider.
	ActiveProviderRef string
	// FaultDomainIDs are the fault domains that provider is active for.
	FaultDomainIDs []string
}

// InactiveProviderError is the InactiveProvider fault.
type InactiveProviderError struct {
	// Mapping names the active provider per fault domain.
	Mapping []FaultDomainMapping
	// Message is the fault's localized message.
	Message string
}

// Error implements error.
func (e *InactiveProviderError) Error() string {
	parts := make([]string, 0, len(e.Mapping))
	for _, m := range e.Mapping {
		parts = append(parts, m.ActiveProviderRef+"="+strings.Join(m.FaultDomainIDs, ","))
	}
	return faultText("InactiveProvider", strings.Join(parts, "; "), e.Message)
}

// ActiveProviders maps each fault domain the fault names to its active provider's moId value.
func (e *InactiveProviderError) ActiveProviders() map[string]string {
	active := map[string]string{}
	for _, m := range e.Mapping {
		for _, fd := range m.FaultDomainIDs {
			active[fd] = m.ActiveProviderRef
		}
	}
	return active
}

// FaultType implements Fault.
func (e *InactiveProviderError) FaultType() string { return "InactiveProvider" }

// FaultMessage implements Fault.
func (e *InactiveProviderError) FaultMessage() string { return e.Message }

// TooManyError is the TooMany fault: the batch was too large.
type TooManyError struct {
	// MaxBatchSize is the provider's limit; <=0 means 1 per the API reference.
	MaxBatchSize int32
	// Message is the fault's localized message.
	Message string
}

// EffectiveBatchSize returns the batch size to use: MaxBatchSize, or 1 when it is unset.
func (e *TooManyError) EffectiveBatchSize() int {
	if e.MaxBatchSize <= 0 {
		return 1
	}
	return int(e.MaxBatchSize)
}

// Error implements error.
func (e *TooManyError) Error() string {
	return faultText("TooMany", fmt.Sprintf("maxBatchSize %d", e.MaxBatchSize), e.Message)
}

// FaultType implements Fault.
func (e *TooManyError) FaultType() string { return "TooMany" }

// FaultMessage implements Fault.
func (e *TooManyError) FaultMessage() string { return e.Message }

// SyncOngoingError is the SyncOngoing fault: a sync of the group is already running.
type SyncOngoingError struct {
	// TaskRef is the moId value of the running SmsTask.
	TaskRef string
	// Message is the fault's localized message.
	Message string
}

// Error implements error.
func (e *SyncOngoingError) Error() string {
	return faultText("SyncOngoing", "task "+e.TaskRef, e.Message)
}

// FaultType implements Fault.
func (e *SyncOngoingError) FaultType() string { return "SyncOngoing" }

// FaultMessage implements Fault.
func (e *SyncOngoingError) FaultMessage() string { return e.Message }

// ReplicationFaultError is any other SmsReplicationFault.
type ReplicationFaultError struct {
	// Type is the concrete fault name, e.g. "SmsReplicationFault" or "PeerNotReachable".
	Type string
	// Message is the fault's localized message.
	Message string
}

// Error implements error.
func (e *ReplicationFaultError) Error() string { return faultText(e.FaultType(), "", e.Message) }

// FaultType implements Fault.
func (e *ReplicationFaultError) FaultType() string {
	if e.Type == "" {
		return "SmsReplicationFault"
	}
	return e.Type
}

// FaultMessage implements Fault.
func (e *ReplicationFaultError) FaultMessage() string { return e.Message }

// OtherFaultError is a fault this package does not model (e.g. InvalidState).
type OtherFaultError struct {
	// Type is the fault name.
	Type string
	// Message is the fault's localized message.
	Message string
}

// Error implements error.
func (e *OtherFaultError) Error() string { return faultText(e.Type, "", e.Message) }

// FaultType implements Fault.
func (e *OtherFaultError) FaultType() string { return e.Type }

// FaultMessage implements Fault.
func (e *OtherFaultError) FaultMessage() string { return e.Message }

// notAuthenticatedError marks an expired session; the client handles it by logging in again.
type notAuthenticatedError struct{ Message string }

// Error implements error.
func (e *notAuthenticatedError) Error() string {
	return faultText("NotAuthenticated", "", e.Message)
}

// FaultType implements Fault.
func (e *notAuthenticatedError) FaultType() string { return "NotAuthenticated" }

// FaultMessage implements Fault.
func (e *notAuthenticatedError) FaultMessage() string { return e.Message }

// LoginError means vCenter rejected the credentials.
type LoginError struct {
	// Username is the rejected user (never the password). Error leaves it out: the text reaches run
	// status, events and logs, which carry no Secret's values.
	Username string
	// Err is the underlying fault.
	Err error
}

// Error implements error.
func (e *LoginError) Error() string {
	return fmt.Sprintf("vcenter login failed: %v", e.Err)
}

// Unwrap returns the underlying error.
func (e *LoginError) Unwrap() error { return e.Err }

// TLSError means the server certificate could not be verified (untrusted, or thumbprint mismatch).
type TLSError struct {
	// Host is the server address.
	Host string
	// Err is the verification error.
	Err error
}

// Error implements error.
func (e *TLSError) Error() string {
	return fmt.Sprintf("tls verification of %s failed: %v", e.Host, e.Err)
}

// Unwrap returns the underlying error.
func (e *TLSError) Unwrap() error { return e.Err }

// UnreachableError means vCenter could not be reached (dial error, timeout, bad HTTP answer).
type UnreachableError struct {
	// URL is the address tried.
	URL string
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("vcenter %s unreachable: %v", e.URL, e.Err)
}

// Unwrap returns the underlying error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// methodFaultMessage returns the first message of a MethodFault's faultMessage list.
func methodFaultMessage(f vimtypes.BaseMethodFault) string {
	if f == nil {
		return ""
	}
	mf := f.GetMethodFault()
	if mf == nil {
		return ""
	}
	for _, m := range mf.FaultMessage {
		if m.Message != "" {
			return m.Message
		}
	}
	return ""
}

// asBaseMethodFault turns a fault value or pointer into a pointer implementing BaseMethodFault.
func asBaseMethodFault(f any) (vimtypes.BaseMethodFault, bool) {
	if f == nil {
		return nil, false
	}
	if b, ok := f.(vimtypes.BaseMethodFault); ok {
		if v := reflect.ValueOf(b); v.Kind() == reflect.Pointer && v.IsNil() {
			return nil, false
		}
		return b, true
	}
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Struct {
		return nil, false
	}
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	b, ok := p.Interface().(vimtypes.BaseMethodFault)
	return b, ok
}

// DecodeFault turns an SMS/vim fault object (value or pointer) and its message into a typed error.
// It never panics and returns nil for a nil fault.
func DecodeFault(f any, message string) error {
	b, ok := asBaseMethodFault(f)
	if !ok {
		if f == nil {
			return nil
		}
		return &OtherFaultError{Type: fmt.Sprintf("%T", f), Message: cut(message, maxMessageBytes)}
	}
	if message == "" {
		message = methodFaultMessage(b)
	}
	message = cut(message, maxMessageBytes)
	switch t := b.(type) {
	case *vimtypes.NotAuthenticated:
		return &notAuthenticatedError{Message: message}
	case *smstypes.InvalidSession:
		// SMS rejected the vCenter session cookie: the session expired like NotAuthenticated.
		return &notAuthenticatedError{Message: message}
	case *smstypes.InvalidSessionFault:
		return &notAuthenticatedError{Message: message}
	case *vimtypes.InvalidArgument:
		return &InvalidArgumentError{Property: cut(t.InvalidProperty, maxNameBytes), Message: message}
	case *vimtypes.NotImplemented:
		return &NotImplementedError{Message: message}
	case *smstypes.ProviderUnavailable:
		return &ProviderUnavailableError{Message: message}
	case *smstypes.ProviderUnavailableFault:
		return &ProviderUnavailableError{Message: message}
	case *smstypes.ProviderBusy:
		return &ProviderBusyError{Message: message}
	case *smstypes.ProviderBusyFault:
		return &ProviderBusyError{Message: message}
	case *smstypes.ProviderOutOfResource:
		return &ProviderOutOfResourceError{Message: message}
	case *smstypes.ProviderOutOfResourceFault:
		return &ProviderOutOfResourceError{Message: message}
	case *smstypes.InactiveProvider:
		return &InactiveProviderError{Mapping: decodeMapping(t.Mapping), Message: message}
	case *smstypes.InactiveProviderFault:
		return &InactiveProviderError{Mapping: decodeMapping(t.Mapping), Message: message}
	case *smstypes.TooMany:
		return &TooManyError{MaxBatchSize: clampInt32(t.MaxBatchSize), Message: message}
	case *smstypes.TooManyFault:
		return &TooManyError{MaxBatchSize: clampInt32(t.MaxBatchSize), Message: message}
	case *smstypes.SyncOngoing:
		return &SyncOngoingError{TaskRef: keptRef(t.Task.Value), Message: message}
	case *smstypes.SyncOngoingFault:
		return &SyncOngoingError{TaskRef: keptRef(t.Task.Value), Message: message}
	case *smstypes.ServiceNotInitialized, *smstypes.ServiceNotInitializedFault:
		return &ServiceUnavailableError{Message: message}
	case *smstypes.ProviderConnectionFailed, *smstypes.ProviderConnectionFailedFault:
		// SMS could not reach the VASA provider: unavailable for now, as ProviderUnavailable says.
		return &ProviderUnavailableError{Fault: "ProviderConnectionFailed", Message: message}
	case *smstypes.AuthConnectionFailed, *smstypes.AuthConnectionFailedFault:
		// A NoPermission by type, but SMS could not reach vCenter's vpxd to check the session: no
		// privilege is missing, and the service is back once vpxd is.
		return &ServiceUnavailableError{Fault: "AuthConnectionFailed", Message: message}
	case *smstypes.NotSupportedByProvider, *smstypes.NotSupportedByProviderFault:
		// The provider does not support the operation: as lasting as NotImplemented.
		return &NotImplementedError{Fault: "NotSupportedByProvider", Message: message}
	}
	name := reflect.TypeOf(b).Elem().Name()
	if trimmed := strings.TrimSuffix(name, "Fault"); trimmed != name {
		if _, ok := SMSTypeFunc(trimmed); ok {
			name = trimmed // e.g. PeerNotReachableFault is the fault wrapper of PeerNotReachable
		}
	}
	if isReplicationFault(b) {
		return &ReplicationFaultError{Type: name, Message: message}
	}
	return &OtherFaultError{Type: name, Message: message}
}

func isReplicationFault(b vimtypes.BaseMethodFault) bool {
	_, ok := b.(smstypes.BaseSmsReplicationFault)
	return ok
}

func clampInt32(n int64) int32 {
	switch {
	case n > 1<<31-1:
		return 1<<31 - 1
	case n < -1<<31:
		return -1 << 31
	}
	return int32(n)
}

func decodeMapping(in []smstypes.FaultDomainProviderMapping) []FaultDomainMapping {
	out := make([]FaultDomainMapping, 0, len(in))
	for _, m := range in {
		fm := FaultDomainMapping{ActiveProviderRef: keptRef(m.ActiveProvider.Value)}
		for _, fd := range m.FaultDomainId {
			fm.FaultDomainIDs = append(fm.FaultDomainIDs, fd.Id)
		}
		out = append(out, fm)
	}
	return out
}

// decodeCallError converts an error of a SOAP/JSON round trip into a typed fault when it is one.
func decodeCallError(err error) error {
	if err == nil {
		return nil
	}
	if soap.IsSoapFault(err) {
		sf := soap.ToSoapFault(err)
		if typed := DecodeFault(sf.VimFault(), sf.String); typed != nil {
			return typed
		}
		sf.String = cut(sf.String, maxMessageBytes) // the text of a fault this package does not type
	}
	if soap.IsVimFault(err) {
		if typed := DecodeFault(soap.ToVimFault(err), ""); typed != nil {
			return typed
		}
	}
	return err
}
