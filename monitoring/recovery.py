"""The recovery procedure as commands: ``monitoring status``, ``monitoring verify``, ``monitoring resend``.

- ``status``: every component and dependency in one table; exit 1 when a required one is down.
- ``verify``: data consistency between Alertmanager (API v2) and the alert history, outbox jobs
  stuck past their lease or due time, and the domain-event outbox against the relay and the
  event store. Each discrepancy is reported; ``--repair`` fixes the safe ones (see docs/runbook.md).
- ``resend``: dead-lettered or failing notifications go back to the outbox, so the normal
  delivery worker sends them; a job already re-queued or delivered is left alone (idempotent).

Every adapter (HTTP session, database, event store, clock) is passed in; the ``cli`` hooks build them.
"""

from __future__ import annotations

import argparse
import getpass
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import psycopg
import pymongo
import requests
from confluent_kafka.admin import AdminClient

from monitoring.eventstore import EventStore, EventStoreUnavailable
from monitoring.settings import Settings, parse_duration
from receiver.audit import RESEND, SUCCESS, VERIFY_REPAIR, SqlAuditLog
from receiver.database import DatabaseUnavailable
from receiver.deadmans_switch import is_watchdog
from receiver.routing import DIGEST


class Database(Protocol):
    """The receiver's database (``receiver.database``): PostgreSQL or SQLite, one transaction per ``connect``."""

    dialect: str

    def connect(self) -> AbstractContextManager[Any]: ...


# --- status ---


@dataclass(frozen=True)
class Component:
    name: str
    kind: str  # http | kafka | postgres | mongodb
    target: str | None  # URL, brokers or URI; None: not configured
    required: bool = True


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: str  # up | down | not configured
    detail: str
    required: bool
    target: str


URL_ENV = {
    "exporter": ("MONITORING_EXPORTER_URL", "exporter_port", "/readyz"),
    "receiver": ("MONITORING_RECEIVER_URL", "receiver_port", "/readyz"),
    "prometheus": ("MONITORING_PROMETHEUS_URL", "prometheus_port", "/-/ready"),
    "alertmanager": ("MONITORING_ALERTMANAGER_URL", "alertmanager_port", "/-/ready"),
}
NODE_EXPORTER_ENV = "MONITORING_NODE_EXPORTER_URL"


def base_url(env: Mapping[str, str], settings: Settings, name: str) -> str:
    variable, port, _ = URL_ENV[name]
    return (env.get(variable) or f"http://127.0.0.1:{getattr(settings, port)}").rstrip("/")


def components(
    env: Mapping[str, str], settings: Settings, optional: Sequence[str] = ("node-exporter",)
) -> list[Component]:
    """What ``status`` checks: the HTTP services on their configured ports (or ``MONITORING_*_URL``)
    and the stores of the shared settings; a store that is not configured is shown, not checked."""
    out = [Component(name, "http", base_url(env, settings, name) + URL_ENV[name][2]) for name in URL_ENV]
    node = (env.get(NODE_EXPORTER_ENV) or "http://127.0.0.1:9100").rstrip("/") + "/metrics"
    out.append(Component("node-exporter", "http", node))
    out.append(Component("kafka", "kafka", ",".join(settings.kafka_brokers) or None))
    out.append(Component("postgresql", "postgres", settings.postgres_uri.reveal() if settings.postgres_uri else None))
    out.append(Component("mongodb", "mongodb", settings.mongodb_uri.reveal() if settings.mongodb_uri else None))
    return [Component(c.name, c.kind, c.target, c.name not in optional) for c in out]


def _shown(component: Component) -> str:
    from monitoring.settings import redact_uri

    if component.target is None:
        return "-"
    return component.target if component.kind in ("http", "kafka") else redact_uri(component.target)


