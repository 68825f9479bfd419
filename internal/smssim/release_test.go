package smssim_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/vmware/govmomi/sms/methods"
	smstypes "github.com/vmware/govmomi/sms/types"
	"github.com/vmware/govmomi/vim25/soap"
	vimtypes "github.com/vmware/govmomi/vim25/types"

	"github.com/vasa-sync-operator/vasa-sync-operator/internal/smssim"
)

var smsServiceInstance = vimtypes.ManagedObjectReference{Type: "SmsServiceInstance", Value: "ServiceInstance"}

// TestReleaseRefusesUnknownVersion: a release answers a version newer than its own with the fault users
// of vCenter service endpoints report, and serves the versions it has.
func TestReleaseRefusesUnknownVersion(t *testing.T) {
	g := NewWithT(t)
	sim, err := smssim.Start(smssim.Config{Release: smssim.Release70U3})
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()
	g.Expect(sim.About().Version).To(Equal("7.0.3"))
	g.Expect(sim.AcceptedSMSVersions()).To(ContainElements("6.5", "7.0.0.1", "7.0.3.2"))
	g.Expect(sim.AcceptedSMSVersions()).NotTo(ContainElement("8.0.0.0"))
	c := govmomiSMS(t, sim)

	c.Version = "8.0.0.0"
	_, err = methods.QueryStorageManager(context.Background(), c, &smstypes.QueryStorageManager{This: smsServiceInstance})
	g.Expect(soap.IsSoapFault(err)).To(BeTrue(), "got %v", err)
	sf := soap.ToSoapFault(err)
	g.Expect(sf.String).To(Equal("Request version 'urn:sms/8.0.0.0' and namespace 'urn:sms' are not supported"))
	g.Expect(sf.VimFault()).To(BeAssignableToTypeOf(vimtypes.InvalidRequest{}))

	c.Version = "7.0.3.2"
	_, err = methods.QueryStorageManager(context.Background(), c, &smstypes.QueryStorageManager{This: smsServiceInstance})
	g.Expect(err).NotTo(HaveOccurred())
}

// TestPreferDetailsNeedsVersion7001: before SMS 7.0.0.1 the request field is unknown and refused.
func TestPreferDetailsNeedsVersion7001(t *testing.T) {
	g := NewWithT(t)
	sim, err := smssim.Start(smssim.Config{Providers: []smssim.ProviderConfig{{Name: "a",
		Groups: []smssim.GroupConfig{{FaultDomain: "fd", DeviceGroup: "dg"}}}}})
	g.Expect(err).NotTo(HaveOccurred())
	defer sim.Close()
	c := govmomiSMS(t, sim)
	query := func(version string) error {
		c.Version = version
		_, err := methods.QueryPointInTimeReplica(context.Background(), c, &smstypes.QueryPointInTimeReplica{
			This:       vimtypes.ManagedObjectReference{Type: "VasaProvider", Value: "vasaprovider-1"},
			GroupId:    []vimtypes.ReplicationGroupId{{FaultDomainId: vimtypes.FaultDomainId{Id: "fd"}, DeviceGroupId: vimtypes.DeviceGroupId{Id: "dg"}}},
			QueryParam: &smstypes.QueryPointInTimeReplicaParam{PreferDetails: vimtypes.NewBool(true)},
		})
		return err
	}
	err = query("7.0.0.0")
	g.Expect(soap.IsSoapFault(err)).To(BeTrue(), "got %v", err)
	g.Expect(soap.ToSoapFault(err).String).To(ContainSubstring("preferDetails"))
	g.Expect(query("7.0.0.1")).To(Succeed())
}

