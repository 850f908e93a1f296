"""Which benchmark target probes which simulated server, shared by every process of a run.

N targets share a few simulators: each protocol has ``servers_per_protocol`` listeners on
127.0.0.1, and target ``i`` goes to protocol ``i mod 4`` (or the one protocol of a
single-protocol run) and to server ``(i div 4) mod servers_per_protocol`` of it. HTTP
targets differ by their URL (``/?target=NAME``); mail targets sharing a server are the same
endpoint probed by distinct jobs, as several platforms behind one relay would be.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PROTOCOLS = ("http", "smtp", "imap", "pop3")
HOST = "127.0.0.1"
# The one account every simulator accepts; both tools log in with it.
USER = "probe@bench.invalid"
PASSWORD = "bench-only-secret"  # noqa: S105 - a throwaway account of loopback simulators
PASSWORD_ENV = "OUTAGEWATCH_BENCH_PASSWORD"  # noqa: S105 - the variable's name
EHLO_NAME = "bench.invalid"


@dataclass(frozen=True)
class TargetSpec:
    """One monitored service of the benchmark, as both tools address it."""

    name: str
    protocol: str
    server: str  # the simulator's key, "http/3": where its connection records are kept
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/?target={self.name}"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


def server_key(protocol: str, index: int) -> str:
    return f"{protocol}/{index}"


def make_targets(
    count: int, ports: dict[str, list[int]], protocols: tuple[str, ...] = PROTOCOLS
) -> list[TargetSpec]:
    """``count`` targets spread evenly over ``protocols`` and over each protocol's servers."""
    targets = []
    for i in range(count):
        protocol = protocols[i % len(protocols)]
        servers = ports[protocol]
        index = (i // len(protocols)) % len(servers)
        targets.append(
            TargetSpec(
                name=f"{protocol}-{i:05d}",
                protocol=protocol,
                server=server_key(protocol, index),
                port=servers[index],
            )
        )
    return targets


def to_json(targets: list[TargetSpec]) -> list[dict[str, Any]]:
    return [asdict(t) for t in targets]


def from_json(items: list[dict[str, Any]]) -> list[TargetSpec]:
    return [TargetSpec(**item) for item in items]


def hostile_targets(count: int, hostile: dict[str, int]) -> list[TargetSpec]:
    """``count`` targets on the hostile servers (keyed "http-drip"), in turn: the shapes that
    never stop talking first (they cost the most), then the drips."""
    keys = sorted(hostile, key=lambda key: (key.endswith("drip"), key.split("-", 1)[1], key))
    return [
        TargetSpec(
            name=f"hostile-{i:04d}",
            protocol=keys[i % len(keys)].split("-", 1)[0],
            server=f"hostile/{keys[i % len(keys)]}",
            port=hostile[keys[i % len(keys)]],
        )
        for i in range(count)
    ]


def quiet_twins(targets: list[TargetSpec], ports: dict[str, list[int]]) -> list[TargetSpec]:
    """As many targets of the same protocols on healthy servers: the quiet run's load."""
    return [
        TargetSpec(
            name=t.name.replace("hostile-", "quiet-"),
            protocol=t.protocol,
            server=server_key(t.protocol, 0),
            port=ports[t.protocol][0],
        )
        for t in targets
    ]
