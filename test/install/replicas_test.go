package install

import (
	"context"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestHelmStandbyReplicas: with more than one replica the chart keeps one pod through voluntary
// disruptions (a PodDisruptionBudget) and spreads the pods over nodes (soft anti-affinity by hostname);
// a single replica gets neither, since a budget would block every drain.
func TestHelmStandbyReplicas(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	render := func(set string) (manifests, []byte) {
		out := runTool(t, nil, helm, "template", "vso", chartDir, "--namespace", helmNamespace, "--include-crds", "--set", set)
		return manifests{objs: decode(t, out)}, out
	}

	t.Run("one replica", func(t *testing.T) {
		g := NewWithT(t)
		m, _ := render("replicaCount=1")
		g.Expect(m.all("PodDisruptionBudget")).To(BeEmpty())
		g.Expect(into[appsv1.Deployment](t, m.all("Deployment")[0]).Spec.Template.Spec.Affinity).To(BeNil())
	})

	t.Run("two replicas", func(t *testing.T) {
		g := NewWithT(t)
		m, out := render("replicaCount=2")
		expectManagerInstall(t, m, helmNamespace, defaultImage(t))
		dep := into[appsv1.Deployment](t, m.all("Deployment")[0])
		pods := labels.Set(dep.Spec.Template.Labels)

		pdbs := m.all("PodDisruptionBudget")
		g.Expect(pdbs).To(HaveLen(1))
		pdb := into[policyv1.PodDisruptionBudget](t, pdbs[0])
		g.Expect(pdb.Spec.MinAvailable).NotTo(BeNil())
		g.Expect(pdb.Spec.MinAvailable.IntValue()).To(Equal(1))
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sel.Matches(pods)).To(BeTrue(), "the budget selects the manager's pods")

		aff := dep.Spec.Template.Spec.Affinity
		g.Expect(aff).NotTo(BeNil())
		g.Expect(aff.PodAntiAffinity).NotTo(BeNil())
		g.Expect(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution).To(BeEmpty(), "soft only: one node must still run both")
		terms := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
		g.Expect(terms).To(HaveLen(1))
		g.Expect(terms[0].PodAffinityTerm.TopologyKey).To(Equal("kubernetes.io/hostname"))
		sel, err = metav1.LabelSelectorAsSelector(terms[0].PodAffinityTerm.LabelSelector)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(sel.Matches(pods)).To(BeTrue(), "the anti-affinity selects the manager's pods")

		ensureNamespace(t, helmNamespace)
		applied := dryRunApply(t, out)
		g.Expect(strings.Count(applied, "(server dry run)")).To(Equal(len(m.objs)), applied)
	})

	t.Run("own affinity, no budget", func(t *testing.T) {
		g := NewWithT(t)
		m, _ := render("replicaCount=3,podDisruptionBudget.enabled=false," +
			"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=zone," +
			"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists")
		g.Expect(m.all("PodDisruptionBudget")).To(BeEmpty())
		aff := into[appsv1.Deployment](t, m.all("Deployment")[0]).Spec.Template.Spec.Affinity
		g.Expect(aff).NotTo(BeNil())
		g.Expect(aff.NodeAffinity).NotTo(BeNil())
		g.Expect(aff.PodAntiAffinity).To(BeNil(), "the values' affinity replaces the chart's")
	})
}

// TestHelmWithoutLeaderElection: without a Lease two managers must never run at once, so the chart
// refuses more than one replica and replaces the rolling update (old and new pod overlap) with Recreate.
func TestHelmWithoutLeaderElection(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	g := NewWithT(t)
	strategyOf := func(set string) appsv1.DeploymentStrategyType {
		out := runTool(t, nil, helm, "template", "vso", chartDir, "--namespace", helmNamespace, "--set", set)
		return into[appsv1.Deployment](t, manifests{objs: decode(t, out)}.all("Deployment")[0]).Spec.Strategy.Type
	}
	g.Expect(strategyOf("leaderElection.enabled=false")).To(Equal(appsv1.RecreateDeploymentStrategyType))
	g.Expect(strategyOf("leaderElection.enabled=true")).To(BeEmpty(), "the default rolling update, handed over by the Lease")

	helmRefuses(t, helm, "replicaCount > 1 needs leaderElection.enabled",
		"--namespace", helmNamespace, "--set", "leaderElection.enabled=false,replicaCount=2")
}

// TestHelmUpgradeToNoLeaderElection: an installed release upgraded to run without leader election (strategy
// Recreate) is taken by the API server: the Deployment's strategy patch drops the rollingUpdate the API
// server defaulted (retainKeys), which Recreate would refuse.
func TestHelmUpgradeToNoLeaderElection(t *testing.T) {
	requireRole(t)
	g := NewWithT(t)
	helm := helmBinary(t)
	const ns, release = "no-leader-upgrade", "vso-no-leader"
	runTool(t, nil, helm, "install", release, chartDir, "--kubeconfig", kubeconfig, "--namespace", ns, "--create-namespace", "--skip-crds")
	t.Cleanup(func() { _ = tryTool(nil, helm, "uninstall", release, "--kubeconfig", kubeconfig, "--namespace", ns) })
	runTool(t, nil, helm, "upgrade", release, chartDir, "--kubeconfig", kubeconfig, "--namespace", ns, "--set", "leaderElection.enabled=false")
	dep := &appsv1.Deployment{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: release + "-vasa-sync-operator"}, dep)).To(Succeed())
	g.Expect(dep.Spec.Strategy.Type).To(Equal(appsv1.RecreateDeploymentStrategyType))
}

// TestHelmNodeLossTolerations: the manager leaves a lost node after nodeLossTolerationSeconds, beside the
// values' own tolerations; not without leader election, where only the default 300 s keeps a pod still
// running on a partitioned node from overlapping its replacement that long.
func TestHelmNodeLossTolerations(t *testing.T) {
	requireRole(t)
	helm := helmBinary(t)
	tolerationsOf := func(set string) []corev1.Toleration {
		out := runTool(t, nil, helm, "template", "vso", chartDir, "--namespace", helmNamespace, "--set", set)
		return into[appsv1.Deployment](t, manifests{objs: decode(t, out)}.all("Deployment")[0]).Spec.Template.Spec.Tolerations
	}
	own := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "storage", Effect: corev1.TaintEffectNoSchedule}
	withOwn := "tolerations[0].key=dedicated,tolerations[0].operator=Equal,tolerations[0].value=storage,tolerations[0].effect=NoSchedule"

	g := NewWithT(t)
	g.Expect(tolerationsOf("nodeLossTolerationSeconds=45," + withOwn)).To(ConsistOf(append(nodeLossTolerations(45), own)))
	g.Expect(tolerationsOf("nodeLossTolerationSeconds=0," + withOwn)).To(ConsistOf(own))
	g.Expect(tolerationsOf("leaderElection.enabled=false")).To(BeEmpty())
}

// nodeLossTolerations are the tolerations of a node unreachable or not ready, for seconds.
func nodeLossTolerations(seconds int64) []corev1.Toleration {
	var out []corev1.Toleration
	for _, key := range []string{"node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"} {
		out = append(out, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &seconds})
	}
	return out
}
