"""The HTTP side: metrics, health, and (with issue 5) the on-call API."""
