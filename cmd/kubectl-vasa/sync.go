package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/pitname"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/runsplit"
)

// InstantiateAnnotation marks a run started by hand from a schedule, as the Argo CD "Sync now" action of
// config/gitops does: the run carries the schedule's label and an owner reference to it, so it shows in
// the schedule's history like a CronJob's `kubectl create job --from=cronjob` run, and its success
// counts as the schedule's.
const InstantiateAnnotation = "replication.vasa.io/instantiate"

type syncOptions struct {
	provider, selector, pitName, name, fromSchedule string
	output                                          string
	groups, rgs                                     []string
	wait, split                                     bool
	timeout                                         time.Duration

	// groupIDs and labelSelector are --group and -l parsed by check.
	groupIDs      []replicationv1alpha1.ReplicationGroupID
	labelSelector *metav1.LabelSelector
}

func (a *app) syncCommand() *cobra.Command {
	o := &syncOptions{}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Create a ReplicationSync from group ids, a label selector or a schedule's template",
		Long: `Create a ReplicationSync from group ids, a label selector or a schedule's template.

With --wait, the exit code says how the sync ended:
  0  the sync succeeded
  1  the sync failed, or another error (a flag, the kubeconfig, the API server refused the sync,
     groups --split had to leave out)
  3  the wait stopped before the sync was seen to finish (--timeout, an interrupt, the API server no
     longer readable, the run deleted before it was seen to finish): the sync may go on; follow it with
     'kubectl get rsync NAME -w', or its events, rather than start another`,
		Example: `  kubectl vasa sync -n storage --provider array-a --group fd-1/dg-1 --group fd-1/dg-2
  kubectl vasa sync -n storage --provider array-a -l replication.vasa.io/source-group=oracle,replication.vasa.io/state=TARGET --wait
  kubectl vasa sync -n storage --from-schedule nightly --wait
  run=$(kubectl vasa sync -n storage --provider array-a --group fd-1/dg-1 --pit-name before-upgrade -o name)
  kubectl vasa sync -n storage --provider array-a -l replication.vasa.io/fault-domain=fd-1 --split --pit-name failover-test --wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Flags first: a mistake in them must not hide behind a kubeconfig or cluster error.
			if err := o.check(); err != nil {
				return err
			}
			var names io.Writer // -o name: the names alone on stdout, all else on stderr
			if o.output == "name" {
				names, a.out = a.out, a.errOut
			}
			c, ns, err := a.client()
			if err != nil {
				return err
			}
			rs, ids, err := a.buildSync(cmd.Context(), c, ns, o)
			if err != nil {
				return err
			}
			runs, set := []*replicationv1alpha1.ReplicationSync{rs}, ""
			var left []replicationv1alpha1.ReplicationGroupID
			if ids != nil {
				var named []replicationv1alpha1.ReplicationGroupID
				if named, left = runsplit.Nameable(ids); len(left) > 0 {
					_, _ = fmt.Fprintf(a.errOut, "Warning: %s\n", leftOutMessage(left))
				}
				runs, set = splitSync(rs, named), replicationv1alpha1.LabelValue(rs.Name)
				_, _ = fmt.Fprintf(a.out, "%d groups match, more than one ReplicationSync holds: creating %d, labelled %s=%s (delete them together when done)\n",
					len(ids), len(runs), replicationv1alpha1.SyncSetLabel, set)
			}
			created, err := a.createSyncs(cmd.Context(), c, runs)
			if err != nil {
				return err
			}
			if names != nil {
				for _, rs := range created {
					_, _ = fmt.Fprintf(names, "replicationsync.replication.vasa.io/%s\n", rs.Name)
				}
			}
			if o.wait {
				if err := a.waitFor(cmd.Context(), c, created, set, o.timeout); err != nil {
					return err
				}
			}
			if len(left) > 0 {
				// A script must not take the groups left out for synced: the runs hold the others.
				return fmt.Errorf("not every group matched is synced: %s", leftOutMessage(left))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.provider, "provider", "", "the VasaProvider to sync through (required unless --from-schedule)")
	f.StringArrayVar(&o.groups, "group", nil, "a group as FAULT_DOMAIN/DEVICE_GROUP (split at the first /); repeat for more")
	f.StringArrayVar(&o.rgs, "rg", nil, "a group by the name of its ReplicationGroup (kubectl get rg; the alerts' group label), whatever its ids hold; repeat for more")
	f.StringVarP(&o.selector, "selector", "l", "", "choose the groups by ReplicationGroup labels; resolved when the run starts")
	f.StringVar(&o.pitName, "pit-name", "", "name of the PiT to create (default manual-<UTC time>, or <schedule>-manual-<UTC time> with --from-schedule)")
	f.StringVar(&o.name, "name", "", "name of the ReplicationSync (default derived from the PiT name, or <schedule>-manual-<UTC time> with --from-schedule)")
	f.StringVar(&o.fromSchedule, "from-schedule", "", "copy the template of this ReplicationSyncSchedule, like kubectl create job --from=cronjob")
	f.BoolVar(&o.split, "split", false, "with a selector that matches more groups than one ReplicationSync holds (1000), create several of the same PiT name, each with its share of the groups' ids")
	f.BoolVar(&o.wait, "wait", false, "wait until the sync finished, showing its progress")
	f.StringVarP(&o.output, "output", "o", "", "name: print only resource/name of each ReplicationSync created or followed, one per line (what else it says goes to stderr)")
	f.DurationVar(&o.timeout, "timeout", 0, "with --wait, give up waiting after this long (0 = no limit); the sync goes on")
	return cmd
}

// check validates the flags on their own, without the cluster, and parses --group and -l.
func (o *syncOptions) check() error {
	if o.timeout < 0 {
		return fmt.Errorf("--timeout %s: give how long to wait, or 0 for no limit", o.timeout)
	}
	if o.output != "" && o.output != "name" {
		return fmt.Errorf("--output %q: the one output is name (resource/name of each ReplicationSync, one per line)", o.output)
	}
	if n := len(o.groups) + len(o.rgs); n > replicationv1alpha1.MaxGroupsPerRun {
		return fmt.Errorf("%d groups given, more than one ReplicationSync holds (%d): choose them with -l and --split, which shares them out over several runs of one PiT name, "+
			"or run the command once per %d groups with the same --pit-name and another --name", n, replicationv1alpha1.MaxGroupsPerRun, replicationv1alpha1.MaxGroupsPerRun)
	}
	if o.timeout != 0 && !o.wait {
		return errors.New("--timeout bounds --wait: add --wait, or drop --timeout")
	}
	if o.fromSchedule != "" {
		if o.provider != "" || len(o.groups)+len(o.rgs) > 0 || o.selector != "" {
			return errors.New("--from-schedule takes provider and groups from the schedule: drop --provider, --group, --rg and -l")
		}
	} else {
		if o.provider == "" {
			return errors.New("--provider is required: name the VasaProvider to sync through (kubectl get vp lists them)")
		}
		if errs := validation.IsDNS1123Subdomain(o.provider); len(errs) > 0 {
			return fmt.Errorf("--provider %q is not a VasaProvider name (kubectl get vp lists them): %s", o.provider, strings.Join(errs, "; "))
		}
		if (len(o.groups)+len(o.rgs) > 0) == (o.selector != "") {
			return errors.New("give the groups with --group FAULT_DOMAIN/DEVICE_GROUP, --rg REPLICATION_GROUP or -l SELECTOR (ids or a selector, not both); 'kubectl vasa groups' lists them")
		}
	}
	if o.split && o.selector == "" && o.fromSchedule == "" {
		return errors.New("--split shares out the groups a selector matches: use it with -l or --from-schedule")
	}
	o.groupIDs = nil
	for _, g := range o.groups {
		fd, dg, ok := strings.Cut(g, "/")
		if !ok || strings.TrimSpace(fd) == "" || strings.TrimSpace(dg) == "" {
			return fmt.Errorf("--group %q: write FAULT_DOMAIN/DEVICE_GROUP, e.g. --group fd-1/dg-1", g)
		}
		if !pitname.Sendable(fd) || !pitname.Sendable(dg) {
			return fmt.Errorf("--group %q: the ids must not start or end with white space or contain control characters, U+FFFE or U+FFFF", g)
		}
		o.groupIDs = append(o.groupIDs, replicationv1alpha1.ReplicationGroupID{
			FaultDomainID: replicationv1alpha1.FaultDomainID{ID: fd}, DeviceGroupID: replicationv1alpha1.DeviceGroupID{ID: dg},
		})
	}
	if !pitname.Sendable(o.pitName) {
		return fmt.Errorf("--pit-name %q: a PiT name must not start or end with white space or contain control characters, U+FFFE or U+FFFF", o.pitName)
	}
	o.labelSelector = nil
	if o.selector != "" {
		sel, err := metav1.ParseToLabelSelector(o.selector)
		if err != nil {
			return fmt.Errorf("-l %q is not a label selector: %w", o.selector, err)
		}
		o.labelSelector = sel
	}
	if o.name != "" {
		if errs := validation.IsDNS1123Subdomain(o.name); len(errs) > 0 {
			return fmt.Errorf("--name %q: %s", o.name, strings.Join(errs, "; "))
		}
	}
	return nil
}

// replicationGroupID reads the ids of the ReplicationGroup named name, a group of provider: ids holding
// a "/" cannot be written with --group.
func replicationGroupID(ctx context.Context, c client.Reader, ns, name, provider string) (replicationv1alpha1.ReplicationGroupID, error) {
	rg := &replicationv1alpha1.ReplicationGroup{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rg); err != nil {
		if apierrors.IsNotFound(err) {
			return replicationv1alpha1.ReplicationGroupID{}, fmt.Errorf("--rg %s: no ReplicationGroup of that name in namespace %s (the NAME column of 'kubectl vasa groups -n %s' lists them)", name, ns, ns)
		}
		return replicationv1alpha1.ReplicationGroupID{}, fmt.Errorf("--rg %s: reading the ReplicationGroup: %w", name, err)
	}
	if rg.Spec.ProviderRef.Name != provider {
		return replicationv1alpha1.ReplicationGroupID{}, fmt.Errorf("--rg %s: the group is VasaProvider %s's, not %s's", name, rg.Spec.ProviderRef.Name, provider)
	}
	return rg.Spec.GroupID, nil
}

// buildSync turns checked flags (syncOptions.check) into a ReplicationSync, checking what the API
// server cannot. With --split, a selector matching more groups than one run holds also returns their
// ids, to be shared out by splitSync; without it, that is an error.
func (a *app) buildSync(ctx context.Context, c client.Reader, ns string, o *syncOptions) (*replicationv1alpha1.ReplicationSync, []replicationv1alpha1.ReplicationGroupID, error) {
	stamp := a.clock().UTC().Format("20060102-150405")
	rs := &replicationv1alpha1.ReplicationSync{ObjectMeta: metav1.ObjectMeta{Namespace: ns}}
	if o.fromSchedule != "" {
		sched := &replicationv1alpha1.ReplicationSyncSchedule{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.fromSchedule}, sched); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil, fmt.Errorf("no ReplicationSyncSchedule %q in namespace %s: list them with 'kubectl get rsched -n %s'", o.fromSchedule, ns, ns)
			}
			return nil, nil, fmt.Errorf("reading ReplicationSyncSchedule %s: %w", o.fromSchedule, err)
		}
		t := sched.Spec.Template
		rs.Labels, rs.Annotations = map[string]string{}, map[string]string{}
		for k, v := range t.Metadata.Labels {
			rs.Labels[k] = v
		}
		for k, v := range t.Metadata.Annotations {
			rs.Annotations[k] = v
		}
		// The value the schedule controller selects its runs by: shortened with a hash for long names.
		rs.Labels[replicationv1alpha1.ScheduleLabel] = replicationv1alpha1.ScheduleLabelValue(sched.Name)
		rs.Annotations[InstantiateAnnotation] = "manual"
		rs.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: replicationv1alpha1.GroupVersion.String(), Kind: "ReplicationSyncSchedule", Name: sched.Name, UID: sched.UID,
		}}
		rs.Spec = t.Spec.SyncSpec("") // pitName below
		if o.name == "" {
			o.name = sched.Name + "-manual-" + a.clock().UTC().Format("20060102150405")
		}
		if o.pitName == "" {
			o.pitName = o.name
		}
	} else {
		// The operator would hold a run of a missing provider Pending for good (providerRef is immutable).
		// Only a missing one is refused: a user who may not read VasaProviders may still create runs.
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: o.provider}, &replicationv1alpha1.VasaProvider{}); apierrors.IsNotFound(err) {
			return nil, nil, fmt.Errorf("--provider %s: no VasaProvider of that name in namespace %s (kubectl get vp -n %s lists them)", o.provider, ns, ns)
		}
		rs.Spec.ProviderRef.Name = o.provider
		rs.Spec.GroupIDs = slices.Clone(o.groupIDs)
		for _, name := range o.rgs {
			id, err := replicationGroupID(ctx, c, ns, name, o.provider)
			if err != nil {
				return nil, nil, err
			}
			rs.Spec.GroupIDs = append(rs.Spec.GroupIDs, id)
		}
		rs.Spec.GroupSelector = replicationv1alpha1.GroupSelectorOf(o.labelSelector)
		if o.pitName == "" {
			o.pitName = "manual-" + stamp
		}
	}
	rs.Spec.PitName = o.pitName
	rs.Name = o.name
	if rs.Name == "" {
		if rs.Name = dnsName(o.pitName); rs.Name == "" {
			return nil, nil, fmt.Errorf("--pit-name %q has no letter or digit an object name can take: give the ReplicationSync a --name", o.pitName)
		}
	}
	if errs := validation.IsDNS1123Subdomain(rs.Name); len(errs) > 0 {
		return nil, nil, fmt.Errorf("--name %q: %s", rs.Name, strings.Join(errs, "; "))
	}
	if rs.Spec.GroupSelector == nil {
		return rs, nil, nil
	}
	ids, err := selection(ctx, c, rs)
	if err != nil || ids == nil {
		return rs, nil, err
	}
	if !o.split {
		return nil, nil, tooManyError(rs, ids)
	}
	return rs, ids, nil
}

// selection resolves rs's selector as the operator will when the run starts. It is an error when
// nothing matches; the ids are returned only when one run cannot hold them.
func selection(ctx context.Context, c client.Reader, rs *replicationv1alpha1.ReplicationSync) ([]replicationv1alpha1.ReplicationGroupID, error) {
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.GroupSelector.LabelSelector())
	if err != nil {
		return nil, fmt.Errorf("the group selector does not parse: %w", err)
	}
	provider := rs.Spec.ProviderRef.Name
	matched, err := listGroups(ctx, c, rs.Namespace, provider, sel.String())
	if err != nil {
		return nil, err
	}
	ids := replicationv1alpha1.SelectedGroupIDs(matched, provider)
	switch {
	case len(ids) == 0:
		return nil, fmt.Errorf("nothing created: %w", noGroupsError(rs.Namespace, provider, sel.String()))
	case runsplit.Fits(ids):
		return nil, nil
	}
	return ids, nil
}

// dnsName makes a ReplicationSync name from a PiT name.
func dnsName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	out := b.String()
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.Trim(out, "-.")
}

func describeGroups(rs *replicationv1alpha1.ReplicationSync) string {
	if rs.Spec.GroupSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.GroupSelector.LabelSelector())
		if err == nil {
			return "groups matching " + sel.String() + " when it starts"
		}
	}
	return fmt.Sprintf("%d groups", len(rs.Spec.GroupIDs))
}

// leftOutMessage says which groups --split left out, and how to sync them.
func leftOutMessage(left []replicationv1alpha1.ReplicationGroupID) string {
	return fmt.Sprintf("%d groups have ids with white space around them or control characters, which groupIds cannot name: left out of the ReplicationSyncs created (a selector matching them and at most %d groups in all syncs them in one run): %v",
		len(left), replicationv1alpha1.MaxGroupsPerRun, left[:min(len(left), 5)])
}
