"""The e-mail digest: low-priority alerts collected until the digest time, then sent as one message."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from receiver.delivery import message
from receiver.delivery.channels.email import EmailChannel, domain_of
from receiver.delivery.message import Message
from receiver.delivery.notification import Notification


def compose_digest(
    messages: Sequence[Message], sender: str, recipients: tuple[str, ...], now: float | None = None
) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"Alert digest: {len(messages)} notification{'s' if len(messages) != 1 else ''}"
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(datetime.fromtimestamp(time.time() if now is None else now, UTC))
    mail["Message-ID"] = make_msgid("digest", domain_of(sender))
    mail.set_content(message.digest_text(messages))
    mail.add_alternative(message.digest_html(messages), subtype="html")
    return mail


class EmailDigestChannel:
    name = "email_digest"

    def __init__(self, email: EmailChannel) -> None:
        self._email = email

    def send(self, notification: Notification) -> None:
        self.send_digest([notification])

    def send_digest(self, notifications: Sequence[Notification]) -> None:
        email = self._email
        messages = [email.composer.message(n) for n in notifications]
        email.deliver(compose_digest(messages, email.sender, email.recipients, email.clock()))
