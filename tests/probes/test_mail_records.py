"""The pure judgements of the DNS probes: records, keys, blocklist answers, SPF terms."""

from __future__ import annotations

import ipaddress

import pytest

from outagewatch.probes.dnsbl import judge, query_name
from outagewatch.probes.mail_records import (
    RecordProblem,
    dkim_verdict,
    dmarc_verdict,
    mta_sts_policy,
    mta_sts_txt_verdict,
    tls_rpt_verdict,
    unlisted_mx,
)
from outagewatch.probes.spf import parse_terms
from tests.probes.mail_keys import ed25519_record, rsa_record, weak_rsa_record

DMARC = "_dmarc.example.test"


def problem(call: object, *args: object) -> RecordProblem:
    assert callable(call)
    with pytest.raises(RecordProblem) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize(
    ("texts", "said"),
    [
        ([], "no v=DMARC1 record at _dmarc.example.test"),
        (["v=spf1 -all"], "no v=DMARC1 record"),
        (["v=DMARC1; p=reject", "v=DMARC1; p=none"], "2 v=DMARC1 records"),
        (["v=DMARC1; rua=mailto:d@example.test"], "no policy (p=)"),
        (["v=DMARC1; p=block"], "p=block is not none, quarantine or reject"),
        (["v=DMARC1; p=reject; p=none"], "tag p appears twice"),
    ],
)
def test_dmarc_problems_name_the_record(texts: list[str], said: str) -> None:
    found = problem(dmarc_verdict, DMARC, texts)
    assert found.record == "DMARC"
    assert said in str(found)


def test_dmarc_with_a_policy_passes() -> None:
    assert dmarc_verdict(DMARC, ["other", "v=DMARC1; p=Quarantine; pct=100"]) == "p=quarantine"


def test_dkim_keys_rsa_ed25519_weak_revoked_missing() -> None:
    name = "s1._domainkey.example.test"
    assert dkim_verdict("s1", name, [rsa_record(2048)]) == "rsa-2048"
    assert dkim_verdict("s1", name, [ed25519_record()]) == "ed25519"
    weak = problem(dkim_verdict, "s1", name, [weak_rsa_record(768)])
    assert str(weak) == "DKIM s1: RSA key of 768 bits, at least 1024 needed"
    assert "revoked" in str(problem(dkim_verdict, "s1", name, ["v=DKIM1; k=rsa; p="]))
    assert "no key record" in str(problem(dkim_verdict, "s1", name, []))
    assert "unusable key" in str(problem(dkim_verdict, "s1", name, ["v=DKIM1; p=AAAA"]))
    bad_ed = "v=DKIM1; k=ed25519; p=AAAA"
    assert "Ed25519" in str(problem(dkim_verdict, "s1", name, [bad_ed]))


def test_mta_sts_record_policy_and_tls_rpt() -> None:
    assert mta_sts_txt_verdict("_mta-sts.x", ["v=STSv1; id=2026120701"]) == "2026120701"
    assert "id=" in str(problem(mta_sts_txt_verdict, "_mta-sts.x", ["v=STSv1; id=no-dashes"]))
    policy = mta_sts_policy("version: STSv1\r\nmode: enforce\r\nmx: mx.x\r\nmax_age: 86400\r\n")
    assert (policy.mode, policy.mx, policy.max_age) == ("enforce", ("mx.x",), 86400)
    assert "no mx" in str(problem(mta_sts_policy, "version: STSv1\nmode: testing\nmax_age: 1"))
    assert "mode block" in str(problem(mta_sts_policy, "version: STSv1\nmode: block\n"))
    assert tls_rpt_verdict("_smtp._tls.x", ["v=TLSRPTv1; rua=mailto:r@x,https://r.x/"]) == ("2 rua")
    assert "no rua=" in str(problem(tls_rpt_verdict, "_smtp._tls.x", ["v=TLSRPTv1;"]))
    assert "TLS-RPT" in str(problem(tls_rpt_verdict, "_smtp._tls.x", []))


def test_mta_sts_mx_patterns_cover_exact_names_and_one_wildcard_label() -> None:
    policy = mta_sts_policy(
        "version: STSv1\nmode: enforce\nmx: mx1.example.test\nmx: *.mx.example.test\n"
        "max_age: 86400\n"
    )
    hosts = ["MX1.example.test.", "a.mx.example.test.", "a.b.mx.example.test.", "mx2.example.test."]
    assert unlisted_mx(policy, hosts) == ["a.b.mx.example.test.", "mx2.example.test."]


def test_spf_terms_and_unknown_mechanisms() -> None:
    terms = parse_terms("x", "v=spf1 ip4:192.0.2.0/24 +a mx/24 include:y redirect=z -all")
    assert terms == [
        ("ip4", "192.0.2.0"), ("a", ""), ("mx", ""), ("include", "y"), ("redirect", "z"),
        ("all", ""),
    ]  # fmt: skip
    assert "unknown term 'bogus:1'" in str(problem(parse_terms, "x", "v=spf1 bogus:1 -all"))
    assert "include without a domain" in str(problem(parse_terms, "x", "v=spf1 include -all"))


def test_blocklist_names_and_answers() -> None:
    assert query_name(ipaddress.ip_address("192.0.2.10"), "bl.test") == "10.2.0.192.bl.test"
    v6 = query_name(ipaddress.ip_address("2001:db8::10"), "bl.test.")
    assert v6 == "0.1.0.0." + "0.0.0.0." * 5 + "8.b.d.0.1.0.0.2.bl.test"
    assert judge("a", "z", "n", []).listed is False
    assert judge("a", "z", "n", ["127.0.0.4", "127.0.0.2"]).codes == ("127.0.0.2", "127.0.0.4")
    refused = judge("a", "z", "n", ["127.255.255.254"])
    assert not refused.listed
    assert refused.error == "answered 127.255.255.254 (query through a public or open resolver)"
    assert judge("a", "z", "n", ["203.0.113.7"]).error == (
        "answered 203.0.113.7 is no listing code (not in 127.0.0.0/8)"
    )
