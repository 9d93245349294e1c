"""The HTTP listener's edge: connection limits and the header timeout against slowloris, the
framing rules of RFC 9112 (duplicate Content-Length, Transfer-Encoding with Content-Length),
and every refusal an RFC 9457 problem, including those the HTTP library used to answer with an
HTML page. Raw sockets, because a client library would refuse to send most of these."""

import json
import socket
import time

import pytest

ECHO = "/api/v1/test/echo"


def connect(port, source="127.0.0.1", timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_all(s):
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def responses(data):
    """Splits raw bytes into (status, headers, body) triples using Content-Length."""
    out = []
    while data.startswith(b"HTTP/"):
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        out.append((status, hdrs, rest[:n]))
        data = rest[n:]
    return out


def exchange(port, raw, source="127.0.0.1"):
    with connect(port, source) as s:
        s.sendall(raw)
        return responses(read_all(s))


def assert_problem(resp, status):
    st, hdrs, body = resp
    assert st == status, (st, hdrs, body[:300])
    assert hdrs.get("content-type", "").startswith("application/problem+json"), (hdrs, body[:300])
    p = json.loads(body)
    assert p["status"] == status and p["type"].startswith("urn:ganglion:problem:"), p
    assert p["detail"]
    return p


# ---- finding 7: message framing ----------------------------------------------------------

SMUGGLE = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("fields", [
    b"Content-Length: 0\r\nContent-Length: %d\r\n" % len(SMUGGLE),
    b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(SMUGGLE), len(SMUGGLE)),
    b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n" % len(SMUGGLE),
    b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(SMUGGLE),
], ids=["different-lengths", "same-lengths", "te-then-cl", "cl-then-te"])
@pytest.mark.parametrize("position", ["first", "keep-alive"])
def test_ambiguous_body_length_refused_and_nothing_smuggled(daemon, fields, position):
    req = (b"POST " + ECHO.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           + fields + b"\r\n" + SMUGGLE)
    lead = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" if position == "keep-alive" else b""
    got = exchange(daemon.port, lead + req)
    if lead:
        assert got and got[0][0] == 200
        got = got[1:]
    assert len(got) == 1, [g[0] for g in got]  # the body was not read as a second request
    p = assert_problem(got[0], 400)
    assert "Content-Length" in p["detail"] or "Transfer-Encoding" in p["detail"]


def test_transfer_coding_other_than_chunked_refused(daemon):
    got = exchange(daemon.port, b"POST " + ECHO.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                   b"Transfer-Encoding: gzip\r\n\r\nxxxx")
    assert_problem(got[0], 400)


