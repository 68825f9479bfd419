package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
)

// InsecureTLSEventReason is the reason of the Warning event about disabled certificate verification.
const InsecureTLSEventReason = "InsecureTLS"

// tlsVerification says how spec.vcenter.tls verifies the vCenter certificate.
func tlsVerification(vp *replicationv1alpha1.VasaProvider) replicationv1alpha1.TLSVerification {
	t := vp.Spec.VCenter.TLS
	switch {
	case t.InsecureSkipVerify:
		return replicationv1alpha1.TLSVerificationDisabled
	case t.Thumbprint != "":
		return replicationv1alpha1.TLSVerificationThumbprint
	case t.CABundleSecretRef != nil:
		return replicationv1alpha1.TLSVerificationCABundle
	}
	return replicationv1alpha1.TLSVerificationSystemRoots
}

// reportTLSVerification makes disabled verification visible: status.tlsVerification, the
// vasa_sync_provider_insecure_tls gauge, and a Warning event (and log line) for each generation that has it.
func (r *VasaProviderReconciler) reportTLSVerification(ctx context.Context, vp, before *replicationv1alpha1.VasaProvider) {
	v := tlsVerification(vp)
	vp.Status.TLSVerification = v
	insecure := v == replicationv1alpha1.TLSVerificationDisabled
	metrics.ProviderInsecureTLS.WithLabelValues(vp.Namespace, vp.Name).Set(boolGauge(insecure))
	if !insecure || (before.Status.TLSVerification == v && before.Status.ObservedGeneration == vp.Generation) {
		return
	}
	msg := "spec.vcenter.tls.insecureSkipVerify is set: the vCenter certificate is not verified, so the connection and the vCenter credentials can be intercepted; use caBundleSecretRef or thumbprint"
	ctrl.LoggerFrom(ctx).Info("TLS verification is disabled", "vasaProvider", klog.KObj(vp), "vcenter", vp.Spec.VCenter.SafeURL())
	if r.Recorder != nil {
		r.Recorder.Eventf(vp, nil, corev1.EventTypeWarning, InsecureTLSEventReason, "Connect", msg)
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