def probe(component: Component, session: requests.Session, timeout: float) -> ComponentStatus:
    """One component's state; never raises for a component that is down."""

    def result(state: str, detail: str) -> ComponentStatus:
        return ComponentStatus(component.name, state, detail, component.required, _shown(component))

    target = component.target
    if target is None:
        return result("not configured", "set its variable to check it")
    try:
        if component.kind == "http":
            response = session.get(target, timeout=timeout)
            if response.status_code != 200:
                return result("down", f"HTTP {response.status_code}: {response.text.strip()[:80]}")
            return result("up", "HTTP 200")
        if component.kind == "kafka":
            admin = AdminClient({"bootstrap.servers": target, "socket.timeout.ms": int(timeout * 1000)})
            metadata = admin.list_topics(timeout=timeout)
            return result("up", f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topics")
        if component.kind == "postgres":
            with psycopg.connect(target, connect_timeout=max(1, int(timeout))) as conn:
                version = conn.execute("SHOW server_version").fetchone()
            return result("up", f"PostgreSQL {version[0] if version else '?'}")
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            target, serverSelectionTimeoutMS=int(timeout * 1000), connectTimeoutMS=int(timeout * 1000)
        )
        try:
            client.admin.command("ping")
        finally:
            client.close()
        return result("up", "ping ok")
    except requests.RequestException as exc:
        return result("down", type(exc).__name__)
    except (psycopg.Error, pymongo.errors.PyMongoError) as exc:
        return result("down", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:80] if str(exc) else ''}")
    except Exception as exc:  # noqa: BLE001 - a client library's own error (e.g. KafkaException): reported as down
        return result("down", f"{type(exc).__name__}: {str(exc)[:80]}")


def check_all(parts: Sequence[Component], session: requests.Session, timeout: float) -> list[ComponentStatus]:
    """Every component, in parallel: the whole table takes about one timeout at worst."""
    with ThreadPoolExecutor(max_workers=max(1, len(parts))) as pool:
        return list(pool.map(lambda c: probe(c, session, timeout), parts))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def status_exit_code(statuses: Sequence[ComponentStatus]) -> int:
    return 1 if any(s.required and s.state == "down" for s in statuses) else 0


def render_status(statuses: Sequence[ComponentStatus], as_json: bool) -> str:
    if as_json:
        return json.dumps({"components": [asdict(s) for s in statuses], "ok": status_exit_code(statuses) == 0})
    rows = [(s.name, s.state, "yes" if s.required else "no", s.target, s.detail) for s in statuses]
    return table(("component", "state", "required", "target", "detail"), rows)


# --- verify ---


@dataclass(frozen=True)
class Discrepancy:
    check: str  # alertmanager_vs_history | outbox | domain_events | event_store
    kind: str
    subject: str
    detail: str
    repair: str | None  # what --repair does; None: not safe to repair automatically
    repaired: bool = False


class AlertSource(Protocol):
    def active_fingerprints(self) -> dict[str, str]:
        """Fingerprint -> alertname of every alert Alertmanager holds (active, silenced or inhibited)."""
        ...


class AlertmanagerApi:
    """Alertmanager's API v2 (``GET /api/v2/alerts``)."""

    def __init__(self, url: str, session: requests.Session, timeout: float = 5.0) -> None:
        self._url = url.rstrip("/")
        self._session = session
        self._timeout = timeout

    def active_fingerprints(self) -> dict[str, str]:
        response = self._session.get(
            f"{self._url}/api/v2/alerts",
            params={"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"},
            timeout=self._timeout,
        )
        response.raise_for_status()
        return {
            str(a["fingerprint"]): str(a.get("labels", {}).get("alertname", ""))
            for a in response.json()
            if not is_watchdog(a.get("labels", {}))
        }


