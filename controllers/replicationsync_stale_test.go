package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

func TestReplacedVersionsTellAStaleCache(t *testing.T) {
	g := NewWithT(t)
	key := types.NamespacedName{Namespace: "ns", Name: "run"}
	var v replacedVersions
	g.Expect(v.check(key, "10")).To(Equal(cacheCurrent), "nothing written yet")
	v.replaced(key, "10") // claim: 10 -> 11
	v.replaced(key, "11") // commit: 11 -> 12
	g.Expect(v.check(key, "10")).To(Equal(cacheBehind), "the cache has not seen the claim")
	g.Expect(v.check(key, "11")).To(Equal(cacheBehind), "the cache has not seen the commit")
	g.Expect(v.check(key, "12")).To(Equal(cacheCurrent), "our newest version")
	g.Expect(v.check(key, "11")).To(Equal(cacheCurrent), "a new reconcile started a new record")

	v.replaced(key, "20")
	g.Expect(v.check(key, "25")).To(Equal(cacheCurrent), "another writer's version is acted on")
	v.replaced(key, "30")
	v.forget(key)
	g.Expect(v.check(key, "30")).To(Equal(cacheCurrent))
}

// TestCacheLongBehindIsReadPast: a cache still showing a replaced version after staleCacheLimit, or one a
// write lost to, is read past until it shows another version, also across the writes made meanwhile.
func TestCacheLongBehindIsReadPast(t *testing.T) {
	g := NewWithT(t)
	key := types.NamespacedName{Namespace: "ns", Name: "run"}
	var v replacedVersions
	v.replaced(key, "10")
	rec, _ := v.m.Load(key)
	old := rec.(replacedRecord)
	old.at = old.at.Add(-staleCacheLimit)
	v.m.Store(key, old)
	g.Expect(v.check(key, "10")).To(Equal(cacheLate), "behind for longer than staleCacheLimit")
	v.replaced(key, "11") // a write planned on the version read past the cache
	g.Expect(v.check(key, "10")).To(Equal(cacheLate), "still behind: read past again, not waited for")
	g.Expect(v.check(key, "12")).To(Equal(cacheCurrent), "caught up")

	v.lost(key, "40") // a write planned on version 40 conflicted
	g.Expect(v.check(key, "40")).To(Equal(cacheLate), "no second write planned on 40")
	g.Expect(v.check(key, "41")).To(Equal(cacheCurrent))
}

// TestLaggingCacheCostsOneConflict: another writer changed the run (an annotation) and the informer has
// not caught up. The reconcile acting on the cached object loses its write; the next ones read past the
// cache while it lags, rather than conflict every conflictRetry with a query to the provider each time.
func TestLaggingCacheCostsOneConflict(t *testing.T) {
	h := newRunHarness(t, 3, nil)
	frozen := &replicationv1alpha1.ReplicationSync{}
	h.g.Expect(k8sClient.Get(h.ctx, h.key, frozen)).To(Succeed())
	conflicts := 0
	h.r.Client = interceptor.NewClient(h.r.Client.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if rs, ok := obj.(*replicationv1alpha1.ReplicationSync); ok && key == h.key {
				frozen.DeepCopyInto(rs) // the informer's copy, behind
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			err := c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			if apierrors.IsConflict(err) {
				conflicts++
			}
			return err
		},
	})
	annotated := frozen.DeepCopy()
	annotated.Annotations = map[string]string{"argocd.argoproj.io/tracking-id": "app:replication.vasa.io/ReplicationSync:ns/run"}
	h.g.Expect(k8sClient.Update(h.ctx, annotated)).To(Succeed())

	for range 5 {
		h.reconcile()
	}
	h.g.Expect(conflicts).To(Equal(1))
	got := &replicationv1alpha1.ReplicationSync{}
	h.g.Expect(k8sClient.Get(h.ctx, h.key, got)).To(Succeed())
	h.g.Expect(got.Status.Phase).NotTo(BeEmpty(), "the run went on, read past the cache")
}
