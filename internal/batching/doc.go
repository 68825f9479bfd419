// Package batching splits replication groups into SMS call batches under the provider's limits.
package batching
