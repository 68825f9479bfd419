package install

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// monitoringDoc holds the tables of metrics and events.
const monitoringDoc = "docs/monitoring.md"

// srcFset positions the parsed sources for messages.
var srcFset = token.NewFileSet()

// docMetric is a metric as internal/metrics defines it or as the docs list it.
type docMetric struct {
	kind   string // counter, gauge, histogram, summary
	labels string // variable labels, sorted, comma separated
}

// TestDocsListEveryMetric: every metric internal/metrics defines has a row in the metrics table with its
// type and labels, and every row names a metric that exists.
func TestDocsListEveryMetric(t *testing.T) {
	g := NewWithT(t)
	defined := definedMetrics(t)
	g.Expect(defined).To(HaveKey("vasa_sync_syncs_total"), "sanity: the metric definitions were found")

	exported := exportedMetrics()
	g.Expect(keys(exported)).To(ConsistOf(keys(defined)),
		"exportedMetrics (alerts_test.go) must describe every metric internal/metrics defines")
	for name, labels := range exported {
		m := defined[name]
		m.labels = sortedLabels(labels)
		defined[name] = m
	}

	documented := map[string]docMetric{}
	row := regexp.MustCompile("^\\| `(vasa_sync_[a-z_]+)` \\| ([a-z]+) \\| ([^|]*) \\|")
	for _, line := range docSection(t, monitoringDoc, "Metrics") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		g.Expect(documented).NotTo(HaveKey(m[1]), "%s has two rows", m[1])
		documented[m[1]] = docMetric{kind: m[2], labels: sortedLabels(backticked(m[3]))}
	}
	for name, want := range defined {
		g.Expect(documented).To(HaveKey(name), "%s: the metrics table has no row for %s", monitoringDoc, name)
		g.Expect(documented[name]).To(Equal(want), "%s: the row of %s", monitoringDoc, name)
	}
	for name := range documented {
		g.Expect(defined).To(HaveKey(name), "%s lists %s, which internal/metrics does not define", monitoringDoc, name)
	}
}

// definedMetrics reads internal/metrics' source: every prometheus.New* call with an Opts literal, by
// fully qualified name, with its type. Reading the source rather than a list of collectors means a new
// metric cannot be left out of this test.
func definedMetrics(t *testing.T) map[string]docMetric {
	t.Helper()
	files := parseDir(t, filepath.Join(root, "internal", "metrics"))
	consts := stringConsts(files, "")
	defined := map[string]docMetric{}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if pkg, isIdent := sel.X.(*ast.Ident); !ok || !isIdent || pkg.Name != "prometheus" || !strings.HasPrefix(sel.Sel.Name, "New") {
				return true
			}
			kind := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(sel.Sel.Name, "New"), "Vec"))
			if !slices.Contains([]string{"counter", "gauge", "histogram", "summary"}, kind) {
				return true
			}
			opts, ok := call.Args[0].(*ast.CompositeLit)
			if !ok {
				t.Fatalf("%s: %s without an Opts literal", srcFset.Position(call.Pos()), sel.Sel.Name)
			}
			var parts []string
			for _, field := range []string{"Namespace", "Subsystem", "Name"} {
				if v := optsField(t, opts, field, consts); v != "" {
					parts = append(parts, v)
				}
			}
			defined[strings.Join(parts, "_")] = docMetric{kind: kind}
			return true
		})
	}
	return defined
}

// optsField returns the string value of one field of a prometheus Opts literal, "" when unset.
func optsField(t *testing.T, opts *ast.CompositeLit, field string, consts map[string]string) string {
	t.Helper()
	for _, e := range opts.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if key, isIdent := kv.Key.(*ast.Ident); !ok || !isIdent || key.Name != field {
			continue
		}
		v, ok := stringValue(kv.Value, consts)
		if !ok {
			t.Fatalf("%s: %s is not a string constant", srcFset.Position(kv.Pos()), field)
		}
		return v
	}
	return ""
}

// docSection returns the lines of a "## title" section of a doc.
func docSection(t *testing.T, doc, title string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, doc))
	if err != nil {
		t.Fatalf("reading %s: %v", doc, err)
	}
	var lines []string
	in := false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimPrefix(line, "## ") == title
			continue
		}
		if in {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("%s has no section %q", doc, title)
	}
	return lines
}

// parseDir parses the non-test Go files of a directory.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(srcFset, name, nil, 0)
		if err != nil {
			t.Fatalf("parsing %s: %v", name, err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	return files
}

// stringConsts returns the package-level string constants of files, keyed by qualifier.Name (or Name
// when qualifier is "").
func stringConsts(files []*ast.File, qualifier string) map[string]string {
	consts := map[string]string{}
	for _, f := range files {
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.CONST {
				continue
			}
			for _, spec := range gen.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						key := name.Name
						if qualifier != "" {
							key = qualifier + "." + key
						}
						consts[key] = v
					}
				}
			}
		}
	}
	return consts
}

// stringValue resolves a string literal, a constant or a qualified constant.
func stringValue(e ast.Expr, consts map[string]string) (string, bool) {
	switch v := e.(type) {
	case *ast.BasicLit:
		s, err := strconv.Unquote(v.Value)
		return s, err == nil && v.Kind == token.STRING
	case *ast.Ident:
		s, ok := consts[v.Name]
		return s, ok
	case *ast.SelectorExpr:
		if pkg, ok := v.X.(*ast.Ident); ok {
			s, ok := consts[pkg.Name+"."+v.Sel.Name]
			return s, ok
		}
	}
	return "", false
}

// backticked returns the `quoted` words of a table cell.
func backticked(cell string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

func sortedLabels(labels []string) string {
	s := slices.Clone(labels)
	slices.Sort(s)
	return strings.Join(s, ",")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
