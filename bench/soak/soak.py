"""Driver of bench/soak/run: mixed traffic against one running daemon for a set time — HTTP reads
and writes, RPC over ZMQ, agents spawned that print and are checked and removed, watch ingest —
while sampling the daemon's RSS, open files and event-loop lag. Every answer is classified:
expected, a designed refusal (429 with Retry-After), or an error. Exit status 1 when there was
an error or RSS grew by 5 % or more after the warm-up.

Python 3 with requests, pyzmq and msgpack (Debian: python3-requests, python3-zmq,
python3-msgpack)."""

import argparse
import collections
import json
import os
import random
import sys
import threading
import time

import msgpack
import requests
import zmq

PASSWORD = "soak-password-0123456789"


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class Tally:
    """Counts answers per traffic kind; keeps the first errors whole."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ok = collections.Counter()
        self.refused = collections.Counter()
        self.errors = collections.Counter()
        self.first_errors = []
        self.lat = collections.defaultdict(list)  # kind -> seconds (sampled)

    def add(self, kind, outcome, took=None, what=None):
        with self.lock:
            getattr(self, outcome)[kind] += 1
            if outcome == "errors" and len(self.first_errors) < 20:
                self.first_errors.append({"kind": kind, "at": time.time(), "what": what})
            if took is not None and len(self.lat[kind]) < 200000:
                self.lat[kind].append(took)


class Soak:
    def __init__(self, a):
        self.a = a
        self.url = a.url
        self.stop = threading.Event()
        self.t = Tally()
        token = open(os.path.join(a.data_dir, "admin.token")).read().strip()
        self.token = token
        self.h = {"Authorization": "Bearer " + token}
        self.samples = []
        self.sse_resp = None

    # ---- HTTP helpers -------------------------------------------------------------------

    def session(self):
        s = requests.Session()
        s.trust_env = False
        s.headers.update(self.h)
        return s

    def call(self, s, kind, method, path, expect, **kw):
        """One request; returns the response or None. 429 with Retry-After is a designed
        refusal (the client waits as told); anything not in expect is an error."""
        t0 = time.monotonic()
        try:
            r = s.request(method, self.url + path, timeout=30, **kw)
        except requests.RequestException as e:
            self.t.add(kind, "errors", what=f"{method} {path}: {e!r}")
            return None
        took = time.monotonic() - t0
        if r.status_code in expect:
            self.t.add(kind, "ok", took)
            return r
        if r.status_code == 429 and r.headers.get("Retry-After", "").isdigit():
            self.t.add(kind, "refused", took)
            self.stop.wait(min(int(r.headers["Retry-After"]), 5))
            return None
        self.t.add(kind, "errors", took, f"{method} {path}: {r.status_code} {r.text[:300]}")
        return None

    def pace(self, per_s):
        self.stop.wait(random.expovariate(per_s) if per_s > 0 else 1.0)

    # ---- traffic ------------------------------------------------------------------------

    def http_reads(self):
        s = self.session()
        paths = ["/healthz", "/readyz", "/api/v1/system/info", "/api/v1/agents?limit=20",
                 "/api/v1/agents/stats", "/api/v1/watch/streams", "/api/v1/audit?limit=10",
                 "/api/v1/users", "/api/v1/keys", "/api/v1/watch/anomalies?limit=10",
                 "/api/v1/watch/stats", "/openapi.json"]
        while not self.stop.is_set():
            self.call(s, "http-read", "GET", random.choice(paths), (200,))
            self.pace(self.a.read_rate)

    def http_writes(self):
        """Users created, read back and deleted; a few API keys rotated and used at once. Keys
        are rotated rather than created and revoked: a revoked key's row stays (for the audit
        trail) and GET /api/v1/keys lists every row, so churning keys would grow the table and
        that reply for the whole run — a cost of the churn, not of the daemon."""
        s = self.session()
        keys = []
        for i in range(4):
            r = self.call(s, "http-write", "POST", "/api/v1/keys", (201,),
                          json={"name": f"soak-key-{i}", "role": "viewer"})
            if r is not None:
                keys.append(r.json()["id"])
        n = 0
        while not self.stop.is_set():
            n += 1
            r = self.call(s, "http-write", "POST", "/api/v1/users", (201,),
                          json={"username": f"soak-{n}", "password": PASSWORD, "role": "viewer"})
            if r is not None:
                uid = r.json()["id"]
                self.call(s, "http-write", "GET", f"/api/v1/users/{uid}", (200,))
                self.call(s, "http-write", "DELETE", f"/api/v1/users/{uid}", (204,))
            if keys:
                r = self.call(s, "http-write", "POST", f"/api/v1/keys/{random.choice(keys)}/rotate",
                              (200, 201))
                if r is not None:
                    self.call(s, "http-write", "GET", "/api/v1/agents/stats", (200,),
                              headers={"Authorization": None, "X-Api-Key": r.json()["secret"]})
            self.pace(self.a.write_rate)

    def zmq_rpc(self):
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 30000)
        sock.connect(self.a.zmq)
        calls = [("GET", "/healthz", None, None, 200),
                 ("GET", "/api/v1/agents/stats", None, None, 200),
                 ("GET", "/api/v1/watch/streams", None, None, 200),
                 ("POST", "/api/v1/watch/events", {"stream": "soak-zmq"},
                  [{"msg": "zmq event", "n": 0}], 202)]
        n = 0
        while not self.stop.is_set():
            n += 1
            method, path, query, body, want = random.choice(calls)
            env = {"id": n, "method": method, "path": path, "token": self.token}
            if query:
                env["query"] = query
            if body is not None:
                body[0]["n"] = n
                env["body"] = body
            enc = random.choice(("json", "msgpack"))
            data = msgpack.packb(env, use_bin_type=True) if enc == "msgpack" else json.dumps(env).encode()
            t0 = time.monotonic()
            try:
                sock.send(data)
                frames = sock.recv_multipart()
            except zmq.ZMQError as e:
                self.t.add("zmq", "errors",
                           what=f"{method} {path} ({enc}, id {n}): {e!r}; daemon's ZMQ counters "
                                f"now: {self.zmq_counters()}")
                sock.close(0)
                sock = ctx.socket(zmq.DEALER)
                sock.setsockopt(zmq.LINGER, 0)
                sock.setsockopt(zmq.RCVTIMEO, 30000)
                sock.connect(self.a.zmq)
                continue
            took = time.monotonic() - t0
            rep = msgpack.unpackb(frames[-1], raw=False) if enc == "msgpack" else json.loads(frames[-1])
            st = rep.get("status")
            if rep.get("id") == n and st == want:
                self.t.add("zmq", "ok", took)
            elif st == 429 and str(rep.get("headers", {}).get("Retry-After", "")).isdigit():
                self.t.add("zmq", "refused", took)
                self.stop.wait(1)
            else:
                self.t.add("zmq", "errors", took, f"{method} {path}: {str(rep)[:300]}")
            self.pace(self.a.zmq_rate)
        sock.close(0)

    def agents(self):
        """Agents that print a known number of lines: spawned, waited for, their output checked
        line by line, then deleted."""
        s = self.session()
        while not self.stop.is_set():
            lines = random.randint(50, 500)
            r = self.call(s, "agents", "POST", "/api/v1/agents", (201,),
                          json={"name": "soak", "allow_duplicate_name": True, "labels": {"soak": "1"},
                                "argv": ["sh", "-c", f'i=0; while [ $i -lt {lines} ]; do '
                                         f'i=$((i+1)); echo "soak line $i"; done; '
                                         f'echo "done" >&2']})
            if r is None:
                continue
            aid = r.json()["id"]
            deadline = time.monotonic() + 30
            a = None
            while not self.stop.is_set() and time.monotonic() < deadline:
                r = self.call(s, "agents", "GET", f"/api/v1/agents/{aid}", (200,))
                a = r.json() if r is not None else None
                if a and a["status"] in ("completed", "failed", "stopped", "killed", "lost"):
                    break
                self.stop.wait(0.2)
            if self.stop.is_set():
                self.call(s, "agents", "DELETE", f"/api/v1/agents/{aid}", (200, 204, 409))
                break
            if not a or a["status"] != "completed":
                self.t.add("agents", "errors", what=f"agent {aid} ended as {a and a['status']}")
            else:
                r = self.call(s, "agents", "GET", f"/api/v1/agents/{aid}/output", (200,),
                              params={"stream": "stdout", "limit": 1000})
                if r is not None:
                    got = [l.get("text") if isinstance(l, dict) else l
                           for l in r.json().get("lines", [])]
                    want = [f"soak line {i}" for i in range(1, lines + 1)]
                    if got != want:
                        self.t.add("agents", "errors",
                                   what=f"agent {aid}: {len(got)} lines, wanted {lines}")
            self.call(s, "agents", "DELETE", f"/api/v1/agents/{aid}", (200, 204))

    def watch_ingest(self):
        """Log lines in NDJSON batches, now and then a burst of something else."""
        s = self.session()
        n = 0
        levels = ["info"] * 20 + ["warn"] * 3 + ["debug"] * 5
        while not self.stop.is_set():
            batch = []
            for _ in range(self.a.watch_batch):
                n += 1
                batch.append(json.dumps({"level": random.choice(levels), "msg": "request served",
                                         "path": f"/items/{n % 97}", "ms": n % 13, "n": n}))
            if random.random() < 0.02:
                batch += [json.dumps({"level": "error", "msg": "panic: nil map write",
                                      "stack": "x" * 200, "n": n + i}) for i in range(20)]
            self.call(s, "watch", "POST", "/api/v1/watch/events", (202,),
                      params={"stream": "soak-logs"}, data="\n".join(batch) + "\n",
                      headers={"Content-Type": "application/x-ndjson"})
            self.call(s, "watch", "POST", "/api/v1/watch/events", (202,),
                      params={"stream": "soak-metrics", "type": "metrics"},
                      json=[{"value": 100 + random.gauss(0, 3)} for _ in range(10)])
            self.pace(self.a.watch_rate)

    def sse(self):
        """One live event stream of agents' status changes and anomalies, read for the whole run;
        each event counts as an answer, a stream that ends before the run does is an error."""
        s = self.session()
        while not self.stop.is_set():
            try:
                r = s.get(self.url + "/api/v1/stream", params={"topics": "agent.*.status,anomaly.*"},
                          headers={"Accept": "text/event-stream"}, stream=True, timeout=60)
            except requests.RequestException as e:
                self.t.add("sse", "errors", what=f"connect: {e!r}")
                self.stop.wait(1)
                continue
            self.sse_resp = r
            if r.status_code != 200:
                self.t.add("sse", "errors", what=f"stream: {r.status_code} {r.text[:200]}")
                self.stop.wait(1)
                continue
            try:
                for line in r.iter_lines(chunk_size=4096):
                    if line.startswith(b"event:"):
                        self.t.add("sse", "ok")
                    if self.stop.is_set():
                        break
            except (requests.RequestException, AttributeError, ValueError) as e:
                if not self.stop.is_set():  # closed by the main thread at the end otherwise
                    self.t.add("sse", "errors", what=f"stream broke: {e!r}")
            else:
                if not self.stop.is_set():
                    self.t.add("sse", "errors", what="stream ended by the daemon")
            r.close()

    # ---- sampling -----------------------------------------------------------------------

    def scrape(self):
        r = requests.get(self.url + "/metrics", headers=self.h, timeout=30,
                         proxies={"http": None})
        b = {}
        for line in r.text.splitlines():
            if line.startswith("ganglion_loop_lag_seconds_bucket{"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                b[float("inf") if le == "+Inf" else float(le)] = float(line.rsplit(" ", 1)[1])
        return b

    def zmq_counters(self):
        """The daemon's ZMQ counters (messages in and out, malformed, dropped by reason, in
        flight): read when a ZMQ request went unanswered, they say on which side it was lost."""
        try:
            r = requests.get(self.url + "/metrics", headers=self.h, timeout=30,
                             proxies={"http": None})
        except requests.RequestException as e:
            return {"error": repr(e)}
        return {line.rsplit(" ", 1)[0].replace("ganglion_zmq_", ""): float(line.rsplit(" ", 1)[1])
                for line in r.text.splitlines()
                if line.startswith("ganglion_zmq_") and "curve" not in line
                and "events_published" not in line}

    def proc(self):
        rss = None
        with open(f"/proc/{self.a.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{self.a.pid}/fd"))
        return rss, fds

    def sampler(self, t_start):
        prev = self.scrape()
        while not self.stop.is_set():
            rss, fds = self.proc()
            h = self.scrape()
            p99 = hist_quantile(prev, h, .99)
            prev = h
            self.samples.append({"t": round(time.monotonic() - t_start, 1), "rss_kb": rss,
                                 "fds": fds, "lag_p99_ms": round(p99, 2) if p99 else None})
            self.stop.wait(self.a.sample_s)


def hist_quantile(b0, b1, q):
    """histogram_quantile() between two scrapes, in ms (linear inside a bucket)."""
    les = sorted(b1)
    cum = [b1[le] - b0.get(le, 0) for le in les]
    total = cum[-1] if cum else 0
    if not total:
        return None
    rank, prev_le, prev_c = q * total, 0.0, 0.0
    for le, c in zip(les, cum):
        if c >= rank and c > prev_c:
            if le == float("inf"):
                return prev_le * 1000
            return (prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)) * 1000
        prev_le, prev_c = le, c
    return les[-2] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--zmq", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--warmup", type=float, default=None)
    ap.add_argument("--sample-s", type=float, default=10)
    ap.add_argument("--read-rate", type=float, default=40)
    ap.add_argument("--write-rate", type=float, default=5)
    ap.add_argument("--zmq-rate", type=float, default=40)
    ap.add_argument("--watch-rate", type=float, default=4)
    ap.add_argument("--watch-batch", type=int, default=50)
    ap.add_argument("--agents", type=int, default=3, help="agents in flight")
    ap.add_argument("--only", default="",
                    help="comma-separated traffic kinds to run (reads,writes,zmq,watch,agents,sse); "
                         "default all — for finding which one a growth comes from")
    ap.add_argument("--out", required=True)
    ap.add_argument("--revision", default="unknown")
    a = ap.parse_args()
    warmup = a.warmup if a.warmup is not None else min(120.0, a.seconds * 0.2)

    soak = Soak(a)
    h0 = soak.scrape()
    t_start = time.monotonic()
    kinds = {"reads": [soak.http_reads] * 2, "writes": [soak.http_writes],
             "zmq": [soak.zmq_rpc] * 2, "watch": [soak.watch_ingest],
             "agents": [soak.agents] * a.agents, "sse": [soak.sse]}
    only = [k for k in a.only.split(",") if k] or list(kinds)
    workers = [w for k in only for w in kinds[k]]
    threads = [threading.Thread(target=w, daemon=True) for w in workers]
    threads.append(threading.Thread(target=soak.sampler, args=(t_start,), daemon=True))
    for th in threads:
        th.start()
    h_warm = None
    while time.monotonic() - t_start < a.seconds:
        time.sleep(1)
        if h_warm is None and time.monotonic() - t_start >= warmup:
            h_warm = soak.scrape()
        if not os.path.exists(f"/proc/{a.pid}"):
            soak.t.add("daemon", "errors", what="the daemon exited")
            break
    elapsed = time.monotonic() - t_start
    soak.stop.set()
    if soak.sse_resp is not None:
        soak.sse_resp.close()  # the reader would otherwise wait for the next heartbeat
    for th in threads:
        th.join(timeout=60)
    h1 = soak.scrape()
    idle_rss, fds = soak.proc()
    soak.samples.append({"t": round(elapsed, 1), "rss_kb": idle_rss, "fds": fds, "lag_p99_ms": None,
                         "idle": True})

    # Growth after the warm-up: the median of the last three samples against the median of the
    # first three after the warm-up, so that one sample taken at a busy instant does not decide.
    # Only samples taken under traffic count: the one after the clients stopped (and after the
    # daemon's periodic trim may have run on an idle heap) would flatter the end.
    after = [s for s in soak.samples if s["t"] >= warmup and not s.get("idle")]
    rss = [s["rss_kb"] for s in after]
    base = sorted(rss[:3])[len(rss[:3]) // 2] if rss else None
    last = sorted(rss[-3:])[len(rss[-3:]) // 2] if rss else None
    peak = max(rss) if rss else None
    growth = (last - base) / base * 100 if base else None
    # Least-squares slope of the samples after the warm-up, KB a minute: a steady rise shows here,
    # a single step (a bounded pool reaching its size late) shows in the samples.
    slope = None
    if len(after) >= 3:
        ts = [s["t"] / 60.0 for s in after]
        mt, mr = sum(ts) / len(ts), sum(rss) / len(rss)
        den = sum((t - mt) ** 2 for t in ts)
        slope = sum((t - mt) * (r - mr) for t, r in zip(ts, rss)) / den if den else None
    t = soak.t
    total_ok = sum(t.ok.values())
    res = {
        "revision": a.revision, "seconds": round(elapsed, 1), "warmup_s": warmup,
        "requests": {k: {"ok": t.ok[k], "refused": t.refused[k], "errors": t.errors[k],
                         "p99_ms": round(pct(t.lat[k], 99) * 1000, 2) if t.lat[k] else None}
                     for k in sorted(set(t.ok) | set(t.refused) | set(t.errors))},
        "total_ok": total_ok, "rate_per_s": round(total_ok / elapsed, 1),
        "errors": sum(t.errors.values()), "refused": sum(t.refused.values()),
        "first_errors": t.first_errors,
        "rss_kb": {"start": soak.samples[0]["rss_kb"], "after_warmup": base, "peak": peak,
                   "end": last, "idle_after_run": idle_rss,
                   "growth_after_warmup_pct": round(growth, 2) if growth is not None else None,
                   "slope_kb_per_min_after_warmup": round(slope, 1) if slope is not None else None},
        "zmq_counters": soak.zmq_counters(),
        "fds": {"after_warmup": after[0]["fds"] if after else None, "end": fds},
        "loop_lag_ms": {"p50": hist_quantile(h0, h1, .5), "p99": hist_quantile(h0, h1, .99),
                        "p999": hist_quantile(h0, h1, .999),
                        "p99_after_warmup": hist_quantile(h_warm or h0, h1, .99)},
        "samples": soak.samples,
    }
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    summary = {k: v for k, v in res.items() if k != "samples"}
    print(json.dumps(summary, indent=1))
    bad = res["errors"] > 0 or (growth is not None and growth >= 5.0)
    if bad:
        print("soak: FAILED (errors, or RSS grew by 5 % or more after the warm-up)", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
