"""E-mail over SMTP with STARTTLS and authentication, as a text part plus an HTML part."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from receiver.config.settings import SmtpConfig
from receiver.delivery import message
from receiver.delivery.notification import DeliveryFailed, Notification


def compose(n: Notification, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    mail = EmailMessage()  # the default policy refuses CR/LF in header values
    mail["Subject"] = message.title(n)
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail.set_content(message.text(n))
    mail.add_alternative(message.html_body(n), subtype="html")
    return mail


class EmailChannel:
    name = "email"

    def __init__(self, config: SmtpConfig, timeout: float) -> None:
        self._config = config
        self._timeout = timeout
        self._tls = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)

    @property
    def sender(self) -> str:
        return self._config.sender

    @property
    def recipients(self) -> tuple[str, ...]:
        return self._config.recipients

    def send(self, notification: Notification) -> None:
        self.deliver(compose(notification, self._config.sender, self._config.recipients))

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
