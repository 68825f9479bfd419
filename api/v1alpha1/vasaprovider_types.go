package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Binding is the SMS API encoding used on the wire.
// +kubebuilder:validation:Enum=SOAP;JSON
type Binding string

const (
	// BindingSOAP is the SOAP/XML binding at /sms/sdk.
	BindingSOAP Binding = "SOAP"
	// BindingJSON is the VI/JSON binding (vCenter 8.0U1 and later).
	BindingJSON Binding = "JSON"
)

// VasaProviderSpec says how to reach one VASA provider registered in a vCenter.
// +kubebuilder:validation:XValidation:rule="has(self.provider.name) != has(self.provider.uid)",message="provider: set exactly one of provider.name and provider.uid",fieldPath=".provider"
type VasaProviderSpec struct {
	// vcenter is the vCenter whose Storage Monitoring Service (SMS) the provider is registered in.
	// +required
	VCenter VCenterSpec `json:"vcenter"`

	// provider selects the provider by VasaProviderInfo.name or uid; exactly one must be set.
	// +required
	Provider ProviderSelector `json:"provider"`

	// binding is the wire encoding: SOAP (default) or JSON (vCenter 8.0U1 and later).
	// +optional
	// +kubebuilder:default=SOAP
	Binding Binding `json:"binding,omitempty"`

	// maxBatchSize caps the replication groups per SyncReplicationGroup_Task call.
	// 0 (default) means no cap of our own: the size is learned from the provider's TooMany fault.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	MaxBatchSize int32 `json:"maxBatchSize,omitempty"`

	// maxConcurrentTasks limits the SMS sync tasks in flight on this provider, shared by every
	// ReplicationSync that uses it. Defaults to 4.
	// +optional
	// +kubebuilder:default=4
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	MaxConcurrentTasks int32 `json:"maxConcurrentTasks,omitempty"`

	// The duration fields take a subset of Go's duration syntax (time.ParseDuration, behind
	// metav1.Duration): the API server's "duration" format alone also admits "10 minutes" or "1d", which
	// the manager could then not decode. At most four parts of five integer digits keep any value far
	// below the int64 overflow that Go rejects.

	// inDoubtWindow is the least time a group whose sync call got no answer (a timeout, a lost
	// response, a crash before its task ref was written) waits before it is issued again: the first
	// call may have started a task that is still running. The window used is the largest of this, 60s
	// (how long after its claim a call may still reach vCenter) and twice the task duration the provider
	// has shown (status.observedTaskDuration). During the window
	// the operator only looks for the group's PiT. Defaults to 2m; at least 5s, written in Go's duration
	// syntax (e.g. 90s, 2m, 1h30m). The minimum rules out no window at all (0s or negative would re-issue
	// at once, before a PiT query could show the first call's PiT); it is kept low for arrays whose syncs
	// take seconds, since the window widens to twice the observed task duration anyway.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}(\\\\.[0-9]{1,9})?(ns|us|ms|s|m|h)){1,4})$') && duration(self) >= duration('5s')",message="inDoubtWindow must be a duration in Go's syntax (a number and a unit: ns, us, ms, s, m, h), such as 90s, 2m or 1h30m, of at least 5s"
	InDoubtWindow *metav1.Duration `json:"inDoubtWindow,omitempty"`

	// discovery sets how the provider's replication groups are discovered into ReplicationGroup objects.
	// Defaults to an interval of 5m.
	// +optional
	// +kubebuilder:default={interval: "5m"}
	Discovery DiscoverySpec `json:"discovery,omitempty"`
}

