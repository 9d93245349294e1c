"""The WebSocket transport at /api/v1/ws with a real client (Python `websockets`): RPC through
the registry, event subscriptions, authentication in the upgrade or a first message, refusals
as problems, ping/pong, the idle timeout, the message bound (1009) and slow consumers (1008)."""

import asyncio
import json

import pytest
import requests
import websockets

from gws import connect, recv_json, rpc, run, until, ws_url


def test_rpc_answers_like_http(daemon):
    async def go():
        async with connect(daemon) as ws:
            r = await rpc(ws, "GET", "/api/v1/auth/me")
            assert r["status"] == 200
            assert r["body"] == daemon.get("/api/v1/auth/me").json()
            r = await rpc(ws, "POST", "/api/v1/test/echo", body={"name": "ws", "count": 3})
            h = daemon.post("/api/v1/test/echo", json={"name": "ws", "count": 3})
            assert r["status"] == h.status_code == 200 and r["body"] == h.json()
            # a validation problem, field errors and all, as over HTTP
            r = await rpc(ws, "POST", "/api/v1/test/echo", body={"count": 300})
            assert r["status"] == 422 and r["body"]["errors"]
            # a route that does not exist: the registry's 404 problem, with the envelope id
            r = await rpc(ws, "GET", "/api/v1/nope")
            assert r["status"] == 404 and r["body"]["status"] == 404
            # a malformed envelope still gets a reply with its id
            await ws.send(json.dumps({"id": "x1", "method": "FETCH", "path": "/healthz"}))
            m = await until(ws, lambda m: m.get("id") == "x1")
            assert m["status"] == 400 and m["body"]["errors"] and "type" not in m
            # not JSON at all: an error message, the connection stays
            await ws.send("{not json")
            m = await recv_json(ws)
            assert m["type"] == "error" and m["status"] == 400
            assert (await rpc(ws, "GET", "/healthz"))["status"] == 200
    run(go())


def test_many_requests_in_flight_all_answered(daemon):
    async def go():
        async with connect(daemon) as ws:
            for i in range(200):
                await ws.send(json.dumps({"id": i, "method": "GET", "path": "/healthz"}))
            seen = set()
            while len(seen) < 200:
                m = await recv_json(ws)
                assert m["status"] == 200
                seen.add(m["id"])
    run(go())


def test_no_token_and_bad_token_are_refused_per_request(daemon):
    async def go():
        async with connect(daemon, token=None) as ws:
            r = await rpc(ws, "GET", "/api/v1/auth/me")
            assert r["status"] == 401 and r["body"]["status"] == 401 and r["body"]["detail"]
            # public endpoints stay public, as over HTTP
            assert (await rpc(ws, "GET", "/healthz"))["status"] == 200
            # a token in the envelope, as on ZMQ
            assert (await rpc(ws, "GET", "/api/v1/auth/me", token=daemon.token))["status"] == 200
            # a subscription needs a credential too
            await ws.send(json.dumps({"type": "subscribe", "topics": ["test.*"]}))
            m = await recv_json(ws)
            assert m["type"] == "error" and m["status"] == 401
        async with connect(daemon, token="not-a-token") as ws:
            r = await rpc(ws, "GET", "/api/v1/auth/me")
            assert r["status"] == 401
    run(go())


def test_auth_message_for_browsers(daemon):
    async def go():
        async with connect(daemon, token=None) as ws:
            await ws.send(json.dumps({"type": "auth", "token": "wrong"}))
            m = await recv_json(ws)
            assert m["type"] == "auth" and m["status"] == 401 and m["body"]["status"] == 401
            assert (await rpc(ws, "GET", "/api/v1/auth/me"))["status"] == 401
            await ws.send(json.dumps({"type": "auth", "token": daemon.token}))
            m = await recv_json(ws)
            assert m["type"] == "auth" and m["status"] == 200
            assert m["body"] == daemon.get("/api/v1/auth/me").json()
            assert (await rpc(ws, "GET", "/api/v1/auth/me"))["status"] == 200
            # a refused token later does not take the good one away
            await ws.send(json.dumps({"type": "auth", "token": "wrong-again"}))
            assert (await recv_json(ws))["status"] == 401
            assert (await rpc(ws, "GET", "/api/v1/auth/me"))["status"] == 200
    run(go())


