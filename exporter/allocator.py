"""glibc's allocator, set for a long-running process that streams records through several threads.

With its defaults, glibc's malloc keeps memory a streaming process has freed:

- each thread that allocates gets an arena of its own, up to eight per core, and librdkafka
  runs a thread per broker plus its main and timer threads: every arena keeps its own free
  pages and its high-water mark;
- blocks of 128 KiB and more are mapped and unmapped one by one, but the first such free raises
  that threshold (up to 32 MiB), after which fetch buffers and batches of that size come from
  the arenas and stay there;
- the top of an arena is given back only past a trim threshold that rises with it.

``tune`` (at start-up, before any Kafka client starts its threads) allows two arenas, keeps the
mapping and trim thresholds fixed at 128 KiB, so what a batch freed goes back to the system.
What it saves, measured against glibc's defaults by ``python -m bench exporter``: docs/metrics.md,
"Memory". ``EXPORTER_ALLOCATOR=default`` leaves glibc's defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

# mallopt(3) parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

ARENAS = 2
THRESHOLD = 128 * 1024


@dataclass(frozen=True)
class Tuning:
    applied: bool
    reason: str = ""


def tune(mode: str, library: str | None = None) -> Tuning:
    """Apply the settings above when ``mode`` is "tuned" and the C library is glibc; say what happened."""
    if mode != "tuned":
        return Tuning(False, "EXPORTER_ALLOCATOR=default")
    path = library or ctypes.util.find_library("c")
    if path is None:
        return _skipped("no C library found")
    try:
        libc = ctypes.CDLL(path)
    except OSError as exc:
        return _skipped(f"{path} cannot be loaded: {exc}")
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return _skipped(f"{path} is not glibc")
    settings = ((M_ARENA_MAX, ARENAS), (M_MMAP_THRESHOLD, THRESHOLD), (M_TRIM_THRESHOLD, THRESHOLD))
    refused = [name for name, value in settings if libc.mallopt(ctypes.c_int(name), ctypes.c_int(value)) != 1]
    if refused:
        return _skipped(f"mallopt refused parameters {refused}")
    return Tuning(True)


def _skipped(reason: str) -> Tuning:
    log.warning("allocator_not_tuned", reason=reason)
    return Tuning(False, reason)
