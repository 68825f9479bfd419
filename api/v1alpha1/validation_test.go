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
	idChars        = "fault domain and device group ids must not start or end with white space or contain control characters such as line breaks or tabs"
	pitChars       = "pitName must not start or end with white space or contain control characters such as line breaks or tabs"
	idBudget       = "groupIds: the fault domain and device group ids together must not exceed 160000 characters"
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
			mutations: []mutation{set(longGroups(1000, replicationv1alpha1.MaxGroupIDChars/2000+1), "spec", "groupIds")},
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
		"1000 groupIds using the whole character budget": {set(longGroups(1000, replicationv1alpha1.MaxGroupIDChars/2000), "spec", "groupIds")},
		"300 groupIds with ids of 255 characters":        {set(longGroups(300, 255), "spec", "groupIds")},
		// A rule that joined the ids with a separator would see "a/b"+"c" == "a"+"b/c".
		"ids that only collide when joined":         {set(groups([2]string{"a/b", "c"}, [2]string{"a", "b/c"}, [2]string{"a-b", "c"}, [2]string{"a", "b-c"}), "spec", "groupIds")},
		"same device group id in two fault domains": {set(groups([2]string{"fd-1", "dg-1"}, [2]string{"fd-2", "dg-1"}), "spec", "groupIds")},
		"a single group":                            {set(groups([2]string{"fd-1", "dg-1"}), "spec", "groupIds")},
		"pitName of 255 characters":                 {set(strings.Repeat("p", 255), "spec", "pitName")},
		"pitName with inner spaces and non-ASCII":   {set("nächtlich 2026-11-23 02:00", "spec", "pitName")},
		"ids with inner spaces and non-ASCII":       {set(groups([2]string{"fd 1", "Oracle Prüfung"}), "spec", "groupIds")},
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

