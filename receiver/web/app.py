"""The receiver's Flask application factory. Nothing connects at import time."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Callable, Mapping

import structlog
from flask import Flask, Response, g, request
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, StatusCode, Tracer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from werkzeug.exceptions import RequestEntityTooLarge

from monitoring.logs import configure_logging
from monitoring.settings import ConfigError
from monitoring.tracing import Tracing, configure_tracing, context_from_traceparent
from receiver.config.routing import RoutingPolicy
from receiver.config.settings import ReceiverConfig
from receiver.config.topology import Topology
from receiver.delivery.channel_set import build_channels
from receiver.delivery.composer import build_composer
from receiver.delivery.deadmans_switch import DeadMansSwitch, DeadMansSwitchCollector
from receiver.delivery.domain_events import OutboxBacklogCollector, ReceiverDomainEvents, build_domain_events
from receiver.delivery.metrics import DeliveryMetrics, OutboxCollector
from receiver.delivery.notification import Channel
from receiver.delivery.process import build_background
from receiver.intake.admission import Admission, AdmissionGate, Overloaded, RefusalSummary
from receiver.intake.correlation import IncidentRules
from receiver.intake.metrics import IntakeMetrics
from receiver.store.api_keys import SqlKeyStore
from receiver.store.audit import SqlAuditLog
from receiver.store.database import Database, DatabaseUnavailable, PostgresDatabase, SqliteDatabase, open_database
from receiver.store.event_outbox import SqlEventOutbox
from receiver.store.history import AlertHistory
from receiver.store.sql_history import SqlAlertHistory
from receiver.store.sql_reports import SqlReports
from receiver.web import (
    access,
    ack_links,
    admin_api,
    api,
    console,
    events_api,
    health,
    incidents_api,
    reports_api,
    runbooks,
)
from receiver.web.json_errors import error_response
from receiver.web.request_metrics import RequestMetrics, RequestTimer, remember_route
from receiver.web.worker_metrics import WorkerMetricsCollector

log = structlog.get_logger("receiver")
REFUSAL_LOG_INTERVAL = 10.0  # seconds between log lines counting refused webhooks
SERVICE_NAME = "monitoring-receiver"  # the tracing resource's service.name unless OTEL_SERVICE_NAME says otherwise
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def create_app(
    config: ReceiverConfig,
    database: Database | None = None,
    *,
    history: AlertHistory | None = None,
    channels: Mapping[str, Channel] | None = None,
    clock: Callable[[], float] = time.time,
    registry: CollectorRegistry | None = None,
    multiprocess_dir: str | None = None,
    tracing: Tracing | None = None,
    on_reload: Callable[[], None] | None = None,
) -> Flask:
    """Build the app. ``app.extensions["background"]`` is the work the delivery process runs (one outbox
    sender, ``app.extensions["delivery"]``; the domain-event relay, ``app.extensions["domain_events"]``;
    retention, ``app.extensions["retention"]``), built here for tests and tools to drive in-process:
    under gunicorn the workers never start it, the delivery process does (receiver/delivery/process.py).
    ``on_reload`` runs after ``POST /api/v1/config/reload`` applied a new routing policy here
    (under gunicorn: tell the master, which replaces every worker and signals the delivery process)."""
    app = Flask(__name__)
    app.before_request(remember_route)  # first, so that requests refused by a later hook have their route
    app.config["RECEIVER"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes  # also bounds bodies sent without Content-Length
    database = database or open_database(config)
    app.extensions["database"] = database
    registry = registry or CollectorRegistry()
    app.extensions["registry"] = registry
    domain_events: ReceiverDomainEvents | None = None
    if config.domain_events and isinstance(database, PostgresDatabase | SqliteDatabase):
        domain_events = build_domain_events(config, SqlEventOutbox(database, clock), registry, clock)
        app.extensions["event_store"] = events_api.EventStoreReader(domain_events.store, registry)
    app.extensions["domain_events"] = domain_events
    audit_log: SqlAuditLog | None = None
    keys: SqlKeyStore | None = None
    if isinstance(database, PostgresDatabase | SqliteDatabase):
        audit_log = SqlAuditLog(database, clock)
        keys = SqlKeyStore(database, audit_log, clock)
    app.extensions["audit_log"] = audit_log
    app.extensions["keys"] = keys
    rules = None  # incidents: on with a topology (a bad file stops the start, naming file and line)
    if config.topology_file is not None:
        topology = Topology.from_file(config.topology_file)
        rules = IncidentRules(topology, config.incident_window, config.incident_cooldown, config.incident_hold)
    if history is None and isinstance(database, PostgresDatabase | SqliteDatabase):
        history = SqlAlertHistory(
            database,
            None if domain_events is None else domain_events.outbox,
            audit_log=audit_log,
            stale_firing_grace=config.stale_firing_grace,
            correlator=rules,
        )
    incidents = history if isinstance(history, SqlAlertHistory) else None
    migrated = history is None or _migrate(history)
    metrics = IntakeMetrics(registry)
    delivery_metrics = DeliveryMetrics(registry)
    policy = RoutingPolicy.from_file(config.routing_file) if config.routing_file else RoutingPolicy()
    composer = build_composer(
        config.notifications, clock, lambda template: delivery_metrics.template_errors.labels(template).inc()
    )
    app.extensions["composer"] = composer
    app.extensions["ack_links"] = composer.ack_links  # None without RECEIVER_ACK_SECRET
    app.extensions["ack_link_metrics"] = ack_links.AckLinkMetrics(registry)
    app.extensions["runbooks"] = runbooks.load()
    if channels is None:
        channels = build_channels(config.channels, config.send_timeout, composer)
    channels = dict(channels)
    switch = None
    if config.deadmans_switch and history is not None:
        switch = DeadMansSwitch(
            history, policy, frozenset(channels), clock, config.deadmans_window, check_interval=config.poll_interval
        )
    app.extensions["deadmans_switch"] = switch
    tracing = tracing or Tracing()
    app.extensions["tracing"] = tracing
    tracer = tracing.tracer("receiver")
    app.extensions["receiver"] = api.Wiring(
        config,
        history,
        policy,
        metrics,
        clock,
        frozenset(channels),
        switch,
        tracer=tracer,
        audit_log=audit_log,
        incident_rules=rules,
        incidents=incidents,
    )
    # The background work (senders, relay, retention) as the delivery process runs it, built here too so
    # that tests and tools drive it in-process; under gunicorn the workers never start it.
    background = None
    if history is not None:
        background = build_background(
            config,
            database if isinstance(database, PostgresDatabase | SqliteDatabase) else None,
            history,
            lambda: channels,
            policy,
            delivery_metrics,
            clock,
            domain_events=domain_events,
            deadmans_switch=switch,
            tracer=tracer,
            incidents=incidents,
        )
        app.extensions["delivery"] = background.senders[0]
        app.extensions["retention"] = background.retention
    app.extensions["background"] = background

    def reload() -> str:
        """Re-read the routing policy file (ConfigError when it is invalid: the old one stays)."""
        if config.routing_file is None:
            raise ConfigError("RECEIVER_ROUTING_FILE is not set: nothing to reload")
        fresh = RoutingPolicy.from_file(config.routing_file)
        app.extensions["receiver"] = dataclasses.replace(app.extensions["receiver"], policy=fresh)
        if background is not None:
            background.use_policy(fresh)
        elif switch is not None:
            switch.use_policy(fresh)
        if on_reload is not None:
            on_reload()
        return str(config.routing_file)

    app.extensions["admin"] = admin_api.Admin(audit_log, keys, reload)
    sql_reports = SqlReports(database) if isinstance(database, PostgresDatabase | SqliteDatabase) else None
    app.extensions["reports"] = reports_api.Reports(sql_reports, config.reports, registry)
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(incidents_api.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(ack_links.bp)
    app.register_blueprint(runbooks.bp)
    app.register_blueprint(events_api.bp)
    app.register_blueprint(admin_api.bp)
    app.register_blueprint(reports_api.bp)
    if tracing.enabled:
        server_spans(app, tracer)

    if not migrated:  # the database was down at start: retry before requests until it works

        @app.before_request
        def migrate_when_possible() -> None:
            nonlocal migrated
            if not migrated and history is not None:
                migrated = _migrate(history)

    access.install(app, config, keys, audit_log)  # after the migration hook: keys live in the schema

    scrape = registry
    if multiprocess_dir is not None:  # several gunicorn workers: counters are summed across processes
        scrape = CollectorRegistry()
        WorkerMetricsCollector(scrape, path=multiprocess_dir)
    if history is not None:
        scrape.register(OutboxCollector(history, clock))
        scrape.register(DeadMansSwitchCollector(history))
    if domain_events is not None:
        scrape.register(OutboxBacklogCollector(domain_events.outbox))

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        return Response(generate_latest(scrape), mimetype=CONTENT_TYPE_LATEST)

    admission = Admission(config.max_inflight, config.max_inflight, config.admission_wait)
    app.extensions["admission"] = admission
    refusals = RefusalSummary(time.monotonic, REFUSAL_LOG_INTERVAL)

    def refused(exc: Overloaded) -> None:
        metrics.webhooks_rejected.labels("overload").inc()
        if count := refusals.add():
            log.warning("webhooks refused: overloaded", reason="overload", refused=count, detail=str(exc))

    app.wsgi_app = AdmissionGate(app.wsgi_app, admission, api.WEBHOOK_PATH, refused)  # type: ignore[method-assign]
    # outermost: refusals are timed too
    app.wsgi_app = RequestTimer(app.wsgi_app, RequestMetrics(registry), fixed=(api.WEBHOOK_PATH,))  # type: ignore[method-assign]

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_exc: RequestEntityTooLarge) -> Response:
        metrics.webhooks_rejected.labels("too_large").inc()
        return error_response(413, f"body exceeds {config.max_body_bytes} bytes")

    return app


def server_spans(app: Flask, tracer: Tracer) -> None:
    """A SERVER span around every API request, continuing the caller's ``traceparent`` header.

    Probes and scrapes (/healthz, /readyz, /metrics) are left out: a trace every few seconds
    from Prometheus and the orchestrator would bury the ones worth reading.
    """

    @app.before_request
    def start_span() -> None:
        if request.path in UNTRACED_PATHS:
            return
        route = request.url_rule.rule if request.url_rule is not None else request.path
        span = tracer.start_span(
            f"{request.method} {route}",
            context=context_from_traceparent(request.headers.get("traceparent")),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "http.route": route, "url.path": request.path},
        )
        g.trace_span = span
        g.trace_token = context.attach(trace.set_span_in_context(span))

    @app.after_request
    def record_status(response: Response) -> Response:
        span = g.get("trace_span")
        if span is not None:
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(StatusCode.ERROR)
        return response

    @app.teardown_request
    def end_span(error: BaseException | None) -> None:
        span = g.pop("trace_span", None)
        if span is None:
            return
        if error is not None:
            span.record_exception(error)
            span.set_status(StatusCode.ERROR, type(error).__name__)
        span.end()
        context.detach(g.pop("trace_token"))


def _migrate(history: AlertHistory) -> bool:
    try:
        version = history.migrate()
    except DatabaseUnavailable as exc:  # readiness reports it; intake answers 503 until it works
        log.error("schema migration failed", reason=str(exc))
        return False
    log.info("schema migrated", schema_version=version)
    return True


def create_app_from_environ() -> Flask:
    """gunicorn's entry: ``receiver.web.app:create_app_from_environ()``."""
    config = ReceiverConfig.from_environ(os.environ)
    configure_logging(config.shared.log_format, config.shared.log_level)
    tracing = configure_tracing(os.environ, SERVICE_NAME)  # per worker: gunicorn loads the app after forking
    master = os.getppid()
    return create_app(
        config,
        multiprocess_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None,
        tracing=tracing,
        # gunicorn's HUP: new workers (reading the new policy) replace the old ones gracefully
        on_reload=lambda: os.kill(master, signal.SIGHUP),
    )
