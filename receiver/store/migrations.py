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

TRACEPARENT_SCHEMA = 5  # from this version on, outbox jobs store the traceparent they were queued in
INCIDENT_SCHEMA = 11  # from this version on, alerts and jobs may belong to an incident
ACK_LINKS_SCHEMA = 7  # from this version on, one-click acknowledge links are single-use

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
)
