package controllers

import (
	"context"
	"errors"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// Mistakes in the Secrets a VasaProvider reads: each gets a message that shows it, never a value.

// TestVasaProviderNamesMisnamedSecretKeys: a Secret with the right values under the wrong keys (the
// commonest Secret mistake) gets a Ready message that lists the keys it has, never a value, and fixing the
// Secret in place connects the same VasaProvider.
func TestVasaProviderNamesMisnamedSecretKeys(t *testing.T) {
	const secretValue = "value-that-must-not-show"
	for name, tc := range map[string]struct {
		secret *corev1.Secret // created in the world's namespace
		mutate func(*replicationv1alpha1.VasaProvider)
		fixed  func(*corev1.Secret, *smssim.Sim)
		want   []string
	}{
		"credentials under user and pass": {
			secret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "misnamed"}, Data: map[string][]byte{"user": []byte("admin"), "pass": []byte(secretValue)}},
			mutate: func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.VCenter.CredentialsSecretRef.Name = "misnamed" },
			fixed: func(s *corev1.Secret, sim *smssim.Sim) {
				s.Data = map[string][]byte{secretUsernameKey: []byte(sim.Username()), secretPasswordKey: []byte(sim.Password())}
			},
			want: []string{`credentials Secret "misnamed" must have non-empty keys "username" and "password"`, `(it has keys ["pass" "user"])`},
		},
		"CA bundle under tls.crt": {
			secret: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "vc-ca"}, Data: map[string][]byte{"tls.crt": []byte(secretValue)}},
			mutate: func(vp *replicationv1alpha1.VasaProvider) {
				vp.Spec.VCenter.TLS = replicationv1alpha1.TLSSpec{CABundleSecretRef: &replicationv1alpha1.SecretKeySelector{Name: "vc-ca", Key: "ca.crt"}}
			},
			fixed: func(s *corev1.Secret, sim *smssim.Sim) {
				s.Data = map[string][]byte{"ca.crt": sim.CACertPEM()}
			},
			want: []string{`CA Secret "vc-ca" has no key "ca.crt"`, `(it has keys ["tls.crt"])`, "set spec.vcenter.tls.caBundleSecretRef.key"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			w := newVPWorld(t, smssim.Config{})
			secret := tc.secret.DeepCopy()
			secret.Namespace = w.ns
			g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())

			vp, _ := w.reconcile(t, tc.mutate)
			ready := vpCondition(vp, replicationv1alpha1.ReadyCondition)
			g.Expect(ready.Reason).To(Equal(replicationv1alpha1.SecretNotFoundReason))
			for _, s := range tc.want {
				g.Expect(ready.Message).To(ContainSubstring(s))
			}
			g.Expect(ready.Message).NotTo(ContainSubstring(secretValue), "a message never shows a Secret value")
			g.Expect(w.sim.LoginAttempts()).To(BeZero())

			// Fixing the Secret brings the same object to Ready: nothing to delete or re-create.
			tc.fixed(secret, w.sim)
			g.Expect(k8sClient.Update(ctx, secret)).To(Succeed())
			got := w.recheck(ctx, t, vp)
			g.Expect(vpCondition(got, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ConnectedReason))
			g.Expect(got.UID).To(Equal(vp.UID))
		})
	}
}

// TestVasaProviderPointsAtALineBreakInThePassword: a password written with `echo secret | base64` ends
// with a line break; the refused login says so (without the value), and fixing the Secret connects.
func TestVasaProviderPointsAtALineBreakInThePassword(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	w := newVPWorld(t, smssim.Config{})
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "echoed"},
		Data:       map[string][]byte{secretUsernameKey: []byte(w.sim.Username()), secretPasswordKey: []byte(w.sim.Password() + "\n")},
	}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())

	vp, _ := w.reconcile(t, func(vp *replicationv1alpha1.VasaProvider) { vp.Spec.VCenter.CredentialsSecretRef.Name = "echoed" })
	ready := vpCondition(vp, replicationv1alpha1.ReadyCondition)
	g.Expect(ready.Reason).To(Equal(replicationv1alpha1.InvalidCredentialsReason))
	g.Expect(ready.Message).To(ContainSubstring("the password in the Secret starts or ends with white space or a line break"))
	g.Expect(ready.Message).NotTo(ContainSubstring("username in the Secret"))

	secret.Data[secretPasswordKey] = []byte(w.sim.Password())
	g.Expect(k8sClient.Update(ctx, secret)).To(Succeed())
	got := w.recheck(ctx, t, vp)
	g.Expect(vpCondition(got, replicationv1alpha1.ReadyCondition).Reason).To(Equal(replicationv1alpha1.ConnectedReason))
}

func TestCredentialsHintOnlyOnRefusedLogins(t *testing.T) {
	g := NewWithT(t)
	login := &sms.LoginError{Username: "admin", Err: errors.New("cannot complete login")}
	g.Expect(withCredentialsHint(nil, sms.Config{Password: "x\n"})).To(Succeed())
	other := errors.New("connection refused")
	g.Expect(withCredentialsHint(other, sms.Config{Password: "x\n"})).To(BeIdenticalTo(other))
	g.Expect(withCredentialsHint(login, sms.Config{Username: "admin", Password: "right"})).To(BeIdenticalTo(error(login)))
	both := withCredentialsHint(login, sms.Config{Username: " admin", Password: "x\r\n"})
	g.Expect(both).To(MatchError(ContainSubstring("the username and password in the Secret")))
	g.Expect(errors.Is(both, login)).To(BeTrue())
}
