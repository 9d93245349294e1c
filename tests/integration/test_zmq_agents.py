"""The agents endpoints over ZMQ: every one answers exactly as over HTTP (JSON and MessagePack),
and the CLI's `agent` commands work the same over --via http and --via zmq."""

import json
import re
import subprocess
import time

import pytest

from agents_util import AGENT, PY, SLOW, spawn, wait_output, wait_status
from gzmq import Client, zmq_daemon

CLI_TIMEOUT = 60


def _same(d, c, method, path, body=None, query=None, n=[0]):
    """The HTTP reply and the ZMQ reply to the same request, with the same request id."""
    n[0] += 1
    rid = f"ag-{n[0]}"
    kw = {"headers": {"X-Request-Id": rid}}
    if body is not None:
        kw["json"] = body
    if query is not None:
        kw["params"] = query
    h = d.request(method, path, **kw)
    z = c.call(method, path, body=body, query=query, id=rid)
    hb = h.json() if h.content else None
    return h.status_code, hb, z["status"], z["body"]


@pytest.mark.parametrize("enc", ["json", "msgpack"])
def test_every_agents_endpoint_over_zmq_equals_http(make_daemon, enc):
    d, rpc, _ = zmq_daemon(make_daemon)
    c = Client(rpc, enc=enc)
    a = spawn(d, "interactive", name="cmp", labels={"team": "z"})
    aid = a["id"]
    wait_output(d, aid, lambda o: o["total"] >= 3)
    done = spawn(d, "exit", 3, name="done")
    wait_status(d, done["id"], ("failed", "completed"))
    base = f"/api/v1/agents/{aid}"
    # Freeze the counter (SIGSTOP) so that its output is the same for both transports.
    h = d.post(f"{base}/pause", json={"force": True})
    assert h.status_code == 200 and wait_status(d, aid, "paused")
    time.sleep(0.2 * SLOW)
    # Reads of settled state: bodies equal byte for byte (as JSON values).
    reads = [
        ("GET", f"/api/v1/agents/{done['id']}", None, None),
        ("GET", "/api/v1/agents", None, {"labels": "team=z"}),
        ("GET", "/api/v1/agents", None, {"status": "nonsense"}),
        ("GET", "/api/v1/agents", None, {"limit": "0"}),
        ("GET", f"/api/v1/agents/{done['id']}/output", None, {"stream": "stdout"}),
        ("GET", f"{base}/output", None, {"since": "0", "limit": "2"}),
        ("GET", f"{base}/output", None, {"grep": "("}),
        ("GET", "/api/v1/agents/nope", None, None),
        ("GET", "/api/v1/agents/nope/output", None, None),
        ("POST", "/api/v1/agents", {"name": ""}, None),
        ("POST", "/api/v1/agents", {"name": "x", "argv": [], "restart": "sometimes"}, None),
        ("POST", "/api/v1/agents", {"name": "x", "limits": {"memory_mb": 0}}, None),
        ("POST", f"{base}/signal", {"signal": "bogus"}, None),
        ("POST", f"{base}/signal", {}, None),
        ("POST", f"{base}/pause", {"force": "yes"}, None),
        ("POST", f"{base}/stdin", {"text": 5}, None),
        ("POST", f"{base}/action", {}, None),
        ("POST", f"/api/v1/agents/{done['id']}/pause", {"force": True}, None),
        ("POST", f"/api/v1/agents/{done['id']}/stdin", {"text": "x\n"}, None),
        ("POST", "/api/v1/agents/batch", {"command": "explode", "ids": [aid]}, None),
        ("POST", "/api/v1/agents/batch", {"command": "stop"}, None),
        ("PUT", base, None, None),
        ("GET", f"{base}/logs", None, {"follow": "false", "stream": "both"}),
    ]
    for method, path, body, query in reads:
        hs, hb, zs, zb = _same(d, c, method, path, body, query)
        assert zs == hs, (method, path, query, hb, zb)
        assert zb == hb, (method, path, query, hb, zb)
    # Actions answered by ganglion itself: same result either way.
    hs, hb, zs, zb = _same(d, c, "POST", f"{base}/action", {"name": "echo", "params": {"k": [1, 2.5]}})
    assert hs == zs == 200 and hb == zb
    # Mutations: a transition made over either transport returns the same agent object, and the
    # conflict of repeating it is the same problem.
    hs, hb, zs, zb = _same(d, c, "POST", f"{base}/pause", {"force": True})
    assert hs == zs == 409 and hb == zb
    z = c.call("POST", f"{base}/resume", body={"force": True})
    assert z["status"] == 200 and set(z["body"]) == set(h.json()) and z["body"]["id"] == aid
    wait_status(d, aid, "running")
    z = c.call("POST", f"{base}/pause", body={"force": True})
    assert z["status"] == 200 and wait_status(d, aid, "paused")
    h = d.post(f"{base}/resume", json={"force": True})
    assert h.status_code == 200 and set(h.json()) == set(z["body"])
    wait_status(d, aid, "running")
    z = c.call("POST", f"{base}/stdin", body={"text": "hello over zmq\n"})
    assert z["status"] == 200 and z["body"]["written"] == 15
    wait_output(d, aid, lambda o: any("hello over zmq" in l["text"] for l in o["lines"]),
                grep="hello")
    z = c.call("POST", f"{base}/action", body={"name": "add", "params": {"a": 2, "b": 3}})
    assert z["status"] == 200 and json.dumps(z["body"]).find("5") >= 0, z
    st = c.call("GET", "/api/v1/agents/stats")
    assert st["status"] == 200 and set(st["body"]) == set(d.get("/api/v1/agents/stats").json())
    # The SSE endpoint says where the stream is over ZMQ.
    z = c.call("GET", f"{base}/logs", query={"follow": True})
    assert z["status"] == 400 and z["body"]["type"].endswith("use-pub-socket")
    z = c.call("POST", f"{base}/stop", body={"grace_ms": 2000})
    assert z["status"] in (200, 202)
    wait_status(d, aid, ("terminated", "failed", "completed"))
    z = c.call("DELETE", base)
    assert z["status"] == d.request("DELETE", f"/api/v1/agents/{done['id']}").status_code
    assert c.call("GET", base)["status"] == 404
    c.close()


