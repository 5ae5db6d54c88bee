"""The alert history in SQL: one implementation for PostgreSQL and SQLite.

The two differ only in placeholders, the auto-increment key, and how jobs are claimed:
PostgreSQL uses ``SELECT ... FOR UPDATE SKIP LOCKED`` so several workers and instances
claim disjoint jobs; SQLite serialises writers (``BEGIN IMMEDIATE``), which gives the same
guarantee for the processes sharing the file.

Every notification job stores the ``traceparent`` of the span that queued it (the webhook's
history write, an acknowledgement, an escalation), so its delivery continues that trace.
"""

from __future__ import annotations

from receiver.store.history_reads import HistoryReads
from receiver.store.history_writes import HistoryWrites
from receiver.store.incident_reads import IncidentReads
from receiver.store.outbox_jobs import OutboxJobs


class SqlAlertHistory(HistoryWrites, OutboxJobs, HistoryReads, IncidentReads):
    """The ``AlertHistory`` repository on PostgreSQL or SQLite: its writes, its outbox jobs and its
    reads, each in a module of its own, over the shared ``SqlRepository`` (connections, dialect,
    migrations). ``events``: the domain-event outbox that ``record`` writes to in the alert's own
    transaction (None: no domain events); ``traceparent`` gives the trace context they carry;
    ``audit_log``: where acknowledgements and escalations are audit-logged, in their transaction."""