def test_single_content_length_still_works_on_keep_alive(daemon):
    body = b'{"name":"a"}'
    auth = b"Authorization: Bearer " + daemon.token.encode() + b"\r\n"
    one = (b"POST " + ECHO.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           + auth + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    with connect(daemon.port) as s:
        s.sendall(one + one + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = responses(read_all(s))
    assert [g[0] for g in got] == [200, 200, 200]


# ---- finding 8: every refusal a problem --------------------------------------------------

@pytest.fixture
def edge_daemon(make_daemon):
    # Default head limits: server.header_max 16k, server.uri_max 8k.
    return make_daemon(env={"GANGLION_SERVER_BODY_LIMIT": "4k"})


REFUSALS = [
    ("http09", b"GET /healthz\r\n\r\n", 400),
    ("http2", b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("http0", b"GET /healthz HTTP/0.8\r\nHost: x\r\n\r\n", 505),
    ("bad-version", b"GET /healthz HTTP/1.1x\r\nHost: x\r\n\r\n", 400),
    ("huge-length", b"POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 99999999999999999999999\r\n\r\n", 413),
    ("over-limit", b"POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413),
    ("bad-length", b"POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 12a\r\n\r\n", 400),
    ("negative-length", b"POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    ("long-uri", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("long-query", b"GET /healthz?x=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("big-header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
    ("huge-header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 100000 + b"\r\n\r\n", 431),
    ("many-headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                     + b"".join(b"H%d: v\r\n" % i for i in range(300)) + b"\r\n", 431),
    ("no-host", b"GET /healthz HTTP/1.1\r\n\r\n", 400),
    ("two-hosts", b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
    ("space-before-colon", b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("folded", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400),
]


@pytest.mark.parametrize("name,raw,status", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusal_is_a_problem(edge_daemon, name, raw, status):
    got = exchange(edge_daemon.port, raw)
    assert got, f"{name}: no reply"
    p = assert_problem(got[0], status)
    assert p.get("request_id"), p
    st, hdrs, _ = got[0]
    assert hdrs.get("x-request-id") == p["request_id"]
    assert hdrs.get("x-content-type-options") == "nosniff"
    if status == 413:
        assert p["detail"].endswith("4096 bytes"), p


# The same heads after a first request on the connection: libmicrohttpd parses those itself, so
# the access handler applies the rules; each is still a problem.
KEEP_ALIVE_REFUSALS = [r for r in REFUSALS if r[0] in (
    "over-limit", "long-uri", "big-header", "no-host", "two-hosts")]


@pytest.mark.parametrize("name,raw,status", KEEP_ALIVE_REFUSALS,
                         ids=[r[0] for r in KEEP_ALIVE_REFUSALS])
def test_refusal_after_keep_alive_is_a_problem(edge_daemon, name, raw, status):
    got = exchange(edge_daemon.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + raw)
    assert [g[0] for g in got][:1] == [200]
    assert len(got) == 2, f"{name}: {[g[0] for g in got]}"
    assert_problem(got[1], status)


def test_http10_without_host_is_fine(daemon):
    got = exchange(daemon.port, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert got[0][0] == 200


def test_repeated_query_parameter_refused(daemon):
    r = daemon.get("/api/v1/audit?limit=1&limit=2")
    assert r.status_code == 422, r.text
    assert r.headers["Content-Type"].startswith("application/problem+json")
    errs = r.json()["errors"]
    assert {"in": "query", "field": "limit", "message": "is given more than once"} in errs
    assert daemon.get("/api/v1/audit?limit=1").status_code == 200


# ---- finding 6: slowloris ------------------------------------------------------------------

SLOW_ENV = {"GANGLION_SERVER_MAX_CONNECTIONS": "40", "GANGLION_SERVER_MAX_CONNECTIONS_PER_ADDRESS": "8",
            "GANGLION_SERVER_HEADER_TIMEOUT_MS": "2000"}


SLOW_SRC = "127.0.0.6"  # not the address the fixture's own session connects from


def healthz_time(port, source):
    t0 = time.monotonic()
    got = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", source)
    return got, time.monotonic() - t0


def test_slowloris_does_not_starve_healthz(make_daemon):
    d = make_daemon(env=SLOW_ENV)
    slow = []
    try:
        # 30 connections from one address, each sending a header line now and then and never
        # finishing its head: only 8 are let in, the rest are told why.
        for _ in range(30):
            s = connect(d.port, SLOW_SRC)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            slow.append(s)
        refused = []
        for s in slow[8:]:
            got = responses(read_all(s))
            refused.append(got)
        assert all(g and g[0][0] == 429 for g in refused), [g[:1] for g in refused]
        p = assert_problem(refused[0][0], 429)
        assert refused[0][0][1].get("retry-after") == "2", refused[0][0][1]
        assert "per address" in p["detail"]
        slow = slow[:8]

        # Another client address is served at once, while the slow ones keep dripping.
        for s in slow:
            s.sendall(b"X-Slow: 1\r\n")
        got, took = healthz_time(d.port, "127.0.0.2")
        assert got and got[0][0] == 200 and took < 1.0, (got[:1], took)

        # The header timeout ends the slow ones even though they keep sending (an idle
        # timeout would not). The first one goes quiet, so its 408 problem is read whole; the
        # others' may be lost to the reset their next line causes after the close.
        t0 = time.monotonic()
        ended = [None] * len(slow)
        while None in ended and time.monotonic() - t0 < 10:
            for i, s in enumerate(slow):
                if ended[i] is not None:
                    continue
                s.settimeout(0.1)
                try:
                    if i:
                        s.sendall(b"X-Slow: 1\r\n")
                    data = s.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    data = b"<reset>"
                ended[i] = data + read_all(s) if data else b"<closed>"
        assert None not in ended, ended
        assert_problem(responses(ended[0])[0], 408)
        assert all(e.startswith(b"HTTP/1.1 408") or e == b"<reset>" for e in ended), ended
        got, took = healthz_time(d.port, SLOW_SRC)
        assert got and got[0][0] == 200 and took < 1.0
        refused = d.metrics()["ganglion_http_refused_total"]
        assert refused.find(status="429")[0].value == 22
        assert refused.find(status="408")[0].value == 8
    finally:
        for s in slow:
            s.close()


def test_total_connection_limit_answers_503(make_daemon):
    d = make_daemon(env={"GANGLION_SERVER_MAX_CONNECTIONS": "12",
                         "GANGLION_SERVER_MAX_CONNECTIONS_PER_ADDRESS": "6",
                         "GANGLION_SERVER_HEADER_TIMEOUT_MS": "5000"})
    held = []
    try:
        for src in ("127.0.0.3", "127.0.0.4"):
            for _ in range(6):
                s = connect(d.port, src)
                s.sendall(b"GET /healthz HTTP/1.1\r\n")
                held.append(s)
        # Every slot is taken: a new address gets 503 with Retry-After, not a silent close.
        got = exchange(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "127.0.0.5")
        assert got, "no reply at the connection limit"
        assert_problem(got[0], 503)
        assert got[0][1].get("retry-after") == "5"
        # A slot freed is a slot usable.
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:
            got = exchange(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                           "127.0.0.5")
            if got and got[0][0] == 200:
                break
            assert time.monotonic() < deadline, got[:1]
            time.sleep(0.05)
    finally:
        for s in held:
            s.close()
