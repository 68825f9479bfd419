package v1alpha1_test

import (
	"context"
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/cronschedule"
)

const (
	minuteMessage = "schedule: minute (1st field) must be 0-59"
	hourMessage   = "schedule: hour (2nd field) must be 0-23"
	domMessage    = "schedule: day of month (3rd field) must be 1-31"
	monthMessage  = "schedule: month (4th field) must be 1-12, JAN-DEC"
	dowMessage    = "schedule: day of week (5th field) must be 0-6"
)

func TestReplicationSyncScheduleRejectsBadInput(t *testing.T) {
	runRejected(t, validSchedule, map[string]rejected{
		"schedule not a cron": {
			mutations: []mutation{set("not a cron", "spec", "schedule")},
			field:     "spec.schedule", message: cronMessage,
		},
		"schedule @every under a minute": {
			mutations: []mutation{set("@every 59s", "spec", "schedule")},
			field:     "spec.schedule", message: "schedule @every must be at least 1m",
		},
		"schedule with 6 fields": {
			mutations: []mutation{set("0 0 2 * * *", "spec", "schedule")},
			field:     "spec.schedule", message: cronMessage,
		},
		"schedule with 4 fields": {
			mutations: []mutation{set("0 2 * *", "spec", "schedule")},
			field:     "spec.schedule", message: cronMessage,
		},
		"schedule of five words": {
			mutations: []mutation{set("x y z w v", "spec", "schedule")},
			field:     "spec.schedule", message: minuteMessage,
		},
		"schedule minute 61": {
			mutations: []mutation{set("61 * * * *", "spec", "schedule")},
			field:     "spec.schedule", message: minuteMessage,
		},
		"schedule minute step 0": {
			mutations: []mutation{set("*/0 * * * *", "spec", "schedule")},
			field:     "spec.schedule", message: minuteMessage,
		},
		"schedule hour 25": {
			mutations: []mutation{set("0 25 * * *", "spec", "schedule")},
			field:     "spec.schedule", message: hourMessage,
		},
		"schedule hour range to 24": {
			mutations: []mutation{set("0 20-24 * * *", "spec", "schedule")},
			field:     "spec.schedule", message: hourMessage,
		},
		"schedule day of month 0": {
			mutations: []mutation{set("0 2 0 * *", "spec", "schedule")},
			field:     "spec.schedule", message: domMessage,
		},
		"schedule day of month 32 in a list": {
			mutations: []mutation{set("0 2 1,32 * *", "spec", "schedule")},
			field:     "spec.schedule", message: domMessage,
		},
		"schedule month 13": {
			mutations: []mutation{set("0 2 * 13 *", "spec", "schedule")},
			field:     "spec.schedule", message: monthMessage,
		},
		"schedule month name unknown": {
			mutations: []mutation{set("0 2 * JANUARY *", "spec", "schedule")},
			field:     "spec.schedule", message: monthMessage,
		},
		"schedule day of week 8": {
			mutations: []mutation{set("0 2 * * 8", "spec", "schedule")},
			field:     "spec.schedule", message: dowMessage,
		},
		"schedule day of week 7, refused by the parser as by CronJob": {
			mutations: []mutation{set("0 2 * * 7", "spec", "schedule")},
			field:     "spec.schedule", message: dowMessage,
		},
		"schedule day of week as a month name": {
			mutations: []mutation{set("0 2 * * JAN", "spec", "schedule")},
			field:     "spec.schedule", message: dowMessage,
		},
		"schedule @fortnightly": {
			mutations: []mutation{set("@fortnightly", "spec", "schedule")},
			field:     "spec.schedule", message: cronMessage,
		},
		"schedule with TZ= prefix": {
			mutations: []mutation{set("TZ=Europe/Berlin 0 2 * * *", "spec", "schedule")},
			field:     "spec.schedule", message: tzInSchedule,
		},
		"schedule with CRON_TZ= prefix": {
			mutations: []mutation{set("CRON_TZ=Europe/Berlin 0 2 * * *", "spec", "schedule")},
			field:     "spec.schedule", message: tzInSchedule,
		},
		"schedule empty": {
			mutations: []mutation{set("", "spec", "schedule")},
			field:     "spec.schedule", message: minLength1,
		},
		"timeZone unknown": {
			mutations: []mutation{set("Mars/Olympus", "spec", "timeZone")},
			field:     "spec.timeZone", message: zoneMessage,
		},
		"timeZone Local": {
			mutations: []mutation{set("Local", "spec", "timeZone")},
			field:     "spec.timeZone", message: zoneMessage,
		},
		"timeZone localtime (the machine's zone)": {
			mutations: []mutation{set("localtime", "spec", "timeZone")},
			field:     "spec.timeZone", message: zoneMessage,
		},
		"timeZone of the posix tree": {
			mutations: []mutation{set("posix/Europe/Berlin", "spec", "timeZone")},
			field:     "spec.timeZone", message: zoneMessage,
		},
		"timeZone as an offset": {
			mutations: []mutation{set("+01:00", "spec", "timeZone")},
			field:     "spec.timeZone", message: zoneMessage,
		},
		"successfulHistoryLimit -1": {
			mutations: []mutation{set(int64(-1), "spec", "successfulHistoryLimit")},
			field:     "spec.successfulHistoryLimit", message: notNegative,
		},
		"successfulHistoryLimit 101": {
			mutations: []mutation{set(int64(101), "spec", "successfulHistoryLimit")},
			field:     "spec.successfulHistoryLimit", message: "should be less than or equal to 100",
		},
		"failedHistoryLimit -1": {
			mutations: []mutation{set(int64(-1), "spec", "failedHistoryLimit")},
			field:     "spec.failedHistoryLimit", message: notNegative,
		},
		"failedHistoryLimit 101": {
			mutations: []mutation{set(int64(101), "spec", "failedHistoryLimit")},
			field:     "spec.failedHistoryLimit", message: "should be less than or equal to 100",
		},
		"concurrencyPolicy Sometimes": {
			mutations: []mutation{set("Sometimes", "spec", "concurrencyPolicy")},
			field:     "spec.concurrencyPolicy", message: `supported values: "Forbid", "Allow", "Replace"`,
		},
		"startingDeadlineSeconds negative": {
			mutations: []mutation{set(int64(-1), "spec", "startingDeadlineSeconds")},
			field:     "spec.startingDeadlineSeconds", message: atLeastTen,
		},
		"startingDeadlineSeconds 0 would miss every run": {
			mutations: []mutation{set(int64(0), "spec", "startingDeadlineSeconds")},
			field:     "spec.startingDeadlineSeconds", message: atLeastTen,
		},
		"startingDeadlineSeconds above a year": {
			mutations: []mutation{set(int64(10_000_000_000), "spec", "startingDeadlineSeconds")},
			field:     "spec.startingDeadlineSeconds", message: "should be less than or equal to 31536000",
		},
		"template activeDeadlineSeconds above a year": {
			mutations: []mutation{set(int64(31536001), "spec", "template", "spec", "activeDeadlineSeconds")},
			field:     "spec.template.spec.activeDeadlineSeconds", message: "should be less than or equal to 31536000",
		},
		"startingDeadlineSeconds 9": {
			mutations: []mutation{set(int64(9), "spec", "startingDeadlineSeconds")},
			field:     "spec.startingDeadlineSeconds", message: atLeastTen,
		},
		"template missing": {
			mutations: []mutation{unset("spec", "template")},
			field:     "spec.template", message: required,
		},
		"template pitNameTemplate empty": {
			mutations: []mutation{set("", "spec", "template", "pitNameTemplate")},
			field:     "spec.template.pitNameTemplate", message: minLength1,
		},
		"template groupIds duplicates": {
			mutations: []mutation{set(groups([2]string{"fd-1", "dg-1"}, [2]string{"fd-1", "dg-1"}), "spec", "template", "spec", "groupIds")},
			field:     "spec.template.spec.groupIds", message: duplicates,
		},
		"template groupIds empty": {
			mutations: []mutation{set([]any{}, "spec", "template", "spec", "groupIds")},
			field:     "spec.template.spec.groupIds", message: minItems1,
		},
		"template groupIds blank id": {
			mutations: []mutation{set(groups([2]string{" ", "dg-1"}), "spec", "template", "spec", "groupIds")},
			field:     "spec.template.spec.groupIds[0].faultDomainId.id", message: blankID,
		},
		"template groupIds id with a trailing space": {
			mutations: []mutation{set(groups([2]string{"fd-1", "dg-1"}, [2]string{"fd-1 ", "dg-2"}), "spec", "template", "spec", "groupIds")},
			field:     "spec.template.spec.groupIds[1]", message: idChars,
		},
		"template groupIds whose ids exceed the character budget": {
			mutations: []mutation{set(longGroups(400, 255), "spec", "template", "spec", "groupIds")},
			field:     "spec.template.spec.groupIds", message: idBudget,
		},
		"template backoffLimit above 100": {
			mutations: []mutation{set(int64(101), "spec", "template", "spec", "backoffLimit")},
			field:     "spec.template.spec.backoffLimit", message: "should be less than or equal to 100",
		},
		"template providerRef.name with upper case": {
			mutations: []mutation{set("Array-A", "spec", "template", "spec", "providerRef", "name")},
			field:     "spec.template.spec.providerRef.name", message: objectNameRule,
		},
		"template providerRef missing": {
			mutations: []mutation{unset("spec", "template", "spec", "providerRef")},
			field:     "spec.template.spec.providerRef", message: required,
		},
	})
}

