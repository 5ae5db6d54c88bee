"""The consume loop: batches are marked done after processing, a bug is counted, stop commits."""

from __future__ import annotations

from collections.abc import Sequence

from exporter.consumer import ConsumeLoop
from exporter.records import ConsumedRecord, Record
from tests.integration.exporter.stream import wait_for


class ListSource:
    def __init__(self, batches: list[list[Record]]) -> None:
        self.batches = batches
        self.done_batches: list[list[int | None]] = []
        self.closed = False

    def poll(self, max_records: int, timeout: float) -> Sequence[ConsumedRecord]:
        return self.batches.pop(0) if self.batches else []

    def done(self, records: Sequence[ConsumedRecord]) -> None:
        self.done_batches.append([r.offset() for r in records])

    def maybe_commit(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def test_a_failing_handler_is_counted_and_the_loop_keeps_consuming_then_stop_closes_the_source() -> None:
    source = ListSource([[Record("t", 0, i, b"", []) for i in range(3)], [Record("t", 0, 3, b"", [])]])
    seen: list[int | None] = []
    errors: list[str] = []

    def handle(record: ConsumedRecord) -> None:
        if record.offset() == 1:
            raise RuntimeError("a bug")
        seen.append(record.offset())

    loop = ConsumeLoop(source, handle, 10, poll_timeout=0.01, on_error=lambda: errors.append("x"))
    loop.start()
    assert wait_for(lambda: seen == [0, 3], 5, 0.01)
    loop.stop()
    assert errors == ["x"]
    assert source.done_batches[0] == [3]  # the failed batch was never marked done
    assert source.closed
    assert not loop.alive
