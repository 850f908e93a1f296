"""The container image, built and run for real with podman (tests/deploy/image.py says how):
unprivileged, healthy by its own HEALTHCHECK, its config read-only, tokens made with
``podman run --rm``, an incident that outlives its container, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

import outagewatch
from outagewatch.sim import ImapServer, SmtpServer
from tests.conftest import missing_real
from tests.daemon.test_daemon_e2e import free_port, metric
from tests.deploy.image import Podman, missing_tools
from tests.incidents.test_crash_safety import LIST
from tests.incidents.test_crash_safety import config as crash_safety_config

pytestmark = [pytest.mark.real, pytest.mark.timeout(900)]

UID = 10001  # the Dockerfile's outagewatch user
CONFIG = "/etc/outagewatch/outagewatch.yaml"


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Podman, str]]:
    missing = missing_tools()
    if missing:
        missing_real(
            f"{', '.join(missing)} not installed (Debian: apt-get install {' '.join(missing)})"
        )
    tool = Podman(tmp_path_factory.mktemp("podman"))
    image = tool.build(tool.base_image())
    yield tool, image
    print("\n".join(["image timings:", *tool.log]), file=sys.stderr)
    tool.remove_build(image)


@dataclass
class Site:
    """One deployment's config directory and data volume, as an operator would lay them."""

    tool: Podman
    image: str
    etc: Path
    volume: str
    port: int
    started: list[str]

    def write(self, config: dict[str, object]) -> None:
        path = self.etc / "outagewatch.yaml"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o644)  # read by uid 10001 through a read-only bind mount

    def mounts(self) -> list[str]:
        return [
            "-v",
            f"{self.etc}:/etc/outagewatch:ro",
            "-v",
            f"{self.volume}:/var/lib/outagewatch",
        ]

    async def start(self, *options: str) -> str:
        name = f"ow-test-{secrets.token_hex(4)}"
        code, _, err = await self.tool.arun(
            "run", "-d", "--name", name, "--network", "host",
            "-e", f"OUTAGEWATCH_HEALTHZ_URL=http://127.0.0.1:{self.port}/healthz",
            *options, *self.mounts(), self.image,
        )  # fmt: skip
        assert code == 0, err
        self.started.append(name)
        return name

    async def stop(self, name: str) -> int:
        """``podman stop``: SIGTERM, and SIGKILL if the daemon is not gone within 10 s."""
        code, _, err = await self.tool.arun("stop", "-t", "10", name)
        assert code == 0, err
        code, out, err = await self.tool.arun("inspect", name, "--format", "{{.State.ExitCode}}")
        assert code == 0, err
        return int(out.strip())

    async def logs(self, name: str) -> str:
        _, out, err = await self.tool.arun("logs", name)
        return out + err

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    """The config directory, readable by the container's uid 10001 (pytest makes it 0700)."""
    tmp_path.chmod(0o755)
    found = tmp_path / "etc"
    found.mkdir()
    found.chmod(0o755)
    return found


@pytest.fixture
async def site(podman: tuple[Podman, str], etc: Path) -> AsyncIterator[Site]:
    tool, image = podman
    volume = f"ow-test-{secrets.token_hex(4)}"
    assert (await tool.arun("volume", "create", volume))[0] == 0
    found = Site(tool, image, etc, volume, free_port(), [])
    try:
        yield found
    finally:
        for name in found.started:
            print(await found.logs(name), file=sys.stderr)  # shown when a test fails
            await tool.arun("rm", "-f", "-t", "0", name)
        await tool.arun("volume", "rm", "-f", volume)


def config(site: Site, imap: int, relay: int) -> dict[str, Any]:
    """The crash-safety test's compressed config, with the database inside the container's
    volume, and max_gap long enough to cover replacing the container."""
    data: dict[str, Any] = yaml.safe_load(crash_safety_config(site.etc, imap, relay).read_text())
    data["database"] = "sqlite+aiosqlite:////var/lib/outagewatch/outagewatch.db"
    data["api"] = {"listen": f"127.0.0.1:{site.port}"}
    data["rules"] |= {"max_gap": "60s", "update_every": "1h"}
    return data


async def wait_healthy(session: aiohttp.ClientSession, site: Site, within: float = 60) -> None:
    async with asyncio.timeout(within):
        while True:
            try:
                async with session.get(f"{site.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass  # not listening yet
            await asyncio.sleep(0.2)


async def wait_metric(
    session: aiohttp.ClientSession, site: Site, prefix: str, value: float, within: float
) -> None:
    async with asyncio.timeout(within):
        while await metric(session, f"{site.url}/metrics", prefix) != value:  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.1)


def customer_mails(sink: SmtpServer) -> list[tuple[str, str, str]]:
    """(kind, Message-ID, In-Reply-To) of each mail to the incident list."""
    found = []
    for received in sink.messages:
        if LIST in received.rcpt_tos:
            mail = message_from_bytes(received.data, policy=policy.default)
            kind = str(mail["Subject"]).rsplit(" — ", 1)[1]
            found.append((kind, str(mail["Message-ID"]), str(mail["In-Reply-To"] or "")))
    return found


