"""E-mail over SMTP with STARTTLS and authentication, as a text part (``email.txt.j2``) plus an
HTML part (``email.html.j2``, every value HTML-escaped), both with the links."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from receiver.config.settings import SmtpConfig
from receiver.delivery.composer import Composer
from receiver.delivery.message import Message
from receiver.delivery.notification import DeliveryFailed, Notification
from receiver.delivery.templates import EMAIL_HTML, EMAIL_TEXT


def compose(m: Message, composer: Composer, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    mail = EmailMessage()  # the default policy refuses CR/LF in header values
    mail["Subject"] = m.title  # one line (message.title_line)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail.set_content(composer.render(EMAIL_TEXT, m))
    mail.add_alternative(composer.render(EMAIL_HTML, m), subtype="html")
    return mail


class EmailChannel:
    name = "email"

    def __init__(self, config: SmtpConfig, timeout: float, composer: Composer) -> None:
        self._config = config
        self._timeout = timeout
        self._composer = composer
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
        self.deliver(compose(m, self._composer, self._config.sender, self._config.recipients))

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
