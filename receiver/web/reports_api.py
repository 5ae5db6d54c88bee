"""``GET /api/v1/reports/*``: alert quality from the history (receiver/reports/, docs/receiver.md).

- ``/summary``: alerts fired, acknowledged or not, time to acknowledge and resolve, escalations,
  deadlines missed, re-fires and pages (working hours, out of hours, weekend) per group and in total;
  the deadlines per priority
- ``/hours``: pages per local day and per hour of the week
- ``/noisiest``: the alerts with the most pages and their share
- ``/flapping``: the alerts with the most fire/resolve cycles

Parameters (every one optional): ``since``, ``until``, ``group_by`` (priority, service, alertname,
channel), ``tz``, ``working_hours``, ``working_days``, ``top``. A bad one is a 400 naming it (counted
in ``receiver_report_queries_rejected_total{parameter}``); an unavailable database a 503.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CollectorRegistry, Counter

from receiver.config.settings import ReportSettings
from receiver.reports import document
from receiver.reports.figures import EVERYTHING, SUMMARY, Report, read_report
from receiver.reports.parameters import ParameterInvalid, ReportRequest, parse_request
from receiver.store.database import DatabaseUnavailable
from receiver.store.reports import ReportReads, Section
from receiver.web.api import Wiring
from receiver.web.json_errors import error_response

bp = Blueprint("reports", __name__, url_prefix="/api/v1/reports")


class Reports:
    """What the reports need besides the request: the repository, the configured zone and hours, and
    the counter of refused queries."""

    def __init__(self, reads: ReportReads | None, settings: ReportSettings, registry: CollectorRegistry) -> None:
        self.reads = reads
        self.settings = settings
        self.rejected = Counter(
            "receiver_report_queries_rejected_total",
            "GET /api/v1/reports/* and the console's Reports page refused with 400, by the parameter at fault",
            ["parameter"],
            registry=registry,
        )

    def request(self, args: dict[str, str], now: float) -> ReportRequest:
        try:
            return parse_request(args, self.settings, now)
        except ParameterInvalid as exc:
            self.rejected.labels(exc.parameter).inc()
            raise

    def read(self, wiring: Wiring, report: ReportRequest, sections: frozenset[Section]) -> Report:
        if self.reads is None:
            raise DatabaseUnavailable("no report repository")
        return read_report(self.reads, report, wiring.policy, sections)


def reports() -> Reports:
    found: Reports = current_app.extensions["reports"]
    return found


def _answer(sections: frozenset[Section], render: Callable[[Report], dict[str, Any]]) -> Response:
    wiring: Wiring = current_app.extensions["receiver"]
    service = reports()
    try:
        report = service.request(request.args.to_dict(), wiring.clock())
    except ParameterInvalid as exc:
        return error_response(400, str(exc))
    try:
        return jsonify(render(service.read(wiring, report, sections)))
    except DatabaseUnavailable:
        return error_response(503, "alert history unavailable; retry later", **{"Retry-After": "5"})


@bp.get("/summary")
def summary() -> Response:
    return _answer(SUMMARY, document.summary_document)


@bp.get("/hours")
def hours() -> Response:
    return _answer(frozenset({Section.PAGES}), document.hours_document)


@bp.get("/noisiest")
def noisiest() -> Response:
    return _answer(frozenset({Section.NOISIEST}), document.noisiest_document)


@bp.get("/flapping")
def flapping() -> Response:
    return _answer(frozenset({Section.FLAPPING}), document.flapping_document)


@bp.get("/full")
def full() -> Response:
    """Everything at once (what the console's Reports page shows and ``monitoring report --json`` prints)."""
    return _answer(EVERYTHING, document.report_document)
