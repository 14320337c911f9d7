{{/* Names, labels and the rendered sentinel config, shared by every template. */}}

{{- define "rollout-sentinel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rollout-sentinel.fullname" -}}
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

{{- define "rollout-sentinel.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rollout-sentinel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rollout-sentinel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "rollout-sentinel.labels" -}}
helm.sh/chart: {{ include "rollout-sentinel.chart" . }}
{{ include "rollout-sentinel.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: watcher
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "rollout-sentinel.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "rollout-sentinel.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "rollout-sentinel.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* single (one pod, SQLite on a volume, StatefulSet) or changelog (several pods, Deployment). */}}
{{- define "rollout-sentinel.stateMode" -}}
{{- dig "state" "mode" "single" (.Values.config | default dict) }}
{{- end }}

{{/*
The config file. The chart owns the keys that depend on the pod's layout, and refuses them
in values so that a user's setting is never silently replaced.
*/}}
{{- define "rollout-sentinel.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $mode := include "rollout-sentinel.stateMode" . }}
{{- range $key := list "expectations" "schemas" }}
{{- if hasKey $cfg $key }}
{{- fail (printf "config.%s is set by the chart (/etc/sentinel/%s): put the files in %s.files or %s.existingConfigMaps instead" $key $key $key $key) }}
{{- end }}
{{- end }}
{{- $http := get $cfg "http" | default dict }}
{{- if hasKey $http "listen" }}
{{- fail "config.http.listen is set by the chart: choose the port with service.port instead" }}
{{- end }}
{{- if and (eq $mode "changelog") (hasKey $http "peers") }}
{{- fail "config.http.peers is set by the chart in changelog mode (the headless Service, which resolves to every pod): remove it" }}
{{- end }}
{{- $state := get $cfg "state" | default dict }}
{{- if and (eq $mode "single") (hasKey $state "path") }}
{{- fail "config.state.path is set by the chart in single mode (/var/lib/sentinel/state.db, on the persistence volume): remove it" }}
{{- end }}
{{- $_ := set $cfg "expectations" "/etc/sentinel/expectations" }}
{{- $_ = set $cfg "schemas" "/etc/sentinel/schemas" }}
{{- $_ = set $http "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) }}
{{- if eq $mode "changelog" }}
{{- /* Every replica's board and API ask the others: the headless Service names them all. */}}
{{- $_ = set $http "peers" (printf "%s.%s.svc:%d" (include "rollout-sentinel.fullname" .) .Release.Namespace (int .Values.service.port)) }}
{{- end }}
{{- $_ = set $cfg "http" $http }}
{{- /* Static group membership (KIP-345): a restarted container takes its partitions back at
once instead of after the dead member's session (measured: 19 s unwatched, 9 s with it). */}}
{{- $kafka := get $cfg "kafka" | default dict }}
{{- if not (or (hasKey $kafka "group_instance_id") (hasKey $kafka "group_instance_id_env")) }}
{{- $_ = set $kafka "group_instance_id_env" "SENTINEL_POD_NAME" }}
{{- $_ = set $cfg "kafka" $kafka }}
{{- end }}
{{- if eq $mode "single" }}
{{- $_ = set $state "path" "/var/lib/sentinel/state.db" }}
{{- $_ = set $cfg "state" $state }}
{{- else if not (hasKey $state "path") }}
{{- /* Changelog mode: the local snapshot on the pod's emptyDir. A restarted container reads
it instead of the whole changelog, and keeps the alert outbox that is in it (without a path
each process starts a file of its own under /tmp, and its undelivered alerts are lost). */}}
{{- $_ = set $state "path" "/var/lib/sentinel/state.db" }}
{{- $_ = set $cfg "state" $state }}
{{- end }}
{{- $tracing := include "rollout-sentinel.tracing" . | fromYaml }}
{{- if $tracing }}
{{- if hasKey $cfg "tracing" }}
{{- fail "config.tracing and tracing are both set: the chart renders tracing into the config's tracing section; keep one of them" }}
{{- end }}
{{- $_ = set $cfg "tracing" $tracing }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/*
The config's `tracing:` section from the `tracing` values (docs/tracing.md); empty while they
ask for nothing beyond the sentinel's defaults, so that config.tracing still passes through.
*/}}
{{- define "rollout-sentinel.tracing" -}}
{{- $values := .Values.tracing | default dict }}
{{- $otlp := $values.otlp | default dict }}
{{- $tracing := dict }}
{{- if eq (toString $values.context) "false" }}
{{- $_ := set $tracing "context" false }}
{{- end }}
{{- with $values.trace_url }}
{{- $_ := set $tracing "trace_url" . }}
{{- end }}
{{- if $otlp.enabled }}
{{- $export := dict "compression" ($otlp.compression | default "gzip") "timeout" ($otlp.timeout | default "10s") }}
{{- with $otlp.endpoint }}
{{- $_ := set $export "endpoint" . }}
{{- end }}
{{- with $otlp.headers_env }}
{{- $_ := set $export "headers_env" . }}
{{- end }}
{{- $_ := set $tracing "otlp" $export }}
{{- end }}
{{- with $values.resource }}
{{- $_ := set $tracing "resource" . }}
{{- end }}
{{- if $tracing }}
{{- toYaml $tracing }}
{{- end }}
{{- end }}

{{/* Every environment variable that a `*_env` key of the config names, one per line. */}}
{{- define "rollout-sentinel.envRefs" -}}
{{- if kindIs "map" . }}
{{- range $key, $value := . }}
{{- if and (hasSuffix "_env" $key) (kindIs "string" $value) }}
{{ $value }}
{{- else if and (hasSuffix "_env" $key) (kindIs "map" $value) }}
{{- /* A map of names to variables (tracing.otlp.headers_env: header -> variable). */}}
{{- range $name, $variable := $value }}
{{ $variable }}
{{- end }}
{{- end }}
{{- include "rollout-sentinel.envRefs" $value }}
{{- end }}
{{- else if kindIs "slice" . }}
{{- range . }}
{{- include "rollout-sentinel.envRefs" . }}
{{- end }}
{{- end }}
{{- end }}

{{/* Refuses values that would render a pod that cannot work. */}}
{{- define "rollout-sentinel.validate" -}}
{{- $mode := include "rollout-sentinel.stateMode" . }}
{{- if and (eq $mode "single") (gt (int .Values.replicaCount) 1) }}
{{- fail "replicaCount > 1 needs config.state.mode: changelog; the single-mode store is one SQLite file that only one pod may own" }}
{{- end }}
{{- if not (or .Values.expectations.files .Values.expectations.existingConfigMaps) }}
{{- fail "no expectations: give expectations.files (file name -> YAML) or expectations.existingConfigMaps; the sentinel does not start without one" }}
{{- end }}
{{- if not .Values.envFrom }}
{{- $provided := concat (keys .Values.secretEnv) (keys (.Values.tracing.env | default dict)) (list "SENTINEL_POD_NAME") }}
{{- range .Values.extraEnv }}
{{- $provided = append $provided .name }}
{{- end }}
{{- $refs := include "rollout-sentinel.envRefs" .Values.config }}
{{- $refs = print $refs (include "rollout-sentinel.envRefs" (include "rollout-sentinel.tracing" . | fromYaml)) }}
{{- range $name := splitList "\n" $refs }}
{{- if and $name (not (has $name $provided)) }}
{{- fail (printf "the config names the environment variable %s (in a *_env key), but nothing sets it: add it to secretEnv, e.g. %s: {secret: <Secret name>, key: <key>}" $name $name) }}
{{- end }}
{{- end }}
{{- $otlp := .Values.tracing.otlp | default dict }}
{{- if and $otlp.enabled (not $otlp.endpoint) (not (has "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" $provided)) (not (has "OTEL_EXPORTER_OTLP_ENDPOINT" $provided)) }}
{{- fail "tracing.otlp.enabled needs a collector: set tracing.otlp.endpoint, or OTEL_EXPORTER_OTLP_ENDPOINT in tracing.env" }}
{{- end }}
{{- end }}
{{- end }}
