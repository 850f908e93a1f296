"""Each transport against a stand-in that checks the vendor's documented contract, and how
each sorts the vendor's failures: 429 with Retry-After, 5xx, a 4xx that cannot succeed, no
answer at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from outagewatch.notify.channels import Message, Transport, TransportError
from outagewatch.notify.channels.base import Event
from outagewatch.notify.channels.opsgenie import Opsgenie
from outagewatch.notify.channels.pagerduty import PagerDuty
from outagewatch.notify.channels.slack import Slack
from outagewatch.notify.channels.teams import Teams
from outagewatch.notify.channels.webhook import SignedWebhook
from tests.notify.channels.receivers import (
    GENIE_KEY,
    HANG,
    ROUTING_KEY,
    SLACK_PATH,
    TEAMS_PATH,
    WEBHOOK_SECRET,
    Receivers,
    receivers,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
REF = "OW-20261123-0007"
LIFECYCLE: tuple[Event, ...] = ("opened", "acknowledged", "update", "restored")


def message(event: Event, text: str = "IMAP down since 09:45 UTC.") -> Message:
    return Message(
        id=f"<{REF}.ops.0.{event}@example.net>",
        event=event,
        key=REF,
        title=f"[OX Cloud EU de-1] [Sev 2] Outage: IMAP — {event}",
        text=text,
        severity=2,
        platform="OX Cloud EU de-1",
        services=("IMAP",),
        created_at=T0,
        actor="alice" if event == "acknowledged" else None,
        link=f"https://ow.example.net/console/incidents/7?ref={REF}&x=<1>",
    )


@pytest.fixture
async def peer() -> AsyncIterator[Receivers]:
    async with receivers() as found:
        yield found
    assert found.violations == []


def transports(url: str, timeout: float = 5.0) -> dict[str, Transport]:
    return {
        "pagerduty": PagerDuty(ROUTING_KEY, url=f"{url}/v2/enqueue", timeout=timeout),
        "opsgenie": Opsgenie(GENIE_KEY, base_url="https://api.opsgenie.com", url=url,
                             timeout=timeout),
        "slack": Slack(url + SLACK_PATH, timeout=timeout),
        "teams": Teams(url + TEAMS_PATH, timeout=timeout),
        "webhook": SignedWebhook(f"{url}/hook", WEBHOOK_SECRET, timeout=timeout),
    }  # fmt: skip


async def test_pagerduty_triggers_acknowledges_and_resolves_one_dedup_key(
    peer: Receivers,
) -> None:
    pd = transports(peer.url)["pagerduty"]
    answers = [await pd.notify(message(event)) for event in LIFECYCLE]
    sent = peer.of("pagerduty")
    assert [r.body["event_action"] for r in sent] == ["trigger", "acknowledge", "resolve"]
    assert {r.body["dedup_key"] for r in sent} == {REF}
    assert sent[0].body["payload"]["severity"] == "error"  # Sev 2
    assert [a.status for a in answers] == [202, 202, 0, 202]  # the Events API has no note
    assert "Event processed" in str(answers[0])


async def test_opsgenie_creates_acknowledges_notes_and_closes_by_alias(peer: Receivers) -> None:
    og = transports(peer.url)["opsgenie"]
    for event in LIFECYCLE:
        assert (await og.notify(message(event))).status == 202
    sent = peer.of("opsgenie")
    assert [r.body["action"] for r in sent] == ["create", "acknowledge", "notes", "close"]
    assert sent[0].body["alias"] == REF and sent[0].body["priority"] == "P2"
    assert all(r.path.startswith(f"/v2/alerts/{REF}/") for r in sent[1:])
    assert all(r.query == {"identifierType": "alias"} for r in sent[1:])
    assert sent[1].body["user"] == "alice"


def test_jsm_is_opsgenie_under_another_base_url() -> None:
    jsm = Opsgenie(GENIE_KEY, base_url="https://api.atlassian.com/jsm/ops/integration/")
    assert jsm.base_url + jsm.request(message("opened"))[0] == (
        "https://api.atlassian.com/jsm/ops/integration/v2/alerts"
    )


async def test_slack_blocks_stay_within_block_kit_limits(peer: Receivers) -> None:
    slack = transports(peer.url)["slack"]
    long_text = "The mail & <calendar> backends are down. " * 150  # 6,300 characters
    assert (await slack.notify(message("update", long_text))).detail == "ok"
    (body,) = [r.body for r in peer.of("slack")]
    section = next(b for b in body["blocks"] if b["type"] == "section")
    assert len(section["text"]["text"]) <= 3000
    assert "&amp; &lt;calendar&gt;" in section["text"]["text"]  # mrkdwn escaped
    assert body["blocks"][-1]["elements"][0]["url"].startswith("https://ow.example.net/")


async def test_a_long_title_is_clipped_to_the_header_limit(peer: Receivers) -> None:
    many = replace(message("opened"), title="Outage: " + ", ".join(["Web-Mail"] * 40))
    await transports(peer.url)["slack"].notify(many)
    (body,) = [r.body for r in peer.of("slack")]
    header = body["blocks"][0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…")  # the stand-in checked the limits


async def test_teams_posts_an_adaptive_card(peer: Receivers) -> None:
    teams = transports(peer.url)["teams"]
    assert (await teams.notify(message("acknowledged"))).status == 202
    (body,) = [r.body for r in peer.of("teams")]
    card = body["attachments"][0]["content"]
    assert {"title": "By", "value": "alice"} in card["body"][2]["facts"]
    assert card["actions"][0]["type"] == "Action.OpenUrl"


async def test_webhook_is_signed_as_standard_webhooks(peer: Receivers) -> None:
    hook = transports(peer.url)["webhook"]
    await hook.notify(message("opened"))
    await hook.notify(message("opened"))  # a retry: the same webhook-id, signed anew
    first, again = peer.of("webhook")  # verified by the standardwebhooks library
    assert first.body["type"] == "incident.opened"
    assert first.body["data"]["reference"] == REF
    assert first.headers["webhook-id"] == again.headers["webhook-id"] == message("opened").id


async def test_a_webhook_without_a_secret_is_unsigned(peer: Receivers) -> None:
    await SignedWebhook(f"{peer.url}/hook", None).notify(message("restored"))
    (sent,) = peer.of("unsigned")
    assert "webhook-signature" not in {k.lower() for k in sent.headers}
    assert sent.body["type"] == "incident.restored"


@pytest.mark.parametrize("vendor", ["pagerduty", "opsgenie", "slack", "teams", "webhook"])
async def test_429_is_retried_no_sooner_than_retry_after(peer: Receivers, vendor: str) -> None:
    peer.fault(429, {"Retry-After": "7"})
    with pytest.raises(TransportError, match="rate limited") as raised:
        await transports(peer.url)[vendor].notify(message("opened"))
    assert (raised.value.permanent, raised.value.retry_after) == (False, 7.0)


@pytest.mark.parametrize("vendor", ["pagerduty", "opsgenie", "slack", "teams", "webhook"])
async def test_5xx_is_retried(peer: Receivers, vendor: str) -> None:
    peer.fault(500, {})
    with pytest.raises(TransportError, match="HTTP 500 scripted 500") as raised:
        await transports(peer.url)[vendor].notify(message("opened"))
    assert raised.value.permanent is False


@pytest.mark.parametrize("vendor", ["pagerduty", "opsgenie", "slack", "teams", "webhook"])
async def test_a_request_the_vendor_refuses_fails_for_good_with_its_words(
    peer: Receivers, vendor: str
) -> None:
    peer.fault(400, {})
    with pytest.raises(TransportError, match="HTTP 400 scripted 400") as raised:
        await transports(peer.url)[vendor].notify(message("opened"))
    assert raised.value.permanent is True


async def test_an_invalid_pagerduty_event_is_permanent_and_says_why(peer: Receivers) -> None:
    bad = PagerDuty("too-short", url=f"{peer.url}/v2/enqueue")
    with pytest.raises(TransportError, match="routing_key must be the 32-character") as raised:
        await bad.notify(message("opened"))
    assert raised.value.permanent is True
    peer.violations.clear()  # provoked on purpose


@pytest.mark.parametrize("vendor", ["pagerduty", "slack"])
async def test_no_answer_is_retried(peer: Receivers, vendor: str) -> None:
    peer.fault(HANG, {})
    with pytest.raises(TransportError, match=r"no answer from .* within 0.3s") as raised:
        await transports(peer.url, timeout=0.3)[vendor].notify(message("opened"))
    assert raised.value.permanent is False


async def test_errors_never_name_a_secret_webhook_url(peer: Receivers) -> None:
    peer.fault(404, {})
    with pytest.raises(TransportError) as raised:
        await transports(peer.url)["slack"].notify(message("opened"))
    assert str(raised.value).startswith("Slack: HTTP 404")
    assert "slacktoken" not in str(raised.value)