class Verifier:
    """Finds discrepancies; with ``repair=True`` fixes the safe ones in the same pass."""

    def __init__(
        self,
        database: Database,
        clock: Callable[[], float] = time.time,
        *,
        grace: float = 600.0,
        alertmanager: AlertSource | None = None,
        store: EventStore | None = None,
        store_window: float = 86400.0,
    ) -> None:
        self._db = database
        self._clock = clock
        self._grace = grace
        self._alertmanager = alertmanager
        self._store = store
        self._store_window = store_window

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._db.connect() as conn:
            yield conn

    def _sql(self, text: str) -> str:
        return text.replace("%s", "?") if self._db.dialect == "sqlite" else text

    def run(self, repair: bool) -> list[Discrepancy]:
        found: list[Discrepancy] = []
        if self._alertmanager is not None:
            found += self.alerts(repair)
        found += self.outbox(repair)
        found += self.domain_events(repair)
        if self._store is not None:
            found += self.event_store(repair)
        return found

    def alerts(self, repair: bool) -> list[Discrepancy]:
        assert self._alertmanager is not None
        known = self._alertmanager.active_fingerprints()
        now = self._clock()
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, fingerprint, alertname, last_seen FROM alerts WHERE status = 'firing'"
            ).fetchall()
        open_fingerprints = {str(r[1]) for r in rows}
        found = [
            Discrepancy(
                "alertmanager_vs_history",
                "missing_in_history",
                f"{name or '?'} fingerprint {fingerprint}",
                "active in Alertmanager but not open in the history: the webhook did not arrive or failed; "
                "Alertmanager sends it again at its repeat interval (check the receiver's logs and status)",
                None,
            )
            for fingerprint, name in sorted(known.items())
            if fingerprint not in open_fingerprints
        ]
        for alert_id, fingerprint, name, last_seen in rows:
            if fingerprint in known or now - float(last_seen) < self._grace:
                continue
            stale = Discrepancy(
                "alertmanager_vs_history",
                "stale_open",
                f"alert {alert_id} {name} fingerprint {fingerprint}",
                f"open in the history, unknown to Alertmanager, last seen {now - float(last_seen):.0f}s ago",
                "mark it resolved in the history (a timeline entry says so; no notification is sent)",
            )
            if repair:
                with self._tx() as conn:
                    changed = conn.execute(
                        self._sql(
                            "UPDATE alerts SET status = 'resolved', resolved_at = %s, escalate_at = NULL "
                            "WHERE id = %s AND status = 'firing'"
                        ),
                        (now, alert_id),
                    ).rowcount
                    if changed:
                        conn.execute(
                            self._sql(
                                "INSERT INTO timeline (alert_id, at, kind, channel, actor, detail) "
                                "VALUES (%s, %s, 'resolved', NULL, 'monitoring verify', %s)"
                            ),
                            (alert_id, now, "resolved by monitoring verify --repair: Alertmanager no longer has it"),
                        )
                stale = Discrepancy(**{**asdict(stale), "repaired": bool(changed)})
            found.append(stale)
        return found

    def outbox(self, repair: bool) -> list[Discrepancy]:
        now = self._clock()
        cutoff = now - self._grace
        with self._tx() as conn:
            leased = conn.execute(
                self._sql(
                    "SELECT id, alert_id, channel, action, lease_until FROM outbox "
                    "WHERE state = 'sending' AND lease_until < %s ORDER BY id"
                ),
                (cutoff,),
            ).fetchall()
            overdue = conn.execute(
                self._sql(
                    "SELECT id, alert_id, channel, action, next_attempt_at FROM outbox "
                    "WHERE state = 'pending' AND next_attempt_at < %s AND channel <> %s ORDER BY id"
                ),
                (cutoff, DIGEST),
            ).fetchall()
        found = []
        for job_id, alert_id, channel, action, lease_until in leased:
            item = Discrepancy(
                "outbox",
                "lease_expired",
                f"job {job_id} ({channel} {action}, alert {alert_id})",
                f"claimed for sending, lease ended {now - float(lease_until):.0f}s ago: its worker died mid-send",
                "release the lease: the job is due again now",
            )
            if repair:
                with self._tx() as conn:
                    changed = conn.execute(
                        self._sql(
                            "UPDATE outbox SET state = 'pending', lease_until = NULL, next_attempt_at = %s "
                            "WHERE id = %s AND state = 'sending' AND lease_until < %s"
                        ),
                        (now, job_id, cutoff),
                    ).rowcount
                item = Discrepancy(**{**asdict(item), "repaired": bool(changed)})
            found.append(item)
        found += [
            Discrepancy(
                "outbox",
                "overdue",
                f"job {job_id} ({channel} {action}, alert {alert_id})",
                f"due {now - float(due):.0f}s ago and not sent: no delivery worker is running (restart the receiver)",
                None,
            )
            for job_id, alert_id, channel, action, due in overdue
        ]
        return found

    def domain_events(self, repair: bool) -> list[Discrepancy]:
        now = self._clock()
        cutoff = now - self._grace
        found = []
        for stage, column in (("publish", "published_at"), ("store", "stored_at")):
            with self._tx() as conn:
                rows = conn.execute(
                    self._sql(
                        f"SELECT seq, id, type, claimed_by, lease_until, attempts FROM domain_event_outbox "  # noqa: S608 - fixed column names
                        f"WHERE {column} IS NULL AND created_at < %s ORDER BY seq LIMIT 1000"
                    ),
                    (cutoff,),
                ).fetchall()
            for seq, event_id, event_type, owner, lease_until, attempts in rows:
                held = owner is not None and lease_until is not None and float(lease_until) > now
                item = Discrepancy(
                    "domain_events",
                    f"not_{'published' if stage == 'publish' else 'stored'}",
                    f"event {event_id} ({event_type}, seq {seq})",
                    f"not through {stage} after {self._grace:.0f}s, {attempts} attempt(s)"
                    + (f", held by {owner}" if held else ", held by nobody: is the receiver's relay running?"),
                    "release its claim so that any relay takes it at once" if held else None,
                )
                if repair and held:
                    with self._tx() as conn:
                        changed = conn.execute(
                            self._sql(
                                "UPDATE domain_event_outbox SET claimed_by = NULL, lease_until = NULL WHERE seq = %s"
                            ),
                            (seq,),
                        ).rowcount
                    item = Discrepancy(**{**asdict(item), "repaired": bool(changed)})
                found.append(item)
        return found

    def event_store(self, repair: bool) -> list[Discrepancy]:
        """Events the outbox marks stored but the store does not hold (recent ones: older may be purged)."""
        assert self._store is not None
        now = self._clock()
        with self._tx() as conn:
            rows = conn.execute(
                self._sql(
                    "SELECT seq, id, type FROM domain_event_outbox WHERE stored_at IS NOT NULL AND created_at >= %s "
                    "ORDER BY seq DESC LIMIT 1000"
                ),
                (now - self._store_window,),
            ).fetchall()
        found = []
        for seq, event_id, event_type in rows:
            if self._store.get(str(event_id)) is not None:
                continue
            item = Discrepancy(
                "event_store",
                "missing_in_store",
                f"event {event_id} ({event_type}, seq {seq})",
                "marked stored in the outbox, absent from the event store",
                "mark it unstored so that the relay appends it again (appends are idempotent on the id)",
            )
            if repair:
                with self._tx() as conn:
                    changed = conn.execute(
                        self._sql(
                            "UPDATE domain_event_outbox SET stored_at = NULL, claimed_by = NULL, lease_until = NULL "
                            "WHERE seq = %s"
                        ),
                        (seq,),
                    ).rowcount
                item = Discrepancy(**{**asdict(item), "repaired": bool(changed)})
            found.append(item)
        return found


