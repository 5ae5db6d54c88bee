"""The e-mail digest: low-priority alerts collected until the digest time, then sent as one message."""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

from receiver.delivery import message
from receiver.delivery.channels.email import EmailChannel
from receiver.delivery.notification import Notification


def compose_digest(notifications: Sequence[Notification], sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"Alert digest: {len(notifications)} notification{'s' if len(notifications) != 1 else ''}"
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail.set_content(message.digest_text(notifications))
    mail.add_alternative(message.digest_html(notifications), subtype="html")
    return mail


class EmailDigestChannel:
    name = "email_digest"

    def __init__(self, email: EmailChannel) -> None:
        self._email = email

    def send(self, notification: Notification) -> None:
        self.send_digest([notification])

    def send_digest(self, notifications: Sequence[Notification]) -> None:
        self._email.deliver(compose_digest(notifications, self._email.sender, self._email.recipients))
