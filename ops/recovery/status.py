"""`monitoring status`: every component and dependency in one table; exit 1 when a required one is down."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
import pymongo
import requests
from confluent_kafka.admin import AdminClient

from monitoring.settings import Settings
from ops.tables import table


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


def status_exit_code(statuses: Sequence[ComponentStatus]) -> int:
    return 1 if any(s.required and s.state == "down" for s in statuses) else 0


def render_status(statuses: Sequence[ComponentStatus], as_json: bool) -> str:
    if as_json:
        return json.dumps({"components": [asdict(s) for s in statuses], "ok": status_exit_code(statuses) == 0})
    rows = [(s.name, s.state, "yes" if s.required else "no", s.target, s.detail) for s in statuses]
    return table(("component", "state", "required", "target", "detail"), rows)
