"""The API and the console offer the same actions on an incident: those of
incidents/actions.py, each taken by a POST route of its own on both faces."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from outagewatch.api import incident_routes
from outagewatch.incidents.actions import ACTIONS
from outagewatch.web import console_routes
from outagewatch.web.session import PATH


def _posted_under(add_routes: Callable[[web.Application], None], prefix: str) -> set[str]:
    """The last part of every POST route under ``prefix`` that ``add_routes`` registers."""
    app = web.Application()
    add_routes(app)
    paths = [r.resource.canonical for r in app.router.routes() if r.resource and r.method == "POST"]
    return {path.removeprefix(prefix) for path in paths if path.startswith(prefix)}


def test_both_faces_offer_every_action_of_the_table_and_no_other() -> None:
    assert set(incident_routes.ACTION_ROUTES) == set(ACTIONS)
    assert set(console_routes.ACTION_FORMS) == set(ACTIONS)


def test_every_action_route_of_each_face_comes_from_the_table() -> None:
    api = _posted_under(incident_routes.add_routes, "/api/v1/incidents/{id}/")
    assert api == {path for path, _ in incident_routes.ACTION_ROUTES.values()}
    console = _posted_under(console_routes.add_routes, f"{PATH}/incidents/{{ref}}/")
    assert console == {taken.form for taken in console_routes.ACTION_FORMS.values()}
