"""`monitoring rules backtest|lint`: what an edited rule or route would have paged, and the house rules.

Exit codes: 0 done; 1 the backtest pages more than ``--max-pages`` or lint found problems;
2 bad input (a file that does not parse, an unknown PromQL function, Prometheus down or too
old), with one message naming the file, rule or URL on stderr and nothing on stdout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import requests

from monitoring.settings import ConfigError
from ops.rules import backtest, lint, rendering
from ops.rules.alert_relabel import RelabelUnsupported
from ops.rules.alertmanager_config import AlertmanagerConfig, Integration, Route, load_alertmanager_config
from ops.rules.durations import DurationInvalid, parse_duration
from ops.rules.history import PrometheusHistory, PrometheusTooOld, PrometheusUnavailable
from ops.rules.incidents import incident_stage
from ops.rules.receiver_policy import NotificationStage
from ops.rules.rule_files import load_rule_files
from receiver.config.routing import RoutingPolicy
from receiver.config.settings import ReceiverConfig
from receiver.operations import IncidentReplay, incident_replay

COMMANDS = ("rules",)


def register(subparsers: Any) -> None:
    """Add ``rules backtest`` and ``rules lint`` to the ``monitoring`` command."""
    rules = subparsers.add_parser("rules", help="backtest rule and routing changes against history; lint rule files")
    sub = rules.add_subparsers(dest="rules_command", required=True)
    bt = sub.add_parser(
        "backtest",
        help="what the given rule and Alertmanager files would have fired and paged over a past window",
        description="Evaluate the alerting rules of FILEs over stored history and route the would-be alerts "
        "through Alertmanager and the receiver's policy. See docs/alerting.md, 'Changing a rule safely'.",
    )
    bt.add_argument("--rules", nargs="+", type=Path, required=True, metavar="FILE", help="rule files to evaluate")
    bt.add_argument("--alertmanager", type=Path, metavar="FILE", help="alertmanager.yml (routes, inhibition)")
    bt.add_argument(
        "--routing-policy", type=Path, metavar="FILE", help="the receiver's routing policy (default: built-in)"
    )
    bt.add_argument(
        "--prometheus", metavar="URL", help="Prometheus to read history from (default: MONITORING_PROMETHEUS_URL)"
    )
    bt.add_argument("--since", default="24h", help="start: a duration ago (24h) or a time (RFC 3339, unix seconds)")
    bt.add_argument("--until", help="end: a duration ago or a time (default: now)")
    bt.add_argument(
        "--against",
        nargs="+",
        metavar="current|FILE",
        help="compare with the rules Prometheus has loaded now (current) or with other rule files",
    )
    bt.add_argument(
        "--recompute-recordings",
        action="store_true",
        help="compute every recording rule of the given files, even those Prometheus runs unchanged "
        "(default: read what Prometheus recorded for them where it did)",
    )
    bt.add_argument(
        "--topology",
        type=Path,
        metavar="FILE",
        help="page once per incident along this topology, as the receiver does (default: RECEIVER_TOPOLOGY_FILE; "
        "neither: every alert pages on its own)",
    )
    bt.add_argument("--json", action="store_true", help="print JSON instead of a table")
    bt.add_argument(
        "--max-pages", type=int, metavar="N", help="exit 1 when the rules would have paged more than N times"
    )
    lt = sub.add_parser("lint", help="check rule files against the house rules every shipped alert follows")
    lt.add_argument("files", nargs="+", type=Path, metavar="FILE")
    lt.add_argument("--tests", nargs="+", type=Path, metavar="FILE", help="promtool test files (default: found beside)")
    lt.add_argument(
        "--prometheus-config",
        type=Path,
        metavar="FILE",
        help="Prometheus configuration whose external_labels annotations are rendered with "
        "(default: prometheus.yml beside the rules' folder)",
    )


def run(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, clock: Callable[[], float] = time.time) -> int:
    command = f"monitoring rules {args.rules_command}"
    try:
        if args.rules_command == "lint":
            return _lint(args, out)
        return _backtest(args, env, out, clock)
    except (
        ConfigError,
        PrometheusUnavailable,
        PrometheusTooOld,
        backtest.RuleQueryFailed,
        RelabelUnsupported,
        DurationInvalid,
    ) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 2


def _lint(args: argparse.Namespace, out: TextIO) -> int:
    findings = lint.lint(args.files, args.tests, args.prometheus_config)
    text = "".join(f"{finding}\n" for finding in findings)
    out.write(text or f"{len(args.files)} rule file(s): every alert follows the house rules\n")
    return 1 if findings else 0


def parse_time(text: str, now: float) -> float:
    """``24h`` (ago), ``1700000000`` or ``2024-05-01T12:00:00Z``."""
    raw = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", raw) and float(raw) > 1e8:
        return float(raw)
    if re.match(r"\d{4}-\d\d-\d\d", raw):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise DurationInvalid(f"not a time: {raw!r} (expected RFC 3339, unix seconds or a duration ago)") from None
    return now - parse_duration(raw)


def _replay(config: ReceiverConfig, topology: Path | None) -> IncidentReplay:
    replay = incident_replay(config, topology)
    assert replay is not None  # only called with a topology
    return replay


def default_alertmanager() -> AlertmanagerConfig:
    """Without --alertmanager: one route to the receiver with Alertmanager's default timings."""
    route = Route("0", "receiver", (), (), 30.0, 300.0, 14400.0, False, ())
    return AlertmanagerConfig(route, (), {"receiver": (Integration("webhook", True),)}, ())


