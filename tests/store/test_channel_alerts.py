"""Pager alerts and inbound event ids, on SQLite and PostgreSQL: what a restart and the
inbound hook rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.notify import outbox
from outagewatch.notify.outbox import Notification
from outagewatch.store import channel_alerts
from outagewatch.store.migrate import upgrade

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def test_an_alert_is_open_until_closed_and_found_by_its_key(engine: AsyncEngine) -> None:
    await upgrade(engine)
    async with engine.begin() as conn:
        await channel_alerts.opened(conn, "pagerduty-ops", 7, "OW-20261123-0007", T0)
        await channel_alerts.opened(conn, "ops-chat", 7, "OW-20261123-0007", T0)
    async with engine.begin() as conn:
        assert await channel_alerts.states(conn, 7) == {"pagerduty-ops": "open",
                                                        "ops-chat": "open"}  # fmt: skip
        await channel_alerts.closed(conn, "pagerduty-ops", 7, T0 + timedelta(minutes=20))
        assert (await channel_alerts.states(conn, 7))["pagerduty-ops"] == "closed"
        assert await channel_alerts.states(conn, 8) == {}
        found = await channel_alerts.incident_of(conn, "OW-20261123-0007", ["pagerduty-ops"])
        assert found == 7
        assert await channel_alerts.incident_of(conn, "OW-20261123-0007", ["other"]) is None


async def test_an_inbound_event_is_remembered_once(engine: AsyncEngine) -> None:
    await upgrade(engine)
    async with engine.begin() as conn:
        assert not await channel_alerts.seen(conn, "pagerduty", "01DEN5")
        await channel_alerts.remember(conn, "pagerduty", "01DEN5", T0)
        await channel_alerts.remember(conn, "pagerduty", "01DEN5", T0)  # a race lost: fine
        assert await channel_alerts.seen(conn, "pagerduty", "01DEN5")
        assert not await channel_alerts.seen(conn, "opsgenie", "01DEN5")


async def test_a_channel_row_keeps_its_details(engine: AsyncEngine) -> None:
    await upgrade(engine)
    row = Notification(
        thread="incident:7:a-channel-name-of-forty-characters-long-", incident_id=7,
        kind="opened", audience="oncall", channel="a-channel-name-of-forty-characters-long-",
        recipients=("a-channel-name-of-forty-characters-long-",), subject="Outage",
        body_text="IMAP down", message_id="<OW-20261123-0007.x.0.opened@example.net>",
        details={"event": "opened", "key": "OW-20261123-0007", "services": ["IMAP"]},
    )  # fmt: skip
    async with engine.begin() as conn:
        await outbox.enqueue(conn, row, T0)
    claimed = await outbox.claim(engine, T0, "w", timedelta(minutes=5))
    assert claimed is not None and claimed.channel == row.channel
    assert claimed.details == {"event": "opened", "key": "OW-20261123-0007",
                               "services": ["IMAP"]}  # fmt: skip
