package v1alpha1_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
)

const noUserinfo = "vcenter.url must not carry a user or password (user:password@host): put them in the Secret named by vcenter.credentialsSecretRef"

// TestVasaProviderRejectsUserinfoURLs: credentials in the URL would be copied into status, events and logs.
func TestVasaProviderRejectsUserinfoURLs(t *testing.T) {
	runRejected(t, validProvider, map[string]rejected{
		"user and password": {
			mutations: []mutation{set("https://admin:s3cret@vcenter.example.com/sdk", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: noUserinfo,
		},
		"user only": {
			mutations: []mutation{set("https://administrator%40vsphere.local@vcenter.example.com", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: noUserinfo,
		},
		"empty userinfo": {
			mutations: []mutation{set("https://@vcenter.example.com:443", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: noUserinfo,
		},
		"smsVersion not a version": {
			mutations: []mutation{set("urn:sms/8.0.3.0", "spec", "vcenter", "smsVersion")},
			field:     "spec.vcenter.smsVersion", message: "should match",
		},
	})
}

func TestVasaProviderAcceptsURLsWithoutUserinfo(t *testing.T) {
	runAccepted(t, validProvider, map[string][]mutation{
		"pinned version": {set("7.0.3.2", "spec", "vcenter", "smsVersion")},
		// A template (Helm, Kustomize) that renders an unset value as "" means: negotiate.
		"empty version": {set("", "spec", "vcenter", "smsVersion")},
	})
}

// TestVasaProviderURLAtSignAfterHost: an @ in a path or query is no userinfo. Such URLs are refused for
// their path or query, and the message must say that, not blame a password that is not there.
func TestVasaProviderURLAtSignAfterHost(t *testing.T) {
	ns := newNamespace(t)
	for name, url := range map[string]string{
		"@ in the path":  "https://vcenter.example.com/sdk/a@b",
		"@ in the query": "https://vcenter.example.com/sdk?x=a@b",
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := k8sClient.Create(context.Background(), validProvider(ns, objectName(name), set(url, "spec", "vcenter", "url")))
			expectRejected(g, err, "spec.vcenter.url", "without a path (other than /sdk), query or fragment")
			g.Expect(err.Error()).NotTo(ContainSubstring(noUserinfo))
		})
	}
}
