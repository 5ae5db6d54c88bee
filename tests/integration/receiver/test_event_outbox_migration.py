"""Migrating the domain-event outbox to events by reference (schema 14), on SQLite and PostgreSQL:
events a receiver before it left unrelayed, written whole, are relayed beside the new ones."""

from __future__ import annotations

import pytest

from monitoring.cloudevents import encode_structured
from monitoring.event_spool import Stage
from receiver.store import alert_events
from receiver.store.database import PostgresDatabase, SqliteDatabase
from receiver.store.event_outbox import SqlEventOutbox
from receiver.store.history import AlertFilter
from receiver.store.migrations import DEFERRED_EVENTS_SCHEMA, MIGRATIONS
from receiver.store.sql_history import SqlAlertHistory
from tests.integration.receiver_events.conftest import STARTS, observation
from tests.unit.receiver.fakes import FakeClock

pytestmark = pytest.mark.integration
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_events_written_whole_before_the_migration_are_relayed_beside_those_by_reference(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    clock = FakeClock(now=STARTS + 30)
    old = SqlAlertHistory(database)
    assert old.migrate(target=DEFERRED_EVENTS_SCHEMA - 1) == DEFERRED_EVENTS_SCHEMA - 1
    before, after = observation(1, "threshold"), observation(2, "slo")
    old.record([before], clock())
    [alert] = old.alerts(AlertFilter())
    whole = alert_events.fired(alert.id, before, TRACE)  # what the receiver before wrote, in its transaction
    with database.connect() as conn:
        SqlEventOutbox(database, clock).add(conn, whole, clock())
    assert SqlAlertHistory(database).migrate() == MIGRATIONS[-1].version
    outbox = SqlEventOutbox(database, clock)
    history = SqlAlertHistory(database, outbox, traceparent=lambda: TRACE)
    history.record([after], clock())
    ids = {a.fingerprint: a.id for a in history.alerts(AlertFilter())}
    expected = [*whole, *alert_events.fired(ids[after.fingerprint], after, TRACE)]
    assert [encode_structured(e) for e in outbox.pending(Stage.PUBLISHED, 10)] == [
        encode_structured(e) for e in expected
    ]
    assert len(outbox.states()) == 3
