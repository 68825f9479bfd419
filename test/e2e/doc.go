// Package e2e holds whole-system tests: a real control plane, the SMS simulator over HTTPS and the
// manager running with the RBAC generated from the controllers' markers.
package e2e
