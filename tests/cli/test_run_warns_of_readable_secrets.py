"""``outagewatch run`` says at its start which secret file its group or others may read:
the daemon runs (a warning, not a refusal), and the log line names the key and the file."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import yaml

from tests.daemon.test_daemon_e2e import free_port


async def test_the_daemon_warns_of_a_readable_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "imap-password"
    secret.write_text("probe-password\n")
    secret.chmod(0o644)
    config = {
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "platforms": {"eu-de-1": {
            "name": "EU",
            "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
            "services": {"imap": {"protocol": "imap", "host": "127.0.0.1", "port": 9,
                                  "auth": {"username": "probe", "password_file": str(secret)}}},
        }},
    }  # fmt: skip
    path = tmp_path / "ow.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "outagewatch", "run", "-c", str(path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    wanted = (
        f"WARNING outagewatch.daemon: platforms.eu-de-1.services.imap.auth.password_file: {secret}"
        " is readable by its group or by others (mode 0644)"
    )
    seen = []
    try:
        async with asyncio.timeout(30):
            while not any(wanted in line for line in seen):
                line = (await proc.stderr.readline()).decode()
                assert line, f"the daemon ended: {''.join(seen)}"
                seen.append(line)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 20)
    assert "probe-password" not in "".join(seen)
