"""watch: metric streams scored per point by the numeric detector in the real daemon — a level
shift raises an anomaly whose explanation names its signals, a stationary series raises none,
the `detector` setting chooses the detector, and log streams keep the compression view."""

import random
import time

from conftest import assert_problem
from watch_util import SLOW, wait_anomalies


def _put(d, name, type_="metrics", **settings):
    r = d.request("PUT", f"/api/v1/watch/streams/{name}",
                  json={"type": type_, "settings": settings})
    assert r.status_code in (200, 201), r.text
    return r.json()


def _post_values(d, name, values):
    r = d.post(f"/api/v1/watch/events?stream={name}", json=values)
    assert r.status_code == 202, r.text


def _wait_scored(d, name, n, timeout=30.0):
    deadline = time.monotonic() + timeout * SLOW
    st = None
    while time.monotonic() < deadline:
        st = d.get(f"/api/v1/watch/streams/{name}").json()["stats"]
        if st["events_scored"] >= n and st["queue_depth"] == 0:
            return st
        time.sleep(0.05)
    raise AssertionError(f"{name}: not scored after {timeout * SLOW}s: {st}")


def _stationary(n, seed):
    rng = random.Random(seed)
    return [round(50 + rng.choice((-1.0, -0.5, 0.0, 0.5, 1.0)), 2) for _ in range(n)]


def test_level_shift_raises_an_explained_anomaly(daemon):
    s = _put(daemon, "m.shift")
    assert s["detector"] == "numeric"
    values = _stationary(400, 1) + [80.0 + (i % 3) for i in range(40)]
    _post_values(daemon, "m.shift", values)
    a = wait_anomalies(daemon, "m.shift")["anomalies"][0]
    assert a["detector"] == "numeric" and a["stream_type"] == "metrics"
    assert a["metadata"]["first_event"] == 400  # the first value of the shift
    assert a["value"] == 80.0 and 0.9 <= a["score"] <= 1
    assert a["signals"]["novelty"] == 1.0 and a["signals"]["extreme"] == 1.0
    why = a["glass_box_explanation"]
    assert "novel context" in why and "beyond every earlier value" in why, why
    st = _wait_scored(daemon, "m.shift", len(values))
    assert 0 <= st["last_score"] <= 1
    # every point's score in [0,1]: the last 256, oldest first, the shift's first one high
    sc = daemon.get("/api/v1/watch/streams/m.shift/scores").json()
    assert sc["detector"] == "numeric" and sc["points_scored"] == len(values)
    pts = sc["points"]
    assert [p["index"] for p in pts] == list(range(len(values) - 256, len(values)))
    assert all(0 <= p["score"] <= 1 for p in pts)
    assert pts[400 - (len(values) - 256)]["score"] >= 0.9 and pts[0]["score"] < 0.9


def test_stationary_series_raises_nothing(daemon):
    _put(daemon, "m.flat")
    _post_values(daemon, "m.flat", _stationary(1500, 2))
    st = _wait_scored(daemon, "m.flat", 1500)
    assert st["anomalies"] == 0
    assert daemon.get("/api/v1/watch/anomalies?stream=m.flat").json()["total"] == 0


def test_detector_setting_chooses(daemon):
    # text on a metrics stream: the compression view's windows, as before
    s = _put(daemon, "m.text", detector="text", baseline=20, window=10, hop=5)
    assert s["detector"] == "text"
    _post_values(daemon, "m.text", _stationary(60, 3))
    st = _wait_scored(daemon, "m.text", 60)
    assert st["windows_scored"] > 0
    assert daemon.get("/api/v1/watch/streams/m.text/scores").json()["points"] == []
    # numeric on a metrics stream switched back to it: the detector is rebuilt
    s = _put(daemon, "m.text", detector="numeric")
    assert s["detector"] == "numeric"
    # logs stay with the compression view under auto
    assert _put(daemon, "l.auto", type_="logs")["detector"] == "text"
    assert_problem(daemon.request("PUT", "/api/v1/watch/streams/m.bad",
                                  json={"type": "metrics", "settings": {"detector": "fft"}}),
                   422)
