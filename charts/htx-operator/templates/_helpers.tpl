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

{{/* A YAML list of plural resource names of htx.vinacis.com, each with an optional subresource. */}}
{{- define "htx-operator.resources" -}}
{{- $sub := .sub -}}
{{- $out := list -}}
{{- range .kinds -}}
{{- $out = append $out (ternary (printf "%s/%s" . $sub) . (ne $sub "")) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
The rules for the namespaces the operator manages: the whole cluster (a ClusterRole) or each
watched namespace (a Role). Every rule says why it is there.
*/}}
{{- define "htx-operator.managerRules" -}}
{{- $all := list "databases" "functions" "proxies" "backups" "backupschedules" "providerconfigs" -}}
{{- $portal := list "databases" "functions" "proxies" -}}
# Watch the managed kinds: the controllers list and watch them, reconciles read them.
- apiGroups: [htx.vinacis.com]
  resources:
    {{- include "htx-operator.resources" (dict "kinds" $all "sub" "") | nindent 4 }}
  verbs: [get, list, watch]
# Add and remove the finalizer of the kinds that own a portal resource, and of ProviderConfigs
# (kept while an object still needs their credentials): a JSON patch of metadata.finalizers,
# nothing else of the object.
- apiGroups: [htx.vinacis.com]
  resources:
    {{- include "htx-operator.resources" (dict "kinds" (append $portal "providerconfigs") "sub" "") | nindent 4 }}
  verbs: [patch]
# A BackupSchedule creates its Backup objects and deletes the oldest beyond its history limits.
- apiGroups: [htx.vinacis.com]
  resources: [backups]
  verbs: [create, delete]
# Write status (server-side apply on the status subresource only).
- apiGroups: [htx.vinacis.com]
  resources:
    {{- include "htx-operator.resources" (dict "kinds" $all "sub" "status") | nindent 4 }}
  verbs: [patch]
# Owner references with blockOwnerDeletion on what an object owns (connection Secrets, a
# schedule's Backups): required where the OwnerReferencesPermissionEnforcement admission plugin
# is on (OpenShift, for one).
- apiGroups: [htx.vinacis.com]
  resources:
    {{- include "htx-operator.resources" (dict "kinds" (append $portal "backupschedules") "sub" "finalizers") | nindent 4 }}
  verbs: [update]
# The WaysCloud kinds that hold a portal resource: watched, and their finalizer added and
# removed (a JSON patch of metadata.finalizers).
- apiGroups: [wayscloud.vinacis.com]
  resources: [waysdatabases, wayssnapshots]
  verbs: [get, list, watch, patch]
# WaysRestores: watched only (a restore is an action: no finalizer).
- apiGroups: [wayscloud.vinacis.com]
  resources: [waysrestores]
  verbs: [get, list, watch]
# Their status (server-side apply on the status subresource only).
- apiGroups: [wayscloud.vinacis.com]
  resources: [waysdatabases/status, wayssnapshots/status, waysrestores/status]
  verbs: [patch]
# Owner references with blockOwnerDeletion on their connection Secrets.
- apiGroups: [wayscloud.vinacis.com]
  resources: [waysdatabases/finalizers]
  verbs: [update]
# The PaaS kinds: watched, and their finalizer added and removed (a JSON patch).
- apiGroups: [paas.vinacis.com]
  resources: [paasprojects, paasdatabases, paasredises, paaswebservices, paasbuckets]
  verbs: [get, list, watch, patch]
# Their status (server-side apply on the status subresource only).
- apiGroups: [paas.vinacis.com]
  resources: [paasprojects/status, paasdatabases/status, paasredises/status, paaswebservices/status, paasbuckets/status]
  verbs: [patch]
# Owner references with blockOwnerDeletion on their connection Secrets.
- apiGroups: [paas.vinacis.com]
  resources: [paasdatabases/finalizers, paasredises/finalizers, paasbuckets/finalizers]
  verbs: [update]
# Secrets by name only, never listed or watched: read a tokenSecretRef's token and keep that
# Secret while an object still needs it to delete its portal resource (a finalizer per object,
# added and removed by patch), and read, create and update (server-side apply) the connection
# Secret of writeConnectionSecretToRef.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, patch]
# Events on the managed objects, which `kubectl describe` shows (events.k8s.io/v1).
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
