"""The operations layer: commands operators run against the stack, on top of every other package."""
