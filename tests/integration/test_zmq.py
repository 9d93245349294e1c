"""The ZMQ transport: the RPC envelope over REQ and DEALER in JSON and MessagePack, pipelining,
replies identical to HTTP, bounds (oversize, garbage, in-flight per peer), the PUB socket,
`--zmq-listen off`, graceful shutdown, and CURVE with an allowed and a refused client."""

import json
import os
import socket
import stat
import time

import msgpack
import pytest
import zmq

from conftest import free_port
from gzmq import TIMEOUT_MS, Client, decode, encode, zmq_daemon


def _zmq_metric(d, name, **labels):
    fams = d.metrics()
    total = 0.0
    for s in fams[name].samples:
        if all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
    return total


@pytest.mark.parametrize("kind", [zmq.REQ, zmq.DEALER])
@pytest.mark.parametrize("enc", ["json", "msgpack"])
def test_envelope_round_trip(make_daemon, kind, enc):
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc, kind=kind, enc=enc)
    r = c.call("GET", "/healthz", id="hz-1")
    assert r["status"] == 200 and r["body"] == d.get("/healthz").json()
    body = {"name": "n", "count": 3, "tags": ["a"], "nested": {"x": 2.0}}
    r = c.call("POST", "/api/v1/test/echo", body=body, id=77)
    assert r["id"] == 77 and r["status"] == 200
    assert r["body"] == body
    # Integers stay integers and floats stay floats, in both encodings.
    assert isinstance(r["body"]["count"], int) and isinstance(r["body"]["nested"]["x"], float)
    # Lower-case methods and a query carried in the path are accepted.
    r = c.call("get", "/api/v1/audit?limit=1")
    assert r["status"] == 200 and r["body"]["limit"] == 1
    c.close()


def test_dealer_with_delimiter_frame(make_daemon):
    """A DEALER that frames like REQ ([""][payload]) gets its reply framed the same way."""
    d, rpc, _ = zmq_daemon(make_daemon)
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.RCVTIMEO, TIMEOUT_MS)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(rpc)
    s.send_multipart([b"", json.dumps({"id": 1, "method": "GET", "path": "/healthz"}).encode()])
    frames = s.recv_multipart()
    assert len(frames) == 2 and frames[0] == b""
    assert json.loads(frames[1])["status"] == 200
    s.close(0)


def test_msgpack_types(make_daemon):
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc, enc="msgpack")
    # bin becomes a base64 string; a negative integer and a float32 survive.
    body = {"name": "b", "count": 0, "tags": [b"\x00\xff"], "nested": {"x": -5}}
    r = c.call("POST", "/api/v1/test/echo", body=body)
    assert r["status"] == 200
    assert r["body"]["tags"] == ["AP8="]
    assert r["body"]["nested"]["x"] == -5 and isinstance(r["body"]["nested"]["x"], int)
    c.sock.send(b"\x83\xa2id\x09\xa6method\xa3GET\xa4path\xa8/healthz")  # hand-made fixmap
    assert c.recv()["id"] == 9
    c.sock.send(msgpack.packb({"id": 10, "method": "POST", "path": "/api/v1/test/echo",
                               "body": {"name": "f", "nested": {"x": 1.5}}, "token": d.token},
                              use_single_float=True))
    r = c.recv()
    assert r["body"]["nested"]["x"] == 1.5 and isinstance(r["body"]["nested"]["x"], float)
    c.close()


