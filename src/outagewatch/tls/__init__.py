"""TLS mechanics every probe, relay sender and simulator uses: the modes and client contexts
(contexts.py), what a handshake showed (handshake.py), and what the presented chain says
(facts.py).

The warnings on-call gets about expiring certificates are the domain of certificates/, which
stores what the vantages saw and mails through the outbox. The two cannot be one package:
the probes need these mechanics and sit below the store and notify/, while the warnings
need the store and notify/, so one package would import itself through them. Here nothing
is imported but the text helpers.
"""
