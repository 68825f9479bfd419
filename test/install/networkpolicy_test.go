package install

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestKustomizeNetworkPolicy: config/network-policy admits ingress to config/default's manager pods on its
// metrics and probe ports only, and the API server accepts it.
func TestKustomizeNetworkPolicy(t *testing.T) {
	requireRole(t)
	g := NewWithT(t)
	out := kustomize(t, "config/network-policy")
	nps := manifests{objs: decode(t, out)}.all("NetworkPolicy")
	g.Expect(nps).To(HaveLen(1))
	np := into[networkingv1.NetworkPolicy](t, nps[0])
	g.Expect(np.Namespace).To(Equal(kustomizeNamespace))
	dep := into[appsv1.Deployment](t, manifests{objs: decode(t, kustomize(t, "config/default"))}.all("Deployment")[0])
	expectIngressOnlyToManagerPorts(t, np, dep)
	g.Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress))

	ensureNamespace(t, kustomizeNamespace)
	g.Expect(strings.Count(dryRunApply(t, out), "(server dry run)")).To(Equal(1))
}

// expectIngressOnlyToManagerPorts checks that np selects the manager's pods and admits ingress on exactly
// the container's ports (metrics and probes), one rule each.
func expectIngressOnlyToManagerPorts(t *testing.T, np *networkingv1.NetworkPolicy, dep *appsv1.Deployment) {
	t.Helper()
	g := NewWithT(t)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(sel.Empty()).To(BeFalse())
	g.Expect(sel.Matches(labels.Set(dep.Spec.Template.Labels))).To(BeTrue(), "the policy selects the manager's pods")
	var ports, containerPorts []int32
	for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
		containerPorts = append(containerPorts, p.ContainerPort)
	}
	for _, r := range np.Spec.Ingress {
		g.Expect(r.Ports).To(HaveLen(1))
		ports = append(ports, r.Ports[0].Port.IntVal)
	}
	g.Expect(ports).To(ConsistOf(containerPorts))
}

// TestHelmNetworkPolicy: networkPolicy.enabled admits ingress to the manager's pods on the metrics and
// probe ports only (the metrics port from metricsFrom), and with networkPolicy.egress restricts egress to
// DNS and those rules. It is off by default, and what it renders is accepted by the API server.
func TestHelmNetworkPolicy(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	g := NewWithT(t)
	off := manifests{objs: decode(t, runTool(t, nil, helm, "template", "vso", chartDir, "--namespace", helmNamespace))}
	g.Expect(off.all("NetworkPolicy")).To(BeEmpty(), "off by default")

	for name, tc := range map[string]struct {
		set        []string
		egress     bool
		metricsTag string
	}{
		"ingress only": {set: []string{"--set", "networkPolicy.enabled=true"}},
		"with egress and scrapers": {set: []string{"--set", "networkPolicy.enabled=true",
			"--set-json", `networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]`,
			"--set-json", `networkPolicy.egress=[{"to":[{"ipBlock":{"cidr":"192.0.2.0/24"}}],"ports":[{"port":443,"protocol":"TCP"}]}]`,
			"--set-json", `networkPolicy.dnsTo=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"openshift-dns"}}}]`},
			egress: true, metricsTag: "monitoring"},
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			out := runTool(t, nil, helm, append([]string{"template", "vso", chartDir, "--namespace", helmNamespace}, tc.set...)...)
			m := manifests{objs: decode(t, out)}
			nps := m.all("NetworkPolicy")
			g.Expect(nps).To(HaveLen(1))
			np := into[networkingv1.NetworkPolicy](t, nps[0])
			dep := into[appsv1.Deployment](t, m.all("Deployment")[0])
			expectIngressOnlyToManagerPorts(t, np, dep)
			for _, r := range np.Spec.Ingress {
				if r.Ports[0].Port.IntVal == 8443 && tc.metricsTag != "" {
					g.Expect(r.From).To(HaveLen(1))
					g.Expect(r.From[0].NamespaceSelector.MatchLabels).To(ContainElement(tc.metricsTag))
				}
			}

			if !tc.egress {
				g.Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress))
				g.Expect(np.Spec.Egress).To(BeEmpty())
			} else {
				g.Expect(np.Spec.PolicyTypes).To(ConsistOf(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress))
				g.Expect(np.Spec.Egress).To(HaveLen(2))
				udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
				// 5353: OpenShift's DNS pods listen there behind its Service's 53, and a policy sees the pod's port.
				dns, dnsPod := intstr.FromInt32(53), intstr.FromInt32(5353)
				g.Expect(np.Spec.Egress[0].Ports).To(ConsistOf(
					networkingv1.NetworkPolicyPort{Protocol: &udp, Port: &dns}, networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: &dns},
					networkingv1.NetworkPolicyPort{Protocol: &udp, Port: &dnsPod}, networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: &dnsPod}))
				g.Expect(np.Spec.Egress[0].To).To(HaveLen(1))
				g.Expect(np.Spec.Egress[0].To[0].NamespaceSelector.MatchLabels).To(ContainElement("openshift-dns"))
				g.Expect(np.Spec.Egress[1].To[0].IPBlock.CIDR).To(Equal("192.0.2.0/24"))
			}

			ensureNamespace(t, helmNamespace)
			applied := dryRunApply(t, out)
			g.Expect(strings.Count(applied, "(server dry run)")).To(Equal(len(m.objs)), applied)
		})
	}
}