def _cli(d, bin, via, url, *args):
    env = d.cli_env()
    env.pop("GANGLION_TEST_ENDPOINTS", None)
    r = subprocess.run([str(bin), "--via", via, "--url", url, *args], capture_output=True,
                       text=True, env=env, timeout=CLI_TIMEOUT * SLOW)
    return r


@pytest.mark.parametrize("via", ["http", "zmq"])
def test_cli_agent_commands(make_daemon, bin, via):
    d, rpc, _ = zmq_daemon(make_daemon)
    url = rpc if via == "zmq" else d.url
    run = lambda *a: _cli(d, bin, via, url, *a)  # noqa: E731

    r = run("--json", "agent", "spawn", "w1", "--label", "team=cli", "--label", "n=1",
            "--limit", "mem=512M,cpu=60s,time=1h", "--restart", "on-failure", "--",
            PY, AGENT, "interactive")
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    aid = a["id"]
    assert a["labels"] == {"team": "cli", "n": "1"}
    r = run("agent", "spawn", "w2", "--label", "team=cli", "--", PY, AGENT, "exit", "0", "30")
    # not a terminal: the id alone, for ID=$(ganglion agent spawn …)
    assert r.returncode == 0 and re.fullmatch(r"[0-9a-f]+\n", r.stdout), (r.stdout, r.stderr)
    w2 = r.stdout.strip()

    r = run("agent", "ls", "--label", "team=cli")
    assert r.returncode == 0 and "\033[" not in r.stdout  # no colour when not a terminal
    assert aid in r.stdout and w2 in r.stdout and "STATUS" in r.stdout
    r = run("--json", "agent", "ls", "--status", "running")
    assert {x["id"] for x in json.loads(r.stdout)["agents"]} >= {aid}

    r = run("agent", "show", aid)
    assert r.returncode == 0 and "team=cli" in r.stdout and aid in r.stdout

    wait_output(d, aid, lambda o: o["total"] >= 2)
    r = run("agent", "send", aid, "ping-from-cli")
    assert r.returncode == 0, r.stderr
    wait_output(d, aid, lambda o: any("ping-from-cli" in l["text"] for l in o["lines"]))
    r = run("agent", "logs", aid, "--grep", "ping-from")
    assert r.returncode == 0 and "got: ping-from-cli" in r.stdout, (r.stdout, r.stderr)

    r = run("agent", "pause", aid, "--force")
    assert r.returncode == 0 and "paused" in r.stdout, r.stderr
    r = run("agent", "resume", aid, "--force")
    assert r.returncode == 0 and "running" in r.stdout, r.stderr
    r = run("--json", "agent", "action", aid, "add", '{"a": 20, "b": 22}')
    assert r.returncode == 0 and "42" in r.stdout, (r.stdout, r.stderr)
    r = run("agent", "action", aid, "add", "{not json")
    assert r.returncode == 2
    r = run("agent", "signal", aid, "SIGBOGUS")
    assert r.returncode == 1 and "422" in r.stderr

    # logs -f ends by itself when the agent ends.
    r = run("agent", "signal", aid, "cont")
    assert r.returncode == 0, r.stderr
    follower = subprocess.Popen([str(bin), "--via", via, "--url", url, "agent", "logs", w2, "-f"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=d.cli_env())
    time.sleep(0.5)
    r = run("agent", "batch", "--label", "team=cli", "stop")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "2 of 2 succeeded" in r.stdout
    out, err = follower.communicate(timeout=CLI_TIMEOUT * SLOW)
    assert follower.returncode == 0, err
    wait_status(d, aid, ("terminated", "failed", "completed"))

    r = run("agent", "kill", aid)
    assert r.returncode == 0, r.stderr  # already ended: nothing to kill, which is what was asked
    r = run("agent", "show", "no-such-agent")
    assert r.returncode == 1 and "404" in r.stderr
    r = run("agent", "rm", aid)
    assert r.returncode == 0, r.stderr
    assert run("agent", "show", aid).returncode == 1
    r = run("agent", "spawn")
    assert r.returncode == 2
