package sms

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
	"golang.org/x/sync/errgroup"
)

// NewestPiTBatchSize is how many groups one QueryPointInTimeReplica call of NewestPointInTimes asks
// about. A provider answers at most one PiT per group (number: 1), so a batch's answer stays small while
// 5,000 groups take 50 calls instead of 5,000.
const NewestPiTBatchSize = 100

// Discovery reads what a provider has: its replication groups and their newest PiTs.
type Discovery interface {
	// AllReplicationGroups lists every replication group the provider reports (QueryReplicationGroup
	// with an empty groupId list), with names and source information.
	AllReplicationGroups(ctx context.Context, providerRef string) ([]GroupInfo, error)
	// NewestPointInTimes asks for the newest PiT of each group (queryParam number: 1), in batches of
	// NewestPiTBatchSize; groups the provider failed or has no PiT for are in the answer with Err or
	// without PiT. The groups of a call that failed as a whole are left out, and the error says how
	// many; the answer holds the others.
	NewestPointInTimes(ctx context.Context, providerRef string, groups []GroupID) ([]NewestPiT, error)
	// ReplicationGroupInfos asks about groups by id (QueryReplicationGroup), NewestPiTBatchSize per call.
	// The answer holds what the provider said of each group it answered for; the groups of a call that
	// failed are left out, and the error says how many.
	ReplicationGroupInfos(ctx context.Context, providerRef string, groups []GroupID) ([]GroupInfo, error)
}

// GroupInfo is one replication group as QueryReplicationGroup describes it.
type GroupInfo struct {
	// Group identifies the group.
	Group GroupID
	// State is the replication state (TARGET, SOURCE, INTEST, FAILEDOVER, ...).
	State string
	// Name is the group's name, if the provider reports one.
	Name string
	// Source is the group this target replicates from (nil for a source group).
	Source *GroupID
	// Agreement is the provider's description of the replication agreement.
	Agreement string
	// Err is the provider's error for this group (a GroupErrorResult); the other fields are then empty.
	Err string
	// Unanswered is set with Err when the error says nothing about the group: the provider could not
	// answer for it now (see saysNothingAboutGroup).
	Unanswered bool
	// LeftOut is set with Unanswered when the provider answered a query by id but said nothing of the
	// group, as a provider that answers only for the groups it has does for one it does not.
	LeftOut bool
}

// NewestPiT is the newest point-in-time replica of one group, or why there is none.
type NewestPiT struct {
	// Group is the group asked about.
	Group GroupID
	// PiT is the newest replica; nil when the group has none or the provider failed the group.
	PiT *PointInTime
	// Summary is true when the provider answered counts only: PiT then has no ID or Name and its
	// TimeStamp is the start of the newest interval holding a replica.
	Summary bool
	// Err is the provider's error for this group.
	Err string
	// tooMany: the error is a TooMany of the group's own (too many replicas to return).
	tooMany bool
}

// AllReplicationGroups lists every replication group the provider reports. The API lets a provider answer
// the listing with the groups' ids alone ("either a list of GroupOperationResult or a list of
// QueryReplicationGroupSuccessResult"): those groups are then asked about by id, NewestPiTBatchSize at a
// time, askAloneParallel calls at once. Unlike a PiT query's, these batches are not split on TooMany:
// QueryReplicationGroup declares no such fault (InactiveProvider, NotImplemented, ProviderBusy,
// ProviderUnavailable, QueryExecutionFault). A group listed by id that its batch's answer leaves out, or
// whose batch the provider refused with a fault, comes back Unanswered: the provider said it exists. Only
// when no batch is answered, or one gets no answer at all (a timeout), is the listing an error.
//
// A provider inactive for every fault domain it fronts (VASA high availability) refuses the listing with
// InactiveProvider: each active provider its mapping names is listed instead, and the groups of the
// fault domains mapped to it kept. One hop: a listing refused there too is an error.
func (c *client) AllReplicationGroups(ctx context.Context, ref string) ([]GroupInfo, error) {
	infos, err := c.listAt(ctx, ref)
	var inactive *InactiveProviderError
	if !errors.As(err, &inactive) {
		return infos, err
	}
	domains := map[string][]string{} // active provider → its fault domains
	for fd, to := range inactive.ActiveProviders() {
		if to != "" && to != ref {
			domains[to] = append(domains[to], fd)
		}
	}
	if len(domains) == 0 {
		return nil, err
	}
	for _, to := range slices.Sorted(maps.Keys(domains)) {
		theirs, err := c.listAt(ctx, to)
		if err != nil {
			return nil, fmt.Errorf("%s is inactive; at the active provider of fault domains %s: %w", ref, strings.Join(domains[to], ", "), err)
		}
		for _, gi := range theirs {
			if slices.Contains(domains[to], gi.Group.FaultDomainID) {
				infos = append(infos, gi)
			}
		}
	}
	return infos, nil
}

