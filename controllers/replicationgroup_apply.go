package controllers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/metrics"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// groupPlan is what one discovery writes: only objects that are new, changed or gone.
type groupPlan struct {
	create []*replicationv1alpha1.ReplicationGroup
	update []*replicationv1alpha1.ReplicationGroup // desired content with the stored resourceVersion
	remove []*replicationv1alpha1.ReplicationGroup
	// desired holds every group the provider reported, written or not (for the metrics).
	desired []*replicationv1alpha1.ReplicationGroup
	// noPiT names the groups the provider answered for without any PiT: known to have none, not merely
	// unknown (a failed or unsupported PiT query).
	noPiT map[string]bool
	// absent holds, by object name, when the current run of misses of a stored group still kept began.
	absent map[string]time.Time
}

// planWrites compares what the provider reported with the stored objects: the new, the changed, and
// (planRemovals) the gone.
func planWrites(vp *replicationv1alpha1.VasaProvider, observed map[string]observedGroup, failed map[string]bool,
	last map[sms.GroupID]*replicationv1alpha1.LastSync, stored []replicationv1alpha1.ReplicationGroup) groupPlan {
	byName := make(map[string]*replicationv1alpha1.ReplicationGroup, len(stored))
	for i := range stored {
		byName[stored[i].Name] = &stored[i]
	}
	p := groupPlan{noPiT: map[string]bool{}}
	names := make([]string, 0, len(observed))
	for name := range observed {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		obs := observed[name]
		cur := byName[name]
		want := desiredGroup(vp, obs, last[obs.info.Group], cur)
		p.desired = append(p.desired, want)
		p.noPiT[name] = obs.pit != nil && obs.pit.Err == "" && obs.pit.PiT == nil
		switch {
		case cur == nil:
			p.create = append(p.create, want)
		case !groupUpToDate(cur, want):
			want.ResourceVersion = cur.ResourceVersion
			want.UID = cur.UID
			want.Annotations = cur.Annotations
			want.Finalizers = cur.Finalizers
			keepOthers(want, cur)
			p.update = append(p.update, want)
		}
	}
	return p
}

// planRemovals decides the stored objects to delete. Objects of groups the provider failed to describe
// are left alone; every other stored object of this provider that the provider no longer reports,
// whoever created it, is deleted once every discovery for at least interval has missed it (since holds
// when each earlier run of misses began; replicationgroup_absence.go says why), unless deleteNone.
func (p *groupPlan) planRemovals(observed map[string]observedGroup, failed map[string]bool, stored []replicationv1alpha1.ReplicationGroup,
	since map[string]time.Time, now time.Time, interval time.Duration, deleteNone bool) {
	p.absent = map[string]time.Time{}
	for i := range stored {
		name := stored[i].Name
		if _, ok := observed[name]; ok || failed[name] {
			continue
		}
		first, missed := since[name]
		if !missed {
			p.absent[name] = now
			continue
		}
		if now.Sub(first) < interval || deleteNone {
			p.absent[name] = first
			continue
		}
		p.remove = append(p.remove, &stored[i])
	}
}

// apply writes a plan with a few writers at a time. A write that fails does not stop the others: one
// object the API server refuses, or a create that finds the object exists because the cache lags, must
// not hold back the rest of a 5,000-group discovery. It returns how many failed, with the first.
func (r *ReplicationGroupReconciler) apply(ctx context.Context, p groupPlan) error {
	var (
		eg   errgroup.Group
		mu   sync.Mutex
		errs []error
	)
	eg.SetLimit(discoveryWriters)
	write := func(verb string, rg *replicationv1alpha1.ReplicationGroup, f func() error) {
		eg.Go(func() error {
			if err := f(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s ReplicationGroup %s: %w", verb, rg.Name, err))
				mu.Unlock()
			}
			return nil
		})
	}
	for _, rg := range p.create {
		write("creating", rg, func() error { return r.createOrReclaim(ctx, rg) })
	}
	for _, rg := range p.update {
		write("updating", rg, func() error { return r.Update(ctx, rg) })
	}
	for _, rg := range p.remove {
		uid := rg.UID
		write("deleting", rg, func() error { return client.IgnoreNotFound(r.Delete(ctx, rg, client.Preconditions{UID: &uid})) })
	}
	_ = eg.Wait()
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d ReplicationGroup writes failed, the others were made; the first: %w",
		len(errs), len(p.create)+len(p.update)+len(p.remove), errs[0])
}

