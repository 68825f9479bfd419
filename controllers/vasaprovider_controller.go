package controllers

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/capacity"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/session"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

const (
	// ProviderRecheckInterval is how often a VasaProvider's connection is verified again.
	ProviderRecheckInterval = 5 * time.Minute
	// sessionRejectedTries is how often one check looks the provider up while each new session it
	// logs in with is expired again before the lookup runs.
	sessionRejectedTries = 3
	// DefaultSessionMaxAge is how long a session serves before a check logs in anew (--session-max-age):
	// a password that expired or was changed in vCenter shows within it, not at a failover. It costs a
	// login and a logout an hour per VasaProvider.
	DefaultSessionMaxAge = time.Hour

	// ProviderUnreachableRetryInterval is how soon an unreachable vCenter is tried again.
	ProviderUnreachableRetryInterval = 30 * time.Second

	// vasaProviderSecretIndex indexes VasaProviders by the names of the Secrets they reference.
	vasaProviderSecretIndex = "vasaprovider.secretNames"

	secretUsernameKey = "username"
	secretPasswordKey = "password"
)

// DialFunc opens an SMS session; sms.Dial in production.
type DialFunc func(ctx context.Context, cfg sms.Config) (sms.Client, error)

// Sessions holds one SMS session per VasaProvider, shared by the reconcilers of one manager.
// *session.Cache implements it.
type Sessions interface {
	// Client returns the cached session for key if it was opened with login's fingerprint, otherwise dials a new one.
	Client(ctx context.Context, key types.NamespacedName, login session.Login, dial session.Dialer) (sms.Client, error)
	// Drop logs out and drops the session for key if it was opened before openedBefore (zero: any).
	Drop(key types.NamespacedName, openedBefore time.Time) bool
	// Forget logs out and drops the session for key (the VasaProvider was deleted); Client refuses key
	// until Reopen.
	Forget(key types.NamespacedName)
	// Reopen lets Client open sessions for key again (a VasaProvider of that name exists).
	Reopen(key types.NamespacedName)
	// Cached returns the session for key if one is open with fingerprint, without dialing.
	Cached(key types.NamespacedName, fingerprint string) (sms.Client, bool)
}

// providerCheckWorkers is how many VasaProviders are checked at once: a vCenter that takes connections
// but never answers holds one check until its timeouts, not every other provider's (a re-lookup after
// ManagedObjectNotFound, a fixed Secret), as it would with one worker.
const providerCheckWorkers = 4

// siblingWakeups is how many checks of VasaProviders of a silent vCenter may wait to be queued
// (wakeSiblings); more learn the silence at their next check.
const siblingWakeups = 256

// VasaProviderReconciler verifies the connection to a VASA provider and keeps its session.
type VasaProviderReconciler struct {
	client.Client
	// APIReader reads the Secrets uncached, so the manager never holds Secret values in memory (it only
	// watches their metadata). nil means mgr.GetAPIReader(), set by SetupWithManager.
	APIReader client.Reader
	// Sessions is shared with the ReplicationSyncReconciler.
	Sessions Sessions
	// Capacity is what the ReplicationSyncReconciler learned about the provider; this reconciler is
	// the one writer of it to status (learnedMaxBatchSize, observedTaskDuration).
	Capacity *capacity.Ledger
	// CapacityEvents wakes this reconciler when Capacity learned something; nil means none.
	CapacityEvents <-chan event.GenericEvent
	// Dial opens SMS sessions; nil means sms.Dial.
	Dial DialFunc
	// Clock is the time source; nil means the real clock.
	Clock clock.PassiveClock
	// RecheckInterval overrides ProviderRecheckInterval when > 0.
	RecheckInterval time.Duration
	// SessionMaxAge is how long a session serves before a check logs in anew (0: until vCenter ends it).
	SessionMaxAge time.Duration
	// Recorder records events (the Warning about disabled TLS verification); nil means none.
	Recorder events.EventRecorder

	// deleted are the VasaProviders whose deletion is dropped from memory once more (vasaprovider_deleted.go).
	deleted deletedProviders
	// silent are the vCenters that did not answer a check (vasaprovider_silent.go).
	silent silentVCenters
	// siblings wakes the checks of the other VasaProviders of a vCenter found silent; nil means none.
	siblings chan event.GenericEvent
}

