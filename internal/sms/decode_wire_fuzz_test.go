package sms_test

import (
	"errors"
	"strings"
	"testing"

	smstypes "github.com/vmware/govmomi/sms/types"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

const (
	pitXML = `<QueryPointInTimeReplicaResponse xmlns="urn:sms" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<returnval xsi:type="QueryPointInTimeReplicaSuccessResult"><groupId><faultDomainId><id>fd</id></faultDomainId><deviceGroupId><id>dg</id></deviceGroupId></groupId>` +
		`<replicaInfo><id><id>p1</id></id><pitName>nightly</pitName><timeStamp>2026-01-01T00:00:00Z</timeStamp></replicaInfo></returnval>` +
		`<returnval xsi:type="QueryPointInTimeReplicaSummaryResult"><groupId><faultDomainId><id>fd</id></faultDomainId><deviceGroupId><id>dg2</id></deviceGroupId></groupId>` +
		`<intervalResults><fromDate>2026-01-01T00:00:00Z</fromDate><toDate>2026-01-02T00:00:00Z</toDate><number>2</number></intervalResults></returnval>` +
		`<returnval xsi:type="GroupErrorResult"><groupId><faultDomainId><id>fd</id></faultDomainId><deviceGroupId><id>dg3</id></deviceGroupId></groupId>` +
		`<error><fault xsi:type="InvalidArgument"><invalidProperty>groupId</invalidProperty></fault><localizedMessage>unknown</localizedMessage></error></returnval>` +
		`</QueryPointInTimeReplicaResponse>`
	pitJSON = `[{"_typeName":"QueryPointInTimeReplicaSuccessResult","groupId":{"_typeName":"ReplicationGroupId","faultDomainId":{"_typeName":"FaultDomainId","id":"fd"},"deviceGroupId":{"_typeName":"DeviceGroupId","id":"dg"}},` +
		`"replicaInfo":[{"_typeName":"PointInTimeReplicaInfo","id":{"_typeName":"PointInTimeReplicaId","id":"p1"},"pitName":"nightly","timeStamp":"2026-01-01T00:00:00Z"}]},` +
		`{"_typeName":"QueryPointInTimeReplicaSummaryResult","groupId":{"_typeName":"ReplicationGroupId","faultDomainId":{"_typeName":"FaultDomainId","id":"fd"},"deviceGroupId":{"_typeName":"DeviceGroupId","id":"dg2"}},` +
		`"intervalResults":[{"_typeName":"ReplicaIntervalQueryResult","fromDate":"2026-01-01T00:00:00Z","toDate":"2026-01-02T00:00:00Z","number":2}]}]`
	faultXML = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>at most 4 groups</faultstring>` +
		`<detail><TooManyFault xsi:type="TooMany" xmlns="urn:sms"><maxBatchSize>4</maxBatchSize></TooManyFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`
	bareTaskJSON = `{"_typeName":"SmsTaskInfo","key":"k","task":{"_typeName":"ManagedObjectReference","type":"SmsTask","value":"smstask-3"},"state":"error",` +
		`"error":{"_typeName":"TooMany","maxBatchSize":4,"faultstring":"at most 4 groups"}}`
	groupsXML = `<QueryReplicationGroupResponse xmlns="urn:sms" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
		`<returnval xsi:type="QueryReplicationGroupSuccessResult"><groupId><faultDomainId><id>fd</id></faultDomainId><deviceGroupId><id>dg</id></deviceGroupId></groupId>` +
		`<rgInfo xsi:type="TargetGroupInfo"><groupId><faultDomainId><id>fd</id></faultDomainId><deviceGroupId><id>dg</id></deviceGroupId></groupId><state>TARGET</state><name>oracle</name>` +
		`<sourceInfo><sourceGroupId><faultDomainId><id>fd-s</id></faultDomainId><deviceGroupId><id>dg-s</id></deviceGroupId></sourceGroupId>` +
		`<replicationAgreementDescription>async 15m</replicationAgreementDescription></sourceInfo></rgInfo></returnval>` +
		`<returnval xsi:type="QueryReplicationGroupSuccessResult"><groupId><faultDomainId><id>fd</id></faultDomainId><deviceGroupId><id>dg2</id></deviceGroupId></groupId>` +
		`<rgInfo xsi:type="SourceGroupInfo"><groupId><faultDomainId><id>fd</id></faultDomainId><deviceGroupId><id>dg2</id></deviceGroupId></groupId><state>SOURCE</state></rgInfo></returnval>` +
		`<returnval xsi:type="GroupOperationResult"><groupId><faultDomainId><id>fd</id></faultDomainId><deviceGroupId><id>dg3</id></deviceGroupId></groupId></returnval>` +
		`</QueryReplicationGroupResponse>`
	groupsJSON = `[{"_typeName":"QueryReplicationGroupSuccessResult","groupId":{"_typeName":"ReplicationGroupId","faultDomainId":{"_typeName":"FaultDomainId","id":"fd"},"deviceGroupId":{"_typeName":"DeviceGroupId","id":"dg"}},` +
		`"rgInfo":{"_typeName":"TargetGroupInfo","groupId":{"_typeName":"ReplicationGroupId","faultDomainId":{"_typeName":"FaultDomainId","id":"fd"},"deviceGroupId":{"_typeName":"DeviceGroupId","id":"dg"}},"state":"TARGET","name":"oracle",` +
		`"sourceInfo":{"_typeName":"TargetToSourceInfo","sourceGroupId":{"_typeName":"ReplicationGroupId","faultDomainId":{"_typeName":"FaultDomainId","id":"fd-s"},"deviceGroupId":{"_typeName":"DeviceGroupId","id":"dg-s"}},"replicationAgreementDescription":"async 15m"}}},` +
		`{"_typeName":"GroupOperationResult","groupId":{"_typeName":"ReplicationGroupId","faultDomainId":{"_typeName":"FaultDomainId","id":"fd"},"deviceGroupId":{"_typeName":"DeviceGroupId","id":"dg3"}}}]`
	wrappedTaskJSON = `{"_typeName":"SmsTaskInfo","key":"k","task":{"_typeName":"ManagedObjectReference","type":"SmsTask","value":"smstask-3"},"state":"error",` +
		`"error":{"_typeName":"LocalizedMethodFault","fault":{"_typeName":"TooMany","maxBatchSize":4},"localizedMessage":"at most 4 groups"}}`
)

func FuzzDecodePointInTimeReplicas(f *testing.F) {
	f.Add([]byte(pitXML))
	f.Add([]byte(pitJSON))
	f.Add([]byte(`[{"_typeName":"QueryPointInTimeReplicaSuccessResult"},null,{"_typeName":"GroupErrorResult","error":[null]}]`))
	f.Add([]byte(`<r><returnval xsi:type="QueryPointInTimeReplicaSummaryResult" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></r>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = sms.DecodePointInTimeReplicasXML(data, "nightly")
		_, _ = sms.DecodePointInTimeReplicasJSON(data, "")
		_, _ = sms.DecodeReplicationGroupsJSON(data)
	})
}

// FuzzDecodeDiscovery: the discovery's decoders read group names, sources, agreements and the newest
// PiTs into ReplicationGroups and the RPO metric, from any provider.
func FuzzDecodeDiscovery(f *testing.F) {
	f.Add([]byte(pitXML))
	f.Add([]byte(pitJSON))
	f.Add([]byte(groupsXML))
	f.Add([]byte(groupsJSON))
	f.Add([]byte(`[{"_typeName":"GroupOperationResult","groupId":null},{"_typeName":"QueryReplicationGroupSuccessResult","rgInfo":null},` +
		`{"_typeName":"QueryReplicationGroupSuccessResult","rgInfo":{"_typeName":"TargetGroupInfo","sourceInfo":{"_typeName":"TargetToSourceInfo"}}}]`))
	asked := []sms.GroupID{{FaultDomainID: "fd", DeviceGroupID: "dg"}, {FaultDomainID: "fd", DeviceGroupID: "dg2"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, newest, err := sms.DecodeDiscoveryXML(data, asked); err == nil && len(newest) != len(asked) {
			t.Fatalf("%d newest PiTs for %d groups asked: %s", len(newest), len(asked), data)
		}
		if _, newest, err := sms.DecodeDiscoveryJSON(data, asked); err == nil && len(newest) != len(asked) {
			t.Fatalf("%d newest PiTs for %d groups asked: %s", len(newest), len(asked), data)
		}
	})
}

func FuzzDecodeFault(f *testing.F) {
	f.Add([]byte(faultXML))
	f.Add([]byte(`{"_typeName":"TooMany","maxBatchSize":4,"faultstring":"x"}`))
	f.Add([]byte(`{"_typeName":"ServiceNotInitialized","faultstring":"starting"}`))
	f.Add([]byte(`{"_typeName":"SyncOngoing","task":null}`))
	f.Add([]byte(`<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><Fault><detail/></Fault></Body></Envelope>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = sms.DecodeFaultXML(data)
		_ = sms.DecodeFaultJSON(data)
	})
}

func FuzzDecodeTaskInfoShapes(f *testing.F) {
	f.Add([]byte(bareTaskJSON))
	f.Add([]byte(wrappedTaskJSON))
	f.Add([]byte(`{"_typeName":"SmsTaskInfo","error":{"_typeName":"NoSuchFault"}}`))
	f.Add([]byte(`{"_typeName":"SmsTaskInfo","error":{"_typeName":"LocalizedMethodFault","fault":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if info, err := sms.DecodeTaskInfoJSON(data); err == nil && info.State == sms.TaskError && info.Err == nil {
			t.Fatalf("a task in error decoded without an error: %s", data)
		}
	})
}

// TestTaskErrorShapesDecodeAlike: a bare fault and a LocalizedMethodFault decode to the same typed error.
func TestTaskErrorShapesDecodeAlike(t *testing.T) {
	for name, body := range map[string]string{"bare": bareTaskJSON, "wrapped": wrappedTaskJSON} {
		info, err := sms.DecodeTaskInfoJSON([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var tm *sms.TooManyError
		if !errors.As(info.Err, &tm) || tm.MaxBatchSize != 4 || tm.Message != "at most 4 groups" {
			t.Errorf("%s: got %#v", name, info.Err)
		}
	}
}

// TestGroupFaultShapesDecodeAlike: the faults inside a task's per-group results (GroupErrorResult.error,
// a success's warning) decode the same whether bare, as the 8.0.3 VI/JSON reference shows them, or
// wrapped in a LocalizedMethodFault.
func TestGroupFaultShapesDecodeAlike(t *testing.T) {
	const group = `"groupId":{"_typeName":"ReplicationGroupId","faultDomainId":{"_typeName":"FaultDomainId","id":"fd"},` +
		`"deviceGroupId":{"_typeName":"DeviceGroupId","id":"dg"}}`
	shapes := map[string]struct{ peer, warn string }{
		"bare": {
			peer: `{"_typeName":"PeerNotReachable","faultMessage":[{"_typeName":"LocalizableMessage","key":"k","message":"peer down"}]}`,
			warn: `{"_typeName":"SmsReplicationFault","faultMessage":[{"_typeName":"LocalizableMessage","key":"k","message":"slow link"}]}`,
		},
		"wrapped": {
			peer: `{"_typeName":"LocalizedMethodFault","fault":{"_typeName":"PeerNotReachable"},"localizedMessage":"peer down"}`,
			warn: `{"_typeName":"LocalizedMethodFault","fault":{"_typeName":"SmsReplicationFault"},"localizedMessage":"slow link"}`,
		},
	}
	for name, s := range shapes {
		body := `{"_typeName":"SmsTaskInfo","key":"k","task":{"_typeName":"ManagedObjectReference","type":"SmsTask","value":"smstask-3"},"state":"success",` +
			`"result":{"_typeName":"ArrayOfGroupOperationResult","_value":[` +
			`{"_typeName":"GroupErrorResult",` + group + `,"error":[` + s.peer + `]},` +
			`{"_typeName":"SyncReplicationGroupSuccessResult",` + group + `,"warning":[` + s.warn + `],"timeStamp":"2026-12-03T02:00:00Z","pitName":"n"}]}}`
		info, err := sms.DecodeTaskInfoJSON([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(info.Results) != 2 {
			t.Fatalf("%s: results %+v", name, info.Results)
		}
		if errs := info.Results[0].Errors; len(errs) != 1 || !strings.Contains(errs[0], "PeerNotReachable") || !strings.Contains(errs[0], "peer down") {
			t.Errorf("%s: group error %q", name, errs)
		}
		if w := info.Results[1].Warnings; len(w) != 1 || !strings.Contains(w[0], "slow link") {
			t.Errorf("%s: warning %q", name, w)
		}
	}
}

// TestDecodeWireSeeds checks the raw decoders on real-shaped answers.
func TestDecodeWireSeeds(t *testing.T) {
	pits, err := sms.DecodePointInTimeReplicasXML([]byte(pitXML), "nightly")
	if err != nil || len(pits) != 2 || pits[0].ID != "p1" || pits[1].Group.DeviceGroupID != "dg2" {
		t.Fatalf("XML PiTs: %+v %v", pits, err)
	}
	pits, err = sms.DecodePointInTimeReplicasJSON([]byte(pitJSON), "nightly")
	if err != nil || len(pits) != 2 {
		t.Fatalf("JSON PiTs: %+v %v", pits, err)
	}
	var tm *sms.TooManyError
	if err := sms.DecodeFaultXML([]byte(faultXML)); !errors.As(err, &tm) || tm.MaxBatchSize != 4 || tm.Message != "at most 4 groups" {
		t.Fatalf("SOAP fault: %#v", err)
	}
	var su *sms.ServiceUnavailableError
	if err := sms.DecodeFaultJSON([]byte(`{"_typeName":"ServiceNotInitialized","faultstring":"starting"}`)); !errors.As(err, &su) || su.Message != "starting" {
		t.Fatalf("JSON fault: %#v", err)
	}
}

// TestTypedNilResults: typed nil pointers in provider answers are skipped, never dereferenced.
func TestTypedNilResults(t *testing.T) {
	results := []smstypes.BaseGroupOperationResult{
		(*smstypes.QueryReplicationGroupSuccessResult)(nil),
		(*smstypes.GroupErrorResult)(nil),
		(*smstypes.SyncReplicationGroupSuccessResult)(nil),
		(*smstypes.QueryPointInTimeReplicaSuccessResult)(nil),
		(*smstypes.QueryPointInTimeReplicaSummaryResult)(nil),
		(*smstypes.GroupOperationResult)(nil),
		&smstypes.QueryReplicationGroupSuccessResult{RgInfo: (*smstypes.TargetGroupInfo)(nil)},
		&smstypes.QueryReplicationGroupSuccessResult{RgInfo: (*smstypes.SourceGroupInfo)(nil)},
	}
	_ = sms.DecodeReplicationGroups(results)
	_ = sms.DecodeGroupInfos(results)
	_ = sms.DecodeNewestPointInTimes(results, []sms.GroupID{{FaultDomainID: "fd", DeviceGroupID: "dg"}})
	_ = sms.DecodePointInTimeReplicas(results, "")
	_ = sms.DecodeGroupResults(results)
	_ = sms.DecodeGroupResults(smstypes.ArrayOfGroupOperationResult{GroupOperationResult: results})
	_ = sms.DecodeTaskInfo(smstypes.SmsTaskInfo{Error: &vimtypes.LocalizedMethodFault{Fault: (*smstypes.TooMany)(nil)}})
	if err := sms.DecodeFault((*smstypes.SyncOngoing)(nil), ""); err == nil {
		t.Error("a typed nil fault decoded to no error")
	}
}
