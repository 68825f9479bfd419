package controllers

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// credentialsHintError adds to a refused login what looks wrong with the credentials, never their values.
type credentialsHintError struct {
	err  error
	hint string
}

func (e *credentialsHintError) Error() string { return e.err.Error() + " (" + e.hint + ")" }
func (e *credentialsHintError) Unwrap() error { return e.err }

// withCredentialsHint notes, on a refused login, white space around the username or password: a Secret
// written with `echo secret | base64` holds a trailing line break that no one sees in the message.
func withCredentialsHint(err error, cfg sms.Config) error {
	var le *sms.LoginError
	if !errors.As(err, &le) {
		return err
	}
	var which []string
	for _, kv := range [][2]string{{secretUsernameKey, cfg.Username}, {secretPasswordKey, cfg.Password}} {
		if strings.TrimSpace(kv[1]) != kv[1] {
			which = append(which, kv[0])
		}
	}
	if len(which) == 0 {
		return err
	}
	return &credentialsHintError{err: err, hint: fmt.Sprintf("the %s in the Secret starts or ends with white space or a line break; "+
		"echo without -n adds one: write the Secret with kubectl create secret generic --from-literal", strings.Join(which, " and "))}
}

// caBundleError says the CA bundle Secret key holds no PEM certificate.
type caBundleError struct{ msg string }

func (e *caBundleError) Error() string { return e.msg }

// classifyConnectError maps a connection error to a Ready reason and a message telling the user what to fix.
func classifyConnectError(vp *replicationv1alpha1.VasaProvider, err error) (string, string) {
	var (
		se   *secretError
		ce   *caBundleError
		le   *sms.LoginError
		te   *sms.TLSError
		ue   *sms.UnreachableError
		ve   *sms.VersionError
		su   *sms.ServiceUnavailableError
		re   *sms.RedirectError
		held *session.AccountHeldError
	)
	switch {
	case errors.As(err, &se):
		return replicationv1alpha1.SecretNotFoundReason, se.msg
	case errors.As(err, &ce):
		return replicationv1alpha1.InvalidCABundleReason, ce.msg
	case errors.Is(err, sms.ErrJSONUnsupported) && !errors.As(err, &ve):
		return replicationv1alpha1.JSONBindingUnsupportedReason, fmt.Sprintf("vCenter %s does not serve the VI/JSON binding for SMS (it needs vCenter 8.0U1 or later): set spec.binding to SOAP",
			vp.Spec.VCenter.SafeURL())
	case errors.As(err, &ve) && ve.Pinned:
		return replicationv1alpha1.SMSVersionUnsupportedReason, fmt.Sprintf("vCenter %s does not accept the SMS version %s pinned in spec.vcenter.smsVersion: clear it to negotiate, or pin a version this vCenter has",
			vp.Spec.VCenter.SafeURL(), vp.Spec.VCenter.SMSVersion)
	case errors.As(err, &ve):
		return replicationv1alpha1.SMSVersionUnsupportedReason, fmt.Sprintf("vCenter %s accepts none of the SMS versions %v: it is older than vSphere 6.5 or newer than this operator",
			vp.Spec.VCenter.SafeURL(), ve.Tried)
	case errors.As(err, &su) && su.Fault == "AuthConnectionFailed":
		return replicationv1alpha1.ServiceInitializingReason, fmt.Sprintf("The SMS service of vCenter %s cannot reach vCenter's own vpxd to check the session (%v): vpxd is restarting or down; retrying", vp.Spec.VCenter.SafeURL(), su)
	case errors.As(err, &su):
		return replicationv1alpha1.ServiceInitializingReason, fmt.Sprintf("The SMS service of vCenter %s is starting (%v); retrying. If this lasts over 15 minutes, check the vmware-sps service on vCenter (service-control --status vmware-sps)", vp.Spec.VCenter.SafeURL(), su)
	case errors.As(err, &held):
		// Not this VasaProvider's refusal: its password was not tried, and the hint of whoever was refused
		// (another namespace, perhaps) is not its own.
		return replicationv1alpha1.InvalidCredentialsReason, fmt.Sprintf("Not logging in to vCenter %s before %s: it refused %d logins of the user of Secret %q within %s, from VasaProviders of any namespace, and would lock the account after 5. This VasaProvider's password was not tried; if it is wrong, fix Secret %q",
			vp.Spec.VCenter.SafeURL(), held.Until.UTC().Format(time.RFC3339), held.Refused, vp.Spec.VCenter.CredentialsSecretRef.Name, held.Window, vp.Spec.VCenter.CredentialsSecretRef.Name)
	case errors.As(err, &le):
		// The user name is not repeated here: conditions carry no Secret's values (docs/security.md).
		msg := fmt.Sprintf("vCenter %s rejected the login of the user in Secret %q: fix the username and password there, or the account in vCenter (its password expired or was changed there?)",
			vp.Spec.VCenter.SafeURL(), vp.Spec.VCenter.CredentialsSecretRef.Name)
		if ch := (*credentialsHintError)(nil); errors.As(err, &ch) {
			msg += " (" + ch.hint + ")"
		}
		return replicationv1alpha1.InvalidCredentialsReason, msg
	case errors.As(err, &te):
		return replicationv1alpha1.TLSVerificationFailedReason, fmt.Sprintf("The certificate of %s did not verify (%v): %s",
			vp.Spec.VCenter.SafeURL(), te.Err, tlsAdvice(te.Err))
	case noPermission(err):
		return replicationv1alpha1.VCenterFaultReason, fmt.Sprintf("vCenter %s refused the check: %v: give the user of Secret %q the StorageViews.ConfigureService privilege (docs/quickstart.md)",
			vp.Spec.VCenter.SafeURL(), err, vp.Spec.VCenter.CredentialsSecretRef.Name)
	case errors.As(err, &re):
		return replicationv1alpha1.RedirectedReason, fmt.Sprintf("%v (spec.vcenter.url)", re)
	case errors.As(err, &ue):
		return replicationv1alpha1.UnreachableReason, fmt.Sprintf("vCenter %s is unreachable (%v): check spec.vcenter.url and the network path", vp.Spec.VCenter.SafeURL(), ue.Err)
	}
	return replicationv1alpha1.UnreachableReason, fmt.Sprintf("Connecting to vCenter %s failed: %v", vp.Spec.VCenter.SafeURL(), err)
}

