package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

func (a *app) doctorCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check every VasaProvider of the namespace and its unfinished ReplicationSyncs, and say what to fix",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, ns, err := a.client()
			if err != nil {
				return err
			}
			return a.doctor(cmd.Context(), c, ns)
		},
	}
}

func (a *app) doctor(ctx context.Context, c client.Reader, ns string) error {
	list := &replicationv1alpha1.VasaProviderList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing VasaProviders in namespace %s: %w", ns, err)
	}
	if len(list.Items) == 0 {
		return fmt.Errorf("no VasaProvider in namespace %s: create one (see config/samples/replication_v1alpha1_vasaprovider.yaml) or pick the namespace with -n", ns)
	}
	groups := &replicationv1alpha1.ReplicationGroupList{}
	if err := c.List(ctx, groups, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing ReplicationGroups in namespace %s: %w", ns, err)
	}
	runs := &replicationv1alpha1.ReplicationSyncList{}
	if err := c.List(ctx, runs, client.InNamespace(ns)); err != nil {
		return fmt.Errorf("listing ReplicationSyncs in namespace %s: %w", ns, err)
	}
	slices.SortFunc(list.Items, func(x, y replicationv1alpha1.VasaProvider) int { return strings.Compare(x.Name, y.Name) })
	bad := 0
	for i := range list.Items {
		vp := &list.Items[i]
		count := 0
		for _, rg := range groups.Items {
			if rg.Spec.ProviderRef.Name == vp.Name {
				count++
			}
		}
		fixes := a.checkProvider(vp, count)
		fixes = append(fixes, a.checkRuns(vp.Name, runs.Items)...)
		if len(fixes) > 0 {
			bad++
		}
		for _, f := range fixes {
			_, _ = fmt.Fprintf(a.out, "  Fix:        %s\n", f)
		}
		_, _ = fmt.Fprintln(a.out)
	}
	orphans := runsOfNoProvider(list.Items, runs.Items)
	if len(orphans) > 0 {
		_, _ = fmt.Fprintf(a.out, "ReplicationSyncs naming no VasaProvider of namespace %s: %s\n"+
			"  Fix:        create the VasaProvider they name, or delete them and create them with the right providerRef (it cannot be changed)\n\n",
			ns, strings.Join(orphans, ", "))
	}
	switch {
	case bad > 0 && len(orphans) > 0:
		return fmt.Errorf("%d of %d VasaProviders need attention, and %d ReplicationSyncs name no VasaProvider (see Fix above)", bad, len(list.Items), len(orphans))
	case bad > 0:
		return fmt.Errorf("%d of %d VasaProviders need attention (see Fix above)", bad, len(list.Items))
	case len(orphans) > 0:
		return fmt.Errorf("%d ReplicationSyncs name no VasaProvider (see Fix above)", len(orphans))
	}
	_, _ = fmt.Fprintf(a.out, "All %d VasaProviders are fine.\n", len(list.Items))
	return nil
}

