"""An alert's content hash stays the one stored since the first release, whatever its text holds:
a different hash for the same alert would read as a change and page again after an upgrade."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from receiver.intake.observations import content_hash
from receiver.intake.payload import WebhookAlert


def stored_hash(labels: dict[str, str], annotations: dict[str, str]) -> str:
    """The first release's hash, as it is stored in every alert row."""
    document = json.dumps([labels, annotations], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(document.encode()).hexdigest()[:32]


@pytest.mark.parametrize(
    ("labels", "annotations"),
    [
        ({"alertname": "HighLatency", "service": "portfolio"}, {"summary": "slow", "description": "p99 > 1 s"}),
        ({"b": "1", "a": "2", "B": "3", "_": "4", "aa": "5"}, {}),  # key order
        ({"alertname": "Quotes"}, {"description": 'say "hi"\\ then\nnext\ttab\r\x00\x01\x1f'}),  # escapes
        ({"alertname": "Del"}, {"summary": "\x7f"}),  # ASCII that json.dumps escapes
        ({"alertname": "Seoul", "city": "서울"}, {"summary": "지연 ≥ 1 s, é", "emoji": "🔥"}),  # non-ASCII
        ({}, {}),
    ],
)
def test_the_hash_is_the_stored_one(labels: dict[str, str], annotations: dict[str, str]) -> None:
    alert = WebhookAlert("firing", labels, annotations, datetime(2026, 3, 2, tzinfo=UTC), "ab12")
    assert content_hash(alert) == stored_hash(labels, annotations)


def test_every_ascii_character_in_keys_and_values_hashes_as_stored() -> None:
    for code in range(128):
        labels, annotations = {f"k{chr(code)}": f"v{chr(code)}w"}, {"s": chr(code)}
        alert = WebhookAlert("firing", labels, annotations, datetime(2026, 3, 2, tzinfo=UTC), "ab12")
        assert content_hash(alert) == stored_hash(labels, annotations), code
