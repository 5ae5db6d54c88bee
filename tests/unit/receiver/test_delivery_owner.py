"""The gunicorn master's side of the delivery process: start, restart after a death, SIGHUP, stop."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from receiver.web.delivery_owner import DeliveryOwner

# A stand-in for the delivery process: says when it starts and which signals it gets.
CHILD = """
import os, pathlib, signal, sys, time
out = pathlib.Path(sys.argv[1])  # then "--parent", the owner's pid
def note(what):
    with out.open("a") as f:
        f.write(f"{os.getpid()} {what}\\n")
def on(signum, _frame):
    note(signal.Signals(signum).name)
    if signum == signal.SIGTERM:
        sys.exit(0)
signal.signal(signal.SIGHUP, on)
signal.signal(signal.SIGTERM, on)
note("started")
while True:
    time.sleep(0.02)
"""


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, *args: object) -> None:
        self.lines.append(msg % args)

    def error(self, msg: str, *args: object) -> None:
        self.lines.append(msg % args)


def notes(path: Path) -> list[tuple[int, str]]:
    if not path.exists():
        return []
    return [(int(pid), what) for pid, what in (line.split(" ", 1) for line in path.read_text().splitlines())]


def wait_for(check: object, timeout: float = 10.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_owner_restarts_a_dead_process_forwards_sighup_and_stops_it_for_good(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    owner, log = DeliveryOwner([sys.executable, "-c", CHILD, str(out)]), Log()
    owner.start(log)
    try:
        wait_for(lambda: [what for _, what in notes(out)] == ["started"])
        [(first, _)] = notes(out)
        owner.reload()
        wait_for(lambda: (first, "SIGHUP") in notes(out))

        os.kill(first, signal.SIGKILL)
        wait_for(lambda: [what for _, what in notes(out)].count("started") == 2, 15)
        second = notes(out)[-1][0]
        assert second != first
        assert (owner.pid, owner.starts) == (second, 2)
    finally:
        owner.stop(timeout=10)
    assert notes(out)[-1] == (second, "SIGTERM")
    time.sleep(1.5)  # longer than the restart delay: nothing starts after a stop
    assert [what for _, what in notes(out)].count("started") == 2
    assert any("exited" in line for line in log.lines), log.lines