async def wait_mail(sink: SmtpServer, kind: str, within: float) -> None:
    async with asyncio.timeout(within):
        while not any(k == kind for k, _, _ in customer_mails(sink)):  # noqa: ASYNC110 - filled by the sink
            await asyncio.sleep(0.1)


async def test_runs_unprivileged_healthy_with_a_read_only_config(site: Site) -> None:
    async with ImapServer() as imap, SmtpServer() as sink:
        site.write(config(site, imap.port, sink.port))
        name = await site.start()
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, site)
            # It read the mounted config: the service is probed, and probed well.
            ok = 'outagewatch_probe_success{platform="eu-de-1",protocol="imap",service="imap"'
            await wait_metric(session, site, ok, 1.0, within=30)
            # `docker kill -s HUP` reloads the config inside the container.
            at = "outagewatch_config_last_reload_success_timestamp_seconds "
            loaded = await metric(session, f"{site.url}/metrics", at)
            assert loaded is not None
            assert (await site.tool.arun("kill", "-s", "HUP", name))[0] == 0
            async with asyncio.timeout(30):
                while await metric(session, f"{site.url}/metrics", at) == loaded:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        code, out, err = await site.tool.arun("exec", name, "id", "-u")
        assert (code, out.strip()) == (0, str(UID)), err
        code, out, _ = await site.tool.arun("inspect", name, "--format", "{{.Config.User}}")
        assert out.strip().split(":")[0] == "outagewatch"
        # The image's own HEALTHCHECK command (kept by --format docker) passes.
        _, out, _ = await site.tool.arun(
            "inspect", name, "--format", "{{json .Config.Healthcheck}}"
        )
        assert "OUTAGEWATCH_HEALTHZ_URL" in " ".join(json.loads(out)["Test"])
        code, _, err = await site.tool.arun("healthcheck", "run", name)
        assert code == 0, err
        # Mounted read-only: the daemon cannot change its own config.
        code, _, err = await site.tool.arun("exec", name, "touch", "/etc/outagewatch/x")
        assert code != 0 and "Read-only file system" in err
        assert await site.stop(name) == 0


async def test_runs_as_the_kubernetes_deployment_runs_it(site: Site) -> None:
    """deploy/kubernetes/deployment.yaml's securityContext: a read-only root filesystem with
    a writable /tmp, no capabilities, no privilege escalation, uid and gid 10001."""
    async with ImapServer() as imap, SmtpServer() as sink:
        site.write(config(site, imap.port, sink.port))
        name = await site.start(
            "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--user", f"{UID}:{UID}",
        )  # fmt: skip
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, site)
            ok = 'outagewatch_probe_success{platform="eu-de-1",protocol="imap",service="imap"'
            await wait_metric(session, site, ok, 1.0, within=30)
        code, out, err = await site.tool.arun("exec", name, "outagewatch", "--version")
        assert (code, out.strip()) == (0, f"outagewatch {outagewatch.__version__}"), err
        code, _, err = await site.tool.arun("exec", name, "touch", "/opt/outagewatch/x")
        assert code != 0 and "Read-only file system" in err
        assert await site.stop(name) == 0


async def test_token_create_through_podman_run_rm(site: Site) -> None:
    async with ImapServer() as imap, SmtpServer() as sink:
        site.write(config(site, imap.port, sink.port))
        code, out, err = await site.tool.arun(
            "run", "--rm", "--network", "host", *site.mounts(), site.image,
            "token", "create", "--name", "admin", "--role", "admin", "-c", CONFIG,
        )  # fmt: skip
        assert code == 0, err
        token = out.strip().splitlines()[-1].strip()
        assert len(token) >= 20 and " " not in token
        name = await site.start()
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, site)
            listing = f"{site.url}/api/v1/incidents"
            async with session.get(listing) as response:
                assert response.status == 401
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(listing, headers=headers) as response:
                assert response.status == 200
                assert (await response.json())["items"] == []
        assert await site.stop(name) == 0


async def test_incident_outlives_its_container(site: Site) -> None:
    """Same volume, new container: the incident goes on, no second "detected" mail, and the
    new container sends the "restored" one in the same thread. SIGTERM stops both with 0."""
    async with ImapServer() as imap, SmtpServer() as sink:
        site.write(config(site, imap.port, sink.port))
        first = await site.start()
        imap.faults.greeting_delay = 1.0  # every sample slower than slow_after
        await wait_mail(sink, "detected", within=60)
        assert await site.stop(first) == 0  # within 10 s, or podman would have killed it

        second = await site.start()
        outage = 'outagewatch_service_outage{platform="eu-de-1",protocol="imap",service="imap"'
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, site)
            # The new container judges the service in outage from the stored state.
            await wait_metric(session, site, outage, 1.0, within=30)
        imap.faults.greeting_delay = 0
        await wait_mail(sink, "restored", within=60)
        assert await site.stop(second) == 0

    mails = customer_mails(sink)
    detected = [m for m in mails if m[0] == "detected"]
    restored = [m for m in mails if m[0] == "restored"]
    assert len(detected) == 1, mails
    assert len(restored) == 1, mails
    assert restored[0][2] == detected[0][1]  # one thread across both containers
