"""An open-loop webhook load for the overload scenario: raw HTTP/1.1 keep-alive on asyncio.

One event loop drives everything the scenario needs at once: the webhook posts (closed loop to
measure capacity, open loop at a fixed rate to overload), probes of /healthz and /metrics, and
RSS samples of the receiver's processes. Every answer is kept: status, seconds, Retry-After, or
the transport error that replaced it. Loopback only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from tests.unit.receiver.fakes import alert, webhook

GROUP = 10  # alerts per webhook, as in bench/receiver.py
TIMEOUT = 30.0  # seconds a client waits for an answer before counting a transport error


@dataclass(frozen=True)
class Answer:
    webhook: int  # index of the webhook posted
    status: int  # 0: no HTTP answer (connection error or timeout)
    seconds: float
    sent_at: float  # monotonic
    retry_after: str | None = None
    error: str | None = None


@dataclass
class Webhooks:
    """Distinct 10-alert webhooks; alert ``j`` of webhook ``i`` has fingerprint ``<run>x<i>x<j>``."""

    run: str
    priority: str = "medium"

    def body(self, i: int) -> bytes:
        """The same bytes every time for one ``i``: a refused webhook is resent as it was."""
        alerts = [alert(f"Flood{j}", self.priority, fingerprint=self.fingerprint(i, j)) for j in range(GROUP)]
        return json.dumps({**webhook(*alerts), "groupKey": f"{self.run}-{i}"}).encode()

    def fingerprint(self, i: int, j: int) -> str:
        return f"{self.run}x{i}x{j}"

    def fingerprints(self, indices: set[int]) -> set[str]:
        return {self.fingerprint(i, j) for i in indices for j in range(GROUP)}


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, dict[str, str]]:
        if self._reader is not None and self._reader.at_eof():
            self.close()  # the server closed it while idle (its keep-alive timeout), as HTTP clients notice
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self._reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._writer.write(head.encode() + b"\r\n" + body)
        try:
            status_line = await self._reader.readuntil(b"\r\n")
            raw_headers = await self._reader.readuntil(b"\r\n\r\n")
            answer = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in raw_headers.decode("latin-1").split("\r\n") if line)
            }
            await self._reader.readexactly(int(answer.get("content-length", "0")))
        except BaseException:
            self.close()
            raise
        if answer.get("connection", "").lower() == "close":
            self.close()
        return int(status_line.split()[1]), answer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._reader, self._writer = None, None


class Flood:
    """Posts webhooks to a receiver over ``connections`` keep-alive connections."""

    def __init__(self, port: int, token: str, webhooks: Webhooks, connections: int) -> None:
        self.port, self.webhooks = port, webhooks
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        self.answers: list[Answer] = []
        self.behind = 0.0  # the largest lateness of the open loop's sends, in seconds
        self._next = 0
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(connections):
            self._idle.put_nowait(Connection(port))

    def take(self) -> int:
        self._next += 1
        return self._next - 1

    async def post(self, i: int, conn: Connection) -> Answer:
        sent = time.monotonic()
        try:
            status, headers = await asyncio.wait_for(
                conn.request("POST", "/api/v1/alerts/alertmanager", self.headers, self.webhooks.body(i)), TIMEOUT
            )
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
            answer = Answer(i, 0, time.monotonic() - sent, sent, error=type(exc).__name__)
        else:
            answer = Answer(i, status, time.monotonic() - sent, sent, headers.get("retry-after"))
        self.answers.append(answer)
        return answer

    async def _send(self, i: int, conn: Connection) -> None:
        try:
            await self.post(i, conn)
        finally:
            self._idle.put_nowait(conn)

    async def closed_loop(self, clients: int, seconds: float) -> list[Answer]:
        """``clients`` connections each post their next webhook as soon as the last is answered."""
        first = len(self.answers)
        end = time.monotonic() + seconds

        async def client(conn: Connection) -> None:
            while time.monotonic() < end:
                await self.post(self.take(), conn)

        conns = [self._idle.get_nowait() for _ in range(clients)]
        await asyncio.gather(*(client(c) for c in conns))
        for c in conns:
            self._idle.put_nowait(c)
        return self.answers[first:]

    async def open_loop(self, rate: Callable[[], float], seconds: float) -> list[Answer]:
        """Webhooks at ``rate()`` per second (asked before every send), whatever the answers; a send
        waits only for a free connection."""
        first = len(self.answers)
        start = due = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        while due < start + seconds:
            pause = due - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            conn = await self._idle.get()
            self.behind = max(self.behind, time.monotonic() - due)
            task = asyncio.create_task(self._send(self.take(), conn))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            due += 1 / rate()
        if tasks:
            await asyncio.gather(*tasks)
        return self.answers[first:]

    def stored_rate(self, window: float) -> float:
        """Webhooks answered 2xx per second over the last ``window`` seconds."""
        since = time.monotonic() - window
        count = 0
        for answer in reversed(self.answers):
            if answer.sent_at + answer.seconds < since - TIMEOUT:
                break  # answers are appended as they complete: nothing older can be in the window
            if 200 <= answer.status < 300 and answer.sent_at + answer.seconds >= since:
                count += 1
        return count / window

    async def resend(self, indices: list[int]) -> list[Answer]:
        """Post these webhooks again, one after another, as Alertmanager retries a refused one."""
        conn = await self._idle.get()
        try:
            return [await self.post(i, conn) for i in indices]
        finally:
            self._idle.put_nowait(conn)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


@dataclass
class Probe:
    """GETs a path every ``interval`` s until stopped; keeps (status, seconds) per probe."""

    port: int
    path: str
    interval: float = 0.5
    results: list[tuple[int, float]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        conn = Connection(self.port)
        while not stop.is_set():
            started = time.monotonic()
            try:
                status, _ = await asyncio.wait_for(conn.request("GET", self.path, {}), TIMEOUT)
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                status = 0
            self.results.append((status, time.monotonic() - started))
            await asyncio.sleep(self.interval)
        conn.close()


class Memory(NamedTuple):
    """A process tree's memory in MiB: ``pss`` counts a page shared by n processes as 1/n in each
    (the memory the tree takes), ``rss`` counts it in full in each (gunicorn's workers share the
    pages of the modules the master loaded before forking them, so summed RSS counts those again
    per worker)."""

    pss: float
    rss: float


def memory_mib(root_pid: int) -> Memory:
    """Memory of a process and its children (gunicorn master, workers, the delivery process)."""
    pids = [root_pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == root_pid:  # the field after the state is the parent pid
            pids.append(int(stat.parent.name))
    pss_kib = rss_kib = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                pss_kib += int(line.split()[1])
            elif line.startswith("Rss:"):
                rss_kib += int(line.split()[1])
    return Memory(pss_kib / 1024, rss_kib / 1024)


async def sample_memory(root_pid: int, stop: asyncio.Event, out: list[Memory], interval: float = 0.5) -> None:
    while not stop.is_set():
        out.append(memory_mib(root_pid))
        await asyncio.sleep(interval)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else 0.0