def test_pipelined_dealer(make_daemon):
    """Hundreds of requests in flight on one DEALER, synchronous and asynchronous endpoints
    mixed: every one is answered once, matched by id."""
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc, timeout_ms=TIMEOUT_MS * 3)
    ids = {}
    for i in range(600):
        if i % 5 == 0:
            rid = c.send("GET", "/api/v1/test/sleep", query={"ms": i % 40}, id=f"s{i}")
        elif i % 3 == 0:
            rid = c.send("POST", "/api/v1/test/echo", body={"name": f"e{i}"}, id=i,
                         enc="msgpack" if i % 2 else "json")
        else:
            rid = c.send("GET", "/healthz", id=i)
        ids[rid] = i
    seen = {}
    for _ in range(600):
        frames = c.sock.recv_multipart()
        try:
            r = json.loads(frames[-1])
        except ValueError:
            r = msgpack.unpackb(frames[-1], raw=False)
        assert r["id"] in ids and r["id"] not in seen, r
        seen[r["id"]] = r
        assert r["status"] == 200, r
        i = ids[r["id"]]
        if i % 5 and i % 3 == 0:
            assert r["body"] == {"name": f"e{i}"}
    assert len(seen) == 600
    c.close()


def _http_vs_zmq(d, c, method, path, body=None, query=None, raw=None, n=[0]):
    n[0] += 1
    rid = f"cmp-{n[0]}"
    kw = {"headers": {"X-Request-Id": rid}}
    if body is not None:
        kw["json"] = body
    if query is not None:
        kw["params"] = query
    h = d.request(method, path, **kw)
    z = c.call(method, path, body=body, query=query, id=rid)
    try:
        hb = h.json()
    except ValueError:
        hb = h.text or None
    return h, hb, z


CASES = [
    ("GET", "/healthz", None, None),
    ("GET", "/api/v1/nope", None, None),
    ("GET", "/api/v1/audit/", None, None),
    ("POST", "/healthz", None, None),
    ("DELETE", "/api/v1/audit", None, None),
    ("POST", "/api/v1/test/echo", {"name": "ok", "count": 5, "mode": "a"}, None),
    ("POST", "/api/v1/test/echo", {}, None),
    ("POST", "/api/v1/test/echo", {"name": "", "count": 101, "mode": "z", "extra": 1}, None),
    ("POST", "/api/v1/test/echo", {"name": "x", "tags": [1, 2], "nested": {"x": "no"}}, None),
    ("POST", "/api/v1/test/echo", [1, 2], None),
    ("GET", "/api/v1/test/sleep", None, {"ms": "abc"}),
    ("GET", "/api/v1/test/sleep", None, {"ms": "20001"}),
    ("GET", "/api/v1/test/sleep", None, {"ms": "5"}),
    ("GET", "/api/v1/audit", None, {"limit": "0"}),
    ("GET", "/healthz", {"unexpected": True}, None),
]


def test_replies_identical_to_http(make_daemon):
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc)
    for method, path, body, query in CASES:
        h, hb, z = _http_vs_zmq(d, c, method, path, body=body, query=query)
        assert z["status"] == h.status_code, (method, path, z, h.text)
        assert z["body"] == hb, (method, path, z["body"], hb)
        if h.status_code == 405:
            assert z["headers"]["Allow"] == h.headers["Allow"]
    # The same problems in MessagePack.
    c2 = Client(rpc, enc="msgpack")
    h, hb, z = _http_vs_zmq(d, c2, "POST", "/api/v1/test/echo", body={"count": -1})
    assert z["status"] == 422 and z["body"] == hb
    c.close()
    c2.close()


def test_stream_endpoint_points_to_pub(make_daemon):
    d, rpc, pub = zmq_daemon(make_daemon)
    c = Client(rpc)
    r = c.call("GET", "/api/v1/stream", query={"topics": "a.*"})
    assert r["status"] == 400
    assert r["body"]["type"].endswith("use-pub-socket") and r["body"]["pub"] == pub
    c.close()