// +kubebuilder:rbac:groups=replication.vasa.io,resources=vasaproviders,verbs=get;list;watch
// +kubebuilder:rbac:groups=replication.vasa.io,resources=vasaproviders/status,verbs=patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// Reconcile checks one VasaProvider: Secrets, login, provider lookup.
func (r *VasaProviderReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	log := ctrl.LoggerFrom(ctx)
	vp := &replicationv1alpha1.VasaProvider{}
	if err := r.Get(ctx, req.NamespacedName, vp); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{RequeueAfter: r.forgetDeleted(req.NamespacedName)}, nil
		}
		return ctrl.Result{}, err
	}
	r.deleted.exists(req.NamespacedName)
	if !vp.DeletionTimestamp.IsZero() {
		r.Sessions.Forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	// One of its name may have been deleted before: the runs of this one may log in once it is Ready.
	r.Sessions.Reopen(req.NamespacedName)

	before := vp.DeepCopy()
	defer func() {
		if equality.Semantic.DeepEqual(before.Status, vp.Status) {
			return
		}
		if err := r.Status().Patch(ctx, vp, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
			reterr = errors.Join(reterr, fmt.Errorf("patching VasaProvider status: %w", err))
		}
	}()

	if r.Capacity.BindObject(req.NamespacedName, vp.UID) {
		log.Info("VasaProvider was created again under its name: learning its batch size and task durations anew")
	}
	r.recordCapacity(vp)
	metrics.LearnedBatchSize.WithLabelValues(vp.Namespace, vp.Name).Set(float64(vp.Status.LearnedMaxBatchSize))
	// Before its first run ends, so that an alert on the increase sees that run.
	metrics.InitSyncsTotal(vp.Namespace, vp.Name)

	r.reportTLSVerification(ctx, vp, before)
	r.expireOldSession(ctx, req.NamespacedName)
	res := r.check(ctx, vp)
	setProviderConditions(vp, res)
	if res.reason == replicationv1alpha1.ConnectedReason {
		vp.Status.ProviderRef = &replicationv1alpha1.ManagedObjectReference{Type: "VasaProvider", Value: res.info.Ref}
		vp.Status.ProviderInfo = &replicationv1alpha1.ProviderInfo{
			Name: res.info.Name, UID: res.info.UID, Version: res.info.Version, Status: res.info.Status,
		}
		if res.server.SMSVersion != "" {
			vp.Status.SMSVersion = res.server.SMSVersion
			vp.Status.VCenterVersion = vcenterVersion(res.server)
			vp.Status.VCenterInstanceUUID = res.server.VCenterInstanceUUID
		}
		r.relearnIfMoved(ctx, before, vp)
		now := metaNow(r.Clock)
		vp.Status.LastCheckedTime = &now
	} else if before.Status.ObservedGeneration != vp.Generation {
		// The last verified connection was of another spec: kept, it would read as this spec's provider
		// found a moment ago (recentlyConnected), and a provider name mistyped in an edit would show as
		// "being registered again" from its second check on instead of Stalled.
		vp.Status.LastCheckedTime = nil
	}
	if before.Status.ObservedGeneration != vp.Generation || readyReason(before) != res.reason {
		log.Info("Checked VasaProvider", "vasaProvider", klog.KObj(vp), "reason", res.reason)
	}
	vp.Status.ObservedGeneration = vp.Generation

	ready := 0.0
	if res.reason == replicationv1alpha1.ConnectedReason {
		ready = 1
	}
	metrics.ProviderReady.WithLabelValues(vp.Namespace, vp.Name).Set(ready)

	if res.skipped {
		return ctrl.Result{RequeueAfter: min(silentCheckRetry, r.recheck())}, nil
	}
	if res.transient() {
		return ctrl.Result{RequeueAfter: min(ProviderUnreachableRetryInterval, r.recheck())}, nil
	}
	return ctrl.Result{RequeueAfter: r.recheck()}, nil
}

