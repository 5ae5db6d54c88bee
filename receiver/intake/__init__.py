"""Intake: admission, the Alertmanager payload model, and turning a webhook into observations."""
