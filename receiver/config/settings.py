"""The receiver's configuration: the shared settings plus its own section."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    # Delivery: "thread" runs an outbox worker thread in every gunicorn worker process.
    Option("RECEIVER_DELIVERY", "receiver.delivery", parse_choice("thread", "off"), "thread"),
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
    # Local channels (`make run`, machines without paid services): a JSON-lines file, standard output.
    Option("RECEIVER_FILE_CHANNEL_PATH", "receiver.file_channel_path", parse_path, None),
    Option("RECEIVER_CONSOLE_CHANNEL", "receiver.console_channel", parse_bool, False),
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
    delivery: str = "thread"
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
