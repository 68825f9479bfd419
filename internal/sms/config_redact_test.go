package sms_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// TestConfigNeverPrintsThePassword: a Config printed with any verb, inside another value, or handed to a
// structured logger shows the rest of it but never the password.
func TestConfigNeverPrintsThePassword(t *testing.T) {
	g := NewWithT(t)
	cfg := sms.Config{URL: "https://vc.example.com", Username: "svc-dr", Password: "pw-Lm4-print-me-not", CABundle: []byte("PEM")}
	var logged strings.Builder
	funcr.New(func(_, args string) { logged.WriteString(args) }, funcr.Options{}).Info("Dialing", "config", cfg, "pointer", &cfg)
	for name, out := range map[string]string{
		"%v":     fmt.Sprintf("%v", cfg),
		"%+v":    fmt.Sprintf("%+v", cfg),
		"%#v":    fmt.Sprintf("%#v", cfg),
		"nested": fmt.Sprintf("%+v", struct{ C sms.Config }{cfg}),
		"logr":   logged.String(),
	} {
		g.Expect(out).NotTo(ContainSubstring(cfg.Password), name)
		g.Expect(out).To(And(ContainSubstring("svc-dr"), ContainSubstring("vc.example.com")), name)
	}
}
