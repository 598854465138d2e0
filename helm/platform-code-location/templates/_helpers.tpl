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

{{/* Labels of every object, without a component (each object adds its own exactly once). */}}
{{- define "platform.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "platform.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: data-platform
{{- end }}

{{- define "platform.labels" -}}
{{ include "platform.commonLabels" . }}
app.kubernetes.io/component: code-server
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

{{- define "platform.programServiceAccountName" -}}
{{- if .Values.programServiceAccount.create }}
{{- default (printf "%s-programs" (include "platform.fullname" . | trunc 54 | trimSuffix "-")) .Values.programServiceAccount.name }}
{{- else }}
{{- required "programServiceAccount.name is required when programServiceAccount.create=false" .Values.programServiceAccount.name }}
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

{{/* A map NAME -> {secretName, key} as a JSON list of Kubernetes EnvVars (secretKeyRef). */}}
{{- define "platform.envFromSecretMap" -}}
{{- $env := list }}
{{- range $name := keys .map | sortAlpha }}
{{- $ref := index $.map $name }}
{{- if $ref }}
{{- if not (and $ref.secretName $ref.key) }}
{{- fail (printf "%s.%s needs secretName and key" $.where $name) }}
{{- end }}
{{- $env = append $env (dict "name" $name "valueFrom" (dict "secretKeyRef" (dict "name" $ref.secretName "key" $ref.key))) }}
{{- end }}
{{- end }}
{{- toJson $env }}
{{- end }}

{{/* Shared secrets (secretEnv): code server, run and step pods, program staging containers. */}}
{{- define "platform.secretEnvList" -}}
{{- include "platform.envFromSecretMap" (dict "map" .Values.secretEnv "where" "secretEnv") }}
{{- end }}

{{/* Family secrets: family -> EnvVar list. */}}
{{- define "platform.familySecretEnv" -}}
{{- $families := dict }}
{{- range $family, $map := .Values.familySecretEnv }}
{{- $_ := set $families $family (include "platform.envFromSecretMap" (dict "map" ($map | default dict) "where" (printf "familySecretEnv.%s" $family)) | fromJsonArray) }}
{{- end }}
{{- toJson $families }}
{{- end }}

{{/* The code server's secrets: shared + every family's (its sensors call the CTS, the goals DB). */}}
{{- define "platform.codeServerSecretEnvList" -}}
{{- $env := include "platform.secretEnvList" . | fromJsonArray }}
{{- $families := include "platform.familySecretEnv" . | fromJson }}
{{- range $family := keys $families | sortAlpha }}
{{- $env = concat $env (index $families $family) }}
{{- end }}
{{- toJson $env }}
{{- end }}

{{/* PLATFORM_K8S_SECRETS: the references the platform puts into step op tags and program pods. */}}
{{- define "platform.k8sSecrets" -}}
{{- toJson (dict "shared" (include "platform.secretEnvList" . | fromJsonArray) "families" (include "platform.familySecretEnv" . | fromJson)) }}
{{- end }}

{{/*
The code location's container context (DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT): the
K8sRunLauncher and the k8s_job_executor merge it into every run and step pod, so those pods get the
ConfigMap, the SHARED secret references, identity, security context and scratch volumes. Family
secrets are not here: each step's op tags (`dagster-k8s/config`) add its own family's, with its
image, resources and labels; the executor takes the service-account token away from steps.
*/}}
{{- define "platform.containerContext" -}}
{{- $mounts := list (dict "name" "tmp" "mountPath" "/tmp") (dict "name" "dagster-home" "mountPath" .Values.dagsterHome) }}
{{- $volumes := list (dict "name" "tmp" "emptyDir" (dict "sizeLimit" .Values.runPods.tmpSizeLimit)) (dict "name" "dagster-home" "emptyDir" (dict "sizeLimit" "64Mi")) }}
{{- $podSpec := dict "securityContext" .Values.podSecurityContext "automountServiceAccountToken" true "enableServiceLinks" false }}
{{- $labels := dict "app.kubernetes.io/part-of" "data-platform" "data-platform/role" "run" }}
{{- $k8s := dict "namespace" .Release.Namespace "service_account_name" (include "platform.runServiceAccountName" .) "image_pull_policy" .Values.imagePullPolicy "env_config_maps" (list (include "platform.fullname" .)) "env" (include "platform.secretEnvList" . | fromJsonArray) "volumes" $volumes "volume_mounts" $mounts "security_context" .Values.securityContext "resources" .Values.runPods.resources "labels" $labels "run_k8s_config" (dict "pod_spec_config" $podSpec) }}
{{- if .Values.imagePullSecrets }}
{{- $_ := set $k8s "image_pull_secrets" .Values.imagePullSecrets }}
{{- end }}
{{- toJson (dict "k8s" $k8s) }}
{{- end }}
