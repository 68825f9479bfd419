// Package metrics holds the operator's Prometheus metrics, registered once with controller-runtime's registry.
package metrics
