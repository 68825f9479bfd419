// Package smssim simulates the vCenter Storage Monitoring Service (SMS) of one vCenter, with its VASA
// providers, replication groups, point-in-time replicas and tasks, as an endpoint of govmomi's vcsim
// that speaks the SOAP (/sms/sdk) and VI/JSON (/sdk/vim25/{release}/sms/...) bindings.
package smssim
