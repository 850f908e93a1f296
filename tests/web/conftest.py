"""The browser and the daemon the browser tests share."""

from .browser import browser
from .daemon_world import world

__all__ = ["browser", "world"]
