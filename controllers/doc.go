// Package controllers holds the reconcilers of VasaProvider, ReplicationSync and ReplicationSyncSchedule.
package controllers
