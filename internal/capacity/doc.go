// Package capacity keeps what the operator has learned about each VASA provider's capacity: the tasks in
// flight per ReplicationSync against maxConcurrentTasks, the batch size TooMany taught and the task
// durations seen. It is a cache of status (VasaProvider and ReplicationSync), rebuilt from it after a restart.
package capacity
