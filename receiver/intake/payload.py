"""Alertmanager's webhook payload (version 4), parsed into typed objects at the boundary.

Field names follow Alertmanager's webhook documentation exactly: camelCase, except
``generatorURL`` and ``externalURL``, which msgspec's ``rename="camel"`` would spell
``generatorUrl``/``externalUrl``; they are named explicitly.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

import msgspec


class PayloadInvalid(Exception):
    """The body is not an Alertmanager v4 webhook payload; the message names the field."""


class WebhookAlert(msgspec.Struct, frozen=True, rename="camel"):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    fingerprint: str
    ends_at: datetime | None = None
    generator_url: str = msgspec.field(default="", name="generatorURL")


class WebhookPayload(msgspec.Struct, frozen=True, rename="camel"):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str
    alerts: list[WebhookAlert]
    group_key: str = ""
    truncated_alerts: int = 0
    group_labels: dict[str, str] = {}
    common_labels: dict[str, str] = {}
    common_annotations: dict[str, str] = {}
    external_url: str = msgspec.field(default="", name="externalURL")


_DECODER = msgspec.json.Decoder(WebhookPayload)
_ZERO_YEAR = 1  # Alertmanager sends endsAt "0001-01-01T00:00:00Z" for firing alerts


def decode_payload(body: bytes) -> WebhookPayload:
    try:
        payload = _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise PayloadInvalid(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise PayloadInvalid(f"malformed JSON: {exc}") from None
    except UnicodeDecodeError as exc:  # msgspec raises it for invalid UTF-8 inside a string
        raise PayloadInvalid(f"the body is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except RecursionError:
        raise PayloadInvalid("malformed JSON: nested too deeply") from None
    for index, alert in enumerate(payload.alerts):
        # PostgreSQL's text cannot hold NUL; no real label or annotation has one.
        for field, texts in (("labels", alert.labels), ("annotations", alert.annotations)):
            if any("\x00" in key or "\x00" in value for key, value in texts.items()):
                raise PayloadInvalid(f"NUL character in a key or value - at `$.alerts[{index}].{field}`")
        if "\x00" in alert.generator_url:
            raise PayloadInvalid(f"NUL character - at `$.alerts[{index}].generatorURL`")
        if not alert.fingerprint or not re.fullmatch(r"[0-9A-Za-z]{1,64}", alert.fingerprint):
            raise PayloadInvalid(f"Expected a hexadecimal fingerprint - at `$.alerts[{index}].fingerprint`")
        if alert.starts_at.tzinfo is None:
            raise PayloadInvalid(f"Expected a timestamp with a time zone - at `$.alerts[{index}].startsAt`")
    return payload


def ends_at_or_none(alert: WebhookAlert) -> datetime | None:
    if alert.ends_at is None or alert.ends_at.year == _ZERO_YEAR:
        return None
    return alert.ends_at
