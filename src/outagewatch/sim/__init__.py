"""Loopback protocol simulators with fault injection, for probe tests, the demo and benchmarks.

Each server listens on 127.0.0.1 or ::1 (port 0 = ephemeral), runs in the caller's event
loop, and shares the `SimServer` interface: ``start()``, ``stop()``, ``set_refusing()``,
``host``, ``port``, ``tls``, ``users``, ``faults`` (a live `Faults`) and ``connections``.
"""

from outagewatch.sim.faults import HOSTILE_MODES, FaultError, Faults, Hostile
from outagewatch.sim.http import HttpServer
from outagewatch.sim.imap import ImapServer
from outagewatch.sim.pop3 import Pop3Server
from outagewatch.sim.server import SimServer
from outagewatch.sim.smtp import ReceivedMessage, SmtpServer
from outagewatch.sim.tracking import ConnectionRecord

__all__ = [
    "HOSTILE_MODES",
    "ConnectionRecord",
    "FaultError",
    "Faults",
    "Hostile",
    "HttpServer",
    "ImapServer",
    "Pop3Server",
    "ReceivedMessage",
    "SimServer",
    "SmtpServer",
]
