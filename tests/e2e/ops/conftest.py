from tests.e2e.receiver.conftest import sinks

__all__ = ["sinks"]  # the receiver's recording channel endpoints, for the HA pair test
