"""``make dist``'s sdist and wheel, installed as an operator installs them: the wheel into a
fresh venv outside the tree, then ``check-config`` and ``demo`` run from there, with nothing of
this checkout on the path. The wheel carries every file of the package; the demo from it runs
until its first incident is mailed and shown on the web (the whole cycle is tests/test_demo.py's
to show, from the tree: the code is the same, what the wheel could lack is files).

``python -m build`` makes the wheel from the sdist, not from the tree, so the wheel also shows
that an sdist (no .git in it) knows its version. Building and installing take PyPI, as
``make venv`` does (pip's cache makes the second run quicker)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

import outagewatch
from tests.deploy.conftest import ROOT
from tests.test_demo import seen_on_the_web

# The Makefile's target is this command with dist/ as the output directory.
BUILD = [sys.executable, "-m", "build", "--outdir"]
# Runs argv[1:] with SIGINT at its default, as Ctrl-C finds a command at a terminal: a
# shell that starts pytest in the background leaves SIGINT ignored in all it starts.
WITH_CTRL_C = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


@dataclass(frozen=True)
class Installed:
    venv: Path
    sdist: Path
    wheel: Path
    env: dict[str, str]  # no PYTHONPATH, no VIRTUAL_ENV: only the venv's own outagewatch

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the installed command, arguments of our own
            [str(self.venv / "bin" / "outagewatch"), *args],
            capture_output=True, text=True, timeout=timeout, check=False,
            env=self.env, cwd=self.venv.parent,
        )  # fmt: skip


def run(*argv: str | Path, timeout: float, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - build, venv and pip with our own arguments
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, check=False,
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    outside = tmp_path_factory.mktemp("dist")
    assert not outside.is_relative_to(ROOT)
    run(*BUILD, outside / "dist", ROOT, timeout=300)
    (sdist,) = (outside / "dist").glob("outagewatch-*.tar.gz")
    (wheel,) = (outside / "dist").glob("outagewatch-*-py3-none-any.whl")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = outside / "venv"
    run(sys.executable, "-m", "venv", venv, timeout=120, env=env)
    run(venv / "bin" / "pip", "install", "--quiet", wheel, timeout=400, env=env)
    yield Installed(venv, sdist, wheel, env)


@pytest.mark.timeout(900)
def test_the_sdist_and_wheel_carry_the_version_of_this_tree(installed: Installed) -> None:
    version = outagewatch.__version__
    assert version != outagewatch.UNKNOWN
    assert installed.sdist.name == f"outagewatch-{version}.tar.gz"
    assert installed.wheel.name == f"outagewatch-{version}-py3-none-any.whl"
    with tarfile.open(installed.sdist) as sdist:
        assert f"outagewatch-{version}/PKG-INFO" in sdist.getnames()
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    # Package data the status page and the mails need, beside the code.
    assert {"outagewatch/py.typed", "outagewatch/notify/templates/detected.txt.j2"} <= names
    assert any(name.startswith("outagewatch/web/static/htmx-") for name in names)


@pytest.mark.timeout(900)
def test_the_installed_wheel_is_outside_the_tree_and_knows_its_version(
    installed: Installed,
) -> None:
    where = run(
        installed.venv / "bin" / "python", "-c", "import outagewatch; print(outagewatch.__file__)",
        timeout=60, env=installed.env,
    ).strip()  # fmt: skip
    assert Path(where).is_relative_to(installed.venv), where
    done = installed.run("--version")
    assert done.stdout.strip() == f"outagewatch {outagewatch.__version__}", done.stderr


@pytest.mark.timeout(900)
def test_check_config_from_the_wheel(installed: Installed) -> None:
    done = installed.run("check-config", "-c", str(ROOT / "config" / "ox-cloud.example.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "eu-de-1" in done.stdout


def package_files() -> set[str]:
    """Every file of the package in this tree (git's list: no caches, no strays)."""
    listed = run("git", "-C", ROOT, "ls-files", "src/outagewatch", timeout=60)
    return {name.removeprefix("src/") for name in listed.splitlines()}


@pytest.mark.timeout(900)
def test_the_wheel_carries_every_file_of_the_package(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    assert package_files() - names == set()


async def static_files_served(text: str, wheel: Path) -> None:
    """Each static file the wheel carries, served by the demo's daemon."""
    web = re.search(r"status\s+(http://[^/\s]+)/status/", text)
    assert web, text
    with zipfile.ZipFile(wheel) as archive:
        static = [n for n in archive.namelist() if n.startswith("outagewatch/web/static/")]
    assert static
    async with aiohttp.ClientSession() as session:
        for name in static:
            url = f"{web.group(1)}/static/{name.rsplit('/', 1)[1]}"
            async with session.get(url) as response:
                assert response.status == 200 and await response.read(), url


@pytest.mark.timeout(900)
async def test_demo_from_the_wheel(installed: Installed) -> None:
    """The demo from the wheel: its database migrated, the incident detected and mailed from
    the wheel's templates, the status page and the console rendered, the static files served;
    then Ctrl-C (SIGINT) ends it cleanly."""
    proc = await asyncio.create_subprocess_exec(
        installed.venv / "bin" / "python", "-c", WITH_CTRL_C,
        installed.venv / "bin" / "outagewatch", "demo",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=installed.env, cwd=installed.venv.parent,
    )  # fmt: skip
    assert proc.stdout is not None
    text = ""
    try:
        async with asyncio.timeout(120):
            while "Outage: IMAP — detected" not in text:
                line = (await proc.stdout.readline()).decode()
                assert line, f"the demo ended before its first incident:\n{text}"
                text += line
            await seen_on_the_web(text)
            await static_files_served(text, installed.wheel)
        proc.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(30):
                rest, _ = await proc.communicate()
        except TimeoutError:
            raise AssertionError(f"the demo did not end within 30 s of Ctrl-C:\n{text}") from None
        text += rest.decode()
        assert "demo interrupted (Ctrl-C)" in text, text
    finally:
        if proc.returncode is None:  # a failed run leaves no demo behind
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, text
