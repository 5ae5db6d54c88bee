"""The receiver's configuration: the shared settings plus its own section."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitoring.settings import (
    OPTIONS,
    ConfigError,
    Option,
    Secret,
    Settings,
    load_config_file,
    parse_choice,
    parse_duration,
    parse_path,
    parse_port,
    parse_positive_int,
    parse_uri,
    resolve,
)
from receiver.config.egress import DestinationDenied, EgressPolicy, parse_allow_list


def parse_text(raw: object) -> str:
    if not isinstance(raw, str | int) or isinstance(raw, bool) or not str(raw).strip():
        raise ValueError("expected a non-empty string")
    return str(raw).strip()


def parse_time_zone(raw: object) -> str:
    """An IANA time zone name (``Asia/Seoul``) that this machine's zoneinfo (or the tzdata package) knows."""
    expected = "expected an IANA time zone such as Asia/Seoul or UTC"
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(expected)
    name = raw.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; {expected}") from None
    return name


@dataclass(frozen=True)
class WorkingHours:
    """A working day's hours in local time, ``[start, end)`` in minutes after midnight."""

    start: int = 9 * 60
    end: int = 18 * 60

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|(24):(00)")


def parse_working_hours(raw: object) -> WorkingHours:
    """``09:00-18:00``: start included, end excluded, the same day (no overnight shifts)."""
    expected = "expected working hours as HH:MM-HH:MM, e.g. 09:00-18:00"
    if not isinstance(raw, str):
        raise ValueError(expected)
    start_text, dash, end_text = raw.strip().partition("-")
    start, end = _CLOCK.fullmatch(start_text.strip()), _CLOCK.fullmatch(end_text.strip())
    if not dash or start is None or end is None:
        raise ValueError(expected)
    minutes = [int(m.group(1) or m.group(3)) * 60 + int(m.group(2) or m.group(4)) for m in (start, end)]
    if minutes[0] >= minutes[1]:
        raise ValueError(f"{expected}; the start must come before the end")
    return WorkingHours(minutes[0], minutes[1])


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # ISO weekday 1..7


def parse_working_days(raw: object) -> frozenset[int]:
    """``mon-fri``, ``sun-thu`` or ``sun,mon,tue`` -> ISO weekdays (Monday 1 .. Sunday 7)."""
    expected = "expected weekdays such as mon-fri or mon,tue,wed,thu,fri"
    items = raw if isinstance(raw, list) else str(raw).split(",")
    days: set[int] = set()
    for item in (str(i).strip().lower() for i in items):
        first, dash, last = item.partition("-")
        if first not in WEEKDAYS or (dash and last not in WEEKDAYS):
            raise ValueError(expected)
        low, high = WEEKDAYS.index(first) + 1, WEEKDAYS.index(last if dash else first) + 1
        # a range may run over the week's end: sun-thu is Sunday to Thursday
        days.update(range(low, high + 1) if low <= high else (*range(low, 8), *range(1, high + 1)))
    return frozenset(days)


def parse_secret(raw: object) -> Secret:
    return Secret(parse_text(raw))


def parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def parse_addresses(raw: object) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    addresses = tuple(str(item).strip() for item in items if str(item).strip())
    if not addresses or any("\r" in a or "\n" in a or "@" not in a for a in addresses):
        raise ValueError("expected comma-separated e-mail addresses")
    return addresses


class UrlSecret(Secret):
    """A URL whose path is the credential (Slack webhooks): only scheme and host are shown."""

    def __repr__(self) -> str:
        return f"Secret({str(self)!r})"

    def __str__(self) -> str:
        parts = urlsplit(self.reveal())
        return f"{parts.scheme}://{parts.hostname}/***"


def parse_seconds_or_zero(raw: object) -> float:
    """A duration, or 0 (off)."""
    if str(raw).strip() in ("0", "0s", "off"):
        return 0.0
    return parse_duration(raw)


def parse_control_socket(raw: object) -> str:
    """``auto`` (one socket per instance, named for its port), ``off``, or an absolute path."""
    text = str(raw).strip()
    if text in ("auto", "off") or text.startswith("/"):
        return text
    raise ValueError("expected auto, off or an absolute path")


