"""outagewatch: outage monitor and incident communication for hosted e-mail platforms.

``__version__`` comes from git, as setuptools-scm derives it (``pyproject.toml``): a release is
its tag (``v0.3.0`` -> ``0.3.0``), anything after it ``0.3.1.devN+gHASH``. An installed wheel or
sdist carries the version it was built with in its metadata. Run from a git checkout (an
editable install, ``PYTHONPATH=src``), the metadata was written when it was installed and is
stale after the next commit, so there git is asked at first use, when setuptools-scm is at hand.
"""

from __future__ import annotations

import functools
import tomllib
import warnings
from importlib import metadata
from pathlib import Path

UNKNOWN = "0+unknown"


@functools.cache
def _version() -> str:
    tree = Path(__file__).resolve().parents[2]
    if (tree / ".git").exists() and (tree / "pyproject.toml").is_file():
        from_git = _version_from_git(tree)
        if from_git is not None:
            return from_git
    try:
        return metadata.version("outagewatch")
    except metadata.PackageNotFoundError:  # a source tree without git, never installed
        return UNKNOWN


def _version_from_git(tree: Path) -> str | None:
    try:
        from setuptools_scm import get_version
    except ImportError:  # a checkout without the test extras: the installed metadata it is
        return None
    try:
        with (tree / "pyproject.toml").open("rb") as file:
            settings = tomllib.load(file)["tool"]["setuptools_scm"]
        # A shallow clone makes it warn; the version it finds is still the commit's.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found: str = get_version(root=str(tree), **settings)
    except Exception:  # no git binary, a broken repository: fall back, never fail
        return None
    return found


def __getattr__(name: str) -> str:
    # Computed at first use: asking git costs a checkout about 0.1 s, which only the commands
    # that show the version (the daemon, --version, the API) should pay.
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
