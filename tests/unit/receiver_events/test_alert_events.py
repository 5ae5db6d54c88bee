"""Mapping alerts to domain events: which events, what they carry, and ids that never change."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace import TracerProvider

from monitoring import catalogue as c
from monitoring.cloudevents import decode, decode_data, encode_structured
from monitoring.tracing import current_traceparent
from receiver.store import alert_events
from receiver.store.history import Observation

STARTS = datetime(2026, 11, 26, 8, 0, tzinfo=UTC).timestamp()


def observation(kind: str | None = None, **changes: object) -> Observation:
    labels = {"alertname": "HighLatency", "service": "portfolio-service", "priority": "high"}
    if kind is not None:
        labels["kind"] = kind
    obs = Observation(
        fingerprint="a1b2c3d4e5f60718",
        starts_at=STARTS,
        alertname="HighLatency",
        status="firing",
        priority="high",
        priority_defaulted=False,
        service="portfolio-service",
        labels=labels,
        annotations={"summary": "slow", "runbook_url": "docs/alerting.md#highlatency", "value": "0.93"},
        generator_url="http://prometheus:9090/graph?g0.expr=x",
        ends_at=None,
        content_hash="h",
        channels=("slack",),
        retry_budget=3,
        ack_deadline=None,
    )
    return dataclasses.replace(obs, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "types"),
    [
        ("threshold", ["AlertCreated", "ThresholdExceeded"]),
        ("anomaly", ["AlertCreated", "PerformanceAnomaly"]),
        ("slo", ["AlertCreated"]),
        ("meta", ["AlertCreated"]),
        (None, ["AlertCreated"]),
    ],
)
def test_a_firing_alert_becomes_alert_created_plus_one_event_for_its_kind(kind: str | None, types: list[str]) -> None:
    events = alert_events.fired(7, observation(kind), traceparent=None)
    assert [e.type for e in events] == types
    for event in events:
        assert event.source == "monitoring-receiver"
        assert event.aggregateid == "a1b2c3d4e5f60718"
        assert event.time == datetime.fromtimestamp(STARTS, UTC)
        # every event survives the Kafka codec and validates against the catalogue
        value, headers = encode_structured(event)
        assert decode_data(decode(value, headers)) is not None


def test_a_threshold_alert_carries_its_labels_value_and_links() -> None:
    _, exceeded = alert_events.fired(7, observation("threshold"), traceparent=None)
    data = decode_data(exceeded)
    assert data == c.ThresholdExceeded(
        alert_id="7",
        alertname="HighLatency",
        priority="high",
        service="portfolio-service",
        labels={"alertname": "HighLatency", "service": "portfolio-service", "priority": "high", "kind": "threshold"},
        value="0.93",
        links={"generator": "http://prometheus:9090/graph?g0.expr=x", "runbook": "docs/alerting.md#highlatency"},
    )


def test_an_anomaly_names_its_metric_from_the_metric_label_else_the_alertname() -> None:
    labelled = observation("anomaly", labels={"alertname": "PerformanceAnomaly", "kind": "anomaly", "metric": "rps"})
    anomaly = decode_data(alert_events.fired(1, labelled, None)[1])
    assert isinstance(anomaly, c.PerformanceAnomaly)
    assert anomaly.metric == "rps"
    unlabelled = decode_data(alert_events.fired(1, observation("anomaly"), None)[1])
    assert isinstance(unlabelled, c.PerformanceAnomaly)
    assert unlabelled.metric == "HighLatency"


def test_dashboard_and_other_url_annotations_become_links_and_empty_ones_are_left_out() -> None:
    obs = observation(
        annotations={"dashboard": "http://grafana/d/x", "logs_url": "http://logs/q", "silence_url": "", "summary": "s"},
        generator_url="",
    )
    assert alert_events.links(obs) == {"dashboard": "http://grafana/d/x", "logs": "http://logs/q"}


def test_an_alert_without_name_or_service_still_gives_valid_events() -> None:
    obs = observation("threshold", alertname="", service="", labels={"kind": "threshold"})
    for event in alert_events.fired(3, obs, None):
        value, headers = encode_structured(event)
        decode_data(decode(value, headers))  # raises on an empty catalogue Name


def test_ids_are_stable_per_fingerprint_starts_at_and_type() -> None:
    first = [e.id for e in alert_events.fired(7, observation("threshold"), None)]
    # a resend (another alert id in a fresh database, another trace) is the same event
    again = [e.id for e in alert_events.fired(99, observation("threshold"), "00-" + "1" * 32 + "-" + "2" * 16 + "-01")]
    assert first == again
    assert len(set(first)) == 2
    later = [e.id for e in alert_events.fired(7, observation("threshold", starts_at=STARTS + 60), None)]
    other = [e.id for e in alert_events.fired(7, observation("threshold", fingerprint="ffff"), None)]
    assert not set(first) & set(later)
    assert not set(first) & set(other)
    assert first[0] == alert_events.event_id("a1b2c3d4e5f60718", STARTS, "AlertCreated")


@pytest.mark.parametrize(
    ("fingerprint", "starts_at", "event_type"),
    [
        ("a1b2c3d4e5f60718", STARTS, "AlertCreated"),
        ("ffff", STARTS + 0.25, "AlertResolved"),  # a fraction of a second in the timestamp
        ("0", 0.0, "ThresholdExceeded"),
        ("Z" * 64, 4102444800.0, "PerformanceAnomaly"),  # the longest fingerprint, year 2100
    ],
)
def test_ids_are_the_uuid5_of_the_firing_and_type_as_published_before(
    fingerprint: str, starts_at: float, event_type: str
) -> None:
    """The ids were uuid.uuid5's before they were worked out by hand: the same alerts must keep the
    same ids (the outbox, the event store and consumers skip a known id), in RFC 4122 form."""
    firing = f"{fingerprint}|{datetime.fromtimestamp(starts_at, UTC).isoformat()}"
    namespace = alert_events.EVENT_ID_NAMESPACE
    assert alert_events.event_id(fingerprint, starts_at, event_type) == str(
        uuid.uuid5(namespace, f"{firing}|{event_type}")
    )
    assert alert_events.correlation_id(fingerprint, starts_at) == str(uuid.uuid5(namespace, firing))
    fired = alert_events.fired(1, observation(fingerprint=fingerprint, starts_at=starts_at), None)[0]
    assert (fired.id, fired.correlationid) == (
        str(uuid.uuid5(namespace, f"{firing}|AlertCreated")),
        str(uuid.uuid5(namespace, firing)),
    )


def test_a_resolved_alert_becomes_alert_resolved_with_its_duration() -> None:
    obs = observation("threshold", status="resolved")
    event = alert_events.resolved(7, obs, STARTS + 90.5, traceparent=None)
    assert event.type == "AlertResolved"
    assert event.time == datetime.fromtimestamp(STARTS + 90.5, UTC)
    assert decode_data(event) == c.AlertResolved(
        alert_id="7",
        fingerprint="a1b2c3d4e5f60718",
        alertname="HighLatency",
        priority="high",
        service="portfolio-service",
        resolved_at=datetime.fromtimestamp(STARTS + 90.5, UTC),
        duration_seconds=90.5,
    )
    created = alert_events.fired(7, obs, None)[0]
    assert event.correlationid == created.correlationid  # one firing, one correlation
    assert event.id != created.id


def test_the_trace_context_travels_on_every_event() -> None:
    trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    events = alert_events.fired(1, observation("anomaly"), trace)
    events.append(alert_events.resolved(1, observation(), 1.0, trace))
    assert {e.traceparent for e in events} == {trace}


def test_without_a_tracer_there_is_no_traceparent() -> None:
    assert current_traceparent() is None


def test_inside_a_span_the_traceparent_is_the_spans() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("webhook") as span:
        traceparent = current_traceparent()
    context = span.get_span_context()
    assert traceparent == f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def facts(obs: Observation) -> alert_events.AlertFacts:
    """The alert as its row keeps it."""
    fields = ("fingerprint", "starts_at", "alertname", "priority", "service", "labels", "annotations", "generator_url")
    return alert_events.AlertFacts(**{name: getattr(obs, name) for name in fields})


@pytest.mark.parametrize("kind", ["threshold", "anomaly", "slo", None])
@pytest.mark.parametrize("trace", [None, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"])
def test_an_event_by_reference_builds_into_the_very_event_of_the_webhook(kind: str | None, trace: str | None) -> None:
    obs = observation(kind, annotations={"summary": "s", "value": "0.93", "dashboard_url": "http://g/d"})
    deferred = alert_events.arrived(7, obs, None, trace)
    assert [(d.id, d.type) for d in deferred] == [(e.id, e.type) for e in alert_events.fired(7, obs, trace)]
    assert [encode_structured(alert_events.build(d, facts(obs))) for d in deferred] == [
        encode_structured(e) for e in alert_events.fired(7, obs, trace)
    ]
    resolved = observation(kind, status="resolved")
    [first_seen_resolved] = alert_events.arrived(7, resolved, STARTS + 90.5, trace)
    later = alert_events.resolved_later(7, obs, STARTS + 90.5, trace)
    assert first_seen_resolved == later
    assert encode_structured(alert_events.build(later, facts(obs))) == encode_structured(
        alert_events.resolved(7, obs, STARTS + 90.5, trace)
    )


@pytest.mark.parametrize(
    ("event_type", "at", "message"),
    [
        ("AlertAcknowledged", None, "no alert event of that type"),
        ("IncidentOpened", None, "no alert event of that type"),
        ("AlertResolved", None, "has no resolution instant"),
    ],
)
def test_a_reference_that_names_no_alert_event_is_refused(event_type: str, at: float | None, message: str) -> None:
    deferred = alert_events.Deferred("e1", event_type, 7, "a1b2c3d4e5f60718", at, None)
    with pytest.raises(alert_events.Unbuildable, match=message):
        alert_events.build(deferred, facts(observation("threshold")))