def parse_https(raw: object) -> str:
    """The pagerduty package accepts only https:// base URLs."""
    return parse_uri("https")(raw).reveal()


def _http_url(raw: object) -> Secret:
    return UrlSecret(parse_uri("http", "https")(raw).reveal())


def parse_base_url(raw: object) -> str:
    """A public base URL (http or https, a host, an optional path prefix; no query or fragment),
    without its trailing slash: links are built as ``<base>/console/...``."""
    url = parse_uri("http", "https")(raw).reveal()
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("expected a base URL without credentials, query or fragment")
    return url.rstrip("/")


ACK_SECRET_MIN = 32  # characters: the acknowledge links' signing key


def parse_signing_key(raw: object) -> Secret:
    key = parse_secret(raw)
    if len(key.reveal()) < ACK_SECRET_MIN:
        raise ValueError(f"expected at least {ACK_SECRET_MIN} characters (e.g. `openssl rand -base64 48`)")
    return key


RECEIVER_OPTIONS: tuple[Option[Any], ...] = (
    # Loopback by default; binding every interface is an explicit operator choice.
    Option("RECEIVER_HOST", "receiver.host", parse_choice("127.0.0.1", "0.0.0.0", "::", "::1"), "127.0.0.1"),  # noqa: S104
    Option("RECEIVER_WORKERS", "receiver.workers", parse_positive_int, 2),
    # Overload (receiver/intake/admission.py): each worker serves RECEIVER_THREADS requests at once and
    # stores at most RECEIVER_MAX_INFLIGHT webhooks at once; as many more wait up to
    # RECEIVER_ADMISSION_WAIT for a slot, the rest get 503 + Retry-After at once (Alertmanager retries).
    Option("RECEIVER_THREADS", "receiver.threads", parse_positive_int, 12),
    Option("RECEIVER_MAX_INFLIGHT", "receiver.max_inflight", parse_positive_int, 4),
    Option("RECEIVER_ADMISSION_WAIT", "receiver.admission_wait", parse_duration, 1.0),
    Option("RECEIVER_SQLITE_PATH", "receiver.sqlite_path", parse_path, Path(".cache/receiver.sqlite3")),
    # Webhook authentication: a bearer token, basic auth, or both (either is accepted).
    Option("RECEIVER_WEBHOOK_TOKEN", "receiver.webhook_token", parse_secret, None, True),
    Option("RECEIVER_WEBHOOK_USERNAME", "receiver.webhook_username", parse_text, None),
    Option("RECEIVER_WEBHOOK_PASSWORD", "receiver.webhook_password", parse_secret, None, True),
    # TLS: gunicorn serves HTTPS only when both are set (receiver/web/gunicorn_conf.py).
    Option("RECEIVER_TLS_CERT", "receiver.tls_cert", parse_path, None),
    Option("RECEIVER_TLS_KEY", "receiver.tls_key", parse_path, None),
    Option("RECEIVER_MAX_BODY_BYTES", "receiver.max_body_bytes", parse_positive_int, 1 << 20),
    # gunicorn's control socket (gunicornc): per instance, never gunicorn's one shared default path.
    Option("RECEIVER_CONTROL_SOCKET", "receiver.control_socket", parse_control_socket, "auto"),
    Option("RECEIVER_ROUTING_FILE", "receiver.routing_file", parse_path, None),
    # Incidents (docs/alerting.md, "Incidents"): the platform's parts and dependencies; unset, every alert
    # pages on its own. The window relates alerts that arrive apart; an alert firing again within the
    # cool-down after its incident resolved reopens it (and the resolve notification waits that long).
    Option("RECEIVER_TOPOLOGY_FILE", "receiver.topology_file", parse_path, None),
    Option("RECEIVER_INCIDENT_WINDOW", "receiver.incident_window", parse_duration, 300.0),
    Option("RECEIVER_INCIDENT_COOLDOWN", "receiver.incident_cooldown", parse_duration, 300.0),
    # A new incident's page waits this long, so that related alerts arriving at the same moment through other
    # webhooks, workers or receivers merge into it first instead of paging on their own.
    Option("RECEIVER_INCIDENT_HOLD", "receiver.incident_hold", parse_seconds_or_zero, 2.0),
    # Delivery: "process" runs the outbox senders, the domain-event relay and retention in a process of
    # their own beside gunicorn's workers (receiver/delivery/process.py); "off" leaves them to another instance.
    Option("RECEIVER_DELIVERY", "receiver.delivery", parse_choice("process", "off"), "process"),
    # As many senders as the two default workers had delivery threads; more send faster and take more of the
    # CPU intake needs.
    Option("RECEIVER_DELIVERY_THREADS", "receiver.delivery_threads", parse_positive_int, 2),
    Option("RECEIVER_POLL_INTERVAL", "receiver.poll_interval", parse_duration, 1.0),
    Option("RECEIVER_RETRY_BASE", "receiver.retry_base", parse_duration, 2.0),
    Option("RECEIVER_RETRY_MAX", "receiver.retry_max", parse_duration, 300.0),
    Option("RECEIVER_SEND_TIMEOUT", "receiver.send_timeout", parse_duration, 10.0),
    Option("RECEIVER_DIGEST_INTERVAL", "receiver.digest_interval", parse_duration, 3600.0),
    # A firing delivery with the startsAt of an alert resolved less than this ago is a stale replay (a lagging
    # Alertmanager HA peer, a resent webhook): recorded in the timeline, not re-opened, nobody paged.
    Option("RECEIVER_STALE_FIRING_GRACE", "receiver.stale_firing_grace", parse_duration, 60.0),
    # Dead man's switch: page directly when no Watchdog has arrived from Alertmanager for the window.
    Option("RECEIVER_DEADMANS_SWITCH", "receiver.deadmans_switch", parse_bool, True),
    Option("RECEIVER_DEADMANS_WINDOW", "receiver.deadmans_window", parse_duration, 300.0),
    # Domain events (AlertCreated, ThresholdExceeded, PerformanceAnomaly, AlertResolved): written to
    # an outbox table in the alert's transaction, relayed to Kafka and the event store.
    Option("RECEIVER_DOMAIN_EVENTS", "receiver.domain_events", parse_bool, True),
    Option("RECEIVER_EVENT_STORE_PATH", "receiver.event_store_path", parse_path, Path(".cache/events.sqlite3")),
    # Channel destinations: configuration only, never alert labels.
    Option("RECEIVER_SLACK_WEBHOOK_URL", "receiver.slack_webhook_url", _http_url, None, True),
    Option("RECEIVER_WEBHOOK_URL", "receiver.webhook_url", _http_url, None, True),
    Option("RECEIVER_PAGERDUTY_ROUTING_KEY", "receiver.pagerduty_routing_key", parse_secret, None, True),
    Option(
        "RECEIVER_PAGERDUTY_EVENTS_URL", "receiver.pagerduty_events_url", parse_https, "https://events.pagerduty.com"
    ),
    Option("RECEIVER_PAGERDUTY_CA_FILE", "receiver.pagerduty_ca_file", parse_path, None),
    Option("RECEIVER_SMS_API_URL", "receiver.sms_api_url", _http_url, Secret("https://api.twilio.com")),
    Option("RECEIVER_SMS_ACCOUNT_SID", "receiver.sms_account_sid", parse_text, None),
    Option("RECEIVER_SMS_AUTH_TOKEN", "receiver.sms_auth_token", parse_secret, None, True),
    Option("RECEIVER_SMS_FROM", "receiver.sms_from", parse_text, None),
    Option("RECEIVER_SMS_TO", "receiver.sms_to", parse_text, None),
    Option("RECEIVER_SMTP_HOST", "receiver.smtp_host", parse_text, None),
    Option("RECEIVER_SMTP_PORT", "receiver.smtp_port", parse_port, 587),
    Option("RECEIVER_SMTP_STARTTLS", "receiver.smtp_starttls", parse_bool, True),
    Option("RECEIVER_SMTP_CA_FILE", "receiver.smtp_ca_file", parse_path, None),
    Option("RECEIVER_SMTP_USERNAME", "receiver.smtp_username", parse_text, None),
    Option("RECEIVER_SMTP_PASSWORD", "receiver.smtp_password", parse_secret, None, True),
    Option("RECEIVER_EMAIL_FROM", "receiver.email_from", parse_addresses, None),
    Option("RECEIVER_EMAIL_TO", "receiver.email_to", parse_addresses, None),
    # Outbound allow-list (receiver/config/egress.py): loopback, link-local and metadata addresses are denied,
    # private ranges too unless allowed; explicit host names, addresses and CIDR ranges are allowed.
    Option("RECEIVER_EGRESS_ALLOW", "receiver.egress_allow", parse_allow_list, ()),
    Option("RECEIVER_EGRESS_ALLOW_PRIVATE", "receiver.egress_allow_private", parse_bool, False),
    # What notifications link to (docs/receiver.md, "Notifications"): the receiver's public URL (console and
    # acknowledge links, runbooks), Grafana's (dashboard links), the acknowledge links' signing key and
    # lifetime, and a folder of message templates that override the packaged ones.
    Option("RECEIVER_EXTERNAL_URL", "receiver.external_url", parse_base_url, None),
    Option("RECEIVER_GRAFANA_URL", "receiver.grafana_url", parse_base_url, None),
    Option("RECEIVER_ACK_SECRET", "receiver.ack_secret", parse_signing_key, None, True),
    Option("RECEIVER_ACK_LINK_TTL", "receiver.ack_link_ttl", parse_duration, 86400.0),
    Option("RECEIVER_TEMPLATE_DIR", "receiver.template_dir", parse_path, None),
    # Local channels (`make run`, machines without paid services): a JSON-lines file, standard output.
    Option("RECEIVER_FILE_CHANNEL_PATH", "receiver.file_channel_path", parse_path, None),
    Option("RECEIVER_CONSOLE_CHANNEL", "receiver.console_channel", parse_bool, False),
    # Alert-quality reports (receiver/reports/): out-of-hours pages are judged in this zone and these hours.
    Option("RECEIVER_REPORT_TIMEZONE", "receiver.report_timezone", parse_time_zone, "Asia/Seoul"),
    Option("RECEIVER_REPORT_WORKING_HOURS", "receiver.report_working_hours", parse_working_hours, WorkingHours()),
    Option("RECEIVER_REPORT_WORKING_DAYS", "receiver.report_working_days", parse_working_days, frozenset(range(1, 6))),
)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    starttls: bool
    ca_file: Path | None
    username: str | None
    password: Secret | None
    sender: str
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class SmsConfig:
    api_url: str
    account_sid: str
    auth_token: Secret
    sender: str
    recipient: str


