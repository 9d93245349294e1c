"""HTTP behaviour: RFC 9457 problems for every error path, request ids, keep-alive, gzip."""

import gzip
import http.client
import json
import re
import socket

import pytest

from conftest import assert_problem

ECHO = "/api/v1/test/echo"
VALIDATION = (400, 422)


# ---- 404 / 405 -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v1/system/info/extra",
                                  "/api/v1/" + "x" * 200, "/api/v2/system/info"])
def test_404_unknown_path(daemon, path):
    r = daemon.get(path)
    assert_problem(r, 404)


def test_405_wrong_method(daemon):
    r = daemon.request("DELETE", "/healthz")
    body = assert_problem(r, 405)
    allow = r.headers.get("Allow")
    assert allow is not None, "405 without Allow"
    assert "GET" in [m.strip() for m in allow.split(",")], allow
    r = daemon.request("GET", ECHO)
    assert_problem(r, 405)
    assert "POST" in r.headers.get("Allow", ""), r.headers
    r = daemon.post("/healthz", json={})
    assert_problem(r, 405)
    assert body["title"]


# ---- 413 / 415 / 400 -------------------------------------------------------------------------

@pytest.fixture
def small_body_daemon(make_daemon):
    return make_daemon(env={"GANGLION_SERVER_BODY_LIMIT": "2048"})


def test_413_body_over_limit(small_body_daemon):
    d = small_body_daemon
    ok = json.dumps({"name": "a", "tags": ["x" * 60] * 10})
    assert d.post(ECHO, data=ok, headers={"Content-Type": "application/json"}).status_code == 200
    big = json.dumps({"name": "a", "tags": ["x" * 5000]})
    r = d.post(ECHO, data=big, headers={"Content-Type": "application/json"})
    assert_problem(r, 413)
    # still serving afterwards
    assert d.get("/healthz").status_code == 200


def test_413_chunked_body_over_limit(small_body_daemon):
    d = small_body_daemon

    def gen():
        yield b'{"name":"a","tags":["'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"]}'

    r = d.post(ECHO, data=gen(), headers={"Content-Type": "application/json"})
    assert_problem(r, 413)
    assert d.get("/healthz").status_code == 200