// tlsAdvice says what fixes a certificate that did not verify. A CA or a pinned thumbprint cannot fix a
// URL the certificate does not name, and a pin would only hide an expired certificate.
func tlsAdvice(err error) string {
	var (
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &host):
		return "spec.vcenter.url must use a name the certificate holds (vCenter's certificate names its FQDN, often not its IP address)"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "renew vCenter's certificate, or correct the clock of vCenter or of this cluster's nodes if it is wrong"
	}
	return "set spec.vcenter.tls.caBundleSecretRef to the vCenter CA or spec.vcenter.tls.thumbprint"
}

// noPermission reports whether vCenter answered our own lookup with NoPermission: the user lacks a
// privilege, which no retry clears. Not the faults of other providers' info (ErrProviderInfoUnread).
func noPermission(err error) bool {
	return sms.FaultTypeOf(err) == "NoPermission" && !errors.Is(err, sms.ErrProviderInfoUnread)
}

// secretKeys lists the keys of a Secret, never its values, for a message that shows a misnamed key
// ("user" for "username", "tls.crt" for "ca.crt").
func secretKeys(s *corev1.Secret) string {
	if len(s.Data) == 0 {
		return "no keys"
	}
	keys := slices.Sorted(maps.Keys(s.Data))
	return fmt.Sprintf("keys %q", keys)
}

// providerNotFoundMessage says which provider was not found and which are registered: the usual mistakes
// (case, white space, a look-alike character) show beside the name.
func providerNotFoundMessage(vp *replicationv1alpha1.VasaProvider, registered []sms.ProviderInfo) string {
	field, what := "spec.provider.name", fmt.Sprintf("named %q", vp.Spec.Provider.Name)
	if vp.Spec.Provider.UID != "" {
		field, what = "spec.provider.uid", fmt.Sprintf("with uid %q", vp.Spec.Provider.UID)
	}
	return fmt.Sprintf("No VASA provider %s is registered in vCenter %s: check %s (registered: %s)",
		what, vp.Spec.VCenter.SafeURL(), field, sms.ProviderList(registered))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// vcenterVersion renders the vCenter's version and build, e.g. "8.0.3 build-24022515".
func vcenterVersion(s sms.ServerInfo) string {
	if s.VCenterBuild == "" {
		return s.VCenterVersion
	}
	return s.VCenterVersion + " build-" + s.VCenterBuild
}

// transientReason reports whether a Ready reason passes by itself (retry soon, no human needed).
func transientReason(reason string) bool {
	return reason == replicationv1alpha1.UnreachableReason || reason == replicationv1alpha1.ServiceInitializingReason
}
