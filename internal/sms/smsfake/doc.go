// Package smsfake is a scriptable in-memory sms.Client for controller tests: replication groups, PiTs
// and tasks that a test drives step by step, every sync call logged, any answer replaceable by a hook.
package smsfake
