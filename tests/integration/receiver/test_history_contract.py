"""One contract for the alert history, run against SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from receiver.store.database import DatabaseUnavailable, PostgresDatabase, SqliteDatabase
from receiver.store.history import AckLinkUse, AckLinkUsed, AlertFilter, AlertNotFound, NewJob, Observation
from receiver.store.migrations import MIGRATIONS
from receiver.store.sql_history import SqlAlertHistory

NOW = 1_772_442_000.0


def obs(name: str = "DiskFull", status: str = "firing", **overrides: object) -> Observation:
    base = Observation(
        fingerprint=f"fp{name.lower()}",
        starts_at=NOW - 60,
        alertname=name,
        status=status,
        priority="critical",
        priority_defaulted=False,
        service="asset",
        labels={"alertname": name, "priority": "critical", "service": "asset"},
        annotations={"summary": "s"},
        generator_url="http://prometheus/graph",
        ends_at=None,
        content_hash="h1",
        channels=("pagerduty", "slack"),
        retry_budget=3,
        ack_deadline=300.0,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_migrations_are_versioned_and_applied_once(history: SqlAlertHistory) -> None:
    assert history.migrate() == MIGRATIONS[-1].version
    assert history.migrate() == MIGRATIONS[-1].version


def test_a_repeated_webhook_updates_last_seen_without_duplicates_or_new_jobs(history: SqlAlertHistory) -> None:
    assert history.record([obs()], NOW).jobs == 2
    outcome = history.record([obs(), obs()], NOW + 30)
    assert (outcome.new, outcome.updated, outcome.jobs) == (0, 1, 0)
    [alert] = history.alerts(AlertFilter())
    assert (alert.first_seen, alert.last_seen) == (NOW, NOW + 30)
    assert len(list(history.jobs_by_state())) == 2


def test_identity_is_fingerprint_plus_starts_at(history: SqlAlertHistory) -> None:
    history.record([obs()], NOW)
    history.record([obs(starts_at=NOW + 600)], NOW + 600)
    assert len(history.alerts(AlertFilter())) == 2


def test_alert_and_jobs_are_written_in_one_transaction(history: SqlAlertHistory) -> None:
    broken = obs(retry_budget=None)  # max_attempts NOT NULL: the job insert fails
    with pytest.raises(DatabaseUnavailable):
        history.record([obs("Other"), broken], NOW)
    assert history.alerts(AlertFilter()) == []
    assert list(history.jobs_by_state()) == []


def test_a_resolve_updates_the_alert_and_queues_resolve_jobs(history: SqlAlertHistory) -> None:
    history.record([obs()], NOW)
    outcome = history.record([obs(status="resolved", ends_at=NOW + 100)], NOW + 120)
    assert outcome.jobs == 2
    alert, timeline = history.alert(history.alerts(AlertFilter())[0].id)
    assert (alert.status, alert.resolved_at, alert.time_to_resolve) == ("resolved", NOW + 100, 100.0)
    assert [e.kind for e in timeline] == ["received", "resolved"]
    assert [(c, a) for c, a, _, _ in history.jobs_by_state()] == [
        ("pagerduty", "trigger"),
        ("slack", "trigger"),
        ("pagerduty", "resolve"),
        ("slack", "resolve"),
    ]


def test_a_resolve_waits_for_the_trigger_on_the_same_channel(history: SqlAlertHistory) -> None:
    history.record([obs()], NOW)
    [trigger_pd, trigger_slack] = history.claim(NOW, 60, 10)
    history.retry_later(trigger_pd, NOW + 100, "HTTP 503", NOW)
    history.delivered(trigger_slack, NOW)
    history.record([obs(status="resolved")], NOW + 1)
    claimed = history.claim(NOW + 10, 600, 10)
    assert [(j.channel, j.action) for j in claimed] == [("slack", "resolve")]
    claimed = history.claim(NOW + 100, 600, 10)
    assert [(j.channel, j.action) for j in claimed] == [("pagerduty", "trigger")]


def test_concurrent_claims_never_hand_out_the_same_job(history: SqlAlertHistory) -> None:
    history.record([obs(f"A{i}") for i in range(30)], NOW)
    taken: list[int] = []
    lock = threading.Lock()

    def claimer() -> None:
        for _ in range(60):  # bounded
            jobs = history.claim(NOW, 60, 3)
            if not jobs:
                return
            with lock:
                taken.extend(j.id for j in jobs)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(taken) == 60
    assert len(set(taken)) == 60


def test_a_job_leased_by_a_dead_worker_is_claimed_again_after_the_lease(history: SqlAlertHistory) -> None:
    history.record([obs(channels=("slack",))], NOW)
    [job] = history.claim(NOW, 60, 10)
    assert history.claim(NOW + 59, 60, 10) == []
    [again] = history.claim(NOW + 60, 60, 10)
    assert (again.id, again.attempts) == (job.id, 2)
    history.delivered(again, NOW + 61)
    assert history.claim(NOW + 1000, 60, 10) == []


def test_dead_letter_records_it_and_queues_the_fallback(history: SqlAlertHistory) -> None:
    history.record([obs(channels=("slack",))], NOW)
    [job] = history.claim(NOW, 60, 10)
    history.dead_letter(job, "HTTP 404", NOW, NewJob("email", "trigger", 3, fallback=True))
    [fallback] = history.claim(NOW, 60, 10)
    assert (fallback.channel, fallback.fallback) == ("email", True)
    stats = history.outbox_stats(NOW + 5)
    assert (stats.pending, stats.oldest_pending_age, stats.dead) == (1, 5.0, 1)
    history.delivered(fallback, NOW + 6)
    stats = history.outbox_stats(NOW + 7)
    assert (stats.pending, stats.dead, stats.delivered_by_channel) == (0, 1, {"email": 1})
    kinds = [e.kind for e in history.alert(job.alert.id)[1]]
    assert kinds == ["received", "dead_letter", "notified"]


def test_escalation_is_recorded_once_even_when_two_workers_race(history: SqlAlertHistory) -> None:
    history.record([obs()], NOW)
    assert history.due_escalations(NOW + 299, 10) == []
    [due] = history.due_escalations(NOW + 300, 10)
    [same] = history.due_escalations(NOW + 300, 10)
    assert history.escalate(due, [NewJob("sms", "escalate", 3)], NOW + 600, NOW + 300) is True
    assert history.escalate(same, [NewJob("sms", "escalate", 3)], NOW + 600, NOW + 300) is False
    assert [(c, a) for c, a, _, _ in history.jobs_by_state()][-1] == ("sms", "escalate")
    assert history.due_escalations(NOW + 599, 10) == []
    assert len(history.due_escalations(NOW + 600, 10)) == 1


def test_acknowledgement_stops_escalation_and_keeps_the_first_acknowledger(history: SqlAlertHistory) -> None:
    history.record([obs()], NOW)
    alert_id = history.alerts(AlertFilter())[0].id
    acked = history.acknowledge(alert_id, "alice", "mine", NOW + 30)
    history.acknowledge(alert_id, "bob", "me too", NOW + 40)
    assert (acked.acked_by, acked.time_to_ack) == ("alice", 30.0)
    assert history.due_escalations(NOW + 10_000, 10) == []
    timeline = history.alert(alert_id)[1]
    assert [(e.kind, e.actor, e.detail) for e in timeline[1:]] == [
        ("acknowledged", "alice", "mine"),
        ("acknowledged", "bob", "me too"),
    ]
    with pytest.raises(AlertNotFound):
        history.acknowledge(alert_id + 100, "alice", "", NOW)


def test_alerts_are_filtered_and_paginated_newest_first(history: SqlAlertHistory) -> None:
    history.record([obs("A"), obs("B", priority="low", service="portfolio")], NOW)
    history.record([obs("C")], NOW + 3600)
    history.record([obs("A", status="resolved")], NOW + 3600)

    def names(**kw: object) -> list[str]:
        return [a.alertname for a in history.alerts(AlertFilter(**kw))]  # type: ignore[arg-type]

    assert names() == ["C", "B", "A"]
    assert names(status="resolved") == ["A"]
    assert names(priority="low") == ["B"]
    assert names(service="asset", status="firing") == ["C"]
    assert names(since=NOW + 1) == ["C"]
    assert names(until=NOW + 1) == ["B", "A"]
    first = history.alerts(AlertFilter(limit=2))
    assert names(limit=2, after_id=first[-1].id) == ["A"]


def test_digest_jobs_wait_for_the_digest_time_and_are_claimed_apart(history: SqlAlertHistory) -> None:
    history.record([obs("Low", priority="low", channels=("email_digest", "slack"), digest_at=NOW + 3600)], NOW)
    assert [(j.channel, j.action) for j in history.claim(NOW, 60, 10)] == [("slack", "trigger")]
    assert history.claim(NOW + 3599, 60, 10, digest=True) == []
    [job] = history.claim(NOW + 3600, 60, 10, digest=True)
    assert (job.channel, job.alert.alertname) == ("email_digest", "Low")


def test_a_defaulted_priority_is_flagged_in_the_timeline(history: SqlAlertHistory) -> None:
    history.record([obs(priority="high", priority_defaulted=True)], NOW)
    alert, timeline = history.alert(history.alerts(AlertFilter())[0].id)
    assert alert.priority_defaulted is True
    assert timeline[0].kind == "received"
    assert "priority label missing or unknown" in timeline[0].detail


def test_migrating_from_version_1_keeps_the_data_and_allows_acknowledge_jobs(
    database: PostgresDatabase | SqliteDatabase,
) -> None:
    fresh = SqlAlertHistory(database)
    assert fresh.migrate(target=1) == 1
    fresh.record([obs()], NOW)
    assert fresh.migrate(target=2) == 2
    assert [(c, a, s) for c, a, s, _ in fresh.jobs_by_state()] == [
        ("pagerduty", "trigger", "pending"),
        ("slack", "trigger", "pending"),
    ]
    alert_id = fresh.alerts(AlertFilter())[0].id
    fresh.acknowledge(alert_id, "alice", "", NOW + 5, NewJob("pagerduty", "acknowledge", 5))
    assert [(c, a) for c, a, _, _ in fresh.jobs_by_state()][-1] == ("pagerduty", "acknowledge")


def test_only_the_first_acknowledgement_of_a_paged_alert_acknowledges_pagerduty(history: SqlAlertHistory) -> None:
    history.record([obs("Paged"), obs("NotPaged", channels=("slack",))], NOW)
    ids = {a.alertname: a.id for a in history.alerts(AlertFilter())}
    ack = NewJob("pagerduty", "acknowledge", 5)
    history.acknowledge(ids["Paged"], "alice", "", NOW + 5, ack)
    history.acknowledge(ids["Paged"], "bob", "", NOW + 6, ack)
    history.acknowledge(ids["NotPaged"], "alice", "", NOW + 7, ack)
    assert [(c, a) for c, a, _, _ in history.jobs_by_state()].count(("pagerduty", "acknowledge")) == 1


def test_an_alert_firing_again_after_a_resolve_is_escalated_again(history: SqlAlertHistory) -> None:
    history.record([obs()], NOW)
    history.record([obs(status="resolved")], NOW + 60)
    assert history.due_escalations(NOW + 10_000, 10) == []
    outcome = history.record([obs()], NOW + 120)
    assert outcome.jobs == 2
    assert history.due_escalations(NOW + 120 + 299, 10) == []
    assert len(history.due_escalations(NOW + 120 + 300, 10)) == 1


def test_a_digest_job_waiting_for_its_digest_time_is_not_counted_as_late(history: SqlAlertHistory) -> None:
    history.record([obs("Low", priority="low", channels=("email_digest",), digest_at=NOW + 3000)], NOW)
    assert history.outbox_stats(NOW + 2000).oldest_pending_age == 0.0
    assert history.outbox_stats(NOW + 3060).oldest_pending_age == 60.0


def test_a_one_click_link_acknowledges_once_and_a_second_use_changes_nothing(history: SqlAlertHistory) -> None:
    history.record([obs("Paged"), obs("Other")], NOW)
    ids = {a.alertname: a.id for a in history.alerts(AlertFilter())}
    assert history.ack_link_use("link-1") is None
    acked = history.acknowledge(
        ids["Paged"], "alice", "via link", NOW + 5, NewJob("pagerduty", "acknowledge", 5), link="link-1"
    )
    assert (acked.acked_by, acked.acked_at) == ("alice", NOW + 5)
    assert history.ack_link_use("link-1") == AckLinkUse("link-1", ids["Paged"], NOW + 5, "alice")
    jobs_before = list(history.jobs_by_state())
    for alert_id in (ids["Paged"], ids["Other"]):  # the same link again, for its alert or another: refused
        with pytest.raises(AckLinkUsed):
            history.acknowledge(alert_id, "mallory", "", NOW + 9, NewJob("pagerduty", "acknowledge", 5), link="link-1")
    assert list(history.jobs_by_state()) == jobs_before
    assert [(e.kind, e.actor) for e in history.alert(ids["Paged"])[1][1:]] == [("acknowledged", "alice")]
    assert history.alert(ids["Other"])[0].acked_at is None
    assert history.ack_link_use("link-1") == AckLinkUse("link-1", ids["Paged"], NOW + 5, "alice")


def test_a_link_for_an_unknown_alert_is_not_used_up(history: SqlAlertHistory) -> None:
    with pytest.raises(AlertNotFound):
        history.acknowledge(999, "alice", "", NOW, link="link-2")
    assert history.ack_link_use("link-2") is None


def test_two_concurrent_uses_of_one_link_acknowledge_once(history: SqlAlertHistory) -> None:
    history.record([obs()], NOW)
    alert_id = history.alerts(AlertFilter())[0].id
    outcomes: list[str] = []
    start = threading.Barrier(4)

    def use(who: str) -> None:
        start.wait()
        try:
            history.acknowledge(alert_id, who, "", NOW + 1, link="link-3")
            outcomes.append("acknowledged")
        except AckLinkUsed:
            outcomes.append("refused")

    threads = [threading.Thread(target=use, args=(f"user{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["acknowledged", "refused", "refused", "refused"]
    assert len([e for e in history.alert(alert_id)[1] if e.kind == "acknowledged"]) == 1


@pytest.mark.parametrize(
    ("delay", "reopened"),
    [
        (1.0, False),  # a lagging HA peer's or a replayed firing delivery, right after the resolve
        (59.0, False),
        (60.0, True),  # the grace has passed: Prometheus restored `for` state and kept startsAt
        (600.0, True),
    ],
)
def test_a_firing_delivery_after_the_resolve_re_opens_the_alert_only_after_the_stale_grace(
    database: PostgresDatabase | SqliteDatabase, delay: float, reopened: bool
) -> None:
    history = SqlAlertHistory(database, stale_firing_grace=60.0)
    history.migrate()
    history.record([obs()], NOW)
    history.record([obs(status="resolved", ends_at=NOW + 100)], NOW + 120)
    outcome = history.record([obs()], NOW + 120 + delay)
    alert, timeline = history.alert(history.alerts(AlertFilter())[0].id)
    actions = [(c, a) for c, a, _, _ in history.jobs_by_state()]
    if reopened:
        assert (alert.status, outcome.jobs, timeline[-1].kind) == (
            "firing",
            2,
            "refired",
        )  # a re-fire: its own timeline entry (migration 9)
        assert actions[-2:] == [("pagerduty", "trigger"), ("slack", "trigger")]
    else:
        assert (alert.status, alert.resolved_at, outcome.jobs) == ("resolved", NOW + 100, 0)
        assert timeline[-1].kind == "stale_firing"
        assert "stale replay" in timeline[-1].detail
        assert actions.count(("pagerduty", "trigger")) == 1  # nobody paged again
        assert history.due_escalations(NOW + 100_000, 10) == []


def test_pending_jobs_show_what_waits_for_a_retry_or_the_digest_until_it_is_sent(history: SqlAlertHistory) -> None:
    history.record([obs("Low", priority="low", channels=("email_digest", "slack"), digest_at=NOW + 3600)], NOW)
    alert_id = history.alerts(AlertFilter())[0].id
    pending = history.pending_jobs(alert_id)
    assert [(j.channel, j.action, j.state, j.due, j.attempts) for j in pending] == [
        ("slack", "trigger", "pending", NOW, 0),
        ("email_digest", "trigger", "pending", NOW + 3600, 0),
    ]
    [slack] = history.claim(NOW, 60, 10)
    first = history.pending_jobs(alert_id)[0]
    assert (first.channel, first.state, first.due, first.attempts) == ("slack", "sending", NOW + 60, 1)
    history.retry_later(slack, NOW + 30, "HTTP 503", NOW + 1)
    first = history.pending_jobs(alert_id)[0]
    assert (first.channel, first.state, first.due, first.last_error) == ("slack", "pending", NOW + 30, "HTTP 503")
    [slack] = history.claim(NOW + 30, 60, 10)
    history.delivered(slack, NOW + 31)
    assert [j.channel for j in history.pending_jobs(alert_id)] == ["email_digest"]
    with pytest.raises(AlertNotFound):
        history.alert(alert_id + 999)
    assert history.pending_jobs(alert_id + 999) == []


def test_an_e_mail_job_knows_the_first_trigger_of_its_alert_as_its_thread(history: SqlAlertHistory) -> None:
    history.record([obs(channels=("email", "slack"))], NOW)
    first = {j.channel: j for j in history.claim(NOW, 60, 10)}
    assert first["email"].thread == first["email"].id
    assert first["slack"].thread is None  # only e-mail threads
    for job in first.values():
        history.delivered(job, NOW + 1)
    history.record([obs(status="resolved", channels=("email", "slack"))], NOW + 120)
    resolve = {j.channel: j for j in history.claim(NOW + 120, 60, 10)}
    assert resolve["email"].action == "resolve"
    assert resolve["email"].thread == first["email"].id
