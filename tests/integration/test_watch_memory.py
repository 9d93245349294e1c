"""watch: the detectors' scoring memory in the real daemon — numeric streams score without a
compression scratch context, text streams share a pool that never holds more than one idle
context per thread-pool thread, as `ganglion_watch_scratch_contexts` shows (docs/watch.md,
"Scoring memory")."""

import random
import threading
import time

from watch_util import SLOW, make_stream, normal_lines, post_events


def _scratch(d):
    fam = d.metrics()["ganglion_watch_scratch_contexts"]
    assert fam.type == "gauge"
    return fam.samples[0].value


def _wait_scored(d, names, n, timeout=30.0):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        sts = [d.get(f"/api/v1/watch/streams/{s}").json()["stats"] for s in names]
        if all(st["events_scored"] >= n and st["queue_depth"] == 0 for st in sts):
            return sts
        time.sleep(0.05)
    raise AssertionError(f"not scored after {timeout * SLOW}s: {sts}")


def test_numeric_streams_take_no_scratch_context(daemon):
    names = [f"m.cpu{i}" for i in range(4)]
    for name in names:
        r = daemon.request("PUT", f"/api/v1/watch/streams/{name}", json={"type": "metrics"})
        assert r.status_code in (200, 201), r.text
    rng = random.Random(7)

    def feed(name):
        for _ in range(10):
            vals = [round(50 + rng.random(), 3) for _ in range(300)]
            r = daemon.post(f"/api/v1/watch/events?stream={name}", json=vals)
            assert r.status_code == 202, r.text

    threads = [threading.Thread(target=feed, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sts = _wait_scored(daemon, names, 3000)
    assert _scratch(daemon) == 0  # scored point by point, no compressor held


def test_text_streams_share_a_bounded_pool(daemon):
    names = [f"logs{i}" for i in range(8)]
    for name in names:
        make_stream(daemon, name)

    def feed(name):
        for k in range(4):
            r = post_events(daemon, name, normal_lines(100, 100 * k))
            assert r.status_code == 202, r.text

    threads = [threading.Thread(target=feed, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sts = _wait_scored(daemon, names, 400)
    assert all(st["windows_scored"] > 0 for st in sts)
    # eight streams scored at once by a four-thread pool: at most four contexts kept
    assert 1 <= _scratch(daemon) <= 4
