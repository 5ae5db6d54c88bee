"""``monitoring verify``: data consistency between Alertmanager (API v2) and the alert history,
outbox jobs stuck past their lease or due time, and the domain-event outbox against the relay and
the event store. Each discrepancy is reported; ``--repair`` fixes the safe ones (see
docs/runbook.md) through the receiver's guarded repairs (``receiver.operations.Repairs``)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Protocol

import requests

from monitoring.eventstore import EventStore
from ops.tables import table
from receiver.operations import Database, Repairs, is_watchdog


@dataclass(frozen=True)
class Discrepancy:
    check: str  # alertmanager_vs_history | outbox | domain_events | event_store
    kind: str
    subject: str
    detail: str
    repair: str | None  # what --repair does; None: not safe to repair automatically
    repaired: bool = False


class AlertSource(Protocol):
    def active_fingerprints(self) -> dict[str, str]:
        """Fingerprint -> alertname of every alert Alertmanager holds (active, silenced or inhibited)."""
        ...


class AlertmanagerApi:
    """Alertmanager's API v2 (``GET /api/v2/alerts``)."""

    def __init__(self, url: str, session: requests.Session, timeout: float = 5.0) -> None:
        self._url = url.rstrip("/")
        self._session = session
        self._timeout = timeout

    def active_fingerprints(self) -> dict[str, str]:
        response = self._session.get(
            f"{self._url}/api/v2/alerts",
            params={"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"},
            timeout=self._timeout,
        )
        response.raise_for_status()
        return {
            str(a["fingerprint"]): str(a.get("labels", {}).get("alertname", ""))
            for a in response.json()
            if not is_watchdog(a.get("labels", {}))
        }


class Verifier:
    """Finds discrepancies; with ``repair=True`` fixes the safe ones in the same pass (each repair is
    guarded: it changes a row only while the row is still as found)."""

    def __init__(
        self,
        database: Database,
        clock: Callable[[], float] = time.time,
        *,
        grace: float = 600.0,
        alertmanager: AlertSource | None = None,
        store: EventStore | None = None,
        store_window: float = 86400.0,
    ) -> None:
        self._repairs = Repairs(database)
        self._clock = clock
        self._grace = grace
        self._alertmanager = alertmanager
        self._store = store
        self._store_window = store_window

    def run(self, repair: bool) -> list[Discrepancy]:
        found: list[Discrepancy] = []
        if self._alertmanager is not None:
            found += self.alerts(repair)
        found += self.outbox(repair)
        found += self.domain_events(repair)
        if self._store is not None:
            found += self.event_store(repair)
        return found

    @staticmethod
    def _repaired(item: Discrepancy, repair: bool, fix: Callable[[], bool]) -> Discrepancy:
        """``item``, repaired by ``fix`` when asked to (and marked so when ``fix`` changed a row)."""
        return dataclasses.replace(item, repaired=fix()) if repair else item

    def alerts(self, repair: bool) -> list[Discrepancy]:
        assert self._alertmanager is not None
        known = self._alertmanager.active_fingerprints()
        now = self._clock()
        rows = self._repairs.open_alerts()
        open_fingerprints = {r.fingerprint for r in rows}
        found = [
            Discrepancy(
                "alertmanager_vs_history",
                "missing_in_history",
                f"{name or '?'} fingerprint {fingerprint}",
                "active in Alertmanager but not open in the history: the webhook did not arrive or failed; "
                "Alertmanager sends it again at its repeat interval (check the receiver's logs and status)",
                None,
            )
            for fingerprint, name in sorted(known.items())
            if fingerprint not in open_fingerprints
        ]
        reason = "resolved by monitoring verify --repair: Alertmanager no longer has it"
        for alert in rows:
            if alert.fingerprint in known or now - alert.last_seen < self._grace:
                continue
            stale = Discrepancy(
                "alertmanager_vs_history",
                "stale_open",
                f"alert {alert.id} {alert.alertname} fingerprint {alert.fingerprint}",
                f"open in the history, unknown to Alertmanager, last seen {now - alert.last_seen:.0f}s ago",
                "mark it resolved in the history (a timeline entry says so; no notification is sent)",
            )
            found.append(self._repaired(stale, repair, partial(self._repairs.resolve_stale, alert.id, now, reason)))
        return found

    def outbox(self, repair: bool) -> list[Discrepancy]:
        now = self._clock()
        cutoff = now - self._grace
        found = [
            self._repaired(
                Discrepancy(
                    "outbox",
                    "lease_expired",
                    f"job {job.id} ({job.channel} {job.action}, alert {job.alert_id})",
                    f"claimed for sending, lease ended {now - job.at:.0f}s ago: its worker died mid-send",
                    "release the lease: the job is due again now",
                ),
                repair,
                partial(self._repairs.release_lease, job.id, now, cutoff),
            )
            for job in self._repairs.expired_leases(cutoff)
        ]
        found += [
            Discrepancy(
                "outbox",
                "overdue",
                f"job {job.id} ({job.channel} {job.action}, alert {job.alert_id})",
                f"due {now - job.at:.0f}s ago and not sent: no delivery worker is running (restart the receiver)",
                None,
            )
            for job in self._repairs.overdue_jobs(cutoff)
        ]
        return found

    def domain_events(self, repair: bool) -> list[Discrepancy]:
        now = self._clock()
        found = []
        for stage in ("publish", "store"):
            for event in self._repairs.unrelayed_events(stage, now - self._grace):
                held = event.claimed_by is not None and event.lease_until is not None and event.lease_until > now
                holder = (
                    f", held by {event.claimed_by}" if held else ", held by nobody: is the receiver's relay running?"
                )
                item = Discrepancy(
                    "domain_events",
                    f"not_{'published' if stage == 'publish' else 'stored'}",
                    f"event {event.id} ({event.type}, seq {event.seq})",
                    f"not through {stage} after {self._grace:.0f}s, {event.attempts} attempt(s), {holder}",
                    "release its claim so that any relay takes it at once" if held else None,
                )
                found.append(
                    self._repaired(item, repair and held, partial(self._repairs.release_event_claim, event.seq))
                )
        return found

    def event_store(self, repair: bool) -> list[Discrepancy]:
        """Events the outbox marks stored but the store does not hold (recent ones: older may be purged)."""
        assert self._store is not None
        found = []
        for event in self._repairs.stored_events_since(self._clock() - self._store_window):
            if self._store.get(event.id) is not None:
                continue
            item = Discrepancy(
                "event_store",
                "missing_in_store",
                f"event {event.id} ({event.type}, seq {event.seq})",
                "marked stored in the outbox, absent from the event store",
                "mark it unstored so that the relay appends it again (appends are idempotent on the id)",
            )
            found.append(self._repaired(item, repair, partial(self._repairs.mark_unstored, event.seq)))
        return found


def verify_exit_code(found: Sequence[Discrepancy]) -> int:
    """0 when consistent (or everything found was repaired), 1 otherwise."""
    return 1 if any(not d.repaired for d in found) else 0


def render_discrepancies(found: Sequence[Discrepancy], as_json: bool) -> str:
    if as_json:
        return json.dumps({"discrepancies": [asdict(d) for d in found], "ok": verify_exit_code(found) == 0})
    if not found:
        return "consistent: no discrepancies"
    rows = [
        (d.check, d.kind, d.subject, "repaired" if d.repaired else (d.repair and "repairable") or "manual", d.detail)
        for d in found
    ]
    return table(("check", "kind", "subject", "repair", "detail"), rows)
