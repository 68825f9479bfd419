// Package batching picks the size of SMS call batches under the limits that apply.
package batching
