package main

import (
	"cmp"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

func (a *app) statusCommand() *cobra.Command {
	var selector, provider string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the replication groups by RPO (age of the newest PiT), worst first; groups that are no replication target (no RPO) last",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			groups, err := a.matchingGroups(cmd.Context(), provider, selector)
			if err != nil {
				return err
			}
			// Worst first: targets (only they have an RPO; after a failover, half the groups may be
			// sources), then no PiT at all, then the oldest newest PiT; ties by name.
			slices.SortFunc(groups, func(x, y replicationv1alpha1.ReplicationGroup) int {
				px, py := x.Status.NewestPiT, y.Status.NewestPiT
				tx, ty := x.Status.State == replicationv1alpha1.TargetState, y.Status.State == replicationv1alpha1.TargetState
				switch {
				case tx != ty:
					if tx {
						return -1
					}
					return 1
				case px == nil && py != nil:
					return -1
				case px != nil && py == nil:
					return 1
				case px != nil && !px.TimeStamp.Equal(&py.TimeStamp):
					return px.TimeStamp.Compare(py.TimeStamp.Time)
				}
				return cmp.Compare(x.Name, y.Name)
			})
			w := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			_, _ = fmt.Fprintln(w, "RPO\tGROUP\tPROVIDER\tSTATE\tNEWEST PIT\tLAST SYNC")
			for _, rg := range groups {
				_, _ = fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", a.groupRPO(&rg), rg.Name, rg.Spec.ProviderRef.Name,
					orDash(rg.Status.State), pitName(rg.Status.NewestPiT), a.lastSync(rg.Status.LastSync))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector over the ReplicationGroups' labels")
	cmd.Flags().StringVar(&provider, "provider", "", "only the groups of this VasaProvider")
	return cmd
}

func (a *app) lastSync(l *replicationv1alpha1.LastSync) string {
	if l == nil {
		return "-"
	}
	s := fmt.Sprintf("%s (%s", l.Name, orDash(string(l.State)))
	switch {
	case l.PitTime != nil:
		// The group's data is as of its PiT, which a long run made long before it ended.
		s += ", PiT " + a.rpo(&replicationv1alpha1.PointInTime{TimeStamp: *l.PitTime}) + " ago"
	case l.CompletionTime != nil:
		s += ", " + a.rpo(&replicationv1alpha1.PointInTime{TimeStamp: *l.CompletionTime}) + " ago"
	}
	return s + ")"
}
