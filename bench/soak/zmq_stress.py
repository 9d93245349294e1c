"""ZMQ reply-loss stress: DEALER clients doing the soak's ZMQ mix as fast as they can (or at a
set rate) against one daemon, alongside HTTP user writes and watch ingest, counting requests
that get no reply. What docs/testing.md ("Soak", the unanswered ZMQ request) reports.

    GANGLION_BIN=build/ganglion /usr/bin/python3 bench/soak/zmq_stress.py --seconds 60 \\
        --clients 6 --depth 1 [--deferred] [--churn 7] [--signals 50000]

--depth: requests in flight per client; --deferred: users created and deleted over ZMQ too
(store jobs, so replies made after the request's wake-up); --churn N: a new socket every N
requests; --signals R: SIGCHLD sent to the daemon's loop thread R times a second (the daemon
handles SIGCHLD once an agent ran). Rate limits are off. Prints the counts and the daemon's
ZMQ counters; exit status 1 when a request went unanswered or a ZMQ counter shows a drop.
Needs python3-zmq, python3-msgpack, python3-requests."""

import argparse
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import msgpack
import requests
import zmq

PASSWORD = "stress-password-0123456789"
CALLS = [("GET", "/healthz", None, None, 200), ("GET", "/api/v1/agents/stats", None, None, 200),
         ("GET", "/api/v1/watch/streams", None, None, 200),
         ("POST", "/api/v1/watch/events", {"stream": "soak-zmq"}, [{"msg": "zmq event"}], 202)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Stress:
    def __init__(self, a):
        self.a = a
        self.tmp = tempfile.mkdtemp(prefix="ganglion-zstress.")
        port, zport, zpub = free_port(), free_port(), free_port()
        self.url, self.zmq = f"http://127.0.0.1:{port}", f"tcp://127.0.0.1:{zport}"
        args = [a.bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                f"{self.tmp}/data", "--log-level", "warn", "--zmq-listen", f"127.0.0.1:{zport}",
                "--zmq-pub", f"127.0.0.1:{zpub}", "--set", "ratelimit.enabled=0"]
        env = dict(os.environ, GANGLION_AUTH_PWHASH_OPSLIMIT="1",
                   GANGLION_AUTH_PWHASH_MEMLIMIT="8k")
        self.log = open(f"{self.tmp}/daemon.log", "w")
        self.d = subprocess.Popen(args, stderr=self.log, env=env)
        for _ in range(400):
            try:
                if (os.path.getsize(f"{self.tmp}/data/admin.token")
                        and requests.get(self.url + "/healthz", timeout=1).ok):
                    break
            except (OSError, requests.RequestException):
                pass
            time.sleep(0.05)
        with open(f"{self.tmp}/data/admin.token") as f:
            self.token = f.read().strip()
        self.h = {"Authorization": f"Bearer {self.token}"}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.n = {"sent": 0, "ok": 0, "unexpected": 0, "missing": 0, "http": 0, "http_errors": 0,
                  "signals": 0}
        self.missing = []

    def count(self, key, k=1):
        with self.lock:
            self.n[key] += k

    def socket(self):
        s = zmq.Context.instance().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.zmq)
        return s

    def request(self, ci, n, users):
        if self.a.deferred and random.random() < 0.25:
            if users and random.random() < 0.5:
                return ("DELETE", f"/api/v1/users/{users.pop()}", None, None, 204)
            return ("POST", "/api/v1/users", None,
                    {"username": f"z{ci}-{n}", "password": PASSWORD, "role": "viewer"}, 201)
        return random.choice(CALLS)

    def client(self, ci):
        sock, out, users, n = self.socket(), {}, [], 0
        while not self.stop.is_set() or out:
            if self.a.churn and not out and n and n % self.a.churn == 0:
                sock.close(0)
                sock = self.socket()
            if self.a.rate and not out:
                time.sleep(random.expovariate(self.a.rate))
            while not self.stop.is_set() and len(out) < self.a.depth:
                n += 1
                method, path, query, body, want = self.request(ci, n, users)
                env = {"id": n, "method": method, "path": path, "token": self.token}
                if query:
                    env["query"] = query
                if body is not None:
                    env["body"] = [dict(body[0], n=n)] if isinstance(body, list) else body
                enc = random.choice(("json", "msgpack"))
                sock.send(msgpack.packb(env, use_bin_type=True) if enc == "msgpack"
                          else json.dumps(env).encode())
                out[n] = (time.monotonic(), enc, method, path, want)
                self.count("sent")
            if sock.poll(100):
                payload = sock.recv_multipart()[-1]
                rep = (json.loads(payload) if payload[:1] == b"{"
                       else msgpack.unpackb(payload, raw=False))
                t0, enc, method, path, want = out.pop(rep.get("id"), (None,) * 5)
                if t0 is not None and rep.get("status") == want:
                    if method == "POST" and path == "/api/v1/users":
                        users.append(rep["body"]["id"])
                    self.count("ok")
                else:
                    self.count("unexpected")
                    print("unexpected reply:", str(rep)[:300], flush=True)
            now = time.monotonic()
            for rid, (t0, enc, method, path, want) in list(out.items()):
                if now - t0 > self.a.timeout:
                    del out[rid]
                    self.count("missing")
                    with self.lock:
                        self.missing.append([ci, rid, enc, method, path])
                    print("no reply:", ci, rid, enc, method, path, flush=True)
        sock.close(0)

    def http_writes(self):
        s = requests.Session()
        s.headers.update(self.h)
        n = 0
        while not self.stop.is_set():
            n += 1
            r = s.post(self.url + "/api/v1/users", timeout=30,
                       json={"username": f"h{threading.get_ident()}-{n}", "password": PASSWORD,
                             "role": "viewer"})
            ok = r.status_code == 201
            if ok:
                ok = s.delete(self.url + f"/api/v1/users/{r.json()['id']}",
                              timeout=30).status_code == 204
            self.count("http", 2)
            self.count("http_errors", 0 if ok else 1)

    def watch(self):
        s = requests.Session()
        s.headers.update(self.h)
        n = 0
        while not self.stop.is_set():
            lines = [json.dumps({"level": "info", "msg": "request served", "n": n + i})
                     for i in range(50)]
            n += 50
            r1 = s.post(self.url + "/api/v1/watch/events", params={"stream": "soak-logs"},
                        data="\n".join(lines) + "\n", timeout=30,
                        headers={"Content-Type": "application/x-ndjson"})
            r2 = s.post(self.url + "/api/v1/watch/events", timeout=30,
                        params={"stream": "soak-metrics", "type": "metrics"},
                        json=[{"value": 100 + random.gauss(0, 3)} for _ in range(10)])
            self.count("http", 2)
            self.count("http_errors", (r1.status_code != 202) + (r2.status_code != 202))

    def signaller(self):
        """SIGCHLD to the daemon's main (loop) thread: tgkill, so it is not taken by another."""
        requests.post(self.url + "/api/v1/agents", headers=self.h, timeout=30,
                      json={"name": "sigchld", "argv": ["true"]})
        time.sleep(1)  # the agents module's SIGCHLD handler is in place by now
        libc = ctypes.CDLL(None, use_errno=True)
        tgkill = 234  # x86-64
        k = 0
        while not self.stop.is_set():
            libc.syscall(tgkill, self.d.pid, self.d.pid, signal.SIGCHLD)
            k += 1
            if k % 100 == 0:
                time.sleep(100 / self.a.signals)
        self.count("signals", k)

    def zmq_counters(self):
        text = requests.get(self.url + "/metrics", headers=self.h, timeout=10).text
        return {line.rsplit(" ", 1)[0].replace("ganglion_zmq_", ""): float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("ganglion_zmq_") and "curve" not in line}

    def run(self):
        a = self.a
        ths = [threading.Thread(target=self.client, args=(i,)) for i in range(a.clients)]
        ths += [threading.Thread(target=self.http_writes) for _ in range(a.http)]
        ths += [threading.Thread(target=self.watch) for _ in range(a.watch)]
        if a.signals:
            ths.append(threading.Thread(target=self.signaller))
        t0 = time.monotonic()
        for t in ths:
            t.start()
        while time.monotonic() - t0 < a.seconds and self.d.poll() is None:
            time.sleep(5)
            with self.lock:
                print(f"t={time.monotonic() - t0:.0f}s", self.n, flush=True)
        self.stop.set()
        for t in ths:
            t.join(timeout=a.timeout + 30)
        elapsed = time.monotonic() - t0
        res = {"seconds": round(elapsed), "clients": a.clients, "depth": a.depth,
               "deferred": a.deferred, "churn": a.churn, **self.n,
               "zmq_rate_per_s": round(self.n["sent"] / elapsed),
               "no_reply": self.missing[:20], "zmq_counters": self.zmq_counters()}
        self.d.terminate()
        self.d.wait(20)
        shutil.rmtree(self.tmp, ignore_errors=True)
        print(json.dumps(res, indent=1))
        c = res["zmq_counters"]
        dropped = sum(v for k, v in c.items() if k.startswith("dropped_total"))
        return 1 if self.n["missing"] or self.n["unexpected"] or dropped else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("GANGLION_BIN", "build/ganglion"))
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--rate", type=float, default=0, help="per client, requests/s; 0 = no pause")
    ap.add_argument("--deferred", action="store_true")
    ap.add_argument("--churn", type=int, default=0)
    ap.add_argument("--signals", type=float, default=0)
    ap.add_argument("--http", type=int, default=2, help="HTTP user writers")
    ap.add_argument("--watch", type=int, default=1, help="HTTP watch ingesters")
    ap.add_argument("--timeout", type=float, default=10, help="seconds before a reply is missing")
    return Stress(ap.parse_args()).run()


if __name__ == "__main__":
    sys.exit(main())
