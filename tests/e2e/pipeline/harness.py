"""The whole pipeline as real processes on free ports, for end-to-end tests and `make bench`.

Simulator → Kafka (topics under a unique prefix) → exporter → Prometheus (rules) →
Alertmanager (routes) → receiver (gunicorn, PostgreSQL) → recording channel sinks (Slack,
Twilio, PagerDuty over HTTPS) and a real SMTP server. The fake platform services are scraped
by Prometheus through file-based service discovery and health-checked by the exporter.
Nothing is shared with other tests: fresh databases, topics, consumer groups and ports.

Prometheus and Alertmanager run a configuration derived from the shipped files
(`ops.local.fast_config` by default); only the addresses are rewritten to the actual ports.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any, Self, TypeVar

import psycopg
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from psycopg import sql

from ops.local.fast_config import Speed, write_fast_config
from receiver.store.api_keys import Role
from tests import credentials, services
from tests.credentials import provision_key
from tests.fake_grafana import FakeGrafana
from tests.processes import ProcessFailed, ServerProcess, start_alertmanager, start_prometheus
from tests.sinks import RecordedRequest, RecordingSink, self_signed_certificate, server_tls

REPO = Path(__file__).resolve().parents[3]
TOKEN = "pipeline-webhook-token"
ACK_SECRET = "pipeline-acknowledge-link-signing-key-0123456789"
PLATFORM_SERVICES = ("asset-service", "portfolio-service", "transaction-service")
CHANNELS = ("pagerduty", "slack", "sms", "email")
T = TypeVar("T")

# Writes Prometheus (+ rules/) and Alertmanager configuration into a folder, returns both documents.
ConfigWriter = Callable[[Path, str, str], tuple[dict[str, Any], dict[str, Any]]]


def fast_config(out: Path, webhook_url: str, credentials_file: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The e2e configuration: the shipped files with every duration divided by 60."""
    prometheus, alertmanager = write_fast_config(
        REPO, out, Speed(), webhook_url=webhook_url, credentials_file=credentials_file
    )
    return yaml.safe_load(prometheus.read_text()), yaml.safe_load(alertmanager.read_text())


# A steady platform for the simulator: every completed transaction gets exactly the follow-up the
# consistency rule expects, and the success ratio sits far above the 95% threshold.
SIMULATOR_SCENARIO = """\
name: pipeline
seed: 11
duration: 900s
profile: {rate: 30, success_ratio: 0.99, rebalance_ratio: 0.0, followup_delay: 100ms}
phases:
  - {at: 0s, name: steady}
"""

CONSISTENCY_RULES = """\
followups:
  - name: transaction_completed_updates_portfolio
    cause: {type: TransactionCompleted, source: transaction-service}
    followup: {type: PortfolioPerformanceUpdated, source: portfolio-service}
    within: 2s
"""


@dataclass(frozen=True)
class Delivery:
    """One notification as a channel sink received it."""

    channel: str
    action: str  # trigger | resolve
    title: str
    text: str  # everything the message says (labels included where the channel carries them)
    dedup_key: str = ""
    received_at: float = 0.0  # time.monotonic()


_VERBS = {"FIRING": "trigger", "RESOLVED": "resolve"}


def _action_of(title: str) -> str:
    match = re.match(r"\[\w+\] (\w+)", title)
    return _VERBS.get(match.group(1), "other") if match else "other"


def slack_delivery(request: RecordedRequest) -> Delivery:
    body = request.json()
    title = body["blocks"][0]["text"]["text"]
    return Delivery("slack", _action_of(title), title, json.dumps(body), received_at=request.received_at)


def sms_delivery(request: RecordedRequest) -> Delivery:
    text = urllib.parse.parse_qs(request.body.decode())["Body"][0]
    title = ": ".join(text.split(": ")[:2])  # the body is "<title>: <summary>"
    return Delivery("sms", _action_of(title), title, text, received_at=request.received_at)


