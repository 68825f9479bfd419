// Package sms contains the client of the vCenter Storage Monitoring Service (SMS)
// that logs in to vCenter, finds a VASA provider and drives its replication-group
// syncs, decoding every SMS fault into a typed Go error.
//
// # Protocol version
//
// The client sends the SMS API version DefaultVersion ("8.0.1.0") unless
// Config.Version says otherwise. On the SOAP binding it goes into the
// SOAPAction header as "urn:sms/8.0.1.0"; on the JSON binding it is the
// release segment of the URL. govmomi's generated sms/types carry no version
// of their own (the service client it builds leaves Client.Version empty), and
// pyvmomi's "sms.version.version14" is a VMODL version name, not a wire
// string. 8.0.1.0 is the first release that serves the VI/JSON binding, so one
// string is valid for both bindings, and every method this package calls
// (SyncReplicationGroup_Task, QueryPointInTimeReplica, QuerySmsTaskInfo) is
// older than that release. vCenter answers an unknown version with a fault, so
// set Config.Version to the release of an older or newer vCenter if needed.
//
// # JSON binding
//
// With BindingJSON the session is still created by a SOAP Login on /sdk (the
// vmware-api-session-id header carries that session's key, which is what the
// VI/JSON API accepts), and every SMS call is a
//
//	POST https://{vc}/sdk/vim25/{release}/sms/{moType}/{moId}/{method}
//
// request. govmomi's soap.Client.UseJSON builds "{url}/{ns}/{version}/..." from
// the service client's URL ("/sms/sdk/sms/{version}/..."), which is not the
// documented path, so this package uses its own small JSON round tripper
// (jsontransport.go) built on govmomi's VMOMI JSON encoder and decoder.
package sms
