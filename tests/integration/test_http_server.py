"""The HTTP/1.1 server itself: chunked request bodies (extensions and trailers accepted; bad
syntax, a size beyond 2^64 or beyond the body limit refused), keep-alive and pipelined requests
answered in order, a later request's head checked and timed like the first, and every refusal an
RFC 9457 problem - also where the previous HTTP library answered with an HTML page (a chunked
body, a second head on a keep-alive connection, heads over 32 KiB) and over TLS. Raw sockets,
because a client library would refuse to send most of these."""

import json
import socket
import ssl
import time

import pytest

from conftest import SANITIZED
from test_http_edge import assert_problem, read_all, responses
from test_tls import certs, make_tls  # noqa: F401 (fixtures)

ECHO = b"/api/v1/test/echo"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
WAIT = 20 if SANITIZED else 5


def echo_chunked(token, chunks):
    return (b"POST " + ECHO + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token.encode() + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunks)


class Plain:
    def __init__(self, daemon):
        self.d = daemon

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=WAIT)
        return s


class Tls(Plain):
    def connect(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", self.d.port), timeout=WAIT)
        return ctx.wrap_socket(raw, server_hostname="localhost")


def read_tls_all(s):
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError, ssl.SSLError, OSError):
        pass
    return data


def talk(side, raw):
    with side.connect() as s:
        s.sendall(raw)
        return responses(read_tls_all(s) if isinstance(side, Tls) else read_all(s))


@pytest.fixture
def small(make_daemon):
    return make_daemon(env={"GANGLION_SERVER_BODY_LIMIT": "4k"})


@pytest.fixture(params=["plain", "tls"])
def side(request, make_daemon, make_tls, certs):  # noqa: F811
    env = {"GANGLION_SERVER_BODY_LIMIT": "4k"}
    if request.param == "plain":
        return Plain(make_daemon(env=env))
    return Tls(make_tls(*certs, env=env))


# ---- chunked bodies ------------------------------------------------------------------------

