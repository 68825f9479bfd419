package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

var (
	// errNoGroupsSelected: spec.groupSelector matched no ReplicationGroup of the provider. The run should
	// stop with reason NoGroupsSelected and a message naming the selector.
	errNoGroupsSelected = errors.New("spec.groupSelector matched no ReplicationGroup of the provider")
	// errTooManyGroupsSelected: spec.groupSelector matched more groups (or longer ids) than one run may hold.
	errTooManyGroupsSelected = errors.New("spec.groupSelector matched more than one run may hold")
	// errInvalidGroupSelector: spec.groupSelector does not parse as a label selector.
	errInvalidGroupSelector = errors.New("spec.groupSelector is not a valid label selector")
)

// selectGroups resolves spec.groupSelector: the ids of the ReplicationGroups in rs's namespace that the
// provider of spec.providerRef reported and whose labels match the selector, sorted by fault domain and
// device group id. A ReplicationSync with groupIds gets them back unchanged. Errors wrap
// errNoGroupsSelected, errTooManyGroupsSelected or errInvalidGroupSelector (all terminal: the selector must
// change, which means a new ReplicationSync) or are API errors (retry).
func selectGroups(ctx context.Context, c client.Reader, rs *replicationv1alpha1.ReplicationSync) ([]replicationv1alpha1.ReplicationGroupID, error) {
	if rs.Spec.GroupSelector == nil {
		return slices.Clone(rs.Spec.GroupIDs), nil
	}
	provider := rs.Spec.ProviderRef.Name
	out, err := matchGroups(ctx, c, rs.Namespace, provider, rs.Spec.GroupSelector.LabelSelector())
	if err != nil {
		return nil, err
	}
	switch chars := replicationv1alpha1.GroupIDBytes(out); {
	case len(out) == 0:
		return nil, fmt.Errorf("%w %q (selector %s)", errNoGroupsSelected, provider, metav1.FormatLabelSelector(rs.Spec.GroupSelector.LabelSelector()))
	case len(out) > replicationv1alpha1.MaxGroupsPerRun:
		return nil, fmt.Errorf("%w: %d ReplicationGroups, at most %d: narrow the selector, or share the groups out over several ReplicationSyncs with 'kubectl vasa sync -n %s --provider %s -l <selector> --split' (a schedule does so by itself)", errTooManyGroupsSelected, len(out), replicationv1alpha1.MaxGroupsPerRun, rs.Namespace, provider)
	case chars > replicationv1alpha1.MaxGroupIDBytes:
		// The bound admission puts on groupIds: beyond it the run's status would not fit in one object.
		return nil, fmt.Errorf("%w: the ids of the %d groups it matched add up to %d bytes, more than %d: narrow the selector, or share the groups out over several ReplicationSyncs with 'kubectl vasa sync -n %s --provider %s -l <selector> --split' (a schedule does so by itself)",
			errTooManyGroupsSelected, len(out), chars, replicationv1alpha1.MaxGroupIDBytes, rs.Namespace, provider)
	}
	return out, nil
}

// matchGroups returns the ids of the ReplicationGroups in namespace ns that provider reported and whose
// labels match selector, sorted by fault domain and device group id, however many. Errors wrap
// errInvalidGroupSelector or are API errors.
func matchGroups(ctx context.Context, c client.Reader, ns, provider string, selector *metav1.LabelSelector) ([]replicationv1alpha1.ReplicationGroupID, error) {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidGroupSelector, err)
	}
	req, err := labels.NewRequirement(replicationv1alpha1.ProviderLabel, selection.Equals, []string{replicationv1alpha1.LabelValue(provider)})
	if err != nil {
		return nil, fmt.Errorf("selecting the groups of provider %q: %w", provider, err)
	}
	list := &replicationv1alpha1.ReplicationGroupList{}
	if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel.Add(*req)}); err != nil {
		return nil, fmt.Errorf("listing ReplicationGroups for spec.groupSelector: %w", err)
	}
	return replicationv1alpha1.SelectedGroupIDs(list.Items, provider), nil
}

// awaitFirstDiscovery reports whether a run that selects its groups must wait for its VasaProvider's
// first discovery, and why: created together with the VasaProvider (kubectl apply -k, a GitOps
// bootstrap), it would otherwise select from the ReplicationGroups discovery has written so far (none,
// or some) and freeze that. It waits for the first attempt to end, not for a success: one that keeps
// failing (a write refused, a listing without groups) must not hold the run for ever; the run then
// selects from what was written. With discovery off there is nothing to wait for.
func awaitFirstDiscovery(run *syncRun) (string, bool) {
	rs, vp := run.rs, run.vp
	if rs.Spec.GroupSelector == nil || len(rs.Status.Groups) > 0 || !firstDiscoveryPending(vp) {
		return "", false
	}
	return fmt.Sprintf("Waiting for the first discovery of VasaProvider %s to write its ReplicationGroups before selecting the run's groups; "+
		"if this lasts, its status.discovery.message says why discovery does not complete", vp.Name), true
}

// firstDiscoveryPending reports whether the VasaProvider's discovery is on and none has ended yet, with
// success or not: what a selection of its groups waits for.
func firstDiscoveryPending(vp *replicationv1alpha1.VasaProvider) bool {
	return discoveryInterval(vp) > 0 && (vp.Status.Discovery == nil || vp.Status.Discovery.LastAttemptTime == nil)
}

// discoveryTrouble says why the ReplicationGroups of the VasaProvider may be fewer than its groups
// (discovery off, or its last discovery did not complete), or "".
func discoveryTrouble(vp *replicationv1alpha1.VasaProvider) string {
	if discoveryInterval(vp) == 0 {
		return fmt.Sprintf(" (discovery is off for VasaProvider %s (spec.discovery.interval 0s), so only ReplicationGroups someone created exist; turn it on to have them discovered)", vp.Name)
	}
	if d := vp.Status.Discovery; d != nil && d.Message != "" {
		return fmt.Sprintf(" (the last discovery of VasaProvider %s did not complete: %s)", vp.Name, d.Message)
	}
	return ""
}