func TestVasaProviderRejectsBadInput(t *testing.T) {
	const thumbprint = "SHA256:0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1:F0:0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1:F0"
	caBundle := map[string]any{"name": "vcenter-ca"}
	const oneTLS = "vcenter.tls: set at most one of caBundleSecretRef, thumbprint and insecureSkipVerify"
	const oneProvider = "provider: set exactly one of provider.name and provider.uid"
	const (
		thumbprintFormat = "vcenter.tls.thumbprint must be the certificate's SHA-256 fingerprint: SHA256: and 32 colon-separated hex bytes"
		urlHost          = "vcenter.url must name the vCenter's host"
		urlPort          = "vcenter.url: the port must be between 1 and 65535"
		urlAddress       = "vcenter.url must be the vCenter's address, https://host or https://host:port, without a path (other than /sdk), query or fragment"
	)
	runRejected(t, validProvider, map[string]rejected{
		"vcenter.url http": {
			mutations: []mutation{set("http://vcenter.example.com", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: "vcenter.url must start with https://",
		},
		"vcenter.url without scheme": {
			mutations: []mutation{set("vcenter.example.com", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: "vcenter.url must start with https://",
		},
		"vcenter.url not a URL": {
			mutations: []mutation{set("https://vcenter example com/sdk", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: "vcenter.url must be a valid URL",
		},
		// The operator keeps only the scheme and host of the URL: a path, query or fragment would be
		// dropped without a word, and a URL without a host or with port 0 could only ever be Unreachable.
		"vcenter.url without a host": {
			mutations: []mutation{set("https://:443", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlHost,
		},
		"vcenter.url with an empty authority": {
			mutations: []mutation{set("https:///sdk", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlHost,
		},
		"vcenter.url with port 0": {
			mutations: []mutation{set("https://vcenter.example.com:0", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlPort,
		},
		"vcenter.url with port 99999": {
			mutations: []mutation{set("https://vcenter.example.com:99999", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlPort,
		},
		"vcenter.url with the UI path": {
			mutations: []mutation{set("https://vcenter.example.com/ui", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlAddress,
		},
		"vcenter.url behind a path prefix": {
			mutations: []mutation{set("https://proxy.example.com/vcenter-1/sdk", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlAddress,
		},
		"vcenter.url with a query": {
			mutations: []mutation{set("https://vcenter.example.com/sdk?verify=0", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlAddress,
		},
		"vcenter.url missing": {
			mutations: []mutation{unset("spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: required,
		},
		"credentialsSecretRef missing": {
			mutations: []mutation{unset("spec", "vcenter", "credentialsSecretRef")},
			field:     "spec.vcenter.credentialsSecretRef", message: required,
		},
		"credentialsSecretRef.name empty": {
			mutations: []mutation{set("", "spec", "vcenter", "credentialsSecretRef", "name")},
			field:     "spec.vcenter.credentialsSecretRef.name", message: minLength1,
		},
		"credentialsSecretRef.name with a space": {
			mutations: []mutation{set("vcenter credentials", "spec", "vcenter", "credentialsSecretRef", "name")},
			field:     "spec.vcenter.credentialsSecretRef.name", message: objectNameRule,
		},
		"caBundleSecretRef.name ending in a dot": {
			mutations: []mutation{set(map[string]any{"caBundleSecretRef": map[string]any{"name": "vcenter-ca."}}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.caBundleSecretRef.name", message: objectNameRule,
		},
		"caBundleSecretRef.key with a slash": {
			mutations: []mutation{set(map[string]any{"caBundleSecretRef": map[string]any{"name": "vcenter-ca", "key": "certs/ca.crt"}}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.caBundleSecretRef.key", message: "key must be a Secret key: letters, digits, '-', '_' and '.'",
		},
		"tls caBundleSecretRef and thumbprint": {
			mutations: []mutation{set(map[string]any{"caBundleSecretRef": caBundle, "thumbprint": thumbprint}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls", message: oneTLS,
		},
		"tls thumbprint and insecureSkipVerify": {
			mutations: []mutation{set(map[string]any{"thumbprint": thumbprint, "insecureSkipVerify": true}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls", message: oneTLS,
		},
		"tls caBundleSecretRef and insecureSkipVerify": {
			mutations: []mutation{set(map[string]any{"caBundleSecretRef": caBundle, "insecureSkipVerify": true}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls", message: oneTLS,
		},
		"tls all three": {
			mutations: []mutation{set(map[string]any{"caBundleSecretRef": caBundle, "thumbprint": thumbprint, "insecureSkipVerify": true}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls", message: oneTLS,
		},
		"tls thumbprint SHA-1": {
			mutations: []mutation{set(map[string]any{"thumbprint": "SHA1:0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1:F0:0F:1E:2D:3C"}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.thumbprint", message: thumbprintFormat,
		},
		"tls thumbprint too short": {
			mutations: []mutation{set(map[string]any{"thumbprint": "SHA256:0F:1E:2D"}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.thumbprint", message: thumbprintFormat,
		},
		"tls thumbprint pasted from openssl with its label": {
			mutations: []mutation{set(map[string]any{"thumbprint": "sha256 Fingerprint=" + thumbprint[len("SHA256:"):]}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.thumbprint", message: thumbprintFormat,
		},
		"tls thumbprint without the SHA256: prefix": {
			mutations: []mutation{set(map[string]any{"thumbprint": thumbprint[len("SHA256:"):]}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.thumbprint", message: thumbprintFormat,
		},
		"provider name and uid": {
			mutations: []mutation{set(map[string]any{"name": "array-a-vp", "uid": "3e2a5c7e-1111-4a5b-9c0d-000000000001"}, "spec", "provider")},
			field:     "spec.provider", message: oneProvider,
		},
		"provider neither name nor uid": {
			mutations: []mutation{set(map[string]any{}, "spec", "provider")},
			field:     "spec.provider", message: oneProvider,
		},
		"provider missing": {
			mutations: []mutation{unset("spec", "provider")},
			field:     "spec.provider", message: required,
		},
		"binding XML": {
			mutations: []mutation{set("XML", "spec", "binding")},
			field:     "spec.binding", message: `supported values: "SOAP", "JSON"`,
		},
		"binding lower case": {
			mutations: []mutation{set("soap", "spec", "binding")},
			field:     "spec.binding", message: `supported values: "SOAP", "JSON"`,
		},
		"maxConcurrentTasks zero": {
			mutations: []mutation{set(int64(0), "spec", "maxConcurrentTasks")},
			field:     "spec.maxConcurrentTasks", message: atLeastOne,
		},
		"maxConcurrentTasks above 64": {
			mutations: []mutation{set(int64(65), "spec", "maxConcurrentTasks")},
			field:     "spec.maxConcurrentTasks", message: "should be less than or equal to 64",
		},
		"maxBatchSize negative": {
			mutations: []mutation{set(int64(-1), "spec", "maxBatchSize")},
			field:     "spec.maxBatchSize", message: notNegative,
		},
	})
}

func TestVasaProviderAcceptsGoodInput(t *testing.T) {
	runAccepted(t, validProvider, map[string][]mutation{
		"provider by uid":        {set(map[string]any{"uid": "3e2a5c7e-1111-4a5b-9c0d-000000000001"}, "spec", "provider")},
		"url with port and path": {set("https://vcenter.example.com:8443/sdk", "spec", "vcenter", "url")},
		"url with /sdk/":         {set("https://vcenter.example.com/sdk/", "spec", "vcenter", "url")},
		"url with a slash":       {set("https://vcenter.example.com/", "spec", "vcenter", "url")},
		"url with an IPv6 host":  {set("https://[fd00::10]:443", "spec", "vcenter", "url")},
		"url with port 65535":    {set("https://10.0.0.10:65535", "spec", "vcenter", "url")},
		"caBundleSecretRef only": {set(map[string]any{"caBundleSecretRef": map[string]any{"name": "vcenter-ca", "key": "bundle.pem"}}, "spec", "vcenter", "tls")},
		"thumbprint with insecureSkipVerify false": {set(map[string]any{
			"thumbprint":         "SHA256:0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0:0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0",
			"insecureSkipVerify": false,
		}, "spec", "vcenter", "tls")},
		"insecureSkipVerify alone": {set(map[string]any{"insecureSkipVerify": true}, "spec", "vcenter", "tls")},
		"JSON binding":             {set("JSON", "spec", "binding")},
		"Secret names with dots":   {set("vcenter.credentials.v2", "spec", "vcenter", "credentialsSecretRef", "name")},
	})
}

func TestReplicationSyncScheduleRejectsBadInput(t *testing.T) {
	runRejected(t, validSchedule, map[string]rejected{
		"schedule not a cron": {
			mutations: []mutation{set("not a cron", "spec", "schedule")},
			field:     "spec.schedule", message: cronMessage,
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
