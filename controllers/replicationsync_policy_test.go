package controllers

import (
	"errors"
	"fmt"
	"net"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

func TestDecideSyncFault(t *testing.T) {
	tests := map[string]struct {
		err      error
		batch    int
		action   faultAction
		fault    string
		newBatch int32
	}{
		"timeout":                      {&net.OpError{Op: "read", Err: errors.New("i/o timeout")}, 4, actionInDoubt, faultNoAnswer, 0},
		"reset":                        {fmt.Errorf("wrapped: %w", errors.New("connection reset by peer")), 4, actionInDoubt, faultNoAnswer, 0},
		"empty task ref":               {sms.ErrEmptyTaskRef, 4, actionInDoubt, faultNoAnswer, 0},
		"dial refused":                 {&sms.UnreachableError{Err: &net.OpError{Op: "dial", Err: errors.New("refused")}}, 4, actionBackOff, faultUnreachable, 0},
		"login rejected":               {&sms.LoginError{Username: "u"}, 4, actionBackOff, faultUnreachable, 0},
		"tls":                          {&sms.TLSError{Host: "vc"}, 4, actionBackOff, faultUnreachable, 0},
		"closed client":                {fmt.Errorf("syncing: %w", sms.ErrClosed), 4, actionRetry, faultSessionReplaced, 0},
		"session refused again":        {fmt.Errorf("syncing: %w", sms.ErrSessionRejected), 4, actionBackOff, faultUnreachable, 0},
		"re-login met another vCenter": {fmt.Errorf("re-establishing expired session: %w (instanceUuid b, was a)", sms.ErrVCenterChanged), 4, actionBackOff, faultUnreachable, 0},
		"re-login met a fault":         {fmt.Errorf("%w: re-login: %w", sms.ErrNotSent, &sms.OtherFaultError{Type: "SystemError"}), 4, actionBackOff, "SystemError", 0},
		"re-login met a 503":           {fmt.Errorf("%w: re-login: %w", sms.ErrNotSent, &sms.ServiceUnavailableError{StatusCode: 503, MayHaveRun: true}), 4, actionBackOff, "Service Unavailable", 0},
		"no time left for the call":    {fmt.Errorf("syncing: %w (5s left)", sms.ErrNoTimeLeft), 4, actionRetry, faultNoTimeLeft, 0},
		"too many":                     {&sms.TooManyError{MaxBatchSize: 2}, 4, actionSplit, "TooMany", 2},
		"too many, same size":          {&sms.TooManyError{MaxBatchSize: 4}, 4, actionSplit, "TooMany", 3},
		"too many, no size":            {&sms.TooManyError{}, 4, actionSplit, "TooMany", 1},
		"too many, single group":       {&sms.TooManyError{MaxBatchSize: 1}, 1, actionCount, "TooMany", 0},
		"busy":                         {&sms.ProviderBusyError{}, 4, actionBackOff, "ProviderBusy", 0},
		"out of resource":              {&sms.ProviderOutOfResourceError{}, 4, actionBackOff, "ProviderOutOfResource", 0},
		"unavailable":                  {&sms.ProviderUnavailableError{}, 4, actionBackOff, "ProviderUnavailable", 0},
		"SMS restarting":               {&sms.ServiceUnavailableError{}, 4, actionBackOff, "ServiceNotInitialized", 0},
		"503, nothing listens":         {&sms.ServiceUnavailableError{StatusCode: 503}, 4, actionBackOff, "Service Unavailable", 0},
		"503, may have run":            {&sms.ServiceUnavailableError{StatusCode: 503, MayHaveRun: true}, 4, actionInDoubt, "Service Unavailable", 0},
		"inactive":                     {&sms.InactiveProviderError{}, 4, actionReroute, "InactiveProvider", 0},
		"provider moId unknown":        {&sms.OtherFaultError{Type: "ManagedObjectNotFound"}, 4, actionProviderMoved, "ManagedObjectNotFound", 0},
		"sync ongoing":                 {&sms.SyncOngoingError{TaskRef: "t"}, 4, actionWait, "SyncOngoing", 0},
		"not implemented":              {&sms.NotImplementedError{}, 4, actionFailRun, "NotImplemented", 0},
		"invalid argument":             {&sms.InvalidArgumentError{}, 4, actionCheckGroups, "InvalidArgument", 0},
		"replication fault":            {&sms.ReplicationFaultError{Message: "journal full"}, 4, actionCheckGroups, "SmsReplicationFault", 0},
		"invalid replication state":    {&sms.ReplicationFaultError{Type: "InvalidReplicationState"}, 4, actionCheckGroups, "InvalidReplicationState", 0},
		"unknown fault":                {&sms.OtherFaultError{Type: "SystemError"}, 4, actionCount, "SystemError", 0},
		"wrapped fault is a fault":     {fmt.Errorf("syncing: %w", &sms.ProviderBusyError{}), 4, actionBackOff, "ProviderBusy", 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			d := decideSyncFault(tt.err, tt.batch)
			g.Expect(d.action).To(Equal(tt.action))
			g.Expect(d.fault).To(Equal(tt.fault))
			g.Expect(d.batchSize).To(Equal(tt.newBatch))
		})
	}
}

func TestDecideTaskQueryFault(t *testing.T) {
	tests := map[string]struct {
		err  error
		want pollDecision
	}{
		"gone":        {&sms.OtherFaultError{Type: "ManagedObjectNotFound"}, pollGone},
		"busy":        {&sms.ProviderBusyError{}, pollBackOff},
		"unavailable": {&sms.ProviderUnavailableError{}, pollBackOff},
		"other":       {&sms.OtherFaultError{Type: "InvalidState"}, pollCount},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(decideTaskQueryFault(tt.err)).To(Equal(tt.want))
		})
	}
}