// DiscoverySpec sets how often the provider's replication groups and their newest PiTs are read.
type DiscoverySpec struct {
	// interval between two discoveries of the provider's replication groups; defaults to 5m. "0s" turns
	// discovery off (existing ReplicationGroups are then left as they are). At least 30s otherwise, written
	// in Go's duration syntax (e.g. 30s, 5m, 1h).
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|([0-9]{1,5}(\\\\.[0-9]{1,9})?(ns|us|ms|s|m|h)){1,4})$') && (duration(self) == duration('0s') || duration(self) >= duration('30s'))",message="discovery.interval must be 0s (off), or a duration in Go's syntax (a number and a unit: ns, us, ms, s, m, h) of at least 30s, such as 30s, 5m or 1h"
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// DiscoveryStatus is how the discoveries of a provider's replication groups went. A discovery that did not
// complete leaves lastSuccessTime and groups as they were and says why in message.
type DiscoveryStatus struct {
	// lastAttemptTime is when the last discovery ran.
	// +optional
	LastAttemptTime *metav1.Time `json:"lastAttemptTime,omitempty"`

	// lastDuration is how long the last discovery took; one that did not complete only replaces a
	// shorter one. A finished ReplicationSync is kept past its TTL until a discovery records it in its
	// groups' lastSync: up to 5 minutes, or four times this if longer.
	// +optional
	LastDuration *metav1.Duration `json:"lastDuration,omitempty"`

	// lastSuccessTime is when a discovery last listed the provider's groups and wrote every
	// ReplicationGroup.
	// +optional
	LastSuccessTime *metav1.Time `json:"lastSuccessTime,omitempty"`

	// groups is how many replication groups the provider listed at lastSuccessTime.
	// +optional
	Groups int32 `json:"groups,omitempty"`

	// message says why the last discovery did not complete, or, when it did, what it could not read
	// (groups the provider did not answer for, PiTs, an array without PiT support); empty otherwise.
	// +optional
	// +kubebuilder:validation:MaxLength=32768
	Message string `json:"message,omitempty"`
}

// VCenterSpec is the vCenter endpoint and how to authenticate to it.
type VCenterSpec struct {
	// url of the vCenter, https only, e.g. https://vc.example.com or https://vc.example.com:8443; a path
	// of /sdk is allowed and ignored, any other path, a query or a fragment is refused (the operator
	// calls /sdk and /sms/sdk on the host itself).
	// +required
	// +kubebuilder:validation:MinLength=9
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://')",message="vcenter.url must start with https://"
	// +kubebuilder:validation:XValidation:rule="isURL(self)",message="vcenter.url must be a valid URL"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')",message="vcenter.url must not carry a user or password (user:password@host): put them in the Secret named by vcenter.credentialsSecretRef"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getHostname() != ''",message="vcenter.url must name the vCenter's host, e.g. https://vc.example.com"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || url(self).getPort() == '' || (int(url(self).getPort()) >= 1 && int(url(self).getPort()) <= 65535)",message="vcenter.url: the port must be between 1 and 65535"
	// +kubebuilder:validation:XValidation:rule="!isURL(self) || (url(self).getEscapedPath() in ['', '/', '/sdk', '/sdk/'] && !self.contains('?') && !self.contains('#'))",message="vcenter.url must be the vCenter's address, https://host or https://host:port, without a path (other than /sdk), query or fragment: the operator calls the vCenter's /sdk and /sms/sdk itself"
	URL string `json:"url"`

	// smsVersion pins the SMS API version: the "urn:sms/<version>" of the SOAP binding or the release path
	// of the JSON binding, e.g. 7.0.3.2. Empty (default) negotiates the newest version the vCenter accepts.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+){1,3})?$`
	SMSVersion string `json:"smsVersion,omitempty"`

	// credentialsSecretRef names a Secret in the same namespace with keys "username" and "password".
	// +required
	CredentialsSecretRef LocalObjectReference `json:"credentialsSecretRef"`

	// tls controls server certificate verification; verification is on by default
	// against the system roots.
	// +optional
	TLS TLSSpec `json:"tls,omitempty"`
}