// listAt lists the groups of one provider (see AllReplicationGroups).
func (c *client) listAt(ctx context.Context, ref string) ([]GroupInfo, error) {
	res, err := c.queryReplicationGroups(ctx, ref, nil)
	if err != nil {
		return nil, fmt.Errorf("listing replication groups at %s: %w", ref, err)
	}
	infos := DecodeGroupInfos(res)
	var ids []GroupID
	for _, r := range res {
		if bare, ok := r.(*smstypes.GroupOperationResult); ok && bare != nil && groupFromWire(bare.GroupId) != (GroupID{}) {
			ids = append(ids, groupFromWire(bare.GroupId))
		}
	}
	if len(ids) == 0 {
		return infos, nil
	}
	unread := func(err error) error {
		return fmt.Errorf("reading the %d replication groups the provider listed by id only at %s: %w", len(ids), ref, err)
	}
	parts := make([][]GroupInfo, (len(ids)+NewestPiTBatchSize-1)/NewestPiTBatchSize)
	refused := make([]error, len(parts))
	eg, egCtx := errgroup.WithContext(ctx)
	eg.SetLimit(askAloneParallel)
	for i := range parts {
		batch := ids[i*NewestPiTBatchSize : min((i+1)*NewestPiTBatchSize, len(ids))]
		eg.Go(func() error {
			more, err := c.queryReplicationGroups(egCtx, ref, batch)
			if err != nil && !Answered(err) {
				return err // no answer at all: the other calls would wait as long
			}
			refused[i] = err
			parts[i] = answeredByID(batch, DecodeGroupInfos(more), whyUnanswered(err, "the provider listed it by id but left it out of its answer about it"))
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, unread(err)
	}
	if !slices.Contains(refused, nil) {
		return nil, unread(refused[0])
	}
	for _, p := range parts {
		infos = append(infos, p...)
	}
	return infos, nil
}

// ReplicationGroupInfos asks about groups by id, NewestPiTBatchSize per call (in the parts a TooMany
// names), following InactiveProvider faults to the active provider of the groups' fault domains
// (askRouted). Every group asked about has an entry: one a call failed for, or that its answer left out,
// is Unanswered, and so are the rest after a call without any answer (a timeout).
func (c *client) ReplicationGroupInfos(ctx context.Context, ref string, groups []GroupID) ([]GroupInfo, error) {
	out := make([]GroupInfo, 0, len(groups))
	var first error
	rt := &routes{}
	for start := 0; start < len(groups); start += NewestPiTBatchSize {
		batch := groups[start:min(start+NewestPiTBatchSize, len(groups))]
		if first != nil && !Answered(first) {
			out = append(out, answeredByID(batch, nil, "not asked: an earlier query got no answer")...)
			continue
		}
		askRouted(rt, ref, batch, func(to string, part []GroupID) ([]GroupInfo, error) {
			return c.groupInfosAt(ctx, to, part)
		}, func(_ string, part []GroupID, infos []GroupInfo, err error) {
			out = append(out, answeredByID(part, infos, whyUnanswered(err, leftOut))...)
			first = cmp.Or(first, err)
		})
	}
	if first != nil {
		return out, fmt.Errorf("asking about %d replication groups at %s: %w", len(groups), ref, first)
	}
	return out, nil
}

// groupInfosAt asks one provider about groups by id, in the parts a TooMany names.
func (c *client) groupInfosAt(ctx context.Context, ref string, groups []GroupID) ([]GroupInfo, error) {
	var (
		out   []GroupInfo
		first error
	)
	AskInParts(groups, func(part []GroupID) ([]smstypes.BaseGroupOperationResult, error) {
		return c.queryReplicationGroups(ctx, ref, part)
	}, func(part []GroupID, res []smstypes.BaseGroupOperationResult, err error) {
		out = append(out, answeredByID(part, DecodeGroupInfos(res), whyUnanswered(err, leftOut))...)
		first = cmp.Or(first, err)
	})
	return out, first
}

// leftOut says why a group asked about by id is Unanswered when the answer left it out.
const leftOut = "the provider left it out of its answer about it"

// whyUnanswered says why a group has no answer: the call's error, or else (it was left out) ifLeftOut.
func whyUnanswered(err error, ifLeftOut string) string {
	if err != nil {
		return "asking the provider about it failed: " + err.Error()
	}
	return ifLeftOut
}

// answeredByID returns the answer about batch with an Unanswered entry, saying why, for each group it
// leaves out: the provider said nothing about them.
func answeredByID(batch []GroupID, answer []GroupInfo, why string) []GroupInfo {
	seen := make(map[GroupID]bool, len(answer))
	for _, gi := range answer {
		seen[gi.Group] = true
	}
	for _, g := range batch {
		if !seen[g] {
			answer = append(answer, GroupInfo{Group: g, Err: why, Unanswered: true, LeftOut: why == leftOut})
		}
	}
	return answer
}

// DecodeGroupInfos converts a QueryReplicationGroup answer. It never panics; results without a group id
// are dropped.
func DecodeGroupInfos(in []smstypes.BaseGroupOperationResult) []GroupInfo {
	out := make([]GroupInfo, 0, len(in))
	for _, r := range in {
		switch v := r.(type) {
		case *smstypes.QueryReplicationGroupSuccessResult:
			if v == nil {
				continue
			}
			gi := GroupInfo{Group: groupFromWire(v.GroupId)}
			switch info := v.RgInfo.(type) {
			case *smstypes.TargetGroupInfo:
				if info == nil {
					break
				}
				gi.State, gi.Name = cut(info.State, maxNameBytes), cut(info.Name, maxNameBytes)
				gi.Agreement = cut(info.SourceInfo.ReplicationAgreementDescription, maxNameBytes)
				if src := groupFromWire(info.SourceInfo.SourceGroupId); src != (GroupID{}) {
					gi.Source = &src
				}
			case *smstypes.SourceGroupInfo:
				if info != nil {
					gi.State, gi.Name = cut(info.State, maxNameBytes), cut(info.Name, maxNameBytes)
				}
			}
			if gi.Group != (GroupID{}) {
				out = append(out, gi)
			}
		case *smstypes.GroupErrorResult:
			if v == nil || groupFromWire(v.GroupId) == (GroupID{}) {
				continue
			}
			msg := cut(strings.Join(localizedTexts(v.Error), "; "), maxMessageBytes)
			if msg == "" {
				msg = "the provider answered an error without a message"
			}
			out = append(out, GroupInfo{Group: groupFromWire(v.GroupId), Err: msg, Unanswered: saysNothingAboutGroup(groupError(v))})
		}
	}
	return out
}

// NewestPointInTimes asks for the newest PiT of each group, NewestPiTBatchSize groups per call. A call
// the provider refuses with TooMany is asked again in parts of the size it names, and a group answered
// with a TooMany of its own (too many replicas to return) alone, as the API reference has clients do. A
// call that fails otherwise leaves its groups out of the answer (unknown, which is not "no PiT"), and the
// error says how many; the other calls' answers are returned with it. After a call without any answer
// (no fault) the rest is not asked either, nor after NotImplemented: an array without PiT support
// answers every call so, and 50 calls per discovery of 5,000 groups would tell nothing more.
//
// A call refused with InactiveProvider is asked again at the active provider of its groups' fault
// domains, where the PiTs of syncs re-routed there are, and so are the later batches (askRouted).
func (c *client) NewestPointInTimes(ctx context.Context, ref string, groups []GroupID) ([]NewestPiT, error) {
	out := make([]NewestPiT, 0, len(groups))
	var first error
	rt := &routes{}
	// stopped are the providers not asked again, and why: one that gave no answer at all (a timeout: the
	// next calls would wait as long), or has no PiT support. Each provider's own: an active provider
	// without PiT support says nothing of the groups the inactive one is still active for.
	stopped := map[string]error{}
	for start := 0; start < len(groups) && ctx.Err() == nil; start += NewestPiTBatchSize {
		askRouted(rt, ref, groups[start:min(start+NewestPiTBatchSize, len(groups))], func(to string, part []GroupID) ([]NewestPiT, error) {
			if err := stopped[to]; err != nil {
				return nil, err
			}
			return c.newestPiTs(ctx, to, part)
		}, func(to string, _ []GroupID, answer []NewestPiT, err error) {
			out = append(out, answer...)
			first = cmp.Or(first, err)
			var ni *NotImplementedError
			if err != nil && (!Answered(err) || errors.As(err, &ni)) {
				stopped[to] = err
			}
		})
	}
	if first == nil && len(out) < len(groups) {
		first = ctx.Err() // ended between two calls
	}
	c.askTooManyAlone(ctx, rt, ref, out)
	if first != nil {
		return out, fmt.Errorf("querying the newest point-in-time replicas of %d of %d groups at %s: %w", len(groups)-len(out), len(groups), ref, first)
	}
	return out, nil
}

// newestPiTs asks about one batch. It returns the answers it got and the error of the part it did not.
func (c *client) newestPiTs(ctx context.Context, ref string, batch []GroupID) ([]NewestPiT, error) {
	var (
		out   []NewestPiT
		first error
	)
	AskInParts(batch, func(part []GroupID) ([]NewestPiT, error) { return c.queryNewestPiTs(ctx, ref, part) },
		func(_ []GroupID, items []NewestPiT, err error) {
			out = append(out, items...)
			first = cmp.Or(first, err)
		})
	return out, first
}

// AskInParts asks query about groups. A TooMany answer for more than one group is asked again in parts
// of the size it names (always smaller), and an answer too large to read in halves (a provider that
// returns every PiT of its groups, whatever the query's number): a query, unlike a sync call, changes
// nothing and may be asked again at will. answer gets each part's final answer, in order.
func AskInParts[T any](groups []GroupID, query func([]GroupID) ([]T, error), answer func(part []GroupID, items []T, err error)) {
	items, err := query(groups)
	var (
		tooMany  *TooManyError
		tooLarge *AnswerTooLargeError
		size     int
	)
	switch {
	case len(groups) < 2:
	case errors.As(err, &tooMany):
		size = max(1, min(tooMany.EffectiveBatchSize(), len(groups)-1))
	case errors.As(err, &tooLarge):
		size = (len(groups) + 1) / 2
	}
	if size == 0 {
		answer(groups, items, err)
		return
	}
	for start := 0; start < len(groups); start += size {
		AskInParts(groups[start:min(start+size, len(groups))], query, answer)
	}
}

// askTooManyAlone asks again, one group per call and a few calls at once, for the groups answered with
// a TooMany of their own; an answer replaces the group's entry.
func (c *client) askTooManyAlone(ctx context.Context, rt *routes, ref string, pits []NewestPiT) {
	var eg errgroup.Group
	eg.SetLimit(askAloneParallel)
	for i := range pits {
		if !pits[i].tooMany {
			continue
		}
		eg.Go(func() error {
			if answer, err := c.queryNewestPiTs(ctx, rt.to(ref, pits[i].Group), []GroupID{pits[i].Group}); err == nil && len(answer) == 1 {
				pits[i] = answer[0]
			}
			return nil
		})
	}
	_ = eg.Wait()
}

// askAloneParallel bounds the one-group PiT queries askTooManyAlone makes at once.
const askAloneParallel = 8

// queryNewestPiTs makes one QueryPointInTimeReplica call about batch.
func (c *client) queryNewestPiTs(ctx context.Context, ref string, batch []GroupID) ([]NewestPiT, error) {
	var answer []NewestPiT
	// number alone is not a combination the API allows; with toDate it is the newest before it.
	to := time.Now().Add(pitQueryAhead)
	err := c.call(ctx, func(rt soap.RoundTripper, _ vimtypes.ManagedObjectReference) error {
		res, err := methods.QueryPointInTimeReplica(ctx, rt, &smstypes.QueryPointInTimeReplica{
			This:    providerRef(ref),
			GroupId: groupsToWire(batch),
			QueryParam: &smstypes.QueryPointInTimeReplicaParam{
				ReplicaTimeQueryParam: &smstypes.ReplicaQueryIntervalParam{ToDate: &to, Number: 1},
				PreferDetails:         c.preferDetails(),
			},
		})
		if err != nil {
			return err
		}
		if res == nil {
			return errEmptyResponse
		}
		answer = DecodeNewestPointInTimes(res.Returnval, batch)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return answer, nil
}

// DecodeNewestPointInTimes converts a QueryPointInTimeReplica answer into one NewestPiT per asked group,
// in the order asked. It keeps the newest replica of each group even when the provider sends more than
// asked for, and ignores results for groups not asked about. A group missing from the answer gets Err.
// It never panics.
func DecodeNewestPointInTimes(in []smstypes.BaseGroupOperationResult, asked []GroupID) []NewestPiT {
	byGroup := make(map[GroupID]*NewestPiT, len(asked))
	out := make([]NewestPiT, len(asked))
	for i, g := range asked {
		out[i] = NewestPiT{Group: g, Err: "the provider did not answer for this group"}
		byGroup[g] = &out[i]
	}
	for _, r := range in {
		switch v := r.(type) {
		case *smstypes.QueryPointInTimeReplicaSuccessResult:
			if v == nil || byGroup[groupFromWire(v.GroupId)] == nil {
				continue
			}
			n := byGroup[groupFromWire(v.GroupId)]
			n.Err, n.Summary, n.PiT = "", false, nil
			for _, ri := range v.ReplicaInfo {
				if n.PiT == nil || ri.TimeStamp.After(n.PiT.TimeStamp) {
					n.PiT = &PointInTime{Group: n.Group, ID: cut(ri.Id.Id, maxPiTIDBytes), Name: cut(ri.PitName, maxPiTNameBytes), TimeStamp: ri.TimeStamp}
				}
			}
		case *smstypes.QueryPointInTimeReplicaSummaryResult:
			if v == nil || byGroup[groupFromWire(v.GroupId)] == nil {
				continue
			}
			n := byGroup[groupFromWire(v.GroupId)]
			n.Err, n.Summary, n.PiT = "", true, nil
			var latest time.Time
			found := false
			for _, iv := range v.IntervalResults {
				if iv.Number > 0 && (!found || iv.FromDate.After(latest)) {
					latest, found = iv.FromDate, true
				}
			}
			if found {
				n.PiT = &PointInTime{Group: n.Group, TimeStamp: latest}
			}
		case *smstypes.GroupErrorResult:
			if v == nil || byGroup[groupFromWire(v.GroupId)] == nil {
				continue
			}
			n := byGroup[groupFromWire(v.GroupId)]
			n.PiT, n.Summary = nil, false
			var tooMany *TooManyError
			n.tooMany = errors.As(groupError(v), &tooMany)
			n.Err = cut(strings.Join(localizedTexts(v.Error), "; "), maxMessageBytes)
			if n.Err == "" {
				n.Err = "the provider answered an error without a message"
			}
		}
	}
	return out
}