func TestReplicationSyncScheduleAcceptsGoodInput(t *testing.T) {
	runAccepted(t, validSchedule, map[string][]mutation{
		"@daily":                            {set("@daily", "spec", "schedule")},
		"@every 1h30m":                      {set("@every 1h30m", "spec", "schedule")},
		"@every 1m":                         {set("@every 1m", "spec", "schedule")},
		"@every 59s1000ms, a minute":        {set("@every 59s1000ms", "spec", "schedule")},
		"steps, ranges and lists":           {set("*/15 1,13 1-7 * MON-FRI", "spec", "schedule")},
		"names in any case, ? and steps":    {set("0-30/10 8-18/2 ? jan-MAR,Oct ?", "spec", "schedule")},
		"never fires, left to the operator": {set("0 2 31 2 *", "spec", "schedule")},
		"timeZone UTC":                      {set("UTC", "spec", "timeZone")},
		"timeZone America/Argentina/Salta":  {set("America/Argentina/Salta", "spec", "timeZone")},
		"no timeZone":                       {unset("spec", "timeZone")},
		"startingDeadlineSeconds 10":        {set(int64(10), "spec", "startingDeadlineSeconds")},
		"history limits at bounds": {
			set(int64(0), "spec", "successfulHistoryLimit"),
			set(int64(100), "spec", "failedHistoryLimit"),
		},
		"1000 distinct template groupIds": {set(distinctGroups(1000), "spec", "template", "spec", "groupIds")},
	})
}

