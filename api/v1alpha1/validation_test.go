package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// rejected is one bad input: the mutations that break a valid object, and what the API server
// must say about it.
type rejected struct {
	mutations []mutation
	// field is the path the error must name, e.g. "spec.groupIds".
	field string
	// message is the rule's message (or the OpenAPI check's wording) the error must contain.
	message string
}

// expectRejected asserts that err is an Invalid error naming field with message.
func expectRejected(g Gomega, err error, field, message string) {
	g.ExpectWithOffset(1, err).To(HaveOccurred(), "the API server accepted the object")
	g.ExpectWithOffset(1, apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
	g.ExpectWithOffset(1, err.Error()).To(And(ContainSubstring(field), ContainSubstring(message)))
}

// runRejected creates one object per case and expects each to be rejected.
func runRejected(t *testing.T, build func(namespace, name string, mutations ...mutation) *unstructured.Unstructured, tests map[string]rejected) {
	t.Helper()
	ns := newNamespace(t)
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			obj := build(ns, objectName(name), tt.mutations...)
			err := k8sClient.Create(context.Background(), obj)
			t.Logf("API server said: %v", err)
			expectRejected(g, err, tt.field, tt.message)
		})
	}
}

// runAccepted creates one object per case and expects each to be accepted.
func runAccepted(t *testing.T, build func(namespace, name string, mutations ...mutation) *unstructured.Unstructured, tests map[string][]mutation) {
	t.Helper()
	ns := newNamespace(t)
	for name, mutations := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			obj := build(ns, objectName(name), mutations...)
			g.Expect(k8sClient.Create(context.Background(), obj)).To(Succeed())
		})
	}
}

const (
	minItems1      = "should have at least 1 items"
	minLength1     = "should be at least 1 chars long"
	notNegative    = "should be greater than or equal to 0"
	atLeastOne     = "should be greater than or equal to 1"
	atLeastTen     = "should be greater than or equal to 10"
	required       = "Required value"
	duplicates     = "groupIds must not contain duplicates"
	blankID        = "id must not be blank"
	cronMessage    = "schedule must be a 5-field cron expression"
	zoneMessage    = "timeZone must be an IANA time zone name such as Europe/Berlin"
	tzInSchedule   = "schedule must not contain TZ= or CRON_TZ=: set the zone in spec.timeZone"
	immutableFmt   = " is immutable: create a new ReplicationSync instead"
	idChars        = "fault domain and device group ids must not start or end with white space or contain control characters such as line breaks or tabs, or U+FFFE or U+FFFF"
	pitChars       = "pitName must not start or end with white space or contain control characters such as line breaks or tabs, or U+FFFE or U+FFFF"
	idBudget       = "groupIds: the fault domain and device group ids together must not exceed 160000 bytes (UTF-8)"
	objectNameRule = "name must be an object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
)

