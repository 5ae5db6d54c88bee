"""`python -m bench.exporter_profile`: where the whole exporter process spends its time.

Fills a fresh topic with ``--events`` records, starts ``monitoring exporter`` with every feature
on (bench/exporter_process.py) and attaches py-spy to it and to its consistency worker process for
as long as it takes both to see them all.
By default py-spy samples only the thread holding the GIL (the exporter's Python work is bound
by it); ``--idle`` samples every thread, waiting included, which shows where a loop waits
rather than works. Prints the share of samples per thread and the functions with the most
samples of their own, per process; the raw profiles (collapsed stacks, for flamegraph.pl or
speedscope) and the summary go to .cache/profiles/.

    .venv/bin/python -m bench.exporter_profile --events 400000
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bench.exporter_process import exporter_process, process_tree, py_spy
from bench.kafka_fill import delete_topics, fill
from bench.receiver import fresh_database
from tests.services import kafka_brokers

PROFILES = Path(__file__).parent.parent / ".cache" / "profiles"
LOOPS = ("consume-loop", "consistency-loop")


def summarise(raw: Path, top: int = 15) -> str:
    """Samples per thread, and the functions with the most samples of their own, overall and per loop."""
    threads: Counter[str] = Counter()
    own: dict[str, Counter[str]] = {"all": Counter(), **{loop: Counter() for loop in LOOPS}}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread = frames[0].partition(": ")[2] or "(unnamed)"
        function = frames[-1].rsplit(":", 1)[0] + ")" if ":" in frames[-1] else frames[-1]  # without the line
        threads[thread] += int(count)
        own["all"][function] += int(count)
        if thread in own:
            own[thread][function] += int(count)
    total = sum(threads.values())
    out = [f"{total} samples", "", "samples per thread:"]
    out += [f"  {n / total:6.1%}  {thread}" for thread, n in threads.most_common(8)]
    for name, functions in own.items():
        if not functions:
            continue  # a loop of the other process
        in_scope = sum(functions.values())
        out += ["", f"own samples, {name} ({in_scope} samples):"]
        out += [f"  {n / in_scope:6.1%}  {function}" for function, n in functions.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.exporter_profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=400_000, help="records to put on the topic and consume")
    parser.add_argument("--idle", action="store_true", help="sample every thread, waiting too (default: GIL holder)")
    args = parser.parse_args(argv)
    brokers = kafka_brokers()
    admin = AdminClient({"bootstrap.servers": brokers})
    topic = f"bench.profile.{uuid.uuid4().hex[:10]}"
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    PROFILES.mkdir(parents=True, exist_ok=True)
    stem = PROFILES / f"exporter-{datetime.now(UTC):%Y%m%dT%H%M%S}{'-idle' if args.idle else ''}"
    raws: dict[str, Path] = {}
    try:
        fill(brokers, topic, args.events)
        with fresh_database() as uri, exporter_process(brokers, topic, uri) as process, ExitStack() as spies:
            deadline = time.monotonic() + 30
            while len(tree := process_tree(process.pid)) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)  # the consistency worker starts once the exporter holds the lock
            for pid, name in zip(tree, ("exporter", "consistency-worker"), strict=False):
                raws[name] = stem.with_name(f"{stem.name}-{name}.txt")
                spies.enter_context(py_spy(pid, raws[name], gil=not args.idle))
            run = process.run_until(args.events)
    finally:
        delete_topics(brokers, [topic, f"{topic}.dlq"])
    summary = "\n\n".join(
        [
            f"{args.events:,} records at {run.rate:,.0f} records/s, {run.cpu_seconds:.1f} s CPU over "
            f"{run.processes} processes, RSS {run.rss_after / 2**20:.0f} MiB summed, PSS {run.pss_after / 2**20:.0f} "
            "MiB (under py-spy)",
            *(f"=== {name}\n{summarise(raw)}" for name, raw in raws.items()),
        ]
    )
    stem.with_suffix(".summary.txt").write_text(summary + "\n")
    print(summary)
    print(f"\nraw profiles: {', '.join(map(str, raws.values()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
