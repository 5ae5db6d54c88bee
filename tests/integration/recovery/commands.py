"""Run the recovery commands in-process, and a receiver on real PostgreSQL whose channel is a recording sink."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from ops.recovery import commands as recovery
from receiver.config.settings import ReceiverConfig
from receiver.delivery.channels.webhook import WebhookChannel
from receiver.delivery.composer import default_composer
from receiver.delivery.outbox import DeliveryWorker
from receiver.store.history import AlertHistory
from receiver.web.api import Wiring
from receiver.web.app import create_app
from tests.credentials import WEBHOOK_ENV, credentialed_client


def command(env: dict[str, str], *argv: str) -> tuple[int, str]:
    """``monitoring <argv>`` through the same parser and dispatch as the CLI; (exit code, output)."""
    parser = argparse.ArgumentParser(prog="monitoring")
    recovery.register(parser.add_subparsers(dest="command", required=True))
    lines: list[str] = []
    code = recovery.run(parser.parse_args(argv), env, lines.append)
    return code, "\n".join(lines)


def command_json(env: dict[str, str], *argv: str) -> tuple[int, Any]:
    code, text = command(env, *argv, "--json")
    return code, json.loads(text)


@dataclass
class Clock:
    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class Receiver:
    app: Flask
    client: FlaskClient
    clock: Clock

    @property
    def worker(self) -> DeliveryWorker:
        worker: DeliveryWorker = self.app.extensions["delivery"]
        return worker

    @property
    def history(self) -> AlertHistory:
        wiring: Wiring = self.app.extensions["receiver"]
        assert wiring.history is not None
        return wiring.history

    def close(self) -> None:
        domain_events = self.app.extensions["domain_events"]
        if domain_events is not None:
            domain_events.close()
        self.app.extensions["database"].close()

    def post(self, *alerts: dict[str, Any]) -> None:
        body = {"version": "4", "status": "firing", "receiver": "r", "groupKey": "g", "alerts": list(alerts)}
        response = self.client.post("/api/v1/alerts/alertmanager", data=json.dumps(body))
        assert response.status_code == 200, response.text


def receiver_on(env: dict[str, str], tmp_path: Path, webhook_url: str, clock: Clock) -> Receiver:
    """The real app on ``env``'s PostgreSQL; every priority goes to the generic webhook channel."""
    routing = tmp_path / "routing.yml"
    routing.write_text(
        "fallback: webhook\npriorities:\n"
        + "".join(f"  {p}: {{channels: [webhook], escalation: []}}\n" for p in ("critical", "high", "medium", "low"))
    )
    config = ReceiverConfig.from_environ({**env, **WEBHOOK_ENV, "RECEIVER_ROUTING_FILE": str(routing)})
    channel = WebhookChannel(webhook_url, requests.Session(), 2.0, default_composer())
    app = create_app(config, channels={"webhook": channel}, clock=clock, registry=CollectorRegistry())
    return Receiver(app, credentialed_client(app), clock)


def alert(name: str, fingerprint: str) -> dict[str, Any]:
    """A firing alert that started a minute ago (its domain events are well inside the store's retention)."""
    starts_at = datetime.fromtimestamp(time.time() - 60, UTC).isoformat().replace("+00:00", "Z")
    return {
        "status": "firing",
        "labels": {"alertname": name, "priority": "high", "service": "recovery"},
        "annotations": {"summary": name},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
    }
