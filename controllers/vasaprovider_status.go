package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// setProviderConditions sets Ready, Reconciling and Stalled of a VasaProvider from a connection check.
// Unreachable and ServiceInitializing are transient (Reconciling), and so is a provider found recently that
// is no longer registered (recentlyConnected); the other failures need a human (Stalled).
func setProviderConditions(vp *replicationv1alpha1.VasaProvider, res connectResult) {
	setProviderReadyCondition(vp, res)
	setProviderReconcilingCondition(vp, res)
	setProviderStalledCondition(vp, res)
}

func setProviderReadyCondition(vp *replicationv1alpha1.VasaProvider, res connectResult) {
	setStatusCondition(&vp.Status.Conditions, vp.Generation, replicationv1alpha1.ReadyCondition,
		conditionStatus(res.reason == replicationv1alpha1.ConnectedReason), res.reason, res.message)
}

func setProviderReconcilingCondition(vp *replicationv1alpha1.VasaProvider, res connectResult) {
	if res.transient() {
		setStatusCondition(&vp.Status.Conditions, vp.Generation, replicationv1alpha1.ReconcilingCondition, metav1.ConditionTrue, res.reason, res.message)
		return
	}
	setStatusCondition(&vp.Status.Conditions, vp.Generation, replicationv1alpha1.ReconcilingCondition, metav1.ConditionFalse, res.reason, "")
}

func setProviderStalledCondition(vp *replicationv1alpha1.VasaProvider, res connectResult) {
	stalled := res.reason != replicationv1alpha1.ConnectedReason && !res.transient()
	msg := ""
	if stalled {
		msg = res.message
	}
	setStatusCondition(&vp.Status.Conditions, vp.Generation, replicationv1alpha1.StalledCondition, conditionStatus(stalled), res.reason, msg)
}

// readyReason returns the reason of the Ready condition, "" when unset.
func readyReason(vp *replicationv1alpha1.VasaProvider) string {
	if c := meta.FindStatusCondition(vp.Status.Conditions, replicationv1alpha1.ReadyCondition); c != nil {
		return c.Reason
	}
	return ""
}

// providerReady reports whether a VasaProvider is Ready for its current generation, and the Ready message.
func providerReady(vp *replicationv1alpha1.VasaProvider) (bool, string) {
	c := meta.FindStatusCondition(vp.Status.Conditions, replicationv1alpha1.ReadyCondition)
	if c == nil {
		return false, "has not been checked yet"
	}
	if c.Status != metav1.ConditionTrue {
		return false, c.Message
	}
	if c.ObservedGeneration != vp.Generation {
		return false, "is being checked after a spec change"
	}
	return true, c.Message
}

// metaNow is the time of c (nil means the real clock) to the second, as status times are written.
func metaNow(c clock.PassiveClock) metav1.Time {
	return metav1.NewTime(clockNow(c).Truncate(time.Second))
}

// vasaProviderUpdate passes the updates of a VasaProvider for which changed(before, after) holds.
func vasaProviderUpdate(changed func(before, after *replicationv1alpha1.VasaProvider) bool) predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*replicationv1alpha1.VasaProvider)
		after, ok2 := e.ObjectNew.(*replicationv1alpha1.VasaProvider)
		return ok1 && ok2 && changed(before, after)
	}}
}
