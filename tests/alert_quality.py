"""A week of alert history with hand-computed alert-quality figures, recorded through the real
``SqlAlertHistory`` API (record, claim, delivered, retry_later, dead_letter, acknowledge, escalate).

The window is Monday 2026-03-02 00:00 to Monday 2026-03-09 00:00 in Asia/Seoul (UTC+9, no daylight
saving time), working hours 09:00-18:00 Monday to Friday; paging channels pagerduty and sms.

Times are KST; TTA and TTR in seconds from first seen.

- A1 DiskFull (fp-disk), critical, asset, first seen Mon 10:00: pagerduty 10:00:05; sms fails once and
  is delivered 10:01 (one page); acknowledged 10:03 (the PagerDuty acknowledge job is no page); ends
  10:30. TTA 180, TTR 1800.
- A2 DiskFull (fp-disk), critical, asset, Mon 11:00: pagerduty 11:00:05; sms dead-lettered, its e-mail
  fallback delivered (not a page); ends 11:10. TTR 600, resolved unacknowledged.
- A3 DiskFull (fp-disk), critical, asset, Mon 12:00: pagerduty 12:00:05; ends 12:05. TTR 300.
- A4 LagHigh (fp-lag), critical, portfolio, Fri 23:58: pagerduty Fri 23:59:59 (out of hours); sms Sat
  00:00:00 (weekend); escalated 00:03:30, sms 00:03:40; acknowledged 00:20; still firing. TTA 1320.
- A5 ErrorRate (fp-err), medium, transaction, Tue 09:00: slack and e-mail only; ends 09:20;
  acknowledged 09:30, after it resolved: resolved unacknowledged. TTR 1200.
- A6 QueueStuck (fp-queue), high, transaction, Wed 14:00: pagerduty 14:00:03; acknowledged 14:02; ends
  14:10; fires again 15:00 (a re-fire), pagerduty 15:00:04; ends 15:30. TTA 120, TTR 5400.
- A7 CertExpiring (fp-cert), low, gateway, Thu 03:00: one e-mail digest job, delivered at the digest
  time 04:00:02; still firing.
- A8 PaymentsDown (fp-pay), critical, payments, Sun 22:00: pagerduty 22:00:02, sms 22:00:03; escalated
  twice, sms 22:05:40 and 22:10:50; still firing, unacknowledged.
- A11 SlowQueries (fp-slow), high, asset, Thu 17:59: pagerduty at 18:00:00 exactly (out of hours);
  acknowledged 18:10; ends 18:20. TTA 660, TTR 1260.
- A9 NightlyBatchLate (fp-batch), high, batch, first seen Sun 03-01 23:59:50, before the window:
  pagerduty Mon 00:00:10, a page in the window (out of hours) of an alert outside it.
- A10 DiskFull (fp-disk), critical, asset, first seen Mon 03-09 00:00:00 = until: outside, and so is
  its page at 00:00:05.

Incidents (rows written as the incident rules would leave them; each cause's notifications are the
incident's): their group is the incident's priority, or its probable cause's service and alert name; by
channel, every channel the incident was notified on (a delivered trigger or escalation).

- I1 cause A1, critical, opened Mon 10:00, resolved: pagerduty, slack, sms.
- I2 cause A2, critical, opened Mon 11:00, merged into I1: never paged on its own, not counted.
- I4 cause A5 (medium), high (a high symptom joined), opened Tue 09:00, resolved: slack, email.
- I3 cause A6, high, opened Wed 14:00, resolved: pagerduty, slack.
- I5 cause A8, critical, opened Sun 22:00, open: pagerduty, sms, slack.
- I6 cause A9, opened before the window; I7 cause A10, opened at `until`: outside.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from receiver.store.history import AlertFilter, Job, NewJob, Observation
from receiver.store.sql_history import SqlAlertHistory

SEOUL = ZoneInfo("Asia/Seoul")


def kst(day: int, clock: str) -> float:
    """Epoch seconds of 2026-03-<day> <HH:MM[:SS]> in Asia/Seoul."""
    parts = [int(p) for p in clock.split(":")] + [0]
    return datetime(2026, 3, day, parts[0], parts[1], parts[2], tzinfo=SEOUL).timestamp()


SINCE, UNTIL = kst(2, "00:00"), kst(9, "00:00")

CHANNELS = {
    "critical": ("pagerduty", "slack", "sms"),
    "high": ("pagerduty", "slack"),
    "medium": ("slack", "email"),
    "low": ("email_digest",),
}
DEADLINES = {"critical": 300.0, "high": 3600.0, "medium": 86400.0, "low": None}


def observation(
    name: str, fingerprint: str, priority: str, service: str, starts_at: float, **changes: Any
) -> Observation:
    base = Observation(
        fingerprint=fingerprint,
        starts_at=starts_at,
        alertname=name,
        status="firing",
        priority=priority,
        priority_defaulted=False,
        service=service,
        labels={"alertname": name, "priority": priority, "service": service},
        annotations={"summary": f"{name} on {service}"},
        generator_url="http://prometheus.example/graph",
        ends_at=None,
        content_hash=f"h-{fingerprint}",
        channels=CHANNELS[priority],
        retry_budget=3,
        ack_deadline=DEADLINES[priority],
    )
    return replace(base, **changes)


@dataclass
class Seeded:
    ids: dict[str, int]  # "A1" ... -> alert id


class Recorder:
    """Drives the history like the receiver does, at chosen times."""

    def __init__(self, history: SqlAlertHistory) -> None:
        self.history = history
        self.ids: dict[str, int] = {}
        self.observations: dict[str, Observation] = {}

    def fire(self, key: str, obs: Observation, at: float) -> None:
        self.observations[key] = obs
        self.history.record([obs], at)
        if key not in self.ids:
            self.ids[key] = max(a.id for a in self.history.alerts(AlertFilter(limit=1000)))

    def resolve(self, key: str, ends_at: float, at: float) -> None:
        self.history.record([replace(self.observations[key], status="resolved", ends_at=ends_at)], at)

    def _claim(self, key: str, channel: str, action: str, at: float) -> Job:
        jobs = self.history.claim(at, 0.5, 1000, digest=channel == "email_digest")
        [job] = [j for j in jobs if (j.alert.id, j.channel, j.action) == (self.ids[key], channel, action)]
        return job

    def deliver(self, key: str, channel: str, action: str, at: float) -> None:
        self.history.delivered(self._claim(key, channel, action, at), at)

    def fail(self, key: str, channel: str, action: str, at: float, retry_at: float) -> None:
        self.history.retry_later(self._claim(key, channel, action, at), retry_at, f"{channel}: HTTP 503", at)

    def dead(self, key: str, channel: str, action: str, at: float, fallback: NewJob | None) -> None:
        self.history.dead_letter(self._claim(key, channel, action, at), f"{channel}: HTTP 400", at, fallback)

    def acknowledge(self, key: str, who: str, at: float, pages: NewJob | None = None) -> None:
        self.history.acknowledge(self.ids[key], who, "on it", at, pages)

    def incident(self, cause: str, priority: str, status: str, opened_at: float, merged_into: int | None = None) -> int:
        """An incident with ``cause`` as its probable cause, owning the cause's notifications. No public call
        writes one at a chosen time without the topology's rules (which would hold and merge the pages
        above), so the row is written as those rules leave it."""
        obs, alert_id, history = self.observations[cause], self.ids[cause], self.history
        with history._tx() as conn:
            [(incident_id,)] = history._run(
                conn,
                "INSERT INTO incidents (page_key, component, title, status, priority, cause_alert_id, merged_into,"
                " opened_at, updated_at, channels) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                [
                    f"seed-{cause}",
                    obs.service,
                    f"{obs.alertname} ({obs.service})",
                    status,
                    priority,
                    alert_id,
                    merged_into,
                    opened_at,
                    opened_at,
                    ",".join(obs.channels),
                ],
            ).fetchall()
            history._run(conn, "UPDATE outbox SET incident_id = %s WHERE alert_id = %s", [incident_id, alert_id])
            history._run(conn, "UPDATE alerts SET incident_id = %s WHERE id = %s", [incident_id, alert_id])
        return int(incident_id)

    def escalate(self, key: str, at: float, channels: tuple[str, ...]) -> None:
        [due] = [d for d in self.history.due_escalations(at, 100) if d.alert.id == self.ids[key]]
        jobs = [NewJob(c, "escalate", 3) for c in channels]
        assert self.history.escalate(due, jobs, at + (DEADLINES[due.alert.priority] or 0.0), at)


def seed(history: SqlAlertHistory, *, incidents: bool = True) -> Seeded:
    """The week; ``incidents=False`` for a history at a schema before incidents (migration 11)."""
    r = Recorder(history)
    # A9: first seen before the window; its page comes inside it (Monday 00:00:10, out of hours).
    r.fire(
        "A9",
        observation("NightlyBatchLate", "fp-batch", "high", "batch", kst(1, "23:59"), channels=("pagerduty",)),
        kst(1, "23:59:50"),
    )
    r.deliver("A9", "pagerduty", "trigger", kst(2, "00:00:10"))
    # A1: two pages (the sms page took two attempts); acknowledged; PagerDuty's acknowledge is no page.
    r.fire("A1", observation("DiskFull", "fp-disk", "critical", "asset", kst(2, "09:59")), kst(2, "10:00"))
    r.deliver("A1", "pagerduty", "trigger", kst(2, "10:00:05"))
    r.deliver("A1", "slack", "trigger", kst(2, "10:00:06"))
    r.fail("A1", "sms", "trigger", kst(2, "10:00:07"), retry_at=kst(2, "10:00:50"))
    r.deliver("A1", "sms", "trigger", kst(2, "10:01"))
    r.acknowledge("A1", "alice", kst(2, "10:03"), pages=NewJob("pagerduty", "acknowledge", 5))
    r.deliver("A1", "pagerduty", "acknowledge", kst(2, "10:03:05"))
    r.resolve("A1", ends_at=kst(2, "10:30"), at=kst(2, "10:31"))
    r.deliver("A1", "pagerduty", "resolve", kst(2, "10:31:05"))  # a resolve is no page
    # A2: sms dead-lettered; the e-mail fallback is a notification, not a page.
    r.fire("A2", observation("DiskFull", "fp-disk", "critical", "asset", kst(2, "10:59")), kst(2, "11:00"))
    r.deliver("A2", "pagerduty", "trigger", kst(2, "11:00:05"))
    r.deliver("A2", "slack", "trigger", kst(2, "11:00:06"))
    r.dead("A2", "sms", "trigger", kst(2, "11:00:07"), NewJob("email", "trigger", 3, fallback=True))
    r.deliver("A2", "email", "trigger", kst(2, "11:00:10"))
    r.resolve("A2", ends_at=kst(2, "11:10"), at=kst(2, "11:11"))
    # A3: the third firing of fp-disk on Monday.
    r.fire(
        "A3",
        observation("DiskFull", "fp-disk", "critical", "asset", kst(2, "11:59"), channels=("pagerduty", "slack")),
        kst(2, "12:00"),
    )
    r.deliver("A3", "pagerduty", "trigger", kst(2, "12:00:05"))
    r.deliver("A3", "slack", "trigger", kst(2, "12:00:06"))
    r.resolve("A3", ends_at=kst(2, "12:05"), at=kst(2, "12:06"))
    # A5: no paging channel; acknowledged after it resolved (a review, not a response).
    r.fire("A5", observation("ErrorRate", "fp-err", "medium", "transaction", kst(3, "08:59")), kst(3, "09:00"))
    r.deliver("A5", "slack", "trigger", kst(3, "09:00:04"))
    r.deliver("A5", "email", "trigger", kst(3, "09:00:05"))
    r.resolve("A5", ends_at=kst(3, "09:20"), at=kst(3, "09:21"))
    r.acknowledge("A5", "carol", kst(3, "09:30"))
    # A6: acknowledged, resolved, fires again (same startsAt: a re-fire), resolved for good.
    r.fire("A6", observation("QueueStuck", "fp-queue", "high", "transaction", kst(4, "13:59")), kst(4, "14:00"))
    r.deliver("A6", "pagerduty", "trigger", kst(4, "14:00:03"))
    r.deliver("A6", "slack", "trigger", kst(4, "14:00:04"))
    r.acknowledge("A6", "dave", kst(4, "14:02"))
    r.resolve("A6", ends_at=kst(4, "14:10"), at=kst(4, "14:11"))
    r.deliver("A6", "pagerduty", "resolve", kst(4, "14:11:05"))
    r.deliver("A6", "slack", "resolve", kst(4, "14:11:06"))
    r.fire("A6", r.observations["A6"], kst(4, "15:00"))
    r.deliver("A6", "pagerduty", "trigger", kst(4, "15:00:04"))
    r.deliver("A6", "slack", "trigger", kst(4, "15:00:05"))
    r.resolve("A6", ends_at=kst(4, "15:30"), at=kst(4, "15:31"))
    # A7: low priority, an e-mail digest job delivered at its digest time; still firing.
    r.fire(
        "A7",
        observation("CertExpiring", "fp-cert", "low", "gateway", kst(5, "02:59"), digest_at=kst(5, "04:00")),
        kst(5, "03:00"),
    )
    r.deliver("A7", "email_digest", "trigger", kst(5, "04:00:02"))
    # A11: its page at 18:00:00 exactly, the first second out of hours.
    r.fire("A11", observation("SlowQueries", "fp-slow", "high", "asset", kst(5, "17:58")), kst(5, "17:59"))
    r.deliver("A11", "pagerduty", "trigger", kst(5, "18:00"))
    r.deliver("A11", "slack", "trigger", kst(5, "18:00:01"))
    r.acknowledge("A11", "erin", kst(5, "18:10"))
    r.resolve("A11", ends_at=kst(5, "18:20"), at=kst(5, "18:21"))
    # A4: Friday 23:59:59 is out of hours, Saturday 00:00:00 is the weekend; escalated once, acknowledged.
    r.fire("A4", observation("LagHigh", "fp-lag", "critical", "portfolio", kst(6, "23:57")), kst(6, "23:58"))
    r.deliver("A4", "pagerduty", "trigger", kst(6, "23:59:59"))
    r.deliver("A4", "sms", "trigger", kst(7, "00:00"))
    r.deliver("A4", "slack", "trigger", kst(7, "00:00:01"))
    r.escalate("A4", kst(7, "00:03:30"), ("sms", "slack"))
    r.deliver("A4", "sms", "escalate", kst(7, "00:03:40"))
    r.deliver("A4", "slack", "escalate", kst(7, "00:03:41"))
    r.acknowledge("A4", "bob", kst(7, "00:20"))
    # A8: Sunday night, escalated twice, nobody acknowledges; still firing.
    r.fire("A8", observation("PaymentsDown", "fp-pay", "critical", "payments", kst(8, "21:59")), kst(8, "22:00"))
    r.deliver("A8", "pagerduty", "trigger", kst(8, "22:00:02"))
    r.deliver("A8", "sms", "trigger", kst(8, "22:00:03"))
    r.deliver("A8", "slack", "trigger", kst(8, "22:00:04"))
    r.escalate("A8", kst(8, "22:05:30"), ("sms", "slack"))
    r.deliver("A8", "sms", "escalate", kst(8, "22:05:40"))
    r.deliver("A8", "slack", "escalate", kst(8, "22:05:41"))
    r.escalate("A8", kst(8, "22:10:40"), ("sms", "slack"))
    r.deliver("A8", "sms", "escalate", kst(8, "22:10:50"))
    r.deliver("A8", "slack", "escalate", kst(8, "22:10:51"))
    # A10: first seen at `until` exactly: outside the window, and so is its page.
    r.fire(
        "A10",
        observation("DiskFull", "fp-disk", "critical", "asset", kst(8, "23:59"), channels=("pagerduty",)),
        kst(9, "00:00"),
    )
    r.deliver("A10", "pagerduty", "trigger", kst(9, "00:00:05"))
    if not incidents:
        return Seeded(r.ids)
    i1 = r.incident("A1", "critical", "resolved", kst(2, "10:00"))
    r.incident("A2", "critical", "merged", kst(2, "11:00"), merged_into=i1)
    r.incident("A5", "high", "resolved", kst(3, "09:00"))
    r.incident("A6", "high", "resolved", kst(4, "14:00"))
    r.incident("A8", "critical", "open", kst(8, "22:00"))
    r.incident("A9", "high", "resolved", kst(1, "23:59:50"))
    r.incident("A10", "critical", "open", kst(9, "00:00"))
    return Seeded(r.ids)


# --- the figures, computed by hand from the table above ---

# (alerts, acknowledged, resolved unacknowledged, firing unacknowledged, escalations, deadlines missed, refired)
COUNTS = {
    "all": (9, 4, 3, 2, 3, 2, 1),
    "critical": (5, 2, 2, 1, 3, 2, 0),
    "high": (2, 2, 0, 0, 0, 0, 1),
    "medium": (1, 0, 1, 0, 0, 0, 0),
    "low": (1, 0, 0, 1, 0, 0, 0),
}
# (count, p50, p90, max) in seconds; nearest rank: p50 = rank ceil(n/2), p90 = rank ceil(0.9 n)
TIME_TO_ACK = {
    "all": (4, 180.0, 1320.0, 1320.0),  # 120, 180, 660, 1320
    "critical": (2, 180.0, 1320.0, 1320.0),  # 180, 1320
    "high": (2, 120.0, 660.0, 660.0),  # 120, 660
}
TIME_TO_RESOLVE = {
    "all": (6, 1200.0, 5400.0, 5400.0),  # 300, 600, 1200, 1260, 1800, 5400
    "critical": (3, 600.0, 1800.0, 1800.0),  # 300, 600, 1800
    "high": (2, 1260.0, 5400.0, 5400.0),  # 1260, 5400
    "medium": (1, 1200.0, 1200.0, 1200.0),
}
# pages: (working, out of hours, weekend)
PAGES = {
    "all": (6, 3, 6),  # 15: A1 2, A2 1, A3 1, A6 2 | A4 Fri 23:59:59, A11 18:00:00, A9 Mon 00:00:10 | A4 2, A8 4
    "critical": (4, 1, 6),
    "high": (2, 2, 0),
}
NOTIFICATIONS = {"email": 2, "email_digest": 1, "pagerduty": 9, "slack": 12, "sms": 6}
NOISIEST = [  # (alertname, service, pages), most first, ties by name
    ("DiskFull", "asset", 4),
    ("PaymentsDown", "payments", 4),
    ("LagHigh", "portfolio", 3),
    ("QueueStuck", "transaction", 2),
    ("NightlyBatchLate", "batch", 1),
    ("SlowQueries", "asset", 1),
]
FLAPPING = [("fp-disk", "DiskFull", 3), ("fp-queue", "QueueStuck", 2)]  # cycles: new alerts plus re-fires
# incidents opened in the window, merged ones left out: per priority, service, alert name, channel
INCIDENTS = {
    "all": 4,  # I1, I3, I4, I5
    "priority": {"critical": 2, "high": 2, "medium": 0, "low": 0},
    "service": {"asset": 1, "transaction": 2, "payments": 1, "portfolio": 0, "gateway": 0, "batch": 0},
    "alertname": {
        "DiskFull": 1,
        "ErrorRate": 1,
        "QueueStuck": 1,
        "PaymentsDown": 1,
        "LagHigh": 0,
        "CertExpiring": 0,
        "SlowQueries": 0,
        "NightlyBatchLate": 0,
    },
    # I2's e-mail fallback is a merged incident's: not counted
    "channel": {"pagerduty": 3, "slack": 4, "sms": 2, "email": 1, "email_digest": 0},
}
FIRED_FINGERPRINTS = 7  # fp-disk, fp-lag, fp-err, fp-queue, fp-cert, fp-pay, fp-slow
PAGES_PER_DAY = {  # local date -> (working, out of hours, weekend)
    "2026-03-02": (4, 1, 0),
    "2026-03-03": (0, 0, 0),
    "2026-03-04": (2, 0, 0),
    "2026-03-05": (0, 1, 0),
    "2026-03-06": (0, 1, 0),
    "2026-03-07": (0, 0, 2),
    "2026-03-08": (0, 0, 4),
}
