"""Metric families as data: what the exporter's consistency process reports to its parent.

The consistency consumer runs in a process of its own (exporter/consistency_supervisor.py) with its
own registry; the parent serves its metrics on the one ``/metrics``. A report is every sample of
some families at one moment, encoded with msgpack (which, unlike JSON, carries ``+Inf`` and NaN)
and framed by its length, so that it can travel over a pipe.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import BinaryIO

import msgspec
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

_LENGTH = struct.Struct(">I")


class SampleData(msgspec.Struct, frozen=True, array_like=True):
    name: str
    labels: dict[str, str]
    value: float


class FamilyData(msgspec.Struct, frozen=True, array_like=True):
    name: str
    documentation: str
    type: str
    unit: str
    samples: list[SampleData]


class Report(msgspec.Struct, frozen=True):
    families: list[FamilyData]


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Report)


def take(registry: CollectorRegistry) -> Report:
    """Every family of ``registry``, as it is now."""
    return Report(
        [
            FamilyData(
                family.name,
                family.documentation,
                family.type,
                family.unit,
                [SampleData(sample.name, dict(sample.labels), sample.value) for sample in family.samples],
            )
            for family in registry.collect()
        ]
    )


def metrics(report: Report) -> Iterable[Metric]:
    """The report's families as prometheus_client metrics, for a collector to yield."""
    for data in report.families:
        family = Metric(data.name, data.documentation, data.type, data.unit)
        for sample in data.samples:
            family.add_sample(sample.name, sample.labels, sample.value)
        yield family


def write(stream: BinaryIO, report: Report) -> None:
    body = _ENCODER.encode(report)
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def read(stream: BinaryIO) -> Report | None:
    """The next report, or None at the end of the stream."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    body = stream.read(length)
    if len(body) < length:
        return None
    return _DECODER.decode(body)
