"""``outagewatch channels test NAME``: one test message through one channel, and what the
other side answered (the vendor's status and words), before an incident needs it.

A pager's test alert is resolved (closed) right after it was accepted: a test should ring
once, not leave an open alert that escalates through the night."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from outagewatch.config import Config, ConfigError

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


def add_parsers(sub: Any, common: argparse.ArgumentParser, load: Any) -> None:
    channels = sub.add_parser("channels", help="paging and chat channels")
    actions = channels.add_subparsers(required=True, metavar="ACTION")
    test = actions.add_parser(
        "test", parents=[common], help="send a test message through one channel"
    )
    test.add_argument("name", help="a channel under channels: in the config")
    test.set_defaults(command=lambda args: test_channel(load(args), args.name))


def test_channel(config: Config, name: str) -> int:
    from outagewatch.notify.channels import Message, TransportError, build

    channels = config.all_channels
    if name not in channels:
        have = ", ".join(channels) or "none configured"
        raise ConfigError([f"channels: no channel {name!r} (have: {have})"])
    try:
        transport = build(channels[name], config.outbox.send_timeout.total_seconds())
    except ValueError as exc:
        raise ConfigError([f"channels.{name}: {exc}"]) from None
    now = datetime.now(UTC)
    message = Message(
        id=f"<test.{name}.{int(now.timestamp())}@outagewatch.invalid>",
        event="test",
        key=f"OW-TEST-{now:%Y%m%d%H%M%S}",
        title=f"outagewatch test message through channel {name}",
        text="A test of the channel: no incident. If you read this, the channel works.",
        severity=4,
        platform="outagewatch",
        services=(),
        created_at=now,
        link=config.web.public_url,
    )
    closing = (
        replace(message, event="restored", text="Test over.") if channels[name].paging else None
    )
    try:
        answer = asyncio.run(transport.notify(message))
        print(f"{name}: sent; the other side answered {answer}")
        if closing is not None:
            print(f"{name}: resolved again; answered {asyncio.run(transport.notify(closing))}")
    except TransportError as exc:
        kind = "refused for good" if exc.permanent else "failed (would be retried)"
        print(f"{name}: {kind}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
