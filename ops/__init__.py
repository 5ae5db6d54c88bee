"""The operations layer: the `monitoring` command and everything it runs for an operator."""