// TestJSONPaths: releases before 8.0U1 have no VI/JSON; a release that has it refuses a newer release path
// with HTTP 500 and a version fault, and answers an older one it does not serve 404; strict mode refuses a
// SOAP cookie as session id.
func TestJSONPaths(t *testing.T) {
	post := func(g Gomega, sim *smssim.Sim, path, session string) int {
		req, err := http.NewRequest(http.MethodPost, sim.URL()+path, strings.NewReader("{}"))
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Content-Type", "application/json")
		if session != "" {
			req.Header.Set("vmware-api-session-id", session)
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
		res, err := hc.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		_ = res.Body.Close()
		return res.StatusCode
	}
	t.Run("7.0U3 has no VI/JSON", func(t *testing.T) {
		g := NewWithT(t)
		sim, err := smssim.Start(smssim.Config{Release: smssim.Release70U3})
		g.Expect(err).NotTo(HaveOccurred())
		defer sim.Close()
		g.Expect(sim.JSONReleases()).To(BeEmpty())
		g.Expect(post(g, sim, "/sdk/vim25/7.0.3.0/SessionManager/SessionManager/Login", "")).To(Equal(http.StatusNotFound))
	})
	t.Run("8.0U2 serves 8.0.1.0 and 8.0.2.0 only", func(t *testing.T) {
		g := NewWithT(t)
		sim, err := smssim.Start(smssim.Config{Release: smssim.Release80U2})
		g.Expect(err).NotTo(HaveOccurred())
		defer sim.Close()
		g.Expect(post(g, sim, "/sdk/vim25/8.0.3.0/sms/SmsServiceInstance/ServiceInstance/QueryStorageManager", "x")).To(Equal(http.StatusInternalServerError))
		g.Expect(post(g, sim, "/sdk/vim25/8.0.3.0/SessionManager/SessionManager/Login", "")).To(Equal(http.StatusInternalServerError))
		g.Expect(post(g, sim, "/sdk/vim25/8.0.0.0/SessionManager/SessionManager/Login", "")).To(Equal(http.StatusNotFound))
		g.Expect(post(g, sim, "/sdk/vim25/8.0.2.0/sms/SmsServiceInstance/ServiceInstance/QueryStorageManager", "x")).To(Equal(http.StatusUnauthorized))
	})
	t.Run("strict sessions refuse a SOAP cookie", func(t *testing.T) {
		g := NewWithT(t)
		sim, err := smssim.Start(smssim.Config{})
		g.Expect(err).NotTo(HaveOccurred())
		defer sim.Close()
		cookie := govmomiSMS(t, sim).Cookie().Value
		path := "/sdk/vim25/8.0.3.0/sms/SmsServiceInstance/ServiceInstance/QueryStorageManager"
		g.Expect(post(g, sim, path, cookie)).To(Equal(http.StatusUnauthorized))

		shared, err := smssim.Start(smssim.Config{JSONSessions: smssim.JSONSessionsShared})
		g.Expect(err).NotTo(HaveOccurred())
		defer shared.Close()
		g.Expect(post(g, shared, path, govmomiSMS(t, shared).Cookie().Value)).To(Equal(http.StatusOK))
	})
}

func TestReleaseConfigErrors(t *testing.T) {
	g := NewWithT(t)
	_, err := smssim.Start(smssim.Config{Release: "9.0"})
	g.Expect(err).To(MatchError(ContainSubstring(`release "9.0" is not one of`)))
	_, err = smssim.Start(smssim.Config{Release: smssim.Release80GA, NewestSMSVersion: "8.0.1.0"})
	g.Expect(err).To(MatchError(ContainSubstring("newestSMSVersion")))
	_, err = smssim.Start(smssim.Config{JSONSessions: "loose"})
	g.Expect(err).To(MatchError(ContainSubstring("jsonSessions")))
	cfg, err := smssim.ParseConfig([]byte("release: 7.0U3\nserviceInitializingFor: 2s\nproviders: []\n"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Release).To(Equal(smssim.Release70U3))
	g.Expect(cfg.ServiceInitializingFor.Seconds()).To(Equal(2.0))
}

// insecureTLS trusts the simulator's self-signed certificate in these raw HTTP tests.
func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // a test against the local simulator
}
