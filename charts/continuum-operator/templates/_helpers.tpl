{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "continuum-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object name prefix: the release name, unless it already contains the chart name. */}}
{{- define "continuum-operator.fullname" -}}
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

{{- define "continuum-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "continuum-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selects the operator pods only (not the CRD hook Job's pods). */}}
{{- define "continuum-operator.operatorSelectorLabels" -}}
{{ include "continuum-operator.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "continuum-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "continuum-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: continuum-operator
{{- end }}

{{- define "continuum-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "continuum-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "continuum-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "true" in Karmada mode (a kubeconfig Secret for the karmada-apiserver is given), else "". */}}
{{- define "continuum-operator.karmadaMode" -}}
{{- if .Values.karmada.kubeconfigSecret }}true{{ end }}
{{- end }}

{{- define "continuum-operator.karmadaKubeconfigDir" -}}
/etc/continuum/karmada
{{- end }}

{{- define "continuum-operator.karmadaKubeconfigPath" -}}
{{ include "continuum-operator.karmadaKubeconfigDir" . }}/kubeconfig
{{- end }}

{{/* Pod-level part of the restricted Pod Security Standard; the image runs as 65532. */}}
{{- define "continuum-operator.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "continuum-operator.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/* The read-only volume holding the karmada-apiserver kubeconfig (Karmada mode only). */}}
{{- define "continuum-operator.karmadaVolume" -}}
- name: karmada-kubeconfig
  secret:
    secretName: {{ .Values.karmada.kubeconfigSecret }}
    # 0440: owner and group (fsGroup 65532) may read; decimal so every YAML parser agrees.
    defaultMode: 288
    items:
      - key: {{ .Values.karmada.kubeconfigKey }}
        path: kubeconfig
{{- end }}

{{- define "continuum-operator.karmadaVolumeMount" -}}
- name: karmada-kubeconfig
  mountPath: {{ include "continuum-operator.karmadaKubeconfigDir" . }}
  readOnly: true
{{- end }}

{{/* Scheduling settings shared by the Deployment and the CRD hook Job. */}}
{{- define "continuum-operator.placement" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
