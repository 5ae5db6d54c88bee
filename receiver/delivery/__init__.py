"""Delivery: the outbox worker, channels, message rendering, egress guard, dead man's switch, escalation."""