// TestScheduleAdmissionAgreesWithParser holds admission to the controller's parser: what the parser
// accepts must pass admission, so that no schedule the operator can run is refused. Only what the parser
// finds out by evaluating (a date that never comes, a range that runs backwards) passes admission and
// stalls the schedule instead. robfig/cron skips empty list entries and ignores what follows "*-", so
// those pass admission too.
func TestScheduleAdmissionAgreesWithParser(t *testing.T) {
	ns := newNamespace(t)
	for i, tc := range []struct {
		schedule    string
		runTimeOnly bool // the parser refuses it; admission leaves it to the operator
	}{
		{schedule: "0 2 * * *"},
		{schedule: "59 23 31 12 6"},
		{schedule: "00 002 01 01 00"},
		{schedule: "*/15 1,13 1-7 * MON-FRI"},
		{schedule: "0 0-23/6 1-31/2 JAN-dec/3 sun-SAT/2"},
		{schedule: "? ? ? ? ?"},
		{schedule: "30/15 2 * * *"},
		{schedule: "0,,30 2 * * ,1"},
		{schedule: "*-5 2 * * *"},
		{schedule: "0  2   *  *  *"},
		{schedule: "@hourly"},
		{schedule: "@every 90m"},
		{schedule: "0 2 31 2 *", runTimeOnly: true},
		{schedule: "0 2 30 2 *", runTimeOnly: true},
		{schedule: "5-1 2 * * *", runTimeOnly: true},
		{schedule: "0 2 * * FRI-MON", runTimeOnly: true},
		{schedule: "60 2 * * *"},
		{schedule: "0 24 * * *"},
		{schedule: "0 2 32 * *"},
		{schedule: "0 2 * 0 *"},
		{schedule: "0 2 * * 7"},
		{schedule: "0 2 * * SUNDAY"},
		{schedule: "0 2 * FEB-13 *"},
		{schedule: "0 2/0 * * *"},
		{schedule: "0 2 * * 1/2/3"},
		{schedule: "0 2-3-4 * * *"},
		{schedule: "0 -2 * * *"},
		{schedule: "0 2- * * *"},
		{schedule: "0 /2 * * *"},
	} {
		t.Run(tc.schedule, func(t *testing.T) {
			g := NewWithT(t)
			_, parseErr := cronschedule.Parse(tc.schedule, "")
			obj := validSchedule(ns, fmt.Sprintf("agree-%d", i), set(tc.schedule, "spec", "schedule"))
			err := k8sClient.Create(context.Background(), obj, client.DryRunAll)
			switch {
			case parseErr == nil:
				g.Expect(tc.runTimeOnly).To(BeFalse(), "the parser accepts it")
				g.Expect(err).NotTo(HaveOccurred(), "admission refuses what the parser accepts")
			case tc.runTimeOnly:
				g.Expect(err).NotTo(HaveOccurred(), "admission refuses what only the operator can find out (parser: %v)", parseErr)
			default:
				expectRejected(g, err, "spec.schedule", "schedule")
			}
		})
	}
}
