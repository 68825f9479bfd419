package faultfields_test

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/faultfields"
)

// mark wraps a fault object as {"wrapped":...}; anything else is left as it is.
func mark(v json.RawMessage) (json.RawMessage, bool) {
	if faultfields.FirstByte(v) != '{' {
		return v, false
	}
	return append(append([]byte(`{"wrapped":`), v...), '}'), true
}

func TestRewrite(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"a task's error": {
			`{"state":"error","error":{"_typeName":"TooMany"}}`,
			`{"state":"error","error":{"wrapped":{"_typeName":"TooMany"}}}`,
		},
		"each fault of a list, in results nested in a list": {
			`[{"groupId":{"id":"a"},"error":[{"_typeName":"A"}, {"_typeName":"B"}],"warning":[]},{"result":{"_value":[{"warning":[{"_typeName":"C"}]}]}}]`,
			`[{"groupId":{"id":"a"},"error":[{"wrapped":{"_typeName":"A"}},{"wrapped":{"_typeName":"B"}}],"warning":[]},{"result":{"_value":[{"warning":[{"wrapped":{"_typeName":"C"}}]}]}}]`,
		},
		"not inside a fault": {
			`{"error":{"_typeName":"A","faultCause":{"error":{"_typeName":"B"}}}}`,
			`{"error":{"wrapped":{"_typeName":"A","faultCause":{"error":{"_typeName":"B"}}}}}`,
		},
		"a name as a value or in a string is no field": {
			`{"a":"error","b":["error",{"x":"\"error\":{}"}],"c":1e999}`,
			`{"a":"error","b":["error",{"x":"\"error\":{}"}],"c":1e999}`,
		},
		"a field of a name that holds no fault": {
			`{"error":"text","warnings":[1,"x"],"statusFault":null}`,
			`{"error":"text","warnings":[1,"x"],"statusFault":null}`,
		},
		"white space kept around the rest": {
			"{ \"k\" : [ 1 , 2 ] ,\n \"error\" :\t{\"_typeName\":\"A\"} }",
			"{ \"k\" : [ 1 , 2 ] ,\n \"error\" :\t{\"wrapped\":{\"_typeName\":\"A\"}} }",
		},
		"not JSON": {`{"error":{"_typeName":"A"}`, `{"error":{"_typeName":"A"}`},
	} {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(string(faultfields.Rewrite([]byte(tc.in), mark))).To(Equal(tc.want))
		})
	}
}

// TestRewriteDoesNotCopyPerLevel: rewriting an answer nested deep allocates a few times its size, not its
// size once per level of nesting (16 MiB nested 16 deep took 480 MiB).
func TestRewriteDoesNotCopyPerLevel(t *testing.T) {
	g := NewWithT(t)
	const depth, payload = 16, 16 << 20
	var b bytes.Buffer
	b.WriteString(strings.Repeat(`{"a":`, depth))
	b.WriteString(`{"x":"` + strings.Repeat("A", payload) + `","error":{"_typeName":"InvalidArgument"}}`)
	b.WriteString(strings.Repeat(`}`, depth))
	body := b.Bytes()

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out := faultfields.Rewrite(body, mark)
	runtime.ReadMemStats(&after)

	g.Expect(bytes.Contains(out, []byte(`{"wrapped":{"_typeName":"InvalidArgument"}}`))).To(BeTrue())
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("rewriting %d MiB allocated %d MiB", len(body)>>20, allocated>>20)
	g.Expect(allocated).To(BeNumerically("<", 8*uint64(len(body))))
}
