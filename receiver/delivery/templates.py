"""Message templates: Jinja2 files, packaged defaults and an operator's override folder.

The packaged templates (``receiver/delivery/templates/*.j2``) word every notification. A file of
the same name in ``RECEIVER_TEMPLATE_DIR`` replaces one of them (the way Alertmanager takes
custom templates). Every template runs in Jinja2's immutable sandbox (no attribute of Python's
internals, no mutation) with undefined names as errors, and escapes what it outputs for its
format: ``*.html.j2`` HTML-escapes every value, ``slack.mrkdwn.j2`` Slack-escapes every value
(``&``, ``<``, ``>``, ``@channel``), plain-text templates output text as it is (each channel
then keeps it to one line or to its length where it must).

At start-up each override is compiled and rendered against sample notifications of every
kind; a template that does not parse or fails (an undefined name, a bad filter) stops the
receiver with a ``ConfigError`` naming the file and line. At send time a failing override
falls back to the packaged template, is counted (``receiver_template_errors_total``) and logged;
the notification still goes out.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog
from jinja2 import BaseLoader, FileSystemLoader, PackageLoader, StrictUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from monitoring.settings import ConfigError
from receiver.delivery.links import ACKNOWLEDGE, CONSOLE, DASHBOARD, GRAPH, RUNBOOK, Link
from receiver.delivery.message import Message, slack_escape

log = structlog.get_logger("receiver.templates")

TEXT, HTML, SLACK = "text", "html", "slack"
TITLE, SLACK_BODY, EMAIL_TEXT, EMAIL_HTML, SMS = (
    "title.txt.j2",
    "slack.mrkdwn.j2",
    "email.txt.j2",
    "email.html.j2",
    "sms.txt.j2",
)
FORMATS: Mapping[str, str] = {TITLE: TEXT, SLACK_BODY: SLACK, EMAIL_TEXT: TEXT, EMAIL_HTML: HTML, SMS: TEXT}
SLACK_VALUE_LIMIT = 40_000  # Slack's message limit; the section is cut to its own limit after rendering


def _slack_value(value: object) -> str:
    return slack_escape(str(value), SLACK_VALUE_LIMIT)


def environment(kind: str, loader: BaseLoader) -> ImmutableSandboxedEnvironment:
    """The sandboxed environment of one output format."""
    return ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=kind == HTML,
        finalize=_slack_value if kind == SLACK else None,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def template_line(exc: BaseException, filename: str | None) -> int | None:
    """The line of ``filename`` an error was raised at (Jinja2 puts template lines in tracebacks)."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.lineno
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if filename and f.filename == filename]
    return lines[-1] if lines else None


class MessageTemplates:
    """Renders the message templates; ``on_error(name)`` counts an override that failed at send time."""

    def __init__(self, override_dir: Path | None = None, on_error: Callable[[str], None] | None = None) -> None:
        self._on_error = on_error or (lambda _name: None)
        package = PackageLoader("receiver.delivery", "templates")
        self._defaults = {name: environment(kind, package).get_template(name) for name, kind in FORMATS.items()}
        self._overrides: dict[str, Template] = {}
        if override_dir is not None:
            self._overrides = _load_overrides(override_dir)

    @property
    def overridden(self) -> frozenset[str]:
        return frozenset(self._overrides)

    def render(self, name: str, message: Message) -> str:
        """``name`` rendered for ``message``: the override when there is one and it works, else the default."""
        context = message.context()
        override = self._overrides.get(name)
        if override is not None:
            try:
                return override.render(context)
            except Exception as exc:  # an operator's template at send time: count, log, fall back, send
                self._on_error(name)
                log.exception(
                    "message template failed; the packaged one was used",
                    template=override.filename,
                    line=template_line(exc, override.filename),
                    alert_id=message.alert_id,
                )
        return self._defaults[name].render(context)


def _load_overrides(folder: Path) -> dict[str, Template]:
    """Compile and try every ``*.j2`` of ``folder``; ``ConfigError`` names the file and line of a bad one."""
    found: dict[str, Template] = {}
    for path in sorted(folder.glob("*.j2")):
        if path.name not in FORMATS:
            raise ConfigError(
                f"RECEIVER_TEMPLATE_DIR: {path}: not a message template (expected one of {', '.join(FORMATS)})"
            )
        env = environment(FORMATS[path.name], FileSystemLoader(str(folder)))
        try:
            template = env.get_template(path.name)
        except TemplateSyntaxError as exc:
            raise ConfigError(f"RECEIVER_TEMPLATE_DIR: {path}:{exc.lineno}: {exc.message}") from None
        for sample in SAMPLES:
            try:
                template.render(sample.context())
            except Exception as exc:  # noqa: BLE001 - any failure of an operator template stops the start, located
                line = template_line(exc, template.filename)
                where = f"{path}:{line}" if line is not None else str(path)
                raise ConfigError(
                    f"RECEIVER_TEMPLATE_DIR: {where}: fails for a {sample.action} notification: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
        found[path.name] = template
    return found


def _sample(action: str, **changes: object) -> Message:
    fields: dict[str, object] = {
        "alert_id": 1,
        "action": action,
        "verb": action.upper(),
        "title": f"[CRITICAL] {action.upper()}: ServiceDown (asset-service)",
        "alertname": "ServiceDown",
        "status": "resolved" if action == "resolve" else "firing",
        "priority": "critical",
        "service": "asset-service",
        "instance": "10.0.0.1:8080",
        "summary": "asset-service is down",
        "description": "asset-service (10.0.0.1:8080) fails its scrapes or health checks.",
        "value": "0",
        "since": "2026-03-02 08:59:00 UTC",
        "lasted": "4m 10s" if action == "resolve" else "",
        "missed_deadline": "5m" if action == "escalate" else "",
        "escalations": 1 if action == "escalate" else 0,
        "fallback": False,
        "labels": (("alertname", "ServiceDown"), ("priority", "critical"), ("service", "asset-service")),
        "links": (
            Link(ACKNOWLEDGE, "https://receiver.example/console/ack/token"),
            Link(RUNBOOK, "javascript:alert(1)", clickable=False),
            Link(DASHBOARD, "https://grafana.example/d/system-status?viewPanel=6"),
            Link(GRAPH, "https://prometheus.example/graph?g0.expr=up"),
            Link(CONSOLE, "https://receiver.example/console/alerts/1"),
        ),
    }
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


# Start-up tries every override on each kind of notification, with links and without, and with empty fields.
SAMPLES = (
    _sample("trigger"),
    _sample("resolve"),
    _sample("escalate"),
    _sample("acknowledge"),
    _sample("trigger", links=(), service="", instance="", description="", value="", labels=()),
    # an incident's follow-up: another alert joined the incident this one belongs to
    _sample(
        "update",
        title="[CRITICAL] UPDATE: incident 12 (ExporterKafkaDown (monitoring-exporter)): ServiceDown joined",
        incident_id=12,
        incident_title="ExporterKafkaDown (monitoring-exporter)",
        incident_priority="critical",
        incident_alerts=3,
        incident_line="incident 12, 3 alerts, probable cause ExporterKafkaDown (monitoring-exporter)",
    ),
)
