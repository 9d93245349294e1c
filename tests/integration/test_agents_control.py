"""Agents: custom actions, batch commands, limits and their reasons, restart policies and the
crash-loop cap, agents marked lost across a daemon restart, and 1000 agents at once."""
import os
import signal
import time

from agents_util import SLOW, get, output, pid_alive, spawn, wait_output, wait_status
from conftest import assert_problem


def test_custom_actions_round_trip_builtins_and_timeout(daemon):
    a = spawn(daemon, "interactive", env={"SECRET_X": "1"}, context="c")
    r = daemon.post(f"/api/v1/agents/{a['id']}/action", json={"name": "add", "params": {"a": 2, "b": 40}})
    assert r.status_code == 200, r.text
    assert r.json()["result"] == {"sum": 42} and r.json()["action_id"].startswith("act-")
    r = daemon.post(f"/api/v1/agents/{a['id']}/action", json={"name": "fail"})
    assert_problem(r, 502)
    assert r.json()["agent_error"] == "nope"
    t0 = time.time()
    r = daemon.post(f"/api/v1/agents/{a['id']}/action", json={"name": "slow", "timeout_ms": 300})
    assert_problem(r, 504)
    assert time.time() - t0 < 5 * SLOW
    assert daemon.post(f"/api/v1/agents/{a['id']}/action", json={"name": "ping"}).json()["result"]["pong"]
    r = daemon.post(f"/api/v1/agents/{a['id']}/action", json={"name": "echo", "params": {"k": [1]}})
    assert r.json()["result"] == {"params": {"k": [1]}}
    env = daemon.post(f"/api/v1/agents/{a['id']}/action", json={"name": "get_env"}).json()["result"]["env"]
    assert env["SECRET_X"] == "1" and env["AGENT_CONTEXT"] == "c" and env["AGENT_ID"] == a["id"]
    assert "PATH" not in env, "the daemon's own environment is not disclosed"
    # a pending action fails when the agent ends
    import threading
    res = {}
    th = threading.Thread(target=lambda: res.update(r=daemon.post(
        f"/api/v1/agents/{a['id']}/action", json={"name": "slow", "timeout_ms": 20000}, timeout=30)))
    th.start()
    time.sleep(0.3)
    daemon.post(f"/api/v1/agents/{a['id']}/kill", json={})
    th.join(15)
    assert_problem(res["r"], 502)
    assert_problem(daemon.post(f"/api/v1/agents/{a['id']}/action", json={"name": "add"}), 409)


def test_batch_by_label_and_fail_fast(daemon):
    xs = [spawn(daemon, "interactive", labels={"grp": "b"}) for _ in range(3)]
    other = spawn(daemon, "interactive", labels={"grp": "c"})
    r = daemon.post("/api/v1/agents/batch", json={"labels": "grp=b", "command": "pause", "force": True})
    body = r.json()
    assert r.status_code == 200 and body["succeeded"] == 3 and body["failed"] == 0
    assert {x["id"] for x in body["results"]} == {x["id"] for x in xs}
    assert get(daemon, other["id"])["status"] == "running"
    # fail_fast: the second (unknown) fails and the rest are skipped
    ids = [xs[0]["id"], "doesnotexist", xs[1]["id"], xs[2]["id"]]
    r = daemon.post("/api/v1/agents/batch", json={"ids": ids, "command": "resume", "fail_fast": True})
    body = r.json()
    assert (body["succeeded"], body["failed"], body["skipped"]) == (1, 1, 2), body
    assert body["results"][1]["status"] == 404 and body["results"][2]["skipped"]
    r = daemon.post("/api/v1/agents/batch", json={"ids": ids, "command": "resume"})
    assert (r.json()["succeeded"], r.json()["failed"]) == (2, 2)
    r = daemon.post("/api/v1/agents/batch", json={"labels": "grp=b", "command": "stop", "grace_ms": 2000})
    assert r.json()["succeeded"] == 3
    for x in xs:
        wait_status(daemon, x["id"], "terminated")
    assert_problem(daemon.post("/api/v1/agents/batch", json={"command": "stop"}), 422)
    assert_problem(daemon.post("/api/v1/agents/batch", json={"ids": ["a"], "command": "signal"}), 422, "/signal")
    daemon.post(f"/api/v1/agents/{other['id']}/kill", json={})


