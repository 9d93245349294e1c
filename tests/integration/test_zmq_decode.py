"""Decoding what a ZMQ client sends: the body is walked within a budget of values proportional to
the message before anything is built, the credential is checked before the body is decoded,
memory returns after refused messages, and every envelope whose id can be read gets a problem
reply whatever is wrong after the id (deep nesting, NaN, ext types, repeated keys, invalid
UTF-8, truncation)."""

import json
import struct

import msgpack
import pytest

from gzmq import SANITIZED, Client, zmq_daemon

PROBLEM = "urn:ganglion:problem:"


def _rss_mb(d):
    """The daemon's resident memory; 0 under ASan, whose quarantine keeps freed memory."""
    if SANITIZED:
        return 0
    with open(f"/proc/{d.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _mp_envelope(head, body):
    """A MessagePack envelope: head's members, then "body" whose value is the raw bytes body."""
    h = msgpack.packb(head)
    assert 0x80 <= h[0] < 0x8f
    return bytes([h[0] + 1]) + h[1:] + msgpack.packb("body") + body


def _json_envelope(head, body):
    """A JSON envelope: head's members, then "body" whose value is the raw bytes body."""
    return json.dumps(head)[:-1].encode() + b', "body": ' + body + b"}"


def _send_raw(c, msg, enc):
    c.sock.send(msg)
    return c.recv(enc)


def test_unauthenticated_empty_arrays_do_not_grow_memory(make_daemon):
    """The finding: a 9 MB MessagePack envelope without a token whose body is 9 million empty
    arrays took the daemon from 12 MB to 1.14 GB (7.5 MB of JSON `{}`: +527 MB), never given
    back. Now it is refused by its budget before anything is built, and 100 of them leave RSS
    where it was."""
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc)
    assert c.call("GET", "/healthz")["status"] == 200
    n = 9_000_000
    mp = _mp_envelope({"id": 1, "method": "POST", "path": "/api/v1/agents"},
                      b"\xdd" + struct.pack(">I", n) + b"\x90" * n)
    js = _json_envelope({"id": 2, "method": "POST", "path": "/api/v1/agents"},
                        b"[" + b",".join([b"{}"] * 2_500_000) + b"]")
    start = _rss_mb(d)
    for i in range(100):
        enc = "msgpack" if i % 2 == 0 else "json"
        r = _send_raw(c, mp if enc == "msgpack" else js, enc)
        assert r["id"] == (1 if enc == "msgpack" else 2)
        assert r["status"] == 413 and r["body"]["type"] == PROBLEM + "json-over-budget", r
        assert r["body"]["max_containers"] > 0 and r["body"]["max_values"] > 0
        rss = _rss_mb(d)
        assert rss < start + 64, f"RSS {start:.0f} MB -> {rss:.0f} MB after {i + 1} messages"
    assert c.call("GET", "/healthz")["status"] == 200
    c.close()


def test_credential_checked_before_the_body_is_decoded(make_daemon):
    """A body within its budget but costly to build (130 000 empty maps and 2 MB of padding) is
    answered 401 without a token, and never decoded: memory does not follow it. With the token
    the same body is decoded and validated, and the memory it cost is given back."""
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc)
    assert c.call("GET", "/healthz")["status"] == 200
    body = msgpack.packb({"pad": "x" * 2_000_000, "items": [{}] * 130_000})
    msg = _mp_envelope({"id": "anon", "method": "POST", "path": "/api/v1/test/echo"}, body)
    start = _rss_mb(d)
    for i in range(40):
        r = _send_raw(c, msg, "msgpack")
        assert r["id"] == "anon" and r["status"] == 401, r
        assert r["body"]["type"] == PROBLEM + "unauthorized"
        rss = _rss_mb(d)
        assert rss < start + 12, f"RSS {start:.0f} MB -> {rss:.0f} MB after {i + 1} messages"
    # With the token the body is decoded, refused by the schema, and what it cost goes back.
    authed = _mp_envelope({"id": "auth", "method": "POST", "path": "/api/v1/test/echo",
                           "token": d.token}, body)
    for i in range(10):
        r = _send_raw(c, authed, "msgpack")
        assert r["id"] == "auth" and r["status"] == 422, r
        rss = _rss_mb(d)
        assert rss < start + 16, f"RSS {start:.0f} MB -> {rss:.0f} MB after {i + 1} decodes"
    c.close()


