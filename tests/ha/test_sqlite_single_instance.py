"""SQLite stays the single-instance default: a second daemon on the same file is refused."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import yaml

from outagewatch.sim import HttpServer

from ..daemon.test_daemon_e2e import Daemon, free_port


def config(tmp_path: Path, name: str, url: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "vantage": name,
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "platforms": {"p": {"name": "P", "lists": {"incident": ["a@example.net"],
                                                    "informational": ["b@example.net"]},
                            "services": {"web": {"protocol": "http", "url": url}}}},
    }))  # fmt: skip
    return path


async def test_second_instance_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    async with HttpServer() as web:
        first = Daemon(config(tmp_path, "one", web.url))
        await first.start()
        try:
            await asyncio.wait_for(web.wait_accepted(1), timeout=20)  # the first one runs
            other = str(config(tmp_path, "two", web.url))
            second = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "outagewatch", "run", "-c", other,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                _, err = await asyncio.wait_for(second.communicate(), timeout=60)
            finally:
                if second.returncode is None:  # it should have ended: leave nothing behind
                    second.kill()
                    await second.wait()
            assert second.returncode == 2
            assert "another outagewatch instance" in err.decode()
            assert "need PostgreSQL" in err.decode()
        finally:
            assert await first.stop(signal.SIGTERM) == 0
        # Once the first has stopped, the file is free again.
        again = Daemon(config(tmp_path, "three", web.url))
        await again.start()
        before = len(web.connections)
        await asyncio.wait_for(web.wait_accepted(before + 1), timeout=20)
        assert await again.stop(signal.SIGTERM) == 0
