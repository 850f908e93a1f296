"""The round trip reads its mail's Authentication-Results (expect_auth) against a real
Dovecot: the test's relay into Dovecot's LMTP plays the receiving platform's verifier and
prepends the headers a verifier would; a mail filed as spam is a concern too."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from outagewatch.config import RoundtripService
from outagewatch.probes.authresults import results, summary
from outagewatch.probes.concerns import Concern, concerns_of, with_concern
from tests.probes.test_roundtrip_dovecot import LmtpRelay, probe, probe_mails, relay_to
from tests.real import dovecot as real_dovecot
from tests.real.dovecot import Dovecot

pytestmark = pytest.mark.real
dovecot_lmtp = real_dovecot.dovecot_lmtp

PASSING = (
    b"Authentication-Results: mx.example.test; dkim=pass header.d=example.test header.s=s1;\r\n"
    b"  spf=pass smtp.mailfrom=example.test; dmarc=pass (p=reject) header.from=example.test\r\n"
)
FAILING = (
    b"Authentication-Results: mx.example.test; spf=softfail smtp.mailfrom=example.test\r\n"
    b"Authentication-Results: mx.example.test; dkim=fail (bad signature) header.d=example.test;"
    b"\r\n  dmarc=fail (p=reject) header.from=example.test\r\n"
    # Further down, as if a sender had forged it: the topmost results count.
    b"Authentication-Results: mx.example.test; spf=pass; dkim=pass; dmarc=pass\r\n"
)


@pytest.fixture
async def verified(
    dovecot_lmtp: Dovecot, ca_file: str
) -> AsyncIterator[tuple[LmtpRelay, RoundtripService]]:
    async with relay_to(dovecot_lmtp, ca_file) as (relay, service):
        yield relay, service.model_copy(update={"expect_auth": True})


async def test_passing_authentication_is_reported_and_no_concern(
    dovecot_lmtp: Dovecot, verified: tuple[LmtpRelay, RoundtripService]
) -> None:
    relay, service = verified
    relay.headers = PASSING
    result = await probe(dovecot_lmtp, service)
    assert result.ok, result.detail
    assert result.detail.startswith("in INBOX")
    assert result.detail.endswith("; spf=pass dkim=pass dmarc=pass")
    assert concerns_of(result.detail) == []
    assert probe_mails(dovecot_lmtp) == 0


async def test_failed_authentication_in_junk_is_delivered_with_both_concerns(
    dovecot_lmtp: Dovecot, verified: tuple[LmtpRelay, RoundtripService]
) -> None:
    relay, service = verified
    relay.headers, relay.junk = FAILING, True
    result = await probe(dovecot_lmtp, service)
    assert result.ok, result.detail  # delivered: not an outage; the concerns say the rest
    assert result.detail.startswith(
        "unauthenticated: spf=softfail dkim=fail dmarc=fail; junk: in Junk, INTERNALDATE"
    ), result.detail
    assert concerns_of(result.detail) == [Concern.UNAUTHENTICATED, Concern.JUNK]
    assert probe_mails(dovecot_lmtp) == 0


async def test_no_header_at_all_is_unauthenticated(
    dovecot_lmtp: Dovecot, verified: tuple[LmtpRelay, RoundtripService]
) -> None:
    _, service = verified
    result = await probe(dovecot_lmtp, service)
    assert result.ok, result.detail
    assert result.detail.startswith("unauthenticated: spf=none dkim=none dmarc=none; in INBOX")
    without = await probe(dovecot_lmtp, service.model_copy(update={"expect_auth": False}))
    assert concerns_of(without.detail) == []
    assert "spf=" not in without.detail


def test_topmost_result_counts_and_garbage_is_ignored() -> None:
    headers = ["mx.test; dkim=pass", "not ;;; parseable =", "mx.test; dkim=fail; spf=pass"]
    assert results(headers) == {"spf": "pass", "dkim": "pass", "dmarc": "none"}
    assert summary(results(headers)) == (False, "spf=pass dkim=pass dmarc=none")


def test_concerns_are_read_from_the_start_of_a_detail_only() -> None:
    rest = "junk: in Junk, x; SMTP AUTH none; junk: no"
    detail = with_concern(Concern.UNAUTHENTICATED, "spf=fail", rest)
    assert concerns_of(detail) == [Concern.UNAUTHENTICATED, Concern.JUNK]
    assert concerns_of("in INBOX; junk: later") == []
    assert concerns_of("listed: 192.0.2.1 in bl.test") == []
