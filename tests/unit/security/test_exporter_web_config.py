"""The exporter's web configuration: Prometheus's web-config format, checked at start; basic auth on /metrics."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path

import bcrypt
import pytest
from prometheus_client import CollectorRegistry

from exporter.config import ExporterConfig
from exporter.http import create_app
from exporter.web_config import BasicAuth, load_web_config, protect_metrics
from monitoring.settings import ConfigError

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def call(app: object, path: str, authorization: str | None = None) -> str:
    statuses: list[str] = []
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "SERVER_NAME": "x", "SERVER_PORT": "1"}
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    body: Iterable[bytes] = app(environ, lambda status, headers: statuses.append(status))  # type: ignore[operator]
    b"".join(body)
    return statuses[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tls_server_config:\n  cert_file: c.pem\n", "cert_file and key_file go together"),
        ("basic_auth_users:\n  prometheus: plaintext\n", "expected a bcrypt hash"),
        ("tls_server_config:\n  certfile: c.pem\n", "tls_server_config: expected a mapping with keys"),
        ("web:\n  x: 1\n", "unknown keys web"),
        ("tls_server_config:\n  cert_file: absent.pem\n  key_file: absent.key\n", "cannot load the certificate"),
        ("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: SSL3\n", "min_version"),
    ],
)
def test_a_bad_web_config_fails_at_start_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        ExporterConfig.from_environ({"EXPORTER_WEB_CONFIG": str(path)})


def test_only_metrics_needs_a_password_and_probes_stay_open(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  prometheus: '{HASH}'\n")
    web = load_web_config(path)
    assert not web.tls
    app = protect_metrics(create_app(CollectorRegistry(), ready=lambda: True), web.users)
    assert call(app, "/metrics").startswith("401")
    assert call(app, "/metrics", basic("prometheus", "wrong")).startswith("401")
    assert call(app, "/metrics", basic("nobody", "s3cret")).startswith("401")
    assert call(app, "/metrics", "Basic !!!").startswith("401")
    assert call(app, "/metrics", basic("prometheus", "s3cret")).startswith("200")
    assert call(app, "/healthz").startswith("200")
    assert call(app, "/readyz").startswith("200")


def test_a_matching_password_is_remembered_and_a_changed_one_is_not() -> None:
    auth = BasicAuth({"prometheus": HASH.encode()})
    assert auth.allows(basic("prometheus", "s3cret"))
    assert auth.allows(basic("prometheus", "s3cret"))  # from the cache of matched pairs
    assert not auth.allows(basic("prometheus", "s3cret2"))
    assert not auth.allows(basic("prometheus", ""))
