"""Agents as a process manager is used: names as handles (over HTTP and the CLI), unique names
and their ambiguity, idempotent stop and kill, --all and label selectors, a default pause that
cannot report `paused` while the program runs on, and signals by any name the platform has."""

import json
import select
import subprocess
import time

from agents_util import SLOW, get, output, wait_output, wait_status
from conftest import assert_problem

CLI_TIMEOUT = 30
TICKER = ["sh", "-c", "while true; do echo x; sleep 0.1; done"]


def _spawn(d, name, argv=TICKER, expect=201, **spec):
    r = d.post("/api/v1/agents", json={"name": name, "argv": argv, **spec})
    assert r.status_code == expect, r.text
    return r.json()


def _cli(d, bin, *args):
    env = d.cli_env()
    return subprocess.run([str(bin), "--url", d.url, *args], capture_output=True, text=True,
                          env=env, timeout=CLI_TIMEOUT * SLOW)


def _lines(d, handle):
    r = d.get(f"/api/v1/agents/{handle}")
    assert r.status_code == 200, r.text
    return r.json()["output"]["stdout_lines"]


def test_a_name_works_wherever_an_id_does(daemon, bin):
    t = _spawn(daemon, "ticker")
    # HTTP: show, output, then the CLI: show and logs by name
    assert daemon.get("/api/v1/agents/ticker").json()["id"] == t["id"]
    wait_output(daemon, "ticker", lambda o: o["total"] >= 2)
    r = _cli(daemon, bin, "agent", "show", "ticker")
    assert r.returncode == 0 and t["id"] in r.stdout, r.stderr
    r = _cli(daemon, bin, "agent", "logs", "ticker", "--tail", "2")
    assert r.returncode == 0 and r.stdout.splitlines() == ["x", "x"], (r.stdout, r.stderr)
    # stop by name, over HTTP; then again through the CLI: the same agent, already stopping
    r = daemon.post("/api/v1/agents/ticker/stop", json={"grace_ms": 2000})
    assert r.status_code == 200 and r.json()["id"] == t["id"], r.text
    wait_status(daemon, t["id"], "terminated")
    r = _cli(daemon, bin, "agent", "stop", "ticker")
    assert r.returncode == 0 and f"stopped {t['id']}: terminated" in r.stdout, (r.stdout, r.stderr)
    # an ended agent keeps its name as a handle, and the name is free for a new one, which then
    # wins the name; the older stays reachable by id
    assert daemon.get("/api/v1/agents/ticker/output").json()["id"] == t["id"]
    t2 = _spawn(daemon, "ticker")
    assert get(daemon, "ticker")["id"] == t2["id"]
    r = _cli(daemon, bin, "--json", "agent", "kill", "ticker")
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == t2["id"], r.stderr
    wait_status(daemon, t2["id"], "terminated")
    # of two ended namesakes the one that ended last answers
    assert get(daemon, "ticker")["id"] == t2["id"]
    # an id wins over a name that looks the same
    impostor = _spawn(daemon, t["id"], argv=["sleep", "30"])
    assert get(daemon, t["id"])["id"] == t["id"]
    assert impostor["id"] != t["id"]
    assert daemon.post(f"/api/v1/agents/{impostor['id']}/kill", json={}).status_code == 200
    # any name that fits in a path segment, percent-encoded by the CLI; '/' cannot
    spaced = _spawn(daemon, "my wörker", argv=["sleep", "30"])
    r = _cli(daemon, bin, "--json", "agent", "stop", "my wörker")
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == spaced["id"], r.stderr
    assert_problem(daemon.post("/api/v1/agents", json={"name": "team/a", "argv": ["true"]}),
                   422, "/name")
    assert_problem(daemon.post("/api/v1/agents", json={"name": "ü" * 128, "argv": ["true"]}),
                   422, "/name")
    # unknown: 404 naming what was asked for
    body = assert_problem(daemon.get("/api/v1/agents/no-such-name"), 404)
    assert "no-such-name" in body["detail"]
    r = _cli(daemon, bin, "agent", "logs", "no-such-name")
    assert r.returncode == 1 and "404" in r.stderr


