"""The config's YAML, built straight from libyaml's events into dicts, lists and scalars.

``yaml.load`` first composes a node tree of the whole document (a node and two marks per
scalar) and only then constructs the data: at 10,000 services that tree took 50 MB and
0.7 s of the 1.3 s the load took, and the memory stayed with the process. Built
from the events, the same file loads in about a third of the time and the tree never exists.

Only the plain case is built here: mappings, sequences and untagged scalars. Anchors,
aliases, explicit tags, merge keys (``<<``) and complex keys go to ``yaml.load``, which also
raises the errors of a document that is not exactly one. Scalars are resolved and constructed
by the loader's own resolver and constructors, so every value is what ``yaml.load`` returns.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from yaml.nodes import ScalarNode

# libyaml's loader when PyYAML has it: 10,000 services load in 1.6 s instead of 6.9 s.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_NO_KEY = object()  # the mapping being filled waits for a key, not a value


class _Unusual(Exception):
    """A construct the event builder leaves to ``yaml.load``."""


def load_yaml(text: str) -> Any:
    """What ``yaml.load(text, Loader=SAFE_LOADER)`` returns, and its errors."""
    loader = SAFE_LOADER(text)
    try:
        return _build(loader)
    except _Unusual:
        pass
    finally:
        loader.dispose()
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader


def _build(loader: Any) -> Any:
    get = loader.get_event
    if not isinstance(get(), StreamStartEvent):
        raise _Unusual
    event = get()
    if isinstance(event, StreamEndEvent):
        return None  # an empty file, as yaml.load has it
    if not isinstance(event, DocumentStartEvent):
        raise _Unusual
    root = _document(loader)
    if not isinstance(get(), StreamEndEvent):
        raise _Unusual  # more than one document: yaml.load says so
    return root


def _document(loader: Any) -> Any:
    """The events up to the document's end, into the data they describe."""
    get = loader.get_event
    root: list[Any] = []
    current: dict[Any, Any] | list[Any] = root
    key: Any = _NO_KEY
    outer: list[dict[Any, Any] | list[Any]] = []
    resolved: dict[tuple[str, Any], str] = {}  # the resolver is a pure function of both
    while not isinstance(event := get(), DocumentEndEvent):
        kind = type(event)
        if kind is MappingEndEvent or kind is SequenceEndEvent:
            current, key = outer.pop(), _NO_KEY
            continue
        value = _scalar(loader, event, resolved) if kind is ScalarEvent else _container(event)
        if type(current) is list:
            current.append(value)
        elif key is _NO_KEY:
            if kind is not ScalarEvent:
                raise _Unusual  # a mapping or sequence as a key
            key = value
            continue
        else:
            current[key] = value  # a repeated key: the last value wins, as in yaml.load
            key = _NO_KEY
        if kind is not ScalarEvent:
            outer.append(current)
            current = value
    return root[0]


def _container(event: Any) -> dict[Any, Any] | list[Any]:
    kind = type(event)
    if kind is not MappingStartEvent and kind is not SequenceStartEvent:
        raise _Unusual  # an alias
    if event.anchor is not None or event.tag not in (None, "!"):
        raise _Unusual
    return {} if kind is MappingStartEvent else []


def _scalar(loader: Any, event: ScalarEvent, resolved: dict[tuple[str, Any], str]) -> Any:
    if event.anchor is not None or event.tag not in (None, "!"):
        raise _Unusual
    text = event.value
    implicit = event.implicit
    tag = resolved.get((text, implicit))
    if tag is None:
        tag = resolved[text, implicit] = loader.resolve(ScalarNode, text, implicit)
    if tag == _STR:
        return text
    construct = loader.yaml_constructors.get(tag)
    if tag == _MERGE or construct is None:
        raise _Unusual  # a merge key; or "=", which yaml.load refuses in its own words
    return construct(loader, ScalarNode(tag, text))
