"""Certificate warnings for on-call: the pure decision and the engine that stores and mails it.

The mechanics it judges (client contexts, handshakes, the facts of a presented chain) live in
tls/, below the probes that produce them: this package needs the store and notify/, which
sit above the probes, so it could not hold them without an import cycle.
"""