@dataclass(frozen=True)
class ChannelConfig:
    """Where each channel delivers; a channel whose settings are absent is not configured."""

    slack_webhook_url: Secret | None = None
    webhook_url: Secret | None = None
    pagerduty_routing_key: Secret | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com"
    pagerduty_ca_file: Path | None = None
    sms: SmsConfig | None = None
    smtp: SmtpConfig | None = None
    file_path: Path | None = None
    console: bool = False
    egress: EgressPolicy = field(default_factory=EgressPolicy)


@dataclass(frozen=True)
class NotificationConfig:
    """What a notification links to and how it is worded.

    ``external_url``: where people reach this receiver (console, acknowledge links, runbooks);
    without it those links are left out. ``grafana_url``: Grafana's base for the rules'
    ``dashboard_url`` paths; without it dashboard links are left out. ``ack_secret`` signs the
    acknowledge links (none without it), which expire after ``ack_link_ttl`` seconds.
    ``template_dir`` holds message templates that replace the packaged ones of the same name."""

    external_url: str | None = None
    grafana_url: str | None = None
    ack_secret: Secret | None = None
    ack_link_ttl: float = 86400.0
    template_dir: Path | None = None


@dataclass(frozen=True)
class ReportSettings:
    """Where and when the on-call team works: pages outside these hours count as out of hours."""

    time_zone: str = "Asia/Seoul"
    working_hours: WorkingHours = field(default_factory=WorkingHours)
    working_days: frozenset[int] = frozenset(range(1, 6))  # ISO weekdays, Monday 1 .. Sunday 7