func TestReplicationSyncRejectsBadInput(t *testing.T) {
	runRejected(t, validSync, map[string]rejected{
		"groupIds missing": {
			mutations: []mutation{unset("spec", "groupIds")},
			field:     "spec", message: "set exactly one of spec.groupIds and spec.groupSelector",
		},
		"groupIds empty": {
			mutations: []mutation{set([]any{}, "spec", "groupIds")},
			field:     "spec.groupIds", message: minItems1,
		},
		"groupIds with 1001 entries": {
			mutations: []mutation{set(distinctGroups(1001), "spec", "groupIds")},
			field:     "spec.groupIds", message: "must have at most 1000 items",
		},
		// Every id is stored twice (spec and status): beyond this the run's status outgrows one object.
		"groupIds whose ids exceed the character budget": {
			mutations: []mutation{set(longGroups(1000, replicationv1alpha1.MaxGroupIDBytes/2000+1), "spec", "groupIds")},
			field:     "spec.groupIds", message: idBudget,
		},
		"groupIds with a duplicate": {
			mutations: []mutation{set(groups([2]string{"fd-1", "dg-1"}, [2]string{"fd-2", "dg-1"}, [2]string{"fd-1", "dg-1"}), "spec", "groupIds")},
			field:     "spec.groupIds", message: duplicates,
		},
		"groupIds with 1000 entries, last a duplicate of the first": {
			mutations: []mutation{set(append(distinctGroups(999), group("fd-0", "dg-0000")), "spec", "groupIds")},
			field:     "spec.groupIds", message: duplicates,
		},
		"faultDomainId.id empty": {
			mutations: []mutation{set(groups([2]string{"", "dg-1"}), "spec", "groupIds")},
			field:     "spec.groupIds[0].faultDomainId.id", message: minLength1,
		},
		"faultDomainId.id blank": {
			mutations: []mutation{set(groups([2]string{"fd-1", "dg-1"}, [2]string{"   ", "dg-2"}), "spec", "groupIds")},
			field:     "spec.groupIds[1].faultDomainId.id", message: blankID,
		},
		"faultDomainId missing": {
			mutations: []mutation{set([]any{map[string]any{"deviceGroupId": map[string]any{"id": "dg-1"}}}, "spec", "groupIds")},
			field:     "spec.groupIds[0].faultDomainId", message: required,
		},
		"deviceGroupId.id empty": {
			mutations: []mutation{set(groups([2]string{"fd-1", ""}), "spec", "groupIds")},
			field:     "spec.groupIds[0].deviceGroupId.id", message: minLength1,
		},
		"deviceGroupId.id blank": {
			mutations: []mutation{set(groups([2]string{"fd-1", "\t "}), "spec", "groupIds")},
			field:     "spec.groupIds[0].deviceGroupId.id", message: blankID,
		},
		"deviceGroupId missing": {
			mutations: []mutation{set([]any{map[string]any{"faultDomainId": map[string]any{"id": "fd-1"}}}, "spec", "groupIds")},
			field:     "spec.groupIds[0].deviceGroupId", message: required,
		},
		"deviceGroupId.id longer than 255 characters": {
			mutations: []mutation{set(groups([2]string{"fd-1", strings.Repeat("d", 256)}), "spec", "groupIds")},
			field:     "spec.groupIds[0].deviceGroupId.id", message: "may not be more than 255",
		},
		// The SOAP binding cannot carry control characters: the provider would sync under another id or
		// PiT name, and the PiT lookup that makes a run exactly-once would never find it.
		"deviceGroupId.id with a trailing space": {
			mutations: []mutation{set(groups([2]string{"fd-1", "dg-1"}, [2]string{"fd-1", "dg-2 "}), "spec", "groupIds")},
			field:     "spec.groupIds[1]", message: idChars,
		},
		"faultDomainId.id with a leading tab": {
			mutations: []mutation{set(groups([2]string{"\tfd-1", "dg-1"}), "spec", "groupIds")},
			field:     "spec.groupIds[0]", message: idChars,
		},
		"deviceGroupId.id with a NUL": {
			mutations: []mutation{set(groups([2]string{"fd-1", "dg\x001"}), "spec", "groupIds")},
			field:     "spec.groupIds[0]", message: idChars,
		},
		"faultDomainId.id with a C1 control character": {
			mutations: []mutation{set(groups([2]string{"fd-1", "dg-1"}, [2]string{"fd-1", "dg-2"}, [2]string{"fd\u00851", "dg-3"}), "spec", "groupIds")},
			field:     "spec.groupIds[2]", message: idChars,
		},
		"pitName with a trailing line break": {
			mutations: []mutation{set("nightly-2026-11-23\n", "spec", "pitName")},
			field:     "spec.pitName", message: pitChars,
		},
		"pitName with a leading space": {
			mutations: []mutation{set(" nightly-2026-11-23", "spec", "pitName")},
			field:     "spec.pitName", message: pitChars,
		},
		"pitName with a bell character": {
			mutations: []mutation{set("nightly\a2026", "spec", "pitName")},
			field:     "spec.pitName", message: pitChars,
		},
		// Not control characters, but no XML characters either: the SOAP encoder would send U+FFFD.
		"pitName with U+FFFF": {
			mutations: []mutation{set("nightly\uffff2026", "spec", "pitName")},
			field:     "spec.pitName", message: pitChars,
		},
		"deviceGroupId.id with U+FFFE": {
			mutations: []mutation{set(groups([2]string{"fd-1", "dg\ufffe1"}), "spec", "groupIds")},
			field:     "spec.groupIds[0]", message: idChars,
		},
		"pitName missing": {
			mutations: []mutation{unset("spec", "pitName")},
			field:     "spec.pitName", message: required,
		},
		"pitName empty": {
			mutations: []mutation{set("", "spec", "pitName")},
			field:     "spec.pitName", message: minLength1,
		},
		"pitName blank": {
			mutations: []mutation{set("   ", "spec", "pitName")},
			field:     "spec.pitName", message: "pitName must not be blank",
		},
		"pitName longer than 255 characters": {
			mutations: []mutation{set(strings.Repeat("p", 256), "spec", "pitName")},
			field:     "spec.pitName", message: "may not be more than 255",
		},
		// 85 characters of 3 bytes each: a 1000-group run would repeat them past etcd's object limit.
		"pitName longer than 255 bytes": {
			mutations: []mutation{set(strings.Repeat("日", 86), "spec", "pitName")},
			field:     "spec.pitName", message: "pitName must not exceed 255 bytes in UTF-8",
		},
		// 80 characters per id, within the old character budget, but two bytes each.
		"groupIds whose ids exceed the byte budget in characters of two bytes": {
			mutations: []mutation{set(longGroupsOf(1000, replicationv1alpha1.MaxGroupIDBytes/2000, "é"), "spec", "groupIds")},
			field:     "spec.groupIds", message: idBudget,
		},
		"providerRef missing": {
			mutations: []mutation{unset("spec", "providerRef")},
			field:     "spec.providerRef", message: required,
		},
		"providerRef.name empty": {
			mutations: []mutation{set("", "spec", "providerRef", "name")},
			field:     "spec.providerRef.name", message: minLength1,
		},
		// No VasaProvider can have such a name: the run would wait for one until it stalled.
		"providerRef.name with upper case": {
			mutations: []mutation{set("Array-A", "spec", "providerRef", "name")},
			field:     "spec.providerRef.name", message: objectNameRule,
		},
		"providerRef.name with an underscore": {
			mutations: []mutation{set("array_a", "spec", "providerRef", "name")},
			field:     "spec.providerRef.name", message: objectNameRule,
		},
		"backoffLimit negative": {
			mutations: []mutation{set(int64(-1), "spec", "backoffLimit")},
			field:     "spec.backoffLimit", message: notNegative,
		},
		"backoffLimit above 100": {
			mutations: []mutation{set(int64(101), "spec", "backoffLimit")},
			field:     "spec.backoffLimit", message: "should be less than or equal to 100",
		},
		"activeDeadlineSeconds zero": {
			mutations: []mutation{set(int64(0), "spec", "activeDeadlineSeconds")},
			field:     "spec.activeDeadlineSeconds", message: atLeastOne,
		},
		// Beyond about 292 years the seconds overflow a duration and the deadline would lie in the past.
		"activeDeadlineSeconds above a year": {
			mutations: []mutation{set(int64(31536001), "spec", "activeDeadlineSeconds")},
			field:     "spec.activeDeadlineSeconds", message: "should be less than or equal to 31536000",
		},
		"ttlSecondsAfterFinished negative": {
			mutations: []mutation{set(int64(-1), "spec", "ttlSecondsAfterFinished")},
			field:     "spec.ttlSecondsAfterFinished", message: notNegative,
		},
		"maxBatchSize negative": {
			mutations: []mutation{set(int64(-1), "spec", "maxBatchSize")},
			field:     "spec.maxBatchSize", message: notNegative,
		},
		"maxBatchSize above 1000": {
			mutations: []mutation{set(int64(1001), "spec", "maxBatchSize")},
			field:     "spec.maxBatchSize", message: "should be less than or equal to 1000",
		},
	})
}