def test_413_content_length_announced_too_big(small_body_daemon):
    """A client announcing a huge body is refused without the daemon reading (or buffering) it."""
    d = small_body_daemon
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(b"POST " + ECHO.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1073741824\r\n\r\n" + b"{" * 100)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert d.get("/healthz").status_code == 200


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None])
def test_415_wrong_content_type(daemon, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    r = daemon.post(ECHO, data=b'{"name":"a"}', headers=headers)
    assert_problem(r, 415)


def test_json_content_type_with_charset_accepted(daemon):
    r = daemon.post(ECHO, data=b'{"name":"a"}', headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("body", [b"{bad", b"", b"{\"name\": \"a\",}", b"[1,2", b"\xff\xfe{}",
                                  b"{\"name\":\"a\"} trailing", b"nul\x00l"])
def test_400_malformed_json(daemon, body):
    r = daemon.post(ECHO, data=body, headers={"Content-Type": "application/json"})
    assert_problem(r, VALIDATION if body == b"" else 400)


def test_too_deep_json_rejected(daemon):
    body = "[" * 5000 + "]" * 5000
    r = daemon.post(ECHO, data=body, headers={"Content-Type": "application/json"})
    assert_problem(r, (400, 413, 422))
    body = '{"name":"a","nested":' + '{"x":' * 3000 + "1" + "}" * 3001
    r = daemon.post(ECHO, data=body, headers={"Content-Type": "application/json"})
    assert_problem(r, (400, 413, 422))
    assert daemon.get("/healthz").status_code == 200


# ---- schema violations with field errors ------------------------------------------------------

@pytest.mark.parametrize("body,field", [
    ({}, "/name"),                                  # required
    ({"name": ""}, "/name"),                        # minLength
    ({"name": "x" * 65}, "/name"),                  # maxLength
    ({"name": 5}, "/name"),                         # type
    ({"name": "a", "count": "3"}, "/count"),        # type
    ({"name": "a", "count": 1.5}, "/count"),        # integer
    ({"name": "a", "count": 101}, "/count"),        # maximum
    ({"name": "a", "count": -1}, "/count"),         # minimum
    ({"name": "a", "mode": "c"}, "/mode"),          # enum
    ({"name": "a", "mode": 1}, "/mode"),            # enum/type
    ({"name": "a", "tags": ["t"] * 11}, "/tags"),   # maxItems
    ({"name": "a", "tags": "t"}, "/tags"),          # type
    ({"name": "a", "tags": ["t", 3]}, "/tags/1"),   # item type
    ({"name": "a", "nested": {"x": "1"}}, "/nested/x"),
    ({"name": "a", "nested": 3}, "/nested"),
])
def test_schema_violation_field_errors(daemon, body, field):
    r = daemon.post(ECHO, json=body)
    assert_problem(r, VALIDATION, field=field, in_="body")


def test_schema_not_an_object(daemon):
    for body in ([], "a", 3, None):
        r = daemon.post(ECHO, json=body)
        assert_problem(r, VALIDATION)


def test_several_field_errors_reported_together(daemon):
    r = daemon.post(ECHO, json={"count": 500, "mode": "z"})
    body = assert_problem(r, VALIDATION)
    fields = {e["field"].lstrip("/") for e in body["errors"]}
    assert {"name", "count", "mode"} <= fields, body["errors"]


def test_valid_echo(daemon):
    body = {"name": "n", "count": 100, "mode": "b", "tags": ["t"] * 10, "nested": {"x": 1.5}}
    r = daemon.post(ECHO, json=body)
    assert r.status_code == 200, r.text
    assert r.json() == body


@pytest.mark.parametrize("path,field", [
    ("/healthz?foo=1", "foo"),
    ("/api/v1/test/sleep?ms=abc", "ms"),
    ("/api/v1/test/sleep?ms=10001", "ms"),
    ("/api/v1/test/sleep?ms=-1", "ms"),
    ("/api/v1/audit?limit=-1", "limit"),
    ("/api/v1/audit?limit=abc", "limit"),
    ("/api/v1/audit?offset=-5", "offset"),
    ("/api/v1/audit?bogus=1", "bogus"),
])
def test_query_violation_field_errors(daemon, path, field):
    r = daemon.get(path)
    assert_problem(r, VALIDATION, field=field, in_="query")


# ---- request ids -----------------------------------------------------------------------------

def test_request_id_echoed(daemon):
    for path in ("/healthz", "/nope"):
        r = daemon.get(path, headers={"X-Request-Id": "abc-123_XYZ.7"})
        assert r.headers.get("X-Request-Id") == "abc-123_XYZ.7"
    r = daemon.post(ECHO, json={}, headers={"X-Request-Id": "req-422"})
    assert r.headers.get("X-Request-Id") == "req-422"


def test_request_id_generated(daemon):
    ids = set()
    for _ in range(5):
        rid = daemon.get("/healthz").headers.get("X-Request-Id")
        assert rid and re.fullmatch(r"[A-Za-z0-9._:-]{8,128}", rid), rid
        ids.add(rid)
    assert len(ids) == 5, "generated request ids repeat"


@pytest.mark.parametrize("bad", ["x" * 1000, "a\tb", "\u00e9t\u00e9", ""])
def test_insane_request_id_replaced(daemon, bad):
    r = daemon.get("/healthz", headers={"X-Request-Id": bad})
    assert r.status_code == 200
    rid = r.headers.get("X-Request-Id")
    assert rid and rid != bad


def test_request_id_in_logs(make_daemon):
    d = make_daemon(args=["--log-level", "debug"])
    d.get("/nope", headers={"X-Request-Id": "trace-me-42"})
    d.stop()
    assert any(l.get("request_id") == "trace-me-42" for l in d.log_lines()), d.stderr()[-2000:]


# ---- keep-alive and compression --------------------------------------------------------------

def test_keep_alive(daemon):
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=5)
    try:
        sock = None
        for i, (method, path, body) in enumerate([
                ("GET", "/healthz", None), ("GET", "/readyz", None), ("GET", "/nope", None),
                ("POST", ECHO, b'{"name":"k"}'), ("POST", ECHO, b'{bad'), ("GET", "/metrics", None),
                ("GET", "/healthz", None)]):
            headers = {"Content-Type": "application/json"} if body is not None else {}
            headers["Authorization"] = "Bearer " + daemon.token
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            assert r.status in (200, 400, 404), (path, r.status)
            assert (r.getheader("Connection") or "").lower() != "close", (path, r.headers)
            if sock is None:
                sock = conn.sock
            assert conn.sock is sock and sock is not None, f"connection not kept alive after {path}"
    finally:
        conn.close()


def test_pipelined_requests(daemon):
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as s:
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(req * 3)
        data = b""
        while data.count(b'{"status":"ok"}') < 3:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        assert data.count(b"HTTP/1.1 200") == 3


def test_gzip_when_asked(make_daemon):
    d = make_daemon(env={"GANGLION_SERVER_COMPRESS_MIN_BYTES": "512"})
    plain = d.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers.get("Content-Encoding") in (None, "identity")
    assert len(plain.content) > 512
    r = d.get("/openapi.json", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert r.status_code == 200
    assert r.headers.get("Content-Encoding") == "gzip", r.headers
    assert "accept-encoding" in r.headers.get("Vary", "").lower(), r.headers
    raw = r.raw.read(decode_content=False)
    assert len(raw) < len(plain.content)
    assert json.loads(gzip.decompress(raw)) == plain.json()
    # small bodies are not worth compressing
    small = d.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert small.headers.get("Content-Encoding") is None
    assert small.json() == {"status": "ok"}
