"""The sinks (Slack, Twilio, PagerDuty over HTTPS) of the receiver's e2e tests, shared as they are."""

from tests.e2e.receiver.conftest import sinks

__all__ = ["sinks"]
