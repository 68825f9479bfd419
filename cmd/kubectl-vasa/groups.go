package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

func (a *app) groupsCommand() *cobra.Command {
	var selector, provider string
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List the replication groups the operator discovered (ReplicationGroups)",
		Example: `  kubectl vasa groups -n storage
  kubectl vasa groups -n storage -l replication.vasa.io/source-group=oracle,replication.vasa.io/state=TARGET`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			groups, err := a.matchingGroups(cmd.Context(), provider, selector)
			if err != nil {
				return err
			}
			slices.SortFunc(groups, func(x, y replicationv1alpha1.ReplicationGroup) int {
				return cmp.Or(cmp.Compare(x.Spec.ProviderRef.Name, y.Spec.ProviderRef.Name),
					cmp.Compare(x.Spec.GroupID.FaultDomainID.ID, y.Spec.GroupID.FaultDomainID.ID),
					cmp.Compare(x.Spec.GroupID.DeviceGroupID.ID, y.Spec.GroupID.DeviceGroupID.ID))
			})
			w := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			// NAME is the ReplicationGroup's, which sync --rg takes; GROUP NAME the array's, not unique.
			_, _ = fmt.Fprintln(w, "NAME\tPROVIDER\tFAULT DOMAIN\tDEVICE GROUP\tGROUP NAME\tSTATE\tNEWEST PIT\tRPO")
			for _, rg := range groups {
				_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rg.Name, rg.Spec.ProviderRef.Name, rg.Spec.GroupID.FaultDomainID.ID,
					rg.Spec.GroupID.DeviceGroupID.ID, orDash(rg.Status.Name), orDash(rg.Status.State), pitName(rg.Status.NewestPiT), a.groupRPO(&rg))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector over the ReplicationGroups' labels (replication.vasa.io/provider, fault-domain, state, source-group)")
	cmd.Flags().StringVar(&provider, "provider", "", "only the groups of this VasaProvider")
	return cmd
}

// listGroups lists the namespace's ReplicationGroups matching the selector, of one provider when given.
func listGroups(ctx context.Context, c client.Reader, ns, provider, selector string) ([]replicationv1alpha1.ReplicationGroup, error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, fmt.Errorf("-l %q is not a label selector: %w (write key=value,key in (a,b),!key)", selector, err)
	}
	if provider != "" {
		p, _ := labels.Parse(replicationv1alpha1.ProviderLabel + "=" + replicationv1alpha1.LabelValue(provider))
		reqs, _ := p.Requirements()
		sel = sel.Add(reqs...)
	}
	list := &replicationv1alpha1.ReplicationGroupList{}
	if err := c.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("listing ReplicationGroups in namespace %s: %w", ns, err)
	}
	return list.Items, nil
}

func noGroupsError(ns, provider, selector string) error {
	what := "no ReplicationGroups in namespace " + ns
	if provider != "" {
		what += " of provider " + provider
	}
	if selector != "" {
		what += " match -l " + selector + ": run 'kubectl get rg -n " + ns + " --show-labels' to see the labels"
		return fmt.Errorf("%s", what)
	}
	return fmt.Errorf("%s: groups appear after the operator's first discovery of a Ready VasaProvider (spec.discovery.interval); run 'kubectl vasa doctor -n %s'", what, ns)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pitName(p *replicationv1alpha1.PointInTime) string {
	switch {
	case p == nil:
		return "<none>"
	case p.Name == "":
		return "(summary)"
	}
	return p.Name
}

// groupRPO is a group's RPO: the age of its newest PiT, for a replication target only (after a
// failover the sources' old PiTs are no recovery point to watch; the RPO metric and alert leave them out).
func (a *app) groupRPO(rg *replicationv1alpha1.ReplicationGroup) string {
	if rg.Status.State != replicationv1alpha1.TargetState {
		return "-"
	}
	return a.rpo(rg.Status.NewestPiT)
}

// rpo is the age of the newest PiT, as kubectl prints ages.
func (a *app) rpo(p *replicationv1alpha1.PointInTime) string {
	if p == nil {
		return "-"
	}
	return duration.HumanDuration(max(a.clock().Sub(p.TimeStamp.Time), time.Duration(0)))
}

// matchingGroups lists the namespace's ReplicationGroups of provider (all when empty) matching selector;
// none is an error that says what to check.
func (a *app) matchingGroups(ctx context.Context, provider, selector string) ([]replicationv1alpha1.ReplicationGroup, error) {
	c, ns, err := a.client()
	if err != nil {
		return nil, err
	}
	groups, err := listGroups(ctx, c, ns, provider, selector)
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		return nil, noGroupsError(ns, provider, selector)
	}
	return groups, nil
}
