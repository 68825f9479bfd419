package v1alpha1_test

import "testing"

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
		"@daily":                           {set("@daily", "spec", "schedule")},
		"@every 1h30m":                     {set("@every 1h30m", "spec", "schedule")},
		"@every 1m":                        {set("@every 1m", "spec", "schedule")},
		"@every 59s1000ms, a minute":       {set("@every 59s1000ms", "spec", "schedule")},
		"steps, ranges and lists":          {set("*/15 1,13 1-7 * MON-FRI", "spec", "schedule")},
		"timeZone UTC":                     {set("UTC", "spec", "timeZone")},
		"timeZone America/Argentina/Salta": {set("America/Argentina/Salta", "spec", "timeZone")},
		"no timeZone":                      {unset("spec", "timeZone")},
		"startingDeadlineSeconds 10":       {set(int64(10), "spec", "startingDeadlineSeconds")},
		"history limits at bounds": {
			set(int64(0), "spec", "successfulHistoryLimit"),
			set(int64(100), "spec", "failedHistoryLimit"),
		},
		"1000 distinct template groupIds": {set(distinctGroups(1000), "spec", "template", "spec", "groupIds")},
	})
}
