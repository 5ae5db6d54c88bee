"""gunicorn settings for the receiver (``gunicorn -c python:receiver.web.gunicorn_conf``).

Bind address and worker count come from the receiver's configuration, so gunicorn and
the app agree on them; the rest are fixed production choices.

The workers only serve HTTP. Delivery (the outbox senders, the domain-event relay, retention) runs
in a process of its own (``RECEIVER_DELIVERY=process``, receiver/delivery/process.py), owned by the
master through the hooks below: started when the master is ready, restarted when it dies, told
of a reload (SIGHUP) with the workers, and stopped, after the send in flight, when the master exits.

Metrics from several workers are summed with prometheus_client's multiprocess mode: the master
creates ``PROMETHEUS_MULTIPROC_DIR`` (unless set) before any worker imports prometheus_client.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

from receiver.config.settings import ReceiverConfig
from receiver.web.delivery_owner import DeliveryOwner

_config = ReceiverConfig.from_environ(os.environ)

bind = f"{_config.host}:{_config.shared.receiver_port}"
workers = _config.workers
# Threads, so that probes, scrapes and reads answer while webhooks are stored, and an overloaded
# worker refuses the excess with 503 at once (receiver/intake/admission.py) instead of leaving it in the
# listen backlog.
worker_class = "gthread"
threads = _config.threads
timeout = 30
graceful_timeout = 20
keepalive = 5
# Alertmanager posts small JSON bodies; refuse huge request lines and headers early.
limit_request_line = 8190
limit_request_fields = 100
accesslog = None
errorlog = "-"
loglevel = _config.shared.log_level
proc_name = "monitoring-receiver"
# HTTPS only when RECEIVER_TLS_CERT and RECEIVER_TLS_KEY are set; plain HTTP is then refused.
certfile = None if _config.tls_cert is None else str(_config.tls_cert)
keyfile = None if _config.tls_key is None else str(_config.tls_key)
_created_dirs: list[str] = []  # the master's own temporary metrics directory, removed on exit
_delivery = DeliveryOwner() if _config.delivery == "process" else None


def control_socket_path(config: ReceiverConfig, environ: Mapping[str, str]) -> str | None:
    """gunicorn's control socket for this instance (None: off). gunicorn's default is one path per
    user (``$XDG_RUNTIME_DIR/gunicorn.ctl``, else ``~/.gunicorn/gunicorn.ctl``), so two receivers on
    one host would share it; ``auto`` names it for the instance's port in the same directory."""
    if config.control_socket == "off":
        return None
    if config.control_socket != "auto":
        return config.control_socket
    runtime = environ.get("XDG_RUNTIME_DIR")
    folder = runtime if runtime and os.path.isdir(runtime) else os.path.join(os.path.expanduser("~"), ".gunicorn")
    return os.path.join(folder, f"monitoring-receiver-{config.shared.receiver_port}.ctl")


_control_socket = control_socket_path(_config, os.environ)
control_socket_disable = _control_socket is None
if _control_socket is not None:
    control_socket = _control_socket


def on_starting(server: Any) -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)  # stale files from a previous run would be summed in
        os.makedirs(path, exist_ok=True)
    else:
        created = tempfile.mkdtemp(prefix="receiver-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = created
        _created_dirs.append(created)
    # The app's modules, loaded once here (after the metrics directory is set: prometheus_client picks
    # its multiprocess values when imported) so that every worker forks with them and only builds its own
    # app (database pool, tracing; 0.14 s measured). Left to import them too (0.34-0.49 s alone, four at
    # once on two cores), the first worker up took every connection Alertmanager opened meanwhile and
    # kept them, one interpreter serving them all (docs/receiver.md, "Overload").
    importlib.import_module("receiver.web.app")


def when_ready(server: Any) -> None:
    if _delivery is not None:  # after on_starting: it inherits PROMETHEUS_MULTIPROC_DIR
        _delivery.start(server.log)


def on_reload(server: Any) -> None:
    if _delivery is not None:  # POST /api/v1/config/reload: the workers are replaced, delivery re-reads
        _delivery.reload()


def on_exit(server: Any) -> None:
    if _delivery is not None:
        _delivery.stop()  # waits for the send in flight; unsent jobs stay in the outbox
    for path in _created_dirs:
        shutil.rmtree(path, ignore_errors=True)


def worker_exit(server: Any, worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    if app is None:
        return
    domain_events = app.extensions.get("domain_events")
    if domain_events is not None:
        domain_events.close()  # the event store the events API reads
    database = app.extensions.get("database")
    if hasattr(database, "close"):
        database.close()
    tracing = app.extensions.get("tracing")
    if tracing is not None:
        tracing.shutdown()  # flush the worker's last spans


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
