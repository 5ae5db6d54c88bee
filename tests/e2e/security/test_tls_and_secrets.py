"""TLS on both endpoints, against real processes, and no secret in any log.

- The exporter (`monitoring exporter`) with a Prometheus web-config file (TLS + basic auth): a real
  Prometheus scrapes it with ``tls_config.ca_file`` and ``basic_auth``; the right password is up,
  a wrong one and plain HTTP are down.
- The receiver under gunicorn with RECEIVER_TLS_CERT/KEY serves HTTPS and refuses plain HTTP. Its
  secrets come from ``*_FILE`` files; after auth failures and a channel that keeps failing, neither
  its log nor the exporter's holds any secret value.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt

from receiver.store.api_keys import Role
from tests import services
from tests.credentials import provision_key
from tests.processes import ServerProcess, start_prometheus
from tests.sinks import RecordingSink, self_signed_certificate
from tests.unit.receiver.fakes import alert, webhook

SCRAPE_PASSWORD = "scrape-pw-5f0c1e"
WRONG_PASSWORD = "wrong-pw-77ab21"
WEBHOOK_TOKEN = "webhook-token-9d3e4a"
SLACK_SECRET = "T000/B000/slack-path-secret-4be1"
SMS_TOKEN = "sms-auth-token-c2d9"
PAGERDUTY_KEY = "pagerduty-routing-key-61aa"


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def status(url: str, context: ssl.SSLContext | None = None, headers: dict[str, str] | None = None, **kw: Any) -> int:
    """The HTTP status, or 0 when no HTTP answer came (refused, reset, TLS failure)."""
    request = urllib.request.Request(url, headers=headers or {}, **kw)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


def child_env(**extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, "LOG_FORMAT": "json", **extra}


def secret_file(directory: Path, name: str, value: str) -> str:
    path = directory / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return str(path)


def test_prometheus_scrapes_the_exporter_over_tls_with_basic_auth_and_a_wrong_password_is_down(
    tmp_path: Path,
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    hashed = bcrypt.hashpw(SCRAPE_PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    web = tmp_path / "web.yml"
    web.write_text(
        f"tls_server_config:\n  cert_file: {cert.name}\n  key_file: {key.name}\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    )
    port = services.free_port()
    env = child_env(
        EXPORTER_PORT=str(port),
        EXPORTER_WEB_CONFIG=str(web),
        EXPORTER_EVENT_STORE_PATH=str(tmp_path / "events.sqlite3"),
        EXPORTER_SPOOL_PATH=str(tmp_path / "spool.sqlite3"),
        EXPORTER_DOMAIN_EVENTS="off",
    )
    exporter = ServerProcess("exporter", [sys.executable, "-m", "ops.cli", "exporter"], tmp_path, env)
    prometheus = None
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        wait_for(lambda: status(f"https://127.0.0.1:{port}/readyz", trusted) == 200, 30, "the exporter over TLS")
        assert status(f"https://127.0.0.1:{port}/metrics", trusted) == 401
        assert status(f"http://127.0.0.1:{port}/metrics") == 0  # plain HTTP gets no answer
        password_file = secret_file(tmp_path, "scrape-password", SCRAPE_PASSWORD)
        target = {"static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        tls = {"scheme": "https", "tls_config": {"ca_file": str(cert)}}
        good = {"username": "prometheus", "password_file": password_file}
        bad = {"username": "prometheus", "password": WRONG_PASSWORD}
        jobs: list[dict[str, object]] = [
            {"job_name": "tls", **tls, "basic_auth": good},
            {"job_name": "wrong-password", **tls, "basic_auth": bad},
            {"job_name": "unknown-ca", "scheme": "https", "basic_auth": good},
            {"job_name": "plain-http"},
        ]
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [{**job, **target} for job in jobs],
        }
        prom_port = services.free_port()
        prometheus = start_prometheus(
            services.binary("prometheus", "prometheus"), json.dumps(config), tmp_path, prom_port
        )

        def up() -> dict[str, float]:
            query = urllib.parse.urlencode({"query": "up"})
            with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/query?{query}", timeout=5) as r:
                result = json.loads(r.read())["data"]["result"]
            return {s["metric"]["job"]: float(s["value"][1]) for s in result}

        wait_for(lambda: len(up()) == 4, 30, "a scrape of every job")
        wait_for(lambda: up()["tls"] == 1.0, 15, "the TLS + basic auth job up")
        assert up() == {"tls": 1.0, "wrong-password": 0.0, "unknown-ca": 0.0, "plain-http": 0.0}
    finally:
        if prometheus is not None:
            prometheus.stop()
        exporter.stop()
    log = exporter.log_path.read_text(errors="replace")
    assert "exporter_started" in log
    for secret in (SCRAPE_PASSWORD, WRONG_PASSWORD):
        assert secret not in log


def test_the_receiver_under_gunicorn_serves_only_https_and_logs_no_secret(postgres_uri: str, tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    slack = RecordingSink(status=500)  # a channel that keeps failing: its errors are logged
    slack.start()
    port = services.free_port()
    env = child_env(
        POSTGRES_URI=postgres_uri,
        RECEIVER_PORT=str(port),
        RECEIVER_WORKERS="2",
        RECEIVER_TLS_CERT=str(cert),
        RECEIVER_TLS_KEY=str(key),
        RECEIVER_WEBHOOK_TOKEN_FILE=secret_file(tmp_path, "token", WEBHOOK_TOKEN),
        RECEIVER_SLACK_WEBHOOK_URL_FILE=secret_file(tmp_path, "slack", f"{slack.url}/services/{SLACK_SECRET}"),
        RECEIVER_SMS_ACCOUNT_SID="AC0001",
        RECEIVER_SMS_AUTH_TOKEN_FILE=secret_file(tmp_path, "sms", SMS_TOKEN),
        RECEIVER_SMS_API_URL=slack.url,
        RECEIVER_SMS_FROM="+15550001",
        RECEIVER_SMS_TO="+15550002",
        RECEIVER_PAGERDUTY_ROUTING_KEY_FILE=secret_file(tmp_path, "pagerduty", PAGERDUTY_KEY),
        RECEIVER_PAGERDUTY_EVENTS_URL="https://127.0.0.1:9",  # nothing listens: connection refused, retried
        RECEIVER_EGRESS_ALLOW="127.0.0.1",
        RECEIVER_POLL_INTERVAL="100ms",
        RECEIVER_RETRY_BASE="200ms",
        RECEIVER_SEND_TIMEOUT="2s",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        RECEIVER_ROUTING_FILE=str(tmp_path / "routing.yaml"),
    )
    (tmp_path / "routing.yaml").write_text("priorities:\n  critical: {channels: [pagerduty, slack, sms]}\n")
    api_key = provision_key(env, Role.OPERATOR)
    admin_key = provision_key(env, Role.ADMIN)
    key_id, api_secret = api_key.split(".")
    receiver = ServerProcess("receiver", [sys.executable, "-m", "ops.cli", "receiver"], tmp_path, env)
    base = f"https://127.0.0.1:{port}"
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        wait_for(lambda: status(f"{base}/readyz", trusted) == 200, 60, "the receiver over TLS")
        assert status(f"http://127.0.0.1:{port}/healthz") == 0  # plain HTTP gets no HTTP answer
        assert status(f"{base}/healthz") == 0  # nor does a client that cannot verify the certificate

        hook = f"{base}/api/v1/alerts/alertmanager"
        payload = json.dumps(webhook(alert("DiskFull", "critical"))).encode()
        json_headers = {"Content-Type": "application/json"}
        wrong = {**json_headers, "Authorization": f"Bearer {WRONG_PASSWORD}"}
        assert status(hook, trusted, wrong, data=payload, method="POST") == 401
        assert status(f"{base}/api/v1/alerts", trusted, {"Authorization": f"Bearer {key_id}.{WRONG_PASSWORD}"}) == 401
        right = {**json_headers, "Authorization": f"Bearer {WEBHOOK_TOKEN}"}
        assert status(hook, trusted, right, data=payload, method="POST") == 200
        assert status(f"{base}/api/v1/alerts", trusted, {"Authorization": f"Bearer {api_key}"}) == 200
        wait_for(lambda: len(slack.received()) >= 3, 30, "failed Slack and SMS attempts and a retry")
        reload = f"{base}/api/v1/config/reload"
        assert status(reload, trusted, {"Authorization": f"Bearer {api_key}"}, method="POST") == 403
        assert status(reload, trusted, {"Authorization": f"Bearer {admin_key}"}, method="POST") == 200
        # gunicorn replaces every worker, each reading the policy again, and keeps serving
        wait_for(lambda: "Handling signal: hup" in receiver.log_tail(200), 10, "gunicorn's reload")
        wait_for(lambda: status(f"{base}/readyz", trusted) == 200, 30, "the reloaded workers")
    finally:
        receiver.stop()
        slack.stop()
    log = receiver.log_path.read_text(errors="replace")
    failures = [json.loads(line) for line in log.splitlines() if "delivery failed, will retry" in line]
    assert {f["channel"] for f in failures} == {"slack", "sms", "pagerduty"}, log[-3000:]
    assert "webhook rejected" in log
    for secret in (
        WEBHOOK_TOKEN,
        SLACK_SECRET,
        "slack-path-secret",
        SMS_TOKEN,
        PAGERDUTY_KEY,
        api_secret,
        WRONG_PASSWORD,
    ):
        assert secret not in log, secret
