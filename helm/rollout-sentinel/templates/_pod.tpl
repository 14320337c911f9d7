{{/* The pod template shared by the StatefulSet (single mode) and the Deployment (changelog mode). */}}
{{- define "rollout-sentinel.podTemplate" -}}
metadata:
  labels:
    {{- include "rollout-sentinel.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # The sentinel reads its config file once: a change rolls the pods. Expectations and
    # schemas are reloaded in place and so are left out of the checksum.
    checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "rollout-sentinel.serviceAccountName" . }}
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: sentinel
      image: {{ include "rollout-sentinel.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      # The image's entrypoint: sentinel run --config /etc/sentinel/config.yaml
      ports:
        - name: http
          containerPort: {{ .Values.service.port }}
          protocol: TCP
      env:
        {{- /* The pod's name is its static group member id (kafka.group_instance_id_env). */}}
        - name: SENTINEL_POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        {{- range $name, $ref := .Values.secretEnv }}
        - name: {{ $name }}
          valueFrom:
            secretKeyRef:
              name: {{ $ref.secret }}
              key: {{ $ref.key }}
              {{- if hasKey $ref "optional" }}
              optional: {{ $ref.optional }}
              {{- end }}
        {{- end }}
        {{- /* OpenTelemetry's own variables (tracing.env): the collector, the service name. */}}
        {{- range $name, $value := (.Values.tracing.env | default dict) }}
        - name: {{ $name }}
          value: {{ $value | quote }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.envFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        {{- toYaml .Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/sentinel/config.yaml
          subPath: config.yaml
          readOnly: true
        # Whole-directory mounts (never subPath), so that ConfigMap edits reach the pod.
        - name: expectations
          mountPath: /etc/sentinel/expectations
          readOnly: true
        - name: schemas
          mountPath: /etc/sentinel/schemas
          readOnly: true
        - name: state
          mountPath: /var/lib/sentinel
        - name: tmp
          mountPath: /tmp
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "rollout-sentinel.fullname" . }}-config
    {{- range $kind := list "expectations" "schemas" }}
    - name: {{ $kind }}
      projected:
        sources:
          - configMap:
              name: {{ include "rollout-sentinel.fullname" $ }}-{{ $kind }}
          {{- range (index $.Values $kind).existingConfigMaps }}
          - configMap:
              name: {{ . }}
          {{- end }}
    {{- end }}
    {{- if not (and (eq (include "rollout-sentinel.stateMode" .) "single") .Values.persistence.enabled) }}
    - name: state
      emptyDir: {}
    {{- end }}
    - name: tmp
      emptyDir: {}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
