package faultproxy

import (
	"fmt"
	"time"
)

// Action is what a rule does to a response on its way from the vCenter to the client.
type Action string

const (
	// Kill calls Options.Kill (which kills the client process), then closes the client connection
	// without delivering the response.
	Kill Action = "Kill"
	// Drop closes the client connection without delivering the response: a lost response.
	Drop Action = "Drop"
	// Delay delivers the response after Rule.Delay: a late response.
	Delay Action = "Delay"
)

// Rule applies an action to responses of one method. The request always reaches the vCenter first, so a
// sync call whose response is killed, dropped or delayed has started its task.
type Rule struct {
	// Method is the SMS or vim method, e.g. "SyncReplicationGroup_Task" (required).
	Method string
	// Action is what happens to a matching response (required).
	Action Action
	// Times is how many responses the rule applies to; 0 means no limit.
	Times int
	// Probability in (0,1) applies the rule at random to that share of responses; 0 or 1 means always.
	Probability float64
	// OnlySuccess restricts the rule to HTTP 200 answers (for a sync call: a task was created).
	OnlySuccess bool
	// Delay is how long a Delay rule holds the response.
	Delay time.Duration
}

// validate returns an error naming the field that is wrong.
func (r Rule) validate(haveKill bool) error {
	switch {
	case r.Method == "":
		return fmt.Errorf("rule: method is required")
	case r.Action != Kill && r.Action != Drop && r.Action != Delay:
		return fmt.Errorf("rule %s: action %q is not Kill, Drop or Delay", r.Method, r.Action)
	case r.Action == Kill && !haveKill:
		return fmt.Errorf("rule %s: action Kill needs Options.Kill", r.Method)
	case r.Action == Delay && r.Delay <= 0:
		return fmt.Errorf("rule %s: delay must be positive for action Delay", r.Method)
	case r.Times < 0:
		return fmt.Errorf("rule %s: times must not be negative", r.Method)
	case r.Probability < 0 || r.Probability > 1:
		return fmt.Errorf("rule %s: probability must be in [0,1]", r.Method)
	}
	return nil
}

// ruleState is a rule with the number of responses it has applied to.
type ruleState struct {
	Rule
	applied int
}

// matches tells whether the rule applies to a response of method with HTTP status code; roll draws
// a number in [0,1) and is called only when the rule is probabilistic.
func (r *ruleState) matches(method string, code int, roll func() float64) bool {
	if r.Method != method || (r.Times > 0 && r.applied >= r.Times) || (r.OnlySuccess && code != 200) {
		return false
	}
	if r.Probability > 0 && r.Probability < 1 && roll() >= r.Probability {
		return false
	}
	return true
}
