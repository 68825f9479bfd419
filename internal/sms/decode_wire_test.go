package sms

// Decoders from raw wire bytes, for the fuzz and decoding tests: the client itself decodes through
// govmomi's SOAP client and decodeAnswer.

import (
	"bytes"
	"fmt"

	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/xml"
)

// groupResultsEnvelope matches the SOAP body of a response whose returnval is GroupOperationResult[].
type groupResultsEnvelope struct {
	Returnval []smstypes.BaseGroupOperationResult `xml:"returnval,typeattr"` //nolint:staticcheck // govmomi's XML decoder knows typeattr
}

// decodeGroupResultsXML decodes the returnval list of a QueryPointInTimeReplica or QueryReplicationGroup
// response element.
func decodeGroupResultsXML(data []byte) (_ []smstypes.BaseGroupOperationResult, err error) {
	defer recoverAnswer(&err) // as the client's calls do: govmomi's XML decoder panics on some xsi:types
	var env groupResultsEnvelope
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.TypeFunc = SMSTypeFunc
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("decoding group results: %w", err)
	}
	return env.Returnval, nil
}

// decodeGroupResultsJSON decodes a VI/JSON GroupOperationResult[] answer, whose faults may be bare.
func decodeGroupResultsJSON(data []byte) ([]smstypes.BaseGroupOperationResult, error) {
	var out []smstypes.BaseGroupOperationResult
	if err := decodeAnswer(wrapBareFaults(data), &out); err != nil {
		return nil, fmt.Errorf("decoding group results: %w", err)
	}
	return out, nil
}

// DecodePointInTimeReplicasXML decodes a QueryPointInTimeReplicaResponse element like
// DecodePointInTimeReplicas. It never panics.
func DecodePointInTimeReplicasXML(data []byte, pitName string) ([]PointInTime, error) {
	in, err := decodeGroupResultsXML(data)
	if err != nil {
		return nil, err
	}
	return DecodePointInTimeReplicas(in, pitName), nil
}

// DecodePointInTimeReplicasJSON decodes a VI/JSON QueryPointInTimeReplica answer. It never panics.
func DecodePointInTimeReplicasJSON(data []byte, pitName string) ([]PointInTime, error) {
	in, err := decodeGroupResultsJSON(data)
	if err != nil {
		return nil, err
	}
	return DecodePointInTimeReplicas(in, pitName), nil
}

// DecodeReplicationGroupsJSON decodes a VI/JSON QueryReplicationGroup answer. It never panics.
func DecodeReplicationGroupsJSON(data []byte) ([]ReplicationGroup, error) {
	in, err := decodeGroupResultsJSON(data)
	if err != nil {
		return nil, err
	}
	return DecodeReplicationGroups(in), nil
}

// DecodeDiscoveryXML decodes a QueryReplicationGroup or QueryPointInTimeReplica answer element as the
// discovery reads it: the groups' descriptions, and the newest PiT of each of asked. It never panics.
func DecodeDiscoveryXML(data []byte, asked []GroupID) ([]GroupInfo, []NewestPiT, error) {
	in, err := decodeGroupResultsXML(data)
	if err != nil {
		return nil, nil, err
	}
	return DecodeGroupInfos(in), DecodeNewestPointInTimes(in, asked), nil
}

// DecodeDiscoveryJSON is DecodeDiscoveryXML for a VI/JSON answer.
func DecodeDiscoveryJSON(data []byte, asked []GroupID) ([]GroupInfo, []NewestPiT, error) {
	in, err := decodeGroupResultsJSON(data)
	if err != nil {
		return nil, nil, err
	}
	return DecodeGroupInfos(in), DecodeNewestPointInTimes(in, asked), nil
}

// soapFaultEnvelope matches a SOAP envelope whose body is a fault.
type soapFaultEnvelope struct {
	Body struct {
		Fault *soap.Fault
	} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
}

// DecodeFaultXML decodes a SOAP fault envelope into a typed error (nil when the body holds no fault). It
// never panics.
func DecodeFaultXML(data []byte) error {
	var env soapFaultEnvelope
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.TypeFunc = SMSTypeFunc
	if err := dec.Decode(&env); err != nil {
		return fmt.Errorf("decoding fault: %w", err)
	}
	if env.Body.Fault == nil {
		return nil
	}
	return decodeCallError(soap.WrapSoapFault(env.Body.Fault))
}

// taskInfoEnvelope matches the SOAP body of a QuerySmsTaskInfoResponse.
type taskInfoEnvelope struct {
	Returnval smstypes.SmsTaskInfo `xml:"returnval"`
}

// DecodeTaskInfoXML decodes the XML of a QuerySmsTaskInfoResponse element (or a
// bare SmsTaskInfo under <returnval>) into a TaskInfo. It never panics.
func DecodeTaskInfoXML(data []byte) (TaskInfo, error) {
	var env taskInfoEnvelope
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.TypeFunc = SMSTypeFunc
	if err := dec.Decode(&env); err != nil {
		return TaskInfo{}, fmt.Errorf("decoding task info: %w", err)
	}
	return DecodeTaskInfo(env.Returnval), nil
}

// DecodeTaskInfoJSON decodes a VI/JSON SmsTaskInfo, whose error may be a bare fault or a
// LocalizedMethodFault, into a TaskInfo. It never panics.
func DecodeTaskInfoJSON(data []byte) (TaskInfo, error) {
	var info smstypes.SmsTaskInfo
	if err := decodeAnswer(wrapBareFaults(data), &info); err != nil {
		return TaskInfo{}, fmt.Errorf("decoding task info: %w", err)
	}
	return DecodeTaskInfo(info), nil
}

// DecodeFaultJSON decodes a VI/JSON fault body into a typed error. It never panics.
func DecodeFaultJSON(data []byte) error {
	err := jsonFault(data)
	return decodeCallError(err)
}