def _backtest(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, clock: Callable[[], float]) -> int:
    now = clock()
    window = backtest.Window(parse_time(args.since, now), parse_time(args.until, now) if args.until else now)
    if window.until <= window.since:
        raise DurationInvalid(f"--since ({args.since}) must be before --until ({args.until or 'now'})")
    policy = RoutingPolicy.from_file(args.routing_policy) if args.routing_policy else RoutingPolicy()
    alertmanager = load_alertmanager_config(args.alertmanager) if args.alertmanager else default_alertmanager()
    url = (
        args.prometheus
        or env.get("MONITORING_PROMETHEUS_URL")
        or f"http://127.0.0.1:{env.get('PROMETHEUS_PORT', '9090')}"
    )
    with requests.Session() as session:
        history = PrometheusHistory(url, session)
        setup = history.setup()
        candidate = load_rule_files(args.rules, setup.evaluation_interval)
        against = None
        baseline = None
        if args.against:
            if args.against == ["current"]:
                against, baseline = "current", backtest.rules_loaded(setup)
            else:
                against = " ".join(map(str, args.against))
                baseline = load_rule_files([Path(p) for p in args.against], setup.evaluation_interval)
        receiver = ReceiverConfig.from_environ(env)
        stages: tuple[NotificationStage, ...] = ()
        if (args.topology or receiver.topology_file) is not None:
            incident_replay(receiver, args.topology)  # a bad topology fails here, naming its file and line
            stages = (incident_stage(lambda: _replay(receiver, args.topology)),)
        result = backtest.run(
            history,
            setup,
            window,
            candidate,
            alertmanager,
            policy,
            baseline,
            stages=stages,
            recompute_recordings=args.recompute_recordings,
        )
    if args.json:
        document = rendering.summary(result)
        if args.max_pages is not None:
            document["max_pages"] = {"limit": args.max_pages, "exceeded": document["pages"]["total"] > args.max_pages}
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        out.write(rendering.text(result, against))
    pages = len(rendering.trigger_pages(result.candidate))
    if args.max_pages is not None and pages > args.max_pages:
        if not args.json:
            out.write(f"\n{pages} pages exceed --max-pages {args.max_pages}\n")
        return 1
    return 0
