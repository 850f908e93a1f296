"""The garbage collector's settings for a long-running daemon, shared with the benchmark's
stand-in for it (bench/engine_runner.py) so that both measure the same thing."""

from __future__ import annotations

import gc

# Middle-generation passes between two full ones (CPython's default: 10). What survives
# after the freeze is mostly renewed every interval (each service's next-run timer and its
# judgement, some 66,000 objects at 10,000 services), so a full pass keeps finding that many
# to walk, 50-70 ms with every probe stopped, every 10-15 s; now every minute or two. Cycles
# that became garbage wait as long for it: a few MB at most (docs/BENCHMARKS.md).
FULL_PASS_AFTER = 100


def freeze_long_lived_objects() -> None:
    """Move what exists now out of the collector's full passes, then make those rarer.

    Called once every service has its job, track and metric series (one interval after the
    start): each full pass walked them all and stopped the loop for 70-340 ms, which every
    probe in flight then measured (docs/BENCHMARKS.md)."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_PASS_AFTER)
