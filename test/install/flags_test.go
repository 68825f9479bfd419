package install

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/controllers"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/backoff"
)

// flagsDoc is where the manager's flags are documented.
const flagsDoc = "docs/quickstart.md"

// namedDefaults are the defaults main.go takes from constants, as the documentation writes them.
var namedDefaults = map[string]string{
	"backoff.DefaultBase":                                backoff.DefaultBase.String(),
	"backoff.DefaultMax":                                 backoff.DefaultMax.String(),
	"controllers.DefaultPollInitial":                     controllers.DefaultPollInitial.String(),
	"controllers.DefaultPollMax":                         controllers.DefaultPollMax.String(),
	"controllers.DefaultMaxConcurrentSyncReconciles":     strconv.Itoa(controllers.DefaultMaxConcurrentSyncReconciles),
	"controllers.DefaultMaxConcurrentScheduleReconciles": strconv.Itoa(controllers.DefaultMaxConcurrentScheduleReconciles),
	"controllers.DefaultSessionMaxAge":                   shortDuration(controllers.DefaultSessionMaxAge),
}

// shortDuration writes d as the docs do: 1h, not 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// TestManagerFlagsDocumented: every flag main.go defines has a row in the flags table of the docs, with
// the default main.go gives it.
func TestManagerFlagsDocumented(t *testing.T) {
	g := NewWithT(t)
	defined := managerFlagDefaults(t)
	g.Expect(defined).To(HaveKey("sync-concurrency"), "sanity: main.go's flags were found")

	raw, err := os.ReadFile(filepath.Join(root, flagsDoc))
	g.Expect(err).NotTo(HaveOccurred())
	row := regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\| ([^|]*) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(raw), -1) {
		documented[m[1]] = strings.TrimSpace(m[2])
	}
	for name, def := range defined {
		g.Expect(documented).To(HaveKey(name), "--%s has no row in %s", name, flagsDoc)
		g.Expect(sameDefault(documented[name], def)).To(BeTrue(), "--%s: %s says %q, main.go %q", name, flagsDoc, documented[name], def)
	}
}

// managerFlagDefaults returns the flags main.go defines, each with its default as the docs write it.
func managerFlagDefaults(t *testing.T) map[string]string {
	t.Helper()
	g := NewWithT(t)
	file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "main.go"), nil, 0)
	g.Expect(err).NotTo(HaveOccurred())
	defined := map[string]string{} // flag name -> default as written in the docs
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 4 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if pkg, isIdent := sel.X.(*ast.Ident); !ok || !isIdent || pkg.Name != "flag" || !strings.HasSuffix(sel.Sel.Name, "Var") {
			return true
		}
		name, err := strconv.Unquote(call.Args[1].(*ast.BasicLit).Value)
		g.Expect(err).NotTo(HaveOccurred())
		defined[name] = defaultText(t, call.Args[2])
		return true
	})
	return defined
}

// defaultText renders a flag's default argument: a literal, or a constant of namedDefaults.
func defaultText(t *testing.T, e ast.Expr) string {
	t.Helper()
	switch v := e.(type) {
	case *ast.BasicLit:
		if s, err := strconv.Unquote(v.Value); err == nil {
			return s
		}
		return v.Value
	case *ast.Ident:
		return v.Name // true, false
	case *ast.SelectorExpr:
		key := fmt.Sprintf("%s.%s", v.X.(*ast.Ident).Name, v.Sel.Name)
		if d, ok := namedDefaults[key]; ok {
			return d
		}
		t.Fatalf("main.go: default %s is not in namedDefaults", key)
	}
	t.Fatalf("main.go: a flag default of unknown form %T", e)
	return ""
}

// sameDefault compares a documented default ("`5m`", "`:8443`", "empty") with main.go's.
func sameDefault(doc, code string) bool {
	doc = strings.Trim(doc, "`")
	if code == "" {
		return doc == "empty"
	}
	if a, err := time.ParseDuration(doc); err == nil {
		b, err := time.ParseDuration(code)
		return err == nil && a == b
	}
	return doc == code
}
