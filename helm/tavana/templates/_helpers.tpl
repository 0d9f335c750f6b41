{{/*
Shared pieces of the Tavana chart. Each autoscaling metric is defined once, here, and used
by the KEDA ScaledObject, the prometheus-adapter rules and the README's examples alike.
*/}}

{{- define "tavana.namespace" -}}
{{- .Values.global.namespace -}}
{{- end -}}

{{- define "tavana.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select a component's pods: call with (dict "root" $ "component" "gateway"). */}}
{{- define "tavana.selectorLabels" -}}
app.kubernetes.io/name: tavana
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every object's labels: call with (dict "root" $ "component" "gateway"). */}}
{{- define "tavana.labels" -}}
{{ include "tavana.selectorLabels" . }}
app.kubernetes.io/part-of: tavana
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "tavana.chart" .root }}
{{- end -}}

{{/* registry/tavana/tavana:tag; no registry means the runtime's default (Docker Hub). */}}
{{- define "tavana.image" -}}
{{- $registry := .Values.global.imageRegistry | trimSuffix "/" -}}
{{- if $registry -}}
{{- printf "%s/tavana/tavana:%s" $registry (toString .Values.global.imageTag) -}}
{{- else -}}
{{- printf "tavana/tavana:%s" (toString .Values.global.imageTag) -}}
{{- end -}}
{{- end -}}

{{- define "tavana.serviceAccountName" -}}
{{- .Values.serviceAccount.name -}}
{{- end -}}

{{/* DNS names the gateways resolve: the workers' and the gateways' headless Services. */}}
{{- define "tavana.workerDNS" -}}
{{- printf "worker.%s.svc.%s:9092" (include "tavana.namespace" .) .Values.global.clusterDomain -}}
{{- end -}}

{{- define "tavana.peerDNS" -}}
{{- printf "gateway-peers.%s.svc.%s:%v" (include "tavana.namespace" .) .Values.global.clusterDomain .Values.gateway.service.pgPort -}}
{{- end -}}

{{/* "true" when the service account is bound to an Azure workload identity. */}}
{{- define "tavana.azureWorkloadIdentity" -}}
{{- if hasKey (.Values.serviceAccount.annotations | default dict) "azure.workload.identity/client-id" -}}true{{- end -}}
{{- end -}}

{{/* "true" when the service account is bound to a Google service account (GKE). */}}
{{- define "tavana.gcsWorkloadIdentity" -}}
{{- if hasKey (.Values.serviceAccount.annotations | default dict) "iam.gke.io/gcp-service-account" -}}true{{- end -}}
{{- end -}}

{{/* The pods' labels beyond the selector: workload identity, then the user's own. */}}
{{- define "tavana.podExtraLabels" -}}
{{- if include "tavana.azureWorkloadIdentity" .root }}
azure.workload.identity/use: "true"
{{- end }}
{{- with .labels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The preStop hook: call with (dict "root" $ "seconds" N). */}}
{{- define "tavana.preStop" -}}
preStop:
{{- if eq .root.Values.global.preStopAction "sleep" }}
  sleep:
    seconds: {{ .seconds }}
{{- else }}
  exec:
    command: ["sleep", {{ .seconds | toString | quote }}]
{{- end }}
{{- end -}}

{{/* ---------- Autoscaling metrics: the one definition of each ---------- */}}

{{/* PromQL label matchers for the gateways' series. */}}
{{- define "tavana.promql.selector" -}}
{{- if .Values.hpa.metricSelector -}}
{{- .Values.hpa.metricSelector -}}
{{- else -}}
{{- printf "namespace=%q,pod=~%q" (include "tavana.namespace" .) "gateway-.*" -}}
{{- end -}}
{{- end -}}

{{/* Statements waiting for a slot, summed over every gateway replica. */}}
{{- define "tavana.promql.queueDepth" -}}
{{- printf "sum(tavana_queue_depth{%s})" (include "tavana.promql.selector" .) -}}
{{- end -}}

{{/* The longest current wait in any gateway's queue, in seconds. */}}
{{- define "tavana.promql.queueWait" -}}
{{- printf "max(tavana_queue_oldest_wait_seconds{%s})" (include "tavana.promql.selector" .) -}}
{{- end -}}

