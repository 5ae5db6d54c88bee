"""The incident store's contract, run against SQLite and PostgreSQL: incidents written atomically
with their alerts and jobs, merges, resolve and reopen, acknowledgement, escalation, retention, and
exactly one incident and one page when related alerts arrive at the same moment."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from receiver.config.topology import Topology
from receiver.intake.correlation import IncidentRules
from receiver.store import sql_repository
from receiver.store.database import DatabaseUnavailable, PostgresDatabase, SqliteDatabase
from receiver.store.history import AlertFilter, NewJob, Observation
from receiver.store.incidents import DueIncidentEscalation, IncidentFilter
from receiver.store.migrations import INCIDENT_SCHEMA, MIGRATIONS
from receiver.store.retention import AlertRetention, incident_purger
from receiver.store.sql_history import SqlAlertHistory

NOW = 1_772_442_000.0
COOLDOWN = 300.0
TOPOLOGY = Topology.from_file(Path(__file__).resolve().parents[3] / "topology" / "platform.yaml")
RULES = IncidentRules(TOPOLOGY, 300.0, COOLDOWN)
ACK = NewJob("pagerduty", "acknowledge", 5)


@pytest.fixture
def history(database: PostgresDatabase | SqliteDatabase) -> SqlAlertHistory:
    repository = SqlAlertHistory(database, correlator=RULES)
    repository.migrate()
    return repository


def obs(
    name: str, service: str, n: int, *, priority: str = "critical", status: str = "firing", **labels: str
) -> Observation:
    all_labels = {"alertname": name, "service": service, "priority": priority, **labels}
    fingerprint = f"{n:016x}"
    part, component = RULES.place(all_labels, fingerprint)
    channels = {"critical": ("pagerduty", "slack", "sms"), "high": ("pagerduty", "slack")}.get(priority, ("slack",))
    return Observation(
        fingerprint=fingerprint,
        starts_at=NOW - 60,
        alertname=name,
        status=status,
        priority=priority,
        priority_defaulted=False,
        service=service,
        labels=all_labels,
        annotations={"summary": f"{name} on {service}"},
        generator_url="http://prometheus/graph",
        ends_at=None if status == "firing" else NOW,
        content_hash="h",
        channels=channels,
        retry_budget=3,
        ack_deadline=300.0,
        part=part,
        component=component,
    )


def jobs(history: SqlAlertHistory) -> list[tuple[str, str]]:
    return [(channel, action) for channel, action, _, _ in history.jobs_by_state()]


def assert_migrated_with_incidents(database: PostgresDatabase | SqliteDatabase) -> None:
    """Migrated to the newest schema: the old alert's jobs kept, incidents opened and acknowledged."""
    fresh = SqlAlertHistory(database, correlator=RULES)
    assert fresh.migrate() == MIGRATIONS[-1].version
    assert jobs(fresh) == [("pagerduty", "trigger"), ("slack", "trigger"), ("sms", "trigger")]
    fresh.record([obs("ServiceDown", "asset-service", 2)], NOW)
    [incident] = fresh.incidents(IncidentFilter())
    assert incident.part == "asset-service"
    fresh.acknowledge_incident(incident.id, "alice", "", NOW + 1, NewJob("pagerduty", "acknowledge", 5))
    assert jobs(fresh)[-1] == ("pagerduty", "acknowledge")  # the rebuilt outbox takes the new columns


