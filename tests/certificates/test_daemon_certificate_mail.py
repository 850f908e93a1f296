"""The daemon as operators run it: an https service presenting a certificate with 5 days
left, and on-call gets the critical certificate mail (the customer's lists get nothing)."""

from __future__ import annotations

import asyncio
import signal
import ssl
from pathlib import Path

import trustme
import yaml

from outagewatch.sim import HttpServer, SmtpServer
from tests.certs import DAY, NOW
from tests.daemon.test_daemon_e2e import Daemon, free_port


async def test_oncall_hears_of_a_certificate_with_5_days_left(
    tmp_path: Path, ca: trustme.CA, ca_file: str
) -> None:
    # 90 days of life, 5 left: past the warning (21 days) and the critical lead (7 days).
    leaf = ca.issue_cert(
        "localhost", "127.0.0.1", not_before=NOW - 85 * DAY, not_after=NOW + 5 * DAY
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server)
    async with HttpServer(tls="implicit", ssl_context=server) as web, SmtpServer() as sink:
        config = {
            "vantage": "test",
            "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
            "api": {"listen": f"127.0.0.1:{free_port()}"},
            "smtp": {"host": "127.0.0.1", "port": sink.port, "tls": "none",
                     "from": "noc@example.net"},
            "oncall": {"email": "oncall@example.net"},
            "rules": {"probe_interval": "500ms"},
            "platforms": {
                "eu-de-1": {
                    "name": "OX Cloud EU de-1",
                    "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                    "services": {"webmail": {"protocol": "http", "url": web.url,
                                             "ca_file": ca_file}},
                }
            },
        }  # fmt: skip
        path = tmp_path / "ow.yaml"
        path.write_text(yaml.safe_dump(config))
        daemon = Daemon(path)
        await daemon.start()
        try:
            (mail,) = await asyncio.wait_for(sink.wait_for_messages(1), 30)
        finally:
            assert await daemon.stop(signal.SIGTERM) == 0
    assert mail.rcpt_tos == ("oncall@example.net",)
    assert b"[on-call] eu-de-1/webmail: certificate expires in 4 days (critical)" in mail.data
