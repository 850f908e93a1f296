"""The round trip through a real mail platform: Postfix with OpenDKIM signing the probe
mail, OpenDKIM and OpenDMARC verifying it and adding Authentication-Results, Dovecot
delivering it over LMTP (tests/real/mailpipe.py), DNS from NSD (tests/real/nsd.py)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from outagewatch.config import RoundtripService
from outagewatch.probes import PROBES, Credentials, ProbeResult, run_probe
from outagewatch.probes.concerns import Concern, concerns_of
from tests.conftest import missing_real
from tests.probes.mail_keys import DER, SPKI, zone_txt
from tests.probes.test_roundtrip_dovecot import probe_mails
from tests.real import dovecot as real_dovecot
from tests.real.dovecot import Dovecot
from tests.real.mailpipe import Pipeline, PipelineUnavailable, run_pipeline
from tests.real.nsd import Nsd, NsdUnavailable, run_nsd

pytestmark = pytest.mark.real
dovecot_lmtp = real_dovecot.dovecot_lmtp
SENDER = "probe@example.test"


def platform_zone(key: rsa.RSAPrivateKey, *, with_key: bool = True) -> str:
    """SPF allows loopback (where the mail comes from), DMARC rejects; the DKIM key has a
    TTL of 0, as OpenDKIM's resolver caches. OpenDMARC's SPF check passes a loopback client
    whatever the record says (libspf2's "localhost is always allowed"), so SPF and with it
    DMARC pass here; without the key, DKIM fails."""
    public = base64.b64encode(key.public_key().public_bytes(DER, SPKI)).decode()
    lines = ['@ IN TXT "v=spf1 ip4:127.0.0.0/8 -all"', '_dmarc IN TXT "v=DMARC1; p=reject"']
    if with_key:
        lines.append(zone_txt("s1._domainkey 0", f"v=DKIM1; k=rsa; p={public}"))
    return "\n".join(lines)


@pytest.fixture(scope="module")
def platform(dovecot_lmtp: Dovecot) -> Iterator[tuple[Nsd, Pipeline, rsa.RSAPrivateKey]]:
    key = rsa.generate_private_key(65537, 2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )  # fmt: skip
    # OpenDMARC can ask only the system resolver: NSD answers on port 53 of its own address.
    address = f"127.53.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
    assert dovecot_lmtp.lmtp_port is not None
    try:
        with (
            run_nsd({"example.test": platform_zone(key)}, also_on=(address,)) as nsd,
            run_pipeline(
                nsd_port=nsd.port, nsd_dmarc_address=address, lmtp_port=dovecot_lmtp.lmtp_port,
                domain="example.test", selector="s1", private_key_pem=pem,
            ) as pipeline,
        ):  # fmt: skip
            yield nsd, pipeline, key
    except (NsdUnavailable, PipelineUnavailable) as exc:
        missing_real(str(exc))


def service(pipeline: Pipeline, dovecot: Dovecot, ca_file: str, junk: bool) -> RoundtripService:
    return RoundtripService.model_validate({
        "protocol": "roundtrip", "ca_file": ca_file, "expect_auth": True, "sender": SENDER,
        "recipient": "probe+Junk@example.test" if junk else SENDER,
        "auth": {"username": dovecot.username, "password_env": "UNUSED_HERE"},
        "submit": {"host": "127.0.0.1", "port": pipeline.submit_port, "tls": "none"},
        "mailbox": {"host": "127.0.0.1", "port": dovecot.imap_port, "tls": "starttls"},
    })  # fmt: skip


async def probe(
    platform: tuple[Nsd, Pipeline, rsa.RSAPrivateKey], dovecot: Dovecot, ca_file: str,
    *, junk: bool = False,
) -> ProbeResult:  # fmt: skip
    _, pipeline, _ = platform
    # Postfix takes the submission without AUTH (mynetworks): no submission login.
    login = Credentials(dovecot.username, dovecot.password)
    result = await run_probe(
        PROBES["roundtrip"], service(pipeline, dovecot, ca_file, junk), limit=20,
        credentials=login,
    )  # fmt: skip
    assert result.ok, f"{result.detail}\n{pipeline.logs()}{dovecot.log_tail()}"
    assert probe_mails(dovecot) == 0
    return result


async def test_signed_and_verified_mail_passes_spf_dkim_and_dmarc(
    platform: tuple[Nsd, Pipeline, rsa.RSAPrivateKey], dovecot_lmtp: Dovecot, ca_file: str
) -> None:
    result = await probe(platform, dovecot_lmtp, ca_file)
    assert result.detail.startswith("in INBOX"), result.detail
    assert result.detail.endswith("; spf=pass dkim=pass dmarc=pass"), result.detail
    assert concerns_of(result.detail) == []


async def test_mail_in_junk_is_a_concern_with_its_authentication(
    platform: tuple[Nsd, Pipeline, rsa.RSAPrivateKey], dovecot_lmtp: Dovecot, ca_file: str
) -> None:
    result = await probe(platform, dovecot_lmtp, ca_file, junk=True)
    assert result.detail.startswith("junk: in Junk"), result.detail
    assert result.detail.endswith("; spf=pass dkim=pass dmarc=pass")
    assert concerns_of(result.detail) == [Concern.JUNK]


async def test_unauthenticated_mail_when_the_dkim_key_is_gone(
    platform: tuple[Nsd, Pipeline, rsa.RSAPrivateKey], dovecot_lmtp: Dovecot, ca_file: str
) -> None:
    nsd, _, key = platform
    nsd.update("example.test", platform_zone(key, with_key=False))
    try:
        result = await probe(platform, dovecot_lmtp, ca_file)
    finally:
        nsd.update("example.test", platform_zone(key))
    assert result.detail.startswith("unauthenticated: spf=pass dkim=fail dmarc=pass; in INBOX"), (
        result.detail
    )
    assert concerns_of(result.detail) == [Concern.UNAUTHENTICATED]
