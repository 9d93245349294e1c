"""Helpers shared by the watch tests: small detector settings so that a few hundred events score
quickly, normal traffic followed by an injected burst, and polling for the anomalies it causes."""

import json
import os
import time

SANITIZED = os.environ.get("GANGLION_SANITIZED") == "1"
SLOW = 3.0 if SANITIZED else 1.0

# Baseline 40, window 10, hop 5: a burst of 20 odd lines after 100 normal ones lands in several
# windows; 200 permutations keep each window's test cheap.
SMALL = {"baseline": 40, "window": 10, "hop": 5, "permutations": 200}


def normal_lines(n, start=0):
    return [{"level": "info",
             "message": f"Request completed method=GET path=/api/users status=200 "
                        f"duration_ms={40 + (i % 20)}"} for i in range(start, start + n)]


# A crash that gets worse: a new kind of panic every hop (5 lines), so each of the burst's
# windows holds a message new to the stream and is an anomaly of its own. (A burst of one
# repeated message is one anomaly: the windows after it only repeat what it reported —
# docs/watch.md, "The per-template view".)
PANICS = ["index out of range", "invalid memory address or nil pointer dereference",
          "slice bounds out of range", "integer divide by zero", "makeslice: len out of range",
          "hash of unhashable type"]


def burst_lines(n, secret=None):
    out = []
    for i in range(n):
        ev = {"level": "error",
              "message": f"panic: runtime error: {PANICS[i // 5 % len(PANICS)]} goroutine {i} "
                         f"[running] main.handler(0x{i * 7919:x}) /srv/app/handler.go:{100 + i}"}
        if secret:
            ev["token"] = secret
        out.append(ev)
    return out


def ndjson(events):
    return "".join(json.dumps(e) + "\n" for e in events)


def make_stream(d, name, **settings):
    body = {"type": "logs", "settings": dict(SMALL, **settings)}
    r = d.request("PUT", f"/api/v1/watch/streams/{name}", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def post_events(d, stream, events, ctype="application/x-ndjson"):
    data = ndjson(events) if ctype == "application/x-ndjson" else json.dumps(events)
    return d.post(f"/api/v1/watch/events?stream={stream}", data=data,
                  headers={"Content-Type": ctype})


def wait_anomalies(d, stream, at_least=1, timeout=30.0):
    deadline = time.monotonic() + timeout * SLOW
    body = None
    while time.monotonic() < deadline:
        r = d.get(f"/api/v1/watch/anomalies?stream={stream}&limit=1000")
        assert r.status_code == 200, r.text
        body = r.json()
        if body["total"] >= at_least:
            return body
        time.sleep(0.1)
    raise AssertionError(f"no anomaly on {stream} after {timeout * SLOW}s: {body}")


def seed(d, stream, secret=None):
    """Normal traffic then a burst; returns the anomalies found on the stream."""
    make_stream(d, stream)
    r = post_events(d, stream, normal_lines(100) + burst_lines(20, secret))
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 120
    wait_anomalies(d, stream)
    return wait_settled(d, stream, 120)["anomalies"]


def wait_settled(d, stream, events, timeout=30.0):
    """Waits until every event of the stream is scored and its anomalies are all stored: a job
    announces the first anomalous window at once and leaves the rest to the next one, so the
    count may still grow after the first anomaly shows."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        st = d.get(f"/api/v1/watch/streams/{stream}").json()["stats"]
        if st["events_scored"] >= events and st["queue_depth"] == 0:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"{stream}: events not scored after {timeout * SLOW}s: {st}")
    # the last job's anomalies are stored after its counters move: wait for a steady count
    last = None
    while time.monotonic() < deadline:
        body = d.get(f"/api/v1/watch/anomalies?stream={stream}&limit=1000").json()
        if last is not None and body["total"] == last:
            return body
        last = body["total"]
        time.sleep(0.3)
    raise AssertionError(f"{stream}: anomaly count still moving after {timeout * SLOW}s")