def pagerduty_delivery(request: RecordedRequest) -> Delivery:
    event = request.json()
    title = str(event.get("payload", {}).get("summary", ""))
    action = str(event["event_action"])
    return Delivery("pagerduty", action, title, json.dumps(event), str(event["dedup_key"]), request.received_at)


def pagerduty_reply(request: RecordedRequest) -> bytes:
    event = request.json()
    return json.dumps({"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key")}).encode()


@dataclass
class Mailbox:
    """aiosmtpd handler that keeps every message with its arrival time."""

    messages: list[tuple[float, Message]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd hook
        assert isinstance(envelope.content, bytes)
        with self.lock:
            self.messages.append((time.monotonic(), message_from_bytes(envelope.content)))
        return "250 OK"

    def deliveries(self) -> list[Delivery]:
        with self.lock:
            messages = list(self.messages)
        out = []
        for at, mail in messages:
            title = str(mail["Subject"])
            parts = [p.get_payload(decode=True) for p in mail.walk() if p.get_content_type() == "text/plain"]
            text = b"".join(p for p in parts if isinstance(p, bytes)).decode(errors="replace").replace("\r\n", "\n")
            out.append(Delivery("email", _action_of(title), title, text, received_at=at))
        return out


def label_text(labels: dict[str, str]) -> str:
    """How Slack's labels block renders an alert's labels (sorted ``k=v`` joined by spaces)."""
    return " ".join(f"{k}={v}" for k, v in sorted(labels.items()))


def delivered_for(alert: dict[str, Any], deliveries: list[Delivery]) -> list[Delivery]:
    """The deliveries that carry ``alert`` (a receiver history document)."""
    labels: dict[str, str] = alert["labels"]
    lines = "\n".join(f"  {k}={v}" for k, v in sorted(labels.items()))
    title_tail = f"{alert['alertname']} ({alert['service']})" if alert["service"] else alert["alertname"]
    out = []
    for d in deliveries:
        if d.channel == "pagerduty":
            hit = d.dedup_key.startswith(f"{alert['fingerprint']}-")
        elif d.channel == "slack":
            hit = label_text(labels) in d.text
        elif d.channel == "email":
            hit = lines in d.text
        else:  # SMS carries no labels: its title is the best it says
            hit = d.title.endswith(title_tail) and f"[{alert['priority'].upper()}]" in d.title
        if hit:
            out.append(d)
    return out


@dataclass
class Pipeline:
    """Start with ``Pipeline.running(...)``; everything stops when the context exits."""

    workdir: Path
    fake_scenario: str
    simulator_scenario: str = SIMULATOR_SCENARIO
    config_writer: ConfigWriter = fast_config
    # Where Prometheus remote-writes (a test's own VictoriaMetrics); empty: nowhere, the shipped
    # long-term store on :8428 is never written by a test.
    remote_write_url: str = ""
    brokers: str = field(default_factory=services.kafka_brokers)
    postgres_server: str = field(default_factory=services.postgres_uri)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    # Filled in by start().
    sinks: dict[str, RecordingSink] = field(default_factory=dict)
    mailbox: Mailbox = field(default_factory=Mailbox)
    grafana: FakeGrafana = field(default_factory=FakeGrafana)  # answers the notifications' dashboard links
    topic_prefix: str = ""
    consumer_group: str = ""
    fake_started_at: float = 0.0  # time.monotonic() when the fake services' timeline began
    ports: dict[str, int] = field(default_factory=dict)
    api_key: str = ""  # a viewer key for the receiver's API
    processes: dict[str, ServerProcess] = field(default_factory=dict)
    receiver_env: dict[str, str] = field(default_factory=dict)  # more settings for the receiver
    # A second receiver that Alertmanager notifies too (its own database, the same sinks), with these
    # settings instead of ``receiver_env``: today's behaviour next to a change, in the same run.
    baseline_env: dict[str, str] | None = None
    baseline_api_key: str = ""

    @classmethod
    @contextmanager
    def running(cls, workdir: Path, fake_scenario: str, **options: Any) -> Iterator[Self]:
        pipeline = cls(workdir, fake_scenario, **options)
        with ExitStack() as stack:
            pipeline._start(stack)
            yield pipeline

    # --- start-up -------------------------------------------------------------------------

    def _start(self, stack: ExitStack) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.topic_prefix = f"e2e-{self.run_id}."
        self.consumer_group = f"e2e-portfolio-{self.run_id}"
        self._create_topics()
        stack.callback(self._delete_topics)
        exporter_db = self._create_database("exporter")
        stack.callback(self._drop_database, exporter_db)
        receiver_db = self._create_database("receiver")
        stack.callback(self._drop_database, receiver_db)
        self._start_sinks(stack)
        self._start_fake_services(stack)
        self._start_simulator(stack)
        self._start_exporter(stack, exporter_db)
        self._start_receiver(stack, receiver_db, "receiver", self.receiver_env)
        if self.baseline_env is not None:
            baseline_db = self._create_database("baseline")
            stack.callback(self._drop_database, baseline_db)
            self._start_receiver(stack, baseline_db, "baseline", self.baseline_env)
        self._start_prometheus_and_alertmanager(stack)

    def _topics(self) -> list[str]:
        return [f"{self.topic_prefix}{name}" for name in ("asset.events", "portfolio.events", "transaction.events")]

    def _create_topics(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.brokers})
        for future in admin.create_topics([NewTopic(t, 3, 1) for t in self._topics()]).values():
            future.result(30)

    def _delete_topics(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.brokers})
        existing = set(admin.list_topics(timeout=10).topics)
        names = [n for t in self._topics() for n in (t, f"{t}.dlq") if n in existing]
        if names:
            for future in admin.delete_topics(names).values():
                future.result(30)

    def _create_database(self, role: str) -> str:
        name = f"e2e_{role}_{self.run_id}"
        with psycopg.connect(self.postgres_server, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def _drop_database(self, name: str) -> None:
        with psycopg.connect(self.postgres_server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _database_uri(self, name: str) -> str:
        base, _, _ = self.postgres_server.rpartition("/")
        return f"{base}/{name}"

    def _start_sinks(self, stack: ExitStack) -> None:
        cert, key = self_signed_certificate(self.workdir)
        self.sinks = {
            "slack": RecordingSink(),
            "sms": RecordingSink(status=201),
            "pagerduty": RecordingSink(status=202, body=pagerduty_reply, tls=server_tls(cert, key)),
            "webhook": RecordingSink(),  # the generic webhook channel, for receivers configured to use it
        }
        for sink in self.sinks.values():
            sink.start()
            stack.callback(sink.stop)
        self.ports["smtp"] = services.free_port()
        controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.ports["smtp"])
        controller.start()
        stack.callback(controller.stop)
        self._ca_file = cert
        self.grafana.start()
        stack.callback(self.grafana.stop)

    def _process(self, stack: ExitStack, name: str, argv: list[str], env: dict[str, str]) -> ServerProcess:
        process = ServerProcess(name, argv, self.workdir, env)
        self.processes[name] = process
        stack.callback(process.stop)
        return process

    def _env(self, **extra: str) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
        inherited = {k: os.environ[k] for k in keep if k in os.environ}
        return {**inherited, "LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1", **extra}

    def _start_fake_services(self, stack: ExitStack) -> None:
        scenario = self.workdir / "fake-services.yaml"
        scenario.write_text(self.fake_scenario)
        process = self._process(
            stack,
            "fake-services",
            [sys.executable, "-m", "ops.cli", "fake-services", "--scenario", str(scenario), "--port", "0"],
            self._env(),
        )
        deadline = time.monotonic() + 30
        found: dict[str, int] = {}
        while time.monotonic() < deadline and len(found) < len(PLATFORM_SERVICES):
            if process.proc.poll() is not None:
                raise ProcessFailed(f"fake-services exited:\n{process.log_tail()}")
            for match in re.finditer(r"^(\S+-service)\s+http://127\.0\.0\.1:(\d+)/metrics", process.log_tail(), re.M):
                found[match.group(1)] = int(match.group(2))
            time.sleep(0.02)
        # The timeline starts right after the ports are printed.
        self.fake_started_at = time.monotonic()
        if len(found) < len(PLATFORM_SERVICES):
            raise ProcessFailed(f"fake-services printed no ports:\n{process.log_tail()}")
        self.ports.update(found)

    def fake_time(self) -> float:
        """Seconds since the fake services' timeline began."""
        return time.monotonic() - self.fake_started_at

    def _start_simulator(self, stack: ExitStack) -> None:
        scenario = self.workdir / "simulator.yaml"
        scenario.write_text(self.simulator_scenario)
        self.ports["control"] = services.free_port()
        process = self._process(
            stack,
            "simulator",
            [
                sys.executable, "-m", "ops.cli", "simulate",
                "--scenario", str(scenario),
                "--brokers", self.brokers,
                "--topic-prefix", self.topic_prefix,
                "--control-port", str(self.ports["control"]),
                "--consumer-group", self.consumer_group,
                "--report", str(self.workdir / "simulator-report.json"),
            ],
            self._env(),
        )  # fmt: skip
        process.wait_ready(f"http://127.0.0.1:{self.ports['control']}/faults")

    def _start_exporter(self, stack: ExitStack, database: str) -> None:
        checks = self.workdir / "health-checks.yaml"
        checks.write_text(
            yaml.safe_dump(
                {
                    "services": [
                        {
                            "name": name,
                            "url": f"http://127.0.0.1:{self.ports[name]}/health",
                            "interval": "1s",
                            "timeout": "500ms",
                            "failures_to_down": 2,
                            "successes_to_up": 1,
                        }
                        for name in PLATFORM_SERVICES
                    ]
                }
            )
        )
        rules = self.workdir / "consistency.yaml"
        rules.write_text(CONSISTENCY_RULES)
        self.ports["exporter"] = services.free_port()
        env = self._env(
            EXPORTER_PORT=str(self.ports["exporter"]),
            KAFKA_BROKERS=self.brokers,
            POSTGRES_URI=self._database_uri(database),
            EXPORTER_TOPICS=",".join(self._topics()),
            EXPORTER_GROUP_ID=f"e2e-exporter-{self.run_id}",
            EXPORTER_COMMIT_INTERVAL="1s",
            EXPORTER_LAG_GROUPS=self.consumer_group,
            EXPORTER_LAG_INTERVAL="1s",
            EXPORTER_LAG_WINDOW="4",
            EXPORTER_HEALTH_CHECKS=str(checks),
            EXPORTER_CONSISTENCY_RULES=str(rules),
            COLLECTION_INTERVAL="1s",
        )
        process = self._process(stack, "exporter", [sys.executable, "-m", "ops.cli", "exporter"], env)
        process.wait_ready(f"http://127.0.0.1:{self.ports['exporter']}/readyz", timeout=60)

    def _start_receiver(
        self, stack: ExitStack, database: str, name: str = "receiver", overrides: dict[str, str] | None = None
    ) -> None:
        self.ports[name] = services.free_port()
        multiproc = self.workdir / f"{name}-metrics"
        multiproc.mkdir(exist_ok=True)
        env = self._env(
            POSTGRES_URI=self._database_uri(database),
            RECEIVER_PORT=str(self.ports[name]),
            RECEIVER_WORKERS="2",
            RECEIVER_WEBHOOK_TOKEN=TOKEN,
            RECEIVER_EGRESS_ALLOW="127.0.0.1",  # the sinks listen on loopback, denied by default
            RECEIVER_POLL_INTERVAL="100ms",
            RECEIVER_RETRY_BASE="200ms",
            RECEIVER_SEND_TIMEOUT="2s",
            RECEIVER_SLACK_WEBHOOK_URL=f"{self.sinks['slack'].url}/services/T0/B0/secret",
            RECEIVER_SMS_API_URL=self.sinks["sms"].url,
            RECEIVER_SMS_ACCOUNT_SID="AC0001",
            RECEIVER_SMS_AUTH_TOKEN="sms-token",
            RECEIVER_SMS_FROM="+15550001",
            RECEIVER_SMS_TO="+15550002",
            RECEIVER_PAGERDUTY_ROUTING_KEY="pd-routing-key",
            RECEIVER_PAGERDUTY_EVENTS_URL=self.sinks["pagerduty"].url,
            RECEIVER_PAGERDUTY_CA_FILE=str(self._ca_file),
            RECEIVER_SMTP_HOST="127.0.0.1",
            RECEIVER_SMTP_PORT=str(self.ports["smtp"]),
            RECEIVER_SMTP_STARTTLS="false",
            RECEIVER_EMAIL_FROM="alerts@example.com",
            RECEIVER_EMAIL_TO="oncall@example.com",
            # notifications link to this receiver (console, acknowledge, runbooks) and the Grafana stand-in
            RECEIVER_EXTERNAL_URL=self.receiver_url,
            RECEIVER_GRAFANA_URL=self.grafana.url,
            RECEIVER_ACK_SECRET=ACK_SECRET,
            # the generic webhook channel, used where the routing policy sends to it: path = the receiver
            RECEIVER_WEBHOOK_URL=f"{self.sinks['webhook'].url}/{name}",
            PROMETHEUS_MULTIPROC_DIR=str(multiproc),
        )
        env.update(overrides or {})
        key = provision_key(env, Role.VIEWER)  # reads the history below
        if name == "receiver":
            self.api_key = key
        else:
            self.baseline_api_key = key
        process = self._process(stack, name, [sys.executable, "-m", "ops.cli", "receiver"], env)
        process.wait_ready(f"http://127.0.0.1:{self.ports[name]}/readyz", timeout=60)

    @property
    def receiver_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['receiver']}"

    @property
    def baseline_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['baseline']}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    def _start_prometheus_and_alertmanager(self, stack: ExitStack) -> None:
        self.ports["prometheus"] = services.free_port()
        self.ports["alertmanager"] = services.free_port()
        config_dir = self.workdir / "prometheus"
        config_dir.mkdir(exist_ok=True)
        token = self.workdir / "receiver-token"
        token.write_text(TOKEN)
        prometheus, alertmanager = self.config_writer(
            config_dir, f"{self.receiver_url}/api/v1/alerts/alertmanager", str(token)
        )
        (config_dir / "targets").mkdir(exist_ok=True)
        (config_dir / "targets" / "platform.yml").write_text(
            yaml.safe_dump(
                [{"targets": [f"127.0.0.1:{self.ports[s]}"], "labels": {"service": s}} for s in PLATFORM_SERVICES]
            )
        )
        prometheus = self.rewrite_addresses(prometheus, config_dir)
        if self.baseline_env is not None:
            alertmanager = also_notify(alertmanager, f"{self.baseline_url}/api/v1/alerts/alertmanager")
        am_dir = self.workdir / "alertmanager"
        am_dir.mkdir(exist_ok=True)
        am = start_alertmanager(
            services.binary("prometheus-alertmanager", "prometheus-alertmanager"),
            yaml.safe_dump(alertmanager, sort_keys=False),
            am_dir,
            self.ports["alertmanager"],
        )
        self.processes["alertmanager"] = am
        stack.callback(am.stop)
        server = start_prometheus(
            services.binary("prometheus", "prometheus"),
            yaml.safe_dump(prometheus, sort_keys=False),
            config_dir,
            self.ports["prometheus"],
            f"--web.external-url={self.prometheus_url}",  # the alerts' graph links answer on loopback
        )
        self.processes["prometheus"] = server
        stack.callback(server.stop)

    def rewrite_addresses(self, prometheus: dict[str, Any], config_dir: Path) -> dict[str, Any]:
        """Point scrape jobs, file SD, the Alertmanager address and the rules' runbook links at this
        pipeline's ports."""
        static = {
            "prometheus": self.ports["prometheus"],
            "exporter": self.ports["exporter"],
            "receiver": self.ports["receiver"],
            "alertmanager": self.ports["alertmanager"],
        }
        jobs = []
        for job in prometheus["scrape_configs"]:
            job = dict(job)
            name = job["job_name"]
            if name in static:
                job["static_configs"] = [{**c, "targets": [f"127.0.0.1:{static[name]}"]} for c in job["static_configs"]]
            elif "file_sd_configs" in job:
                job["file_sd_configs"] = [{"files": [str(config_dir / "targets" / "*.yml")], "refresh_interval": "1s"}]
            else:
                continue  # node-exporter is not part of this pipeline
            jobs.append(job)
        alerting = dict(prometheus["alerting"])
        alerting["alertmanagers"] = [{"static_configs": [{"targets": [f"127.0.0.1:{self.ports['alertmanager']}"]}]}]
        rewritten = {k: v for k, v in prometheus.items() if k != "remote_write"}
        if self.remote_write_url:
            rewritten["remote_write"] = [
                {**w, "url": self.remote_write_url, "queue_config": {"batch_send_deadline": "1s"}}
                for w in prometheus["remote_write"]
            ]
        labels = {**prometheus["global"].get("external_labels", {}), "runbook_base": self.receiver_url}
        settings = {**prometheus["global"], "external_labels": labels}
        return {**rewritten, "global": settings, "scrape_configs": jobs, "alerting": alerting}

    # --- faults -------------------------------------------------------------------------

    def set_faults(self, **faults: object) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ports['control']}/faults",
            data=json.dumps(faults).encode(),
            headers={"Content-Type": "application/json"},
            method="PUT",
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            assert response.status == 200, response.status

    def clear_faults(self) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.ports['control']}/faults", method="DELETE")
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback
            assert response.status in (200, 204), response.status

    # --- observing -----------------------------------------------------------------------

    def history(self, receiver: str = "receiver") -> list[dict[str, Any]]:
        """Every alert the receiver has recorded (GET /api/v1/alerts), newest first."""
        return self.listing(receiver, "alerts")

    def listing(self, receiver: str, what: str) -> list[dict[str, Any]]:
        """Every alert (``what="alerts"``) or incident (``"incidents"``) a receiver has, newest first."""
        url, key = (
            (self.receiver_url, self.api_key) if receiver == "receiver" else (self.baseline_url, self.baseline_api_key)
        )
        out: list[dict[str, Any]] = []
        after: int | None = None
        for _ in range(20):
            query = "limit=1000" + (f"&after={after}" if after is not None else "")
            document = credentials.get_json(f"{url}/api/v1/{what}?{query}", key)
            out += document[what]
            after = document["next"]
            if after is None:
                break
        return out

    def alert_detail(self, alert_id: int) -> dict[str, Any]:
        document: dict[str, Any] = credentials.get_json(f"{self.receiver_url}/api/v1/alerts/{alert_id}", self.api_key)
        return document

    def deliveries(self) -> list[Delivery]:
        parse = {"slack": slack_delivery, "sms": sms_delivery, "pagerduty": pagerduty_delivery}
        out = [parse[name](r) for name, sink in self.sinks.items() if name in parse for r in sink.received()]
        return out + self.mailbox.deliveries()

    def prometheus_alerts(self) -> list[dict[str, Any]]:
        return list(get_json(f"{self.prometheus_url}/api/v1/alerts")["data"]["alerts"])

    def diagnostics(self) -> str:
        """Log tails of every process, for assertion messages."""
        return "\n".join(f"--- {name}\n{p.log_tail(15)}" for name, p in self.processes.items())


def also_notify(alertmanager: dict[str, Any], url: str) -> dict[str, Any]:
    """The configuration with every receiver's webhook sent to ``url`` as well (same credentials)."""
    receivers = []
    for receiver in alertmanager["receivers"]:
        hooks = receiver.get("webhook_configs") or []
        if hooks:
            receiver = {**receiver, "webhook_configs": [*hooks, {**hooks[0], "url": url}]}
        receivers.append(receiver)
    return {**alertmanager, "receivers": receivers}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback test URL
        return json.loads(response.read())


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (urllib.error.URLError, OSError):
            last = None
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
