package smssim

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Task duration distributions (ProviderConfig.TaskDurationDistribution).
const (
	// DistributionUniform draws durations uniformly from TaskDuration ± TaskDurationJitter.
	DistributionUniform = "uniform"
	// DistributionLognormal draws durations with median TaskDuration and a long tail.
	DistributionLognormal = "lognormal"
)

// Validate checks the knobs Start cannot interpret, naming the field at fault.
func (c Config) Validate() error {
	var errs []error
	if c.SessionExpiresAfterCalls < 0 {
		errs = append(errs, errors.New("sessionExpiresAfterCalls must not be negative"))
	}
	if c.RestartSMSAfterCalls < 0 {
		errs = append(errs, errors.New("restartSMSAfterCalls must not be negative"))
	}
	if c.TaskRetention.Duration < 0 {
		errs = append(errs, errors.New("taskRetention must not be negative"))
	}
	for i, p := range c.Providers {
		if err := p.validate(); err != nil {
			errs = append(errs, fmt.Errorf("providers[%d] (%s): %w", i, p.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (p ProviderConfig) validate() error {
	var errs []error
	if p.TaskDuration.Duration < 0 || p.TaskDurationJitter.Duration < 0 || p.Latency.Duration < 0 || p.ListLatencyPerGroup.Duration < 0 {
		errs = append(errs, errors.New("taskDuration, taskDurationJitter, latency and listLatencyPerGroup must not be negative"))
	}
	switch p.TaskDurationDistribution {
	case "", DistributionUniform, DistributionLognormal:
	default:
		errs = append(errs, fmt.Errorf("taskDurationDistribution %q: want %s or %s",
			p.TaskDurationDistribution, DistributionUniform, DistributionLognormal))
	}
	if p.PiTQueryMaxGroups < 0 {
		errs = append(errs, errors.New("pitQueryMaxGroups must not be negative"))
	}
	if d := p.ClockOffset.Duration; d <= -24*time.Hour || d >= 24*time.Hour {
		errs = append(errs, errors.New("clockOffset must be less than a day either way"))
	}
	if p.TaskErrorAfterGroups < 0 {
		errs = append(errs, errors.New("taskErrorAfterGroups must not be negative"))
	}
	if p.MaxConcurrentTasks < 0 {
		errs = append(errs, errors.New("maxConcurrentTasks must not be negative"))
	}
	if err := p.LostResponses.validate("lostResponses"); err != nil {
		errs = append(errs, err)
	}
	if err := p.ResetResponses.validate("resetResponses"); err != nil {
		errs = append(errs, err)
	}
	if p.LateResponses != nil {
		if err := p.LateResponses.ResponseRule.validate("lateResponses"); err != nil {
			errs = append(errs, err)
		}
		if p.LateResponses.Delay.Duration < 0 {
			errs = append(errs, errors.New("lateResponses.delay must not be negative"))
		}
	}
	if err := p.EmptyTaskRefs.validate("emptyTaskRefs"); err != nil {
		errs = append(errs, err)
	}
	for i, r := range p.Faults {
		field := fmt.Sprintf("faults[%d]", i)
		if err := r.validate(field); err != nil {
			errs = append(errs, err)
		}
		if r.Method != "" && !slices.Contains(ruledMethods, r.Method) {
			errs = append(errs, fmt.Errorf("%s.method %q: rules answer only %v, the calls the array itself answers (SMS answers task queries and provider lookups on its own)",
				field, r.Method, ruledMethods))
		}
	}
	if p.TaskErrorFault != "" && !knownFault(p.TaskErrorFault) {
		errs = append(errs, fmt.Errorf("taskErrorFault %q is not a fault the simulator knows", p.TaskErrorFault))
	}
	for i, g := range p.Groups {
		for _, list := range []struct {
			name  string
			rules []FaultRule
		}{{"pitQueryFaults", g.PiTQueryFaults}, {"groupQueryFaults", g.GroupQueryFaults}} {
			for j, r := range list.rules {
				field := fmt.Sprintf("groups[%d].%s[%d]", i, list.name, j)
				if r.Method != "" {
					errs = append(errs, fmt.Errorf("%s.method must be empty (the rule answers one method only)", field))
				}
				if err := r.validate(field); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (r *ResponseRule) validate(field string) error {
	if r == nil {
		return nil
	}
	if r.Times < 0 {
		return fmt.Errorf("%s.times must not be negative", field)
	}
	if r.Probability < 0 || r.Probability > 1 {
		return fmt.Errorf("%s.probability %v is not in [0,1]", field, r.Probability)
	}
	return nil
}

func (r FaultRule) validate(field string) error {
	if r.Times < 0 {
		return fmt.Errorf("%s.times must not be negative", field)
	}
	if r.Probability < 0 || r.Probability > 1 {
		return fmt.Errorf("%s.probability %v is not in [0,1]", field, r.Probability)
	}
	if !knownFault(r.Fault) {
		return fmt.Errorf("%s.fault %q is not a fault the simulator knows", field, r.Fault)
	}
	return nil
}

// ruledMethods are the methods whose answer comes from the array, and so may carry an array's fault
// (FaultRule.Method); the others SMS answers from what it holds.
var ruledMethods = []string{"SyncReplicationGroup_Task", "QueryReplicationGroup", "QueryPointInTimeReplica"}

// knownFault reports whether the simulator can answer with fault kind k.
func knownFault(k FaultKind) bool {
	switch k {
	case FaultBusy, FaultOutOfResource, FaultUnavailable, FaultNotImplemented, FaultReplication,
		FaultInvalidArgument, FaultTooMany, FaultQueryExecution:
		return true
	}
	return false
}
