"""The HTTP side: metrics, health, and the on-call API."""
