"""When Prometheus evaluates each rule group, so the backtest evaluates at the same instants.

Prometheus 2.42 (``rules/manager.go``, ``Group.EvalTimestamp``) evaluates a group every
``interval`` at a fixed offset within it: the xxHash64 of the group's labels
``{file="<path as loaded>", name="<group>"}`` modulo the interval in nanoseconds. Rules see
that instant in milliseconds, and what a recording rule writes carries it as its timestamp.
The offset survives restarts: it depends on the file's path and the group's name only.
(``lastEvaluation`` in ``/api/v1/rules`` is no substitute: it is the wall clock when the
evaluation began, late by however long the evaluation waited for a CPU.)

A group of the given files is matched to the group Prometheus loaded (``/api/v1/rules``) from
the file of the same path, else of the same file name; a group Prometheus does not run gets
the offset it would have in that file (or under its own path when Prometheus loads no such
file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import xxhash

_LOADED_PREFIX = "Prometheus's "  # how rules_loaded names the files of the rules Prometheus runs


def prometheus_offset_ms(file: str, group: str, interval: float) -> int:
    """Prometheus's offset of group ``group`` of ``file`` within ``interval`` seconds, in whole milliseconds."""
    interval_ns = round(interval * 1e9)
    key = b"file\xff" + file.encode() + b"\xffname\xff" + group.encode() + b"\xff"
    return (xxhash.xxh64_intdigest(key) % interval_ns) // 1_000_000


class Schedule:
    """The evaluation offset of any rule group, as the Prometheus that loaded ``groups`` places it."""

    def __init__(self, groups: Sequence[Mapping[str, Any]] = ()) -> None:
        self._loaded_files = {str(group.get("file", "")) for group in groups}

    def _loaded_path(self, file: Path) -> str:
        """The path Prometheus loads ``file`` from (its own when Prometheus loads no file of that name)."""
        text = str(file).removeprefix(_LOADED_PREFIX)
        if text in self._loaded_files:
            return text
        absolute = str(Path(text).absolute())
        if absolute in self._loaded_files:
            return absolute
        same_name = sorted(p for p in self._loaded_files if Path(p).name == Path(text).name)
        return same_name[0] if len(same_name) == 1 else absolute

    def offset_ms(self, file: Path, group: str, interval: float) -> int:
        """Milliseconds after each multiple of ``interval`` at which Prometheus evaluates the group."""
        return prometheus_offset_ms(self._loaded_path(file), group, interval)
