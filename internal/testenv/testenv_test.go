package testenv

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestStartInstallsCRDs(t *testing.T) {
	g := NewWithT(t)
	env, cfg, err := Start()
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { g.Expect(env.Stop()).To(Succeed()) }()
	s := Scheme
	g.Expect(apiextensionsv1.AddToScheme(s)).To(Succeed())
	c, err := client.New(cfg, client.Options{Scheme: s})
	g.Expect(err).NotTo(HaveOccurred())
	for _, name := range []string{"vasaproviders.replication.vasa.io", "replicationsyncs.replication.vasa.io", "replicationsyncschedules.replication.vasa.io"} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		g.Expect(c.Get(context.Background(), client.ObjectKey{Name: name}, crd)).To(Succeed(), name)
	}
}