def test_limits_end_agents_with_readable_reasons(daemon):
    hog = spawn(daemon, "hog", limits={"memory_mb": 256})
    spin = spawn(daemon, "spin", limits={"cpu_s": 1})
    slow = spawn(daemon, "interactive", limits={"timeout_s": 0.5}, stop_grace_ms=2000)
    hog = wait_status(daemon, hog["id"], "failed", timeout=30)
    assert hog["reason"].startswith("out of memory (address-space limit 256 MiB"), hog["reason"]
    spin = wait_status(daemon, spin["id"], "failed", timeout=30)
    assert spin["reason"] == "killed: CPU time limit 1s exceeded (SIGXCPU)", spin["reason"]
    slow = wait_status(daemon, slow["id"], "failed", timeout=30)
    assert slow["reason"] == "killed: wall-clock timeout 0.5s", slow["reason"]


def test_open_files_limit(daemon):
    a = spawn(daemon, name="nofile", argv=["sh", "-c", "ulimit -n"], limits={"nofile": 64})
    wait_status(daemon, a["id"], "completed")
    assert output(daemon, a["id"])["lines"][0]["text"] == "64"


def test_restart_on_failure_then_crash_loop_cap(make_daemon):
    d = make_daemon(args=("--set", "agents.backoff_ms=50", "--set", "agents.backoff_max_ms=200"))
    a = spawn(d, "exit", 1, restart="on-failure", restart_max=3, restart_window_s=60)
    a = wait_status(d, a["id"], "failed", timeout=30)
    assert a["restarts"] == 3
    assert a["reason"].startswith("crash loop: 3 restarts within 60s"), a["reason"]
    assert output(d, a["id"], grep="^exiting$")["total"] == 4
    # on-failure does not restart a success; always does
    ok = spawn(d, "exit", 0, restart="on-failure")
    ok = wait_status(d, ok["id"], "completed")
    assert ok["restarts"] == 0
    al = spawn(d, "exit", 0, 0.2, restart="always", restart_max=100)
    end = time.time() + 20 * SLOW
    while get(d, al["id"])["restarts"] < 2 and time.time() < end:
        time.sleep(0.05)
    assert get(d, al["id"])["restarts"] >= 2
    assert d.post(f"/api/v1/agents/{al['id']}/stop", json={}).status_code == 200
    al = wait_status(d, al["id"], "terminated")
    n = al["restarts"]
    time.sleep(0.5)
    assert get(d, al["id"])["restarts"] == n, "a stopped agent is not restarted"


def test_daemon_restart_marks_running_agents_lost(make_daemon):
    d = make_daemon()
    a = spawn(d, "interactive")
    done = spawn(d, "exit", 0)
    wait_status(d, done["id"], "completed")
    wait_output(d, a["id"], lambda o: o["total"] >= 2)
    time.sleep(0.3)  # let the row be written
    pid = a["pid"]
    d.kill()  # SIGKILL: the daemon cannot stop its agents
    os.killpg(pid, signal.SIGKILL)
    d.returncode = None
    d.start()
    a2 = get(d, a["id"])
    assert a2["status"] == "lost" and a2["lost_at"] and a2["pid"] is None
    assert "daemon stopped" in a2["reason"]
    assert get(d, done["id"])["status"] == "completed"
    o = output(d, done["id"])
    assert o["lines"][0]["text"] == "exiting", "the stored tail survives the restart"
    # a clean shutdown stops agents and records it
    b = spawn(d, "ignore-term", stop_grace_ms=300)
    assert d.stop() == 0
    assert not pid_alive(b["pid"])
    d.start()
    assert get(d, b["id"])["status"] == "terminated"


