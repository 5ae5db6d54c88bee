from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from receiver.config.settings import ReceiverConfig
from receiver.delivery.notification import Channel
from receiver.delivery.outbox import DeliveryWorker
from receiver.web.app import create_app
from tests.credentials import WEBHOOK_ENV, credentialed_client
from tests.unit.receiver.fakes import FakeChannel, FakeClock, fake_channels


@dataclass
class Receiver:
    """The app on a SQLite file, with fake channels, a fixed clock and a fresh registry."""

    app: Flask
    client: FlaskClient
    clock: FakeClock
    channels: dict[str, FakeChannel]
    registry: CollectorRegistry

    @property
    def anonymous(self) -> FlaskClient:
        """A client that sends no credentials."""
        return FlaskClient(self.app, self.app.response_class, use_cookies=True)

    @property
    def worker(self) -> DeliveryWorker:
        worker: DeliveryWorker = self.app.extensions["delivery"]
        return worker

    def metric(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


def build_receiver(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    channels: tuple[str, ...] = (),
    overrides: Mapping[str, Channel] | None = None,
) -> Receiver:
    config = ReceiverConfig.from_environ(
        {
            "RECEIVER_SQLITE_PATH": str(tmp_path / "alerts.sqlite3"),
            "RECEIVER_RETRY_BASE": "10s",
            # off unless a test is about it: other tests move the clock past its window
            "RECEIVER_DEADMANS_SWITCH": "off",
            **WEBHOOK_ENV,
            **(env or {}),
        }
    )
    clock = FakeClock()
    fakes = fake_channels(*channels)
    registry = CollectorRegistry()
    app = create_app(config, channels={**fakes, **(overrides or {})}, clock=clock, registry=registry)
    return Receiver(app, credentialed_client(app), clock, fakes, registry)


@pytest.fixture
def receiver(tmp_path: Path) -> Receiver:
    return build_receiver(tmp_path)
