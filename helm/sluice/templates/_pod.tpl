{{/*
The serving pod: sluice, and the drift sidecar when enabled. Shared by the
Deployment and the Rollout. The role label is set here only for a
Deployment; a Rollout's canaryMetadata/stableMetadata set it.
*/}}
{{- define "sluice.podTemplate" -}}
metadata:
  labels:
    {{- include "sluice.serverSelectorLabels" . | nindent 4 }}
    {{- if ne .Values.workload "Rollout" }}
    {{ .Values.role.label }}: {{ .Values.role.default }}
    {{- end }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ include "sluice.plainPortNumber" . | quote }}
    prometheus.io/path: /metrics
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "sluice.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
  terminationGracePeriodSeconds: {{ include "sluice.terminationGrace" . }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- if and .Values.gpu.enabled .Values.gpu.runtimeClassName }}
  runtimeClassName: {{ .Values.gpu.runtimeClassName }}
  {{- end }}
  {{- $nodeSelector := .Values.nodeSelector }}
  {{- if .Values.gpu.enabled }}
  {{- $nodeSelector = merge (deepCopy .Values.nodeSelector) .Values.gpu.nodeSelector }}
  {{- end }}
  {{- with $nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $tolerations := .Values.tolerations }}
  {{- if .Values.gpu.enabled }}
  {{- $tolerations = concat .Values.tolerations .Values.gpu.tolerations }}
  {{- end }}
  {{- with $tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.models.initContainers }}
  initContainers:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: sluice
      image: {{ include "sluice.imageRef" (dict "root" .) | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      {{- if and .Values.gpu.enabled .Values.gpu.candle }}
      command: [/usr/local/bin/sluice-candle-cuda]
      {{- end }}
      args:
        - serve
        - --model-repository={{ .Values.models.repository }}
        - --model-control-mode={{ .Values.models.controlMode }}
        - --repository-poll-secs={{ .Values.models.pollSeconds }}
        - --model-cache-dir=/var/cache/sluice
        {{- range .Values.models.mlflowModels }}
        - --mlflow-model={{ . }}
        {{- end }}
        {{- range $name, $version := .Values.models.versions }}
        - --model-version={{ $name }}={{ $version }}
        {{- end }}
        - --http-port={{ .Values.ports.http }}
        - --grpc-port={{ .Values.ports.grpc }}
        - --role={{ .Values.role.default }}
        - --role-labels-file=/etc/podinfo/labels
        - --role-label={{ .Values.role.label }}
        - --shutdown-delay-secs={{ .Values.shutdown.delaySeconds }}
        - --shutdown-drain-secs={{ .Values.shutdown.drainSeconds }}
        - --log-format={{ .Values.logFormat }}
        {{- if .Values.drift.enabled }}
        {{- if not (gt (float64 .Values.sampleRate) 0.0) }}
        {{- fail "drift.enabled needs sampleRate above 0: the sidecar judges the rows sluice samples" }}
        {{- end }}
        {{- end }}
        {{- if gt (float64 .Values.sampleRate) 0.0 }}
        - --sample-rate={{ .Values.sampleRate }}
        {{- end }}
        {{- if .Values.adminToken.secretName }}
        - --admin-token-file=/var/run/secrets/sluice/admin/{{ .Values.adminToken.secretKey }}
        {{- end }}
        {{- if .Values.tls.secretName }}
        - --tls-cert=/etc/sluice/tls/tls.crt
        - --tls-key=/etc/sluice/tls/tls.key
        - --tls-reload-secs={{ .Values.tls.reloadSeconds }}
        - --metrics-port={{ .Values.ports.metrics }}
        {{- if .Values.tls.clientCA.secretName }}
        - --tls-client-ca=/etc/sluice/client-ca/{{ .Values.tls.clientCA.key }}
        {{- end }}
        {{- else if .Values.tls.clientCA.secretName }}
        {{- fail "tls.clientCA needs tls.secretName: client certificates are asked for in the TLS handshake" }}
        {{- end }}
        {{- if and .Values.gpu.enabled .Values.gpu.memoryBudget }}
        - --gpu-memory-budget={{ .Values.gpu.memoryBudget }}
        {{- end }}
        {{- range .Values.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      {{- with .Values.models.env }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - { name: http, containerPort: {{ .Values.ports.http }}, protocol: TCP }
        - { name: grpc, containerPort: {{ .Values.ports.grpc }}, protocol: TCP }
        {{- if .Values.tls.secretName }}
        - { name: metrics, containerPort: {{ .Values.ports.metrics }}, protocol: TCP }
        {{- end }}
      startupProbe:
        httpGet: { path: /v2/health/live, port: {{ include "sluice.plainPort" . }} }
        {{- toYaml .Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet: { path: /v2/health/live, port: {{ include "sluice.plainPort" . }} }
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet: { path: /v2/health/ready, port: {{ include "sluice.plainPort" . }} }
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      resources:
        {{- $resources := deepCopy .Values.resources }}
        {{- if .Values.gpu.enabled }}
        {{- $limits := merge (dict .Values.gpu.resourceName .Values.gpu.count) ($resources.limits | default dict) }}
        {{- $_ := set $resources "limits" $limits }}
        {{- end }}
        {{- toYaml $resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - { name: models, mountPath: /models }
        - { name: model-cache, mountPath: /var/cache/sluice }
        - { name: podinfo, mountPath: /etc/podinfo, readOnly: true }
        - { name: tmp, mountPath: /tmp }
        {{- if .Values.adminToken.secretName }}
        - { name: admin-token, mountPath: /var/run/secrets/sluice/admin, readOnly: true }
        {{- end }}
        {{- if .Values.tls.secretName }}
        - { name: tls, mountPath: /etc/sluice/tls, readOnly: true }
        {{- end }}
        {{- if .Values.tls.clientCA.secretName }}
        - { name: client-ca, mountPath: /etc/sluice/client-ca, readOnly: true }
        {{- end }}
    {{- if .Values.drift.enabled }}
    {{- $drift := .Values.drift }}
    - name: drift
      image: {{ include "sluice.imageRef" (dict "root" . "image" $drift.image) | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: [/usr/local/bin/sluice-drift]
      args:
        - watch
        {{- if .Values.tls.secretName }}
        - --model-endpoint=https://127.0.0.1:{{ .Values.ports.http }}
        - --server-ca-file=/etc/sluice/tls/ca.crt
        - --server-tls-name={{ .Values.tls.serverName | default (printf "%s.%s.svc" (include "sluice.fullname" .) .Release.Namespace) }}
        {{- if .Values.tls.clientCA.secretName }}
        {{- if not .Values.tls.driftClientSecretName }}
        {{- fail "tls.clientCA with drift.enabled needs tls.driftClientSecretName: the sidecar reads samples over mutual TLS" }}
        {{- end }}
        - --server-cert-file=/etc/sluice/drift-client/tls.crt
        - --server-key-file=/etc/sluice/drift-client/tls.key
        {{- end }}
        {{- else }}
        - --model-endpoint=http://127.0.0.1:{{ .Values.ports.http }}
        {{- end }}
        - --model={{ $drift.model }}
        - --input={{ $drift.input }}
        - --repository={{ .Values.models.repository }}
        - --min-samples={{ $drift.minSamples }}
        - --interval-secs={{ $drift.intervalSeconds }}
        - --cooldown-secs={{ $drift.cooldownSeconds }}
        - --drift-share={{ $drift.driftShare }}
        - --share-comparison={{ $drift.shareComparison }}
        - --trigger-kind={{ $drift.triggerKind }}
        - --listen=0.0.0.0:{{ $drift.port }}
        {{- with $drift.method }}
        - --method={{ . }}
        {{- end }}
        {{- with $drift.threshold | toString }}
        - --threshold={{ . }}
        {{- end }}
        {{- with include "sluice.retrainUrl" . }}
        - --retrain-url={{ . }}
        {{- end }}
        {{- if .Values.adminToken.secretName }}
        - --server-token-file=/var/run/secrets/sluice/admin/{{ .Values.adminToken.secretKey }}
        {{- end }}
        {{- if .Values.trainer.tokenSecret.name }}
        - --trigger-token-file=/var/run/secrets/sluice/trainer/{{ .Values.trainer.tokenSecret.key }}
        {{- end }}
      {{- with .Values.models.env }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - { name: drift-metrics, containerPort: {{ $drift.port }}, protocol: TCP }
      # /metrics answers whenever the sidecar runs; /healthz reports drift
      # problems (no samples yet, server unreachable), which must not take
      # the serving pod out of its Service.
      livenessProbe:
        httpGet: { path: /metrics, port: drift-metrics }
        periodSeconds: 10
      readinessProbe:
        httpGet: { path: /metrics, port: drift-metrics }
        periodSeconds: 10
      resources:
        {{- toYaml $drift.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - { name: models, mountPath: /models, readOnly: true }
        - { name: tmp, mountPath: /tmp }
        {{- if .Values.adminToken.secretName }}
        - { name: admin-token, mountPath: /var/run/secrets/sluice/admin, readOnly: true }
        {{- end }}
        {{- if .Values.trainer.tokenSecret.name }}
        - { name: trainer-token, mountPath: /var/run/secrets/sluice/trainer, readOnly: true }
        {{- end }}
        {{- if .Values.tls.secretName }}
        - { name: tls, mountPath: /etc/sluice/tls, readOnly: true }
        {{- end }}
        {{- if and .Values.tls.secretName .Values.tls.clientCA.secretName }}
        - { name: drift-client, mountPath: /etc/sluice/drift-client, readOnly: true }
        {{- end }}
    {{- end }}
  volumes:
    - name: models
      {{- toYaml .Values.models.volume | nindent 6 }}
    - name: model-cache
      {{- toYaml .Values.models.cache | nindent 6 }}
    - name: tmp
      emptyDir: { sizeLimit: 1Gi }
    - name: podinfo
      downwardAPI:
        items:
          - path: labels
            fieldRef: { fieldPath: metadata.labels }
    {{- if .Values.adminToken.secretName }}
    - name: admin-token
      secret: { secretName: {{ .Values.adminToken.secretName }}, defaultMode: 0440 }
    {{- end }}
    {{- if .Values.tls.secretName }}
    - name: tls
      secret: { secretName: {{ .Values.tls.secretName }}, defaultMode: 0440 }
    {{- end }}
    {{- if .Values.tls.clientCA.secretName }}
    - name: client-ca
      secret: { secretName: {{ .Values.tls.clientCA.secretName }}, defaultMode: 0440 }
    {{- end }}
    {{- if and .Values.drift.enabled .Values.tls.secretName .Values.tls.clientCA.secretName }}
    - name: drift-client
      secret: { secretName: {{ .Values.tls.driftClientSecretName }}, defaultMode: 0440 }
    {{- end }}
    {{- if and .Values.drift.enabled .Values.trainer.tokenSecret.name }}
    - name: trainer-token
      secret: { secretName: {{ .Values.trainer.tokenSecret.name }}, defaultMode: 0440 }
    {{- end }}
{{- end -}}
