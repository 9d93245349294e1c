"""The event-loop lag probe: a 10 ms timer whose lateness goes into the histogram
ganglion_loop_lag_seconds on /metrics and into the p50/p99 of GET /api/v1/agents/stats."""
import os
import signal
import time

import gprom

from agents_util import SLOW


def _lag(d):
    fam = d.metrics()["ganglion_loop_lag_seconds"]
    assert fam.type == "histogram" and fam.help
    assert gprom.check_histogram(fam) == []
    count = next(s.value for s in fam.samples if s.name.endswith("_count"))
    buckets = {s.labels["le"]: s.value for s in fam.samples if s.name.endswith("_bucket")}
    return count, buckets


def test_lag_histogram_is_exposed_and_moves(daemon):
    c0, b0 = _lag(daemon)
    assert "0.01" in b0 and "+Inf" in b0
    time.sleep(0.5 * SLOW)
    c1, _ = _lag(daemon)
    assert c1 > c0  # the probe keeps running
    st = daemon.get("/api/v1/agents/stats").json()
    assert st["loop_lag"]["p50_ms"] >= 0 and st["loop_lag"]["p99_ms"] >= st["loop_lag"]["p50_ms"]


def test_lag_histogram_sees_a_stalled_loop(daemon):
    _, b0 = _lag(daemon)
    late0 = b0["+Inf"] - b0["0.1"]
    # a stopped process runs nothing: the probe due meanwhile comes at least ~0.3 s late
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(0.4)
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
    _, b1 = _lag(daemon)
    assert b1["+Inf"] - b1["0.1"] >= late0 + 1
