{{/* The release's full name: the release name when it contains the chart's, else both. */}}
{{- define "htx-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "htx-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "htx-operator.labels" -}}
{{ include "htx-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: htx-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "htx-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "htx-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "htx-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "htx-operator.leaseName" -}}
{{- printf "%s-leader" (include "htx-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The kinds of htx.vinacis.com the operator manages (plural resource names), as a YAML list. */}}
{{- define "htx-operator.kinds" -}}
{{- toYaml (list "databases" "functions" "proxies" "backups" "backupschedules") -}}
{{- end -}}

{{/* One subresource (status, finalizers) of every managed kind, as a YAML list. */}}
{{- define "htx-operator.subresources" -}}
{{- $sub := . -}}
{{- $out := list -}}
{{- range (list "databases" "functions" "proxies" "backups" "backupschedules") -}}
{{- $out = append $out (printf "%s/%s" . $sub) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
The rules for the namespaces the operator manages: the whole cluster (a ClusterRole) or each
watched namespace (a Role). Every rule says why it is there.
*/}}
{{- define "htx-operator.managerRules" -}}
# Watch the managed kinds: the controllers list and watch them, reconciles read them.
- apiGroups: [htx.vinacis.com]
  resources:
    {{- include "htx-operator.kinds" . | nindent 4 }}
  verbs: [get, list, watch]
# Add and remove the operator's finalizer (a JSON patch of metadata.finalizers, nothing else).
- apiGroups: [htx.vinacis.com]
  resources:
    {{- include "htx-operator.kinds" . | nindent 4 }}
  verbs: [patch]
# A BackupSchedule creates its Backup objects and deletes the oldest beyond its history limit.
- apiGroups: [htx.vinacis.com]
  resources: [backups]
  verbs: [create, delete]
# Write status (server-side apply on the status subresource only).
- apiGroups: [htx.vinacis.com]
  resources:
    {{- include "htx-operator.subresources" "status" | nindent 4 }}
  verbs: [patch]
# Owner references with blockOwnerDeletion on the Secrets and Backups an object owns: required
# where the OwnerReferencesPermissionEnforcement admission plugin is on (OpenShift, for one).
- apiGroups: [htx.vinacis.com]
  resources:
    {{- include "htx-operator.subresources" "finalizers" | nindent 4 }}
  verbs: [update]
# Secrets by name only, never listed or watched: read a tokenSecretRef's token, and read, create
# and update (server-side apply) the connection Secret of writeConnectionSecretToRef.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, patch]
# Events on the managed objects, which `kubectl describe` shows (events.k8s.io/v1).
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
