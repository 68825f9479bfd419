package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// createSyncs creates runs, all or none when the API server refuses one (a name taken, a quota, an
// admission policy: each is created in a dry run first), and says what it created. A run that exists
// already with the same provider, PiT name and groups is followed instead: the command run again after
// an unclear answer, or after a split set was created in part, neither fails nor syncs anything twice.
// Shares created before a failure the dry run could not foresee run on, and the message says so.
func (a *app) createSyncs(ctx context.Context, c client.Client, runs []*replicationv1alpha1.ReplicationSync) ([]*replicationv1alpha1.ReplicationSync, error) {
	existing := make([]*replicationv1alpha1.ReplicationSync, len(runs))
	for i, rs := range runs {
		if errs := validation.IsDNS1123Subdomain(rs.Name); len(errs) > 0 {
			return nil, fmt.Errorf("nothing created: ReplicationSync name %q: %s; choose a shorter --name", rs.Name, strings.Join(errs, "; "))
		}
		err := c.Create(ctx, rs.DeepCopy(), client.DryRunAll)
		if apierrors.IsAlreadyExists(err) {
			if stored, readErr := sameRunStored(ctx, c, rs); readErr == nil && stored != nil {
				existing[i], err = stored, nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("nothing created: %w", createError(rs, err))
		}
	}
	created := make([]*replicationv1alpha1.ReplicationSync, 0, len(runs))
	for i, rs := range runs {
		if e := existing[i]; e != nil {
			created = append(created, e)
			_, _ = fmt.Fprintf(a.out, "replicationsync.replication.vasa.io/%s unchanged: it exists with the same provider, PiT and groups (phase %s); following it\n",
				rs.Name, cmp.Or(e.Status.Phase, replicationv1alpha1.SyncPending))
			continue
		}
		if err := c.Create(ctx, rs); err != nil {
			// A run found after an unclear answer, or made by a racing twin of this command, is as created.
			stored, unread := a.createdAfterAll(ctx, c, rs, err)
			if stored == nil {
				return nil, a.createFailed(rs, err, unread != nil, len(created))
			}
			rs = stored
		}
		created = append(created, rs)
		_, _ = fmt.Fprintf(a.out, "replicationsync.replication.vasa.io/%s created (provider %s, PiT %s, %s)\n",
			rs.Name, rs.Spec.ProviderRef.Name, rs.Spec.PitName, describeGroups(rs))
	}
	return created, nil
}

// createdAfterAll reads back a run whose create was not answered clearly (a timeout, a dropped
// connection, an interrupt) or raced another of the same name: the run it finds, if it is the same, or
// nil; and the error of a read that could not tell (not NotFound). A create refused otherwise is not read.
func (a *app) createdAfterAll(ctx context.Context, c client.Client, rs *replicationv1alpha1.ReplicationSync, createErr error) (*replicationv1alpha1.ReplicationSync, error) {
	if !apierrors.IsAlreadyExists(createErr) && !unclearCreate(createErr) {
		return nil, nil
	}
	// Also after an interrupt, which cancelled ctx: the answer decides what the user does next.
	readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readBackTimeout)
	defer cancel()
	stored, err := sameRunStored(readCtx, c, rs)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		_, _ = fmt.Fprintf(a.errOut, "Warning: creating ReplicationSync %s: %v; reading it back: %v\n", rs.Name, createErr, err)
	}
	return stored, err
}

// createFailed is the error of a create the API server refused or that did not land, or, unread, of one
// not answered clearly whose run could not be read back: then it may exist and sync, and the command
// must not be run with another PiT name.
func (a *app) createFailed(rs *replicationv1alpha1.ReplicationSync, err error, unread bool, created int) error {
	if unread && unclearCreate(err) {
		return notFinishedError{fmt.Errorf("creating ReplicationSync %s: %w; it may have been created: 'kubectl get rsync -n %s %s' shows it. "+
			"Run the command again with --name %s --pit-name %s: it follows the run if it exists, and creates it if not", rs.Name, err, rs.Namespace, rs.Name, rs.Name, rs.Spec.PitName)}
	}
	if created > 0 {
		return fmt.Errorf("%w; the %d created before go on and the groups of the rest are not synced: run the command again with the same --name and "+
			"--pit-name %s (the runs that exist are followed, the rest created)", createError(rs, err), created, rs.Spec.PitName)
	}
	return createError(rs, err)
}

// sameRunStored reads the run of rs's name: it, if it syncs the same groups under the same PiT name
// through the same provider; nil if it is another; an error if it could not be read.
func sameRunStored(ctx context.Context, c client.Reader, rs *replicationv1alpha1.ReplicationSync) (*replicationv1alpha1.ReplicationSync, error) {
	stored := &replicationv1alpha1.ReplicationSync{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(rs), stored); err != nil {
		return nil, err
	}
	a, b := stored.Spec, rs.Spec
	if a.ProviderRef != b.ProviderRef || a.PitName != b.PitName || !slices.Equal(a.GroupIDs, b.GroupIDs) ||
		!apiequality.Semantic.DeepEqual(a.GroupSelector, b.GroupSelector) {
		return nil, nil
	}
	return stored, nil
}

// unclearCreate reports whether a failed create may have been applied all the same: no answer (a
// timeout, a dropped connection, an interrupt), or an API server error after it may have written.
func unclearCreate(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	return status.Status().Code >= http.StatusInternalServerError // a timeout too (504, or 500 ServerTimeout)
}

// readBackTimeout bounds the read of a run whose create was not answered clearly.
const readBackTimeout = 15 * time.Second

// alreadyExistsError is the refusal of a run whose name another run, of other groups or PiT, has.
func alreadyExistsError(rs *replicationv1alpha1.ReplicationSync) error {
	return fmt.Errorf("ReplicationSync %s already exists in namespace %s with another provider, PiT name or groups: choose another --name. "+
		"To sync groups again under a PiT name already used, keep that --pit-name: groups that have the PiT are found Synced without a call",
		rs.Name, rs.Namespace)
}

func createError(rs *replicationv1alpha1.ReplicationSync, err error) error {
	if apierrors.IsAlreadyExists(err) {
		return alreadyExistsError(rs)
	}
	return fmt.Errorf("creating ReplicationSync %s: %w", rs.Name, err)
}