def test_a_thousand_agents_at_once(make_daemon):
    d = make_daemon(args=("--set", "agents.max=1000",))
    ids = []
    for i in range(1000):
        r = d.post("/api/v1/agents", json={"name": f"s{i}", "argv": ["sleep", "60"],
                                           "labels": {"bulk": "1"}})
        assert r.status_code == 201, (i, r.text)
        ids.append(r.json()["id"])
    st = d.get("/api/v1/agents/stats").json()
    assert st["active_agents"] == 1000
    r = d.post("/api/v1/agents", json={"name": "one-more", "argv": ["sleep", "60"]})
    assert_problem(r, 429)
    r = d.get("/api/v1/agents", params={"labels": "bulk=1", "status": "running", "limit": 1000})
    assert r.json()["total"] == 1000
    r = d.post("/api/v1/agents/batch", json={"labels": "bulk=1", "command": "kill"})
    assert r.json()["succeeded"] == 1000
    end = time.time() + 60 * SLOW
    while d.get("/api/v1/agents/stats").json()["active_agents"] and time.time() < end:
        time.sleep(0.2)
    assert d.get("/api/v1/agents/stats").json()["active_agents"] == 0
    # 1000 ends reaped in a few loop turns are written in grouped transactions (at most 256 rows
    # each): after a restart every row says terminated, none running (which would load as lost)
    assert d.stop() == 0
    d.start()
    r = d.get("/api/v1/agents", params={"labels": "bulk=1", "limit": 1000}).json()
    assert r["total"] == 1000
    assert {a["status"] for a in r["agents"]} == {"terminated"}
    assert {a["id"] for a in r["agents"]} == set(ids)


def test_agents_run_as_the_configured_user(make_daemon, tmp_path):
    import pytest
    if os.geteuid() != 0:
        pytest.skip("needs a root daemon")
    d = make_daemon(args=("--set", "agents.user=nobody"))
    a = spawn(d, name="whoami", argv=["sh", "-c", "id -u; id -G"], cwd="/")
    wait_status(d, a["id"], "completed")
    lines = [l["text"] for l in output(d, a["id"])["lines"]]
    import pwd
    nobody = pwd.getpwnam("nobody")
    assert lines[0] == str(nobody.pw_uid)
    assert lines[1].split() == [str(nobody.pw_gid)], "supplementary groups are cleared"


def test_ended_agents_kept_in_memory_are_bounded(make_daemon):
    """Only the most recent 2000 ended agents stay in memory; the oldest go first."""
    d = make_daemon()
    ids = []
    for i in range(2010):
        r = d.post("/api/v1/agents", json={"name": f"t{i}", "argv": ["true"]})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    end = time.time() + 60 * SLOW
    while d.get("/api/v1/agents/stats").json()["active_agents"] and time.time() < end:
        time.sleep(0.1)
    time.sleep(0.2)
    st = d.get("/api/v1/agents/stats").json()
    assert st["agents"] == 2000 and st["by_status"]["completed"] == 2000
    assert d.get(f"/api/v1/agents/{ids[0]}").status_code == 404
    assert d.get(f"/api/v1/agents/{ids[-1]}").status_code == 200
    # every record is found by id, through many removals (the id index): deleted ones are gone
    for aid in ids[10:510]:
        assert d.request("DELETE", f"/api/v1/agents/{aid}").status_code == 204
    time.sleep(0.2)
    deleted = set(ids[10:510])
    for aid in ids[10:]:
        want = 404 if aid in deleted else 200
        assert d.get(f"/api/v1/agents/{aid}").status_code == want, aid
    st = d.get("/api/v1/agents/stats").json()
    assert st["agents"] == 1500
    # prune reaches the rows that left memory too (ids[:10]), with their log files
    logs = d.data_dir / "logs"
    (logs / f"{ids[0]}.log").write_text('{"seq":1,"stream":"stdout","ts":1,"text":"x"}\n')
    (logs / f"{ids[0]}.log.1").write_text("")
    r = d.post("/api/v1/agents/prune", json={})
    assert r.status_code == 200 and r.json() == {"pruned": 1510}, r.text
    assert not any(p.name.startswith(ids[0]) for p in logs.iterdir())
    d.restart()
    assert d.get("/api/v1/agents").json()["total"] == 0
