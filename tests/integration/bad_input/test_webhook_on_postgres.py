"""Nasty alert text through the real receiver on PostgreSQL: stored, or refused with a 4xx; never a 5xx."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.integration.recovery.commands import Clock, alert, receiver_on
from tests.unit.bad_input.strategies import EXAMPLES, FUZZ, NASTY_TEXT
from tests.unit.receiver.fakes import webhook

URL = "/api/v1/alerts/alertmanager"


def test_nasty_text_is_stored_on_postgresql_and_nul_is_refused_with_a_400(postgres_uri: str, tmp_path: Path) -> None:
    receiver = receiver_on(
        {"POSTGRES_URI": postgres_uri, "RECEIVER_DOMAIN_EVENTS": "off"},
        tmp_path,
        "http://127.0.0.1:9",
        Clock(time.time()),
    )
    try:
        for index, text in enumerate(NASTY_TEXT):
            payload = alert(text[:200], f"f{index:04d}")
            payload["labels"]["service"] = text
            payload["annotations"] = {"summary": text, "description": text}
            response = receiver.client.post(URL, data=json.dumps(webhook(payload)))
            assert response.status_code == 200, response.text
        nul = alert("Nul\x00Name", "f9999")
        response = receiver.client.post(URL, data=json.dumps(webhook(nul)))
        assert response.status_code == 400
        assert "NUL" in response.json["error"]  # type: ignore[index]
        stored = receiver.client.get("/api/v1/alerts?limit=100").json
        assert stored is not None
        assert {a["labels"]["service"] for a in stored["alerts"]} == set(NASTY_TEXT)

        @settings(FUZZ, max_examples=max(10, EXAMPLES // 5))
        @given(text=st.text(max_size=200))
        def any_text(text: str) -> None:
            payload = alert("Fuzz", "ff00")
            payload["labels"]["detail"] = text
            payload["annotations"] = {"summary": text}
            response = receiver.client.post(URL, data=json.dumps(webhook(payload)))
            assert response.status_code in (200, 400), response.text
            assert response.status_code == 200 or "NUL" in response.json["error"]  # type: ignore[index]

        any_text()
    finally:
        receiver.close()