def test_migrating_from_the_schema_before_incidents_keeps_alerts_and_jobs(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    old = SqlAlertHistory(database)
    assert old.migrate(target=6) == 6
    old.record([replace(obs("DiskFull", "node", 1), component=None)], NOW)
    assert_migrated_with_incidents(database)


def test_incidents_migrate_onto_a_database_that_already_has_the_report_facts(
    database: PostgresDatabase | SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions land per issue: a database that ran migration 13 (report facts, with triggers on the
    outbox) before 11 and 12 existed gets them afterwards, the outbox rebuilt with its triggers kept."""
    before = tuple(m for m in MIGRATIONS if m.version not in (INCIDENT_SCHEMA, INCIDENT_SCHEMA + 1))
    monkeypatch.setattr(sql_repository, "MIGRATIONS", before)
    old = SqlAlertHistory(database)
    assert old.migrate() == MIGRATIONS[-1].version
    old.record([replace(obs("DiskFull", "node", 1), component=None)], NOW)
    monkeypatch.setattr(sql_repository, "MIGRATIONS", MIGRATIONS)
    assert_migrated_with_incidents(database)


def test_related_alerts_are_one_incident_with_one_page_and_follow_ups(history: SqlAlertHistory) -> None:
    outcome = history.record([obs("ServiceDown", "asset-service", 1, job="platform")], NOW)
    assert (outcome.new, outcome.incidents_opened, outcome.jobs) == (1, 1, 3)
    outcome = history.record([obs("ServiceDown", "asset-service", 2, job="exporter")], NOW + 1)
    assert (outcome.incidents_opened, outcome.incidents_joined, outcome.jobs) == (0, 1, 1)
    assert jobs(history) == [("pagerduty", "trigger"), ("slack", "trigger"), ("sms", "trigger"), ("slack", "update")]
    [incident] = history.incidents(IncidentFilter())
    record, alerts, timeline = history.incident(incident.id)
    assert (record.alerts, record.channels) == (2, ("pagerduty", "slack", "sms"))
    assert [a.role for a in alerts] == ["cause", "same_part"]
    assert [e.kind for e in timeline] == ["opened", "joined"]
    assert all(history.incident_of(a.alert.id) == incident.id for a in alerts)


def test_an_incident_is_written_in_the_alerts_transaction_or_not_at_all(history: SqlAlertHistory) -> None:
    broken = replace(obs("ServiceDown", "asset-service", 2), retry_budget=None)  # type: ignore[arg-type]  # max_attempts NOT NULL
    with pytest.raises(DatabaseUnavailable):
        history.record([obs("ServiceDown", "transaction-service", 1), broken], NOW)
    assert history.alerts(AlertFilter()) == []
    assert history.incidents(IncidentFilter()) == []
    assert jobs(history) == []


def test_a_late_dependency_merges_the_incidents_of_its_dependents(history: SqlAlertHistory) -> None:
    history.record([obs("EventLagHigh", "asset-service", 1, priority="high")], NOW)
    history.record([obs("SyncDelayHigh", "portfolio-service", 2, priority="high")], NOW + 5)
    history.claim(NOW + 6, 60, 1)  # the first incident's PagerDuty page is on its way; the second's waits
    history.record([obs("ExporterKafkaDown", "monitoring-exporter", 3)], NOW + 10)
    first, second = sorted(history.incidents(IncidentFilter()), key=lambda i: i.id)
    assert (first.status, first.title, first.part, first.alerts) == (
        "open",
        "ExporterKafkaDown (monitoring-exporter)",
        "kafka",
        3,
    )
    assert (second.status, second.merged_into) == ("merged", first.id)
    pages = [(c, a, s) for c, a, s, _ in history.jobs_by_state() if a == "trigger"]
    # the second incident's queued page is not sent; Kafka's critical priority pages the first's channels
    assert pages == [
        ("pagerduty", "trigger", "sending"),
        ("slack", "trigger", "pending"),
        ("pagerduty", "trigger", "pending"),
        ("slack", "trigger", "pending"),
        ("sms", "trigger", "pending"),
    ]


def test_an_incident_resolves_with_its_last_alert_and_a_refire_in_the_cool_down_cancels_the_resolve(
    history: SqlAlertHistory,
) -> None:
    a, b = obs("ServiceDown", "asset-service", 1), obs("ServiceDown", "asset-service", 2)
    history.record([a, b], NOW)
    history.record([replace(a, status="resolved", ends_at=NOW + 10)], NOW + 10)
    assert history.incidents(IncidentFilter())[0].status == "open"
    history.record([replace(b, status="resolved", ends_at=NOW + 20)], NOW + 20)
    [incident] = history.incidents(IncidentFilter())
    assert (incident.status, incident.resolved_at) == ("resolved", NOW + 20)
    waiting = [j for j in history.pending_jobs(incident.cause_alert_id) if j.action == "resolve"]
    assert {(j.channel, j.due) for j in waiting} == {(c, NOW + 20 + COOLDOWN) for c in ("pagerduty", "slack", "sms")}
    history.record([replace(a, starts_at=NOW + 50)], NOW + 60)
    [incident] = history.incidents(IncidentFilter())
    assert (incident.status, incident.reopened, incident.alerts) == ("open", 1, 3)
    assert [j for j in history.pending_jobs(incident.cause_alert_id) if j.action == "resolve"] == []
    assert jobs(history)[0] == ("pagerduty", "trigger")
    assert jobs(history).count(("pagerduty", "trigger")) == 1


def test_acknowledging_acknowledges_every_alert_and_pagerduty_for_each_incident_that_paged_it(
    history: SqlAlertHistory,
) -> None:
    history.record([obs("EventLagHigh", "asset-service", 1, priority="high")], NOW)
    history.claim(NOW, 60, 10)
    history.record([obs("ExporterKafkaDown", "monitoring-exporter", 2)], NOW + 5)
    history.record([obs("EventLagHigh", "portfolio-service", 3, priority="high")], NOW + 6)
    [incident] = [i for i in history.incidents(IncidentFilter()) if i.status == "open"]
    acked = history.acknowledge_incident(incident.id, "alice", "looking", NOW + 30, ACK)
    assert (acked.acked_by, acked.acked_at) == ("alice", NOW + 30)
    history.acknowledge_incident(incident.id, "bob", "", NOW + 40, ACK)
    assert jobs(history).count(("pagerduty", "acknowledge")) == 1
    assert {a.acked_by for a in history.alerts(AlertFilter())} == {"alice"}
    assert history.due_incident_escalations(NOW + 10_000, 10) == []


def test_an_escalation_is_recorded_once_however_many_workers_try(history: SqlAlertHistory) -> None:
    history.record([obs("ServiceDown", "asset-service", 1)], NOW)
    assert history.due_incident_escalations(NOW + 299, 10) == []
    [due] = history.due_incident_escalations(NOW + 300, 10)
    escalation = [NewJob("sms", "escalate", 3)]
    results: list[bool] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(history.escalate_incident(due, escalation, NOW + 600, NOW + 300))
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    assert jobs(history).count(("sms", "escalate")) == 1
    assert isinstance(due, DueIncidentEscalation)


@pytest.mark.parametrize("unrelated", [False, True], ids=["related", "unrelated"])
def test_alerts_arriving_at_the_same_moment_in_several_workers_make_one_incident_per_cause(
    database: PostgresDatabase | SqliteDatabase, unrelated: bool
) -> None:
    """Eight workers (threads, each its own repository and connection) record at once: related alerts
    (one part, or a part and its dependency) make exactly one incident and one page."""
    SqlAlertHistory(database, correlator=RULES).migrate()
    workers = [SqlAlertHistory(database, correlator=RULES) for _ in range(8)]
    for worker in workers:
        worker.migrate()
    if unrelated:  # asset-service and transaction-service: neither depends on the other
        batches = [[obs("ServiceDown", ("asset-service", "transaction-service")[i % 2], i + 1)] for i in range(8)]
    else:
        batches = [[obs("ServiceDown", "asset-service", i + 1)] for i in range(7)]
        batches.append([obs("ExporterKafkaDown", "monitoring-exporter", 9)])  # asset-service's dependency
    barrier = threading.Barrier(len(workers))
    errors: list[DatabaseUnavailable] = []

    def record(worker: SqlAlertHistory, batch: list[Observation]) -> None:
        barrier.wait()
        try:
            worker.record(batch, NOW)
        except DatabaseUnavailable as exc:  # a deadlock or serialization failure would land here
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(w, b)) for w, b in zip(workers, batches, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    incidents = workers[0].incidents(IncidentFilter())
    assert len(incidents) == (2 if unrelated else 1)
    assert sum(i.alerts for i in incidents) == 8
    triggers = [j for j in jobs(workers[0]) if j[1] == "trigger"]
    assert sorted(triggers) == sorted(
        [("pagerduty", "trigger"), ("slack", "trigger"), ("sms", "trigger")] * len(incidents)
    )


def test_retention_purges_old_incidents_with_their_alerts(
    history: SqlAlertHistory, database: PostgresDatabase | SqliteDatabase
) -> None:
    a = obs("ServiceDown", "asset-service", 1)
    history.record([a], NOW)
    history.record([replace(a, status="resolved", ends_at=NOW + 10)], NOW + 10)
    history.record([obs("ServiceDown", "transaction-service", 2)], NOW + 86_400 * 2)
    retention = AlertRetention(database, 86_400, lambda: NOW + 86_400 * 2, purgers=(incident_purger(database),))
    result = retention.purge()
    assert dict(result.other) == {"incidents": 1}
    assert [i.part for i in history.incidents(IncidentFilter())] == ["transaction-service"]
