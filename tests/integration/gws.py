"""Helpers for the WebSocket transport tests: connect to a daemon's /api/v1/ws with Python's
`websockets` (asyncio), send RPC envelopes and wait for the reply with the same id."""

import asyncio
import itertools
import json

import websockets

_ids = itertools.count(1)


def ws_url(d):
    return f"ws://127.0.0.1:{d.port}/api/v1/ws"


def connect(d, token="admin", **kw):
    """Opens a WebSocket; token "admin" sends the daemon's local admin token in the upgrade's
    Authorization header, None sends none, any other string is sent as it is."""
    headers = {}
    if token == "admin":
        token = d.token
    if token:
        headers["Authorization"] = f"Bearer {token}"
    kw.setdefault("open_timeout", 10)
    return websockets.connect(ws_url(d), extra_headers=headers, **kw)


async def recv_json(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def rpc(ws, method, path, body=None, query=None, token=None, timeout=10):
    """One request envelope; returns the reply {id, status, body, headers?}."""
    mid = next(_ids)
    env = {"id": mid, "method": method, "path": path}
    if body is not None:
        env["body"] = body
    if query is not None:
        env["query"] = query
    if token is not None:
        env["token"] = token
    await ws.send(json.dumps(env))
    while True:
        m = await recv_json(ws, timeout)
        if m.get("id") == mid and "type" not in m:
            return m


async def until(ws, pred, timeout=10):
    """Reads messages until pred(message) holds; returns that message."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        m = await recv_json(ws, max(0.01, end - loop.time()))
        if pred(m):
            return m


def run(coro):
    return asyncio.run(coro)
