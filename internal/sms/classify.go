package sms

import "errors"

// IsTransient reports whether err is a provider fault that says "not now": busy, out of resources,
// unavailable. Callers back off and call again; the fault is never counted against the groups.
func IsTransient(err error) bool {
	var (
		busy    *ProviderBusyError
		oor     *ProviderOutOfResourceError
		unavail *ProviderUnavailableError
	)
	return errors.As(err, &busy) || errors.As(err, &oor) || errors.As(err, &unavail)
}
