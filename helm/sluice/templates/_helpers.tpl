{{/* Names and labels shared by every object. */}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sluice.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "sluice.labels" -}}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag, or repository@digest; `image` overrides fields of .Values.image. */}}
{{- define "sluice.imageRef" -}}
{{- $image := merge (deepCopy (.image | default dict)) .root.Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository ($image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/* The serving pod's grace period: sluice's shutdown delay and drain, plus slack. */}}
{{- define "sluice.terminationGrace" -}}
{{- add .Values.shutdown.delaySeconds .Values.shutdown.drainSeconds 5 -}}
{{- end -}}

{{/* The URL the drift sidecar triggers retraining at. */}}
{{- define "sluice.retrainUrl" -}}
{{- if .Values.drift.retrainUrl -}}
{{- .Values.drift.retrainUrl -}}
{{- else if .Values.trainer.enabled -}}
{{- printf "http://%s-trainer:%v/v1/retrain" (include "sluice.fullname" .) .Values.trainer.port -}}
{{- end -}}
{{- end -}}

{{/* The trainer's environment: its webhook token and the models' credentials. */}}
{{- define "sluice.trainerEnv" -}}
env:
  {{- if .Values.trainer.tokenSecret.name }}
  - name: SLUICE_TRAINER_TOKEN
    valueFrom:
      secretKeyRef: { name: {{ .Values.trainer.tokenSecret.name }}, key: {{ .Values.trainer.tokenSecret.key }} }
  {{- end }}
  {{- with .Values.models.env }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- with .Values.trainer.env }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
