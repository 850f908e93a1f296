"""The gzip /metrics body: the same text, compressed by a thread that yields the core to the
probes (a lower priority, per thread on Linux)."""

from __future__ import annotations

import gzip
import os
import sys
import threading

import pytest

from outagewatch.metrics import COMPRESSOR_NICE, Metrics


async def test_the_gzip_body_is_the_text_and_its_thread_yields_to_the_probes() -> None:
    metrics = Metrics()
    for n in range(2500):  # several slices of the join
        metrics.export_judgement(("eu-de-1", f"svc-{n}", "imap", "fra"), 0.0, False, False)
    body = await metrics.exposition(compressed=True)
    assert gzip.decompress(body) == metrics.render()
    if not sys.platform.startswith("linux"):
        pytest.skip("thread priorities are per thread on Linux only")
    compressing = [t for t in threading.enumerate() if t.name.startswith("outagewatch-metrics")]
    assert len(compressing) == 1
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert compressing[0].native_id is not None
    theirs = os.getpriority(os.PRIO_PROCESS, compressing[0].native_id)
    assert theirs == min(19, ours + COMPRESSOR_NICE)