def test_malformed_envelopes(make_daemon):
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc, timeout_ms=1000)
    before = _zmq_metric(d, "ganglion_zmq_malformed_total")
    # With an id: a problem naming the fields.
    r = c.call("FETCH", "healthz", id="bad-1", params={})
    assert r["status"] == 400 and r["body"]["type"].endswith("bad-envelope")
    fields = {e["field"] for e in r["body"]["errors"]}
    assert {"/method", "/path", "params"} <= fields, fields
    r = c.call("GET", "/healthz", id=5, query=[1])
    assert r["status"] == 400 and r["id"] == 5
    r = c.call("GET", "/healthz", id=6, query={"a": {"b": 1}})
    assert r["status"] == 400
    # Without an id, or undecodable: dropped, counted, and the next request still works.
    for junk in [b"", b"garbage", b"[1,2]", b"{\"method\":\"GET\",\"path\":\"/healthz\"}",
                 b"{\"id\":[1],\"method\":\"GET\",\"path\":\"/healthz\"}", b"\x81\xa2id",
                 b"\xdd\xff\xff\xff\xff", b"\x81\xc1\x01", b"{" * 5000, os.urandom(4096)]:
        c.sock.send(junk)
    c.sock.send_multipart([b"a", b"b", b"c"])
    with pytest.raises(zmq.Again):
        c.recv()
    assert c.call("GET", "/healthz")["status"] == 200
    assert _zmq_metric(d, "ganglion_zmq_malformed_total") >= before + 14
    assert _zmq_metric(d, "ganglion_zmq_dropped_total", reason="malformed") >= 11
    c.close()


def test_oversize(make_daemon):
    d, rpc, _ = zmq_daemon(make_daemon, args=["--set", "zmq.max_message=64k"])
    c = Client(rpc, timeout_ms=2000)
    # Over the limit but within twice it: a 413 problem with the id.
    r = c.call("POST", "/api/v1/test/echo", body={"name": "x" * 100_000}, id="big")
    assert r["status"] == 413 and r["body"]["max_bytes"] == 65536
    # Far over: libzmq drops the connection; the daemon keeps serving everyone else.
    c.send("POST", "/api/v1/test/echo", body={"name": "x" * 1_000_000}, id="huge")
    with pytest.raises(zmq.Again):
        c.recv()
    c.close()
    c2 = Client(rpc)
    assert c2.call("GET", "/healthz")["status"] == 200
    assert _zmq_metric(d, "ganglion_zmq_dropped_total", reason="oversize") >= 1
    c2.close()


def test_inflight_bound_per_peer(make_daemon):
    d, rpc, _ = zmq_daemon(make_daemon, args=["--set", "zmq.max_inflight_per_peer=4"])
    c = Client(rpc)
    for i in range(10):
        c.send("GET", "/api/v1/test/sleep", query={"ms": 400}, id=i)
    got = [c.recv() for _ in range(10)]
    statuses = sorted(r["status"] for r in got)
    assert statuses == [200] * 4 + [429] * 6, statuses
    limited = [r for r in got if r["status"] == 429]
    assert limited[0]["headers"]["Retry-After"] == "1"
    # Another peer is not affected by the first one's backlog.
    other = Client(rpc)
    assert other.call("GET", "/healthz")["status"] == 200
    c.close()
    other.close()


def test_pub_receives_bus_events(make_daemon):
    d, rpc, pub = zmq_daemon(make_daemon)
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVTIMEO, 200)
    sub.setsockopt(zmq.SUBSCRIBE, b"zt.")
    sub.connect(pub)
    # A subscription takes a moment to reach the publisher: publish until one arrives.
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    got = None
    while time.monotonic() < deadline and got is None:
        d.publish("zt.warmup", {"n": 0})
        try:
            got = sub.recv_multipart()
        except zmq.Again:
            pass
    assert got and got[0] == b"zt.warmup", got
    while True:  # drain the warm-up events
        try:
            sub.recv_multipart()
        except zmq.Again:
            break
    d.publish("other.topic", {"skip": True})
    d.publish("zt.a.b", {"k": [1, 2.5, "x"]})
    topic, payload = sub.recv_multipart()
    assert topic == b"zt.a.b" and json.loads(payload) == {"k": [1, 2.5, "x"]}
    assert _zmq_metric(d, "ganglion_zmq_events_published_total") >= 2
    sub.close(0)


