"""A backtest as a person reads it (a table per rule, pages per priority and channel) or as JSON."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ops.rules.backtest import Backtest, RunResult
from ops.rules.durations import format_duration
from ops.rules.receiver_policy import Page

PRIORITIES = ("critical", "high", "medium", "low")


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def trigger_pages(result: RunResult) -> list[Page]:
    return [p for p in result.pages if p.action == "trigger"]


def summary(backtest: Backtest) -> dict[str, Any]:
    """The backtest as a JSON-ready document (``--json``)."""
    result = backtest.candidate
    window = backtest.window
    rules: dict[str, dict[str, Any]] = {}
    for rule in result.rules:
        rules.setdefault(
            rule.key,
            {
                "rule": rule.key,
                "alertname": rule.alert,
                "file": str(rule.file),
                "group": rule.group,
                "firings": 0,
                "firing_seconds": 0.0,
                "pages": {},
                "diff": {"new": 0, "gone": 0, "earlier": 0, "later": 0},
            },
        )
    for episode in result.episodes:
        entry = rules[episode.rule.key]
        entry["firings"] += 1
        entry["firing_seconds"] += episode.firing_seconds(window.since, window.until)
    for page in trigger_pages(result):
        if page.rule in rules:
            counts = rules[page.rule]["pages"]
            counts[page.channel] = counts.get(page.channel, 0) + 1
    for change in backtest.changes:
        entry = rules.setdefault(
            change.rule,
            {"rule": change.rule, "firings": 0, "firing_seconds": 0.0, "pages": {}, "diff": {}},
        )
        entry["diff"][change.kind] = entry["diff"].get(change.kind, 0) + 1
    per_priority: dict[str, dict[str, int]] = {}
    for page in trigger_pages(result):
        channels = per_priority.setdefault(page.priority, {})
        channels[page.channel] = channels.get(page.channel, 0) + 1
    return {
        "window": {"since": _iso(window.since), "until": _iso(window.until), "seconds": window.until - window.since},
        "prometheus": backtest.prometheus,
        "rules": sorted(rules.values(), key=lambda r: r["rule"]),
        "firings": [
            {
                "rule": e.rule.key,
                "labels": dict(e.labels),
                "active_at": _iso(e.active_at),
                "fired_at": _iso(e.fired_at),
                "resolved_at": _iso(e.resolved_at),
            }
            for e in result.episodes
        ],
        "pages": {
            "total": len(trigger_pages(result)),
            "by_priority": per_priority,
            "racy": sum(p.racy for p in trigger_pages(result)),
            # notifications only the other settlement of a race would send: not in ``total``
            "unsettled": len(result.unsettled),
        },
        "notifications": len(result.notifications),
        "diff": [
            {
                "kind": c.kind,
                "rule": c.rule,
                "labels": dict(c.labels),
                "fired_at": _iso(c.fired_at),
                "baseline_fired_at": _iso(c.baseline_fired_at),
            }
            for c in backtest.changes
        ],
        "against": None if backtest.baseline is None else {"firings": len(backtest.baseline.episodes)},
        "time": {
            "queries": backtest.queries,
            "query_seconds": round(backtest.query_seconds, 3),
            "evaluation_seconds": round(backtest.evaluation_seconds, 3),
            "evaluations": backtest.evaluations,
        },
        "warnings": list(result.warnings),
    }


def _channels(counts: dict[str, int]) -> str:
    return ", ".join(f"{channel} {n}" for channel, n in sorted(counts.items())) or "-"


def _table(rows: Iterable[tuple[str, ...]]) -> list[str]:
    rows = list(rows)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def text(backtest: Backtest, against: str | None) -> str:
    """The backtest for a terminal."""
    document = summary(backtest)
    window = backtest.window
    lines = [
        f"Backtest of {len(backtest.candidate.rules)} alerting rules from {document['window']['since']} "
        f"to {document['window']['until']} ({format_duration(window.until - window.since)}) "
        f"on {backtest.prometheus}",
        "",
    ]
    header: tuple[str, ...] = ("rule", "firings", "firing time", "pages")
    if against is not None:
        header += (f"vs {against}: new", "gone", "earlier", "later")
    rows = [header]
    for rule in document["rules"]:
        row: tuple[str, ...] = (
            rule["rule"],
            str(rule["firings"]),
            format_duration(round(rule["firing_seconds"])),
            _channels(rule["pages"]),
        )
        if against is not None:
            row += tuple(str(rule["diff"].get(k, 0)) for k in ("new", "gone", "earlier", "later"))
        rows.append(row)
    lines += _table(rows)
    lines.append("")
    by_priority = document["pages"]["by_priority"]
    racy = document["pages"]["racy"]
    race = f" ({racy} at an instant where a resolution races Alertmanager's flush: may or may not be sent)"
    unsettled = document["pages"]["unsettled"]
    more = f"; {unsettled} more notification(s) Alertmanager may send if such a race goes the other way"
    lines.append(f"Pages: {document['pages']['total']}" + (race if racy else "") + (more if unsettled else ""))
    for priority in sorted(by_priority, key=lambda p: PRIORITIES.index(p) if p in PRIORITIES else 9):
        lines.append(f"  {priority}: {_channels(by_priority[priority])}")
    if backtest.changes:
        lines += ["", f"Changes against {against}:"]
        for change in backtest.changes:
            labels = ",".join(f"{k}={v}" for k, v in change.labels if k != "alertname")
            name = dict(change.labels)["alertname"]
            if change.kind in ("earlier", "later"):
                detail = f"{format_duration(abs(change.shift))} {change.kind}, at {_iso(change.fired_at)}"
            else:
                detail = f"at {_iso(change.fired_at if change.kind == 'new' else change.baseline_fired_at)}"
            lines.append(f"  {change.kind:7} {name}{{{labels}}} {detail}")
    for warning in document["warnings"]:
        lines.append(f"warning: {warning}")
    time_ = document["time"]
    lines += [
        "",
        f"Time: queries {time_['query_seconds']:.2f} s ({time_['queries']} range queries), "
        f"evaluation {time_['evaluation_seconds']:.2f} s ({time_['evaluations']:,} rule evaluations)",
    ]
    return "\n".join(lines) + "\n"
