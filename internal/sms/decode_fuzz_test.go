package sms_test

import (
	"errors"
	"reflect"
	"regexp"
	"testing"
	"time"

	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

func FuzzDecodeTaskInfo(f *testing.F) {
	f.Add([]byte(`<QuerySmsTaskInfoResponse xmlns="urn:sms"><returnval><key>t</key><task type="SmsTask">smstask-1</task><state>success</state><progress>100</progress>` +
		`<result xsi:type="ArrayOfGroupOperationResult" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><GroupOperationResult xsi:type="SyncReplicationGroupSuccessResult"><groupId><faultDomainId><id>fd</id></faultDomainId><deviceGroupId><id>dg</id></deviceGroupId></groupId><timeStamp>2026-01-01T00:00:00Z</timeStamp><pitName>p</pitName></GroupOperationResult>` +
		`<GroupOperationResult xsi:type="GroupErrorResult"><groupId><faultDomainId><id>fd</id></faultDomainId><deviceGroupId><id>dg2</id></deviceGroupId></groupId><error><fault xsi:type="ProviderBusy"></fault><localizedMessage>busy</localizedMessage></error></GroupOperationResult></result></returnval></QuerySmsTaskInfoResponse>`))
	f.Add([]byte(`<QuerySmsTaskInfoResponse><returnval><state>error</state><error><fault xsi:type="TooMany" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><maxBatchSize>4</maxBatchSize></fault></error></returnval></QuerySmsTaskInfoResponse>`))
	f.Add([]byte(`{"_typeName":"SmsTaskInfo","key":"k","task":{"_typeName":"ManagedObjectReference","type":"SmsTask","value":"smstask-2"},"state":"success","result":{"_typeName":"ArrayOfGroupOperationResult","_value":[{"_typeName":"GroupErrorResult","groupId":{"_typeName":"ReplicationGroupId","faultDomainId":{"_typeName":"FaultDomainId","id":"fd"},"deviceGroupId":{"_typeName":"DeviceGroupId","id":"dg"}},"error":[{"_typeName":"LocalizedMethodFault","fault":{"_typeName":"SyncOngoing","task":{"_typeName":"ManagedObjectReference","type":"SmsTask","value":"t"}},"localizedMessage":"x"}]}]}}`))
	f.Add([]byte(`{"_typeName":"InactiveProvider","mapping":[{"_typeName":"FaultDomainProviderMapping","activeProvider":{"_typeName":"ManagedObjectReference","type":"VasaProvider","value":"vp-2"},"faultDomainId":[{"_typeName":"FaultDomainId","id":"fd-1"}]}]}`))
	f.Add([]byte(`{"_typeName":"TooMany","maxBatchSize":99999999999}`))
	f.Add([]byte(`null`))
	// QuerySmsTaskResult's answer alone.
	f.Add([]byte(`{"_typeName":"ArrayOfGroupOperationResult","_value":[{"_typeName":"SyncReplicationGroupSuccessResult","groupId":{"_typeName":"ReplicationGroupId","faultDomainId":{"_typeName":"FaultDomainId","id":"fd"},"deviceGroupId":{"_typeName":"DeviceGroupId","id":"dg"}},"timeStamp":"2026-01-01T00:00:00Z","pitName":"p"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if info, err := sms.DecodeTaskInfoXML(data); err == nil {
			_ = info.Err
		}
		if info, err := sms.DecodeTaskInfoJSON(data); err == nil {
			_ = info.Err
		}
		_, _ = sms.DecodeTaskResultJSON(data)
		_ = sms.DecodeFaultJSON(data)
	})
}

func TestDecodeSeeds(t *testing.T) {
	info, err := sms.DecodeTaskInfoJSON([]byte(`{"_typeName":"SmsTaskInfo","key":"k","task":{"_typeName":"ManagedObjectReference","type":"SmsTask","value":"smstask-2"},"state":"success","result":{"_typeName":"ArrayOfGroupOperationResult","_value":[{"_typeName":"GroupErrorResult","groupId":{"_typeName":"ReplicationGroupId","faultDomainId":{"_typeName":"FaultDomainId","id":"fd"},"deviceGroupId":{"_typeName":"DeviceGroupId","id":"dg"}},"error":[{"_typeName":"LocalizedMethodFault","fault":{"_typeName":"SyncOngoing","task":{"_typeName":"ManagedObjectReference","type":"SmsTask","value":"t"}},"localizedMessage":"x"}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if info.Ref != "smstask-2" || len(info.Results) != 1 || info.Results[0].Succeeded || len(info.Results[0].Errors) != 1 {
		t.Fatalf("unexpected %+v", info)
	}
	err = sms.DecodeFaultJSON([]byte(`{"_typeName":"TooMany","maxBatchSize":4}`))
	var tm *sms.TooManyError
	if !errors.As(err, &tm) || tm.EffectiveBatchSize() != 4 {
		t.Fatalf("unexpected %v", err)
	}
}

// TestDecodeInvalidSession checks that the sms InvalidSession faults mean an expired session
// (decoded like NotAuthenticated, which makes the client log in again).
func TestDecodeInvalidSession(t *testing.T) {
	isNotAuthenticated := func(err error) bool {
		var f sms.Fault
		return errors.As(err, &f) && f.FaultType() == "NotAuthenticated"
	}
	cases := map[string]error{
		"InvalidSession":             sms.DecodeFault(&smstypes.InvalidSession{SessionCookie: "c"}, "bad cookie"),
		"InvalidSession value":       sms.DecodeFault(smstypes.InvalidSession{}, "bad cookie"),
		"InvalidSessionFault":        sms.DecodeFault(&smstypes.InvalidSessionFault{}, "bad cookie"),
		"InvalidSession JSON":        sms.DecodeFaultJSON([]byte(`{"_typeName":"InvalidSession","sessionCookie":"c"}`)),
		"InvalidSessionFault JSON":   sms.DecodeFaultJSON([]byte(`{"_typeName":"InvalidSessionFault"}`)),
		"NotAuthenticated (control)": sms.DecodeFault(&vimtypes.NotAuthenticated{}, ""),
	}
	for name, err := range cases {
		if !isNotAuthenticated(err) {
			t.Errorf("%s: got %T %v, want the NotAuthenticated fault", name, err, err)
		}
	}
}

func TestQuoteXSDRegex(t *testing.T) {
	for in, want := range map[string]string{
		"nightly":            "nightly",
		`db+nightly(1).[x]$`: `db\+nightly\(1\)\.\[x\][$]`,
		`\|.?*+(){}-[]^$`:    `\\\|\.\?\*\+\(\)\{\}\-\[\]\^[$]`,
		"ünïcode-ok":         `ünïcode\-ok`,
	} {
		if got := sms.QuoteXSDRegex(in); got != want {
			t.Errorf("QuoteXSDRegex(%q) = %q, want %q", in, got, want)
		}
		// A provider may read the expression with a Perl-style engine: it must match the name there too.
		if perl := regexp.MustCompile(`^(?:` + sms.QuoteXSDRegex(in) + `)$`); !perl.MatchString(in) {
			t.Errorf("QuoteXSDRegex(%q) = %q does not match the name under a Perl-style engine", in, sms.QuoteXSDRegex(in))
		}
	}
}

// TestDecodeReplicationGroupErrors: a per-group error that only says the provider could not answer now is
// StateUnanswered; one that says the group is unknown, or of no kind known, is StateError.
func TestDecodeReplicationGroupErrors(t *testing.T) {
	failed := func(dg string, f vimtypes.BaseMethodFault) *smstypes.GroupErrorResult {
		return &smstypes.GroupErrorResult{
			GroupOperationResult: smstypes.GroupOperationResult{GroupId: vimtypes.ReplicationGroupId{FaultDomainId: vimtypes.FaultDomainId{Id: "fd"}, DeviceGroupId: vimtypes.DeviceGroupId{Id: dg}}},
			Error:                []vimtypes.LocalizedMethodFault{{Fault: f, LocalizedMessage: dg}},
		}
	}
	in := []smstypes.BaseGroupOperationResult{
		failed("query-execution", &smstypes.QueryExecutionFault{}),
		failed("provider-connection", &smstypes.ProviderConnectionFailed{}),
		failed("auth-connection", &smstypes.AuthConnectionFailed{}),
		failed("busy", &smstypes.ProviderBusy{}),
		failed("too-many", &smstypes.TooMany{}),
		failed("inactive", &smstypes.InactiveProvider{}),
		failed("not-found", &vimtypes.NotFound{}),
		failed("invalid", &vimtypes.InvalidArgument{}),
		failed("system-error", &vimtypes.SystemError{}),
	}
	got := map[string]string{}
	for _, rg := range sms.DecodeReplicationGroups(in) {
		got[rg.Group.DeviceGroupID] = rg.State
	}
	want := map[string]string{
		"query-execution": sms.StateUnanswered, "provider-connection": sms.StateUnanswered, "auth-connection": sms.StateUnanswered,
		"busy": sms.StateUnanswered, "too-many": sms.StateUnanswered, "inactive": sms.StateUnanswered,
		"not-found": sms.StateError, "invalid": sms.StateError, "system-error": sms.StateError,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestDecodePointInTimeReplicaSummaries(t *testing.T) {
	gid := func(dg string) vimtypes.ReplicationGroupId {
		return vimtypes.ReplicationGroupId{FaultDomainId: vimtypes.FaultDomainId{Id: "fd"}, DeviceGroupId: vimtypes.DeviceGroupId{Id: dg}}
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := []smstypes.BaseGroupOperationResult{
		&smstypes.QueryPointInTimeReplicaSummaryResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: gid("a")},
			IntervalResults: []smstypes.ReplicaIntervalQueryResult{
				{FromDate: t0, ToDate: t0.Add(time.Hour), Number: 1},
				{FromDate: t0.Add(2 * time.Hour), ToDate: t0.Add(3 * time.Hour), Number: 2},
				{FromDate: t0.Add(5 * time.Hour), ToDate: t0.Add(6 * time.Hour), Number: 0},
			}},
		&smstypes.QueryPointInTimeReplicaSummaryResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: gid("none")},
			IntervalResults: []smstypes.ReplicaIntervalQueryResult{{FromDate: t0, ToDate: t0.Add(time.Hour)}}},
		&smstypes.QueryPointInTimeReplicaSummaryResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: gid("empty")}},
		(*smstypes.QueryPointInTimeReplicaSummaryResult)(nil),
		&smstypes.QueryPointInTimeReplicaSuccessResult{GroupOperationResult: smstypes.GroupOperationResult{GroupId: gid("d")},
			ReplicaInfo: []smstypes.PointInTimeReplicaInfo{{Id: smstypes.PointInTimeReplicaId{Id: "p1"}, PitName: "n", TimeStamp: t0}}},
	}
	got := sms.DecodePointInTimeReplicas(in, "n")
	want := []sms.PointInTime{
		{Group: sms.GroupID{FaultDomainID: "fd", DeviceGroupID: "a"}, Name: "n", TimeStamp: t0.Add(2 * time.Hour)},
		{Group: sms.GroupID{FaultDomainID: "fd", DeviceGroupID: "d"}, ID: "p1", Name: "n", TimeStamp: t0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestDecodeTaskResultSeed: QuerySmsTaskResult's VI/JSON answer decodes to its groups' results.
func TestDecodeTaskResultSeed(t *testing.T) {
	res, err := sms.DecodeTaskResultJSON([]byte(`{"_typeName":"ArrayOfGroupOperationResult","_value":[{"_typeName":"SyncReplicationGroupSuccessResult","groupId":{"_typeName":"ReplicationGroupId","faultDomainId":{"_typeName":"FaultDomainId","id":"fd"},"deviceGroupId":{"_typeName":"DeviceGroupId","id":"dg"}},"timeStamp":"2026-01-01T00:00:00Z","pitName":"p"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || !res[0].Succeeded || res[0].PitName != "p" || res[0].Group != (sms.GroupID{FaultDomainID: "fd", DeviceGroupID: "dg"}) {
		t.Fatalf("got %+v", res)
	}
}