def test_chunked_body_with_extensions_and_trailers(small):
    body = b'{"name":"chunky"}'
    chunks = (b"5;ext=1\r\n" + body[:5] + b"\r\n" + b"%x\r\n" % (len(body) - 5) + body[5:] +
              b"\r\n0\r\nX-Trailer: ignored\r\n\r\n")
    got = talk(Plain(small), echo_chunked(small.token, chunks) +
               b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert [g[0] for g in got] == [200, 200], got
    assert json.loads(got[0][2])["name"] == "chunky"


CHUNK_ERRORS = [
    ("not-hex", b"zz\r\n", 400, "hexadecimal"),
    ("over-2^64", b"1" + b"0" * 16 + b"\r\n", 413, "2^64"),
    ("over-limit", b"2000\r\n" + b"a" * 100, 413, "4096 bytes"),
    ("no-crlf-after-data", b"2\r\nabcd\r\n0\r\n\r\n", 400, "CRLF"),
    ("bare-lf", b"2\nab\r\n0\r\n\r\n", 400, "chunk"),
    ("no-size", b"\r\n", 400, "missing"),
]


@pytest.mark.parametrize("name,chunks,status,words", CHUNK_ERRORS,
                         ids=[c[0] for c in CHUNK_ERRORS])
def test_bad_chunked_body_is_a_problem_and_ends_the_connection(side, name, chunks, status,
                                                               words):
    got = talk(side, echo_chunked(side.d.token, chunks) + HEALTHZ)
    assert len(got) == 1, [g[0] for g in got]  # framing is lost: nothing after it is served
    p = assert_problem(got[0], status)
    assert words in p["detail"], p
    assert got[0][1].get("connection") == "close"
    assert got[0][1].get("x-request-id") == p["request_id"]


# ---- later requests on a keep-alive connection ------------------------------------------------

SECOND_HEADS = [
    ("bad-version", b"GET /healthz HTTP/1.1x\r\nHost: x\r\n\r\n", 400),
    ("http09", b"GET /healthz\r\n\r\n", 400),
    ("http2", b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("bad-length", b"POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 12a\r\n\r\n",
     400),
    ("over-32k", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 40000 + b"\r\n\r\n", 431),
    ("folded", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400),
    ("huge-length", b"POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 99999999999999999999999\r\n\r\n", 413),
]


@pytest.mark.parametrize("name,raw,status", SECOND_HEADS, ids=[h[0] for h in SECOND_HEADS])
def test_bad_later_head_is_a_problem(side, name, raw, status):
    got = talk(side, HEALTHZ + raw + HEALTHZ)
    assert [g[0] for g in got] == [200, status], [g[0] for g in got]
    assert_problem(got[1], status)


def test_first_head_refused_plain_and_over_tls(side):
    got = talk(side, b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n")
    assert_problem(got[0], 505)


def test_pipelined_requests_answered_in_order(side):
    reqs = b"".join(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: r%d\r\n\r\n" % i
                    for i in range(20))
    got = talk(side, reqs + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert [g[0] for g in got] == [200] * 21
    assert [g[1]["x-request-id"] for g in got[:20]] == ["r%d" % i for i in range(20)]


def test_later_head_has_its_own_timeout(make_daemon):
    d = make_daemon(env={"GANGLION_SERVER_HEADER_TIMEOUT_MS": "500"})
    with socket.create_connection(("127.0.0.1", d.port), timeout=WAIT) as s:
        s.sendall(HEALTHZ)
        first = b""
        while b'{"status":"ok"}' not in first:
            first += s.recv(65536)
        # the next head trickles and never ends: it is refused after the header timeout, not
        # after the (much longer) idle timeout
        t0 = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        s.settimeout(0.2)
        data = b""
        while time.monotonic() - t0 < WAIT:
            try:
                s.sendall(b"X-Slow: 1\r\n")
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        took = time.monotonic() - t0
    got = responses(data)
    assert got, data
    assert_problem(got[0], 408)
    assert took < 3, took


def test_connection_limit_over_tls_is_a_problem(make_tls, certs):  # noqa: F811
    d = Tls(make_tls(*certs, env={"GANGLION_SERVER_MAX_CONNECTIONS_PER_ADDRESS": "2",
                                  "GANGLION_SERVER_HEADER_TIMEOUT_MS": "3000"}))
    held = [d.connect() for _ in range(2)]  # handshaken, idle: both slots of this address
    try:
        with d.connect() as s:  # the third is refused after its handshake, in TLS
            got = responses(read_tls_all(s))
        assert got, "no reply at the per-address limit"
        p = assert_problem(got[0], 429)
        assert "per address" in p["detail"]
        assert got[0][1].get("retry-after") == "3"
    finally:
        for s in held:
            s.close()
    refused = d.d.metrics()["ganglion_http_refused_total"]
    assert refused.find(status="429")[0].value >= 1


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def openapi_served(daemon):
    fam = daemon.metrics()["ganglion_http_requests_total"]
    return sum(smp.value for smp in fam.find() if smp.labels.get("endpoint") == "/openapi.json")


def test_client_that_does_not_read_holds_one_response(daemon):
    """Pipelined requests for a large reply, never read: the server writes what the socket
    takes and reads no further request, so it serves (and buffers) only what the socket buffers
    hold, not every request sent, and its memory does not grow with them."""
    req = (b"GET /openapi.json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
           + daemon.token.encode() + b"\r\n\r\n")
    one = daemon.get("/openapi.json")
    assert one.status_code == 200 and len(one.content) > 20000
    before = rss_kb(daemon.proc.pid)
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=WAIT) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setblocking(False)
        sent = 0
        for _ in range(4000):  # stops when the daemon stops reading and the buffers are full
            try:
                sent += s.send(req * 10)
            except BlockingIOError:
                break
        assert daemon.get("/healthz").status_code == 200  # the loop is not stuck
        served = openapi_served(daemon) - 1
        grown = rss_kb(daemon.proc.pid) - before
    requests_sent = sent // len(req)
    assert requests_sent > 2000, sent
    # what the kernel's socket buffers hold (a few MB of replies), not every request sent
    assert served < requests_sent // 10, (served, requests_sent)
    if not SANITIZED:  # the sanitizer keeps freed memory in quarantine
        assert grown < 16 * 1024, (grown, sent)
    assert daemon.get("/healthz").status_code == 200


def test_expect_continue_and_head(daemon):
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=WAIT) as s:
        body = b'{"name":"later"}'
        s.sendall(b"POST " + ECHO + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + daemon.token.encode() + b"\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        assert s.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body + b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got = responses(read_all(s))
    assert [g[0] for g in got] == [200, 200]
    assert json.loads(got[0][2])["name"] == "later"
    assert got[1][1]["content-length"] == "15" and got[1][2] == b""  # HEAD: no body


@pytest.mark.parametrize("target", [b"/healthz?x=%zz", b"/healthz?x=%00", b"/health%zz"])
def test_malformed_percent_encoding_is_400(daemon, target):
    got = talk(Plain(daemon), b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    p = assert_problem(got[0], 400)
    assert "percent-encoding" in p["detail"]


def test_client_gone_mid_request_frees_its_connection(daemon):
    """A client that hangs up while its request is served: the connection ends at once (and the
    registry is told to drop the reply), instead of living until the handler answers."""
    def open_connections():
        return daemon.metrics()["ganglion_http_connections"].find()[0].value

    base = open_connections()
    s = socket.create_connection(("127.0.0.1", daemon.port), timeout=WAIT)
    s.sendall(b"GET /api/v1/test/sleep?ms=3000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
              + daemon.token.encode() + b"\r\n\r\n")
    deadline = time.monotonic() + WAIT
    while open_connections() <= base:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    s.close()
    deadline = time.monotonic() + 1.5  # well before the handler's reply at 3 s
    while open_connections() > base:
        assert time.monotonic() < deadline, "the connection outlived its client"
        time.sleep(0.05)
    assert daemon.get("/healthz").status_code == 200
