"""The cyclic garbage collector, set for a process that streams records in batches.

CPython runs a young-generation pass once 700 more container objects have been allocated than
freed, and a full pass, which walks every tracked object, once enough of them have survived.
Streaming works against both: each Kafka record arrives as several containers (confluent-kafka's
``Message``, its list of header tuples, the decoded event), and a batch of 1,000 keeps them alive
while it is processed. Young passes then find whole batches alive, promote them, and full passes
over the start-up heap follow every few batches. In the shipped process that was a quarter of its
time (docs/metrics.md, "Profile of the whole process").

Two settings, made once after start-up:

- the young generation's threshold sits above what the batches in flight hold, so a batch is
  freed by reference counting before any pass sees it; reference cycles are still collected,
  once that many survivors have piled up;
- what start-up built (modules, the catalogue, clients, the registry) lives as long as the
  process: it is frozen (``gc.freeze``), and full passes no longer walk it.
"""

from __future__ import annotations

import gc

# Measured: a record in flight holds 6-9 tracked objects per consumer, and the exporter runs two
# consumers (events and consistency checks), each with a batch in flight: up to 18 per record,
# and room for what else the process allocates meanwhile.
OBJECTS_PER_RECORD = 30


def tune_for_batches(batch_size: int) -> None:
    """Freeze the start-up heap and raise the young generation's threshold above ``batch_size`` records."""
    gc.collect()  # what is garbage now must not be frozen
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, OBJECTS_PER_RECORD * batch_size), middle, old)
