"""TLS facts against a real Dovecot presenting each certificate case: IMAPS (implicit) and
POP3 with STLS, the facts read also when verification fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trustme

from outagewatch.config import ImapService, Pop3Service
from outagewatch.probes import PROBES, ErrorKind, run_probe
from tests.certs import Case, cases
from tests.conftest import missing_real
from tests.real.dovecot import Dovecot, DovecotUnavailable, run_dovecot

pytestmark = pytest.mark.real
NAMES = ["valid", "expires-in-5-days", "expired", "unknown-ca", "wrong-name",
         "intermediate-expires-first"]  # fmt: skip


@pytest.fixture(scope="module", params=NAMES)
def presenting(request: pytest.FixtureRequest, ca: trustme.CA) -> Iterator[tuple[Case, Dovecot]]:
    case = {c.name: c for c in cases(ca)}[request.param]
    try:
        with run_dovecot(ca, certificate=(case.chain_pem, case.key_pem)) as dovecot:
            yield case, dovecot
    except DovecotUnavailable as exc:
        missing_real(str(exc))


@pytest.mark.parametrize("protocol", ["imaps", "pop3-stls"])
async def test_facts_from_dovecot(
    presenting: tuple[Case, Dovecot], protocol: str, ca_file: str
) -> None:
    case, dovecot = presenting
    if protocol == "imaps":
        service: ImapService | Pop3Service = ImapService(
            protocol="imap", host="127.0.0.1", port=dovecot.imaps_port, tls="implicit",
            ca_file=ca_file,
        )  # fmt: skip
    else:
        service = Pop3Service(
            protocol="pop3", host="127.0.0.1", port=dovecot.pop3_port, tls="starttls",
            ca_file=ca_file,
        )  # fmt: skip
    result = await run_probe(PROBES[service.protocol], service, limit=5)
    facts = result.tls
    assert facts is not None, result.detail
    assert (facts.leaf_not_after, facts.chain_not_after) == (
        case.leaf_not_after, case.chain_not_after,
    )  # fmt: skip
    assert facts.error == case.error
    if case.error is None:
        assert result.ok, result.detail
    else:
        assert result.error_kind is ErrorKind.TLS and case.error in result.detail