def verify_exit_code(found: Sequence[Discrepancy]) -> int:
    """0 when consistent (or everything found was repaired), 1 otherwise."""
    return 1 if any(not d.repaired for d in found) else 0


def render_discrepancies(found: Sequence[Discrepancy], as_json: bool) -> str:
    if as_json:
        return json.dumps({"discrepancies": [asdict(d) for d in found], "ok": verify_exit_code(found) == 0})
    if not found:
        return "consistent: no discrepancies"
    rows = [
        (d.check, d.kind, d.subject, "repaired" if d.repaired else (d.repair and "repairable") or "manual", d.detail)
        for d in found
    ]
    return table(("check", "kind", "subject", "repair", "detail"), rows)


# --- resend ---


@dataclass(frozen=True)
class Resent:
    job_id: int
    alert_id: int
    channel: str
    action: str
    previous: str  # dead | failing | delivered | pending | sending
    outcome: str  # requeued | retry now | unchanged


def resend(
    database: Database,
    clock: Callable[[], float],
    *,
    job_id: int | None = None,
    dead_lettered: bool = False,
    failed: bool = False,
    since: float | None = None,
    channel: str | None = None,
    audit: SqlAuditLog | None = None,
    actor: str = "cli",
) -> list[Resent]:
    """Put dead-lettered jobs back in the outbox (fresh attempts) and make failing ones due now.

    Idempotent: a job is touched only while it is dead, or pending with a later retry time; once
    requeued (or delivered) another call leaves it ``unchanged``. The delivery worker does the sending.
    """
    sql: Callable[[str], str] = (lambda t: t.replace("%s", "?")) if database.dialect == "sqlite" else (lambda t: t)
    now = clock()
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    if job_id is not None:
        where.append("id = %s")
        params.append(job_id)
    else:
        states = [
            *(["state = 'dead'"] if dead_lettered else []),
            *(["(state = 'pending' AND attempts > 0)"] if failed else []),
        ]
        where.append(f"({' OR '.join(states) or '1 = 0'})")
    if since is not None:
        where.append("created_at >= %s")
        params.append(now - since)
    if channel is not None:
        where.append("channel = %s")
        params.append(channel)
    out = []
    with database.connect() as conn:
        rows = conn.execute(
            sql(
                "SELECT id, alert_id, channel, action, state, attempts, next_attempt_at FROM outbox WHERE "  # noqa: S608 - only constant fragments and placeholders
                + " AND ".join(where)
                + " ORDER BY id"
            ),
            params,
        ).fetchall()
        for job, alert_id, job_channel, action, state, attempts, next_at in rows:
            previous = "failing" if state == "pending" and int(attempts) > 0 else str(state)
            outcome = "unchanged"
            if state == "dead":
                conn.execute(
                    sql(
                        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = %s, lease_until = NULL, "
                        "last_error = %s WHERE id = %s AND state = 'dead'"
                    ),
                    (now, "resend requested", job),
                )
                outcome = "requeued"
            elif previous == "failing" and float(next_at) > now:
                conn.execute(
                    sql("UPDATE outbox SET next_attempt_at = %s WHERE id = %s AND state = 'pending'"), (now, job)
                )
                outcome = "retry now"
            if outcome != "unchanged":
                conn.execute(
                    sql(
                        "INSERT INTO timeline (alert_id, at, kind, channel, actor, detail) "
                        "VALUES (%s, %s, 'resend', %s, 'monitoring resend', %s)"
                    ),
                    (alert_id, now, job_channel, f"{action}: {outcome} (was {previous})"),
                )
                if audit is not None:  # commits with the change itself
                    audit.write(conn, actor, RESEND, f"job:{job}", "cli", SUCCESS, f"{job_channel} {action}: {outcome}")
            out.append(Resent(int(job), int(alert_id), str(job_channel), str(action), previous, outcome))
    return out


