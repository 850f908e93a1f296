"""Incidents and their communication: what to tell whom and when, as pure decisions
(``decisions``), and the engine that stores them and queues the mails (``engine``).
DESIGN section 4."""
