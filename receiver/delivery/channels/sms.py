"""SMS through a Twilio-compatible REST API (``POST /2010-04-01/Accounts/{sid}/Messages.json``):
one line (``sms.txt.j2``) and the console link, within ``SMS_LIMIT`` characters."""

from __future__ import annotations

import requests

from receiver.config.settings import SmsConfig
from receiver.delivery import message
from receiver.delivery.channels import check_status
from receiver.delivery.composer import Composer
from receiver.delivery.links import CONSOLE
from receiver.delivery.message import Message
from receiver.delivery.notification import DeliveryFailed, Notification
from receiver.delivery.templates import SMS


def text(m: Message, composer: Composer) -> str:
    console = m.link(CONSOLE)
    return message.sms_line(composer.render(SMS, m), console.url if console else None)


class SmsChannel:
    name = "sms"

    def __init__(self, config: SmsConfig, session: requests.Session, timeout: float, composer: Composer) -> None:
        self._config = config
        self._url = f"{config.api_url.rstrip('/')}/2010-04-01/Accounts/{config.account_sid}/Messages.json"
        self._session = session
        self._timeout = timeout
        self._composer = composer

    def send(self, notification: Notification) -> None:
        body = text(self._composer.message(notification), self._composer)
        form = {"From": self._config.sender, "To": self._config.recipient, "Body": body}
        try:
            response = self._session.post(
                self._url,
                data=form,
                auth=(self._config.account_sid, self._config.auth_token.reveal()),
                timeout=self._timeout,
            )
        except requests.RequestException as exc:
            raise DeliveryFailed(f"sms: {type(exc).__name__}", retryable=True) from exc
        check_status(self.name, response.status_code, response.headers.get("Retry-After"))
