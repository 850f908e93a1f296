"""The ``outagewatch`` command (``main``), the API client and its commands, and the demo."""

from outagewatch.cli.main import main

__all__ = ["main"]
