"""Local channels for machines without paid services: a JSON-lines file and the console.

``file`` appends one JSON document per notification (the generic webhook's document, links
included, plus the send time) to a file; several gunicorn workers may share it, each line goes out
in a single ``O_APPEND`` write. ``console`` prints the notification's one-line title and its
console link to standard output.
``make run`` routes every priority to the file channel and prints what arrives there.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from receiver.delivery.channels.webhook import document
from receiver.delivery.composer import Composer
from receiver.delivery.links import CONSOLE
from receiver.delivery.notification import DeliveryFailed, Notification


class FileChannel:
    name = "file"

    def __init__(self, path: Path, clock: Callable[[], float], composer: Composer) -> None:
        self._path = path
        self._clock = clock
        self._composer = composer

    def send(self, notification: Notification) -> None:
        body = document(notification, self._composer.message(notification))
        line = json.dumps({"at": self._clock(), **body}, sort_keys=True) + "\n"
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise DeliveryFailed(f"file: {exc.strerror or type(exc).__name__}", retryable=True) from exc


class ConsoleChannel:
    name = "console"

    def __init__(self, composer: Composer, stream: TextIO | None = None) -> None:
        self._composer = composer
        self._stream = stream

    def send(self, notification: Notification) -> None:
        m = self._composer.message(notification)
        console = m.link(CONSOLE)
        stream = self._stream or sys.stdout
        try:
            print(
                f"NOTIFICATION {m.title} (alert {m.alert_id}){f' {console.url}' if console else ''}",
                file=stream,
                flush=True,
            )
        except OSError as exc:  # a closed or broken stdout
            raise DeliveryFailed(f"console: {exc.strerror or type(exc).__name__}", retryable=True) from exc
