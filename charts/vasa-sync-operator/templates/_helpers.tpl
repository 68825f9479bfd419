{{/* The chart's name. */}}
{{- define "vasa-sync-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; contains "vasa-sync" so the VasaSyncOperatorAbsent alert finds it either way. */}}
{{- define "vasa-sync-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "vasa-sync-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "vasa-sync-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ include "vasa-sync-operator.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The version label: the image tag (or appVersion), made a valid label value. */}}
{{- define "vasa-sync-operator.version" -}}
{{- regexReplaceAll "[^-A-Za-z0-9_.]" (.Values.image.tag | default .Chart.AppVersion | toString) "_" | trunc 63 | trimAll "-_." }}
{{- end }}

{{/* The manager's image: by digest when image.digest is set, else by tag. */}}
{{- define "vasa-sync-operator.image" -}}
{{- if .Values.image.digest }}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" .Values.image.digest) }}
{{- fail (printf "image.digest %q is no image digest: sha256: and 64 hex digits" .Values.image.digest) }}
{{- end }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/* Labels that select the manager's pods. app.kubernetes.io/name is the scrape job's name. */}}
{{- define "vasa-sync-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vasa-sync-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end }}

{{- define "vasa-sync-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vasa-sync-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false: the chart binds the manager's roles (cluster-wide Secret reads among them) to it, and the namespace's default ServiceAccount would give them to every pod that uses it" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The watched namespaces (watchNamespaces plus watchNamespace), as a list; empty means all namespaces.
*/}}
{{- define "vasa-sync-operator.watchNamespaces" -}}
{{- $all := .Values.watchNamespaces | default list -}}
{{- with .Values.watchNamespace }}{{ $all = append $all . }}{{ end -}}
{{- toJson ($all | uniq) -}}
{{- end }}

{{/* Where the Secret metrics.certSecretName is mounted, for --metrics-cert-path. */}}
{{- define "vasa-sync-operator.metricsCertDir" -}}
/var/run/secrets/vasa-sync-operator/metrics-certs
{{- end }}

{{/* The metrics Service's name: a Service name is at most 63 characters, so the full name is cut to
leave room for the suffix (a release name may have 53). */}}
{{- define "vasa-sync-operator.metricsServiceName" -}}
{{- printf "%s-metrics" (include "vasa-sync-operator.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/* The name the metrics endpoint's certificate is verified against. */}}
{{- define "vasa-sync-operator.metricsServerName" -}}
{{- .Values.metrics.serviceMonitor.serverName | default (printf "%s.%s.svc" (include "vasa-sync-operator.metricsServiceName" .) .Release.Namespace) }}
{{- end }}

{{/* The leader-election Lease's name: one per release (vasa-sync-operator.replication.vasa.io, the
manager's default, for a release named vasa-sync-operator). */}}
{{- define "vasa-sync-operator.leaderElectionID" -}}
{{- .Values.leaderElection.id | default (printf "%s.replication.vasa.io" (include "vasa-sync-operator.fullname" .)) }}
{{- end }}
