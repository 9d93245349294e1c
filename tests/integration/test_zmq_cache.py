"""What the ZMQ request path remembers between requests never outlives the truth: an agent's
reply reflects a change of its state on the very next request, and a credential that is
revoked, rotated out, logged out or whose user is disabled is refused on the very next request,
however many times it was accepted just before."""

import re
import time

from agents_util import SLOW, output, spawn, wait_output, wait_status
from auth_util import bare_http, bearer, make_key, make_user, tokens
from gzmq import Client, zmq_daemon

REPEAT = 300


def _listed(d, aid):
    """The agent as the list endpoint renders it (built afresh on every request)."""
    r = d.get("/api/v1/agents", params={"limit": "1000"})
    assert r.status_code == 200, r.text
    return next(a for a in r.json()["agents"] if a["id"] == aid)


def _no_usage(agent):
    return {k: v for k, v in agent.items() if k != "usage"}


def test_agent_reply_follows_state_at_once(make_daemon):
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc)
    aid = spawn(d, "interactive", name="cached", labels={"k": "v"})["id"]
    path = f"/api/v1/agents/{aid}"
    wait_output(d, aid, lambda o: o["total"] >= 2)
    # Frozen (SIGSTOP): the object stops changing, so repeated reads are served from the cache.
    assert d.post(f"{path}/pause", json={"force": True}).status_code == 200
    wait_status(d, aid, "paused")
    time.sleep(0.2 * SLOW)
    first = c.call("GET", path)["body"]
    assert first["status"] == "paused" and first["paused_mode"] == "forced"
    # (usage is a fresh sample every agents.sample_ms even while paused: compared apart)
    for _ in range(REPEAT):
        assert _no_usage(c.call("GET", path)["body"]) == _no_usage(first)
    assert _no_usage(first) == _no_usage(_listed(d, aid)) == _no_usage(d.get(path).json())

    # A transition: the next read shows it.
    r = d.post(f"{path}/resume", json={})
    assert r.status_code == 200, r.text
    z = c.call("GET", path)["body"]
    assert z["status"] == r.json()["status"] != "paused" and z["paused_mode"] is None

    # New output lines: once the output endpoint has them, so does the next read.
    for _ in range(5):
        seq = output(d, aid)["last_seq"]
        o = c.call("GET", path)["body"]["output"]
        assert o["last_seq"] >= seq and o["stdout_lines"] >= seq
        time.sleep(0.06)
    assert c.call("GET", path)["body"]["output"]["last_seq"] > first["output"]["last_seq"]

    # The end: exit fields appear at once, and the object equals a fresh rendering.
    assert d.post(f"{path}/kill", json={}).status_code == 200
    wait_status(d, aid, ("terminated", "failed"))
    time.sleep(0.3 * SLOW)
    end = c.call("GET", path)["body"]
    assert end["status"] in ("terminated", "failed") and end["ended_at"] and end["pid"] is None
    assert end == _listed(d, aid) == d.get(path).json()

    # Gone: 404 at once.
    assert d.request("DELETE", path).status_code == 204
    assert c.call("GET", path)["status"] == 404


def _hammer(c, token, path="/api/v1/agents"):
    for _ in range(REPEAT):
        r = c.call("GET", path, token=token)
        assert r["status"] == 200, r


def test_revoked_and_rotated_keys_refused_at_once(make_daemon):
    d, rpc, _ = zmq_daemon(make_daemon, args=["--set", "ratelimit.enabled=0"],
                           env={"GANGLION_AUTH_KEY_GRACE_S": "1"})
    c = Client(rpc)
    k = make_key(d, name="zk", role="viewer")
    _hammer(c, k["secret"])
    assert d.request("DELETE", f"/api/v1/keys/{k['id']}").status_code == 204
    r = c.call("GET", "/api/v1/agents", token=k["secret"])
    assert r["status"] == 401, r

    # Rotation: the old secret works through the grace period, then not; the new one does.
    k2 = make_key(d, name="zk2", role="viewer")
    _hammer(c, k2["secret"])
    r = d.post(f"/api/v1/keys/{k2['id']}/rotate")
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    _hammer(c, k2["secret"])
    _hammer(c, new)
    time.sleep(1.5)
    assert c.call("GET", "/api/v1/agents", token=k2["secret"])["status"] == 401
    assert c.call("GET", "/api/v1/agents", token=new)["status"] == 200
    # The admin's own key was never disturbed.
    assert c.call("GET", "/api/v1/agents")["status"] == 200


def test_user_tokens_refused_at_once_after_logout_and_disable(make_daemon):
    d, rpc, _ = zmq_daemon(make_daemon, args=["--set", "ratelimit.enabled=0"])
    c = Client(rpc)
    u, pw = make_user(d, "zuser", "operator")
    t = tokens(d, "zuser", pw)
    _hammer(c, t["access_token"])
    r = bare_http().post(d.url + "/api/v1/auth/logout", headers=bearer(t["access_token"]),
                         timeout=10)
    assert r.status_code == 204
    assert c.call("GET", "/api/v1/agents", token=t["access_token"])["status"] == 401

    t = tokens(d, "zuser", pw)
    _hammer(c, t["access_token"])
    r = d.request("PATCH", f"/api/v1/users/{u['id']}", json={"disabled": True})
    assert r.status_code == 200, r.text
    assert c.call("GET", "/api/v1/agents", token=t["access_token"])["status"] == 401


def test_fast_and_general_envelope_readers_reply_the_same_bytes(make_daemon):
    """The same request read by the fast reader and (forced by an escaped key, which only the
    general reader takes) by jansson gets the same reply, byte for byte."""
    import zmq

    d, rpc, _ = zmq_daemon(make_daemon)
    aid = spawn(d, None, name="frozen", argv=["sleep", "600"])["id"]
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    s.connect(rpc)
    tok = d.token
    cases = [
        ("GET", f"/api/v1/agents/{aid}", tok),
        ("get", f"/api/v1/agents/{aid}", tok),
        ("GET", "/api/v1/agents/nope", tok),
        ("GET", f"/api/v1/agents/{aid}", None),
        ("GET", f"/api/v1/agents/{aid}", "gk_not-a-key"),
        ("GET", f"/api/v1/agents/{aid}", "not.a.jwt"),
        ("DELETE", "/healthz", None),
        ("GET", "/healthz", None),
        ("GET", "/no/such/path", tok),
        ("GET", "/api/v1/agents/a%62c", tok),
    ]
    for rid in ('"r-1"', "42", "-7", '"not a request id"'):
        for method, path, token in cases:
            fields = f'"method":"{method}","path":"{path}"' + (f',"token":"{token}"' if token else "")
            replies = []
            for id_key in ('"id"', '"\\u0069d"'):
                s.send(f"{{{id_key}:{rid},{fields}}}".encode())
                replies.append(s.recv())
            # an id that is no request id gets a generated one, different for each request
            same = [re.sub(rb'"request_id":"[0-9a-f]{8}-[0-9]+"', b'"request_id":"gen"', r)
                    for r in replies]
            assert same[0] == same[1], (rid, method, path, replies)
    s.close(0)
