"""Helpers for the ZMQ transport tests: a daemon with its ZMQ sockets on free ports, and small
REQ/DEALER clients speaking the RPC envelope in JSON or MessagePack."""

import json
import os

import msgpack
import zmq

from conftest import free_port

SANITIZED = os.environ.get("GANGLION_SANITIZED") == "1"
TIMEOUT_MS = 15000 if SANITIZED else 5000


def zmq_daemon(make_daemon, args=(), env=None, **kw):
    """Starts a daemon with ZMQ RPC and PUB on free ports; returns (daemon, rpc_ep, pub_ep)."""
    rpc, pub = free_port(), free_port()
    d = make_daemon(args=["--zmq-listen", f"127.0.0.1:{rpc}", "--zmq-pub", f"127.0.0.1:{pub}",
                          *args], env=env, **kw)
    if getattr(d, "token", None):  # clients send the daemon's local admin credential by default
        ENDPOINT_TOKENS[f"tcp://127.0.0.1:{rpc}"] = d.token
    return d, f"tcp://127.0.0.1:{rpc}", f"tcp://127.0.0.1:{pub}"


# RPC endpoint -> the daemon's local admin credential (envelope `token`), set by zmq_daemon.
ENDPOINT_TOKENS = {}


def encode(env, enc):
    return msgpack.packb(env, use_bin_type=True) if enc == "msgpack" else json.dumps(env).encode()


def decode(buf, enc):
    return msgpack.unpackb(buf, raw=False) if enc == "msgpack" else json.loads(buf)


class Client:
    """One socket (REQ or DEALER) to the RPC endpoint."""

    def __init__(self, ep, kind=zmq.DEALER, enc="json", ctx=None, curve=None, timeout_ms=TIMEOUT_MS):
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(kind)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
        self.sock.setsockopt(zmq.SNDTIMEO, timeout_ms)
        if curve:
            server_pub, client_pub, client_sec = curve
            self.sock.curve_serverkey = server_pub
            self.sock.curve_publickey = client_pub
            self.sock.curve_secretkey = client_sec
        self.sock.connect(ep)
        self.enc = enc
        self.n = 0
        self.default_token = ENDPOINT_TOKENS.get(ep)

    def send(self, method, path, body=None, query=None, token=None, id=None, enc=None, **extra):
        self.n += 1
        env = {"id": id if id is not None else self.n, "method": method, "path": path}
        if body is not None:
            env["body"] = body
        if query is not None:
            env["query"] = query
        if token is None:
            token = self.default_token
        if token is not None:
            env["token"] = token
        env.update(extra)
        self.sock.send(encode(env, enc or self.enc))
        return env["id"]

    def recv(self, enc=None):
        frames = self.sock.recv_multipart()
        return decode(frames[-1], enc or self.enc)

    def call(self, method, path, **kw):
        id = self.send(method, path, **kw)
        r = self.recv(kw.get("enc"))
        assert r["id"] == id, (r, id)
        return r

    def close(self):
        self.sock.close(0)
