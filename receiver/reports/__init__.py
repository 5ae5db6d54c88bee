"""Reports: alert quality from the history (pages, time to acknowledge and resolve, noise, flapping, out of hours)."""
