package smssim_test

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestSampleConfigShowsEveryKnob: the sample sets each adversarial knob, so none is undocumented.
func TestSampleConfigShowsEveryKnob(t *testing.T) {
	g := NewWithT(t)
	cfg, err := smssim.LoadConfig("../../hack/vasa-sim/sample.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Validate()).To(Succeed())
	a, c := cfg.Providers[0], cfg.Providers[2]
	g.Expect(a.MaxConcurrentTasks).To(Equal(4))
	g.Expect(a.TaskDurationDistribution).To(Equal(smssim.DistributionUniform))
	g.Expect(c.TaskDurationJitter.Duration).To(Equal(200 * time.Millisecond))
	g.Expect(c.LostResponses).To(Equal(&smssim.ResponseRule{Probability: 0.02}))
	g.Expect(c.LateResponses).To(Equal(&smssim.LateResponseRule{ResponseRule: smssim.ResponseRule{Times: 1}, Delay: smssim.Duration{Duration: 45 * time.Second}}))
	g.Expect(c.EmptyTaskRefs).To(Equal(&smssim.ResponseRule{Probability: 0.01}))
	var withoutPitName, pitQueryFaults bool
	for _, grp := range a.Groups {
		withoutPitName = withoutPitName || grp.SyncOngoingWithoutPitName
		pitQueryFaults = pitQueryFaults || len(grp.PiTQueryFaults) > 0
	}
	g.Expect(withoutPitName).To(BeTrue())
	g.Expect(pitQueryFaults).To(BeTrue())
}

// TestSampleConfigNamesEveryField: the sample, which docs/simulator.md presents as showing every knob,
// names each field of the configuration, of a provider, of a group and of their rules: set, commented
// out, or in a comment's example.
func TestSampleConfigNamesEveryField(t *testing.T) {
	g := NewWithT(t)
	sample, err := os.ReadFile("../../hack/vasa-sim/sample.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	for _, v := range []any{smssim.Config{}, smssim.ProviderConfig{}, smssim.GroupConfig{}, smssim.FaultRule{},
		smssim.ResponseRule{}, smssim.LateResponseRule{}, smssim.InactiveConfig{}, smssim.PiTConfig{}, smssim.ArrayScheduleConfig{}} {
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				continue // embedded
			}
			g.Expect(regexp.MustCompile(`\b`+name+`:`).Match(sample)).To(BeTrue(),
				"hack/vasa-sim/sample.yaml does not name %s.%s (%s)", typ.Name(), f.Name, name)
		}
	}
}

// TestValidateNamesTheField: bad knobs are rejected by Start with the field's name.
func TestValidateNamesTheField(t *testing.T) {
	cases := map[string]struct {
		yaml, field string
	}{
		"distribution":       {"providers: [{name: p, taskDurationDistribution: normal}]", "taskDurationDistribution"},
		"negative limit":     {"providers: [{name: p, maxConcurrentTasks: -1}]", "maxConcurrentTasks"},
		"lost probability":   {"providers: [{name: p, lostResponses: {probability: 2}}]", "lostResponses.probability"},
		"late times":         {"providers: [{name: p, lateResponses: {times: -1}}]", "lateResponses.times"},
		"empty probability":  {"providers: [{name: p, emptyTaskRefs: {probability: -0.5}}]", "emptyTaskRefs.probability"},
		"pit fault method":   {"providers: [{name: p, groups: [{faultDomain: f, deviceGroup: d, pitQueryFaults: [{method: X, fault: ProviderBusy}]}]}]", "groups[0].pitQueryFaults[0].method"},
		"unknown fault kind": {"providers: [{name: p, faults: [{fault: Boom}]}]", "faults[0].fault"},
		"method not ruled":   {"providers: [{name: p, faults: [{method: QuerySmsTaskInfo, fault: ProviderBusy}]}]", "faults[0].method"},
		"restart":            {"restartSMSAfterCalls: -2\nproviders: [{name: p}]", "restartSMSAfterCalls"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			cfg, err := smssim.ParseConfig([]byte(tc.yaml))
			g.Expect(err).NotTo(HaveOccurred())
			_, err = smssim.Start(cfg)
			g.Expect(err).To(MatchError(ContainSubstring(tc.field)))
		})
	}
}
