"""monitoring_kafka_up and readiness: a failure next to another client's recent success is not an outage."""

from __future__ import annotations

import pytest

from exporter.kafka_status import KafkaStatus
from tests.unit.receiver.fakes import FakeClock


@pytest.mark.parametrize(
    ("marks", "up"),
    [
        ([(0.0, False)], False),  # never reached Kafka
        ([(0.0, True)], True),
        ([(0.0, True), (4.9, False)], True),  # an admin timeout while the consumer receives
        ([(0.0, True), (5.0, False)], False),  # nothing succeeded for the grace: down
        ([(0.0, True), (4.0, False), (8.0, True), (12.0, False)], True),
        ([(0.0, True), (6.0, False), (7.0, True)], True),  # back up at the next success
    ],
)
def test_kafka_is_down_after_a_failure_only_when_no_client_succeeded_within_the_grace(
    marks: list[tuple[float, bool]], up: bool
) -> None:
    clock = FakeClock(0.0)
    status = KafkaStatus(clock=clock, grace=5.0)
    for at, success in marks:
        clock.now = at
        status.mark(success)
    assert status.up is up


def test_a_status_that_starts_up_goes_down_at_the_first_failure() -> None:
    status = KafkaStatus(initially_up=True, clock=FakeClock(0.0))
    status.mark(False)
    assert status.up is False
