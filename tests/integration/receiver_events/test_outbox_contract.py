"""The SQL domain-event outbox, one contract run on SQLite and on PostgreSQL.

Events are written in the alert's transaction (and vanish with it), claimed by one relay at a
time under a lease, marked per stage, and pruned once relayed and past the retention. An alert's
events are written by reference and built from its row when relayed: the same bytes as the
webhook's alert would give, whichever stage asks, even after the alert's annotations changed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from monitoring.cloudevents import CloudEvent, encode_structured
from monitoring.event_spool import Stage
from receiver.store import alert_events
from receiver.store.alert_events import Deferred
from receiver.store.database import DatabaseUnavailable, PostgresDatabase, SqliteDatabase
from receiver.store.event_outbox import PARKED, SqlEventOutbox, StageBacklog
from receiver.store.history import AlertFilter
from receiver.store.retention import AlertRetention
from receiver.store.sql_history import SqlAlertHistory
from tests.integration.receiver_events.conftest import STARTS, observation
from tests.unit.receiver.fakes import FakeClock

pytestmark = pytest.mark.integration
Db = PostgresDatabase | SqliteDatabase
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def history_with(database: Db, outbox: SqlEventOutbox) -> SqlAlertHistory:
    return SqlAlertHistory(database, outbox, traceparent=lambda: TRACE)


class BrokenAfterWrite(SqlEventOutbox):
    """Writes its rows, then fails: whatever the transaction wrote must be rolled back."""

    def add(self, conn: Any, events: Sequence[CloudEvent], now: float) -> None:
        super().add(conn, events, now)
        raise RuntimeError("crash after the outbox insert, before commit")


def test_recording_a_firing_alert_writes_its_events_in_the_same_transaction(database: Db, clock: FakeClock) -> None:
    outbox = SqlEventOutbox(database, clock)
    history = history_with(database, outbox)
    history.record([observation(1, "threshold"), observation(2, "anomaly"), observation(3, "slo")], clock())
    events = outbox.pending(Stage.PUBLISHED, 100)
    assert [(e.type, e.aggregateid) for e in events] == [
        ("AlertCreated", f"{1:016x}"),
        ("ThresholdExceeded", f"{1:016x}"),
        ("AlertCreated", f"{2:016x}"),
        ("PerformanceAnomaly", f"{2:016x}"),
        ("AlertCreated", f"{3:016x}"),
    ]
    assert {e.traceparent for e in events} == {TRACE}
    ids = {a.fingerprint: str(a.id) for a in history.alerts(AlertFilter())}
    assert [json.loads(bytes(e.data))["alert_id"] for e in events] == [ids[e.aggregateid or ""] for e in events]


def test_when_the_alert_transaction_rolls_back_its_events_are_not_written(database: Db, clock: FakeClock) -> None:
    broken = history_with(database, BrokenAfterWrite(database, clock))
    with pytest.raises(RuntimeError, match="before commit"):
        broken.record([observation(1)], clock())
    outbox = SqlEventOutbox(database, clock)
    assert outbox.states() == {}
    assert SqlAlertHistory(database).alerts(AlertFilter()) == []
    # and the same webhook, retried once the fault is gone, writes both
    history_with(database, outbox).record([observation(1)], clock())
    assert len(outbox.states()) == 2
    assert len(SqlAlertHistory(database).alerts(AlertFilter())) == 1


def test_resends_write_nothing_new_and_a_resolve_adds_alert_resolved_once(database: Db, clock: FakeClock) -> None:
    outbox = SqlEventOutbox(database, clock)
    history = history_with(database, outbox)
    history.record([observation(1)], clock())
    history.record([observation(1)], clock())  # Alertmanager's repeat
    assert len(outbox.states()) == 2
    history.record([observation(1, status="resolved")], clock())
    history.record([observation(1, status="resolved")], clock())
    events = outbox.pending(Stage.STORED, 100)
    assert [e.type for e in events] == ["AlertCreated", "ThresholdExceeded", "AlertResolved"]
    assert events[2].time.timestamp() == STARTS + 1 + 60  # the alert's endsAt


def test_an_alert_first_seen_resolved_writes_only_alert_resolved(database: Db, clock: FakeClock) -> None:
    outbox = SqlEventOutbox(database, clock)
    history_with(database, outbox).record([observation(1, status="resolved")], clock())
    assert [e.type for e in outbox.pending(Stage.PUBLISHED, 10)] == ["AlertResolved"]


def test_each_stage_is_pending_until_marked_and_the_backlog_says_so(database: Db, clock: FakeClock) -> None:
    outbox = SqlEventOutbox(database, clock)
    history_with(database, outbox).record([observation(1), observation(2)], clock())
    clock.advance(5)
    assert outbox.backlog() == {Stage.PUBLISHED: StageBacklog(4, 5.0), Stage.STORED: StageBacklog(4, 5.0)}
    published = [e.id for e in outbox.pending(Stage.PUBLISHED, 3)]
    assert len(published) == 3
    outbox.mark(Stage.PUBLISHED, published)
    assert len(outbox.pending(Stage.PUBLISHED, 10)) == 1
    assert len(outbox.pending(Stage.STORED, 10)) == 4
    outbox.mark(Stage.STORED, [e.id for e in outbox.pending(Stage.STORED, 10)])
    assert outbox.backlog() == {Stage.PUBLISHED: StageBacklog(1, 5.0), Stage.STORED: StageBacklog(0, 0.0)}
    assert sorted(s[:2] for s in outbox.states().values()) == [(False, True)] + [(True, True)] * 3


def test_a_second_relay_does_not_get_events_claimed_by_the_first(database: Db, clock: FakeClock) -> None:
    first, second = SqlEventOutbox(database, clock, lease=30), SqlEventOutbox(database, clock, lease=30)
    history_with(database, first).record([observation(n) for n in range(10)], clock())  # 20 events
    mine = {e.id for e in first.pending(Stage.PUBLISHED, 12)}
    theirs = {e.id for e in second.pending(Stage.PUBLISHED, 100)}
    assert len(mine) == 12
    assert len(theirs) == 8
    assert not mine & theirs
    # asking again, each relay gets its own events back (the publisher skips those in flight)
    clock.advance(20)  # past half the lease: the first relay renews
    assert {e.id for e in first.pending(Stage.PUBLISHED, 100)} == mine
    clock.advance(20)  # the first relay's original lease has ended, its renewed one has not
    assert {e.id for e in second.pending(Stage.PUBLISHED, 100)} == theirs
    assert {attempts for (_, _, attempts) in first.states().values()} == {1}


def test_a_relay_renews_every_event_it_holds_even_beyond_one_batch(database: Db, clock: FakeClock) -> None:
    first, second = SqlEventOutbox(database, clock, lease=30), SqlEventOutbox(database, clock, lease=30)
    history_with(database, first).record([observation(n) for n in range(10)], clock())  # 20 events
    held = {e.id for e in first.pending(Stage.PUBLISHED, 4)} | {e.id for e in first.pending(Stage.PUBLISHED, 8)}
    assert len(held) == 8  # e.g. still in flight in its producer while Kafka is down
    clock.advance(20)
    assert len(first.pending(Stage.PUBLISHED, 2)) == 2  # a small batch, yet all 8 leases renewed
    clock.advance(20)
    taken = {e.id for e in second.pending(Stage.PUBLISHED, 100)}
    assert len(taken) == 12
    assert not taken & held


def test_events_of_a_relay_that_died_are_taken_over_when_its_lease_ends(database: Db, clock: FakeClock) -> None:
    dead, alive = SqlEventOutbox(database, clock, lease=30), SqlEventOutbox(database, clock, lease=30)
    history_with(database, dead).record([observation(1)], clock())
    assert len(dead.pending(Stage.PUBLISHED, 10)) == 2
    assert alive.pending(Stage.PUBLISHED, 10) == []
    clock.advance(31)
    taken = alive.pending(Stage.PUBLISHED, 10)
    assert len(taken) == 2
    assert {attempts for (_, _, attempts) in alive.states().values()} == {2}
    alive.mark(Stage.PUBLISHED, [e.id for e in taken])
    assert dead.pending(Stage.PUBLISHED, 10) == []


def test_relays_claiming_at_the_same_time_never_share_an_event(database: Db, clock: FakeClock) -> None:
    outboxes = [SqlEventOutbox(database, clock, lease=300) for _ in range(4)]
    history_with(database, outboxes[0]).record([observation(n) for n in range(60)], clock())  # 120 events
    claimed: list[set[str]] = [set() for _ in outboxes]
    start = threading.Barrier(len(outboxes))

    def claim(index: int) -> None:
        start.wait(10)
        for _ in range(8):  # claim, "publish", mark: like a relay's rounds
            ids = [e.id for e in outboxes[index].pending(Stage.PUBLISHED, 5)]
            claimed[index] |= set(ids)
            outboxes[index].mark(Stage.PUBLISHED, ids)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(outboxes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    union = set().union(*claimed)
    assert sum(len(c) for c in claimed) == len(union)  # disjoint
    assert len(union) == 120  # and between them, every event


def test_prune_deletes_relayed_events_past_the_retention_and_keeps_the_rest(database: Db, clock: FakeClock) -> None:
    outbox = SqlEventOutbox(database, clock)
    history = history_with(database, outbox)
    history.record([observation(1)], clock())
    relayed = [e.id for e in outbox.pending(Stage.PUBLISHED, 10)]
    outbox.mark(Stage.PUBLISHED, relayed)
    outbox.mark(Stage.STORED, relayed)
    clock.advance(100)
    history.record([observation(2)], clock())  # not relayed: kept whatever its age
    history.record([observation(3)], clock())
    for event in outbox.pending(Stage.PUBLISHED, 10)[-2:]:  # observation 3's: relayed but recent
        outbox.mark(Stage.PUBLISHED, [event.id])
        outbox.mark(Stage.STORED, [event.id])
    assert outbox.prune(before=clock() - 50, batch=1) == 2
    assert outbox.prune(before=clock() - 50) == 0
    assert len(outbox.states()) == 4


# --- alert events recorded by reference, built from the alert's row when relayed ---


def _alert_ids(database: Db) -> dict[str, int]:
    return {a.fingerprint: a.id for a in SqlAlertHistory(database).alerts(AlertFilter())}


def test_events_built_from_the_alert_rows_are_byte_for_byte_the_events_of_the_webhook(
    database: Db, clock: FakeClock
) -> None:
    outbox = SqlEventOutbox(database, clock)
    history = history_with(database, outbox)
    fresh = [
        observation(1, "threshold", annotations={"summary": "s", "value": "0.93", "runbook_url": "http://r/1"}),
        observation(2, "anomaly", labels={"alertname": "Alert2", "kind": "anomaly", "metric": "latency"}),
        observation(3, "slo", status="resolved"),  # first seen resolved
        observation(4, alertname="", service="", labels={"kind": "threshold"}),  # nameless: "unnamed"
    ]
    history.record(fresh, clock())
    clock.advance(7)
    history.record([observation(1, "threshold", status="resolved")], clock())  # a known alert resolves
    ids = _alert_ids(database)
    expected = [
        *alert_events.fired(ids[fresh[0].fingerprint], fresh[0], TRACE),
        *alert_events.fired(ids[fresh[1].fingerprint], fresh[1], TRACE),
        alert_events.resolved(ids[fresh[2].fingerprint], fresh[2], STARTS + 3 + 60, TRACE),
        *alert_events.fired(ids[fresh[3].fingerprint], fresh[3], TRACE),
        alert_events.resolved(ids[fresh[0].fingerprint], fresh[0], STARTS + 1 + 60, TRACE),
    ]
    for stage in (Stage.PUBLISHED, Stage.STORED):  # each stage builds them, the same each time
        assert [encode_structured(e) for e in outbox.pending(stage, 100)] == [encode_structured(e) for e in expected]
        assert [encode_structured(e) for e in outbox.pending(stage, 100)] == [encode_structured(e) for e in expected]


def test_events_not_yet_relayed_keep_the_annotations_their_alert_had_when_they_were_recorded(
    database: Db, clock: FakeClock
) -> None:
    outbox = SqlEventOutbox(database, clock)
    history = history_with(database, outbox)
    first = observation(1, "threshold", annotations={"summary": "s", "value": "0.93"}, content_hash="h1")
    history.record([first], clock())
    published = outbox.pending(Stage.PUBLISHED, 100)  # published before the change: the same bytes after it
    changed = observation(1, "threshold", annotations={"summary": "worse", "value": "0.99"}, content_hash="h2")
    history.record([changed], clock())
    again = observation(1, "threshold", annotations={"summary": "worst", "value": "1.00"}, content_hash="h3")
    history.record([again], clock())
    history.record([observation(2, "threshold", content_hash="h1")], clock())  # another alert: not touched
    alert_id = _alert_ids(database)[first.fingerprint]
    expected = [encode_structured(e) for e in alert_events.fired(alert_id, first, TRACE)]
    stored = outbox.pending(Stage.STORED, 100)
    assert [encode_structured(e) for e in stored[:2]] == expected
    assert [encode_structured(e) for e in published] == expected
    assert json.loads(bytes(stored[1].data))["value"] == "0.93"
    assert SqlAlertHistory(database).alert(alert_id)[0].annotations == {"summary": "worst", "value": "1.00"}
    assert json.loads(bytes(stored[2].data))["annotations"] == {"summary": "s"}  # alert 2's own


def test_an_event_whose_alert_is_gone_is_parked_and_holds_up_no_other(database: Db, clock: FakeClock) -> None:
    outbox = SqlEventOutbox(database, clock)
    with database.connect() as conn:  # written by hand: an alert deleted under its event
        outbox.add_deferred(conn, [Deferred("e-orphan", "AlertCreated", 999_999, "ffff", None, None)], clock())
    history_with(database, outbox).record([observation(1, "slo")], clock())
    parked: list[int] = []
    assert outbox.pending(Stage.PUBLISHED, 1, parked=parked.append) == []  # the oldest, claimed and parked
    assert [e.type for e in outbox.pending(Stage.PUBLISHED, 1, parked=parked.append)] == ["AlertCreated"]
    assert parked == [1]  # then the next, at once; only the unbuildable one told
    assert [e.aggregateid for e in outbox.pending(Stage.PUBLISHED, 100)] == [f"{1:016x}"]
    assert outbox.states()["e-orphan"] == (False, False, 1)  # kept, in the backlog
    assert outbox.backlog()[Stage.PUBLISHED].pending == 2
    clock.advance(PARKED + 1)
    assert [e.aggregateid for e in outbox.pending(Stage.PUBLISHED, 100)] == [f"{1:016x}"]  # tried again
    assert outbox.states()["e-orphan"][2] == 2


def test_a_row_is_an_event_or_an_alert_event_by_reference(database: Db, clock: FakeClock) -> None:
    refused = (psycopg.errors.CheckViolation, DatabaseUnavailable)  # SQLite's IntegrityError comes wrapped
    with pytest.raises(refused, match=r"(?i)check constraint"), database.connect() as conn:
        conn.execute(
            "INSERT INTO domain_event_outbox (id, type, aggregate, created_at) VALUES ('x', 'AlertCreated', 'a', 0)"
        )


def test_retention_keeps_an_alert_until_its_events_by_reference_leave_the_outbox(
    database: Db, clock: FakeClock
) -> None:
    outbox = SqlEventOutbox(database, clock)
    history = history_with(database, outbox)
    history.record([observation(1), observation(2)], clock())
    relayed = [e.id for e in outbox.pending(Stage.PUBLISHED, 2)]  # alert 1's two events
    outbox.mark(Stage.PUBLISHED, relayed)
    outbox.mark(Stage.STORED, relayed)
    clock.advance(10 * 86400)
    assert outbox.prune(before=clock() - 86400) == 2  # alert 1's events are gone, alert 2's wait
    retention = AlertRetention(database, retention_seconds=86400, clock=clock)
    assert retention.purge().alerts == 1
    assert [a.fingerprint for a in SqlAlertHistory(database).alerts(AlertFilter())] == [f"{2:016x}"]
    assert len(outbox.pending(Stage.PUBLISHED, 100)) == 2  # and can still be built
