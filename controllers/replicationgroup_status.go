package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// discoveryOutcome is how one discovery went: how many groups the provider listed, or why it did not
// complete (err, or incomplete for an answer that was not trusted).
type discoveryOutcome struct {
	listed     int
	incomplete string
	// note is what status.discovery.message says after a complete discovery (noPiTSupportNote).
	note string
	err  error
	// pitErr is why the newest PiTs were not read, when the query failed.
	pitErr error
	// keptAll is how many ReplicationGroups were kept because the provider listed none (keepAllGroups).
	keptAll int
	// took is how long it took.
	took time.Duration
}

// noPiTSupportNote is status.discovery.message for a provider that does not implement
// QueryPointInTimeReplica.
const noPiTSupportNote = "The provider does not implement QueryPointInTimeReplica (an array without PiT support): its groups' newest PiTs are not read, so ReplicationGroupRPOExceeded cannot fire for them; watch their schedules' last success instead"

// recordDiscovery writes the outcome into the VasaProvider's status.discovery: events expire after an
// hour and metrics need a Prometheus, but kubectl get vp and kubectl vasa doctor read the status. The
// patch holds status.discovery alone, so it neither undoes nor waits for the VasaProvider reconciler's
// writes. A failed write is only logged: the next discovery writes again.
func (r *ReplicationGroupReconciler) recordDiscovery(ctx context.Context, vp *replicationv1alpha1.VasaProvider, o discoveryOutcome) {
	now := metav1.NewTime(clockNow(r.Clock))
	st := replicationv1alpha1.DiscoveryStatus{LastAttemptTime: &now, LastDuration: &metav1.Duration{Duration: o.took.Round(time.Second)}}
	if prev := vp.Status.Discovery; prev != nil {
		st.LastSuccessTime, st.Groups = prev.LastSuccessTime, prev.Groups
		// A discovery that did not complete (a refused login, a fault at once) says nothing of how long
		// a whole one takes: finished runs wait for a whole one (lastSyncHold), so it keeps the longer.
		if (o.err != nil || o.incomplete != "") && prev.LastDuration != nil && prev.LastDuration.Duration > st.LastDuration.Duration {
			st.LastDuration = prev.LastDuration
		}
	}
	switch {
	case o.err != nil:
		st.Message = truncateMessage(fmt.Sprintf("Discovering replication groups failed: %v", o.err))
	case o.incomplete != "":
		st.Message = truncateMessage(o.incomplete)
	default:
		st.LastSuccessTime, st.Groups, st.Message = &now, int32(min(o.listed, 1<<31-1)), o.note
		metrics.DiscoveryLastSuccessTimestampSeconds.WithLabelValues(vp.Namespace, vp.Name).Set(float64(now.Unix()))
	}
	r.patchDiscoveryStatus(ctx, vp, &st)
}

// discoveryMessage is the VasaProvider's status.discovery.message.
func discoveryMessage(vp *replicationv1alpha1.VasaProvider) string {
	if d := vp.Status.Discovery; d != nil {
		return d.Message
	}
	return ""
}

// logDiscoveryTrouble logs what kept a discovery from reading everything: at its level when it is news
// (changed), else at V(1). A provider that is unreachable or busy, lists nothing while it restarts, or
// whose PiTs cannot be read, does so for many discoveries; the status, an event and the metrics say it
// each time.
func logDiscoveryTrouble(ctx context.Context, vp *replicationv1alpha1.VasaProvider, o discoveryOutcome, changed bool) {
	log := ctrl.LoggerFrom(ctx).WithValues("vasaProvider", klog.KObj(vp))
	quiet := log.V(1)
	if o.err != nil {
		if changed {
			log.Error(o.err, "Discovering replication groups failed")
		} else {
			quiet.Info("Discovering replication groups failed", "error", o.err.Error())
		}
	}
	if o.pitErr != nil {
		if changed {
			log.Error(o.pitErr, "Reading the newest PiTs failed")
		} else {
			quiet.Info("Reading the newest PiTs failed", "error", o.pitErr.Error())
		}
	}
	if o.keptAll > 0 {
		l := quiet
		if changed {
			l = log
		}
		l.Info("The provider reported no replication groups; its ReplicationGroups are kept", "kept", o.keptAll)
	}
}

// forgetDiscoveryStatus removes status.discovery from a VasaProvider whose discovery is off: a last
// success that no longer moves would read as a stalled discovery.
func (r *ReplicationGroupReconciler) forgetDiscoveryStatus(ctx context.Context, vp *replicationv1alpha1.VasaProvider) {
	if vp.Status.Discovery != nil {
		r.patchDiscoveryStatus(ctx, vp, nil)
	}
}

func (r *ReplicationGroupReconciler) patchDiscoveryStatus(ctx context.Context, vp *replicationv1alpha1.VasaProvider, st *replicationv1alpha1.DiscoveryStatus) {
	before := vp.DeepCopy()
	vp.Status.Discovery = st
	err := r.Status().Patch(ctx, vp, client.MergeFrom(before))
	switch {
	case err != nil && !apierrors.IsNotFound(err):
		ctrl.LoggerFrom(ctx).Error(err, "Writing status.discovery", "vasaProvider", klog.KObj(vp))
	case err == nil && st != nil && vp.Status.Discovery == nil:
		// Taken, and dropped: runs that select groups wait for a first discovery they would never see.
		ctrl.LoggerFrom(ctx).Error(nil, discoveryDroppedMessage, "vasaProvider", klog.KObj(vp))
		r.event(vp, corev1.EventTypeWarning, DiscoveryNotRecordedReason, "%s", discoveryDroppedMessage)
	}
}

// discoveryDroppedMessage says why runs by groupSelector wait for good when the API server drops
// status.discovery from every write.
const discoveryDroppedMessage = "The API server drops status.discovery: the VasaProvider CRD in the cluster is older than this operator, " +
	"and ReplicationSyncs with a groupSelector wait for a first discovery they cannot see. Apply the CRDs of this release (docs/upgrade.md)"
