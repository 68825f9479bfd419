// Package install tests the install manifests (config/default, config/prometheus) and the Helm chart
// against a real API server.
package install