// expireOldSession drops the VasaProvider's session once it is older than SessionMaxAge, so that the check
// logs in anew. Rechecks and runs keep a session alive for as long as the manager runs, and vCenter keeps a
// session whose password expired or was changed there: only a new login shows that, as InvalidCredentials.
// Without this it would show first when vCenter ends the session, in a restart of vCenter during a
// failover, say. The runs sharing the session take the new one at their next call (a call on the old one
// after its logout is not sent: ErrClosed).
func (r *VasaProviderReconciler) expireOldSession(ctx context.Context, key types.NamespacedName) {
	if r.SessionMaxAge <= 0 {
		return
	}
	if r.Sessions.Drop(key, clockNow(r.Clock).Add(-r.SessionMaxAge)) {
		ctrl.LoggerFrom(ctx).Info("Logging in to vCenter anew to verify the credentials", "sessionMaxAge", r.SessionMaxAge)
	}
}

func (r *VasaProviderReconciler) recheck() time.Duration {
	if r.RecheckInterval > 0 {
		return r.RecheckInterval
	}
	return ProviderRecheckInterval
}

// connectResult is the outcome of one connection check.
type connectResult struct {
	reason  string
	message string
	info    sms.ProviderInfo
	server  sms.ServerInfo
	// retrySoon makes a failure that needs a human by its reason pass by itself for now.
	retrySoon bool
	// err is why the dial or the lookup failed, if it did.
	err error
	// skipped says the check called nothing: another check tries its silent vCenter (silentVCenters).
	skipped bool
}

// answered reports whether vCenter answered the check (whatever it said, a malformed answer too), and
// silent whether the check got no answer; neither, when the check sent nothing: a Secret missing or not
// read, a login held back, the manager stopping.
func (res connectResult) answered() (answered, silent bool) {
	var (
		ue   *sms.UnreachableError
		se   *secretError
		ce   *caBundleError
		held *session.AccountHeldError
		api  apierrors.APIStatus
	)
	switch {
	case res.skipped:
		return false, false
	case errors.As(res.err, &ue):
		return false, true
	case errors.As(res.err, &se), errors.As(res.err, &ce), errors.As(res.err, &held), errors.As(res.err, &api),
		errors.Is(res.err, context.Canceled), errors.Is(res.err, context.DeadlineExceeded):
		return false, false
	}
	return true, false
}

// transient reports whether the check's failure passes by itself (retry soon, no human needed).
func (res connectResult) transient() bool { return res.retrySoon || transientReason(res.reason) }

// providerReregisterGrace is how long after its last successful check a provider that is no longer
// registered is looked for again every ProviderUnreachableRetryInterval, not Stalled: re-registering a
// provider (after renewing its certificate, say) unregisters it for a moment, and a run's call in that
// moment has it looked up at once.
const providerReregisterGrace = 10 * time.Minute

// recentlyConnected reports when the provider of the VasaProvider's current spec was last found, if that
// was less than providerReregisterGrace before now.
func recentlyConnected(vp *replicationv1alpha1.VasaProvider, now time.Time) (time.Time, bool) {
	if vp.Status.ObservedGeneration != vp.Generation || vp.Status.ProviderRef == nil || vp.Status.LastCheckedTime == nil {
		return time.Time{}, false
	}
	seen := vp.Status.LastCheckedTime.Time
	return seen, now.Sub(seen) < providerReregisterGrace
}

