"""The version comes from git: two commits never share one, a release is its tag, a clone that
has no tag counts from the last release, and what a checkout says at run time is what a build
of it would be stamped with (setuptools-scm, as ``pyproject.toml`` configures it).

Each case runs in a throwaway clone of this repository, whose ``src`` is the code under test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from multidict import CIMultiDictProxy
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import outagewatch
from outagewatch.config import HttpService, Rules
from outagewatch.metrics import Metrics
from outagewatch.notify.channels.base import post_json
from outagewatch.probes import probe_service
from tests.deploy.conftest import ROOT

GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.net"]
FALLBACK = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools_scm"][
    "fallback_version"
]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - git with the test's own arguments
        [*GIT, "-C", str(repo), *args], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def runtime_version(repo: Path) -> str:
    """``outagewatch --version`` run from the clone's source tree."""
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "outagewatch", "--version"],
        capture_output=True, text=True, timeout=60, check=True, env=env, cwd=repo,
    )  # fmt: skip
    name, version = done.stdout.split()
    assert name == "outagewatch"
    return version


def build_version(repo: Path) -> str:
    """The version setuptools-scm gives a build of the clone (``python -m setuptools_scm``)."""
    done = subprocess.run(
        [sys.executable, "-m", "setuptools_scm"],
        capture_output=True, text=True, timeout=60, check=True, cwd=repo,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    repo = tmp_path / "clone"
    git(ROOT, "clone", "--quiet", "--no-tags", str(ROOT), str(repo))
    return repo


def test_two_commits_two_versions(clone: Path) -> None:
    before = runtime_version(clone)
    git(clone, "commit", "--quiet", "--allow-empty", "-m", "another commit")
    after = runtime_version(clone)
    assert before != after
    head = git(clone, "rev-parse", "HEAD")
    # The commit is named in the version: g + the start of its hash.
    found = re.search(r"\+g([0-9a-f]{7,})", after)
    assert found and head.startswith(found.group(1)), after
    assert after == build_version(clone)


def test_a_release_is_its_tag(clone: Path) -> None:
    git(clone, "tag", "-a", "v7.8.9", "-m", "outagewatch 7.8.9")
    assert runtime_version(clone) == build_version(clone) == "7.8.9"
    git(clone, "commit", "--quiet", "--allow-empty", "-m", "after the release")
    assert re.fullmatch(r"7\.8\.10\.dev1\+g[0-9a-f]+", runtime_version(clone))


def test_without_a_tag_it_counts_from_the_last_release(clone: Path) -> None:
    assert not git(clone, "tag", "--list")
    version = runtime_version(clone)
    count = git(clone, "rev-list", "--count", "HEAD")
    major, minor, patch = map(int, FALLBACK.split("."))
    assert version.startswith(f"{major}.{minor}.{patch + 1}.dev{count}+g"), version


def test_a_dirty_tree_says_so(clone: Path) -> None:
    clean = runtime_version(clone)
    (clone / "README.md").write_text("edited\n")
    dirty = runtime_version(clone)
    assert dirty != clean and re.search(r"\.d\d{8}$", dirty), dirty


# --- where the version shows --------------------------------------------------------------


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[CIMultiDictProxy[str]]]]:
    """A real aiohttp server that answers 200 and keeps every request's headers."""
    seen: list[CIMultiDictProxy[str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/", seen
    finally:
        await runner.cleanup()


async def test_probes_and_channels_name_the_build_in_their_user_agent(
    recorder: tuple[str, list[CIMultiDictProxy[str]]],
) -> None:
    url, seen = recorder
    result = await probe_service(HttpService(protocol="http", url=url), Rules())
    assert result.ok, result
    await post_json(url, {"type": "test"}, limit=5, vendor="webhook")
    probe, channel = (headers["User-Agent"] for headers in seen)
    assert probe == f"outagewatch/{outagewatch.__version__} (probe)"
    assert channel == f"outagewatch/{outagewatch.__version__}"
    assert outagewatch.__version__ != outagewatch.UNKNOWN


def test_build_info_carries_the_version() -> None:
    text = generate_latest(Metrics().registry).decode()
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "outagewatch_build_info"
    ]
    (sample,) = family.samples
    assert sample.labels["version"] == outagewatch.__version__


def test_the_changelog_has_the_last_release() -> None:
    """fallback_version names the last release: CHANGELOG.md has its entry (Keep a Changelog)."""
    text = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text
    assert re.search(rf"^## \[{re.escape(FALLBACK)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M)