func TestReplicationSyncAcceptsGoodInput(t *testing.T) {
	runAccepted(t, validSync, map[string][]mutation{
		"1000 distinct groupIds":                         {set(distinctGroups(1000), "spec", "groupIds")},
		"1000 groupIds using the whole character budget": {set(longGroups(1000, replicationv1alpha1.MaxGroupIDBytes/2000), "spec", "groupIds")},
		"300 groupIds with ids of 255 characters":        {set(longGroups(300, 255), "spec", "groupIds")},
		// A rule that joined the ids with a separator would see "a/b"+"c" == "a"+"b/c".
		"ids that only collide when joined":         {set(groups([2]string{"a/b", "c"}, [2]string{"a", "b/c"}, [2]string{"a-b", "c"}, [2]string{"a", "b-c"}), "spec", "groupIds")},
		"same device group id in two fault domains": {set(groups([2]string{"fd-1", "dg-1"}, [2]string{"fd-2", "dg-1"}), "spec", "groupIds")},
		"a single group":                            {set(groups([2]string{"fd-1", "dg-1"}), "spec", "groupIds")},
		"pitName of 255 characters":                 {set(strings.Repeat("p", 255), "spec", "pitName")},
		"pitName with inner spaces and non-ASCII":   {set("nächtlich 2026-11-23 02:00", "spec", "pitName")},
		"ids with inner spaces and non-ASCII":       {set(groups([2]string{"fd 1", "Oracle Prüfung"}), "spec", "groupIds")},
		"pitName with U+FFFD and beyond U+FFFF":     {set("nightly\ufffd\U0001F4BE", "spec", "pitName")},
		"all optional fields at their bounds": {
			set(int64(0), "spec", "backoffLimit"),
			set(int64(1), "spec", "activeDeadlineSeconds"),
			set(int64(0), "spec", "ttlSecondsAfterFinished"),
			set(int64(1000), "spec", "maxBatchSize"),
		},
		"backoffLimit 100":                {set(int64(100), "spec", "backoffLimit")},
		"activeDeadlineSeconds of a year": {set(int64(31536000), "spec", "activeDeadlineSeconds")},
	})
}

