"""Driver of bench/watch-latency/run: injects anomalies into a running daemon and measures the
time from the burst's POST to its anomaly.created event on the SSE feed; the same for events
published on the bus (the floor of the path). Standard library only."""

import argparse
import http.client
import json
import os
import queue
import statistics
import threading
import time
from urllib.parse import urlsplit


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class Client:
    def __init__(self, url, token):
        u = urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.headers = {"Authorization": "Bearer " + token} if token else {}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def call(self, method, path, body=None, ctype="application/json"):
        h = dict(self.headers)
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h["Content-Type"] = ctype
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        text = r.read()
        return r.status, (json.loads(text) if text else None)


class Feed(threading.Thread):
    """Reads the SSE feed on its own connection; queues (arrival time, topic, data)."""

    def __init__(self, url, token, topics):
        super().__init__(daemon=True)
        u = urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
        h = {"Accept": "text/event-stream"}
        if token:
            h["Authorization"] = "Bearer " + token
        self.conn.request("GET", "/api/v1/stream?topics=" + topics, headers=h)
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise SystemExit(f"SSE feed answered {self.resp.status}")
        self.q = queue.Queue()

    def run(self):
        buf, ev, data = b"", None, []
        try:
            while True:
                chunk = self.resp.read1(65536)
                if not chunk:
                    return
                now = time.monotonic()
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line = line.rstrip(b"\r").decode()
                    if line == "":
                        if ev is not None:
                            self.q.put((now, ev, "\n".join(data)))
                        ev, data = None, []
                    elif line.startswith("event:"):
                        ev = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
        except Exception:
            return

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                t, ev, data = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if pred(ev, data):
                return t


def normal(n, start):
    return "".join(json.dumps({"level": "info", "message": "Request completed method=GET "
                               f"path=/api/users status=200 duration_ms={40 + (i * 7) % 20}"}) + "\n"
                   for i in range(start, start + n))


def burst(n, r):
    return "".join(json.dumps({"level": "error", "message": f"panic: runtime error: index out of "
                               f"range goroutine {r * 100 + i} [running] main.handler(0x{i * 7919:x})"
                               f" /srv/app/handler.go:{100 + i}"}) + "\n" for i in range(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--normal", type=int, default=460)
    ap.add_argument("--burst", type=int, default=20)
    ap.add_argument("--settings", default="{}")
    ap.add_argument("--binary", default="")
    ap.add_argument("--revision", default="")
    a = ap.parse_args()

    token = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection(urlsplit(a.url).hostname, urlsplit(a.url).port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.1)
    tf = os.path.join(a.data_dir, "admin.token")
    if os.path.exists(tf):
        token = open(tf).read().strip()
    cl = Client(a.url, token)
    settings = json.loads(a.settings)
    st, s = cl.call("PUT", "/api/v1/watch/streams/bench", {"type": "logs", "settings": settings})
    assert st in (200, 201), (st, s)
    eff = s["settings"]

    feed = Feed(a.url, token, "anomaly.created,bench.ping")
    feed.start()
    time.sleep(0.2)

    def drain_scored():
        # waits until every accepted event is scored, then lets stray anomalies arrive
        while True:
            _, stats = cl.call("GET", "/api/v1/watch/streams/bench")
            if stats["stats"]["queue_depth"] == 0 and stats["stats"]["events_scored"] == stats["stats"]["events_in"]:
                break
            time.sleep(0.01)
        time.sleep(0.05)
        while not feed.q.empty():
            feed.q.get_nowait()

    lat, missed, seq = [], 0, 0
    path = "/api/v1/watch/events?stream=bench"
    cl.call("POST", path, normal(eff["baseline"] + eff["window"], 0), "application/x-ndjson")
    for r in range(a.rounds):
        st, _ = cl.call("POST", path, normal(a.normal, seq), "application/x-ndjson")
        assert st == 202, st
        seq += a.normal
        drain_scored()
        t0 = time.monotonic()
        st, rep = cl.call("POST", path, burst(a.burst, r), "application/x-ndjson")
        assert st == 202, (st, rep)
        t1 = feed.wait(lambda ev, d: ev == "anomaly.created" and json.loads(d).get("stream") == "bench",
                       60)
        if t1 is None:
            missed += 1
        else:
            lat.append((t1 - t0) * 1000)

    floor = []
    for i in range(max(a.rounds, 50)):
        t0 = time.monotonic()
        st, _ = cl.call("POST", "/api/v1/test/publish", {"topic": "bench.ping", "data": {"i": i}})
        if st not in (200, 201, 202):
            break
        t1 = feed.wait(lambda ev, d: ev == "bench.ping" and json.loads(d).get("i") == i, 10)
        if t1 is not None:
            floor.append((t1 - t0) * 1000)

    _, stats = cl.call("GET", "/api/v1/watch/stats")
    res = {
        "benchmark": "watch-latency",
        "what": "POST of an injected burst -> anomaly.created on the SSE feed (ms)",
        "settings": eff,
        "rounds": a.rounds, "normal_per_round": a.normal, "burst": a.burst,
        "detected": len(lat), "missed": missed,
        "ganglion_ingest_to_sse_ms": {"p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99),
                                      "max": max(lat) if lat else None,
                                      "mean": statistics.mean(lat) if lat else None},
        "floor_publish_to_sse_ms": {"p50": pct(floor, 50), "p99": pct(floor, 99),
                                    "max": max(floor) if floor else None, "n": len(floor)},
        "anomalies_total": stats.get("anomalies_detected"),
        "windows_scored": stats.get("windows_scored"),
        "machine": "shared 2-core box",
        "binary": a.binary,
        "revision": a.revision,
    }
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
    g, fl = res["ganglion_ingest_to_sse_ms"], res["floor_publish_to_sse_ms"]
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    print(f"watch-latency: {len(lat)}/{a.rounds} bursts detected; ingest->SSE anomaly "
          f"p50 {fmt(g['p50'])} ms, p99 {fmt(g['p99'])} ms, max {fmt(g['max'])} ms; "
          f"floor publish->SSE p50 {fmt(fl['p50'])} ms, p99 {fmt(fl['p99'])} ms -> {a.out}")
    if missed:
        raise SystemExit(f"{missed} bursts produced no anomaly within 60 s")


if __name__ == "__main__":
    main()
