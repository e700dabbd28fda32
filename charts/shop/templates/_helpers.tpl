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
{{- end -}}
