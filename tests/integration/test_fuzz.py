"""Bounded, seeded garbage: random methods, paths, headers and bodies, plus malformed HTTP on
raw sockets. The daemon must keep serving and never answer 5xx (501 for an unknown method and
505 for an unknown HTTP version are meaningful)."""

import json
import random
import socket
import string
import http.client

import pytest

SEED = 20240611
ALLOWED_5XX = {501, 505}
PATHS = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/api/v1/system/info", "/api/v1/audit",
         "/api/v1/test/echo", "/api/v1/test/publish", "/api/v1", "/api", "/", "//", "/..", "/../etc/passwd",
         "/api/v1/audit/../../healthz", "/%2e%2e/%2e%2e", "/%00", "/%ff%fe", "/api/v1/test/echo%00",
         "/" + "a" * 3000, "/api/v1/" + "/".join(["x"] * 200), "/~!@$&'()*+,;=", "/%", "/%zz", "/\u00e9"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECTX", "get",
           "FOO", "M" * 100]
CTYPES = [None, "application/json", "application/json; charset=utf-8", "text/plain", "application/problem+json",
          "multipart/form-data; boundary=x", "application/json; charset=latin1", "", "*/*", "\x7f"]


def rand_json(rng, depth=0):
    k = rng.randrange(8 if depth < 6 else 4)
    if k == 0:
        return None
    if k == 1:
        return rng.choice([True, False])
    if k == 2:
        return rng.choice([0, -1, 2**31, 2**63, -2**64, 1e308, -1e-308, 0.5, 101, 100])
    if k == 3:
        return "".join(rng.choice(string.printable + "\u00e9\u2603\U0001F600") for _ in range(rng.randrange(80)))
    if k in (4, 5):
        return [rand_json(rng, depth + 1) for _ in range(rng.randrange(12))]
    keys = ["name", "count", "mode", "tags", "nested", "x", "topic", "data", "", "\u0000", "a" * 300]
    return {rng.choice(keys): rand_json(rng, depth + 1) for _ in range(rng.randrange(6))}


def rand_body(rng):
    k = rng.randrange(7)
    if k == 0:
        return b""
    if k == 1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(2000)))
    if k == 2:
        return json.dumps(rand_json(rng)).encode()
    if k == 3:
        s = json.dumps(rand_json(rng)).encode()
        cut = rng.randrange(len(s) + 1)
        return s[:cut] + bytes([rng.randrange(256)]) + s[cut:]
    if k == 4:
        return json.dumps({"name": "n" * rng.randrange(0, 70), "count": rng.randrange(-5, 110),
                           "mode": rng.choice(["a", "b", "c"]), "tags": ["t"] * rng.randrange(13),
                           "nested": {"x": rng.choice([1, "1", None, [1]])}}).encode()
    if k == 5:
        d = rng.randrange(1, 300)
        return (b"[" * d + b"]" * d) if rng.random() < 0.5 else (b'{"a":' * d + b"1" + b"}" * d)
    return json.dumps({"topic": rng.choice(["a.b", "", "*", "a" * 500, "x.\u00e9"]),
                       "data": rand_json(rng)}).encode()


def rand_query(rng):
    if rng.random() < 0.5:
        return ""
    keys = ["limit", "offset", "ms", "topics", "since", "until", "principal", "action", "result", "x", "", "%00"]
    vals = ["0", "-1", "1", "99999999999999999999", "abc", "", "%", "%zz", "1e3", "0x10", "\u00e9", "a,b", "' OR 1=1"]
    parts = []
    for _ in range(rng.randrange(1, 5)):
        k, v = rng.choice(keys), rng.choice(vals)
        if k == "ms":
            v = rng.choice(["abc", "-1", "99999", "", "1e9"])  # never a real sleep
        parts.append(f"{k}={v}" if rng.random() < 0.9 else k)
    return "?" + "&".join(parts)


def _check_alive(d):
    r = d.get("/healthz", timeout=5)
    assert r.status_code == 200


def test_fuzz_requests(daemon):
    rng = random.Random(SEED)
    bad = []
    for i in range(400):
        method = rng.choice(METHODS)
        path = rng.choice(PATHS) + rand_query(rng)
        body = rand_body(rng) if rng.random() < 0.8 else None
        headers = {}
        ct = rng.choice(CTYPES)
        if ct is not None:
            headers["Content-Type"] = ct
        if rng.random() < 0.2:
            headers["X-Request-Id"] = rng.choice(["", "x" * 500, "\u00e9", "ok-1", "a\tb"])
        if rng.random() < 0.1:
            headers["Last-Event-ID"] = rng.choice(["-1", "abc", "99999999999999999999999", "1"])
        if rng.random() < 0.1:
            headers["Accept-Encoding"] = rng.choice(["gzip", "br", "*", "gzip;q=0", "x" * 1000])
        if rng.random() < 0.05:
            headers["X-Junk-" + str(i)] = "j" * rng.randrange(5000)
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=10)
        try:
            try:
                conn.putrequest(method, path.encode("utf-8", "surrogateescape").decode("latin-1"),
                                skip_accept_encoding=True)
                for k, v in headers.items():
                    conn.putheader(k, v.encode("utf-8"))
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
            except (ValueError, http.client.InvalidURL):
                continue  # the client refused to send it; nothing to learn
            try:
                r = conn.getresponse()
                r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # closing the connection is a fair answer to garbage; the daemon must still be up
                _check_alive(daemon)
                continue
            if r.status >= 500 and r.status not in ALLOWED_5XX:
                bad.append((method, path[:120], headers.get("Content-Type"), (body or b"")[:80], r.status))
            if r.status >= 400 and method.upper() != "HEAD" and r.status != 505:
                ctype = r.getheader("Content-Type", "")
                if r.getheader("Content-Length", "1") != "0" and not ctype.startswith("application/problem+json"):
                    bad.append(("non-problem error", method, path[:120], r.status, ctype))
        finally:
            conn.close()
        if i % 50 == 0:
            _check_alive(daemon)
    _check_alive(daemon)
    assert not bad, "\n".join(map(repr, bad[:20]))


RAW = [
    b"\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n\r\n",
    b"GET /healthz HTTP/1.0\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{}",
    b"POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n",
    b"POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nffffffffffffffff\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 100000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(2000)) + b"\r\n",
    b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),  # a TLS ClientHello-ish
    b"GET /healthz HTTP/1.1\nHost: x\n\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
]


@pytest.mark.parametrize("i", range(len(RAW)))
def test_raw_garbage(daemon, i):
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as s:
        try:
            s.sendall(RAW[i])
            s.shutdown(socket.SHUT_WR)
            data = b""
        except OSError:
            data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:  # reset, broken pipe, not connected, timeout: the daemon hung up on us
            pass
    if data.startswith(b"HTTP/"):
        status = int(data.split(b" ", 2)[1])
        assert status < 500 or status in ALLOWED_5XX, data[:300]
    _check_alive(daemon)


def test_random_bytes_connections(daemon):
    rng = random.Random(SEED + 1)
    for _ in range(40):
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=2) as s:
            try:
                s.sendall(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))))
                s.shutdown(socket.SHUT_WR)
                s.recv(65536)
            except OSError:
                pass
    _check_alive(daemon)


def test_many_idle_connections_do_not_block(daemon):
    socks = []
    try:
        for _ in range(100):
            socks.append(socket.create_connection(("127.0.0.1", daemon.port), timeout=5))
        for s in socks[::10]:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x")  # half a request, never finished
        _check_alive(daemon)
    finally:
        for s in socks:
            s.close()
    _check_alive(daemon)
