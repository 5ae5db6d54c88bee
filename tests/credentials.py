"""Credentials for tests that drive the receiver: a webhook token and API keys by role.

Every receiver route except health needs credentials (receiver.web.access). Tests that are not about
authentication build their app with ``WEBHOOK_ENV`` and talk to it through ``CredentialedClient``,
which sends the webhook's credential to the webhook and an admin key everywhere else, unless the
request carries its own ``Authorization`` header.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers
from werkzeug.test import TestResponse

from receiver.operations import open_key_store
from receiver.store.api_keys import Role, SqlKeyStore

WEBHOOK_PATH = "/api/v1/alerts/alertmanager"
WEBHOOK_TOKEN = "test-webhook-token"
WEBHOOK_ENV = {"RECEIVER_WEBHOOK_TOKEN": WEBHOOK_TOKEN}


def webhook_header(app: Flask) -> str:
    config = app.config["RECEIVER"]
    if config.webhook_token is not None:
        return f"Bearer {config.webhook_token.reveal()}"
    pair = f"{config.webhook_username}:{config.webhook_password.reveal()}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def create_key(app: Flask, role: Role, name: str = "test") -> str:
    """A fresh key's ``<id>.<secret>`` token."""
    keys: SqlKeyStore = app.extensions["keys"]
    return keys.create(f"{name}-{role.value}", role, "cli:test", "cli").token


class CredentialedClient(FlaskClient):
    api_token: str = ""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        if args and isinstance(args[0], str):
            headers = Headers(kwargs.pop("headers", None) or {})
            if "Authorization" not in headers:
                if args[0].startswith(WEBHOOK_PATH):
                    headers["Authorization"] = webhook_header(self.application)
                else:
                    headers["Authorization"] = f"Bearer {self.api_token}"
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


def credentialed_client(app: Flask, role: Role = Role.ADMIN) -> CredentialedClient:
    client = CredentialedClient(app, app.response_class, use_cookies=True)
    client.api_token = create_key(app, role)
    return client


def provision_key(env: Mapping[str, str], role: Role = Role.ADMIN) -> str:
    """A key in the database that a receiver started with ``env`` uses (as `monitoring keys create` does)."""
    store, database = open_key_store(env)
    try:
        return store.create(f"e2e-{role.value}", role, "cli:test", "cli").token
    finally:
        database.close()


def get_json(url: str, token: str, timeout: float = 10.0) -> Any:
    """GET with an API key; HTTP errors raise ``urllib.error.HTTPError``."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
        return json.loads(response.read())
