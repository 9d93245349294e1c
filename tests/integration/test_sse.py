"""SSE: GET /api/v1/stream — receive, topic filters, heartbeats, Last-Event-ID replay and the
bounded per-client queue (a slow client is dropped, the daemon keeps serving)."""

import json
import time

import pytest

from conftest import assert_problem
from gsse import SSEClient, StreamClosed


def _payload(ev):
    v = json.loads(ev.data)
    return v


def _matches(ev, data):
    v = _payload(ev)
    return v == data or (isinstance(v, dict) and v.get("data") == data)


def _wait_subscribed(d, n=1, timeout=5.0):
    """Waits until ganglion_bus_subscribers reaches n (so a publish cannot race the subscribe)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fams = d.metrics()
        if sum(s.value for s in fams["ganglion_bus_subscribers"].samples) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("SSE subscriber never showed up in ganglion_bus_subscribers")


def test_stream_headers(daemon):
    with SSEClient(daemon.url, "/api/v1/stream?topics=a.*") as c:
        assert c.read_headers() == 200
        assert c.headers["content-type"].split(";")[0] == "text/event-stream"
        cc = c.headers.get("cache-control", "")
        assert "no-cache" in cc or "no-store" in cc, cc
        assert c.headers.get("x-request-id")


def test_receive_published_events(daemon):
    with SSEClient(daemon.url, "/api/v1/stream?topics=agent.*,anomaly.created") as c:
        assert c.read_headers() == 200
        _wait_subscribed(daemon)
        i1 = daemon.publish("agent.7.status", {"state": "running", "n": 1})
        daemon.publish("other.topic", {"skip": True})
        i2 = daemon.publish("anomaly.created", {"score": 0.9})
        daemon.publish("anomaly.resolved", {"skip": True})
        i3 = daemon.publish("agent.8.output", {"line": "a\nb"})
        evs = c.events(3)
    assert [e.event for e in evs] == ["agent.7.status", "anomaly.created", "agent.8.output"]
    assert [e.id for e in evs] == [str(i1), str(i2), str(i3)]
    assert _matches(evs[0], {"state": "running", "n": 1})
    assert _matches(evs[1], {"score": 0.9})
    assert _matches(evs[2], {"line": "a\nb"})
    ids = [int(e.id) for e in evs]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_multiline_data_framing(daemon):
    """A string payload with newlines must be split over several data: lines."""
    with SSEClient(daemon.url, "/api/v1/stream?topics=ml") as c:
        c.read_headers()
        _wait_subscribed(daemon)
        daemon.publish("ml", "line1\nline2\n\nline4")
        ev = c.events(1)[0]
    assert _matches(ev, "line1\nline2\n\nline4") or ev.data == "line1\nline2\n\nline4"


def test_heartbeat(make_daemon):
    d = make_daemon(env={"GANGLION_EVENTS_HEARTBEAT_S": "1"})
    with SSEClient(d.url, "/api/v1/stream?topics=nothing.here") as c:
        assert c.read_headers() == 200
        t0 = time.monotonic()
        comments = []
        while len(comments) < 2:
            ev = c.next_event(timeout=3.5)
            assert ev.is_comment, f"unexpected event {ev}"
            comments.append(time.monotonic() - t0)
    assert comments[1] - comments[0] < 2.5, comments


def test_last_event_id_replay(daemon):
    ids = [daemon.publish("replay.t", {"i": i}) for i in range(5)]
    daemon.publish("replay.other", {"i": -1})
    with SSEClient(daemon.url, "/api/v1/stream?topics=replay.t",
                   headers={"Last-Event-ID": str(ids[1])}) as c:
        assert c.read_headers() == 200
        evs = c.events(3)
        assert [e.id for e in evs] == [str(i) for i in ids[2:]]
        assert [_payload(e) for e in evs] and all(_matches(e, {"i": k}) for e, k in zip(evs, (2, 3, 4)))
        # live events follow the replayed ones
        _wait_subscribed(daemon)
        i5 = daemon.publish("replay.t", {"i": 5})
        ev = c.events(1)[0]
        assert ev.id == str(i5)


def test_without_last_event_id_no_replay(daemon):
    daemon.publish("noreplay", {"old": True})
    with SSEClient(daemon.url, "/api/v1/stream?topics=noreplay") as c:
        c.read_headers()
        _wait_subscribed(daemon)
        i = daemon.publish("noreplay", {"old": False})
        ev = c.events(1)[0]
        assert ev.id == str(i)


def test_stream_requires_valid_topics(daemon):
    assert_problem(daemon.get("/api/v1/stream?topics=" + "a" * 5000), (400, 414, 422))
    assert_problem(daemon.get("/api/v1/stream?nope=1"), (400, 422))


def test_slow_client_dropped(make_daemon):
    d = make_daemon(env={"GANGLION_EVENTS_CLIENT_QUEUE": "4"})
    n, size = 200, 64 * 1024
    blob = "z" * size
    # other modules may hold bus subscriptions of their own: count relative to them
    base = sum(s.value for s in d.metrics()["ganglion_bus_subscribers"].samples)
    slow = SSEClient(d.url, "/api/v1/stream?topics=flood", rcvbuf=4096, timeout=10)
    try:
        slow.sock.settimeout(5)
        # read only the status line and headers, then stop reading
        assert slow.read_headers() == 200
        _wait_subscribed(d, base + 1)
        t0 = time.monotonic()
        for i in range(n):
            d.publish("flood", {"i": i, "blob": blob})
        publish_s = time.monotonic() - t0
        # the daemon keeps serving other clients (the loop is not stalled by the slow one)
        assert d.get("/healthz", timeout=5).status_code == 200
        # the subscriber is gone
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            subs = sum(s.value for s in d.metrics()["ganglion_bus_subscribers"].samples)
            if subs <= base:
                break
            time.sleep(0.1)
        assert subs <= base, "slow SSE client still subscribed after its queue overflowed"
        # and its stream ends before all events were delivered
        try:
            got = slow.drain_until_closed(timeout=10)
        except TimeoutError:
            raise AssertionError("the dropped client's connection stays open: reading it stalls "
                                 "instead of reaching end of stream") from None
        assert len(got) < n, f"slow client received all {n} events; it should have been dropped"
        ids = [int(e.id) for e in got]
        assert ids == sorted(ids), "events out of order before the drop"
    finally:
        slow.close()
    assert publish_s < 30, publish_s
    fams = d.metrics()
    drops = [s for f in fams.values() for s in f.samples if "drop" in s.name]
    assert drops and sum(s.value for s in drops) >= 1, "no drop counter in /metrics increased"
    # a fresh subscriber works after the drop
    with SSEClient(d.url, "/api/v1/stream?topics=flood") as c:
        c.read_headers()
        _wait_subscribed(d, base + 1)
        i = d.publish("flood", {"i": "after"})
        assert c.events(1)[0].id == str(i)


def test_subscriber_gauge_follows_clients(make_daemon):
    """Closed streams are unsubscribed, at the latest when the next heartbeat finds them gone."""
    daemon = make_daemon(env={"GANGLION_EVENTS_HEARTBEAT_S": "1"})

    def subs():
        return sum(s.value for s in daemon.metrics()["ganglion_bus_subscribers"].samples)
    base = subs()
    clients = [SSEClient(daemon.url, f"/api/v1/stream?topics=g{i}") for i in range(3)]
    for c in clients:
        c.read_headers()
    _wait_subscribed(daemon, base + 3)
    for c in clients:
        c.close()
    deadline = time.monotonic() + 5
    while subs() > base and time.monotonic() < deadline:
        time.sleep(0.1)
    assert subs() == base, "closed SSE clients are not unsubscribed"