def test_names_are_unique_among_running_agents_unless_allowed(daemon, bin):
    w = _spawn(daemon, "w")
    body = assert_problem(daemon.post("/api/v1/agents", json={"name": "w", "argv": ["true"]}), 409)
    assert body["type"].endswith("name-taken") and body["agent_id"] == w["id"]
    assert w["id"] in body["detail"]
    r = _cli(daemon, bin, "agent", "spawn", "w", "--", "true")
    assert r.returncode == 1 and w["id"] in r.stderr and "409" in r.stderr, r.stderr
    # allowed on request, over HTTP and the CLI
    w2 = _spawn(daemon, "w", allow_duplicate_name=True)
    r = _cli(daemon, bin, "--json", "agent", "spawn", "w", "--allow-duplicate-name", "--",
             *TICKER)
    assert r.returncode == 0, r.stderr
    w3 = json.loads(r.stdout)
    ids = {w["id"], w2["id"], w3["id"]}
    # now the name is ambiguous: 409 with the candidates, wherever it is used
    for method, path in (("GET", "/api/v1/agents/w"), ("GET", "/api/v1/agents/w/output"),
                         ("POST", "/api/v1/agents/w/stop")):
        body = assert_problem(daemon.request(method, path, json={} if method == "POST" else None),
                              409)
        assert body["type"].endswith("ambiguous-name") and set(body["candidates"]) == ids, body
    assert all(get(daemon, i)["status"] == "running" for i in ids), "nothing was stopped"
    r = _cli(daemon, bin, "agent", "logs", "w")
    assert r.returncode == 1 and "409" in r.stderr and w["id"] in r.stderr
    r = daemon.post("/api/v1/agents/batch", json={"ids": ["w"], "command": "stop"})
    assert r.json()["failed"] == 1 and r.json()["results"][0]["status"] == 409
    # once the others have ended, the name means the one left
    for i in (w["id"], w3["id"]):
        assert daemon.post(f"/api/v1/agents/{i}/kill", json={}).status_code == 200
        wait_status(daemon, i, "terminated")
    assert get(daemon, "w")["id"] == w2["id"]
    r = daemon.post("/api/v1/agents/batch", json={"ids": ["w"], "command": "kill"})
    res = r.json()["results"][0]
    assert res["ok"] and res["id"] == w2["id"] and res["handle"] == "w", r.text


def test_stop_and_kill_of_an_ended_agent_succeed(daemon, bin):
    a = _spawn(daemon, "brief", argv=["sh", "-c", "exit 0"])
    wait_status(daemon, a["id"], "completed")
    for cmd in ("stop", "kill"):
        r = daemon.post(f"/api/v1/agents/{a['id']}/{cmd}", json={})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["reason"]) == ("completed", "exited with code 0")
    r = _cli(daemon, bin, "agent", "stop", "brief")
    assert r.returncode == 0 and f"stopped {a['id']}: completed" in r.stdout, (r.stdout, r.stderr)
    r = _cli(daemon, bin, "agent", "kill", a["id"])
    assert r.returncode == 0, r.stderr
    # what cannot reach a process still says so
    assert_problem(daemon.post(f"/api/v1/agents/{a['id']}/signal", json={"signal": "HUP"}), 409)
    assert_problem(daemon.post(f"/api/v1/agents/{a['id']}/pause", json={}), 409)
    assert get(daemon, a["id"])["status"] == "completed"


