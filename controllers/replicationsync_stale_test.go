package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
)

func TestReplacedVersionsTellAStaleCache(t *testing.T) {
	g := NewWithT(t)
	key := types.NamespacedName{Namespace: "ns", Name: "run"}
	var v replacedVersions
	g.Expect(v.stale(key, "10")).To(BeFalse(), "nothing written yet")
	v.replaced(key, "10") // claim: 10 -> 11
	v.replaced(key, "11") // commit: 11 -> 12
	g.Expect(v.stale(key, "10")).To(BeTrue(), "the cache has not seen the claim")
	g.Expect(v.stale(key, "11")).To(BeTrue(), "the cache has not seen the commit")
	g.Expect(v.stale(key, "12")).To(BeFalse(), "our newest version")
	g.Expect(v.stale(key, "11")).To(BeFalse(), "a new reconcile started a new record")

	v.replaced(key, "20")
	g.Expect(v.stale(key, "25")).To(BeFalse(), "another writer's version is acted on")
	v.replaced(key, "30")
	v.forget(key)
	g.Expect(v.stale(key, "30")).To(BeFalse())
}