def test_zmq_off(make_daemon):
    rpc, pub = free_port(), free_port()
    d = make_daemon(args=["--zmq-listen", "off", "--zmq-pub", "off"])
    assert d.get("/healthz").status_code == 200
    assert not any(l.get("msg") == "zmq: serving" for l in d.log_lines())
    d2 = make_daemon(args=["--zmq-listen", "off", "--zmq-pub", f"127.0.0.1:{pub}"])
    # Nothing listens on the RPC port we could have used; the PUB port is taken.
    with socket.socket() as s:
        s.bind(("127.0.0.1", rpc))
    with socket.socket() as s, pytest.raises(OSError):
        s.bind(("127.0.0.1", pub))
    assert "ganglion_zmq_messages_in_total" in d2.get("/metrics").text


def test_explicit_address_in_use_fails_start(make_daemon):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        d = make_daemon(args=["--zmq-listen", f"127.0.0.1:{port}"], start=False)
        with pytest.raises(Exception) as e:
            d.start(port=free_port())
        assert "ZMQ" in str(e.value) or "zmq" in str(e.value)
        d.returncode = d.proc.returncode


def test_bad_address_is_refused(make_daemon):
    d = make_daemon(args=["--zmq-listen", "nonsense"], start=False)
    with pytest.raises(Exception) as e:
        d.start(port=free_port())
    assert "zmq.listen" in str(e.value)
    d.returncode = d.proc.returncode


def test_shutdown_answers_requests_in_flight(make_daemon):
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc)
    c.send("GET", "/api/v1/test/sleep", query={"ms": 300}, id="late")
    time.sleep(0.1)
    d.send_signal(15)
    r = c.recv()
    assert r["id"] == "late" and r["status"] == 200
    assert d.wait() == 0
    c.close()


def _curve_setup(d):
    key_file = d.data_dir / "zmq_curve.key"
    pub_file = d.data_dir / "zmq_curve.pub"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    return pub_file.read_text().strip().encode()


def test_curve_allowed_and_refused(make_daemon):
    allowed_pub, allowed_sec = zmq.curve_keypair()
    other_pub, other_sec = zmq.curve_keypair()
    late_pub, late_sec = zmq.curve_keypair()
    d, rpc, pub = zmq_daemon(make_daemon, args=["--set", "zmq.curve=on"], start=False)
    d.data_dir.mkdir(parents=True, exist_ok=True)
    (d.data_dir / "zmq_clients").write_text(f"# test clients\n{allowed_pub.decode()}\nnot-a-key\n")
    d.start()
    server_pub = _curve_setup(d)

    ok = Client(rpc, curve=(server_pub, allowed_pub, allowed_sec))
    assert ok.call("GET", "/healthz")["status"] == 200

    refused = Client(rpc, curve=(server_pub, other_pub, other_sec), timeout_ms=1500)
    refused.send("GET", "/healthz")
    with pytest.raises(zmq.Again):
        refused.recv()
    refused.close()

    plain = Client(rpc, timeout_ms=1500)  # no CURVE at all
    plain.send("GET", "/healthz")
    with pytest.raises(zmq.Again):
        plain.recv()
    plain.close()
    assert _zmq_metric(d, "ganglion_zmq_curve_auth_total", result="denied") >= 1

    # The allow-list is re-read when it changes: a key added now works on the next connection.
    with open(d.data_dir / "zmq_clients", "a") as f:
        f.write(late_pub.decode() + "\n")
    late = Client(rpc, curve=(server_pub, late_pub, late_sec))
    assert late.call("GET", "/healthz")["status"] == 200

    # The PUB socket takes the same clients.
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVTIMEO, 200)
    sub.curve_serverkey, sub.curve_publickey, sub.curve_secretkey = server_pub, allowed_pub, allowed_sec
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(pub)
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    got = None
    while time.monotonic() < deadline and got is None:
        d.publish("curve.t", {"n": 1})
        try:
            got = sub.recv_multipart()
        except zmq.Again:
            pass
    assert got and got[0] == b"curve.t"
    sub.close(0)
    ok.close()
    late.close()

    # The keypair survives a restart (clients keep their copy of the server key).
    d.restart()
    assert _curve_setup(d) == server_pub