def render_resent(resent: Sequence[Resent], as_json: bool) -> str:
    if as_json:
        return json.dumps({"jobs": [asdict(r) for r in resent]})
    if not resent:
        return "nothing to resend"
    rows = [(str(r.job_id), str(r.alert_id), r.channel, r.action, r.previous, r.outcome) for r in resent]
    return table(("job", "alert", "channel", "action", "was", "outcome"), rows)


# --- the command line (``monitoring.cli`` registers and dispatches these) ---

COMMANDS = ("status", "verify", "resend")


def register(sub: Any) -> None:
    status = sub.add_parser("status", help="health of every component and dependency; exit 1 if one is down")
    status.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    status.add_argument("--timeout", type=float, default=3.0, help="seconds per check (default 3)")
    status.add_argument(
        "--optional",
        action="append",
        default=None,
        help="a component whose failure does not fail the command (repeatable; default: node-exporter)",
    )
    verify = sub.add_parser("verify", help="check Alertmanager vs history, outbox jobs and domain events")
    verify.add_argument("--repair", action="store_true", help="fix the safe discrepancies (see docs/runbook.md)")
    verify.add_argument("--grace", default="10m", help="age before something counts as stuck (default 10m)")
    verify.add_argument("--json", action="store_true")
    verify.add_argument("--no-alertmanager", action="store_true", help="skip the Alertmanager comparison")
    resend_parser = sub.add_parser("resend", help="re-deliver dead-lettered or failing notifications")
    which = resend_parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--job", type=int, help="one outbox job by id")
    which.add_argument("--dead-lettered", action="store_true", help="every dead-lettered job")
    which.add_argument("--failed", action="store_true", help="every job waiting for a retry: retry now")
    resend_parser.add_argument("--since", help="only jobs created within this duration, e.g. 2h")
    resend_parser.add_argument("--channel", help="only jobs of this channel")
    resend_parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, env: Mapping[str, str], out: Callable[[str], None] = print) -> int:
    from receiver.app import open_database
    from receiver.config import ReceiverConfig
    from receiver.database import PostgresDatabase, SqliteDatabase

    session = requests.Session()
    if args.command == "status":
        settings = Settings.from_environ(env)
        statuses = check_all(components(env, settings, args.optional or ("node-exporter",)), session, args.timeout)
        out(render_status(statuses, args.json))
        return status_exit_code(statuses)
    config = ReceiverConfig.from_environ(env)
    database = open_database(config)
    assert isinstance(database, PostgresDatabase | SqliteDatabase)
    try:
        if args.command == "resend":
            since = parse_duration(args.since) if args.since else None
            resent = resend(
                database,
                time.time,
                audit=SqlAuditLog(database, time.time),
                actor=f"cli:{getpass.getuser()}",
                job_id=args.job,
                dead_lettered=args.dead_lettered,
                failed=args.failed,
                since=since,
                channel=args.channel,
            )
            out(render_resent(resent, args.json))
            return 1 if args.job is not None and not resent else 0
        store, close_store = _event_store(config)
        alertmanager = None
        if not args.no_alertmanager:
            alertmanager = AlertmanagerApi(base_url(env, config.shared, "alertmanager"), session)
        try:
            found = Verifier(
                database, time.time, grace=parse_duration(args.grace), alertmanager=alertmanager, store=store
            ).run(args.repair)
        finally:
            close_store()
        audit = SqlAuditLog(database, time.time)
        for item in found:
            if item.repaired:
                audit.record(
                    f"cli:{getpass.getuser()}", VERIFY_REPAIR, item.subject, "cli", SUCCESS, f"{item.check} {item.kind}"
                )
        out(render_discrepancies(found, args.json))
        return verify_exit_code(found)
    except (DatabaseUnavailable, EventStoreUnavailable, requests.RequestException) as exc:
        out(f"monitoring {args.command}: cannot check: {type(exc).__name__}: {exc}")
        return 2
    finally:
        database.close()


def _event_store(config: Any) -> tuple[EventStore, Callable[[], None]]:
    from monitoring.eventstore.mongo import MongoEventStore
    from monitoring.eventstore.sqlite import SqliteEventStore

    shared = config.shared
    if shared.mongodb_uri is None:
        return SqliteEventStore(config.event_store_path, shared.retention.events_seconds), lambda: None
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        shared.mongodb_uri.reveal(), serverSelectionTimeoutMS=5000
    )
    return MongoEventStore(client.get_default_database("monitoring"), shared.retention.events_seconds), client.close
