"""Alertmanager takes an alert on API v2 and POSTs it to a webhook, payload version 4."""

from __future__ import annotations

from pathlib import Path

from tests import services
from tests.processes import post_alerts, start_alertmanager
from tests.sinks import RecordingSink


def test_alert_posted_to_api_v2_reaches_the_webhook(tmp_path: Path, sink: RecordingSink) -> None:
    port = services.free_port()
    config = f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs:
      - url: {sink.url}/hook
        send_resolved: true
"""
    alertmanager = start_alertmanager(
        services.binary("prometheus-alertmanager", "prometheus-alertmanager"), config, tmp_path, port
    )
    try:
        alert = [
            {
                "labels": {"alertname": "SmokeTest", "priority": "critical", "service": "exporter"},
                "annotations": {"summary": "smoke"},
            }
        ]
        post_alerts(f"http://127.0.0.1:{port}", alert)

        received = sink.wait_for(1, timeout=30)[0]
        payload = received.json()
        assert received.path == "/hook"
        assert payload["version"] == "4"
        assert payload["status"] == "firing"
        assert payload["alerts"][0]["labels"] == alert[0]["labels"]
    finally:
        alertmanager.stop()
