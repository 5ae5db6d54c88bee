"""Channel URLs cannot point the receiver at loopback, link-local, metadata or (by default) private addresses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from monitoring.settings import ConfigError
from receiver.config.egress import DestinationDenied, EgressPolicy
from receiver.config.settings import ReceiverConfig
from receiver.delivery.channel_set import build_channels
from receiver.delivery.composer import default_composer
from receiver.delivery.egress import GuardedChannel
from receiver.delivery.notification import DeliveryFailed, Notification
from tests.unit.receiver.fakes import FakeChannel


def resolver(table: dict[str, list[str]]) -> object:
    def resolve(host: str, port: int) -> Sequence[str]:
        try:
            return table[host]
        except KeyError:
            raise DestinationDenied(f"{host}: cannot be resolved") from None

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://127.3.4.5/hook", "loopback"),
        ("http://[::1]:9093/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/", "cloud metadata"),
        ("http://169.254.10.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "non-routable"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://172.20.0.1/", "private"),
        ("http://[fd12:3456::1]/", "private"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://localhost:8080/", "loopback"),
    ],
)
def test_internal_destinations_are_denied_by_default(url: str, reason: str) -> None:
    with pytest.raises(DestinationDenied, match=reason):
        EgressPolicy().check(url)


def test_a_public_host_name_is_checked_by_every_address_it_resolves_to() -> None:
    policy = EgressPolicy(resolve=resolver({"hooks.example": ["93.184.216.34", "127.0.0.1"]}))  # type: ignore[arg-type]
    with pytest.raises(DestinationDenied, match=re.escape("hooks.example resolves to 127.0.0.1")):
        policy.check("https://hooks.example/services/x")
    EgressPolicy(resolve=resolver({"ok.example": ["8.8.8.8"]})).check("https://ok.example/")  # type: ignore[arg-type]


def test_explicit_allowances_by_address_range_host_name_and_for_private_networks() -> None:
    EgressPolicy(allow=("127.0.0.1",)).check("http://127.0.0.1:9000/hook")
    EgressPolicy(allow=("127.0.0.0/8",)).check("http://127.0.0.2:9000/hook")
    EgressPolicy(allow=("localhost",)).check("http://localhost:9000/hook")
    EgressPolicy(allow_private=True).check("http://10.1.2.3/")
    with pytest.raises(DestinationDenied, match="loopback"):
        EgressPolicy(allow_private=True).check("http://127.0.0.1/")  # private allowance is not loopback
    with pytest.raises(DestinationDenied, match="cloud metadata"):
        EgressPolicy(allow=("127.0.0.1",), allow_private=True).check("http://169.254.169.254/")


def test_a_channel_url_pointing_inside_fails_configuration_naming_the_variable() -> None:
    with pytest.raises(
        ConfigError, match=re.escape("RECEIVER_WEBHOOK_URL: 169.254.169.254 resolves to 169.254.169.254")
    ):
        ReceiverConfig.from_environ({"RECEIVER_WEBHOOK_URL": "http://169.254.169.254/latest"})
    with pytest.raises(ConfigError, match="RECEIVER_SLACK_WEBHOOK_URL: localhost resolves to"):
        ReceiverConfig.from_environ({"RECEIVER_SLACK_WEBHOOK_URL": "http://localhost:1/services/T/B/x"})
    with pytest.raises(ConfigError, match="RECEIVER_EGRESS_ALLOW"):
        ReceiverConfig.from_environ({"RECEIVER_EGRESS_ALLOW": "10.0.0.0/33"})
    allowed = ReceiverConfig.from_environ(
        {"RECEIVER_WEBHOOK_URL": "http://127.0.0.1:1/hook", "RECEIVER_EGRESS_ALLOW": "127.0.0.1"}
    )
    assert sorted(build_channels(allowed.channels, 1.0, default_composer())) == ["webhook"]


def test_the_check_runs_again_before_every_send_and_a_denied_send_is_not_retried(tmp_path: Path) -> None:
    table = {"hooks.example": ["93.184.216.34"]}
    inner = FakeChannel("webhook")
    guarded = GuardedChannel(inner, "https://hooks.example/x", EgressPolicy(resolve=resolver(table)))  # type: ignore[arg-type]
    notification = Notification(alert=None, action="trigger")  # type: ignore[arg-type]
    guarded.send(notification)
    table["hooks.example"] = ["169.254.169.254"]  # DNS now points at the metadata service
    with pytest.raises(DeliveryFailed, match="destination denied") as failed:
        guarded.send(notification)
    assert failed.value.retryable is False
    assert len(inner.sent) == 1
