package v1alpha1_test

import "testing"

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
		"@ in the path":  {set("https://vcenter.example.com/sdk/a@b", "spec", "vcenter", "url")},
		"@ in the query": {set("https://vcenter.example.com/sdk?x=a@b", "spec", "vcenter", "url")},
		"pinned version": {set("7.0.3.2", "spec", "vcenter", "smsVersion")},
	})
}