// createOrReclaim creates rg, or updates the object of its name that this VasaProvider controls but the
// listing by provider label did not find (someone removed the label; or the cache lags): every discovery
// would otherwise fail on it, and the label would never come back. An object of that name another
// controls stays as it is, and the write fails.
func (r *ReplicationGroupReconciler) createOrReclaim(ctx context.Context, rg *replicationv1alpha1.ReplicationGroup) error {
	err := r.Create(ctx, rg)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	stored := &replicationv1alpha1.ReplicationGroup{}
	if gerr := r.Get(ctx, client.ObjectKeyFromObject(rg), stored); gerr != nil {
		return errors.Join(err, gerr)
	}
	owner := metav1.GetControllerOfNoCopy(stored)
	if owner == nil || owner.UID != metav1.GetControllerOfNoCopy(rg).UID {
		return err
	}
	rg.ResourceVersion, rg.UID = stored.ResourceVersion, stored.UID
	rg.Annotations, rg.Finalizers = stored.Annotations, stored.Finalizers
	keepOthers(rg, stored)
	return r.Update(ctx, rg)
}

// recordDiscoveryMetrics publishes the newest PiT time of every TARGET group, the only state with an RPO:
// those the provider listed and those whose objects a discovery keeps without their being listed (answered
// with an error, or kept while most groups are missing or for one interval of misses), from their
// stored status, so that a manager restart does not resolve their RPO alerts. A TARGET group the provider
// says has no PiT gets the time discovery first saw it (its object's creation), so that the RPO alert
// fires for it once that is older than the RPO, instead of resolving, and a group just added to the array
// has one RPO to get its first PiT rather than paging at once. One
// whose PiTs could not be read this time (an array without PiT support, a failed query) keeps the series
// it had: none if nothing was ever known, else the last known value, whose age keeps growing, so a query
// that fails does not resolve an RPO alert. The series of groups that are not targets (failed over, in
// test, a source) are dropped, so a failover does not page for every group it moved, and so are those of
// groups whose object is gone, deleted by discovery or by hand.
func (r *ReplicationGroupReconciler) recordDiscoveryMetrics(vp *replicationv1alpha1.VasaProvider, p groupPlan, kept []replicationv1alpha1.ReplicationGroup, listed int) {
	gauge := metrics.GroupNewestPiTTimestampSeconds
	series := map[string]struct{}{}
	record := func(rg *replicationv1alpha1.ReplicationGroup, noPiT bool) {
		switch pit := rg.Status.NewestPiT; {
		case rg.Status.State != replicationv1alpha1.TargetState:
			return // its series, if it had one, is dropped below
		case pit != nil:
			gauge.WithLabelValues(vp.Namespace, vp.Name, rg.Name).Set(float64(pit.TimeStamp.Unix()))
		case noPiT && rg.CreationTimestamp.IsZero():
			return // its create failed: no object, no time it was first seen (the failed write alerts)
		case noPiT:
			gauge.WithLabelValues(vp.Namespace, vp.Name, rg.Name).Set(float64(rg.CreationTimestamp.Unix()))
		}
		series[rg.Name] = struct{}{}
	}
	for _, rg := range p.desired {
		record(rg, p.noPiT[rg.Name])
	}
	for i := range kept {
		record(&kept[i], false)
	}
	key := client.ObjectKeyFromObject(vp)
	for name := range r.pitSeries.of(key) {
		if _, ok := series[name]; !ok {
			gauge.DeleteLabelValues(vp.Namespace, vp.Name, name)
		}
	}
	r.pitSeries.set(key, series)
	metrics.DiscoveredGroups.WithLabelValues(vp.Namespace, vp.Name).Set(float64(listed))
}

// keptGroups are the stored objects the provider did not list that a discovery does not delete.
func keptGroups(stored []replicationv1alpha1.ReplicationGroup, observed map[string]observedGroup, removed []*replicationv1alpha1.ReplicationGroup) []replicationv1alpha1.ReplicationGroup {
	gone := make(map[string]bool, len(removed))
	for _, rg := range removed {
		gone[rg.Name] = true
	}
	var out []replicationv1alpha1.ReplicationGroup
	for _, rg := range stored {
		if _, listed := observed[rg.Name]; !listed && !gone[rg.Name] {
			out = append(out, rg)
		}
	}
	return out
}

// forgetDiscoveryMetrics drops every series of a VasaProvider deleted or with discovery off.
func (r *ReplicationGroupReconciler) forgetDiscoveryMetrics(provider types.NamespacedName) {
	r.pitSeries.forget(provider)
	l := map[string]string{metrics.LabelNamespace: provider.Namespace, metrics.LabelProvider: provider.Name}
	metrics.GroupNewestPiTTimestampSeconds.DeletePartialMatch(l)
	metrics.DiscoveredGroups.DeletePartialMatch(l)
	metrics.DiscoveryLastSuccessTimestampSeconds.DeletePartialMatch(l)
	metrics.DiscoveryIntervalSeconds.DeletePartialMatch(l)
}

// removedNames names the first five of the groups a discovery deletes, and how many more.
func removedNames(removed []*replicationv1alpha1.ReplicationGroup) string {
	names := make([]string, 0, min(len(removed), 5))
	for _, rg := range removed[:min(len(removed), 5)] {
		names = append(names, rg.Name)
	}
	if more := len(removed) - len(names); more > 0 {
		return fmt.Sprintf("%s and %d more", strings.Join(names, ", "), more)
	}
	return strings.Join(names, ", ")
}