def test_upgrade_refusals_are_problems(daemon):
    # a plain GET: 426 with Upgrade
    r = daemon.get("/api/v1/ws")
    assert r.status_code == 426 and r.headers["Upgrade"] == "websocket"
    assert r.headers["Content-Type"].startswith("application/problem+json")
    base = {"Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}
    r = daemon.get("/api/v1/ws", headers={**base, "Sec-WebSocket-Version": "8"})
    assert r.status_code == 426 and r.headers["Sec-WebSocket-Version"] == "13"
    r = daemon.get("/api/v1/ws", headers={**base, "Sec-WebSocket-Key": "short"})
    assert r.status_code == 400 and "Sec-WebSocket-Key" in r.json()["detail"]
    r = daemon.get("/api/v1/ws", headers={**base, "Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["status"] == 403
    r = daemon.get("/api/v1/ws", headers={**base, "Authorization": "Basic eDp5"})
    assert r.status_code == 401


def test_same_origin_browser_is_admitted(daemon):
    async def go():
        origin = f"http://127.0.0.1:{daemon.port}"
        async with connect(daemon, origin=origin, subprotocols=["ganglion.v1"]) as ws:
            assert ws.subprotocol == "ganglion.v1"
            assert (await rpc(ws, "GET", "/healthz"))["status"] == 200
    run(go())


def test_subscription_streams_matching_events(daemon):
    async def go():
        async with connect(daemon) as ws:
            await ws.send(json.dumps({"type": "subscribe", "topics": ["wstest.*"], "id": 7}))
            m = await recv_json(ws)
            assert m["type"] == "subscribed" and m["topics"] == "wstest.*" and m["id"] == 7
            await asyncio.to_thread(daemon.publish, "other.a", {"n": 0})
            eid = await asyncio.to_thread(daemon.publish, "wstest.a", {"n": 1})
            m = await until(ws, lambda m: m.get("type") == "event")
            assert m["topic"] == "wstest.a" and m["data"] == {"n": 1} and m["id"] == eid
            # an invalid pattern is refused by the same check as GET /api/v1/stream
            await ws.send(json.dumps({"type": "subscribe", "topics": ["a..b"]}))
            m = await until(ws, lambda m: m.get("type") == "error")
            assert m["status"] in (400, 422)
            await ws.send(json.dumps({"type": "unsubscribe"}))
            await until(ws, lambda m: m.get("type") == "unsubscribed")
            await asyncio.to_thread(daemon.publish, "wstest.b", {"n": 2})
            assert (await rpc(ws, "GET", "/healthz"))["status"] == 200
            # nothing arrives for wstest.b after unsubscribing
            with pytest.raises(asyncio.TimeoutError):
                await until(ws, lambda m: m.get("type") == "event", timeout=0.3)
    run(go())


def test_ping_pong_and_app_ping(daemon):
    async def go():
        async with connect(daemon) as ws:
            pong = await ws.ping(b"hello")
            await asyncio.wait_for(pong, 5)
            await ws.send(json.dumps({"type": "ping"}))
            assert (await recv_json(ws))["type"] == "pong"
    run(go())


def test_idle_client_is_pinged_and_closed_1001_when_silent(make_daemon):
    d = make_daemon(args=("--set", "websocket.idle_s=1"))
    # a client that answers pings (as browsers do) stays connected however quiet it is
    async def go():
        async with connect(d, ping_interval=None) as ws:
            await asyncio.sleep(2.5)  # two idle periods pass
            assert (await rpc(ws, "GET", "/healthz"))["status"] == 200
    run(go())
    # one that does not answer gets the ping, then after another idle period the close
    r = Raw(d)
    assert r.frame() == (0x9, b"idle")
    assert r.close_code() == 1001


def test_oversize_message_closes_1009(make_daemon):
    d = make_daemon(args=("--set", "websocket.max_message=4k", "--set", "websocket.max_frame=4k"))

    async def go():
        async with connect(d) as ws:
            ok = await rpc(ws, "POST", "/api/v1/test/publish",
                           body={"topic": "big.one", "data": {"s": "x" * 3000}})
            assert ok["status"] in (200, 201, 202)
            await ws.send(json.dumps({"id": 1, "method": "POST", "path": "/api/v1/test/publish",
                                      "body": {"topic": "big.two", "data": {"s": "x" * 10000}}}))
            with pytest.raises(websockets.ConnectionClosed) as e:
                await asyncio.wait_for(ws.recv(), 10)
            assert e.value.rcvd.code == 1009
    run(go())


def test_slow_consumer_closed_1008(make_daemon):
    d = make_daemon(args=("--set", "websocket.queue_bytes=64k"))

    async def go():
        # max_queue=1: the client stops reading its socket after one unread message
        async with connect(d, max_queue=1, max_size=None) as ws:
            for i in range(400):
                await ws.send(json.dumps({"id": i, "method": "GET", "path": "/openapi.json"}))
            with pytest.raises(websockets.ConnectionClosed) as e:
                while True:
                    await asyncio.wait_for(ws.recv(), 20)
            assert e.value.rcvd.code == 1008 and "slow" in e.value.rcvd.reason
    run(go())
    r = d.get("/metrics")
    assert "ganglion_ws_slow_closed_total 1" in r.text


class Raw:
    """A WebSocket spoken by hand over a socket, to send what a library would not."""

    def __init__(self, d):
        import base64
        import os
        import socket
        self.s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        f"Authorization: Bearer {d.token}\r\n"
                        f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.s.recv(4096)
        assert buf.startswith(b"HTTP/1.1 101")
        self.buf = buf.split(b"\r\n\r\n", 1)[1]

    def send(self, op, payload=b"", fin=True, mask=True):
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | op])
        m = 0x80 if mask else 0
        if n < 126:
            head += bytes([m | n])
        else:
            head += bytes([m | 126]) + n.to_bytes(2, "big")
        if mask:
            key = b"\x11\x22\x33\x44"
            head += key
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        self.s.sendall(head + payload)

    def frame(self):
        """The next server frame as (opcode, payload); None at the end of the stream."""
        while True:
            if len(self.buf) >= 2:
                n = self.buf[1] & 0x7F
                pos = 2
                if n == 126:
                    n, pos = int.from_bytes(self.buf[2:4], "big"), 4
                elif n == 127:
                    n, pos = int.from_bytes(self.buf[2:10], "big"), 10
                assert not self.buf[1] & 0x80, "server frames are not masked"
                if len(self.buf) >= pos + n:
                    op, payload = self.buf[0] & 0x0F, self.buf[pos:pos + n]
                    self.buf = self.buf[pos + n:]
                    return op, payload
            chunk = self.s.recv(65536)
            if not chunk:
                return None
            self.buf += chunk

    def close_code(self):
        while True:
            f = self.frame()
            assert f is not None, "the stream ended without a close frame"
            if f[0] == 0x8:
                return int.from_bytes(f[1][:2], "big") if f[1] else None


def test_fragments_with_a_ping_between_them(daemon):
    r = Raw(daemon)
    env = json.dumps({"id": 9, "method": "GET", "path": "/healthz"}).encode()
    r.send(0x1, env[:10], fin=False)
    r.send(0x9, b"mid")
    r.send(0x0, env[10:20], fin=False)
    r.send(0x0, env[20:], fin=True)
    assert r.frame() == (0xA, b"mid")  # the pong comes first, the message is not whole yet
    op, payload = r.frame()
    assert op == 0x1 and json.loads(payload)["id"] == 9 and json.loads(payload)["status"] == 200
    r.send(0x8, (1000).to_bytes(2, "big") + b"bye")
    assert r.close_code() == 1000  # the client's code is echoed
    assert r.frame() is None


@pytest.mark.parametrize("frames,code", [
    ([(0x1, b"hi", True, False)], 1002),                    # unmasked client frame
    ([(0x3, b"", True, True)], 1002),                       # reserved opcode
    ([(0x9, b"x" * 126, True, True)], 1002),                # control frame over 125 bytes
    ([(0x0, b"x", True, True)], 1002),                      # continuation with nothing open
    ([(0x1, b"a", False, True), (0x1, b"b", True, True)], 1002),  # new message inside one
    ([(0x1, b"\xce", False, True), (0x0, b"\xff", True, True)], 1007),  # bad UTF-8 across fragments
    ([(0x8, (1000).to_bytes(2, "big") + b"\xff", True, True)], 1007),  # close reason not UTF-8
    ([(0x8, (1005).to_bytes(2, "big"), True, True)], 1002),  # 1005 may not travel
    ([(0x8, b"\x03", True, True)], 1002),                   # one-byte close payload
    ([(0x2, b"\x00\x01", True, True)], 1003),               # binary message
], ids=["unmasked", "opcode", "long-ping", "lone-cont", "nested", "utf8", "close-utf8",
        "close-1005", "close-1byte", "binary"])
def test_protocol_violations_close_with_their_code(daemon, frames, code):
    r = Raw(daemon)
    for op, payload, fin, mask in frames:
        r.send(op, payload, fin=fin, mask=mask)
    assert r.close_code() == code


def test_empty_close_is_answered_empty(daemon):
    r = Raw(daemon)
    r.send(0x8, b"")
    f = r.frame()
    assert f == (0x8, b"")  # 1005 is never put on the wire


def test_shutdown_closes_1001(daemon):
    async def go():
        async with connect(daemon) as ws:
            assert (await rpc(ws, "GET", "/healthz"))["status"] == 200
            await ws.send(json.dumps({"type": "subscribe", "topics": ["x.*"]}))
            await until(ws, lambda m: m.get("type") == "subscribed")
            stopping = asyncio.create_task(asyncio.to_thread(daemon.stop))
            with pytest.raises(websockets.ConnectionClosed) as e:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert e.value.rcvd.code == 1001
            assert await stopping == 0
    run(go())
