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
from pathlib import Path

import pytest

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
