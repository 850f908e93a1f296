"""Name resolution and TCP connect as separate, timed phases, shared by the socket probes."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure


async def resolve(host: str, port: int) -> list[tuple[int, tuple[str, int]]]:
    """All addresses of ``host`` in the resolver's order (family, sockaddr)."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:  # an address needs no resolver round trip (nor a thread from its pool)
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        return [(family, (host, port))]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProbeFailure(ErrorKind.DNS, f"cannot resolve {host}: {exc.strerror}") from exc
    return [(family, sockaddr[:2]) for family, _, _, _, sockaddr in infos]  # type: ignore[misc]


async def connect(host: str, port: int, timer: PhaseTimer) -> socket.socket:
    """Resolve (phase ``dns``) and connect (phase ``connect``) like a client would.

    Addresses are tried in order; the error of the last one is the verdict, so a host whose
    IPv6 address is unreachable but whose IPv4 answers is healthy, as it is for users.
    """
    timer.phase("dns")
    addresses = await resolve(host, port)
    timer.phase("connect")
    loop = asyncio.get_running_loop()
    last: OSError | None = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        # Commands are small writes; Nagle's algorithm would hold one back for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await loop.sock_connect(sock, sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    if isinstance(last, ConnectionRefusedError):
        raise ProbeFailure(ErrorKind.REFUSED, f"{host}:{port} refused the connection")
    reason = last.strerror if last is not None and last.strerror else "no address"
    raise ProbeFailure(ErrorKind.REFUSED, f"cannot connect to {host}:{port}: {reason}")
