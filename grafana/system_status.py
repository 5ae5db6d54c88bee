"""System status: service health, resource usage, error rate trend, performance."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.panels import PanelBuilder, build, graph, grid, prom, runbook, single, traces

UID = "system-status"
VERSION = 1
S = 'service=~"$service"'


def dashboard() -> Dashboard:
    health: list[PanelBuilder] = [
        single(
            "Services up",
            "Health-checked platform services that are up (damped state from the exporter's health checks).",
            [prom(f"sum(service_up{{{S}}})", "up")],
            "none",
            links=[runbook("servicedown", "ServiceDown")],
            thresholds=[(None, "red"), (1, "green")],
        ),
        single(
            "Services down",
            "Health-checked platform services that are down.",
            [prom(f"sum(1 - service_up{{{S}}})", "down")],
            "none",
            links=[runbook("servicedown", "ServiceDown")],
            thresholds=[(None, "green"), (1, "red")],
        ),
        single(
            "Scrape targets up",
            "Prometheus targets answering their scrape (`up`), of all targets with a service label.",
            [prom(f"sum(up{{{S}}}) / count(up{{{S}}})", "targets up")],
            "percentunit",
            links=[
                runbook("servicedown", "ServiceDown"),
                runbook("metriccollectionstalled", "MetricCollectionStalled"),
            ],
            thresholds=[(None, "red"), (1, "green")],
        ),
        single(
            "Health transitions",
            "ServiceHealthChanged transitions in the time range.",
            [prom(f"sum(increase(service_health_transitions_total{{{S}}}[$__range]))", "transitions")],
            "none",
            thresholds=[(None, "green"), (1, "orange")],
        ),
        graph(
            "Service health",
            "1 up, 0 down, per health-checked service (absent before the first check).",
            [prom(f"service_up{{{S}}}", "{{service}}")],
            "bool_on_off",
            links=[runbook("servicedown", "ServiceDown")],
        ),
        graph(
            "Health check duration",
            "Duration of the last health check, per service.",
            [prom(f"service_health_check_seconds{{{S}}}", "{{service}}")],
            "s",
        ),
    ]
    resources: list[PanelBuilder] = [
        graph(
            "Host CPU",
            "CPU busy ratio per host (node-exporter, recording rule instance:cpu_usage:ratio).",
            [prom("instance:cpu_usage:ratio", "{{instance}}")],
            "percentunit",
            links=[runbook("hosthighcpu", "HostHighCpu")],
            width=8,
        ),
        graph(
            "Host memory",
            "Memory in use per host (instance:memory_usage:ratio).",
            [prom("instance:memory_usage:ratio", "{{instance}}")],
            "percentunit",
            links=[runbook("hosthighmemory", "HostHighMemory")],
            width=8,
        ),
        graph(
            "Host disk",
            "Fullest filesystem per host (instance:disk_usage:ratio).",
            [prom("instance:disk_usage:ratio", "{{instance}}")],
            "percentunit",
            links=[runbook("hostdiskalmostfull", "HostDiskAlmostFull")],
            width=8,
        ),
        graph(
            "Disk and network throughput",
            "Disk read+write and network receive+transmit bytes per second per host.",
            [
                prom("instance:disk_io:bytes_rate5m", "disk {{instance}}"),
                prom("instance:network_traffic:bytes_rate5m", "network {{instance}}"),
            ],
            "Bps",
        ),
        graph(
            "Process memory",
            "Resident memory of the monitoring processes (exporter, receiver, Prometheus, Alertmanager).",
            [prom(f"process_resident_memory_bytes{{{S}}}", "{{service}} {{instance}}")],
            "bytes",
        ),
    ]
    errors: list[PanelBuilder] = [
        graph(
            "Error ratio (5m)",
            "Share of HTTP requests answered 5xx, per service (service:error_rate:ratio_rate5m).",
            [prom(f"service:error_rate:ratio_rate5m{{{S}}}", "{{service}}")],
            "percentunit",
            links=[runbook("errorbudgetburn", "ErrorBudgetBurn")],
        ),
        graph(
            "Error ratio trend (1h and 1d windows)",
            "The SLO burn-rate windows: a rising 1h line over a flat 1d line is a fresh problem.",
            [
                prom(f"service:error_rate:ratio_rate1h{{{S}}}", "1h {{service}}"),
                prom(f"service:error_rate:ratio_rate1d{{{S}}}", "1d {{service}}"),
            ],
            "percentunit",
            links=[runbook("errorbudgetburn", "ErrorBudgetBurn")],
        ),
        graph(
            "Monitoring dependencies up",
            "Kafka as the exporter sees it, the consumer-group admin reads, and the receiver's alert-history database.",
            [
                prom("monitoring_kafka_up", "exporter: Kafka"),
                prom("monitoring_consumer_groups_up", "exporter: consumer groups"),
                prom("receiver_database_up", "receiver: database"),
            ],
            "bool_on_off",
            links=[
                runbook("exporterkafkadown", "ExporterKafkaDown"),
                runbook("receiverdatabasedown", "ReceiverDatabaseDown"),
                traces("monitoring-exporter"),
            ],
            width=24,
        ),
    ]
    performance: list[PanelBuilder] = [
        graph(
            "Request rate",
            "HTTP requests per second per service (service:request_rate:rate5m).",
            [prom(f"service:request_rate:rate5m{{{S}}}", "{{service}}")],
            "reqps",
            links=[runbook("performanceanomaly", "PerformanceAnomaly")],
            width=8,
        ),
        graph(
            "Response time p50 / p95 / p99",
            "Recorded response-time quantiles per service.",
            [
                prom(f"service:response_time:p50_5m{{{S}}}", "p50 {{service}}"),
                prom(f"service:response_time:p95_5m{{{S}}}", "p95 {{service}}"),
                prom(f"service:response_time:p99_5m{{{S}}}", "p99 {{service}}"),
            ],
            "s",
            links=[runbook("highlatency", "HighLatency")],
            width=8,
        ),
        graph(
            "Response time p99 with exemplars",
            "p99 from the raw histogram, with exemplars: a dot links to its trace in Jaeger.",
            [
                prom(
                    "histogram_quantile(0.99, sum by (service, le) "
                    f"(rate(http_request_duration_seconds_bucket{{{S}}}[$__rate_interval])))",
                    "p99 {{service}}",
                    exemplar=True,
                )
            ],
            "s",
            links=[runbook("highlatency", "HighLatency")],
            width=8,
        ),
        graph(
            "Concurrent users",
            "Concurrent users per service (service:concurrent_users:sum).",
            [prom(f"service:concurrent_users:sum{{{S}}}", "{{service}}")],
            "short",
        ),
        graph(
            "Receiver: webhook p99 and its intake stages",
            "The alert receiver's answer to Alertmanager's webhook (p50, p99) and the p99 of each intake "
            "stage: decode, observe (priority and channels), store (the history's transaction).",
            [
                prom(
                    "histogram_quantile(0.5, sum by (le) (rate(receiver_http_request_duration_seconds_bucket"
                    '{route="/api/v1/alerts/alertmanager"}[$__rate_interval])))',
                    "webhook p50",
                ),
                prom(
                    "histogram_quantile(0.99, sum by (le) (rate(receiver_http_request_duration_seconds_bucket"
                    '{route="/api/v1/alerts/alertmanager"}[$__rate_interval])))',
                    "webhook p99",
                ),
                prom(
                    "histogram_quantile(0.99, sum by (stage, le) "
                    "(rate(receiver_webhook_stage_duration_seconds_bucket[$__rate_interval])))",
                    "{{stage}} p99",
                ),
            ],
            "s",
            links=[runbook("receiveroverloaded", "ReceiverOverloaded"), traces("monitoring-receiver")],
        ),
        grid(
            "Scrape targets",
            "Every target with its job and state.",
            [prom(f"up{{{S}}}", "", instant=True)],
            links=[runbook("metriccollectionstalled", "MetricCollectionStalled")],
        ),
    ]
    return build(
        UID,
        "System status",
        "Service health, resource usage, error-rate trend and performance of the platform and the monitoring stack.",
        VERSION,
        [
            ("Service health", health),
            ("Resource usage", resources),
            ("Error rate trend", errors),
            ("Performance", performance),
        ],
    )
