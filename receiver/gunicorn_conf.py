"""gunicorn settings for the receiver (``gunicorn -c python:receiver.gunicorn_conf``).

Bind address and worker count come from the receiver's configuration, so gunicorn and
the app agree on them; the rest are fixed production choices.
"""

from __future__ import annotations

import os

from receiver.config import ReceiverConfig

_config = ReceiverConfig.from_environ(os.environ)

bind = f"{_config.host}:{_config.shared.receiver_port}"
workers = _config.workers
worker_class = "sync"
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
