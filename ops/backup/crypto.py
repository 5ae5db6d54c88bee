"""AES-256-GCM encryption of backup archives, streamed in authenticated chunks.

File format (all integers big-endian)::

    magic    8 bytes  b"MONBAK01"
    chunk*   flag (1 byte: 1 on the last chunk, else 0) | length (4 bytes, of the ciphertext)
             | nonce (12 random bytes) | ciphertext (plaintext + 16-byte GCM tag)

Every chunk holds at most ``CHUNK`` bytes of plaintext and is sealed with its own random
96-bit nonce. The associated data is ``magic + index (8 bytes) + flag``, so chunks cannot be
reordered, dropped or replayed, and a file cut short (no chunk flagged last) is rejected.

The key is 32 bytes: the content of ``BACKUP_KEY_FILE`` (32 raw bytes, or 64 hex digits or
base64 text), or ``BACKUP_KEY`` (hex or base64). A wrong key fails on the first chunk with
``WrongBackupKey`` ("backup key does not match").
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"MONBAK01"
CHUNK = 1 << 20
_HEADER = struct.Struct(">BI")
KEY_ENV = "BACKUP_KEY"
KEY_FILE_ENV = "BACKUP_KEY_FILE"


class BackupKeyError(Exception):
    """No usable key: the message says which variable and what was expected."""


class WrongBackupKey(Exception):
    """The key does not open this backup."""

    def __init__(self) -> None:
        super().__init__("backup key does not match (or the backup file was altered)")


class CorruptBackup(Exception):
    """The file is not a backup, or it is truncated or damaged."""


def decode_key(raw: bytes, source: str) -> bytes:
    """32 key bytes from raw bytes, 64 hex digits, or base64 text."""
    if len(raw) == 32:
        return raw
    text = raw.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            pass
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise BackupKeyError(f"{source}: expected a 32-byte key (32 raw bytes, 64 hex digits or base64)")
    return key


def key_from_environ(env: Mapping[str, str]) -> bytes:
    """The backup key from ``BACKUP_KEY_FILE`` (preferred) or ``BACKUP_KEY``."""
    path = env.get(KEY_FILE_ENV, "").strip()
    if path:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise BackupKeyError(f"{KEY_FILE_ENV}={path}: cannot read the key file: {exc.strerror}") from exc
        return decode_key(raw, KEY_FILE_ENV)
    value = env.get(KEY_ENV, "").strip()
    if value:
        return decode_key(value.encode(), KEY_ENV)
    raise BackupKeyError(f"set {KEY_FILE_ENV} (a file holding the key) or {KEY_ENV}; make one: openssl rand -hex 32")


def _aad(index: int, last: bool) -> bytes:
    return MAGIC + struct.pack(">QB", index, int(last))


class EncryptingWriter:
    """A write-only file object: plaintext in, encrypted chunks out to ``sink``. ``close`` seals."""

    def __init__(self, sink: BinaryIO, key: bytes) -> None:
        self._sink = sink
        self._aes = AESGCM(key)
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        sink.write(MAGIC)

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def _seal(self, plaintext: bytes, last: bool) -> None:
        nonce = os.urandom(12)
        sealed = self._aes.encrypt(nonce, plaintext, _aad(self._index, last))
        self._sink.write(_HEADER.pack(int(last), len(sealed)) + nonce + sealed)
        self._index += 1

    def close(self) -> None:
        if not self._closed:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._closed = True


class DecryptingReader:
    """A read-only file object over an encrypted backup; raises on a wrong key or damage."""

    def __init__(self, source: BinaryIO, key: bytes) -> None:
        self._source = source
        self._aes = AESGCM(key)
        self._buffer = bytearray()
        self._index = 0
        self._done = False
        if source.read(len(MAGIC)) != MAGIC:
            raise CorruptBackup("not a monitoring backup (bad magic)")

    def _next_chunk(self) -> None:
        header = self._source.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise CorruptBackup("backup is truncated")
        flag, length = _HEADER.unpack(header)
        nonce = self._source.read(12)
        sealed = self._source.read(length)
        if len(nonce) < 12 or len(sealed) < length:
            raise CorruptBackup("backup is truncated")
        try:
            self._buffer += self._aes.decrypt(nonce, sealed, _aad(self._index, bool(flag)))
        except InvalidTag:
            if self._index == 0:
                raise WrongBackupKey from None
            raise CorruptBackup(f"chunk {self._index} failed authentication") from None
        self._index += 1
        self._done = bool(flag)

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._next_chunk()
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out
