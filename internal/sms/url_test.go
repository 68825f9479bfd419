package sms_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
)

// TestUnparsableURLNeverShowsUserinfo: admission refuses a vcenter.url with user information, but an
// object stored before that rule can still carry one. When such a URL does not parse, the error (which
// reaches the VasaProvider's Ready condition) names the host and the reason but no part of the password,
// even where url.Parse's own reason would quote it.
func TestUnparsableURLNeverShowsUserinfo(t *testing.T) {
	for name, tc := range map[string]struct {
		url, host string
		secrets   []string
	}{
		"bad port":                  {url: "https://admin:pw-Tq1@vc.example.com:bad/sdk", host: "vc.example.com:bad", secrets: []string{"pw-Tq1", "admin"}},
		"space in host":             {url: "https://admin:pw-Tq2@vc example.com/", host: "vc example.com", secrets: []string{"pw-Tq2"}},
		"bad escape in password":    {url: "https://admin:pw%zTq3@vc.example.com/", host: "vc.example.com", secrets: []string{"%zT", "Tq3"}},
		"slash in password":         {url: "https://admin:pw/Tq4@vc.example.com/", host: "vc.example.com", secrets: []string{"Tq4", "pw/"}},
		"at sign in password":       {url: "https://admin:p@w:Tq5@vc.example.com:x", host: "vc.example.com", secrets: []string{"Tq5", "p@w"}},
		"no scheme, password in it": {url: "admin:pw%Tq6@vc.example.com", host: "vc.example.com", secrets: []string{"Tq6"}},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := sms.Dial(context.Background(), sms.Config{URL: tc.url, Username: "u", Password: "p", Timeout: time.Second})
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(tc.host))
			for _, s := range tc.secrets {
				g.Expect(err.Error()).NotTo(ContainSubstring(s))
			}
		})
	}
}

// TestHostOfNamesOneVCenterOnce: the spellings of one vCenter's URL name one host (the session cache keeps
// one account per host and user, whose refused logins count together); other ports stay apart.
func TestHostOfNamesOneVCenterOnce(t *testing.T) {
	g := NewWithT(t)
	for _, raw := range []string{"https://vc.example.com", "https://VC.example.com:443/sdk", "https://vc.example.com./sdk", "https://vc.example.com:443"} {
		g.Expect(sms.HostOf(raw)).To(Equal("vc.example.com"), raw)
	}
	g.Expect(sms.HostOf("https://vc.example.com:8443")).To(Equal("vc.example.com:8443"))
	g.Expect(sms.HostOf("https://[fd00::1]:443/sdk")).To(Equal("fd00::1"))
	g.Expect(sms.HostOf("https://[fd00::1]:8443")).To(Equal("[fd00::1]:8443"))
}

// TestAccountHostOfNamesOneVCenterOnceBySpelling: the name and the address of one vCenter are one host
// for its accounts' refusal budget; a name that does not resolve here stays as written.
func TestAccountHostOfNamesOneVCenterOnceBySpelling(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	g.Expect(sms.AccountHostOf(ctx, "https://localhost:8443/sdk")).To(Equal(sms.AccountHostOf(ctx, "https://127.0.0.1:8443")))
	g.Expect(sms.AccountHostOf(ctx, "https://LOCALHOST")).To(Equal("127.0.0.1"))
	g.Expect(sms.AccountHostOf(ctx, "https://[0:0::1]:443")).To(Equal("::1"))
	g.Expect(sms.AccountHostOf(ctx, "https://vc.example.invalid:443")).To(Equal("vc.example.invalid"))
}
