package v1alpha1_test

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	replicationv1alpha1 "github.com/vasa-sync-operator/vasa-sync-operator/api/v1alpha1"
)

// The admission tests build objects as unstructured maps so that they can send what the typed
// structs cannot: missing required fields, blanks, wrong enums, out-of-range numbers.

// mutation changes an object before it is sent.
type mutation func(obj map[string]any)

// set sets the field at path to value (a JSON-compatible value: string, int64, bool, []any, map[string]any).
func set(value any, path ...string) mutation {
	return func(obj map[string]any) {
		if err := unstructured.SetNestedField(obj, runtime.DeepCopyJSONValue(value), path...); err != nil {
			panic(fmt.Sprintf("setting %s: %v", strings.Join(path, "."), err))
		}
	}
}

// unset removes the field at path.
func unset(path ...string) mutation {
	return func(obj map[string]any) { unstructured.RemoveNestedField(obj, path...) }
}

// group is one groupIds entry.
func group(faultDomain, deviceGroup string) map[string]any {
	return map[string]any{
		"faultDomainId": map[string]any{"id": faultDomain},
		"deviceGroupId": map[string]any{"id": deviceGroup},
	}
}

// groups is a groupIds list from fault domain / device group pairs.
func groups(pairs ...[2]string) []any {
	list := make([]any, 0, len(pairs))
	for _, p := range pairs {
		list = append(list, group(p[0], p[1]))
	}
	return list
}

// distinctGroups is a groupIds list of n distinct entries spread over a few fault domains.
func distinctGroups(n int) []any {
	list := make([]any, 0, n)
	for i := range n {
		list = append(list, group(fmt.Sprintf("fd-%d", i%4), fmt.Sprintf("dg-%04d", i)))
	}
	return list
}

// longGroups is a groupIds list of n distinct entries whose ids are each idLen characters long.
func longGroups(n, idLen int) []any { return longGroupsOf(n, idLen, "x") }

// longGroupsOf is longGroups with ids of idLen characters padded with fill (one character).
func longGroupsOf(n, idLen int, fill string) []any {
	pad := func(s string) string { return s + strings.Repeat(fill, idLen-len(s)) }
	list := make([]any, 0, n)
	for i := range n {
		list = append(list, group(pad(fmt.Sprintf("fd-%d-", i%4)), pad(fmt.Sprintf("dg-%04d-", i))))
	}
	return list
}

// newObject is an unstructured object of kind in the replication API.
func newObject(kind, namespace, name string, spec map[string]any, mutations ...mutation) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": replicationv1alpha1.GroupVersion.String(),
		"kind":       kind,
		"metadata":   map[string]any{"namespace": namespace, "name": name},
		"spec":       runtime.DeepCopyJSONValue(spec),
	}}
	for _, m := range mutations {
		m(u.Object)
	}
	return u
}

// syncSpec is a valid ReplicationSync spec.
func syncSpec() map[string]any {
	return map[string]any{
		"providerRef": map[string]any{"name": "array-a"},
		"groupIds":    groups([2]string{"fd-1", "dg-1"}, [2]string{"fd-1", "dg-2"}),
		"pitName":     "nightly-2026-11-23",
	}
}

// validSync is a valid ReplicationSync with the mutations applied.
func validSync(namespace, name string, mutations ...mutation) *unstructured.Unstructured {
	return newObject("ReplicationSync", namespace, name, syncSpec(), mutations...)
}

// validProvider is a valid VasaProvider with the mutations applied.
func validProvider(namespace, name string, mutations ...mutation) *unstructured.Unstructured {
	return newObject("VasaProvider", namespace, name, map[string]any{
		"vcenter": map[string]any{
			"url":                  "https://vcenter.example.com",
			"credentialsSecretRef": map[string]any{"name": "vcenter-credentials"},
		},
		"provider": map[string]any{"name": "array-a-vp"},
	}, mutations...)
}

// validSchedule is a valid ReplicationSyncSchedule with the mutations applied.
func validSchedule(namespace, name string, mutations ...mutation) *unstructured.Unstructured {
	return newObject("ReplicationSyncSchedule", namespace, name, map[string]any{
		"schedule": "0 2 * * *",
		"timeZone": "Europe/Berlin",
		"template": map[string]any{
			"spec": map[string]any{
				"providerRef": map[string]any{"name": "array-a"},
				"groupIds":    groups([2]string{"fd-1", "dg-1"}, [2]string{"fd-1", "dg-2"}),
			},
		},
	}, mutations...)
}

// objectName turns a test case name into an object name.
func objectName(caseName string) string {
	name := strings.Trim(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(caseName)), "-")
	if len(name) > 60 {
		name = strings.Trim(name[:60], "-")
	}
	return name
}

// keyOf is the object's namespace and name.
func keyOf(obj *unstructured.Unstructured) client.ObjectKey {
	return client.ObjectKeyFromObject(obj)
}
