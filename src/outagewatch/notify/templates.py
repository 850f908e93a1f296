"""The Jinja2 environment of the mail templates: the operator's ``templates_dir`` first, file by
file, the shipped ``notify/templates/*.j2`` as the fallback for every file it does not have.

An environment with overrides is made by notify/template_check.py, which renders every
template in it before the daemon may use it; it never reads a file again (no auto-reload), so
an override edited on disk is used only after a reload has checked it.

Templates run in Jinja's immutable sandbox: whoever may write ``templates_dir`` changes the
wording of mails, never reaches the daemon's Python (its modules, its secrets) and never
changes the data a template is given."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

SHIPPED = PackageLoader("outagewatch.notify", "templates")


def environment(templates_dir: Path | None = None) -> Environment:
    loaders: list[FileSystemLoader | PackageLoader] = [SHIPPED]
    if templates_dir is not None:
        loaders.insert(0, FileSystemLoader(templates_dir))
    return ImmutableSandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,  # a misspelt variable is an error, never an empty string
        keep_trailing_newline=True,
        autoescape=False,
        auto_reload=False,
    )


@functools.cache
def shipped() -> Environment:
    """The shipped templates alone (no ``templates_dir``)."""
    return environment()


def shipped_names() -> list[str]:
    return sorted(SHIPPED.list_templates())
