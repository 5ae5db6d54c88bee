"""The configured channels: one instance per channel whose destination the configuration names."""

from __future__ import annotations

import time

import requests

from receiver.config.settings import ChannelConfig
from receiver.delivery.channels.email import EmailChannel
from receiver.delivery.channels.email_digest import EmailDigestChannel
from receiver.delivery.channels.file import ConsoleChannel, FileChannel
from receiver.delivery.channels.pagerduty import PagerDutyChannel
from receiver.delivery.channels.slack import SlackChannel
from receiver.delivery.channels.sms import SmsChannel
from receiver.delivery.channels.webhook import WebhookChannel
from receiver.delivery.composer import Composer
from receiver.delivery.egress import GuardedChannel
from receiver.delivery.notification import Channel


def build_channels(config: ChannelConfig, timeout: float, composer: Composer) -> dict[str, Channel]:
    """Every channel whose destination is configured; the others are absent (and not routed to).
    HTTP channels check their destination against the egress allow-list before every send.
    ``composer`` words every notification (links, templates)."""
    session = requests.Session()
    channels: dict[str, Channel] = {}
    if config.slack_webhook_url is not None:
        url = config.slack_webhook_url.reveal()
        channels["slack"] = GuardedChannel(SlackChannel(url, session, timeout, composer), url, config.egress)
    if config.webhook_url is not None:
        url = config.webhook_url.reveal()
        channels["webhook"] = GuardedChannel(WebhookChannel(url, session, timeout, composer), url, config.egress)
    if config.pagerduty_routing_key is not None:
        pagerduty = PagerDutyChannel(
            config.pagerduty_routing_key.reveal(),
            config.pagerduty_events_url,
            timeout,
            composer,
            config.pagerduty_ca_file,
        )
        channels["pagerduty"] = GuardedChannel(pagerduty, config.pagerduty_events_url, config.egress)
    if config.sms is not None:
        sms = SmsChannel(config.sms, session, timeout, composer)
        channels["sms"] = GuardedChannel(sms, config.sms.api_url, config.egress)
    if config.smtp is not None:
        email = EmailChannel(config.smtp, timeout, composer)
        channels["email"] = email
        channels["email_digest"] = EmailDigestChannel(email)
    if config.file_path is not None:
        channels["file"] = FileChannel(config.file_path, time.time, composer)
    if config.console:
        channels["console"] = ConsoleChannel(composer)
    return channels
