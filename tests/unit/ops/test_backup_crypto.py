"""The backup encryption format: AES-256-GCM chunks that a wrong key, truncation or reordering cannot pass."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest

from ops.backup.crypto import (
    CHUNK,
    MAGIC,
    BackupKeyError,
    CorruptBackup,
    DecryptingReader,
    EncryptingWriter,
    WrongBackupKey,
    key_from_environ,
)

KEY = bytes(range(32))


def encrypt(plaintext: bytes, key: bytes = KEY) -> bytes:
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, key)
    for start in range(0, len(plaintext), 70_000):  # writes of an odd size cross chunk boundaries
        writer.write(plaintext[start : start + 70_000])
    writer.close()
    return sink.getvalue()


def decrypt(ciphertext: bytes, key: bytes = KEY) -> bytes:
    return DecryptingReader(io.BytesIO(ciphertext), key).read()


def test_data_of_several_chunks_reads_back_exactly_and_is_not_in_the_clear() -> None:
    plaintext = os.urandom(100) + b"alert history " * 250_000  # ~3.5 MB: four chunks
    sealed = encrypt(plaintext)
    assert sealed.startswith(MAGIC)
    assert b"alert history" not in sealed
    assert len(plaintext) > 3 * CHUNK
    assert decrypt(sealed) == plaintext
    assert decrypt(encrypt(b"")) == b""


def test_a_wrong_key_fails_clearly() -> None:
    sealed = encrypt(b"secret rows")
    with pytest.raises(WrongBackupKey, match="backup key does not match"):
        decrypt(sealed, key=bytes(32))


def test_a_truncated_or_reordered_backup_is_rejected() -> None:
    sealed = encrypt(b"x" * (2 * CHUNK + 10))
    first_chunk_end = len(MAGIC) + 5 + 12 + CHUNK + 16
    with pytest.raises(CorruptBackup, match="truncated"):
        decrypt(sealed[:first_chunk_end])  # whole chunks, but none flagged last
    second_chunk = sealed[first_chunk_end : first_chunk_end + 5 + 12 + CHUNK + 16]
    swapped = (
        sealed[: len(MAGIC)]
        + second_chunk
        + sealed[len(MAGIC) : first_chunk_end]
        + sealed[first_chunk_end + len(second_chunk) :]
    )
    with pytest.raises((WrongBackupKey, CorruptBackup)):
        decrypt(swapped)
    with pytest.raises(CorruptBackup, match="bad magic"):
        decrypt(b"PK\x03\x04 not a backup")


def test_the_key_comes_from_a_file_or_the_environment_as_raw_hex_or_base64(tmp_path: Path) -> None:
    raw = tmp_path / "raw.key"
    raw.write_bytes(KEY)
    hexed = tmp_path / "hex.key"
    hexed.write_text(KEY.hex() + "\n")
    assert key_from_environ({"BACKUP_KEY_FILE": str(raw)}) == KEY
    assert key_from_environ({"BACKUP_KEY_FILE": str(hexed), "BACKUP_KEY": "ignored"}) == KEY
    assert key_from_environ({"BACKUP_KEY": base64.b64encode(KEY).decode()}) == KEY
    assert key_from_environ({"BACKUP_KEY": KEY.hex()}) == KEY


def test_a_missing_or_short_key_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(BackupKeyError, match="BACKUP_KEY_FILE"):
        key_from_environ({})
    with pytest.raises(BackupKeyError, match="BACKUP_KEY: expected a 32-byte key"):
        key_from_environ({"BACKUP_KEY": "c2hvcnQ="})
    with pytest.raises(BackupKeyError, match="cannot read"):
        key_from_environ({"BACKUP_KEY_FILE": str(tmp_path / "missing")})
