package main

import (
	"fmt"
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// cachesSynced is the readiness check: the manager is Ready once its informers of kinds (those its
// controllers watch or list) have listed their objects. It starts them itself, on a standby too, so a
// standby's caches are full before it leads, and a rollout keeps the old pod while a new one cannot list
// (its RBAC, or a CRD, missing) instead of taking it for a replacement.
func cachesSynced(c cache.Cache, kinds ...client.Object) healthz.Checker {
	return func(req *http.Request) error {
		for _, kind := range kinds {
			inf, err := c.GetInformer(req.Context(), kind, cache.BlockUntilSynced(false))
			if err != nil {
				return err
			}
			if !inf.HasSynced() {
				return fmt.Errorf("the informer of %T has not listed its objects yet: may the manager list them (its RBAC, the CRDs)?", kind)
			}
		}
		return nil
	}
}
