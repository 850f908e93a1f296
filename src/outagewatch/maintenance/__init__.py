"""Maintenance windows: business days and window decisions, pure (``decisions``), and the
engine that stores them and queues the announcements (``engine``). DESIGN section 5."""
