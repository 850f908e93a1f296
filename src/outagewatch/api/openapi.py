"""The OpenAPI 3.1 document, generated from the same pydantic models the handlers use."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from outagewatch import __version__
from outagewatch.api import openapi_hooks
from outagewatch.api import schemas as s

MODELS: list[type[BaseModel]] = [
    s.IncidentCreate,
    s.IncidentUpdate,
    s.Note,
    s.IncidentOut,
    s.IncidentDetail,
    s.IncidentList,
    s.NotificationList,
    s.ServiceList,
    s.Problem,
]
JSON, PROBLEM = "application/json", "application/problem+json"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _problems(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "The body is not JSON",
        401: "No valid bearer token",
        403: "The token's role is too small",
        404: "No such incident or maintenance",
        409: "The incident's state does not allow this",
        413: "The body is too large",
        422: "The body or query is invalid",
    }
    return {
        str(code): {"description": reasons[code], "content": {PROBLEM: {"schema": _ref(s.Problem)}}}
        for code in statuses
    }


def _operation(
    summary: str,
    response: type[BaseModel],
    *,
    status: int = 200,
    body: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (401, 403),
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {
            str(status): {"description": "OK", "content": {JSON: {"schema": _ref(response)}}},
            **_problems(*errors),
        },
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": _ref(body)}}}
    if params:
        op["parameters"] = params
    return op


INCIDENT_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The incident's number or its reference (OW-20261123-0007)",
    "schema": {"type": "string", "pattern": "^([0-9]+|OW-[0-9]{8}-[0-9]{4,})$"},
}
WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 422)


def _action(
    summary: str,
    body: type[BaseModel],
    result: type[BaseModel] = s.IncidentOut,
    key: dict[str, Any] = INCIDENT_ID,
) -> dict[str, Any]:
    return {"post": _operation(summary, result, body=body, errors=WRITE_ERRORS, params=[key])}


PAGE_PARAMS: list[dict[str, Any]] = [
    {
        "name": "limit",
        "in": "query",
        "description": "Items per page (default 100)",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
    {
        "name": "cursor",
        "in": "query",
        "description": "The next_cursor of the previous page",
        "schema": {"type": "string", "maxLength": 512},
    },
]

MAINTENANCE_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The window's number or its reference (MW-20261123-0001)",
    "schema": {"type": "string", "pattern": "^([0-9]+|MW-[0-9]{8}-[0-9]{4,})$"},
}


def _maintenance_paths() -> dict[str, Any]:
    state = {
        "name": "state",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["scheduled", "in_progress", "finished", "cancelled"]},
    }
    platform = {"name": "platform", "in": "query", "required": False, "schema": {"type": "string"}}
    return {
        "/api/v1/maintenances": {
            "get": _operation(
                "Maintenance windows",
                s.MaintenanceList,
                errors=(400, 401, 403, 422),
                params=[state, platform, *PAGE_PARAMS],
            ),
            "post": _operation(
                "Announce a window (planned: at least 3 business days ahead)",
                s.MaintenanceOut,
                status=201,
                body=s.MaintenanceCreate,
                errors=(400, 401, 403, 409, 413, 422),
            ),
        },
        "/api/v1/maintenances.ics": {
            "get": {
                "summary": "The windows as an iCalendar feed (RFC 5545)",
                "security": [{"bearer": []}],
                "parameters": [platform],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"text/calendar": {"schema": {"type": "string"}}},
                    },
                    **_problems(401, 403, 422),
                },
            }
        },
        "/api/v1/maintenances/{id}/finish": _action(
            "Finish with the outcome", s.MaintenanceFinish, s.MaintenanceOut, MAINTENANCE_ID
        ),
        "/api/v1/maintenances/{id}/extend": _action(
            "Extend to a later end", s.MaintenanceExtend, s.MaintenanceOut, MAINTENANCE_ID
        ),
        "/api/v1/maintenances/{id}/cancel": _action(
            "Cancel", s.Note, s.MaintenanceOut, MAINTENANCE_ID
        ),
    }


def document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(m, "validation") for m in MODELS], ref_template="#/components/schemas/{model}"
    )
    state = {
        "name": "state",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["open", "acknowledged", "restored", "closed"]},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "outagewatch",
            "version": __version__,
            "description": "Incidents of the monitored e-mail platforms, for on-call engineers.",
        },
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                **openapi_hooks.SECURITY,
            },
        },
        "paths": {
            "/api/v1/services": {
                "get": _operation(
                    "Services and their state, a page at a time",
                    s.ServiceList,
                    errors=(400, 401, 403),
                    params=PAGE_PARAMS,
                )
            },
            "/api/v1/incidents": {
                "get": _operation(
                    "Incidents, newest first, a page at a time",
                    s.IncidentList,
                    errors=(400, 401, 403, 422),
                    params=[state, *PAGE_PARAMS],
                ),
                "post": _operation(
                    "Report an incident (ticket process)",
                    s.IncidentOut,
                    status=201,
                    body=s.IncidentCreate,
                    errors=(400, 401, 403, 409, 413, 422),
                ),
            },
            "/api/v1/incidents/{id}": {
                "get": _operation(
                    "One incident with its timeline and mails",
                    s.IncidentDetail,
                    errors=(401, 403, 404),
                    params=[INCIDENT_ID],
                )
            },
            "/api/v1/incidents/{id}/notifications": {
                "get": _operation(
                    "The incident's notifications in order, a page at a time",
                    s.NotificationList,
                    errors=(400, 401, 403, 404),
                    params=[INCIDENT_ID, *PAGE_PARAMS],
                )
            },
            "/api/v1/incidents/{id}/ack": _action("Acknowledge (stops on-call reminders)", s.Note),
            "/api/v1/incidents/{id}/updates": _action(
                "Post an update (mailed at once)", s.IncidentUpdate
            ),
            "/api/v1/incidents/{id}/restore": _action("Restore by hand", s.Note),
            "/api/v1/incidents/{id}/close": _action("Close a restored incident", s.Note),
            **_maintenance_paths(),
            **openapi_hooks.paths(_ref(s.Problem)),
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT])


DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("openapi", dict)


def add_routes(app: web.Application) -> None:
    app[DOCUMENT] = document()
    app.router.add_get("/api/v1/openapi.json", openapi_json)
