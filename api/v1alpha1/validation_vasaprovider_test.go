package v1alpha1_test

import "testing"

func TestVasaProviderRejectsBadInput(t *testing.T) {
	const thumbprint = "SHA256:0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1:F0:0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1:F0"
	caBundle := map[string]any{"name": "vcenter-ca"}
	const oneTLS = "vcenter.tls: set at most one of caBundleSecretRef, thumbprint and insecureSkipVerify"
	const oneProvider = "provider: set exactly one of provider.name and provider.uid"
	const (
		thumbprintFormat = "vcenter.tls.thumbprint must be the certificate's SHA-256 fingerprint: SHA256: and 32 colon-separated hex bytes"
		urlHost          = "vcenter.url must name the vCenter's host"
		urlPort          = "vcenter.url: the port must be between 1 and 65535"
		urlAddress       = "vcenter.url must be the vCenter's address, https://host or https://host:port, without a path (other than /sdk), query or fragment"
	)
	runRejected(t, validProvider, map[string]rejected{
		"provider.name blank": {
			mutations: []mutation{set("   ", "spec", "provider", "name")},
			field:     "spec.provider.name", message: "name must not be blank",
		},
		"provider.uid blank": {
			mutations: []mutation{set(" ", "spec", "provider", "uid")},
			field:     "spec.provider.uid", message: "uid must not be blank",
		},
		"vcenter.url http": {
			mutations: []mutation{set("http://vcenter.example.com", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: "vcenter.url must start with https://",
		},
		"vcenter.url without scheme": {
			mutations: []mutation{set("vcenter.example.com", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: "vcenter.url must start with https://",
		},
		"vcenter.url not a URL": {
			mutations: []mutation{set("https://vcenter example com/sdk", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: "vcenter.url must be a valid URL",
		},
		// The operator keeps only the scheme and host of the URL: a path, query or fragment would be
		// dropped without a word, and a URL without a host or with port 0 could only ever be Unreachable.
		"vcenter.url without a host": {
			mutations: []mutation{set("https://:443", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlHost,
		},
		"vcenter.url with an empty authority": {
			mutations: []mutation{set("https:///sdk", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlHost,
		},
		"vcenter.url with port 0": {
			mutations: []mutation{set("https://vcenter.example.com:0", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlPort,
		},
		"vcenter.url with port 99999": {
			mutations: []mutation{set("https://vcenter.example.com:99999", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlPort,
		},
		"vcenter.url with the UI path": {
			mutations: []mutation{set("https://vcenter.example.com/ui", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlAddress,
		},
		"vcenter.url behind a path prefix": {
			mutations: []mutation{set("https://proxy.example.com/vcenter-1/sdk", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlAddress,
		},
		"vcenter.url with a query": {
			mutations: []mutation{set("https://vcenter.example.com/sdk?verify=0", "spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: urlAddress,
		},
		"vcenter.url missing": {
			mutations: []mutation{unset("spec", "vcenter", "url")},
			field:     "spec.vcenter.url", message: required,
		},
		"credentialsSecretRef missing": {
			mutations: []mutation{unset("spec", "vcenter", "credentialsSecretRef")},
			field:     "spec.vcenter.credentialsSecretRef", message: required,
		},
		"credentialsSecretRef.name empty": {
			mutations: []mutation{set("", "spec", "vcenter", "credentialsSecretRef", "name")},
			field:     "spec.vcenter.credentialsSecretRef.name", message: minLength1,
		},
		"credentialsSecretRef.name with a space": {
			mutations: []mutation{set("vcenter credentials", "spec", "vcenter", "credentialsSecretRef", "name")},
			field:     "spec.vcenter.credentialsSecretRef.name", message: objectNameRule,
		},
		"caBundleSecretRef.name ending in a dot": {
			mutations: []mutation{set(map[string]any{"caBundleSecretRef": map[string]any{"name": "vcenter-ca."}}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.caBundleSecretRef.name", message: objectNameRule,
		},
		"caBundleSecretRef.key with a slash": {
			mutations: []mutation{set(map[string]any{"caBundleSecretRef": map[string]any{"name": "vcenter-ca", "key": "certs/ca.crt"}}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.caBundleSecretRef.key", message: "key must be a Secret key: letters, digits, '-', '_' and '.'",
		},
		"tls caBundleSecretRef and thumbprint": {
			mutations: []mutation{set(map[string]any{"caBundleSecretRef": caBundle, "thumbprint": thumbprint}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls", message: oneTLS,
		},
		"tls thumbprint and insecureSkipVerify": {
			mutations: []mutation{set(map[string]any{"thumbprint": thumbprint, "insecureSkipVerify": true}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls", message: oneTLS,
		},
		"tls caBundleSecretRef and insecureSkipVerify": {
			mutations: []mutation{set(map[string]any{"caBundleSecretRef": caBundle, "insecureSkipVerify": true}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls", message: oneTLS,
		},
		"tls all three": {
			mutations: []mutation{set(map[string]any{"caBundleSecretRef": caBundle, "thumbprint": thumbprint, "insecureSkipVerify": true}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls", message: oneTLS,
		},
		"tls thumbprint SHA-1": {
			mutations: []mutation{set(map[string]any{"thumbprint": "SHA1:0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1:F0:0F:1E:2D:3C"}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.thumbprint", message: thumbprintFormat,
		},
		"tls thumbprint too short": {
			mutations: []mutation{set(map[string]any{"thumbprint": "SHA256:0F:1E:2D"}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.thumbprint", message: thumbprintFormat,
		},
		"tls thumbprint pasted from openssl with its label": {
			mutations: []mutation{set(map[string]any{"thumbprint": "sha256 Fingerprint=" + thumbprint[len("SHA256:"):]}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.thumbprint", message: thumbprintFormat,
		},
		"tls thumbprint without the SHA256: prefix": {
			mutations: []mutation{set(map[string]any{"thumbprint": thumbprint[len("SHA256:"):]}, "spec", "vcenter", "tls")},
			field:     "spec.vcenter.tls.thumbprint", message: thumbprintFormat,
		},
		"provider name and uid": {
			mutations: []mutation{set(map[string]any{"name": "array-a-vp", "uid": "3e2a5c7e-1111-4a5b-9c0d-000000000001"}, "spec", "provider")},
			field:     "spec.provider", message: oneProvider,
		},
		"provider neither name nor uid": {
			mutations: []mutation{set(map[string]any{}, "spec", "provider")},
			field:     "spec.provider", message: oneProvider,
		},
		"provider missing": {
			mutations: []mutation{unset("spec", "provider")},
			field:     "spec.provider", message: required,
		},
		"binding XML": {
			mutations: []mutation{set("XML", "spec", "binding")},
			field:     "spec.binding", message: `supported values: "SOAP", "JSON"`,
		},
		"binding lower case": {
			mutations: []mutation{set("soap", "spec", "binding")},
			field:     "spec.binding", message: `supported values: "SOAP", "JSON"`,
		},
		"maxConcurrentTasks zero": {
			mutations: []mutation{set(int64(0), "spec", "maxConcurrentTasks")},
			field:     "spec.maxConcurrentTasks", message: atLeastOne,
		},
		"maxConcurrentTasks above 64": {
			mutations: []mutation{set(int64(65), "spec", "maxConcurrentTasks")},
			field:     "spec.maxConcurrentTasks", message: "should be less than or equal to 64",
		},
		"maxBatchSize negative": {
			mutations: []mutation{set(int64(-1), "spec", "maxBatchSize")},
			field:     "spec.maxBatchSize", message: notNegative,
		},
	})
}

func TestVasaProviderAcceptsGoodInput(t *testing.T) {
	runAccepted(t, validProvider, map[string][]mutation{
		"provider by uid":        {set(map[string]any{"uid": "3e2a5c7e-1111-4a5b-9c0d-000000000001"}, "spec", "provider")},
		"url with port and path": {set("https://vcenter.example.com:8443/sdk", "spec", "vcenter", "url")},
		"url with /sdk/":         {set("https://vcenter.example.com/sdk/", "spec", "vcenter", "url")},
		"url with a slash":       {set("https://vcenter.example.com/", "spec", "vcenter", "url")},
		"url with an IPv6 host":  {set("https://[fd00::10]:443", "spec", "vcenter", "url")},
		"url with port 65535":    {set("https://10.0.0.10:65535", "spec", "vcenter", "url")},
		"caBundleSecretRef only": {set(map[string]any{"caBundleSecretRef": map[string]any{"name": "vcenter-ca", "key": "bundle.pem"}}, "spec", "vcenter", "tls")},
		"thumbprint with insecureSkipVerify false": {set(map[string]any{
			"thumbprint":         "SHA256:0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0:0f:1e:2d:3c:4b:5a:69:78:87:96:a5:b4:c3:d2:e1:f0",
			"insecureSkipVerify": false,
		}, "spec", "vcenter", "tls")},
		"insecureSkipVerify alone": {set(map[string]any{"insecureSkipVerify": true}, "spec", "vcenter", "tls")},
		"JSON binding":             {set("JSON", "spec", "binding")},
		"Secret names with dots":   {set("vcenter.credentials.v2", "spec", "vcenter", "credentialsSecretRef", "name")},
	})
}
