package sms_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/sms"
	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

// TestReleaseProfiles runs the operator's whole use of SMS against every simulated vCenter release and
// both bindings where the release has them, over HTTPS: connect, sync 40 groups that first get TooMany,
// recover an expired session, read the PiTs made with their ids and the newest PiTs, and send only SMS versions (SOAPAction or VI/JSON release path) that the
// release accepts.
func TestReleaseProfiles(t *testing.T) {
	for _, rel := range smssim.Releases() {
		for _, b := range bindings {
			t.Run(string(rel)+"/"+string(b), func(t *testing.T) {
				g := NewWithT(t)
				ctx := context.Background()
				sim := startSim(t, func(c *smssim.Config) {
					c.Release = rel
					c.JSONSessions = smssim.JSONSessionsStrict
					c.Providers[0].MaxBatchSize = 16
				})
				sim.SetWireLog(true)
				if b == sms.BindingJSON && len(sim.JSONReleases()) == 0 {
					_, err := sms.Dial(ctx, clientConfig(sim, b))
					var ub *sms.UnsupportedBindingError
					g.Expect(errors.As(err, &ub)).To(BeTrue(), "got %v", err)
					g.Expect(errors.Is(err, sms.ErrJSONUnsupported)).To(BeTrue())
					g.Expect(err.Error()).To(ContainSubstring("use the SOAP binding"))
					return
				}
				c := dial(t, sim, b)
				info := c.(sms.ServerInfoReporter).ServerInfo()
				g.Expect(info.Binding).To(Equal(b))
				g.Expect(info.VCenterVersion).To(Equal(sim.About().Version))
				g.Expect(info.VCenterBuild).To(Equal(sim.About().Build))
				if b == sms.BindingSOAP {
					accepted := sim.AcceptedSMSVersions()
					g.Expect(info.SMSVersion).To(Equal(accepted[len(accepted)-1]), "the newest version the release accepts")
				} else {
					served := sim.JSONReleases()
					g.Expect(info.SMSVersion).To(Equal(served[len(served)-1]), "the newest release path served")
				}

				p, err := c.FindProvider(ctx, "array-a", "")
				g.Expect(err).NotTo(HaveOccurred())
				ids, _ := groups("fd-1", 40)
				_, err = c.SyncReplicationGroups(ctx, p.Ref, ids, "nightly")
				var tm *sms.TooManyError
				g.Expect(errors.As(err, &tm)).To(BeTrue(), "got %v", err)
				size := tm.EffectiveBatchSize()
				g.Expect(size).To(Equal(16))

				logins := sim.LoginAttempts()
				for start := 0; start < len(ids); start += size {
					if start == size {
						sim.ExpireSessions() // the second batch meets an expired session
					}
					syncDone(t, g, c, p.Ref, ids[start:min(start+size, len(ids))], "nightly")
				}
				g.Expect(sim.ExpiredSessions()).To(BeNumerically(">=", 1))
				g.Expect(sim.LoginAttempts()-logins).To(Equal(1), "one re-login after the expiry")
				pits, err := c.PointInTimeReplicas(ctx, p.Ref, ids, "nightly")
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(pits).To(HaveLen(40))
				for _, pit := range pits {
					g.Expect(pit.ID).NotTo(BeEmpty(), "details, not counts, also from a release without preferDetails: group %v", pit.Group)
				}
				newest, err := c.NewestPointInTimes(ctx, p.Ref, ids)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(newest).To(HaveLen(40))
				for _, n := range newest {
					g.Expect(n.PiT).NotTo(BeNil(), "group %v", n.Group)
				}

				expectAcceptedOnWire(t, sim, b)
			})
		}
	}
}

// expectAcceptedOnWire checks every SMS request on the wire used a version the release accepts, but for
// the versions the first login offered before one was accepted (a release whose SMS lags behind its
// API version: 7.0 GA reports API 7.0.0.0 and is refused 7.0.0.1).
func expectAcceptedOnWire(t *testing.T, sim *smssim.Sim, b sms.Binding) {
	t.Helper()
	g := NewWithT(t)
	n := 0
	for _, r := range sim.WireLog() {
		switch {
		case r.Binding == "SOAP" && b == sms.BindingSOAP:
			version := strings.TrimPrefix(strings.Trim(r.SOAPAction, `"`), "urn:sms/")
			if n == 0 && !slices.Contains(sim.AcceptedSMSVersions(), version) {
				continue // negotiating
			}
			g.Expect(sim.AcceptedSMSVersions()).To(ContainElement(version), "SOAPAction %s", r.SOAPAction)
			n++
		case r.Binding == "JSON" && b == sms.BindingJSON && !strings.Contains(r.Path, "/sms/"):
			// VI/JSON logins probe the release paths newest first; a path not served answers 404, or
			// HTTP 500 with a version fault when it is newer than those served.
		case r.Binding == "JSON" && b == sms.BindingJSON:
			release := strings.Split(r.Path, "/")[3]
			g.Expect(sim.JSONReleases()).To(ContainElement(release), "path %s", r.Path)
			n++
		default:
			t.Errorf("a %s request on the %s binding: %s", r.Binding, b, r.Path)
		}
	}
	g.Expect(n).To(BeNumerically(">", 10))
}

