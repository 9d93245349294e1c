"""A real local HTTP receiver for the alerts tests: python's http.server in a thread on a free
loopback port, answering each POST with the next status of a script (then the last one), and
keeping every request (headers, body) it saw."""
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import free_port


class Receiver:
    def __init__(self, statuses=(200,), port=None, delay_s=0):
        self.statuses = list(statuses)
        self.delay_s = delay_s  # a slow receiver: each answer waits this long
        self.requests = []
        self.lock = threading.Lock()
        self.port = port or free_port()
        self.server = None
        self.thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self):
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with rec.lock:
                    rec.requests.append({"headers": dict(self.headers), "body": body})
                    i = len(rec.requests) - 1
                    status = rec.statuses[min(i, len(rec.statuses) - 1)]
                time.sleep(rec.delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def got(self):
        with self.lock:
            return list(self.requests)

    def bodies(self):
        return [json.loads(r["body"]) for r in self.got()]

    def wait(self, n, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            if len(self.got()) >= n:
                return self.got()
            time.sleep(0.05)
        raise AssertionError(f"the receiver got {len(self.got())} requests, wanted {n}")


def signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def poll(fn, timeout=15, what="condition"):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def notifier(d, **body):
    body.setdefault("name", "n")
    body.setdefault("kind", "webhook")
    r = d.post("/api/v1/alerts/notifiers", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def rule(d, **body):
    body.setdefault("name", "r")
    r = d.post("/api/v1/alerts/rules", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def history(d, **q):
    r = d.get("/api/v1/alerts/history", params=q)
    assert r.status_code == 200, r.text
    return r.json()["history"]


def metric(d, name, **labels):
    fam = d.metrics().get(name)
    found = fam.find(**labels) if fam else []
    return found[0].value if found else None
