// Package e2e holds whole-system tests: a real control plane, the SMS simulator over HTTPS and the
// manager running with the RBAC generated from the controllers' markers, either in process or as the
// built manager binary behind a fault proxy (test/faultproxy) that kills it, drops or delays responses.
//
// E2E_VERBOSE=1 shows the managers' logs; E2E_CHAOS_SEED replays a chaos run's proxy and killer draws.
package e2e
