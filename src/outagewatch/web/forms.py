"""HTML forms into the API's own request models, so that the console accepts exactly what
the API accepts, and its errors land beside the field they concern."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BadContentDispositionHeader
from multidict import MultiDictProxy, MultiMapping
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)
Errors = dict[str, str]  # field -> message; "" for the form as a whole


async def posted(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form; a body that is not one (bytes that are not its charset, a charset
    nobody knows, a broken multipart) is a 400 saying so, never an error inside. The
    answer never repeats what was sent."""
    try:
        return await request.post()
    except (UnicodeDecodeError, LookupError):
        raise web.HTTPBadRequest(text="the form is not in the charset it declares") from None
    except (ValueError, HttpProcessingError, BadContentDispositionHeader):
        # aiohttp only warns of a bad Content-Disposition; that raises where warnings are
        # errors (python -W error, the test suite).
        raise web.HTTPBadRequest(text="the form is not a readable multipart body") from None


def local_input(value: str) -> str:
    """``<input type=datetime-local>`` gives ``2026-11-30T18:30``; the forms say UTC."""
    value = value.strip()
    if len(value) == 16 and value[10] == "T":
        return value + ":00+00:00"
    return value


def parse(
    model: type[ModelT],
    form: MultiMapping[Any],
    times: tuple[str, ...] = (),
    lists: tuple[str, ...] = (),
) -> tuple[ModelT | None, Errors]:
    """The model from the non-empty fields of ``form``, or the errors by field.

    ``times`` are datetime-local inputs (UTC); ``lists`` are fields of several names."""
    data: dict[str, Any] = {}
    for name in model.model_fields:
        if name not in form:
            continue
        if name in lists:
            # Checkboxes, or one text field of names separated by commas or spaces.
            chosen = [n for v in form.getall(name) for n in str(v).replace(",", " ").split()]
            if chosen:
                data[name] = chosen
            continue
        text = str(form[name]).strip().replace("\r\n", "\n")
        if text:
            data[name] = local_input(text) if name in times else text
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        errors: Errors = {}
        for error in exc.errors():
            where = str(error["loc"][0]) if error["loc"] else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            errors.setdefault(where, message)
        return None, errors


def values(form: Mapping[str, Any]) -> dict[str, str]:
    """What the engineer typed, to put back into the form beside the errors."""
    return {k: str(v) for k, v in form.items() if k != "csrf"}
