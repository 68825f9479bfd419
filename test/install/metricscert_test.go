package install

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// smTLS is the tlsConfig of a ServiceMonitor's endpoint.
type smTLS struct {
	InsecureSkipVerify bool   `json:"insecureSkipVerify"`
	ServerName         string `json:"serverName"`
	CA                 struct {
		Secret *struct {
			Name string `json:"name"`
			Key  string `json:"key"`
		} `json:"secret"`
	} `json:"ca"`
}

// renderMetricsTLS renders the chart with the ServiceMonitor and extra values, applies it as a server-side
// dry run, and returns the manager container, the pod and the ServiceMonitor's tlsConfig.
func renderMetricsTLS(t *testing.T, set string) (corev1.Container, corev1.PodSpec, smTLS, manifests) {
	t.Helper()
	out := runTool(t, nil, helmBinary(t), "template", "vso", chartDir, "--namespace", helmNamespace, "--include-crds",
		"--set", "metrics.serviceMonitor.enabled=true"+set)
	m := manifests{objs: decode(t, out)}
	expectManagerInstall(t, m, helmNamespace, defaultImage(t))
	ensureNamespace(t, helmNamespace)
	applied := dryRunApply(t, out)
	NewWithT(t).Expect(strings.Count(applied, "(server dry run)")).To(Equal(len(m.objs)), applied)

	pod := into[appsv1.Deployment](t, m.all("Deployment")[0]).Spec.Template.Spec
	var spec struct {
		Endpoints []struct {
			TLSConfig smTLS `json:"tlsConfig"`
		} `json:"endpoints"`
	}
	convertSpec(t, m.all("ServiceMonitor")[0], &spec)
	return pod.Containers[0], pod, spec.Endpoints[0].TLSConfig, m
}

// TestHelmMetricsCertificate: with metrics.certSecretName the Secret is mounted where --metrics-cert-path
// points and the ServiceMonitor verifies the endpoint with the Secret's CA and the metrics Service's DNS
// name; without it the manager serves its self-signed certificate and the ServiceMonitor skips
// verification, as before.
func TestHelmMetricsCertificate(t *testing.T) {
	requireRole(t)

	t.Run("default", func(t *testing.T) {
		g := NewWithT(t)
		c, pod, tlsConfig, _ := renderMetricsTLS(t, "")
		for _, a := range c.Args {
			g.Expect(a).NotTo(HavePrefix("--metrics-cert-path"))
		}
		g.Expect(pod.Volumes).To(BeEmpty())
		g.Expect(tlsConfig.InsecureSkipVerify).To(BeTrue())
		g.Expect(tlsConfig.CA.Secret).To(BeNil())
	})

	t.Run("certSecretName", func(t *testing.T) {
		g := NewWithT(t)
		c, pod, tlsConfig, m := renderMetricsTLS(t, ",metrics.certSecretName=vso-metrics-tls")
		var certPath string
		for _, a := range c.Args {
			if v, ok := strings.CutPrefix(a, "--metrics-cert-path="); ok {
				certPath = v
			}
		}
		g.Expect(certPath).NotTo(BeEmpty(), "--metrics-cert-path in %v", c.Args)
		g.Expect(c.VolumeMounts).To(HaveLen(1))
		mount := c.VolumeMounts[0]
		g.Expect(mount.MountPath).To(Equal(certPath))
		g.Expect(mount.ReadOnly).To(BeTrue())
		g.Expect(pod.Volumes).To(HaveLen(1))
		vol := pod.Volumes[0]
		g.Expect(vol.Name).To(Equal(mount.Name))
		g.Expect(vol.Secret).NotTo(BeNil())
		g.Expect(vol.Secret.SecretName).To(Equal("vso-metrics-tls"))
		// The files the manager's --metrics-cert-name and --metrics-cert-key defaults name.
		var paths []string
		for _, it := range vol.Secret.Items {
			paths = append(paths, it.Path)
		}
		g.Expect(paths).To(ConsistOf("tls.crt", "tls.key"))

		g.Expect(tlsConfig.InsecureSkipVerify).To(BeFalse())
		g.Expect(tlsConfig.CA.Secret).NotTo(BeNil())
		g.Expect(tlsConfig.CA.Secret.Name).To(Equal("vso-metrics-tls"))
		g.Expect(tlsConfig.CA.Secret.Key).To(Equal("ca.crt"))
		svc := m.all("Service")[0]
		g.Expect(tlsConfig.ServerName).To(Equal(svc.GetName() + "." + helmNamespace + ".svc"))
	})

	t.Run("serverName", func(t *testing.T) {
		_, _, tlsConfig, _ := renderMetricsTLS(t, ",metrics.certSecretName=vso-metrics-tls,metrics.serviceMonitor.serverName=metrics.example.com")
		NewWithT(t).Expect(tlsConfig.ServerName).To(Equal("metrics.example.com"))
	})
}