// TLSSpec sets how the vCenter certificate is verified. At most one field may be set.
// +kubebuilder:validation:XValidation:rule="(has(self.caBundleSecretRef) ? 1 : 0) + (has(self.thumbprint) ? 1 : 0) + (has(self.insecureSkipVerify) && self.insecureSkipVerify ? 1 : 0) <= 1",message="vcenter.tls: set at most one of caBundleSecretRef, thumbprint and insecureSkipVerify"
type TLSSpec struct {
	// caBundleSecretRef names a Secret key holding PEM CA certificates to trust (key defaults to ca.crt).
	// +optional
	CABundleSecretRef *SecretKeySelector `json:"caBundleSecretRef,omitempty"`

	// thumbprint pins the server certificate by its SHA-256 fingerprint, written
	// "SHA256:AA:BB:..." (32 colon-separated hex bytes).
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^SHA256:([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$')",message="vcenter.tls.thumbprint must be the certificate's SHA-256 fingerprint: SHA256: and 32 colon-separated hex bytes, as openssl x509 -noout -fingerprint -sha256 prints them after the = (a 20-byte SHA-1 thumbprint is not accepted)"
	Thumbprint string `json:"thumbprint,omitempty"`

	// insecureSkipVerify turns certificate verification off. Strongly discouraged; defaults to false.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// ProviderSelector picks one provider registered in the vCenter.
type ProviderSelector struct {
	// name is the provider's VasaProviderInfo.name, not blank.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.trim().size() > 0",message="name must not be blank"
	Name string `json:"name,omitempty"`

	// uid is the provider's VasaProviderInfo.uid, not blank.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:XValidation:rule="self.trim().size() > 0",message="uid must not be blank"
	UID string `json:"uid,omitempty"`
}

// ManagedObjectReference is a vSphere managed object reference.
type ManagedObjectReference struct {
	// type of the managed object, e.g. VasaProvider.
	// +optional
	Type string `json:"type,omitempty"`
	// value is the managed object id, e.g. vasaprovider-7.
	// +optional
	Value string `json:"value,omitempty"`
}

// ProviderInfo is what the provider reports about itself.
type ProviderInfo struct {
	// name is VasaProviderInfo.name.
	// +optional
	Name string `json:"name,omitempty"`
	// uid is VasaProviderInfo.uid.
	// +optional
	UID string `json:"uid,omitempty"`
	// version is the provider's software version.
	// +optional
	Version string `json:"version,omitempty"`
	// status is the provider's status as SMS reports it (e.g. online).
	// +optional
	Status string `json:"status,omitempty"`
}

// VasaProviderStatus is the observed state of a VasaProvider.
type VasaProviderStatus struct {
	// conditions: Ready is True when the provider was reached and found.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// providerRef is the provider's managed object reference in SMS.
	// +optional
	ProviderRef *ManagedObjectReference `json:"providerRef,omitempty"`

	// providerInfo is what the provider reports about itself.
	// +optional
	ProviderInfo *ProviderInfo `json:"providerInfo,omitempty"`

	// vcenterVersion is the vCenter's version and build as it reports them (AboutInfo), e.g.
	// "8.0.3 build-24022515".
	// +optional
	VCenterVersion string `json:"vcenterVersion,omitempty"`

	// vcenterInstanceUuid is the vCenter's AboutInfo.instanceUuid, one per installation. A run compares it
	// with its own (ReplicationSync status.vcenterInstanceUuid) to tell its tasks are this vCenter's.
	// +optional
	VCenterInstanceUUID string `json:"vcenterInstanceUuid,omitempty"`

	// smsVersion is the SMS API version in use: negotiated with the vCenter, or spec.vcenter.smsVersion.
	// +optional
	SMSVersion string `json:"smsVersion,omitempty"`

	// tlsVerification says how the vCenter certificate is verified: CABundle, Thumbprint, SystemRoots, or
	// Disabled when spec.vcenter.tls.insecureSkipVerify is set (the connection can be intercepted).
	// +optional
	TLSVerification TLSVerification `json:"tlsVerification,omitempty"`

	// learnedMaxBatchSize is the batch size the provider's TooMany fault taught; 0 until learned.
	// +optional
	LearnedMaxBatchSize int32 `json:"learnedMaxBatchSize,omitempty"`

	// observedTaskDuration is the longest sync task duration recently seen on this provider; it
	// widens the in-doubt window (spec.inDoubtWindow). Unset until a task finished.
	// +optional
	ObservedTaskDuration *metav1.Duration `json:"observedTaskDuration,omitempty"`

	// lastCheckedTime is when the connection was last verified.
	// +optional
	LastCheckedTime *metav1.Time `json:"lastCheckedTime,omitempty"`

	// discovery is how the discoveries of the provider's replication groups went. Unset while discovery
	// is off (spec.discovery.interval: 0s) and until the first one ran.
	// +optional
	Discovery *DiscoveryStatus `json:"discovery,omitempty"`

	// observedGeneration is the generation the status describes.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// VasaProvider Ready condition reasons.
const (
	// ConnectedReason: logged in and found the provider.
	ConnectedReason = "Connected"
	// SecretNotFoundReason: the credentials or CA Secret (or a key of it) is missing, or the manager may
	// not read it.
	SecretNotFoundReason = "SecretNotFound"
	// InvalidCredentialsReason: vCenter refused the username or password.
	InvalidCredentialsReason = "InvalidCredentials"
	// TLSVerificationFailedReason: the server certificate did not verify.
	TLSVerificationFailedReason = "TLSVerificationFailed"
	// ProviderNotFoundReason: no provider with that name or uid is registered.
	ProviderNotFoundReason = "ProviderNotFound"
	// ProviderAmbiguousReason: more than one provider has the name in spec.provider.name; set its uid instead.
	ProviderAmbiguousReason = "ProviderAmbiguous"
	// UnreachableReason: vCenter could not be reached.
	UnreachableReason = "Unreachable"
	// ProviderInactiveReason is reserved. A provider that reports itself offline stays Ready: runs go on
	// and its InactiveProvider faults re-route their groups to the active provider.
	ProviderInactiveReason = "ProviderInactive"
	// InvalidCABundleReason: the CA bundle Secret key holds no PEM certificate.
	InvalidCABundleReason = "InvalidCABundle"
	// SMSVersionUnsupportedReason: the vCenter accepts none of the SMS versions offered (or the pinned one).
	SMSVersionUnsupportedReason = "SMSVersionUnsupported"
	// JSONBindingUnsupportedReason: the vCenter does not serve the VI/JSON binding; use SOAP.
	JSONBindingUnsupportedReason = "JSONBindingUnsupported"
	// ServiceInitializingReason: the vCenter's SMS service is starting (HTTP 503 or ServiceNotInitialized).
	ServiceInitializingReason = "ServiceInitializing"
	// VCenterFaultReason: vCenter answered the provider lookup with NoPermission: the user lacks a
	// privilege SMS needs, which retrying does not clear.
	VCenterFaultReason = "VCenterFault"
	// RedirectedReason: spec.vcenter.url answered with an HTTP redirect (a proxy or load balancer in
	// front of vCenter), which is not followed: set the url to the address that serves the API.
	RedirectedReason = "Redirected"
)

// TLSVerification is how the vCenter certificate is verified.
// +kubebuilder:validation:Enum=CABundle;Thumbprint;SystemRoots;Disabled
type TLSVerification string

const (
	// TLSVerificationCABundle verifies against spec.vcenter.tls.caBundleSecretRef.
	TLSVerificationCABundle TLSVerification = "CABundle"
	// TLSVerificationThumbprint pins the certificate by spec.vcenter.tls.thumbprint.
	TLSVerificationThumbprint TLSVerification = "Thumbprint"
	// TLSVerificationSystemRoots verifies against the system roots.
	TLSVerificationSystemRoots TLSVerification = "SystemRoots"
	// TLSVerificationDisabled means spec.vcenter.tls.insecureSkipVerify: no verification at all.
	TLSVerificationDisabled TLSVerification = "Disabled"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vp,categories=vasa
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="vCenter",type=string,JSONPath=`.spec.vcenter.url`,priority=1
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.status.providerInfo.name`
// +kubebuilder:printcolumn:name="TLS",type=string,JSONPath=`.status.tlsVerification`
// +kubebuilder:printcolumn:name="SMS",type=string,JSONPath=`.status.smsVersion`,priority=1
// +kubebuilder:printcolumn:name="Batch",type=integer,JSONPath=`.status.learnedMaxBatchSize`
// +kubebuilder:printcolumn:name="Groups",type=integer,JSONPath=`.status.discovery.groups`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// VasaProvider says how to reach one VASA provider through a vCenter's SMS.
type VasaProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired connection.
	// +required
	Spec VasaProviderSpec `json:"spec"`
	// status is the observed connection state.
	// Until the operator has written it, it reads observedGeneration -1, so that kstatus (Flux, Helm,
	// kubectl wait) holds a new object InProgress, not Current.
	// +optional
	// +kubebuilder:default={}
	Status VasaProviderStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// VasaProviderList is a list of VasaProviders.
type VasaProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VasaProvider `json:"items"`
}
