"""The running daemon: start-up and shutdown (``process``), leadership, the probe scheduler
and housekeeping."""