{{/* hpa.queueWaitTimeSecondsTarget ("30s", "2m", "1h" or a plain number of seconds) in seconds. */}}
{{- define "tavana.queueWaitSeconds" -}}
{{- $raw := toString .Values.hpa.queueWaitTimeSecondsTarget -}}
{{- if regexMatch "^[0-9]+$" $raw -}}
{{- $raw -}}
{{- else if regexMatch "^[0-9]+s$" $raw -}}
{{- trimSuffix "s" $raw -}}
{{- else if regexMatch "^[0-9]+m$" $raw -}}
{{- mul (atoi (trimSuffix "m" $raw)) 60 -}}
{{- else if regexMatch "^[0-9]+h$" $raw -}}
{{- mul (atoi (trimSuffix "h" $raw)) 3600 -}}
{{- else -}}
{{- fail (printf "hpa.queueWaitTimeSecondsTarget must be a duration such as 30s, 2m or 1h, not %q" $raw) -}}
{{- end -}}
{{- end -}}

{{/* hpa.queueDepthTarget as a Kubernetes quantity. */}}
{{- define "tavana.queueDepthTarget" -}}
{{- toString .Values.hpa.queueDepthTarget -}}
{{- end -}}

{{/* KEDA's replica count while Prometheus cannot answer. */}}
{{- define "tavana.kedaFallbackReplicas" -}}
{{- if kindIs "invalid" .Values.hpa.keda.fallbackReplicas -}}
{{- .Values.worker.replicaCount -}}
{{- else -}}
{{- .Values.hpa.keda.fallbackReplicas -}}
{{- end -}}
{{- end -}}

{{/* Names of the External metrics prometheus-adapter serves. */}}
{{- define "tavana.adapter.queueDepthMetric" -}}tavana_queue_depth_total{{- end -}}
{{- define "tavana.adapter.queueWaitMetric" -}}tavana_queue_oldest_wait_seconds_max{{- end -}}

{{/* The gateways' authentication: auth.method if given; with users (auth.existingSecret)
Tavana's default (scram-sha-256); without users, trust, so that the spec's clients connect
as they are shown (no password). Trust is then confined: the NetworkPolicy admits clients
from this namespace only, and a LoadBalancer is refused (tavana.validate). */}}
{{- define "tavana.authMethod" -}}
{{- if .Values.auth.method -}}{{ .Values.auth.method }}
{{- else if not .Values.auth.existingSecret -}}trust
{{- end -}}
{{- end -}}

{{/* ---------- Checks made at render time ---------- */}}
{{- define "tavana.validate" -}}
{{- $g := .Values.gateway -}}
{{- $w := .Values.worker -}}
{{- if le (int $g.terminationGracePeriodSeconds) (add (int $g.preStopSleepSeconds) (int $g.shutdownGracePeriodSeconds)) -}}
{{- fail (printf "gateway.terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + shutdownGracePeriodSeconds (%v + %v), or running statements are killed before they finish" $g.terminationGracePeriodSeconds $g.preStopSleepSeconds $g.shutdownGracePeriodSeconds) -}}
{{- end -}}
{{- if le (int $w.terminationGracePeriodSeconds) (add (int $w.preStopSleepSeconds) (int $w.drainGracePeriodSeconds)) -}}
{{- fail (printf "worker.terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + drainGracePeriodSeconds (%v + %v), or draining queries are killed" $w.terminationGracePeriodSeconds $w.preStopSleepSeconds $w.drainGracePeriodSeconds) -}}
{{- end -}}
{{- if gt (int $w.minReplicas) (int $w.maxReplicas) -}}
{{- fail (printf "worker.minReplicas (%v) is larger than worker.maxReplicas (%v)" $w.minReplicas $w.maxReplicas) -}}
{{- end -}}
{{- if and .Values.gateway.loadBalancer.exposeFlight (not .Values.gateway.flightSql.enabled) -}}
{{- fail "gateway.loadBalancer.exposeFlight needs gateway.flightSql.enabled" -}}
{{- end -}}
{{- if and .Values.hpa.enabled (eq .Values.hpa.provider "keda") (lt (int (include "tavana.kedaFallbackReplicas" .)) 1) -}}
{{- fail "hpa.keda.fallbackReplicas (or worker.replicaCount) must be at least 1" -}}
{{- end -}}
{{- if and (eq (include "tavana.authMethod" .) "trust") .Values.gateway.loadBalancer.enabled -}}
{{- fail "gateway.loadBalancer.enabled with trust authentication would let anyone who reaches the load balancer in: set auth.existingSecret (users and password hashes)" -}}
{{- end -}}
{{- $_ := include "tavana.queueWaitSeconds" . -}}
{{- end -}}