// check connects, unless another check tries the VasaProvider's vCenter, which has not answered
// (silentVCenters): then it calls nothing and says what that check found.
func (r *VasaProviderReconciler) check(ctx context.Context, vp *replicationv1alpha1.VasaProvider) connectResult {
	host, key := sms.HostOf(vp.Spec.VCenter.URL), client.ObjectKeyFromObject(vp)
	if msg, skip := r.silent.skip(host, key, clockNow(r.Clock)); skip {
		return connectResult{reason: replicationv1alpha1.UnreachableReason, message: msg, skipped: true}
	}
	res := r.connect(ctx, vp)
	answered, silent := res.answered()
	if r.silent.checked(host, key, answered, silent, res.message, clockNow(r.Clock)) {
		r.wakeSiblings(ctx, host, key)
	}
	return res
}

// connect reads the Secrets, opens (or reuses) the session and looks the provider up.
func (r *VasaProviderReconciler) connect(ctx context.Context, vp *replicationv1alpha1.VasaProvider) connectResult {
	key := client.ObjectKeyFromObject(vp)
	// The Secrets' metadata is read uncached here (no values): the check is what notices a Secret the
	// manager may no longer read, or one deleted, which the cache may not show yet.
	cl, err := providerClient(ctx, r.APIReader, r.APIReader, r.Sessions, r.Dial, vp)
	if held := (*session.AccountHeldError)(nil); errors.As(err, &held) {
		// Nothing was tried: checked again soon, as the hold ends within minutes.
		reason, msg := classifyConnectError(vp, err)
		return connectResult{reason: reason, message: msg, retrySoon: true, err: err}
	}
	if err != nil {
		reason, msg := classifyConnectError(vp, err)
		switch reason {
		case replicationv1alpha1.InvalidCredentialsReason, replicationv1alpha1.TLSVerificationFailedReason, replicationv1alpha1.SecretNotFoundReason:
			// Also a session whose credentials were deleted or may no longer be read: it goes with them.
			r.Sessions.Drop(key, time.Time{})
		}
		return connectResult{reason: reason, message: msg, err: err}
	}
	info, err := findProvider(ctx, cl, vp)
	if sessionReplaced(err) {
		// A run replaced the session during the lookup (a rotated Secret): look again on the new one.
		// Dropping the session now would close that one, and say Unreachable of a vCenter that answers.
		if cl, err = providerClient(ctx, r.APIReader, r.APIReader, r.Sessions, r.Dial, vp); err == nil {
			info, err = findProvider(ctx, cl, vp)
		}
	}
	if err != nil {
		if nf := (*sms.ProviderNotFoundError)(nil); errors.As(err, &nf) {
			res := connectResult{reason: replicationv1alpha1.ProviderNotFoundReason, message: providerNotFoundMessage(vp, nf.Registered)}
			if seen, ok := recentlyConnected(vp, clockNow(r.Clock)); ok {
				res.retrySoon = true
				res.message += fmt.Sprintf("; it was found at %s: being registered again (a renewed certificate)? Checking again every %s; Stalled if it is still missing %s after",
					seen.UTC().Format(time.RFC3339), ProviderUnreachableRetryInterval, providerReregisterGrace)
			}
			return res
		}
		if errors.Is(err, sms.ErrProviderAmbiguous) {
			return connectResult{reason: replicationv1alpha1.ProviderAmbiguousReason, message: fmt.Sprintf(
				"%v, in vCenter %s: set spec.provider.uid (instead of the name) to the one to sync", err, vp.Spec.VCenter.SafeURL())}
		}
		if !keepSession(ctx, err) {
			r.Sessions.Drop(key, time.Time{}) // it may be unusable
		}
		reason, msg := classifyConnectError(vp, err)
		held := (*session.AccountHeldError)(nil)
		// A re-login held (the session's own, after vCenter ended it): checked again soon, as at dial.
		return connectResult{reason: reason, message: msg, retrySoon: errors.As(err, &held), err: err}
	}
	res := connectResult{reason: replicationv1alpha1.ConnectedReason, info: info}
	if sr, ok := cl.(sms.ServerInfoReporter); ok {
		res.server = sr.ServerInfo()
	}
	res.message = fmt.Sprintf("Connected to %s, provider %s (%s) is %s", vp.Spec.VCenter.SafeURL(), info.Name, info.Ref, orUnknown(info.Status))
	if res.server.SMSVersion != "" {
		res.message += fmt.Sprintf("; vCenter %s, SMS %s over %s", orUnknown(res.server.VCenterVersion), res.server.SMSVersion, res.server.Binding)
	}
	return res
}

