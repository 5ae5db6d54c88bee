"""The dashboards, their files, and how to render them to JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana import alert_quality, alerts, business_insights, event_monitoring, system_status

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "system-status.json": system_status.dashboard,
    "event-monitoring.json": event_monitoring.dashboard,
    "business-insights.json": business_insights.dashboard,
    "alerts.json": alerts.dashboard,
    "alert-quality.json": alert_quality.dashboard,
}


def render(board: Dashboard) -> str:
    return json.dumps(board, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: render(make()) for name, make in DASHBOARDS.items()}
