"""What channels are given to word a notification: its ``Message`` (facts and links) and the
message templates. One ``Composer`` per process, built from the configuration."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from receiver.config.settings import NotificationConfig
from receiver.delivery import message, templates
from receiver.delivery.ack_links import AckLinks
from receiver.delivery.links import Link, LinkBuilder
from receiver.delivery.message import Message
from receiver.delivery.notification import Notification
from receiver.delivery.templates import MessageTemplates
from receiver.store.history import AlertRecord


class Composer:
    def __init__(self, links: LinkBuilder, message_templates: MessageTemplates) -> None:
        self._links = links
        self._templates = message_templates

    @property
    def ack_links(self) -> AckLinks | None:
        """Makes and checks acknowledge links; None without a signing key (RECEIVER_ACK_SECRET)."""
        return self._links.ack_links

    def message(self, n: Notification) -> Message:
        """The notification's facts, its links (a fresh acknowledge link each time) and its title."""
        facts = message.facts(n, self._links.links(n))
        return dataclasses.replace(facts, title=message.title_line(self.render(templates.TITLE, facts)))

    def references(self, alert: AlertRecord) -> tuple[Link, ...]:
        """The alert's runbook, dashboard and graph links (the console's alert page shows them)."""
        return self._links.references(alert)

    def render(self, name: str, m: Message) -> str:
        return self._templates.render(name, m)


def build_composer(
    config: NotificationConfig, clock: Callable[[], float], on_template_error: Callable[[str], None] | None = None
) -> Composer:
    """Links from the configuration (acknowledge links only with RECEIVER_ACK_SECRET) and the templates
    (overrides from RECEIVER_TEMPLATE_DIR; ``ConfigError`` names a bad one's file and line)."""
    ack = None if config.ack_secret is None else AckLinks(config.ack_secret.reveal(), config.ack_link_ttl, clock)
    return Composer(LinkBuilder(config, ack), MessageTemplates(config.template_dir, on_template_error))


def default_composer() -> Composer:
    """No public URLs, no signing key, the packaged templates: what a channel says with no configuration."""
    return Composer(LinkBuilder(NotificationConfig()), MessageTemplates())