// findProvider looks the VasaProvider's provider up on cl.
func findProvider(ctx context.Context, cl sms.Client, vp *replicationv1alpha1.VasaProvider) (sms.ProviderInfo, error) {
	info, err := cl.FindProvider(ctx, vp.Spec.Provider.Name, vp.Spec.Provider.UID)
	for try := 1; errors.Is(err, sms.ErrSessionRejected) && try < sessionRejectedTries; try++ {
		// vCenter took the new login, but the runs sharing the session used it up before the lookup
		// could (a vCenter that ends sessions early): that says nothing of the provider, so look again,
		// with a login of its own, rather than mark it Unreachable and hold its runs for 30 s.
		info, err = cl.FindProvider(ctx, vp.Spec.Provider.Name, vp.Spec.Provider.UID)
	}
	return info, err
}

// keepSession reports whether a failed check leaves the session usable: vCenter answered with a fault
// through it (its SMS starting or busy), did not answer at all (a timeout, a reset connection), or the
// manager is stopping. The session stays for the runs sharing it, which keep their calls and commits
// through a shutdown; a session vCenter really lost is re-opened by the client when a call meets
// NotAuthenticated. One whose re-login was refused, or whose certificate changed, goes, and so does one
// refused for a missing privilege: vCenter may grant a privilege given since (a group's role) only to a
// new login.
func keepSession(ctx context.Context, err error) bool {
	if sessionUnusable(err) || noPermission(err) {
		return false
	}
	var (
		unreachable *sms.UnreachableError
		answered    sms.Fault
	)
	return ctx.Err() != nil || errors.As(err, &unreachable) || errors.As(err, &answered)
}

// secretError says a referenced Secret or one of its keys is missing.
type secretError struct{ msg string }

func (e *secretError) Error() string { return e.msg }

// secretReadError is a failed read of a Secret other than NotFound: one the manager may not read needs
// RBAC fixed (a secretError, no retry clears it); anything else is the API server's and passes.
func secretReadError(what, name, namespace string, err error) error {
	if apierrors.IsForbidden(err) {
		return &secretError{fmt.Sprintf("the manager may not read %s %q in namespace %s (%v): grant its service account get on secrets there (the chart's RBAC does so for the namespaces it watches)", what, name, namespace, err)}
	}
	return fmt.Errorf("reading %s %s: %w", what, name, err)
}

