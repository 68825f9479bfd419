package sms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"
)

// errEmptyResponse is returned when a call succeeded without a response body.
var errEmptyResponse = errors.New("empty response from sms")

func providerRef(ref string) vimtypes.ManagedObjectReference {
	return vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: ref}
}

// Providers lists the VASA providers registered in this vCenter, but for those whose info could not be read.
func (c *client) Providers(ctx context.Context) ([]ProviderInfo, error) {
	out, _, err := c.providers(ctx)
	return out, err
}

// providers lists the VASA providers registered in this vCenter. A provider whose QueryProviderInfo
// faults (one being unregistered, say) is left out, its fault in unread, so that it does not hide the
// others. The listing takes one round trip, and one more per provider, as many as the server says: one
// that takes longer than wholeRoundTrips fails as *UnreachableError.
func (c *client) providers(ctx context.Context) (out []ProviderInfo, unread []error, err error) {
	err = c.inAll(ctx, "listing the providers", func(ctx context.Context) error {
		return c.call(ctx, func(rt soap.RoundTripper, sm vimtypes.ManagedObjectReference) (err error) {
			out, unread, err = queryProviders(ctx, rt, sm)
			return err
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listing vasa providers: %w", err)
	}
	return out, unread, nil
}

// queryProviders asks the storage manager sm for its providers, and each for its info.
func queryProviders(ctx context.Context, rt soap.RoundTripper, sm vimtypes.ManagedObjectReference) (out []ProviderInfo, unread []error, err error) {
	res, err := methods.QueryProvider(ctx, rt, &smstypes.QueryProvider{This: sm})
	if err != nil {
		return nil, nil, err
	}
	if res == nil {
		return nil, nil, errEmptyResponse
	}
	for _, ref := range res.Returnval {
		if ref.Type != "VasaProvider" {
			continue
		}
		if len(ref.Value) > maxRefBytes {
			unread = append(unread, fmt.Errorf("%w: a provider id of %d bytes, more than a managed object id has (%d at most)",
				ErrMalformedAnswer, len(ref.Value), maxRefBytes))
			continue
		}
		info, err := methods.QueryProviderInfo(ctx, rt, &smstypes.QueryProviderInfo{This: ref})
		if isProviderFault(err) {
			unread = append(unread, fmt.Errorf("%s: %w", ref.Value, decodeCallError(err)))
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if info == nil {
			return nil, nil, errEmptyResponse
		}
		out = append(out, decodeProviderInfo(ref, info.Returnval))
	}
	return out, unread, nil
}

// isProviderFault reports whether err is a fault about one provider: a SOAP fault that is not about the
// session (which the client logs in again for) or the SMS service as a whole.
func isProviderFault(err error) bool {
	if !soap.IsSoapFault(err) && !soap.IsVimFault(err) {
		return false
	}
	var (
		na *notAuthenticatedError
		su *ServiceUnavailableError
	)
	err = decodeCallError(err)
	return !errors.As(err, &na) && !errors.As(err, &su)
}

func decodeProviderInfo(ref vimtypes.ManagedObjectReference, info smstypes.BaseSmsProviderInfo) ProviderInfo {
	p := ProviderInfo{Ref: ref.Value}
	if isNilPointer(info) {
		return p
	}
	switch v := info.(type) {
	case *smstypes.VasaProviderInfo:
		p.Name, p.UID, p.Version, p.Status = v.Name, v.Uid, v.Version, v.Status
	default:
		if b := v.GetSmsProviderInfo(); b != nil {
			p.Name, p.UID, p.Version = b.Name, b.Uid, b.Version
		}
	}
	p.Name, p.UID, p.Version, p.Status = cut(p.Name, maxNameBytes), cut(p.UID, maxNameBytes), cut(p.Version, maxNameBytes), cut(p.Status, maxNameBytes)
	return p
}

// FindProvider returns the provider whose name (or uid) matches.
func (c *client) FindProvider(ctx context.Context, name, uid string) (ProviderInfo, error) {
	if (name == "") == (uid == "") {
		return ProviderInfo{}, errors.New("exactly one of provider name and uid must be set")
	}
	all, unread, err := c.providers(ctx)
	if err != nil {
		return ProviderInfo{}, err
	}
	return pickProvider(all, unread, name, uid)
}

// pickProvider returns the one provider of all with the name (or uid). Two providers of one name are
// refused rather than the first taken: the order SMS lists them in is not promised. (Whether vCenter lets
// two registrations share a name is assumed, not known: nothing we found says it refuses it.)
func pickProvider(all []ProviderInfo, unread []error, name, uid string) (ProviderInfo, error) {
	var found []ProviderInfo
	for _, p := range all {
		if (name != "" && p.Name == name) || (uid != "" && p.UID == uid) {
			found = append(found, p)
		}
	}
	what := fmt.Sprintf("provider with name %q", name)
	if uid != "" {
		what = fmt.Sprintf("provider with uid %q", uid)
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		return ProviderInfo{}, fmt.Errorf("%s: %w: %s", what, ErrProviderAmbiguous, ProviderList(found))
	case len(unread) > 0:
		// It may be one of those: "not found" would have the user check a name or uid that may be right.
		return ProviderInfo{}, fmt.Errorf("%s is not among the vasa providers whose info could be read; %d %w: %w",
			what, len(unread), ErrProviderInfoUnread, errors.Join(unread...))
	}
	return ProviderInfo{}, &ProviderNotFoundError{What: what, Registered: all}
}

// ReplicationGroups queries the replication state of groups at the provider.
func (c *client) ReplicationGroups(ctx context.Context, ref string, groups []GroupID) ([]ReplicationGroup, error) {
	res, err := c.queryReplicationGroups(ctx, ref, groups)
	if err != nil {
		return nil, fmt.Errorf("querying replication groups at %s: %w", ref, err)
	}
	return DecodeReplicationGroups(res), nil
}

// queryReplicationGroups calls QueryReplicationGroup for groups (none: every group of the provider,
// bounded by Config.ListTimeout).
func (c *client) queryReplicationGroups(ctx context.Context, ref string, groups []GroupID) ([]smstypes.BaseGroupOperationResult, error) {
	var out []smstypes.BaseGroupOperationResult
	kind := query
	if len(groups) == 0 {
		kind = listing
	}
	err := c.callOn(ctx, kind, func(rt soap.RoundTripper, _ vimtypes.ManagedObjectReference) error {
		req := &smstypes.QueryReplicationGroup{This: providerRef(ref)}
		if len(groups) > 0 {
			req.GroupId = groupsToWire(groups)
		}
		res, err := methods.QueryReplicationGroup(ctx, rt, req)
		if err != nil {
			return err
		}
		if res == nil {
			return errEmptyResponse
		}
		out = res.Returnval
		return nil
	})
	return out, err
}

// DecodeReplicationGroups converts QueryReplicationGroup results to states; a group the provider
// answered with an error has state StateError, or StateUnanswered when the error says nothing about the
// group. It never panics.
func DecodeReplicationGroups(in []smstypes.BaseGroupOperationResult) []ReplicationGroup {
	infos := DecodeGroupInfos(in)
	out := make([]ReplicationGroup, 0, len(infos))
	for _, gi := range infos {
		state := gi.State
		switch {
		case gi.Unanswered:
			state = StateUnanswered
		case gi.Err != "":
			state = StateError
		}
		out = append(out, ReplicationGroup{Group: gi.Group, State: state})
	}
	return out
}

// saysNothingAboutGroup reports whether a query's per-group error only says the provider could not answer
// for the group now: a transient fault (busy, out of resource, unavailable, SMS or the provider not
// reachable), TooMany (too large to return), InactiveProvider (another provider serves it), or
// QueryExecutionFault ("any other error").
func saysNothingAboutGroup(err error) bool {
	var (
		tooMany  *TooManyError
		inactive *InactiveProviderError
	)
	return IsTransient(err) || errors.As(err, &tooMany) || errors.As(err, &inactive) ||
		FaultTypeOf(err) == "QueryExecutionFault"
}

// xsdRegexMeta are the characters with a single-character escape in XML Schema regular
// expressions (https://www.w3.org/TR/xmlschema-2/#regexs).
const xsdRegexMeta = `\|.?*+(){}-[]^`

// QuoteXSDRegex returns an XML Schema regular expression that matches exactly the literal s
// (XSD expressions are implicitly anchored to the whole string). '$' is an ordinary character in XSD,
// which has no escape for it; it is written as the class "[$]" because a provider that reads the
// expression with a Perl- or Java-style engine (an assumption: the API names XSD, but nothing makes a
// provider use an XSD engine) would take a bare '$' for an end anchor and match none of our PiTs.
// "[$]" means '$' to all of them.
func QuoteXSDRegex(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch {
		case r == '$':
			b.WriteString("[$]")
			continue
		case strings.ContainsRune(xsdRegexMeta, r):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// preferDetails is the queryParam.preferDetails to send: true, but only to a server that knows the field
// (SMS 7.0.0.1 on); older ones refuse the unknown element.
func (c *client) preferDetails() *bool {
	if knowsPreferDetails(c.ServerInfo().SMSVersion) {
		return vimtypes.NewBool(true)
	}
	return nil
}

// pitQueryFrom starts the interval of every PiT query: before any array's first PiT.
var pitQueryFrom = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// pitQueryAhead is how far past our clock a PiT query's interval ends: an array's clock may run ahead.
const pitQueryAhead = 24 * time.Hour

// PointInTimeReplicas returns the PiTs with exactly pitName for these groups. The query is bounded by
// fromDate and toDate (wide enough to hold any PiT): the API has a query with no bound answered with
// counts only, which is all a server before SMS 7.0.0.1 (no preferDetails) would give.
func (c *client) PointInTimeReplicas(ctx context.Context, ref string, groups []GroupID, pitName string) ([]PointInTime, error) {
	var out []PointInTime
	to := time.Now().Add(pitQueryAhead)
	param := &smstypes.QueryPointInTimeReplicaParam{
		ReplicaTimeQueryParam: &smstypes.ReplicaQueryIntervalParam{FromDate: &pitQueryFrom, ToDate: &to},
		PreferDetails:         c.preferDetails(),
	}
	if pitName != "" {
		// queryParam.pitName is an XSD regular expression, not a name.
		param.PitName = QuoteXSDRegex(pitName)
	}
	err := c.call(ctx, func(rt soap.RoundTripper, _ vimtypes.ManagedObjectReference) error {
		res, err := methods.QueryPointInTimeReplica(ctx, rt, &smstypes.QueryPointInTimeReplica{
			This:       providerRef(ref),
			GroupId:    groupsToWire(groups),
			QueryParam: param,
		})
		if err != nil {
			return err
		}
		if res == nil {
			return errEmptyResponse
		}
		out = DecodePointInTimeReplicas(res.Returnval, pitName)
		if failed := DecodePointInTimeReplicaErrors(res.Returnval); failed != nil {
			return &GroupQueryError{Groups: failed}
		}
		return nil
	})
	if err != nil {
		// out holds the PiTs of the groups the provider did answer (see GroupQueryError).
		return out, fmt.Errorf("querying point-in-time replicas %q at %s: %w", pitName, ref, err)
	}
	return out, nil
}

// DecodePointInTimeReplicas converts QueryPointInTimeReplica results, keeping
// only replicas named pitName (all when pitName is empty). It never panics.
//
// A provider may answer a QueryPointInTimeReplicaSummaryResult (replica counts per time
// interval) even though the client asks for details. Such a result for a group whose counts
// add up to more than zero yields one PointInTime for that group with Name pitName, an empty
// ID (the summary carries none), and TimeStamp the start (fromDate) of the latest interval
// holding a replica (zero when unknown). The counts are of the replicas the provider matched
// against the query's pitName, which PointInTimeReplicas sends as an exact-match expression.
func DecodePointInTimeReplicas(in []smstypes.BaseGroupOperationResult, pitName string) []PointInTime {
	var out []PointInTime
	for _, r := range in {
		if s, ok := r.(*smstypes.QueryPointInTimeReplicaSummaryResult); ok && s != nil {
			if pit, ok := summaryPointInTime(s, pitName); ok {
				out = append(out, pit)
			}
			continue
		}
		v, ok := r.(*smstypes.QueryPointInTimeReplicaSuccessResult)
		if !ok || v == nil {
			continue
		}
		for _, ri := range v.ReplicaInfo {
			if pitName != "" && ri.PitName != pitName {
				continue
			}
			out = append(out, PointInTime{
				Group: groupFromWire(v.GroupId), ID: cut(ri.Id.Id, maxPiTIDBytes), Name: cut(ri.PitName, maxPiTNameBytes), TimeStamp: ri.TimeStamp,
			})
		}
	}
	return out
}

// SyncReplicationGroups starts SyncReplicationGroup_Task and returns the SmsTask moId value.
func (c *client) SyncReplicationGroups(ctx context.Context, ref string, groups []GroupID, pitName string) (string, error) {
	var task string
	err := c.callOn(ctx, syncCall, func(rt soap.RoundTripper, _ vimtypes.ManagedObjectReference) error {
		res, err := methods.SyncReplicationGroup_Task(ctx, rt, &smstypes.SyncReplicationGroup_Task{
			This: providerRef(ref), GroupId: groupsToWire(groups), PitName: pitName,
		})
		if err != nil {
			return err
		}
		if res == nil {
			return ErrEmptyTaskRef
		}
		if res.Returnval.Value == "" {
			return ErrEmptyTaskRef
		}
		if len(res.Returnval.Value) > maxRefBytes {
			// A task started, perhaps, that a run could not record and follow: the groups are in doubt.
			return fmt.Errorf("%w: %w: its task id has %d bytes, more than a managed object id has (%d at most)",
				ErrEmptyTaskRef, ErrMalformedAnswer, len(res.Returnval.Value), maxRefBytes)
		}
		task = res.Returnval.Value
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("syncing %d replication groups at %s: %w", len(groups), ref, err)
	}
	return task, nil
}

// TaskInfo reads the state, progress and results of an SmsTask.
func (c *client) TaskInfo(ctx context.Context, taskRef string) (TaskInfo, error) {
	var out TaskInfo
	err := c.call(ctx, func(rt soap.RoundTripper, _ vimtypes.ManagedObjectReference) error {
		res, err := methods.QuerySmsTaskInfo(ctx, rt, &smstypes.QuerySmsTaskInfo{
			This: vimtypes.ManagedObjectReference{Type: "SmsTask", Value: taskRef},
		})
		if err != nil {
			return err
		}
		if res == nil {
			return errEmptyResponse
		}
		out = DecodeTaskInfo(res.Returnval)
		return nil
	})
	if err != nil {
		return TaskInfo{}, fmt.Errorf("querying task %s: %w", taskRef, err)
	}
	if out.State == TaskSuccess && len(out.Results) == 0 {
		results, err := c.taskResult(ctx, taskRef)
		switch {
		case err == nil:
			out.Results = results
		case !refusedForGood(err):
			// No answer, or none yet (a dropped connection, a proxy's 502, a busy provider): read again at
			// the next poll; failed polls are bounded as any others.
			return TaskInfo{}, err
		}
		// Refused for good (a fault, a vCenter that does not serve the method, an answer that does not
		// decode): the task succeeded, its groups' outcome stays unknown, and a run looks for their PiTs
		// before it syncs them again.
	}
	return out, nil
}

// refusedForGood reports whether vCenter answered a call in a way that asking again would not change: a
// fault that is not transient, a method it does not serve, an answer that does not decode.
func refusedForGood(err error) bool {
	return Answered(err) && !IsTransient(err) || errors.Is(err, errNotServed) || errors.Is(err, ErrMalformedAnswer) ||
		errors.Is(err, errTooComplex)
}

// taskResult reads the result of an SmsTask with QuerySmsTaskResult. SmsTaskInfo.result is optional,
// and this method is the API's own way to read a task's result; it costs a call only when the result
// was missing from the task's info.
func (c *client) taskResult(ctx context.Context, taskRef string) ([]GroupResult, error) {
	var out []GroupResult
	err := c.call(ctx, func(rt soap.RoundTripper, _ vimtypes.ManagedObjectReference) error {
		res, err := methods.QuerySmsTaskResult(ctx, rt, &smstypes.QuerySmsTaskResult{
			This: vimtypes.ManagedObjectReference{Type: "SmsTask", Value: taskRef},
		})
		if err != nil {
			return err
		}
		if res != nil {
			out = DecodeGroupResults(res.Returnval)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("querying the result of task %s: %w", taskRef, err)
	}
	return out, nil
}

// summaryPointInTime reports a group of a summary result as having a PiT named pitName when
// its interval counts add up to more than zero (see DecodePointInTimeReplicas).
func summaryPointInTime(s *smstypes.QueryPointInTimeReplicaSummaryResult, pitName string) (PointInTime, bool) {
	var total int64
	var latest time.Time
	for _, iv := range s.IntervalResults {
		if iv.Number <= 0 {
			continue
		}
		total += int64(iv.Number)
		if iv.FromDate.After(latest) {
			latest = iv.FromDate
		}
	}
	if total == 0 {
		return PointInTime{}, false
	}
	return PointInTime{Group: groupFromWire(s.GroupId), Name: pitName, TimeStamp: latest}, true
}
