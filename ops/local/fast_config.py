"""Derive a time-compressed copy of the shipped Prometheus and Alertmanager configuration.

End-to-end tests and the local demo need alerts within seconds, not minutes. Rather than
keeping a second set of rules by hand (which would drift), this module rewrites the shipped
files: every duration is divided by ``speedup`` — scrape and evaluation intervals, range
windows and offsets in PromQL, ``for:`` clauses, Alertmanager's group timings — while
thresholds, labels, routes and inhibitions stay exactly as shipped. Range windows keep at
least four scrape intervals so ``rate()`` stays meaningful.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"
_RANGE = re.compile(r"\[(" + _DURATION + r")(?::(" + _DURATION + r"))?\]")
_OFFSET = re.compile(r"\boffset\s+(" + _DURATION + r")")


@dataclass(frozen=True)
class Speed:
    """How much faster than production, and the floor for scrape-based windows."""

    speedup: float = 60.0
    scrape_interval_seconds: int = 1

    @property
    def min_window_seconds(self) -> int:
        return 4 * self.scrape_interval_seconds


def parse_seconds(text: str) -> float:
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def format_seconds(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole}s" if whole else "0s"


def scale(text: str, speed: Speed, minimum: float = 0.0) -> str:
    return format_seconds(max(minimum, parse_seconds(text) / speed.speedup))


def scale_promql(expr: str, speed: Speed) -> str:
    """Divide range windows, subquery steps and offsets in a PromQL expression."""

    def window(match: re.Match[str]) -> str:
        rng = scale(match.group(1), speed, speed.min_window_seconds)
        step = match.group(2)
        return f"[{rng}:{scale(step, speed, speed.scrape_interval_seconds)}]" if step else f"[{rng}]"

    def offset(match: re.Match[str]) -> str:
        return f"offset {scale(match.group(1), speed, 1)}"

    return _OFFSET.sub(offset, _RANGE.sub(window, expr))


def scale_rules(document: dict[str, Any], speed: Speed) -> dict[str, Any]:
    groups = []
    for group in document["groups"]:
        group = dict(group)
        if "interval" in group:
            group["interval"] = f"{speed.scrape_interval_seconds}s"
        rules = []
        for rule in group["rules"]:
            rule = dict(rule)
            rule["expr"] = scale_promql(str(rule["expr"]), speed)
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = scale(str(rule[key]), speed)
            rules.append(rule)
        group["rules"] = rules
        groups.append(group)
    return {**document, "groups": groups}


def scale_prometheus(document: dict[str, Any], speed: Speed, rule_files: list[str]) -> dict[str, Any]:
    interval = f"{speed.scrape_interval_seconds}s"
    out = dict(document)
    out["global"] = {
        **document.get("global", {}),
        "scrape_interval": interval,
        "evaluation_interval": interval,
        "scrape_timeout": interval,
    }
    out["rule_files"] = rule_files
    return out


_ROUTE_TIMINGS = ("group_wait", "group_interval", "repeat_interval")


def scale_route(route: dict[str, Any], speed: Speed) -> dict[str, Any]:
    out = dict(route)
    for key in _ROUTE_TIMINGS:
        if key in out:
            # group_interval and repeat_interval must stay positive.
            out[key] = scale(str(out[key]), speed, 0 if key == "group_wait" else 1)
    if "routes" in out:
        out["routes"] = [scale_route(child, speed) for child in out["routes"]]
    return out


def scale_alertmanager(
    document: dict[str, Any], speed: Speed, webhook_url: str, credentials_file: str
) -> dict[str, Any]:
    """Scale timings and point every webhook at ``webhook_url`` with ``credentials_file``.

    Receivers that Alertmanager would call directly (e.g. PagerDuty for pipeline alerts) are
    reduced to the webhook too: tests and demos never reach real paging services.
    """
    out = dict(document)
    out["route"] = scale_route(document["route"], speed)
    if "global" in out and "resolve_timeout" in out["global"]:
        out["global"] = {**out["global"], "resolve_timeout": scale(str(out["global"]["resolve_timeout"]), speed, 1)}
    webhook = {
        "url": webhook_url,
        "send_resolved": True,
        "max_alerts": 0,
        "http_config": {"authorization": {"type": "Bearer", "credentials_file": credentials_file}},
    }
    out["receivers"] = [{"name": receiver["name"], "webhook_configs": [webhook]} for receiver in document["receivers"]]
    return out


def write_fast_config(
    repo: Path,
    out: Path,
    speed: Speed,
    *,
    webhook_url: str,
    credentials_file: str,
) -> tuple[Path, Path]:
    """Write ``prometheus.yml`` (+ rules/) and ``alertmanager.yml`` into ``out``; return both paths.

    Scrape targets, service discovery and the Alertmanager address are copied as shipped;
    callers that run on other ports rewrite those sections of the returned documents.
    """
    rules_out = out / "rules"
    rules_out.mkdir(parents=True, exist_ok=True)
    rule_names = []
    for path in sorted((repo / "prometheus" / "rules").glob("*.yml")):
        document = yaml.safe_load(path.read_text())
        (rules_out / path.name).write_text(yaml.safe_dump(scale_rules(document, speed), sort_keys=False))
        rule_names.append(f"rules/{path.name}")
    prometheus = yaml.safe_load((repo / "prometheus" / "prometheus.yml").read_text())
    prometheus_path = out / "prometheus.yml"
    prometheus_path.write_text(yaml.safe_dump(scale_prometheus(prometheus, speed, rule_names), sort_keys=False))
    alertmanager = yaml.safe_load((repo / "alertmanager" / "alertmanager.yml").read_text())
    alertmanager_path = out / "alertmanager.yml"
    alertmanager_path.write_text(
        yaml.safe_dump(
            scale_alertmanager(alertmanager, speed, webhook_url, credentials_file),
            sort_keys=False,
        )
    )
    return prometheus_path, alertmanager_path