// providerConfig builds the SMS config of a VasaProvider from its Secrets and returns a fingerprint of
// everything the session depends on (generation and Secret resourceVersions, never the values).
// c should be an uncached reader (mgr.GetAPIReader()): a Secret read through the cached client starts
// an informer holding the values of every Secret in the watched namespaces.
func providerConfig(ctx context.Context, c client.Reader, vp *replicationv1alpha1.VasaProvider) (sms.Config, string, error) {
	ctx = quietSecretReads(ctx)
	creds := &corev1.Secret{}
	name := vp.Spec.VCenter.CredentialsSecretRef.Name
	if err := c.Get(ctx, types.NamespacedName{Namespace: vp.Namespace, Name: name}, creds); err != nil {
		if apierrors.IsNotFound(err) {
			return sms.Config{}, "", &secretError{fmt.Sprintf("credentials Secret %q not found in namespace %s: create it with keys %q and %q", name, vp.Namespace, secretUsernameKey, secretPasswordKey)}
		}
		return sms.Config{}, "", secretReadError("credentials Secret", name, vp.Namespace, err)
	}
	user, pass := string(creds.Data[secretUsernameKey]), string(creds.Data[secretPasswordKey])
	if user == "" || pass == "" {
		return sms.Config{}, "", &secretError{fmt.Sprintf("credentials Secret %q must have non-empty keys %q and %q (it has %s)", name, secretUsernameKey, secretPasswordKey, secretKeys(creds))}
	}
	cfg := sms.Config{
		URL:                vp.Spec.VCenter.URL,
		Username:           user,
		Password:           pass,
		Thumbprint:         vp.Spec.VCenter.TLS.Thumbprint,
		InsecureSkipVerify: vp.Spec.VCenter.TLS.InsecureSkipVerify,
		Binding:            sms.Binding(vp.Spec.Binding),
		Version:            vp.Spec.VCenter.SMSVersion,
	}
	fp := sessionFingerprint(vp, creds.ResourceVersion, "")
	if ref := vp.Spec.VCenter.TLS.CABundleSecretRef; ref != nil {
		ca := &corev1.Secret{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: vp.Namespace, Name: ref.Name}, ca); err != nil {
			if apierrors.IsNotFound(err) {
				return sms.Config{}, "", &secretError{fmt.Sprintf("CA Secret %q not found in namespace %s", ref.Name, vp.Namespace)}
			}
			return sms.Config{}, "", secretReadError("CA Secret", ref.Name, vp.Namespace, err)
		}
		k := ref.Key
		if k == "" {
			k = "ca.crt"
		}
		if len(ca.Data[k]) == 0 {
			return sms.Config{}, "", &secretError{fmt.Sprintf("CA Secret %q has no key %q with PEM certificates (it has %s): set spec.vcenter.tls.caBundleSecretRef.key to the key that holds them", ref.Name, k, secretKeys(ca))}
		}
		if !x509.NewCertPool().AppendCertsFromPEM(ca.Data[k]) {
			return sms.Config{}, "", &caBundleError{fmt.Sprintf("key %q of CA Secret %q holds no PEM certificate: put the vCenter's CA certificates there, PEM encoded (-----BEGIN CERTIFICATE-----)", k, ref.Name)}
		}
		cfg.CABundle = ca.Data[k]
		fp = sessionFingerprint(vp, creds.ResourceVersion, ca.ResourceVersion)
	}
	return cfg, fp, nil
}

// quietSecretReads returns ctx with a logger that drops everything, for the reads of Secret values:
// client-go logs whole response bodies through the context's logger at verbosity 8 (rest.logBody), and a
// Secret's body is its values, so --zap-log-level=8 would print every password read. Errors are still
// returned to the caller, which reports them.
func quietSecretReads(ctx context.Context) context.Context {
	return logr.NewContext(ctx, logr.Discard())
}

// sessionFingerprint names everything a session depends on, never the Secret values: the spec's vcenter
// and binding, and the resourceVersions of its Secrets. Not the rest of the spec: an edit of
// maxConcurrentTasks or the discovery interval keeps the session the runs are using.
func sessionFingerprint(vp *replicationv1alpha1.VasaProvider, credsVersion, caVersion string) string {
	conn, _ := json.Marshal(struct {
		VCenter replicationv1alpha1.VCenterSpec
		Binding replicationv1alpha1.Binding
	}{vp.Spec.VCenter, vp.Spec.Binding})
	sum := sha256.Sum256(conn)
	fp := fmt.Sprintf("conn=%x;creds=%s", sum[:8], credsVersion)
	if vp.Spec.VCenter.TLS.CABundleSecretRef != nil {
		fp += ";ca=" + caVersion
	}
	return fp
}

