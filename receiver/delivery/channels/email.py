"""E-mail over SMTP with STARTTLS and authentication, as a text part (``email.txt.j2``) plus an
HTML part (``email.html.j2``, every value HTML-escaped), both with the links."""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from receiver.config.settings import SmtpConfig
from receiver.delivery.composer import Composer
from receiver.delivery.message import Message
from receiver.delivery.notification import DeliveryFailed, Notification
from receiver.delivery.templates import EMAIL_HTML, EMAIL_TEXT


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


def compose(
    n: Notification,
    m: Message,
    composer: Composer,
    sender: str,
    recipients: tuple[str, ...],
    now: float | None = None,
) -> EmailMessage:
    """The message (``m`` worded by the templates) with RFC 5322's Date and a Message-ID; a resolve,
    escalation or repeated trigger replies to the alert's first trigger (In-Reply-To, References),
    so a mail client shows one conversation per alert."""
    mail = EmailMessage()  # the default policy refuses CR/LF in header values
    domain = domain_of(sender)
    mail["Subject"] = m.title  # one line (message.title_line)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = format_datetime(datetime.fromtimestamp(time.time() if now is None else now, UTC))
    mail["Message-ID"] = message_id(n, n.job, domain)
    if n.thread is not None and n.thread != n.job:
        first = message_id(n, n.thread, domain)
        mail["In-Reply-To"] = first
        mail["References"] = first
    mail.set_content(composer.render(EMAIL_TEXT, m))
    mail.add_alternative(composer.render(EMAIL_HTML, m), subtype="html")
    return mail


class EmailChannel:
    name = "email"

    def __init__(
        self, config: SmtpConfig, timeout: float, composer: Composer, clock: Callable[[], float] = time.time
    ) -> None:
        self._config = config
        self._timeout = timeout
        self._composer = composer
        self.clock = clock
        self._tls = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)

    @property
    def sender(self) -> str:
        return self._config.sender

    @property
    def recipients(self) -> tuple[str, ...]:
        return self._config.recipients

    @property
    def composer(self) -> Composer:
        return self._composer

    def send(self, notification: Notification) -> None:
        m = self._composer.message(notification)
        config = self._config
        self.deliver(compose(notification, m, self._composer, config.sender, config.recipients, self.clock()))

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
