"""Versioned schema migrations for the alert history; each version is applied once, in order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SqliteRebuild:
    """SQLite cannot alter a constraint: rebuild ``table`` from its own stored definition with
    ``old`` replaced by ``new`` (SQLite's documented procedure: create the new table, copy the rows,
    drop the old one, rename, recreate its indexes). Whatever columns other migrations added stay."""

    table: str
    old: str
    new: str


Statement = str | SqliteRebuild


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]  # ``{id}`` is the dialect's auto-increment primary key
    postgresql: tuple[Statement, ...] = ()  # then these, on PostgreSQL only
    sqlite: tuple[Statement, ...] = ()  # or these, on SQLite only

    def for_dialect(self, postgres: bool) -> tuple[Statement, ...]:
        return self.statements + (self.postgresql if postgres else self.sqlite)


_OUTBOX_V2 = """CREATE TABLE outbox (
    id {id},
    alert_id BIGINT NOT NULL REFERENCES alerts (id),
    channel TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('trigger', 'resolve', 'escalate', 'acknowledge')),
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    fallback BOOLEAN NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION,
    delivered_at DOUBLE PRECISION,
    last_error TEXT
)"""
_OUTBOX_INDEXES = (
    "CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state IN ('pending', 'sending')",
    "CREATE INDEX outbox_alert_channel ON outbox (alert_id, channel, id)",
)


_AUDIT_GUARD_PG = """CREATE FUNCTION audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.at < COALESCE(
        NULLIF(current_setting('monitoring.audit_purge_before', true), '')::double precision, '-Infinity'
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$"""
# The only way to delete: entries older than the cutoff, a batch at a time. SECURITY DEFINER, so that
# an application role granted INSERT and SELECT on audit_log (and EXECUTE here) can purge, nothing more.
_AUDIT_PURGE_PG = """CREATE FUNCTION audit_log_purge(cutoff double precision, batch integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    deleted integer;
BEGIN
    PERFORM set_config('monitoring.audit_purge_before', cutoff::text, true);
    DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < cutoff ORDER BY id LIMIT batch);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('monitoring.audit_purge_before', '', true);
    RETURN deleted;
END
$$"""

# A row of the domain-event outbox is an event, or an alert's event by reference (built when relayed).
_EVENT_OR_ALERT = "(event IS NOT NULL OR alert_id IS NOT NULL)"
TRACEPARENT_SCHEMA = 5  # from this version on, outbox jobs store the traceparent they were queued in
INCIDENT_SCHEMA = 11  # from this version on, alerts and jobs may belong to an incident
ACK_LINKS_SCHEMA = 7  # from this version on, one-click acknowledge links are single-use
REPORT_FACTS_SCHEMA = 13  # from this version on, the reports read facts the database keeps (below)
DEFERRED_EVENTS_SCHEMA = 14  # from this version on, alert events are recorded by reference (event_outbox.py)

# Before version 9 a re-fire (the same alert firing again after it resolved) was a "changed" entry like a
# label change: it is the one whose alert was resolved just before (a "resolved" entry, or the alert
# arrived resolved: its "received" entry says so).
_REFIRES_BACKFILL = """UPDATE timeline SET kind = 'refired', detail = 'fired again after resolving'
WHERE id IN (
    SELECT id FROM (
        SELECT id, kind,
               LAG(kind) OVER (PARTITION BY alert_id ORDER BY id) AS before,
               LAG(substr(detail, 1, 9)) OVER (PARTITION BY alert_id ORDER BY id) AS said
        FROM timeline
        WHERE kind IN ('received', 'changed', 'resolved')
          AND alert_id IN (SELECT alert_id FROM timeline WHERE kind = 'changed')
    ) entries
    WHERE kind = 'changed' AND (before = 'resolved' OR (before = 'received' AND said = 'resolved,'))
)"""

# The alert-quality reports read facts that the database itself keeps with the rows, in the statement that
# writes them, so that no code path (nor an older receiver during an upgrade) can leave them out:
# - each alert's acknowledgement state, times to acknowledge and to resolve and their histogram buckets.
#   Definitions in receiver/store/reports.py: an acknowledgement counts when it came before the resolution (or
#   while still firing); durations run from first_seen and are never negative. On PostgreSQL, columns that a
#   trigger computes when first_seen, acked_at or resolved_at is written; a new firing alert takes the defaults
#   without calling it. Stored generated columns (this version's first form) are computed again by every write
#   of the row, "last seen" updates included: per statement 182 us for a "last seen" update, 265 us for an
#   acknowledgement and 260 us for a resolution, against 130, 156 and 213 us with the trigger and 156, 151 and
#   162 us without either (medians of 9 interleaved rounds of 2,000 alerts, load 1.1-2.6; docs/receiver.md).
#   On SQLite, virtual generated columns (computed when read; its ALTER TABLE cannot add stored ones).
# - each delivered trigger or escalation's alert priority, service and alertname (an alert's never change):
#   copied by a trigger when the job is delivered, so that pages are counted per group without a join.
_ACKNOWLEDGED = "acked_at IS NOT NULL AND (resolved_at IS NULL OR acked_at <= resolved_at)"
_SINCE_FIRST_SEEN = "CASE WHEN {at} > first_seen THEN {at} - first_seen ELSE 0.0 END"
# Duration histogram buckets, ascending with the duration: (below this many seconds, bucket width, first bucket
# number minus the first width multiple), so bucket = first + floor(duration / width). 1 s buckets below 10
# minutes, 10 s below 2 hours, 1 minute below a day, 10 minutes beyond: a few thousand buckets at most. Part of
# the schema from version 13 on: changing it is a migration.
DURATION_LADDER = ((600, 1, 0), (7200, 10, 540), (86400, 60, 1140), (None, 600, 2436))


def _bucket(duration: str, *, postgres: bool) -> str:
    """The histogram bucket of ``duration`` (seconds, >= 0). Rounded down with ``floor`` on PostgreSQL (where
    a cast rounds to nearest); a cast truncates on SQLite (>= 0: the same)."""

    def whole(x: str) -> str:
        return f"CAST(floor({x}) AS INTEGER)" if postgres else f"CAST({x} AS INTEGER)"

    steps = " ".join(
        f"WHEN {duration} < {below} THEN {first} + {whole(f'{duration} / {width}')}"
        for below, width, first in DURATION_LADDER[:-1]
    )
    _, width, first = DURATION_LADDER[-1]
    return f"CASE {steps} ELSE {first} + {whole(f'{duration} / {width}')} END"


def _fact_columns(postgres: bool) -> tuple[tuple[str, str, str], ...]:
    """(name, type, definition over acked_at, resolved_at and first_seen) of each alert fact."""
    acked, resolved = _SINCE_FIRST_SEEN.format(at="acked_at"), _SINCE_FIRST_SEEN.format(at="resolved_at")
    return (
        # AckState: 1 acknowledged, 2 resolved with nobody acknowledging, 3 firing unacknowledged
        ("ack_state", "SMALLINT", f"CASE WHEN {_ACKNOWLEDGED} THEN 1 WHEN resolved_at IS NOT NULL THEN 2 ELSE 3 END"),
        ("time_to_ack", "DOUBLE PRECISION", f"CASE WHEN {_ACKNOWLEDGED} THEN {acked} END"),
        ("time_to_resolve", "DOUBLE PRECISION", f"CASE WHEN resolved_at IS NOT NULL THEN {resolved} END"),
        ("ack_bucket", "INTEGER", f"CASE WHEN {_ACKNOWLEDGED} THEN {_bucket(acked, postgres=postgres)} END"),
        (
            "resolve_bucket",
            "INTEGER",
            f"CASE WHEN resolved_at IS NOT NULL THEN {_bucket(resolved, postgres=postgres)} END",
        ),
    )


def _alert_facts_pg() -> tuple[str, ...]:
    columns = _fact_columns(postgres=True)
    # The alert's columns under their own names, so that the trigger evaluates the same definitions.
    function = "\n".join(
        [
            "CREATE FUNCTION alerts_report_facts() RETURNS trigger LANGUAGE plpgsql AS $$",
            "DECLARE",
            "    acked_at DOUBLE PRECISION := NEW.acked_at;",
            "    resolved_at DOUBLE PRECISION := NEW.resolved_at;",
            "    first_seen DOUBLE PRECISION := NEW.first_seen;",
            "BEGIN",
            *(f"    NEW.{name} := {definition};" for name, _, definition in columns),
            "    RETURN NEW;",
            "END",
            "$$",
        ]
    )
    return (
        # The existing rows' facts: computed by one rewrite as generated columns, which then become plain ones.
        "ALTER TABLE alerts "
        + ", ".join(
            f"ADD COLUMN {name} {kind} GENERATED ALWAYS AS ({definition}) STORED" for name, kind, definition in columns
        ),
        "ALTER TABLE alerts " + ", ".join(f"ALTER COLUMN {name} DROP EXPRESSION" for name, _, _ in columns),
        "ALTER TABLE alerts ALTER COLUMN ack_state SET DEFAULT 3, ALTER COLUMN ack_state SET NOT NULL",
        function,
        # A new alert still firing has the defaults (firing unacknowledged, no durations): no call at all.
        "CREATE TRIGGER alerts_report_facts_inserted BEFORE INSERT ON alerts FOR EACH ROW"
        " WHEN (NEW.acked_at IS NOT NULL OR NEW.resolved_at IS NOT NULL) EXECUTE FUNCTION alerts_report_facts()",
        # Only the statements that write these columns fire it: not the "last seen" updates of repeated webhooks.
        "CREATE TRIGGER alerts_report_facts_updated BEFORE UPDATE OF first_seen, acked_at, resolved_at ON alerts"
        " FOR EACH ROW EXECUTE FUNCTION alerts_report_facts()",
    )


def _alert_facts(postgres: bool) -> tuple[str, ...]:
    if postgres:
        added = _alert_facts_pg()
    else:  # one column per statement
        added = tuple(
            f"ALTER TABLE alerts ADD COLUMN {name} {kind} GENERATED ALWAYS AS ({definition}) VIRTUAL"
            for name, kind, definition in _fact_columns(postgres=False)
        )
    # On PostgreSQL the duration indexes also hold the window's and the groups' columns: the time-to-acknowledge
    # histogram and the durations at a percentile's rank are index-only reads.
    included = " INCLUDE (first_seen, priority, service, alertname)" if postgres else ""
    return (
        # Buckets replace the expression indexes of version 9 (dropped first: the rewrite would rebuild them).
        "DROP INDEX alerts_time_to_ack",
        "DROP INDEX alerts_time_to_resolve",
        *added,
        f"CREATE INDEX alerts_time_to_ack ON alerts (ack_bucket, time_to_ack){included} WHERE ack_bucket IS NOT NULL",
        f"CREATE INDEX alerts_time_to_resolve ON alerts (resolve_bucket, time_to_resolve){included}"
        " WHERE resolve_bucket IS NOT NULL",
    )


# Pages carry their alert's group (priority, service, alertname): the delivered triggers and escalations in the
# outbox. Re-fires (the "refired" timeline entries) carry it too, and the fingerprint (flapping is per
# fingerprint). Copied from the alert, whose own never change.
_GROUP_COLUMNS = (
    "ALTER TABLE outbox ADD COLUMN priority TEXT",
    "ALTER TABLE outbox ADD COLUMN service TEXT",
    "ALTER TABLE outbox ADD COLUMN alertname TEXT",
    "ALTER TABLE timeline ADD COLUMN fingerprint TEXT",
    "ALTER TABLE timeline ADD COLUMN priority TEXT",
    "ALTER TABLE timeline ADD COLUMN service TEXT",
    "ALTER TABLE timeline ADD COLUMN alertname TEXT",
)
# What was written before this version; from then on the triggers copy them.
_GROUP_BACKFILL = (
    """UPDATE outbox SET priority = a.priority, service = a.service, alertname = a.alertname
FROM alerts a
WHERE a.id = outbox.alert_id AND outbox.state = 'delivered' AND outbox.action IN ('trigger', 'escalate')""",
    """UPDATE timeline SET fingerprint = a.fingerprint, priority = a.priority, service = a.service,
    alertname = a.alertname
FROM alerts a WHERE a.id = timeline.alert_id AND timeline.kind = 'refired'""",
)
_GROUP_FACTS_PG = (
    *_GROUP_COLUMNS,
    # The indexes of pages and re-fires hold them too (index-only reads per group): rebuilt after the copy rather
    # than updated row by row.
    "DROP INDEX outbox_notified",
    "DROP INDEX timeline_refired",
    *_GROUP_BACKFILL,
    "CREATE INDEX outbox_notified ON outbox (channel, delivered_at) INCLUDE (alert_id, priority, service, alertname)"
    " WHERE state = 'delivered' AND action IN ('trigger', 'escalate')",
    "CREATE INDEX timeline_refired ON timeline (at, alert_id) INCLUDE (fingerprint, priority, service, alertname)"
    " WHERE kind = 'refired'",
    """CREATE FUNCTION outbox_alert_group() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT priority, service, alertname INTO NEW.priority, NEW.service, NEW.alertname
    FROM alerts WHERE id = NEW.alert_id;
    RETURN NEW;
END
$$""",
    """CREATE FUNCTION timeline_alert_group() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT fingerprint, priority, service, alertname INTO NEW.fingerprint, NEW.priority, NEW.service, NEW.alertname
    FROM alerts WHERE id = NEW.alert_id;
    RETURN NEW;
END
$$""",
    "CREATE TRIGGER outbox_alert_group BEFORE UPDATE OF state ON outbox FOR EACH ROW"
    " WHEN (NEW.state = 'delivered' AND NEW.action IN ('trigger', 'escalate')) EXECUTE FUNCTION outbox_alert_group()",
    "CREATE TRIGGER timeline_alert_group BEFORE INSERT ON timeline FOR EACH ROW WHEN (NEW.kind = 'refired')"
    " EXECUTE FUNCTION timeline_alert_group()",
)
_GROUP_FACTS_SQLITE = (  # its indexes of version 9 stay
    *_GROUP_COLUMNS,
    *_GROUP_BACKFILL,
    """CREATE TRIGGER outbox_alert_group AFTER UPDATE OF state ON outbox FOR EACH ROW
WHEN NEW.state = 'delivered' AND NEW.action IN ('trigger', 'escalate')
BEGIN
    UPDATE outbox SET (priority, service, alertname) = (
        SELECT priority, service, alertname FROM alerts WHERE id = NEW.alert_id
    ) WHERE id = NEW.id;
END""",
    """CREATE TRIGGER timeline_alert_group AFTER INSERT ON timeline FOR EACH ROW WHEN NEW.kind = 'refired'
BEGIN
    UPDATE timeline SET (fingerprint, priority, service, alertname) = (
        SELECT fingerprint, priority, service, alertname FROM alerts WHERE id = NEW.alert_id
    ) WHERE id = NEW.id;
END""",
)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "alerts, timeline and the notification outbox",
        (
            """CREATE TABLE alerts (
                id {id},
                fingerprint TEXT NOT NULL,
                starts_at DOUBLE PRECISION NOT NULL,
                alertname TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
                priority TEXT NOT NULL,
                priority_defaulted BOOLEAN NOT NULL,
                service TEXT NOT NULL,
                labels TEXT NOT NULL,
                annotations TEXT NOT NULL,
                content_hash TEXT NOT NULL,
                generator_url TEXT NOT NULL,
                first_seen DOUBLE PRECISION NOT NULL,
                last_seen DOUBLE PRECISION NOT NULL,
                resolved_at DOUBLE PRECISION,
                acked_at DOUBLE PRECISION,
                acked_by TEXT,
                escalate_at DOUBLE PRECISION,
                escalations INTEGER NOT NULL DEFAULT 0,
                UNIQUE (fingerprint, starts_at)
            )""",
            "CREATE INDEX alerts_first_seen ON alerts (first_seen)",
            "CREATE INDEX alerts_escalate_at ON alerts (escalate_at) WHERE status = 'firing' AND acked_at IS NULL",
            """CREATE TABLE timeline (
                id {id},
                alert_id BIGINT NOT NULL REFERENCES alerts (id),
                at DOUBLE PRECISION NOT NULL,
                kind TEXT NOT NULL,
                channel TEXT,
                actor TEXT,
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX timeline_alert ON timeline (alert_id, id)",
            """CREATE TABLE outbox (
                id {id},
                alert_id BIGINT NOT NULL REFERENCES alerts (id),
                channel TEXT NOT NULL,
                action TEXT NOT NULL CHECK (action IN ('trigger', 'resolve', 'escalate')),
                state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'dead')),
                attempts INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                fallback BOOLEAN NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                next_attempt_at DOUBLE PRECISION NOT NULL,
                lease_until DOUBLE PRECISION,
                delivered_at DOUBLE PRECISION,
                last_error TEXT
            )""",
            "CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state IN ('pending', 'sending')",
            "CREATE INDEX outbox_alert_channel ON outbox (alert_id, channel, id)",
        ),
    ),
    Migration(
        2,
        "outbox jobs may acknowledge (PagerDuty acknowledge when an alert is acknowledged here)",
        (),
        postgresql=(
            "ALTER TABLE outbox DROP CONSTRAINT outbox_action_check",
            "ALTER TABLE outbox ADD CONSTRAINT outbox_action_check "
            "CHECK (action IN ('trigger', 'resolve', 'escalate', 'acknowledge'))",
        ),
        sqlite=(  # SQLite cannot alter a CHECK constraint: rebuild the table
            "ALTER TABLE outbox RENAME TO outbox_v1",
            _OUTBOX_V2,
            "INSERT INTO outbox SELECT * FROM outbox_v1",
            "DROP TABLE outbox_v1",
            *_OUTBOX_INDEXES,
        ),
    ),
    Migration(
        3,
        "dead man's switch: the last Watchdog and the open silence episode (one row, claimed atomically)",
        (
            """CREATE TABLE deadmans_switch (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                last_seen DOUBLE PRECISION,
                episode_alert_id BIGINT REFERENCES alerts (id)
            )""",
            "INSERT INTO deadmans_switch (id) VALUES (1)",
        ),
    ),
    Migration(
        4,
        "the domain-event outbox: events written in the alert's transaction, relayed to Kafka and the event store",
        (
            """CREATE TABLE domain_event_outbox (
                seq {id},
                id TEXT NOT NULL UNIQUE,
                type TEXT NOT NULL,
                aggregate TEXT NOT NULL,
                event TEXT NOT NULL,
                traceparent TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                published_at DOUBLE PRECISION,
                stored_at DOUBLE PRECISION,
                claimed_by TEXT,
                lease_until DOUBLE PRECISION,
                attempts INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX domain_event_outbox_unpublished ON domain_event_outbox (seq) WHERE published_at IS NULL",
            "CREATE INDEX domain_event_outbox_unstored ON domain_event_outbox (seq) WHERE stored_at IS NULL",
            "CREATE INDEX domain_event_outbox_created ON domain_event_outbox (created_at)",
        ),
    ),
    Migration(
        TRACEPARENT_SCHEMA,
        "outbox jobs keep the W3C traceparent of what queued them (the delivery span's parent)",
        ("ALTER TABLE outbox ADD COLUMN traceparent TEXT",),
    ),
    Migration(
        6,
        "API keys (hashed secrets, roles) and the append-only audit log",
        (
            """CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
                hash TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                revoked_at DOUBLE PRECISION
            )""",
            """CREATE TABLE audit_log (
                id {id},
                at DOUBLE PRECISION NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                source TEXT NOT NULL,
                outcome TEXT NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX audit_log_at ON audit_log (at)",
        ),
        postgresql=(
            _AUDIT_GUARD_PG,
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_guard()",
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_guard()",
            _AUDIT_PURGE_PG,
        ),
        sqlite=(
            # SQLite has no session settings: the purge writes its cutoff here inside its own
            # (single-writer) transaction and removes it before commit.
            "CREATE TABLE audit_purge_window (before DOUBLE PRECISION NOT NULL)",
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "WHEN OLD.at >= COALESCE((SELECT MIN(before) FROM audit_purge_window), -1e308) "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
        ),
    ),
    Migration(
        ACK_LINKS_SCHEMA,
        "one-click acknowledge links: the id of each link used, so that a link acknowledges once",
        (
            # No foreign key to alerts: the retention purges this table by its own time column.
            """CREATE TABLE ack_links_used (
                token_id TEXT PRIMARY KEY,
                alert_id BIGINT NOT NULL,
                used_at DOUBLE PRECISION NOT NULL,
                used_by TEXT NOT NULL
            )""",
            "CREATE INDEX ack_links_used_at ON ack_links_used (used_at)",
        ),
    ),
    Migration(
        9,
        "alert-quality reports: pages by channel and delivery time, durations by length, re-fires as their own entries",
        (
            # Pages: delivered notifications by channel, then delivery time.
            "CREATE INDEX outbox_notified ON outbox (channel, delivered_at, alert_id) "
            "WHERE state = 'delivered' AND action IN ('trigger', 'escalate')",
            # The durations at a percentile's rank: alerts by time to acknowledge and to resolve.
            "CREATE INDEX alerts_time_to_ack ON alerts ((acked_at - first_seen)) WHERE acked_at IS NOT NULL",
            "CREATE INDEX alerts_time_to_resolve ON alerts ((resolved_at - first_seen)) WHERE resolved_at IS NOT NULL",
            "CREATE INDEX timeline_refired ON timeline (at, alert_id) WHERE kind = 'refired'",
            _REFIRES_BACKFILL,
        ),
    ),
    Migration(
        INCIDENT_SCHEMA,
        "incidents: alerts grouped along the platform's dependency graph, paged once per incident",
        (
            """CREATE TABLE incidents (
                id {id},
                page_key TEXT NOT NULL UNIQUE,
                component TEXT NOT NULL,
                part TEXT,
                title TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'merged')),
                priority TEXT NOT NULL,
                cause_alert_id BIGINT NOT NULL,
                merged_into BIGINT REFERENCES incidents (id),
                opened_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                resolved_at DOUBLE PRECISION,
                acked_at DOUBLE PRECISION,
                acked_by TEXT,
                escalate_at DOUBLE PRECISION,
                escalations INTEGER NOT NULL DEFAULT 0,
                reopened INTEGER NOT NULL DEFAULT 0,
                channels TEXT NOT NULL DEFAULT ''
            )""",
            "CREATE INDEX incidents_component ON incidents (component, status)",
            "CREATE INDEX incidents_opened_at ON incidents (opened_at)",
            "CREATE INDEX incidents_escalate_at ON incidents (escalate_at) WHERE status = 'open' AND acked_at IS NULL",
            "CREATE INDEX incidents_merged_into ON incidents (merged_into) WHERE merged_into IS NOT NULL",
            """CREATE TABLE incident_timeline (
                id {id},
                incident_id BIGINT NOT NULL REFERENCES incidents (id),
                at DOUBLE PRECISION NOT NULL,
                kind TEXT NOT NULL,
                alert_id BIGINT,
                channel TEXT,
                actor TEXT,
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX incident_timeline_incident ON incident_timeline (incident_id, id)",
            "ALTER TABLE alerts ADD COLUMN incident_id BIGINT REFERENCES incidents (id)",
            "ALTER TABLE alerts ADD COLUMN part TEXT",
            # an incident's alerts that the rules look at: firing, or resolved lately
            "CREATE INDEX alerts_incident ON alerts (incident_id, status, last_seen) WHERE incident_id IS NOT NULL",
            "ALTER TABLE outbox ADD COLUMN incident_id BIGINT REFERENCES incidents (id)",
            "CREATE INDEX outbox_incident_channel ON outbox (incident_id, channel, id) WHERE incident_id IS NOT NULL",
        ),
    ),
    Migration(
        12,
        "outbox jobs may be an incident's follow-up message (update)",
        (),
        postgresql=(
            "ALTER TABLE outbox DROP CONSTRAINT outbox_action_check",
            "ALTER TABLE outbox ADD CONSTRAINT outbox_action_check "
            "CHECK (action IN ('trigger', 'resolve', 'escalate', 'acknowledge', 'update'))",
        ),
        sqlite=(
            SqliteRebuild(
                "outbox",
                "CHECK (action IN ('trigger', 'resolve', 'escalate', 'acknowledge'))",
                "CHECK (action IN ('trigger', 'resolve', 'escalate', 'acknowledge', 'update'))",
            ),
        ),
    ),
    Migration(
        REPORT_FACTS_SCHEMA,
        "alert-quality reports from facts the database keeps with the rows: each alert's acknowledgement state,"
        " durations and their histogram buckets; each delivered notification's alert priority, service and alertname",
        (),
        postgresql=_alert_facts(postgres=True) + _GROUP_FACTS_PG,
        sqlite=_alert_facts(postgres=False) + _GROUP_FACTS_SQLITE,
    ),
    Migration(
        DEFERRED_EVENTS_SCHEMA,
        "alert events recorded by reference (their alert and instant) and built from the alert's row when relayed",
        (
            "ALTER TABLE domain_event_outbox ADD COLUMN alert_id BIGINT",
            "ALTER TABLE domain_event_outbox ADD COLUMN at DOUBLE PRECISION",  # an AlertResolved's instant
            # the alert's labels and annotations as they were, kept when they change before its events are built
            "ALTER TABLE domain_event_outbox ADD COLUMN labels TEXT",
            "ALTER TABLE domain_event_outbox ADD COLUMN annotations TEXT",
            "CREATE INDEX domain_event_outbox_deferred ON domain_event_outbox (alert_id) WHERE event IS NULL",
        ),
        postgresql=(
            "ALTER TABLE domain_event_outbox ALTER COLUMN event DROP NOT NULL",
            "ALTER TABLE domain_event_outbox ADD CONSTRAINT domain_event_outbox_event_or_alert "
            f"CHECK {_EVENT_OR_ALERT}",
        ),
        sqlite=(SqliteRebuild("domain_event_outbox", "event TEXT NOT NULL", f"event TEXT CHECK {_EVENT_OR_ALERT}"),),
    ),
)
