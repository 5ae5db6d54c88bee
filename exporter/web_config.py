"""The exporter's web configuration, in Prometheus's ``--web.config.file`` format (exporter-toolkit).

The same file an operator writes for node-exporter or Prometheus itself works here::

    tls_server_config:
      cert_file: /etc/monitoring/exporter.crt
      key_file: /etc/monitoring/exporter.key
    basic_auth_users:
      prometheus: $2b$12$...   # bcrypt hash (htpasswd -nBC 12 "" or python -c 'import bcrypt; ...')

``/metrics`` then needs one of the users' passwords; ``/healthz`` and ``/readyz`` stay open for
probes. Checking a bcrypt hash costs tens of milliseconds, so a successful (user, password) pair is
remembered by its SHA-256 digest, as exporter-toolkit does; an unknown user is checked against a
dummy hash, so that it costs the same as a wrong password.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from wsgiref.types import StartResponse, WSGIEnvironment

import bcrypt
import yaml

from monitoring.settings import ConfigError

TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version"}
MIN_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
CLIENT_AUTH = {"NoClientCert": ssl.CERT_NONE, "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
_DUMMY_HASH = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=10))


@dataclass(frozen=True)
class WebConfig:
    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    client_auth: ssl.VerifyMode = ssl.CERT_NONE
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = self.min_version
        assert self.cert_file is not None and self.key_file is not None  # noqa: PT018 - checked by load
        context.load_cert_chain(self.cert_file, self.key_file)
        if self.client_auth != ssl.CERT_NONE and self.client_ca_file is not None:
            context.load_verify_locations(self.client_ca_file)
        context.verify_mode = self.client_auth
        return context


def load_web_config(path: Path) -> WebConfig:
    """Parse and check the file; ``ConfigError`` names the file and the field."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read web configuration: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    unknown = set(document) - {"tls_server_config", "basic_auth_users", "http_server_config"}
    if unknown:
        raise ConfigError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    tls = document.get("tls_server_config") or {}
    users = document.get("basic_auth_users") or {}
    if not isinstance(tls, dict) or set(tls) - TLS_KEYS:
        raise ConfigError(f"{path}: tls_server_config: expected a mapping with keys {', '.join(sorted(TLS_KEYS))}")
    if not isinstance(users, dict) or not all(isinstance(u, str) and isinstance(h, str) for u, h in users.items()):
        raise ConfigError(f"{path}: basic_auth_users: expected a mapping of user names to bcrypt hashes")
    for user, hashed in users.items():
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(f"{path}: basic_auth_users.{user}: expected a bcrypt hash ($2b$...)")
    if bool(tls.get("cert_file")) != bool(tls.get("key_file")):
        raise ConfigError(f"{path}: tls_server_config: cert_file and key_file go together")
    client_auth = str(tls.get("client_auth_type", "NoClientCert"))
    if client_auth not in CLIENT_AUTH:
        raise ConfigError(f"{path}: tls_server_config.client_auth_type: expected {' or '.join(CLIENT_AUTH)}")
    min_version = str(tls.get("min_version", "TLS12"))
    if min_version not in MIN_VERSIONS:
        raise ConfigError(f"{path}: tls_server_config.min_version: expected {' or '.join(MIN_VERSIONS)}")
    base = path.parent
    config = WebConfig(
        cert_file=base / tls["cert_file"] if tls.get("cert_file") else None,
        key_file=base / tls["key_file"] if tls.get("key_file") else None,
        client_ca_file=base / tls["client_ca_file"] if tls.get("client_ca_file") else None,
        client_auth=CLIENT_AUTH[client_auth],
        min_version=MIN_VERSIONS[min_version],
        users={u: h.encode() for u, h in users.items()},
    )
    if config.tls:
        try:
            config.server_context()
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{path}: tls_server_config: cannot load the certificate and key: {exc}") from None
    return config


class BasicAuth:
    """Checks ``Authorization: Basic`` against bcrypt hashes; remembers pairs that matched."""

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self._good: set[bytes] = set()
        self._lock = threading.Lock()

    def allows(self, header: str | None) -> bool:
        if not header or not header.lower().startswith("basic "):
            return False
        try:
            user, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        hashed = self._users.get(user)
        digest = hashlib.sha256(f"{user}\0{password}\0".encode() + (hashed or b"")).digest()
        with self._lock:
            if any(hmac.compare_digest(digest, good) for good in self._good):
                return True
        matched = bcrypt.checkpw(password.encode(), hashed or _DUMMY_HASH) and hashed is not None
        if matched:
            with self._lock:
                self._good.add(digest)
        return matched


def protect_metrics(app: Callable[..., Iterable[bytes]], users: Mapping[str, bytes]) -> Callable[..., Iterable[bytes]]:
    """``/metrics`` answers 401 without one of ``users``' passwords; other paths are unchanged."""
    auth = BasicAuth(users)

    def protected(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/metrics" and not auth.allows(environ.get("HTTP_AUTHORIZATION")):
            body = b"Unauthorized\n"
            start_response(
                "401 Unauthorized",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("WWW-Authenticate", 'Basic realm="exporter"'),
                ],
            )
            return [body]
        return app(environ, start_response)

    return protected
