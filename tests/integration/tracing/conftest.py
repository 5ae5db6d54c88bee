from tests.spans import memory_tracing

__all__ = ["memory_tracing"]