@dataclass(frozen=True)
class ReceiverConfig:
    shared: Settings
    host: str = "127.0.0.1"
    workers: int = 2
    threads: int = 12
    max_inflight: int = 4
    admission_wait: float = 1.0
    sqlite_path: Path = Path(".cache/receiver.sqlite3")
    webhook_token: Secret | None = None
    webhook_username: str | None = None
    webhook_password: Secret | None = None
    max_body_bytes: int = 1 << 20
    control_socket: str = "auto"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    routing_file: Path | None = None
    topology_file: Path | None = None
    incident_window: float = 300.0
    incident_cooldown: float = 300.0
    incident_hold: float = 2.0
    delivery: str = "process"
    delivery_threads: int = 2
    poll_interval: float = 1.0
    retry_base: float = 2.0
    retry_max: float = 300.0
    send_timeout: float = 10.0
    digest_interval: float = 3600.0
    stale_firing_grace: float = 60.0
    deadmans_switch: bool = True
    deadmans_window: float = 300.0
    domain_events: bool = True
    event_store_path: Path = Path(".cache/events.sqlite3")
    channels: ChannelConfig = field(default_factory=ChannelConfig)
    notifications: NotificationConfig = field(default_factory=NotificationConfig)
    reports: ReportSettings = field(default_factory=ReportSettings)

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> ReceiverConfig:
        path, file_values = load_config_file(env)
        v = resolve(OPTIONS + RECEIVER_OPTIONS, env, file_values, path)
        if (v["receiver.webhook_username"] is None) != (v["receiver.webhook_password"] is None):
            raise ConfigError("RECEIVER_WEBHOOK_USERNAME and RECEIVER_WEBHOOK_PASSWORD must be set together")
        if (v["receiver.tls_cert"] is None) != (v["receiver.tls_key"] is None):
            raise ConfigError("RECEIVER_TLS_CERT and RECEIVER_TLS_KEY must be set together")
        for name, tls_file in (
            ("RECEIVER_TLS_CERT", v["receiver.tls_cert"]),
            ("RECEIVER_TLS_KEY", v["receiver.tls_key"]),
        ):
            if tls_file is not None and not tls_file.is_file():
                raise ConfigError(f"{name}={tls_file}: no such file")
        template_dir = v["receiver.template_dir"]
        if template_dir is not None and not template_dir.is_dir():
            raise ConfigError(f"RECEIVER_TEMPLATE_DIR={template_dir}: no such directory")
        if v["receiver.threads"] <= 2 * v["receiver.max_inflight"]:
            raise ConfigError(
                f"RECEIVER_THREADS={v['receiver.threads']} must exceed twice RECEIVER_MAX_INFLIGHT="
                f"{v['receiver.max_inflight']}: webhooks use up to that many threads (storing and waiting), "
                "and probes, scrapes and reads need the rest"
            )
        return cls(
            shared=Settings.from_values(v, path),
            host=v["receiver.host"],
            workers=v["receiver.workers"],
            threads=v["receiver.threads"],
            max_inflight=v["receiver.max_inflight"],
            admission_wait=v["receiver.admission_wait"],
            sqlite_path=v["receiver.sqlite_path"],
            webhook_token=v["receiver.webhook_token"],
            webhook_username=v["receiver.webhook_username"],
            webhook_password=v["receiver.webhook_password"],
            max_body_bytes=v["receiver.max_body_bytes"],
            control_socket=v["receiver.control_socket"],
            tls_cert=v["receiver.tls_cert"],
            tls_key=v["receiver.tls_key"],
            routing_file=v["receiver.routing_file"],
            topology_file=v["receiver.topology_file"],
            incident_window=v["receiver.incident_window"],
            incident_cooldown=v["receiver.incident_cooldown"],
            incident_hold=v["receiver.incident_hold"],
            delivery=v["receiver.delivery"],
            delivery_threads=v["receiver.delivery_threads"],
            poll_interval=v["receiver.poll_interval"],
            retry_base=v["receiver.retry_base"],
            retry_max=v["receiver.retry_max"],
            send_timeout=v["receiver.send_timeout"],
            digest_interval=v["receiver.digest_interval"],
            stale_firing_grace=v["receiver.stale_firing_grace"],
            deadmans_switch=v["receiver.deadmans_switch"],
            deadmans_window=v["receiver.deadmans_window"],
            domain_events=v["receiver.domain_events"],
            event_store_path=v["receiver.event_store_path"],
            channels=_channels(v),
            notifications=NotificationConfig(
                external_url=v["receiver.external_url"],
                grafana_url=v["receiver.grafana_url"],
                ack_secret=v["receiver.ack_secret"],
                ack_link_ttl=v["receiver.ack_link_ttl"],
                template_dir=template_dir,
            ),
            reports=ReportSettings(
                time_zone=v["receiver.report_timezone"],
                working_hours=v["receiver.report_working_hours"],
                working_days=v["receiver.report_working_days"],
            ),
        )

    @property
    def database_label(self) -> str:
        """Where alert history lives, safe to log."""
        if self.shared.postgres_uri is not None:
            return str(self.shared.postgres_uri)
        return f"sqlite:///{self.sqlite_path}"

    @property
    def requires_auth(self) -> bool:
        return self.webhook_token is not None or self.webhook_username is not None


