package sms_test

import (
	"errors"
	"testing"

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
	f.Fuzz(func(t *testing.T, data []byte) {
		if info, err := sms.DecodeTaskInfoXML(data); err == nil {
			_ = info.Err
		}
		if info, err := sms.DecodeTaskInfoJSON(data); err == nil {
			_ = info.Err
		}
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