# Bodies that cannot be decoded: (name, encoding, raw body, problem type with a token, without).
# Faults the walk finds (depth, ext, truncation) are refused before auth; faults only a decode
# finds (NaN, repeated keys, invalid UTF-8) come after it, so an anonymous caller gets 401.
BAD_BODIES = [
    ("deep", "json", b"[" * 100 + b"]" * 100, "json-too-deep", "json-too-deep"),
    ("nan", "json", b'{"name": NaN}', "malformed-json", "unauthorized"),
    ("duplicate-keys", "json", b'{"name": "a", "name": "b"}', "malformed-json", "unauthorized"),
    ("invalid-utf8", "json", b'{"name": "\xff\xfe"}', "malformed-json", "unauthorized"),
    ("deep", "msgpack", b"\x91" * 100 + b"\x01", "json-too-deep", "json-too-deep"),
    ("nan", "msgpack", b"\x81\xa4name\xcb\x7f\xf8" + b"\x00" * 6, "malformed-msgpack",
     "unauthorized"),
    ("ext", "msgpack", b"\x81\xa4name\xd4\x01\x00", "bad-envelope", "bad-envelope"),
    ("duplicate-keys", "msgpack", b"\x82\xa4name\xa1a\xa4name\xa1b", "malformed-msgpack",
     "unauthorized"),
    ("invalid-utf8", "msgpack", b"\x81\xa4name\xa2\xff\xfe", "malformed-msgpack", "unauthorized"),
    ("truncated", "msgpack", b"\x81\xa4name\x93\x01", "bad-envelope", "bad-envelope"),
    ("truncated", "json", b'{"name": ["a", ', "bad-envelope", "bad-envelope"),
]


@pytest.mark.parametrize("name,enc,body,authed_type,anon_type", BAD_BODIES,
                         ids=[f"{b[1]}-{b[0]}" for b in BAD_BODIES])
def test_undecodable_body_gets_a_problem_reply(make_daemon, name, enc, body, authed_type,
                                               anon_type):
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc)
    build = _mp_envelope if enc == "msgpack" else _json_envelope
    for rid, token, want in [("with-token", d.token, authed_type), ("anon", None, anon_type)]:
        head = {"id": rid, "method": "POST", "path": "/api/v1/test/echo"}
        if token:
            head["token"] = token
        msg = build(head, body)
        if name == "truncated" and enc == "json":
            msg = msg[:-1]  # the envelope's own closing brace goes too
        r = _send_raw(c, msg, enc)
        assert set(r) >= {"id", "status", "body"} and r["id"] == rid, r
        p = r["body"]
        assert p["type"] == PROBLEM + want, (rid, p)
        assert r["status"] == p["status"] and p["status"] in (400, 401) and p["detail"]
        assert p.get("request_id") == rid
    # The daemon still answers.
    assert c.call("GET", "/healthz")["status"] == 200
    c.close()


@pytest.mark.parametrize("enc", ["json", "msgpack"])
def test_repeated_envelope_member_is_answered(make_daemon, enc):
    """A repeated envelope member is named in errors[]; the first id addresses the reply."""
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc)
    if enc == "json":
        msg = b'{"id": "rep", "method": "GET", "method": "POST", "path": "/healthz"}'
    else:
        msg = (b"\x84\xa2id\xa3rep\xa6method\xa3GET\xa6method\xa4POST\xa4path"
               b"\xa8/healthz")
    r = _send_raw(c, msg, enc)
    assert r["id"] == "rep" and r["status"] == 400, r
    assert r["body"]["type"] == PROBLEM + "bad-envelope"
    assert {e["field"] for e in r["body"]["errors"]} == {"/method"}
    c.close()
