"""Notifications: the outbox (rows before mails), message building and the sender loop."""