func TestReplicationSyncIsImmutable(t *testing.T) {
	ns := newNamespace(t)
	tests := map[string]struct {
		mutate  mutation
		field   string
		message string
	}{
		"groupIds changed": {
			mutate: set(groups([2]string{"fd-1", "dg-1"}, [2]string{"fd-1", "dg-3"}), "spec", "groupIds"),
			field:  "spec.groupIds", message: "groupIds" + immutableFmt,
		},
		"groupIds reordered": {
			mutate: set(groups([2]string{"fd-1", "dg-2"}, [2]string{"fd-1", "dg-1"}), "spec", "groupIds"),
			field:  "spec.groupIds", message: "groupIds" + immutableFmt,
		},
		"pitName changed": {
			mutate: set("nightly-2026-11-24", "spec", "pitName"),
			field:  "spec.pitName", message: "pitName" + immutableFmt,
		},
		"providerRef changed": {
			mutate: set("array-b", "spec", "providerRef", "name"),
			field:  "spec.providerRef", message: "providerRef" + immutableFmt,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ctx := context.Background()
			obj := validSync(ns, objectName(name))
			g.Expect(k8sClient.Create(ctx, obj)).To(Succeed())

			tt.mutate(obj.Object)
			expectRejected(g, k8sClient.Update(ctx, obj), tt.field, tt.message)
		})
	}

	t.Run("mutable fields and status may change", func(t *testing.T) {
		g := NewWithT(t)
		ctx := context.Background()
		obj := validSync(ns, "mutable", set(distinctGroups(1000), "spec", "groupIds"))
		g.Expect(k8sClient.Create(ctx, obj)).To(Succeed())

		for _, m := range []mutation{
			set(int64(300), "spec", "ttlSecondsAfterFinished"),
			set(int64(3), "spec", "backoffLimit"),
			set(int64(7200), "spec", "activeDeadlineSeconds"),
			set(int64(8), "spec", "maxBatchSize"),
			set(map[string]any{"team": "storage"}, "metadata", "labels"),
		} {
			m(obj.Object)
		}
		g.Expect(k8sClient.Update(ctx, obj)).To(Succeed())

		set(map[string]any{
			"phase":              "Running",
			"syncedDisplay":      "0/1000",
			"batchSize":          int64(16),
			"summary":            map[string]any{"total": int64(1000), "synced": int64(0), "failed": int64(0), "pending": int64(1000)},
			"startTime":          "2026-11-23T02:00:00Z",
			"observedGeneration": int64(2),
		}, "status")(obj.Object)
		g.Expect(k8sClient.Status().Update(ctx, obj)).To(Succeed())

		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(obj.GroupVersionKind())
		g.Expect(k8sClient.Get(ctx, keyOf(obj), got)).To(Succeed())
		g.Expect(got.Object).To(HaveKeyWithValue("status", HaveKeyWithValue("phase", "Running")))
		g.Expect(got.Object).To(HaveKeyWithValue("spec", HaveKeyWithValue("ttlSecondsAfterFinished", BeNumerically("==", 300))))
	})
}
