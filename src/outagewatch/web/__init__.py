"""The public status page and the on-call console, served on the API's aiohttp app
(DESIGN section 10): server-rendered, working without JavaScript; htmx only refreshes."""

from outagewatch.web.app import setup_web

__all__ = ["setup_web"]
