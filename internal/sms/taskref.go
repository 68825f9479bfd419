package sms

import "errors"

// ErrEmptyTaskRef is returned (wrapped; test with errors.Is) when SyncReplicationGroup_Task
// answered success without a task reference (e.g. a VI/JSON HTTP 200 with no body), or with one longer
// than a managed object id may be (maxRefBytes), which a run could not record. The provider may have
// started a task that the caller cannot follow: the groups are in doubt, not failed.
var ErrEmptyTaskRef = errors.New("sync answered without a task reference")
