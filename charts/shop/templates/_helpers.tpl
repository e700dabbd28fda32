{{/* Names and labels. Objects are "<release>-shop[-<part>]", or "<release>[-<part>]" when the
     release name already says shop. */}}
{{- define "shop.fullname" -}}
{{- $name := ternary .Release.Name (printf "%s-shop" .Release.Name) (contains "shop" .Release.Name) -}}
{{- $name | trunc 48 | trimSuffix "-" -}}
{{- end -}}

{{- define "shop.labels" -}}
app.kubernetes.io/part-of: shop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The pods of one component: selector labels. Call with (dict "root" $ "name" $name). */}}
{{- define "shop.selector" -}}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "shop.componentName" -}}
{{- printf "%s-%s" (include "shop.fullname" .root) .name -}}
{{- end -}}

{{- define "shop.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}

{{- define "shop.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "shop.fullname" .)) -}}
{{- end -}}

{{- define "shop.connectionsName" -}}
{{- printf "%s-connections" (include "shop.fullname" .) -}}
{{- end -}}

{{/* Enabled components, sorted, as a list of names. */}}
{{- define "shop.enabled" -}}
{{- $names := list -}}
{{- range $name, $c := .Values.components -}}
{{- if ne $c.enabled false -}}{{- $names = append $names $name -}}{{- end -}}
{{- end -}}
{{- toJson (sortAlpha $names) -}}
{{- end -}}

{{/* The port-number -> SHOP_* variable map of a component. */}}
{{- define "shop.portEnv" -}}
{{- $env := dict "grpc" "SHOP_GRPC_PORT" "metrics" "SHOP_METRICS_PORT" -}}
{{- toJson (merge (deepCopy (.portEnv | default dict)) $env) -}}
{{- end -}}

{{/* Security context of every container: non-root, read-only root, nothing extra. */}}
{{- define "shop.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "shop.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* SHOP_DATABASE_URL for the components and the migration Job. */}}
{{- define "shop.databaseEnv" -}}
- name: SHOP_DATABASE_URL
  valueFrom:
    secretKeyRef:
{{- if and (not .Values.postgresql.enabled) .Values.database.existingSecret }}
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.existingSecretKey }}
{{- else }}
      name: {{ include "shop.connectionsName" . }}
      key: database-url
{{- end }}
- {name: SHOP_DATABASE_POOL_SIZE, value: {{ .Values.database.poolSize | quote }}}
- {name: SHOP_DATABASE_MAX_OVERFLOW, value: {{ .Values.database.maxOverflow | quote }}}
{{- end -}}

{{/* Refuses a release whose SQL services could open more connections than the server takes. */}}
{{- define "shop.checkConnectionBudget" -}}
{{- $db := .Values.database }}
{{- $perProcess := add $db.poolSize $db.maxOverflow }}
{{- $total := 1 }}
{{- $parts := list }}
{{- range $name, $c := .Values.components }}
{{- if and (ne $c.enabled false) $c.database }}
{{- $replicas := int ($c.replicas | default 1) }}
{{- if dig "autoscaling" "enabled" false $c }}
{{- $replicas = int ($c.autoscaling.maxReplicas | default 5) }}
{{- end }}
{{- $total = add $total (mul $replicas $perProcess) }}
{{- $parts = append $parts (printf "%s %d" $name $replicas) }}
{{- end }}
{{- end }}
{{- $room := sub (int $db.maxConnections) 3 }}
{{- if gt (int $total) (int $room) }}
{{- fail (printf "database connections: the SQL services could open %d (replicas: %s; each process database.poolSize %d + database.maxOverflow %d; 1 for the migration Job), more than database.maxConnections %d less 3 for superusers. Lower the pool, lower the replicas, or raise the server's max_connections and database.maxConnections" (int $total) (join ", " $parts) (int $db.poolSize) (int $db.maxOverflow) (int $db.maxConnections)) }}
{{- end }}
{{- end -}}