// checkProvider prints what is known about one provider and returns what to fix.
func (a *app) checkProvider(vp *replicationv1alpha1.VasaProvider, groups int) []string {
	var fixes []string
	w := func(k, f string, args ...any) {
		_, _ = fmt.Fprintf(a.out, "  %-11s %s\n", k+":", fmt.Sprintf(f, args...))
	}
	_, _ = fmt.Fprintf(a.out, "VasaProvider %s/%s\n", vp.Namespace, vp.Name)
	ready := meta.FindStatusCondition(vp.Status.Conditions, replicationv1alpha1.ReadyCondition)
	switch {
	case ready == nil:
		w("Ready", "Unknown")
		fixes = append(fixes, fmt.Sprintf("the operator has not checked this provider yet: is the manager running (kubectl get deploy -A -l app.kubernetes.io/name=vasa-sync-operator), and does it watch namespace %s (Helm watchNamespaces, --watch-namespace)?", vp.Namespace))
	case ready.Status == "True":
		w("Ready", "True (%s), checked %s", ready.Reason, a.ago(vp.Status.LastCheckedTime))
		if last := vp.Status.LastCheckedTime; last != nil && a.clock().Sub(last.Time) > heartbeatLimit {
			// The operator checks a Ready provider every providerRecheck: its status is stale.
			fixes = append(fixes, fmt.Sprintf("the operator last checked this provider %s (it checks every %s), so what it says may be out of date: is the manager running, and does one replica lead? (kubectl get deploy -A -l app.kubernetes.io/name=vasa-sync-operator; runbook VasaSyncOperatorNoLeader)",
				a.ago(last), duration.HumanDuration(providerRecheck)))
		}
	default:
		w("Ready", "%s (%s)", ready.Status, ready.Reason)
		fixes = append(fixes, ready.Message)
	}
	if vp.Status.ObservedGeneration > 0 && vp.Status.ObservedGeneration < vp.Generation { // -1: never checked
		fixes = append(fixes, "the operator has not seen the latest spec yet: is the manager running?")
	}
	w("vCenter", "%s", vp.Spec.VCenter.SafeURL())
	tls := vp.Spec.VCenter.TLS
	switch {
	case tls.InsecureSkipVerify:
		w("TLS", "verification OFF (insecureSkipVerify)")
		fixes = append(fixes, "certificate verification is off: set spec.vcenter.tls.caBundleSecretRef (the vCenter CA) or spec.vcenter.tls.thumbprint instead of insecureSkipVerify")
	case tls.CABundleSecretRef != nil:
		w("TLS", "CA bundle from Secret %s (key %s)", tls.CABundleSecretRef.Name, tls.CABundleSecretRef.Key)
	case tls.Thumbprint != "":
		w("TLS", "certificate pinned by thumbprint")
	default:
		w("TLS", "system trust roots")
	}
	if st := vp.Status; st.VCenterVersion != "" || st.SMSVersion != "" {
		w("Versions", "vCenter %s, SMS API %s", orDash(st.VCenterVersion), orDash(st.SMSVersion))
	}
	if p := vp.Status.ProviderInfo; p != nil {
		w("Provider", "%s version %s (%s)", orDash(p.Name), orDash(p.Version), orDash(p.Status))
	}
	iv := 5 * time.Minute
	if vp.Spec.Discovery.Interval != nil {
		iv = vp.Spec.Discovery.Interval.Duration
	}
	switch {
	case iv <= 0:
		w("Discovery", "off; ReplicationGroups: %d", groups)
		if groups == 0 {
			fixes = append(fixes, "discovery is off (spec.discovery.interval: 0s), so no ReplicationGroups exist and sync -l matches nothing: set an interval to use selectors")
		}
	default:
		d := vp.Status.Discovery
		var last *metav1.Time
		if d != nil {
			last = d.LastSuccessTime
		}
		w("Discovery", "every %s; ReplicationGroups: %d; last success: %s", duration.HumanDuration(iv), groups, a.ago(last))
		// The message of a discovery that completed says what it could not read (an array without PiT
		// support, groups left unanswered): worth showing, nothing to fix.
		failed := d != nil && d.LastAttemptTime != nil && (last == nil || d.LastAttemptTime.After(last.Time))
		if d != nil && d.Message != "" && !failed {
			w("Note", "%s", d.Message)
		}
		switch {
		case failed && d.Message != "":
			fixes = append(fixes, fmt.Sprintf("the last discovery (%s) did not complete: %s", a.ago(d.LastAttemptTime), d.Message))
		case last != nil && a.clock().Sub(last.Time) > 3*iv:
			// As the VasaProviderDiscoveryStale alert: three intervals without a discovery completing.
			fixes = append(fixes, fmt.Sprintf("no discovery has completed for %s (one runs every %s): is the manager running, and does one replica lead? (kubectl get deploy -A -l app.kubernetes.io/name=vasa-sync-operator; runbook VasaSyncOperatorNoLeader)",
				duration.HumanDuration(a.clock().Sub(last.Time)), duration.HumanDuration(iv)))
		case groups == 0 && ready != nil && ready.Status == "True" && a.clock().Sub(vp.CreationTimestamp.Time) > iv:
			fixes = append(fixes, fmt.Sprintf("no replication groups discovered: see the events of the provider (kubectl get events -n %s --field-selector involvedObject.name=%s)", vp.Namespace, vp.Name))
		}
	}
	return fixes
}

// providerRecheck is how often the operator checks a Ready VasaProvider (and stamps
// status.lastCheckedTime): controllers.ProviderRecheckInterval, which the plugin does not link; heartbeatLimit is how old that stamp may grow before doctor calls it stale.
const (
	providerRecheck = 5 * time.Minute
	heartbeatLimit  = 3 * providerRecheck
)

// ago says how long before now t was, or "never" for nil.
func (a *app) ago(t *metav1.Time) string {
	if t == nil {
		return "never"
	}
	return duration.HumanDuration(a.clock().Sub(t.Time)) + " ago"
}

// stalledRunsShown is how many stalled runs of a provider doctor names; the rest it counts.
const stalledRunsShown = 3

// checkRuns prints how many runs of provider have not finished and returns what to fix: each stalled one
// (it needs a human), by its Stalled condition.
func (a *app) checkRuns(provider string, runs []replicationv1alpha1.ReplicationSync) []string {
	var fixes []string
	unfinished, stalled := 0, 0
	for i := range runs {
		rs := &runs[i]
		if rs.Spec.ProviderRef.Name != provider || !running(rs) {
			continue
		}
		unfinished++
		if c := meta.FindStatusCondition(rs.Status.Conditions, replicationv1alpha1.StalledCondition); c != nil && c.Status == metav1.ConditionTrue {
			if stalled++; stalled <= stalledRunsShown {
				fixes = append(fixes, fmt.Sprintf("ReplicationSync %s is stalled (%s): %s", rs.Name, c.Reason, c.Message))
			}
		}
	}
	if unfinished > 0 {
		_, _ = fmt.Fprintf(a.out, "  %-11s %d not finished, %d stalled\n", "Runs:", unfinished, stalled)
	}
	if stalled > stalledRunsShown {
		fixes = append(fixes, fmt.Sprintf("%d more ReplicationSyncs of this provider are stalled: kubectl get rsync -n %s shows them", stalled-stalledRunsShown, runs[0].Namespace))
	}
	return fixes
}

// runsOfNoProvider are the unfinished runs whose providerRef names none of the VasaProviders (a typo, or
// one deleted): they wait for it for good.
func runsOfNoProvider(providers []replicationv1alpha1.VasaProvider, runs []replicationv1alpha1.ReplicationSync) []string {
	var out []string
	for _, rs := range runs {
		if !running(&rs) || slices.ContainsFunc(providers, func(vp replicationv1alpha1.VasaProvider) bool { return vp.Name == rs.Spec.ProviderRef.Name }) {
			continue
		}
		out = append(out, rs.Name+" ("+rs.Spec.ProviderRef.Name+")")
	}
	return out
}