// cachedSession returns the open session of a VasaProvider when its Secrets did not change, judged by
// their metadata in the manager's cache: the Secret values are read only when a session is built.
func cachedSession(ctx context.Context, c client.Reader, sessions Sessions, vp *replicationv1alpha1.VasaProvider) (sms.Client, bool) {
	version := func(name string) (string, bool) {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		if err := c.Get(ctx, types.NamespacedName{Namespace: vp.Namespace, Name: name}, m); err != nil {
			return "", false
		}
		return m.ResourceVersion, true
	}
	creds, ok := version(vp.Spec.VCenter.CredentialsSecretRef.Name)
	if !ok {
		return nil, false
	}
	ca := ""
	if ref := vp.Spec.VCenter.TLS.CABundleSecretRef; ref != nil {
		if ca, ok = version(ref.Name); !ok {
			return nil, false
		}
	}
	return sessions.Cached(client.ObjectKeyFromObject(vp), sessionFingerprint(vp, creds, ca))
}

// providerClient returns the open session of a VasaProvider when its Secrets did not change, judged by
// their metadata in cached (cachedSession); else it reads the Secret values with uncached and returns
// the session of that fingerprint, dialing when it is not open.
func providerClient(ctx context.Context, cached, uncached client.Reader, sessions Sessions, dial DialFunc, vp *replicationv1alpha1.VasaProvider) (sms.Client, error) {
	if cl, ok := cachedSession(ctx, cached, sessions, vp); ok {
		return cl, nil
	}
	cfg, fp, err := providerConfig(ctx, uncached, vp)
	if err != nil {
		return nil, err
	}
	if dial == nil {
		dial = sms.Dial
	}
	login := session.LoginOf(fp, sms.AccountHostOf(ctx, cfg.URL), cfg.Username, cfg.Password)
	return sessions.Client(ctx, client.ObjectKeyFromObject(vp), login, func(ctx context.Context) (sms.Client, error) {
		cfg := cfg
		cfg.Relogin = session.ReloginFrom(ctx) // its re-logins take the account's turn too
		cl, err := dial(ctx, cfg)
		return cl, withCredentialsHint(err, cfg)
	})
}

// relearnIfMoved forgets the batch size and task durations learned from another provider or vCenter than
// the one the VasaProvider now reaches (its spec was edited): they describe another array. Also from
// another version of the provider: an upgrade may accept larger batches, and a learned size only shrinks.
func (r *VasaProviderReconciler) relearnIfMoved(ctx context.Context, before, vp *replicationv1alpha1.VasaProvider) {
	was, now := before.Status, vp.Status
	otherProvider := was.ProviderInfo != nil && was.ProviderInfo.UID != "" && was.ProviderInfo.UID != now.ProviderInfo.UID
	otherVersion := was.ProviderInfo != nil && was.ProviderInfo.Version != "" && was.ProviderInfo.Version != now.ProviderInfo.Version
	otherVCenter := was.VCenterInstanceUUID != "" && was.VCenterInstanceUUID != now.VCenterInstanceUUID
	if !otherProvider && !otherVersion && !otherVCenter {
		return
	}
	ctrl.LoggerFrom(ctx).Info("VasaProvider reaches another provider, provider version or vCenter: learning its batch size and task durations anew",
		"providerUid", now.ProviderInfo.UID, "providerVersion", now.ProviderInfo.Version, "vcenterInstanceUuid", now.VCenterInstanceUUID)
	r.Capacity.Relearn(client.ObjectKeyFromObject(vp), learnedOf(vp.Status))
	vp.Status.LearnedMaxBatchSize, vp.Status.ObservedTaskDuration = 0, nil
	metrics.LearnedBatchSize.WithLabelValues(vp.Namespace, vp.Name).Set(0)
}

// learnedOf names what a VasaProvider's learned batch size and task duration are of, as its status says:
// the provider, its version and the vCenter; "" before its first check.
func learnedOf(st replicationv1alpha1.VasaProviderStatus) string {
	if st.ProviderInfo == nil {
		return ""
	}
	return st.ProviderInfo.UID + "/" + st.ProviderInfo.Version + "@" + st.VCenterInstanceUUID
}

