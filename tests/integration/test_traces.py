"""ganglion's own traces: a W3C traceparent taken from HTTP and ZMQ requests (a malformed one
starts a new trace), returned in the reply, carried into the request's log lines and into the
environment of the agents it spawns, and the request's span exported over OTLP/HTTP JSON to a
collector (here a local receiver)."""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import gzmq
from agents_util import spawn, wait_output

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TP = f"00-{TRACE}-{PARENT}-01"
TP_RE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}\Z")


class Receiver:
    """An OTLP/HTTP receiver: keeps every POSTed /v1/traces JSON body; answers after `delay`."""

    def __init__(self, delay=0.0):
        self.bodies, self.delay, self.lock = [], delay, threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                ok = self.path == "/v1/traces" and self.headers.get("Content-Type") == "application/json"
                if ok:
                    with outer.lock:
                        outer.bodies.append(json.loads(body))
                time.sleep(outer.delay)
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/v1/traces"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def spans(self):
        out = []
        with self.lock:
            for b in self.bodies:
                for rs in b["resourceSpans"]:
                    res = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
                    for ss in rs["scopeSpans"]:
                        for sp in ss["spans"]:
                            out.append(dict(sp, _resource=res, _scope=ss["scope"]))
        return out

    def wait_span(self, pred, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            hit = [s for s in self.spans() if pred(s)]
            if hit:
                return hit[0]
            time.sleep(0.05)
        raise AssertionError(f"no such span among {self.spans()}")

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _attrs(span):
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


def test_http_traceparent_continued_logged_and_exported(make_daemon, receiver):
    d = make_daemon(env={"GANGLION_OTEL_TRACES_ENDPOINT": receiver.url,
                         "GANGLION_LOG_LEVELS": "http=debug"})
    r = d.get("/api/v1/agents", headers={"traceparent": TP})
    assert r.status_code == 200
    m = TP_RE.match(r.headers["traceparent"])
    assert m and m.group(1) == TRACE and m.group(2) != PARENT, r.headers["traceparent"]
    span_id = m.group(2)

    span = receiver.wait_span(lambda s: s["spanId"] == span_id)
    assert span["traceId"] == TRACE and span["parentSpanId"] == PARENT
    assert span["name"] == "GET /api/v1/agents" and span["kind"] == 2
    a = _attrs(span)
    assert a["http.request.method"] == "GET" and a["http.route"] == "/api/v1/agents"
    assert a["http.response.status_code"] == "200" and a["ganglion.transport"] == "http"
    assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"]) > (time.time() - 60) * 1e9
    assert span["_resource"]["service.name"] == {"stringValue": "ganglion"}

    # the request's log line carries the same ids
    end = time.time() + 5
    while time.time() < end:
        lines = [l for l in d.log_lines() if l.get("msg") == "http: request"
                 and l.get("path") == "/api/v1/agents"]
        if lines:
            break
        time.sleep(0.05)
    assert lines and lines[-1]["trace_id"] == TRACE and lines[-1]["span_id"] == span_id

    # a 5xx-free 404 is a span too, with the route it did not match
    r = d.get("/no/such", headers={"traceparent": TP})
    sid = TP_RE.match(r.headers["traceparent"]).group(2)
    span = receiver.wait_span(lambda s: s["spanId"] == sid)
    assert _attrs(span)["http.response.status_code"] == "404"

    fams = d.metrics()
    assert fams["ganglion_trace_spans_exported_total"].samples[0].value >= 2
    assert fams["ganglion_trace_spans_dropped_total"].samples[0].value == 0


@pytest.mark.parametrize("bad", [
    f"00-{TRACE.upper()}-{PARENT}-01",          # upper-case hex
    f"00-{'0' * 32}-{PARENT}-01",               # all-zero trace id
    f"00-{TRACE}-{'0' * 16}-01",                # all-zero parent id
    f"ff-{TRACE}-{PARENT}-01",                  # version ff
    f"00-{TRACE}-{PARENT}-01-extra",            # version 00 with more after it
    f"00-{TRACE}-{PARENT}",                     # too short
    f"00_{TRACE}-{PARENT}-01",                  # wrong separator
])
def test_malformed_traceparent_starts_a_new_trace(daemon, bad):
    r = daemon.get("/healthz", headers={"traceparent": bad})
    assert r.status_code == 200
    m = TP_RE.match(r.headers["traceparent"])
    assert m and m.group(1) != TRACE.lower() and m.group(1) != "0" * 32


def test_later_version_and_new_trace_when_absent(daemon):
    # a later version is read by its version-00 prefix (W3C Trace Context, 4.3)
    r = daemon.get("/healthz", headers={"traceparent": f"01-{TRACE}-{PARENT}-01-more"})
    assert TP_RE.match(r.headers["traceparent"]).group(1) == TRACE
    a = daemon.get("/healthz").headers["traceparent"]
    b = daemon.get("/healthz").headers["traceparent"]
    assert TP_RE.match(a) and TP_RE.match(b) and a[3:35] != b[3:35]


def test_zmq_traceparent(make_daemon, receiver):
    d, rpc, _ = gzmq.zmq_daemon(make_daemon, env={"GANGLION_OTEL_TRACES_ENDPOINT": receiver.url})
    c = gzmq.Client(rpc)
    try:
        r = c.call("GET", "/healthz", traceparent=TP)
        assert r["status"] == 200
        m = TP_RE.match(r["headers"]["traceparent"])
        assert m and m.group(1) == TRACE
        span = receiver.wait_span(lambda s: s["spanId"] == m.group(2))
        assert span["parentSpanId"] == PARENT and _attrs(span)["ganglion.transport"] == "zmq"
        # without one the ZMQ reply stays as it was: no headers
        assert "headers" not in c.call("GET", "/healthz")
        # a traceparent that is not a string is an envelope error
        r = c.call("GET", "/healthz", traceparent=5)
        assert r["status"] == 400 and "/traceparent" in json.dumps(r["body"])
    finally:
        c.close()


def test_spawned_agent_continues_the_trace(daemon):
    r = daemon.post("/api/v1/agents", headers={"traceparent": TP},
                    json={"name": "traced", "argv": ["/bin/sh", "-c", "echo TP=$TRACEPARENT; sleep 30"]})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    request_span = TP_RE.match(r.headers["traceparent"]).group(2)
    o = wait_output(daemon, aid, lambda o: any("TP=" in l["text"] for l in o["lines"]))
    line = next(l["text"] for l in o["lines"] if "TP=" in l["text"])
    m = TP_RE.match(line[3:])
    assert m, line
    assert m.group(1) == TRACE and m.group(2) not in (PARENT, request_span)


def test_full_queue_drops_and_counts(make_daemon):
    slow = Receiver(delay=2.0)
    try:
        d = make_daemon(env={"GANGLION_OTEL_TRACES_ENDPOINT": slow.url,
                             "GANGLION_OTEL_TRACES_QUEUE": "16"})
        # the first batch holds the one export slot for 2 s; the queue behind it fills
        end = time.time() + 10
        dropped = 0
        while time.time() < end and dropped == 0:
            for _ in range(40):
                d.get("/healthz")
            dropped = d.metrics()["ganglion_trace_spans_dropped_total"].samples[0].value
        assert dropped > 0
        assert d.get("/healthz").status_code == 200  # requests are never held up by export
    finally:
        slow.close()


def test_websocket_envelope_traceparent(daemon):
    import gws

    async def go():
        async with gws.connect(daemon) as ws:
            await ws.send(json.dumps({"id": 7, "method": "GET", "path": "/healthz", "traceparent": TP}))
            return await gws.until(ws, lambda m: m.get("id") == 7 and "type" not in m)

    r = gws.run(go())
    assert r["status"] == 200
    m = TP_RE.match(r["headers"]["traceparent"])
    assert m and m.group(1) == TRACE and m.group(2) != PARENT