// TestVersionFallback: a 7.0U3 whose SMS lags behind its AboutInfo refuses 7.0.3.2; the client falls back
// to the next older version and keeps it for the session.
func TestVersionFallback(t *testing.T) {
	g := NewWithT(t)
	sim := startSim(t, func(c *smssim.Config) { c.Release = smssim.Release70U3; c.NewestSMSVersion = "7.0.0.1" })
	sim.SetWireLog(true)
	c := dial(t, sim, sms.BindingSOAP)
	g.Expect(c.(sms.ServerInfoReporter).ServerInfo().SMSVersion).To(Equal("7.0.0.1"))
	_, err := c.Providers(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	var actions []string
	for _, r := range sim.WireLog() {
		actions = append(actions, r.SOAPAction)
	}
	g.Expect(actions[0]).To(Equal(`urn:sms/7.0.3.2`))
	g.Expect(slices.Compact(actions[1:])).To(Equal([]string{`urn:sms/7.0.0.1`}))
}

// TestVersionFaults: the refusals of a version that vCenter's endpoints are known to send count as the
// version fault, whatever their detail; other faults do not (they must not make the client give up on
// every version).
func TestVersionFaults(t *testing.T) {
	fault := func(code, text string, detail vimtypes.AnyType) error {
		f := &soap.Fault{Code: code, String: text}
		f.Detail.Fault = detail
		return soap.WrapSoapFault(f)
	}
	tests := map[string]struct {
		err  error
		want bool
	}{
		"InvalidRequest":               {fault("ServerFaultCode", "Request version 'urn:sms/8.0.3.0' and namespace 'urn:sms' are not supported", &vimtypes.InvalidRequest{}), true},
		"the text, no detail":          {fault("ServerFaultCode", "Request version 'urn:sms/7.0.0.1' and namespace 'urn:sms' are not supported", nil), true},
		"the text, another detail":     {fault("ServerFaultCode", "Request version 'urn:sms/7.0.0.1' and namespace 'urn:sms' are not supported", &vimtypes.NotSupported{}), true},
		"/sdk's VersionMismatch":       {fault("VersionMismatchFaultCode", `Unsupported version URI "urn:sms/7.0.0.1"`, nil), true},
		"not supported, not a version": {fault("ServerFaultCode", "The operation is not supported on the object.", &vimtypes.NotSupported{}), false},
		"a provider fault":             {fault("ServerFaultCode", "busy", &smstypes.ProviderBusy{}), false},
		"a login refused":              {fault("ServerFaultCode", "Cannot complete login due to an incorrect user name or password.", &vimtypes.InvalidLogin{}), false},
		"not a SOAP fault":             {errors.New("version not supported"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(sms.IsVersionFault(tc.err)).To(Equal(tc.want))
		})
	}
}

// TestPinnedVersion: a pinned version is the only one offered; one the server refuses is a VersionError.
func TestPinnedVersion(t *testing.T) {
	for name, tc := range map[string]struct {
		release smssim.Release
		binding sms.Binding
		pin     string
		ok      bool
	}{
		"SOAP accepted":          {smssim.Release80U3, sms.BindingSOAP, "6.7.2", true},
		"SOAP refused":           {smssim.Release67U3, sms.BindingSOAP, "8.0.1.0", false},
		"JSON accepted":          {smssim.Release80U3, sms.BindingJSON, "8.0.1.0", true},
		"JSON release not known": {smssim.Release80U1, sms.BindingJSON, "8.0.3.0", false},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			sim := startSim(t, func(c *smssim.Config) { c.Release = tc.release })
			cfg := clientConfig(sim, tc.binding)
			cfg.Version = tc.pin
			c, err := sms.Dial(context.Background(), cfg)
			if !tc.ok {
				var ve *sms.VersionError
				g.Expect(errors.As(err, &ve)).To(BeTrue(), "got %v", err)
				g.Expect(ve.Pinned).To(BeTrue())
				g.Expect(ve.Tried).To(Equal([]string{tc.pin}))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			defer func() { _ = c.Close(context.Background()) }()
			g.Expect(c.(sms.ServerInfoReporter).ServerInfo().SMSVersion).To(Equal(tc.pin))
			// Below 7.0.0.1 the PiT query must not carry preferDetails, which the server would refuse.
			ids, _ := groups("fd-1", 2)
			_, err = c.PointInTimeReplicas(context.Background(), "vasaprovider-1", ids, "x")
			g.Expect(err).NotTo(HaveOccurred())
		})
	}
}

// TestBareFaultAtLoginIsNoVersionRefusal: a fault without detail while the version is negotiated (SMS
// failing for a moment) is that fault, not a refused version: the client does not go on offering every
// older version and end with a VersionError.
func TestBareFaultAtLoginIsNoVersionRefusal(t *testing.T) {
	g := NewWithT(t)
	sim := startSim(t)
	var asked atomic.Int32
	cfg := behindFront(t, sim, sms.BindingSOAP, func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != sms.Path {
			return false
		}
		asked.Add(1)
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>A general system error occurred: internal error</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>`)
		return true
	})
	_, err := sms.Dial(context.Background(), cfg)
	g.Expect(err).To(HaveOccurred())
	var ve *sms.VersionError
	g.Expect(errors.As(err, &ve)).To(BeFalse(), "got %v", err)
	g.Expect(err.Error()).To(ContainSubstring("general system error"))
	g.Expect(asked.Load()).To(BeEquivalentTo(1))
}