// recordCapacity writes what the ledger learned about the provider to its status; after a restart the
// ledger is seeded from that status first.
func (r *VasaProviderReconciler) recordCapacity(vp *replicationv1alpha1.VasaProvider) {
	key := client.ObjectKeyFromObject(vp)
	r.Capacity.LoadLearnedBatchSize(key, learnedOf(vp.Status), vp.Status.LearnedMaxBatchSize)
	if learned := r.Capacity.LearnedBatchSize(key); learned > 0 {
		vp.Status.LearnedMaxBatchSize = learned
	}
	if d := vp.Status.ObservedTaskDuration; d != nil && r.Capacity.TaskDuration(key) == 0 {
		r.Capacity.LoadTaskDuration(key, learnedOf(vp.Status), d.Duration)
	}
	if d := r.Capacity.TaskDuration(key); d > 0 {
		vp.Status.ObservedTaskDuration = &metav1.Duration{Duration: d.Round(time.Millisecond)}
	}
}

// SetupWithManager registers the controller, the Secret index and the Secret watch. The watch caches
// only the metadata of Secrets; their values are read on demand through APIReader.
func (r *VasaProviderReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Capacity == nil {
		r.Capacity = capacity.New()
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &replicationv1alpha1.VasaProvider{}, vasaProviderSecretIndex,
		func(o client.Object) []string {
			vp := o.(*replicationv1alpha1.VasaProvider)
			names := []string{vp.Spec.VCenter.CredentialsSecretRef.Name}
			if ref := vp.Spec.VCenter.TLS.CABundleSecretRef; ref != nil && ref.Name != names[0] {
				names = append(names, ref.Name)
			}
			return names
		}); err != nil {
		return fmt.Errorf("indexing VasaProviders by Secret: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&replicationv1alpha1.VasaProvider{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.providersForSecret),
			builder.OnlyMetadata, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{}))
	if r.CapacityEvents != nil {
		b = b.WatchesRawSource(source.Channel(r.CapacityEvents, &handler.EnqueueRequestForObject{}))
	}
	r.siblings = make(chan event.GenericEvent, siblingWakeups)
	b = b.WatchesRawSource(source.Channel(r.siblings, &handler.EnqueueRequestForObject{}))
	return b.Named("vasaprovider").WithOptions(controller.Options{MaxConcurrentReconciles: providerCheckWorkers}).Complete(r)
}

// providersForSecret maps a Secret (a *metav1.PartialObjectMetadata) to the VasaProviders that reference it.
func (r *VasaProviderReconciler) providersForSecret(ctx context.Context, o client.Object) []reconcile.Request {
	list := &replicationv1alpha1.VasaProviderList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingFields{vasaProviderSecretIndex: o.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing VasaProviders for Secret", "secret", klog.KObj(o))
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// StripSecretMetadata is the cache transform for Secrets (cache.ByObject): it drops the annotations and
// managed fields of a Secret before it is cached. The metadata watch would otherwise still keep values in
// memory: kubectl apply copies the whole Secret, data included, into the
// kubectl.kubernetes.io/last-applied-configuration annotation. Should a typed Secret informer be started
// (a Get of a *corev1.Secret through the cache starts one), its values are dropped too: they are read
// uncached, when a session is built.
func StripSecretMetadata(in any) (any, error) {
	if secret, ok := in.(*corev1.Secret); ok {
		secret.Data, secret.StringData = nil, nil
	}
	if obj, err := meta.Accessor(in); err == nil {
		if obj.GetAnnotations() != nil {
			obj.SetAnnotations(nil)
		}
		if obj.GetManagedFields() != nil {
			obj.SetManagedFields(nil)
		}
	}
	return in, nil
}
