"""The e-mail digest: low-priority alerts collected until the digest time, then sent as one message."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

from receiver.delivery import message
from receiver.delivery.channels.email import EmailChannel
from receiver.delivery.message import Message
from receiver.delivery.notification import Notification


def compose_digest(messages: Sequence[Message], sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"Alert digest: {len(messages)} notification{'s' if len(messages) != 1 else ''}"
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
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
        messages = [self._email.composer.message(n) for n in notifications]
        self._email.deliver(compose_digest(messages, self._email.sender, self._email.recipients))