def test_stop_all_and_label_selectors_over_live_and_ended_agents(daemon, bin):
    x1 = _spawn(daemon, "x1", labels={"team": "x"})
    x2 = _spawn(daemon, "x2", labels={"team": "x"})
    done = _spawn(daemon, "x-done", argv=["true"], labels={"team": "x"})
    y = _spawn(daemon, "y1", labels={"team": "y"})
    wait_status(daemon, done["id"], "completed")
    # the selector picks the agents that have not ended: the ended one is no failure
    r = _cli(daemon, bin, "agent", "stop", "-l", "team=x", "--grace", "2000")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "stop: 2 of 2 succeeded" in r.stdout and done["id"] not in r.stdout, r.stdout
    for a in (x1, x2):
        wait_status(daemon, a["id"], "terminated")
    assert get(daemon, y["id"])["status"] == "running"
    # explicit ids over a mix: the ended ones count as done, with their status
    r = daemon.post("/api/v1/agents/batch",
                    json={"ids": [x1["id"], done["id"], "y1"], "command": "stop"})
    body = r.json()
    assert r.status_code == 200 and (body["succeeded"], body["failed"]) == (3, 0), body
    assert [x["agent_status"] for x in body["results"]] == ["terminated", "completed", "stopping"]
    wait_status(daemon, y["id"], "terminated")
    z = _spawn(daemon, "z1")
    r = _cli(daemon, bin, "--json", "agent", "kill", "--all")
    assert r.returncode == 0, r.stderr
    assert [x["id"] for x in json.loads(r.stdout)["results"]] == [z["id"]]
    wait_status(daemon, z["id"], "terminated")
    r = _cli(daemon, bin, "agent", "stop", "--all")
    assert r.returncode == 0 and "stop: 0 of 0 succeeded" in r.stdout, (r.stdout, r.stderr)
    # one way of choosing at a time
    assert_problem(daemon.post("/api/v1/agents/batch", json={"all": True, "labels": "team=x",
                                                             "command": "stop"}), 422, "/ids")
    r = _cli(daemon, bin, "agent", "stop", "--all", "x1")
    assert r.returncode == 2
    r = _cli(daemon, bin, "agent", "stop")
    assert r.returncode == 2


def _settled_lines(d, handle):
    """The stdout line count once it has stopped moving (a paused agent's last line may still be
    in its pipe)."""
    n = _lines(d, handle)
    end = time.time() + 5 * SLOW
    while time.time() < end:
        time.sleep(0.3)
        m = _lines(d, handle)
        if m == n:
            return n
        n = m
    raise AssertionError("output never settled")


def test_default_pause_stops_a_program_that_ignores_the_pause_line(daemon, bin):
    a = _spawn(daemon, "plain")
    wait_output(daemon, a["id"], lambda o: o["total"] >= 3)
    r = _cli(daemon, bin, "--json", "agent", "pause", "plain")
    assert r.returncode == 0, r.stderr
    paused = json.loads(r.stdout)
    assert paused["status"] == "paused" and paused["paused_mode"] == "forced", paused
    assert "pause-protocol" in paused["reason"]
    n = _settled_lines(daemon, "plain")
    time.sleep(0.5)
    assert _lines(daemon, "plain") == n, "the agent printed while reported paused"
    r = _cli(daemon, bin, "agent", "resume", "plain")
    assert r.returncode == 0 and "running" in r.stdout, r.stderr
    wait_output(daemon, a["id"], lambda o: o["total"] >= n + 3)
    # an agent that declares the protocol gets the stdin line
    b = _spawn(daemon, "speaker", argv=["sh", "-c", "while read l; do echo \"got $l\"; done"],
               capabilities=["pause-protocol"])
    r = daemon.post(f"/api/v1/agents/{b['id']}/pause", json={})
    assert r.json()["paused_mode"] == "cooperative", r.text
    o = wait_output(daemon, b["id"], lambda o: o["total"] == 1)
    assert json.loads(o["lines"][0]["text"][4:]) == {"type": "pause", "action": "pause"}


