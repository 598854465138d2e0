{{/* Chart name, truncated to the 63 characters Kubernetes allows in a name. */}}
{{- define "platform.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name; also the Service host the Dagster workspace points at. */}}
{{- define "platform.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "platform.selectorLabels" -}}
app.kubernetes.io/name: {{ include "platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: code-server
{{- end }}

{{- define "platform.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "platform.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: data-platform
{{- end }}

{{- define "platform.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "platform.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "platform.runServiceAccountName" -}}
{{- if .Values.runServiceAccount.create }}
{{- default (printf "%s-runs" (include "platform.fullname" . | trunc 58 | trimSuffix "-")) .Values.runServiceAccount.name }}
{{- else }}
{{- required "runServiceAccount.name is required when runServiceAccount.create=false" .Values.runServiceAccount.name }}
{{- end }}
{{- end }}

{{/* The code server image: images.base, which must be pinned by digest. */}}
{{- define "platform.baseImage" -}}
{{- $ref := required "images.base is required (install with --set-json images=\"$(cat docker/images.json)\")" .Values.images.base }}
{{- if not (regexMatch "@sha256:[0-9a-f]{64}$" $ref) }}
{{- fail (printf "images.base must be referenced by digest (<repo>@sha256:<64 hex>), got %q" $ref) }}
{{- end }}
{{- $ref }}
{{- end }}

{{/*
Secret env vars as Kubernetes EnvVar dicts (secretKeyRef). Used for the code server container and,
through the container context, for every run and step pod.
*/}}
{{- define "platform.secretEnvList" -}}
{{- $env := list }}
{{- range $name := keys .Values.secretEnv | sortAlpha }}
{{- $ref := index $.Values.secretEnv $name }}
{{- if $ref }}
{{- if not (and $ref.secretName $ref.key) }}
{{- fail (printf "secretEnv.%s needs secretName and key" $name) }}
{{- end }}
{{- $env = append $env (dict "name" $name "valueFrom" (dict "secretKeyRef" (dict "name" $ref.secretName "key" $ref.key))) }}
{{- end }}
{{- end }}
{{- toJson $env }}
{{- end }}

{{/*
The code location's container context (DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT): the
K8sRunLauncher and the k8s_job_executor merge it into every run and step pod, so those pods get the
same ConfigMap, secret references, identity, security context and scratch volumes as the server.
Step op tags (`dagster-k8s/config`) then choose the image and resources per asset.
*/}}
{{- define "platform.containerContext" -}}
{{- $mounts := list (dict "name" "tmp" "mountPath" "/tmp") (dict "name" "dagster-home" "mountPath" .Values.dagsterHome) }}
{{- $volumes := list (dict "name" "tmp" "emptyDir" (dict "sizeLimit" .Values.runPods.tmpSizeLimit)) (dict "name" "dagster-home" "emptyDir" (dict "sizeLimit" "64Mi")) }}
{{- $podSpec := dict "securityContext" .Values.podSecurityContext "automountServiceAccountToken" true }}
{{- $k8s := dict "namespace" .Release.Namespace "service_account_name" (include "platform.runServiceAccountName" .) "image_pull_policy" .Values.imagePullPolicy "env_config_maps" (list (include "platform.fullname" .)) "env" (include "platform.secretEnvList" . | fromJsonArray) "volumes" $volumes "volume_mounts" $mounts "security_context" .Values.securityContext "resources" .Values.runPods.resources "labels" (dict "app.kubernetes.io/part-of" "data-platform") "run_k8s_config" (dict "pod_spec_config" $podSpec) }}
{{- if .Values.imagePullSecrets }}
{{- $_ := set $k8s "image_pull_secrets" .Values.imagePullSecrets }}
{{- end }}
{{- toJson (dict "k8s" $k8s) }}
{{- end }}
