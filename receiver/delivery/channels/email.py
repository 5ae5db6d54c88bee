"""E-mail over SMTP with STARTTLS and authentication, as a text part plus an HTML part."""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from receiver.config.settings import SmtpConfig
from receiver.delivery import message
from receiver.delivery.notification import DeliveryFailed, Notification


def domain_of(sender: str) -> str:
    """The sender address's domain, for Message-IDs (RFC 5322: the right side identifies the sender)."""
    _, address = parseaddr(sender)
    return address.rpartition("@")[2] or "monitoring-receiver.invalid"


def message_id(n: Notification, job: int | None, domain: str) -> str:
    """The Message-ID of job ``job``'s message: the same on every retry of the job, so a mail sent twice
    (the server took it, the answer was lost) is recognisably one message; unique per alert and job."""
    if job is None:
        return make_msgid("alert", domain)
    return f"<alert-{n.alert.id}.{job}.{n.alert.fingerprint}@{domain}>"


def compose(n: Notification, sender: str, recipients: tuple[str, ...], now: float | None = None) -> EmailMessage:
    """The message with RFC 5322's Date and a Message-ID; a resolve, escalation or repeated trigger
    replies to the alert's first trigger (In-Reply-To, References), so a mail client shows one
    conversation per alert."""
    mail = EmailMessage()  # the default policy refuses CR/LF in header values
    domain = domain_of(sender)
    mail["Subject"] = message.title(n)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(datetime.fromtimestamp(time.time() if now is None else now, UTC))
    mail["Message-ID"] = message_id(n, n.job, domain)
    if n.thread is not None and n.thread != n.job:
        first = message_id(n, n.thread, domain)
        mail["In-Reply-To"] = first
        mail["References"] = first
    mail.set_content(message.text(n))
    mail.add_alternative(message.html_body(n), subtype="html")
    return mail


class EmailChannel:
    name = "email"

    def __init__(self, config: SmtpConfig, timeout: float, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._timeout = timeout
        self.clock = clock
        self._tls = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)

    @property
    def sender(self) -> str:
        return self._config.sender

    @property
    def recipients(self) -> tuple[str, ...]:
        return self._config.recipients

    def send(self, notification: Notification) -> None:
        self.deliver(compose(notification, self._config.sender, self._config.recipients, self.clock()))

    def deliver(self, mail: EmailMessage) -> None:
        config = self._config
        try:
            with smtplib.SMTP(config.host, config.port, timeout=self._timeout) as smtp:
                if config.starttls:
                    smtp.starttls(context=self._tls)
                if config.username is not None and config.password is not None:
                    smtp.login(config.username, config.password.reveal())
                smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            # 4xx replies are transient by definition (RFC 5321); 5xx are permanent.
            raise DeliveryFailed(f"email: SMTP {exc.smtp_code}", retryable=exc.smtp_code < 500) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryFailed("email: recipients refused", retryable=False) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"email: {type(exc).__name__}", retryable=True) from exc
