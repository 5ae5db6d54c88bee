"""Why a backup or a restore stopped: each names the store, table or member and the reason."""

from __future__ import annotations


class BackupFailed(Exception):
    """A store could not be read or written; the message says which and why."""


class RestoreRefused(Exception):
    """The target already holds data and ``force`` was not given."""


class ArchiveMismatch(Exception):
    """The archive's members or the restored data disagree with its manifest."""
