"""The series of what a probe saw besides its verdict, kept as rendered text like exposition.py's:
the certificate of its TLS handshake and the round trip's delivery time (DESIGN section 10).

They were prometheus_client collectors, so `generate_latest` walked three series of every TLS
service on the event loop at each scrape: 30,000 at 10,000 https services. Now a
probe result re-renders its service's lines when they change, and a scrape only takes them.

Three series per TLS service and vantage (cert="leaf", cert="chain" and one `tls_info`); the
delivery histogram only for round trips that delivered. No `_created` series, as exposition.py.
Keyed by platform, service and vantage, as the collectors were: the protocol is no label here.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from outagewatch.metrics.exposition import escape, family_parts, number
from outagewatch.probes.result import ProbeResult

DetailLabels = tuple[str, str, str]  # platform, service, vantage

# Delivery of a healthy platform takes seconds; the 30 s outage line is a bucket edge.
DELIVERY_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0)

CERT_EXPIRY = "outagewatch_tls_cert_expiry_timestamp_seconds"
TLS_INFO = "outagewatch_tls_info"
DELIVERY = "outagewatch_roundtrip_delivery_seconds"

FAMILIES: dict[str, tuple[str, str]] = {
    CERT_EXPIRY: (
        "gauge",
        "Not-after of the presented certificate (cert=leaf) and the earliest of the chain "
        "(cert=chain), also when verification failed",
    ),
    TLS_INFO: ("gauge", "1 for the TLS version and cipher of the last handshake"),
    DELIVERY: ("histogram", "From the 250 after DATA to the probe mail seen in the mailbox"),
}
_LE = (*(repr(b) for b in DELIVERY_BUCKETS), "+Inf")


def _names(labels: DetailLabels) -> str:
    """The labels as text, sorted by name as prometheus_client's are; ``cert``, ``cipher``
    and ``le`` sort before them, ``version`` after."""
    platform, service, vantage = (escape(v) for v in labels)
    return f'platform="{platform}",service="{service}",vantage="{vantage}"'


@dataclass(slots=True)
class _Delivery:
    """The delivery histogram of one round-trip service from one vantage."""

    buckets: list[int] = field(default_factory=lambda: [0] * len(_LE))  # not cumulative
    total: float = 0.0

    def render(self, names: str) -> str:
        lines = []
        seen = 0
        for le, count in zip(_LE, self.buckets, strict=True):
            seen += count
            lines.append(f'{DELIVERY}_bucket{{le="{le}",{names}}} {seen}\n')
        lines.append(f"{DELIVERY}_count{{{names}}} {seen}\n")
        lines.append(f"{DELIVERY}_sum{{{names}}} {number(self.total)}\n")
        return "".join(lines)


class DetailSeries:
    """The certificate and delivery families, each a dict of rendered lines by labels."""

    def __init__(self) -> None:
        self._delivery: dict[DetailLabels, _Delivery] = {}
        self._lines: dict[str, dict[DetailLabels, str]] = {name: {} for name in FAMILIES}

    def observe(self, labels: DetailLabels, result: ProbeResult) -> None:
        """A probe without a handshake (refused, say) leaves the last certificate shown: it
        is still the one the server has. The info line is replaced whole, so a new version
        or cipher ends the old series: one per service."""
        facts = result.tls
        deliver = result.phases.get("deliver") if result.ok else None  # only delivered mail
        if facts is None and deliver is None:
            return
        names = _names(labels)
        if facts is not None:
            leaf = number(facts.leaf_not_after.timestamp())
            chain = number(facts.chain_not_after.timestamp())
            self._lines[CERT_EXPIRY][labels] = (
                f'{CERT_EXPIRY}{{cert="leaf",{names}}} {leaf}\n'
                f'{CERT_EXPIRY}{{cert="chain",{names}}} {chain}\n'
            )
            cipher, version = escape(facts.cipher), escape(facts.version)
            self._lines[TLS_INFO][labels] = (
                f'{TLS_INFO}{{cipher="{cipher}",{names},version="{version}"}} 1.0\n'
            )
        if deliver is not None:
            histogram = self._delivery.get(labels)
            if histogram is None:
                histogram = self._delivery[labels] = _Delivery()
            histogram.buckets[bisect.bisect_left(DELIVERY_BUCKETS, deliver)] += 1
            histogram.total += deliver
            self._lines[DELIVERY][labels] = histogram.render(names)

    def forget(self, labels: DetailLabels) -> None:
        """A service the config no longer has: its certificate and delivery series end."""
        self._delivery.pop(labels, None)
        for lines in self._lines.values():
            lines.pop(labels, None)

    def parts(self) -> list[str]:
        """The text as immutable strings, one per service and family (see ServiceSeries)."""
        return family_parts(FAMILIES, self._lines)
