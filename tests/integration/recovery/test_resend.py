"""``monitoring resend`` on real PostgreSQL: dead-lettered and failing jobs go out again, once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.recovery.commands import Clock, alert, command, command_json, receiver_on
from tests.sinks import RecordingSink


def test_resend_requeues_a_dead_letter_once_and_the_worker_delivers_it(
    postgres_uri: str, sink: RecordingSink, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {"POSTGRES_URI": postgres_uri, "RECEIVER_DOMAIN_EVENTS": "off"}
    receiver = receiver_on(env, tmp_path, sink.url, Clock(time.time()))
    request.addfinalizer(receiver.close)
    receiver.post(alert("DiskFull", "aa01"))
    sink.status = 400  # rejected, not retried: dead-lettered at once
    receiver.worker.drain()
    assert [state for _, _, state, _ in receiver.history.jobs_by_state()] == ["dead"]  # type: ignore[attr-defined]

    code, first = command_json(env, "resend", "--dead-lettered")
    assert code == 0
    assert [(j["channel"], j["previous"], j["outcome"]) for j in first["jobs"]] == [("webhook", "dead", "requeued")]
    code, again = command_json(env, "resend", "--dead-lettered")
    assert (code, again["jobs"]) == (0, [])  # nothing dead any more: nothing twice

    sink.status = 200
    receiver.clock.now = time.time() + 1  # the resend made it due at the command's time
    receiver.worker.drain()
    assert len(sink.received()) == 2  # the rejected attempt, then the resent one
    job_id = first["jobs"][0]["job_id"]
    code, text = command(env, "resend", "--job", str(job_id))
    assert code == 0
    assert "delivered" in text
    assert "unchanged" in text
    receiver.worker.drain()
    assert len(sink.received()) == 2  # a delivered job is not sent again
    document = receiver.client.get("/api/v1/alerts/1").json
    assert document is not None
    assert [e["kind"] for e in document["timeline"]].count("resend") == 1
    audit = receiver.client.get("/api/v1/audit?action=alert.resend").json  # one entry per change, none for no-ops
    assert audit is not None
    assert [(e["target"], e["source"], e["outcome"]) for e in audit["entries"]] == [(f"job:{job_id}", "cli", "success")]


def test_resend_failed_makes_a_waiting_retry_due_now_and_unknown_jobs_fail(
    postgres_uri: str, sink: RecordingSink, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {"POSTGRES_URI": postgres_uri, "RECEIVER_DOMAIN_EVENTS": "off", "RECEIVER_RETRY_BASE": "1h"}
    receiver = receiver_on(env, tmp_path, sink.url, Clock(time.time()))
    request.addfinalizer(receiver.close)
    receiver.post(alert("SlowApi", "bb02"))
    sink.status = 503  # retryable: waits an hour for its next attempt
    receiver.worker.drain()
    assert [state for _, _, state, _ in receiver.history.jobs_by_state()] == ["pending"]  # type: ignore[attr-defined]
    assert receiver.worker.drain() == 0  # not due

    code, resent = command_json(env, "resend", "--failed", "--since", "1h", "--channel", "webhook")
    assert code == 0
    assert [(j["previous"], j["outcome"]) for j in resent["jobs"]] == [("failing", "retry now")]
    sink.status = 200
    receiver.clock.now = time.time() + 1
    assert receiver.worker.drain() == 1
    assert [state for _, _, state, _ in receiver.history.jobs_by_state()] == ["delivered"]  # type: ignore[attr-defined]
    assert command(env, "resend", "--job", "999")[0] == 1
