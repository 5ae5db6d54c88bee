"""API keys: ``<id>.<secret>`` bearer credentials with a role, stored hashed.

The secret is 256 random bits (``secrets.token_urlsafe(32)``). A key that strong cannot be guessed
or looked up in a precomputed table, so a slow password hash (scrypt, bcrypt) would only add tens
of milliseconds of CPU to every API request without adding protection: the stored form is
``sha256$<salt>$<hex digest of salt + secret>``, with a per-key random salt so that two stores never
share a digest. Digests are compared with ``hmac.compare_digest``; an unknown id is compared
against a dummy digest, so that unknown ids and wrong secrets take the same path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from receiver.store import audit
from receiver.store.audit import SqlAuditLog
from receiver.store.database import PostgresDatabase, SqliteDatabase


class Role(StrEnum):
    VIEWER = "viewer"  # read alerts, events
    OPERATOR = "operator"  # and acknowledge, resend
    ADMIN = "admin"  # and manage keys, reload configuration, read the audit log

    @property
    def rank(self) -> int:
        return ROLE_ORDER.index(self)

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


ROLE_ORDER = (Role.VIEWER, Role.OPERATOR, Role.ADMIN)


class KeyNotFound(Exception):
    """No active key has this id."""


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: Role
    created_at: float
    revoked_at: float | None


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    token: str  # ``<id>.<secret>``: shown once, never stored


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}{secret}".encode()).hexdigest()


def hash_secret(secret: str) -> str:
    salt = secrets.token_hex(16)
    return f"sha256${salt}${_digest(salt, secret)}"


def secret_matches(stored: str, secret: str) -> bool:
    scheme, _, rest = stored.partition("$")
    salt, _, expected = rest.partition("$")
    candidate = _digest(salt, secret)
    return hmac.compare_digest(candidate, expected) and scheme == "sha256"


_DUMMY_HASH = hash_secret(secrets.token_urlsafe(32))  # compared against when the id is unknown


def split_token(token: str) -> tuple[str, str]:
    key_id, _, secret = token.strip().partition(".")
    return key_id, secret


class SqlKeyStore:
    """API keys in the alert-history database (schema version 6); changes are audit-logged in their transaction."""

    def __init__(
        self, database: PostgresDatabase | SqliteDatabase, audit_log: SqlAuditLog, clock: Callable[[], float]
    ) -> None:
        self._db = database
        self._audit = audit_log
        self._clock = clock
        self._postgres = isinstance(database, PostgresDatabase)

    def _sql(self, text: str) -> str:
        return text if self._postgres else text.replace("%s", "?")

    def create(self, name: str, role: Role, actor: str, source: str) -> CreatedKey:
        if not name.strip():
            raise ValueError("name: expected a non-empty string")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        key = ApiKey(key_id, name.strip()[:200], role, now, None)
        with self._db.connect() as conn:
            conn.execute(
                self._sql("INSERT INTO api_keys (id, name, role, hash, created_at) VALUES (%s, %s, %s, %s, %s)"),
                (key.id, key.name, role.value, hash_secret(secret), now),
            )
            self._audit.write(conn, actor, audit.KEY_CREATE, f"key:{key_id}", source, audit.SUCCESS, role.value)
        return CreatedKey(key, f"{key_id}.{secret}")

    def revoke(self, key_id: str, actor: str, source: str) -> ApiKey:
        conn: Any
        with self._db.connect() as conn:
            row = conn.execute(
                self._sql(
                    "UPDATE api_keys SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL "
                    "RETURNING id, name, role, created_at, revoked_at"
                ),
                (self._clock(), key_id),
            ).fetchone()
            if row is None:
                raise KeyNotFound(key_id)
            self._audit.write(conn, actor, audit.KEY_REVOKE, f"key:{key_id}", source, audit.SUCCESS)
        return _key(row)

    def list_keys(self) -> list[ApiKey]:
        conn: Any
        with self._db.connect() as conn:
            rows = conn.execute("SELECT id, name, role, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
            return [_key(r) for r in rows.fetchall()]

    def verify(self, token: str) -> ApiKey | None:
        """The active key this token proves, or None: the same work whether the id is unknown or the secret wrong."""
        key_id, secret = split_token(token)
        conn: Any
        with self._db.connect() as conn:
            row = conn.execute(
                self._sql(
                    "SELECT id, name, role, created_at, revoked_at, hash FROM api_keys "
                    "WHERE id = %s AND revoked_at IS NULL"
                ),
                (key_id,),
            ).fetchone()
        matches = secret_matches(_DUMMY_HASH if row is None else str(row[5]), secret)
        return _key(row) if row is not None and matches else None


def _key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(str(row[0]), str(row[1]), Role(row[2]), float(row[3]), None if row[4] is None else float(row[4]))