def _channels(v: Mapping[str, Any]) -> ChannelConfig:
    sms_keys = ("receiver.sms_account_sid", "receiver.sms_auth_token", "receiver.sms_from", "receiver.sms_to")
    sms = None
    if any(v[k] is not None for k in sms_keys):
        missing = [k for k in sms_keys if v[k] is None]
        if missing:
            raise ConfigError(f"SMS channel is partly configured; missing {', '.join(missing)}")
        sms = SmsConfig(
            api_url=v["receiver.sms_api_url"].reveal(),
            account_sid=v["receiver.sms_account_sid"],
            auth_token=v["receiver.sms_auth_token"],
            sender=v["receiver.sms_from"],
            recipient=v["receiver.sms_to"],
        )
    smtp = None
    if v["receiver.smtp_host"] is not None:
        if v["receiver.email_from"] is None or v["receiver.email_to"] is None:
            raise ConfigError("RECEIVER_SMTP_HOST needs RECEIVER_EMAIL_FROM and RECEIVER_EMAIL_TO")
        smtp = SmtpConfig(
            host=v["receiver.smtp_host"],
            port=v["receiver.smtp_port"],
            starttls=v["receiver.smtp_starttls"],
            ca_file=v["receiver.smtp_ca_file"],
            username=v["receiver.smtp_username"],
            password=v["receiver.smtp_password"],
            sender=v["receiver.email_from"][0],
            recipients=v["receiver.email_to"],
        )
    egress = EgressPolicy(v["receiver.egress_allow"], v["receiver.egress_allow_private"])
    urls = (
        ("RECEIVER_SLACK_WEBHOOK_URL", v["receiver.slack_webhook_url"]),
        ("RECEIVER_WEBHOOK_URL", v["receiver.webhook_url"]),
        (
            "RECEIVER_PAGERDUTY_EVENTS_URL",
            v["receiver.pagerduty_events_url"] if v["receiver.pagerduty_routing_key"] else None,
        ),
        ("RECEIVER_SMS_API_URL", sms.api_url if sms is not None else None),
    )
    for name, url in urls:
        if url is None:
            continue
        try:
            egress.check(url.reveal() if isinstance(url, Secret) else url, unresolvable_ok=True)
        except DestinationDenied as exc:
            raise ConfigError(f"{name}: {exc}") from None
    return ChannelConfig(
        egress=egress,
        slack_webhook_url=v["receiver.slack_webhook_url"],
        webhook_url=v["receiver.webhook_url"],
        pagerduty_routing_key=v["receiver.pagerduty_routing_key"],
        pagerduty_events_url=v["receiver.pagerduty_events_url"],
        pagerduty_ca_file=v["receiver.pagerduty_ca_file"],
        sms=sms,
        smtp=smtp,
        file_path=v["receiver.file_channel_path"],
        console=v["receiver.console_channel"],
    )
