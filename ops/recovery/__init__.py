"""The recovery procedure as commands: `monitoring status`, `verify` and `resend`."""
