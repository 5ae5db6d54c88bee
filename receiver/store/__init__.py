"""Store: database connections and migrations, alert history, audit log, API keys, retention."""
