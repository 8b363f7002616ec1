{{- define "tasktail.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tasktail.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tasktail.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tasktail.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tasktail.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "tasktail.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "tasktail.secretName" -}}
{{- default (include "tasktail.fullname" .) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "tasktail.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tasktail.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* What the chart refuses to render: a server beyond loopback without credentials, a
cluster without etcd or PostgreSQL. */}}
{{- define "tasktail.validate" -}}
{{- if not .Values.auth.existingSecret -}}
{{- if or (not .Values.auth.publishKeys) (not .Values.auth.tokenSecret) -}}
{{- fail "auth: set auth.existingSecret, or both auth.publishKeys and auth.tokenSecret (tasktail listens beyond loopback only with both)" -}}
{{- end -}}
{{- if and (eq .Values.mode "cluster") (not .Values.cluster.postgresURL) -}}
{{- fail "cluster mode: set cluster.postgresURL (or TASKTAIL_POSTGRES_URL in auth.existingSecret): the members share one PostgreSQL journal" -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.mode "cluster") (not .Values.cluster.etcdEndpoints) -}}
{{- fail "cluster mode: set cluster.etcdEndpoints: the members find each other through etcd" -}}
{{- end -}}
{{- end -}}

{{/* The pod template, the same in both modes but for the journal's settings. */}}
{{- define "tasktail.podTemplate" -}}
metadata:
  labels:
    {{- include "tasktail.selectorLabels" . | nindent 4 }}
  annotations:
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "tasktail.serviceAccountName" . }}
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ add .Values.shutdownTimeoutSeconds .Values.terminationGraceExtraSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: tasktail
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args: [serve]
      env:
        - name: TASKTAIL_ADDR
          value: "0.0.0.0:{{ .Values.service.port }}"
        - name: TASKTAIL_ADMIN_ADDR
          value: "0.0.0.0:{{ .Values.adminPort }}"
        - name: TASKTAIL_SHUTDOWN_TIMEOUT
          value: "{{ .Values.shutdownTimeoutSeconds }}s"
        - name: TASKTAIL_LOG_FORMAT
          value: {{ .Values.logFormat | quote }}
        - name: TASKTAIL_LOG_LEVEL
          value: {{ .Values.logLevel | quote }}
        {{- with .Values.allowedOrigins }}
        - name: TASKTAIL_ALLOWED_ORIGINS
          value: {{ join "," . | quote }}
        {{- end }}
        - name: TASKTAIL_PUBLISH_KEYS
          valueFrom:
            secretKeyRef: {name: {{ include "tasktail.secretName" . }}, key: TASKTAIL_PUBLISH_KEYS}
        - name: TASKTAIL_TOKEN_SECRET
          valueFrom:
            secretKeyRef: {name: {{ include "tasktail.secretName" . }}, key: TASKTAIL_TOKEN_SECRET}
        {{- if eq .Values.mode "cluster" }}
        - name: POD_IP
          valueFrom:
            fieldRef: {fieldPath: status.podIP}
        - name: TASKTAIL_JOURNAL
          value: postgres
        - name: TASKTAIL_POSTGRES_URL
          valueFrom:
            secretKeyRef: {name: {{ include "tasktail.secretName" . }}, key: TASKTAIL_POSTGRES_URL}
        - name: TASKTAIL_CLUSTER
          value: "true"
        - name: TASKTAIL_CLUSTER_NAME
          value: {{ include "tasktail.fullname" . | quote }}
        - name: TASKTAIL_CLUSTER_PROVIDER
          value: etcd
        - name: TASKTAIL_ETCD_ENDPOINTS
          value: {{ join "," .Values.cluster.etcdEndpoints | quote }}
        - name: TASKTAIL_CLUSTER_LEASE_TTL
          value: {{ .Values.cluster.leaseTTL | quote }}
        - name: TASKTAIL_CLUSTER_HOST
          value: 0.0.0.0
        - name: TASKTAIL_CLUSTER_PORT
          value: "{{ .Values.cluster.port }}"
        - name: TASKTAIL_CLUSTER_ADVERTISE
          value: "$(POD_IP):{{ .Values.cluster.port }}"
        {{- else }}
        - name: TASKTAIL_JOURNAL
          value: pebble
        - name: TASKTAIL_DATA_DIR
          value: /var/lib/tasktail
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - {name: http, containerPort: {{ .Values.service.port }}, protocol: TCP}
        - {name: admin, containerPort: {{ .Values.adminPort }}, protocol: TCP}
        {{- if eq .Values.mode "cluster" }}
        - {name: cluster, containerPort: {{ .Values.cluster.port }}, protocol: TCP}
        {{- end }}
      # On --admin-addr: answered however many connections clients hold.
      livenessProbe:
        httpGet: {path: /healthz, port: admin}
        periodSeconds: 10
        failureThreshold: 3
      readinessProbe:
        httpGet: {path: /readyz, port: admin}
        periodSeconds: 5
        failureThreshold: 2
      startupProbe:
        httpGet: {path: /healthz, port: admin}
        periodSeconds: 2
        failureThreshold: 60
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      volumeMounts:
        - {name: tmp, mountPath: /tmp}
        {{- if eq .Values.mode "single" }}
        - {name: data, mountPath: /var/lib/tasktail}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir: {}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
