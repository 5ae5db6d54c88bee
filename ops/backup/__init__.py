"""`monitoring backup` and `monitoring restore`: an encrypted archive of every store."""
