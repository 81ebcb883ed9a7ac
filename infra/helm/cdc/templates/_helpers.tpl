{{/* The release's base name, at most 63 characters. */}}
{{- define "cdc.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A component's resource name: <fullname>-<component>. */}}
{{- define "cdc.componentName" -}}
{{- printf "%s-%s" (include "cdc.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cdc.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cdc.labels" -}}
{{ include "cdc.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: cdc
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels of resources shared by every component (ConfigMap, Secret). */}}
{{- define "cdc.commonLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cdc
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "cdc.secretName" -}}
{{- if .Values.secrets.create -}}
{{- include "cdc.fullname" . -}}
{{- else -}}
{{- required "secrets.existingSecret is required when secrets.create is false" .Values.secrets.existingSecret -}}
{{- end -}}
{{- end -}}

{{/*
The components as (name, values key) pairs; processor is a StatefulSet, the others Deployments.
*/}}
{{- define "cdc.deployments" -}}
capture-postgres: capturePostgres
capture-mongo: captureMongo
sink-clickhouse: sinkClickhouse
control: control
{{- end -}}

{{/*
The pod template of a component. Call with (dict "root" $ "component" "capture-postgres" "values" .Values.capturePostgres "stateVolume" "name-or-empty").
*/}}
{{- define "cdc.podTemplate" -}}
{{- $root := .root -}}
{{- $v := .values -}}
metadata:
  labels:
    {{- include "cdc.selectorLabels" . | nindent 4 }}
    {{- with $root.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/pipeline: {{ $root.Values.pipeline | sha256sum }}
    {{- if $root.Values.secrets.create }}
    checksum/secrets: {{ toJson $root.Values.secrets.values | sha256sum }}
    {{- end }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ $root.Values.telemetry.port | quote }}
    prometheus.io/path: /metrics
    {{- with $root.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  automountServiceAccountToken: false
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
  containers:
    - name: {{ .component }}
      image: "{{ $root.Values.image.repository }}:{{ $root.Values.image.tag | default $root.Chart.AppVersion }}"
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        - {{ .component | quote }}
        - --config
        - /etc/cdc/pipeline.yaml
        {{- range $v.args }}
        - {{ . | quote }}
        {{- end }}
      env:
        # Probes and scrapes come from outside the pod: listen on every interface.
        - name: CDC__TELEMETRY__HTTP__HOST
          value: 0.0.0.0
        - name: CDC__TELEMETRY__HTTP__PORT
          value: {{ $root.Values.telemetry.port | quote }}
        - name: CDC_TELEMETRY_PORT
          value: {{ $root.Values.telemetry.port | quote }}
        {{- with $root.Values.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $v.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      envFrom:
        - secretRef:
            name: {{ include "cdc.secretName" $root }}
      ports:
        - name: telemetry
          containerPort: {{ $root.Values.telemetry.port }}
          protocol: TCP
        {{- with $v.apiPort }}
        - name: api
          containerPort: {{ . }}
          protocol: TCP
        {{- end }}
      startupProbe:
        httpGet: { path: /healthz, port: telemetry }
        {{- toYaml $root.Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet: { path: /healthz, port: telemetry }
        {{- toYaml $root.Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet: { path: /readyz, port: telemetry }
        {{- toYaml $root.Values.probes.readiness | nindent 8 }}
      resources:
        {{- toYaml $v.resources | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: pipeline
          mountPath: /etc/cdc
          readOnly: true
        - name: tmp
          mountPath: /tmp
        - name: {{ .stateVolume | default "state" }}
          mountPath: /var/lib/cdc
  volumes:
    - name: pipeline
      configMap:
        name: {{ include "cdc.fullname" $root }}-pipeline
    - name: tmp
      emptyDir: {}
    {{- if not .stateVolume }}
    - name: state
      emptyDir: {}
    {{- end }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
