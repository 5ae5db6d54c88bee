"""Web: the app factory, HTTP API, admin API, console, events API, access control, error answers."""