def test_signals_by_any_name_or_number(daemon, bin):
    trap = ["sh", "-c", "trap 'echo got WINCH' WINCH; trap 'echo got TSTP' TSTP; "
                        "trap 'echo got RTMIN+1' 35; echo ready; while true; do sleep 0.05; done"]
    a = _spawn(daemon, "trapper", argv=trap)
    wait_output(daemon, a["id"], lambda o: o["total"] == 1)
    sent = 0
    for name in ("WINCH", "SIGWINCH", "winch", "SigWinch", "28"):
        r = daemon.post("/api/v1/agents/trapper/signal", json={"signal": name})
        assert r.status_code == 200, r.text
        sent += 1
        wait_output(daemon, a["id"], lambda o, n=sent: o["total"] == n, grep="^got WINCH$")
    r = _cli(daemon, bin, "agent", "signal", "trapper", "tstp")
    assert r.returncode == 0, r.stderr
    wait_output(daemon, a["id"], lambda o: o["total"] == 1, grep="^got TSTP$")
    r = _cli(daemon, bin, "agent", "signal", "-l", "nobody=here", "WINCH")
    assert r.returncode == 0 and "0 of 0" in r.stdout
    assert daemon.post("/api/v1/agents/trapper/signal", json={"signal": "RTMIN+1"}).status_code == 200
    wait_output(daemon, a["id"], lambda o: o["total"] == 1, grep="^got RTMIN\\+1$")
    # refusals list what is accepted
    for bad in ("bogus", "SIG", "0", "32", "RTMIN+99", "-9"):
        body = assert_problem(daemon.post("/api/v1/agents/trapper/signal", json={"signal": bad}),
                              422, "/signal")
        assert "WINCH" in body["accepted"] and "VTALRM" in body["accepted"], body
        assert "WINCH" in body["errors"][0]["message"]
    assert_problem(daemon.post("/api/v1/agents/batch", json={"all": True, "command": "signal",
                                                             "signal": "nope"}), 422, "/signal")
    r = _cli(daemon, bin, "agent", "signal", "trapper", "nope")
    assert r.returncode == 1 and "WINCH" in r.stderr
    # the agent object keeps the SIG names
    r = daemon.post("/api/v1/agents/trapper/signal", json={"signal": "usr1"})
    assert r.status_code == 200
    a = wait_status(daemon, a["id"], "failed")
    assert (a["signal"], a["reason"]) == ("SIGUSR1", "killed by SIGUSR1")


def test_logs_follow_keeps_to_the_agent_its_name_meant(daemon, bin):
    old = _spawn(daemon, "follow-me", argv=["sh", "-c", "trap '' TERM; while true; do echo x; "
                                                         "sleep 0.1; done"])
    wait_output(daemon, old["id"], lambda o: o["total"] >= 2)
    follower = subprocess.Popen([str(bin), "--url", daemon.url, "agent", "logs", "follow-me", "-f"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=daemon.cli_env())
    try:
        # following has begun (the name was resolved) once the first line is out
        ready, _, _ = select.select([follower.stdout], [], [], 10 * SLOW)
        assert ready and follower.stdout.readline() == "x\n"
        r = daemon.post("/api/v1/agents/follow-me/stop", json={"grace_ms": 1000})
        assert r.json()["status"] == "stopping", r.text
        # while the first still runs out its grace, a second of that name starts printing
        new = _spawn(daemon, "follow-me", argv=["sh", "-c", "while true; do echo y; sleep 0.1; done"],
                     allow_duplicate_name=True)
        wait_output(daemon, new["id"], lambda o: o["total"] >= 2)
        out, err = follower.communicate(timeout=CLI_TIMEOUT * SLOW)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    assert set(out.split()) <= {"x"}, out
    assert get(daemon, old["id"])["status"] == "terminated"
    daemon.post(f"/api/v1/agents/{new['id']}/kill", json={})


def test_names_over_zmq(make_daemon, bin):
    from gzmq import zmq_daemon
    d, rpc, _ = zmq_daemon(make_daemon)
    a = _spawn(d, "z ticker")

    def run(*args):
        return subprocess.run([str(bin), "--via", "zmq", "--url", rpc, *args], capture_output=True,
                              text=True, env=d.cli_env(), timeout=CLI_TIMEOUT * SLOW)
    r = run("--json", "agent", "show", "z ticker")
    assert r.returncode == 0 and json.loads(r.stdout)["id"] == a["id"], r.stderr
    for _ in range(2):  # the second finds it stopping or ended: still a success
        r = run("agent", "stop", "z ticker")
        assert r.returncode == 0 and a["id"] in r.stdout, r.stderr
    wait_status(d, a["id"], "terminated")
