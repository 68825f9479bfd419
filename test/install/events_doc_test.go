package install

import (
	"go/ast"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	. "github.com/onsi/gomega"
)

// docEvent is an event as the controllers record it or as the docs list it.
type docEvent struct {
	kind   string // Normal or Warning
	object string // the kind of the object it is recorded on
}

// eventObjects is the object each reconciler records its events on.
var eventObjects = map[string]string{
	"ReplicationSyncReconciler":         "ReplicationSync",
	"ReplicationSyncScheduleReconciler": "ReplicationSyncSchedule",
	"VasaProviderReconciler":            "VasaProvider",
	"ReplicationGroupReconciler":        "VasaProvider", // discovery records on the provider it discovers
}

// eventTypes resolves the type argument of an event.
var eventTypes = map[string]string{
	"corev1.EventTypeNormal":  "Normal",
	"corev1.EventTypeWarning": "Warning",
}

// TestDocsListEveryEvent: every event reason the controllers record has a row in the events table with
// its type and object, and every row names a reason that is recorded.
func TestDocsListEveryEvent(t *testing.T) {
	g := NewWithT(t)
	recorded := recordedEvents(t)
	g.Expect(recorded).To(HaveKey("InDoubtReissued"), "sanity: the event calls were found")

	documented := map[string]docEvent{}
	row := regexp.MustCompile("^\\| `([A-Za-z]+)` \\| (Normal|Warning) \\| ([A-Za-z]+) \\|")
	for _, line := range docSection(t, monitoringDoc, "Events") {
		if m := row.FindStringSubmatch(line); m != nil {
			g.Expect(documented).NotTo(HaveKey(m[1]), "%s has two rows", m[1])
			documented[m[1]] = docEvent{kind: m[2], object: m[3]}
		}
	}
	g.Expect(documented).To(Equal(recorded), "%s: the events table against the events the controllers record", monitoringDoc)
}

// TestDocsNameOnlyRecordedEvents: where a doc names events ("Event `X`", "events: `X`, `Y`"), each is a
// reason the controllers record, so a renamed reason cannot linger in the docs.
func TestDocsNameOnlyRecordedEvents(t *testing.T) {
	g := NewWithT(t)
	recorded := recordedEvents(t)
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	g.Expect(err).NotTo(HaveOccurred())
	docs = append(docs, filepath.Join(root, "README.md"))
	mention := regexp.MustCompile("(?i)\\bevents?:? ((?:`[A-Za-z]+`(?:, |/| and | or )?)+)")
	named := 0
	for _, doc := range docs {
		raw, err := os.ReadFile(doc)
		g.Expect(err).NotTo(HaveOccurred())
		for _, m := range mention.FindAllStringSubmatch(string(raw), -1) {
			for _, reason := range backticked(m[1]) {
				named++
				g.Expect(recorded).To(HaveKey(reason), "%s names event %s, which no controller records", filepath.Base(doc), reason)
			}
		}
	}
	g.Expect(named).To(BeNumerically(">", 5), "sanity: event mentions were found")
}

// recordedEvents reads the controllers' source: every Recorder.Eventf call and every call of a
// reconciler's event helper, with its reason and type resolved from literals and constants.
func recordedEvents(t *testing.T) map[string]docEvent {
	t.Helper()
	files := parseDir(t, filepath.Join(root, "controllers"))
	consts := stringConsts(files, "")
	maps.Copy(consts, stringConsts(parseDir(t, filepath.Join(root, "api", "v1alpha1")), "replicationv1alpha1"))
	recorded := map[string]docEvent{}
	for _, f := range files {
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			object := receiverObject(fn)
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				typeArg, reasonArg := eventArgs(call)
				if reasonArg == nil {
					return true
				}
				if fn.Name.Name == "event" || fn.Name.Name == "Eventf" {
					return true // the helper, or a recorder wrapping another, passes its parameters on
				}
				pos := srcFset.Position(call.Pos())
				if object == "" {
					t.Fatalf("%s: an event recorded outside a known reconciler; add it to eventObjects", pos)
				}
				reason, ok := stringValue(reasonArg, consts)
				if !ok {
					t.Fatalf("%s: the event reason is not a string constant", pos)
				}
				kind, ok := stringValue(typeArg, consts)
				if !ok {
					kind, ok = eventTypes[exprString(typeArg)]
				}
				if !ok {
					t.Fatalf("%s: the event type is neither Normal nor Warning", pos)
				}
				e := docEvent{kind: kind, object: object}
				if prev, seen := recorded[reason]; seen && prev != e {
					t.Fatalf("%s: event %s is recorded as %v and as %v; the table has one row per reason", pos, reason, prev, e)
				}
				recorded[reason] = e
				return true
			})
		}
	}
	return recorded
}

// eventArgs returns the type and reason arguments of an event call: Eventf(obj, related, type, reason,
// ...) or a reconciler's r.event(obj, type, reason, ...). The reason is nil for any other call.
func eventArgs(call *ast.CallExpr) (ast.Expr, ast.Expr) {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return nil, nil
	}
	switch {
	case sel.Sel.Name == "Eventf" && len(call.Args) >= 4:
		return call.Args[2], call.Args[3]
	case sel.Sel.Name == "event" && len(call.Args) >= 3:
		return call.Args[1], call.Args[2]
	}
	return nil, nil
}

// receiverObject returns the object a method's reconciler records events on, "" for other functions.
func receiverObject(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return ""
	}
	typ := fn.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return eventObjects[id.Name]
	}
	return ""
}

// exprString renders an identifier or a selector as written.
func exprString(e ast.Expr) string {
	switch v := e.(type) {
	case *ast.Ident:
		return v.Name
	case *ast.SelectorExpr:
		return exprString(v.X) + "." + v.Sel.Name
	}
	return ""
}
