"""Agents: spawning, the lifecycle and its reasons, stop/kill/signal/delete, pause and resume
(cooperative and forced), stdin, presets, validation."""
import os
import signal
import time

from agents_util import (AGENT, PY, SLOW, get, output, pid_alive, spawn, wait_output,
                         wait_status)
from conftest import assert_problem


def test_spawn_complete_and_fail_with_exit_codes(daemon):
    a = spawn(daemon, "exit", 0, name="ok", labels={"team": "a"}, capabilities=["x"])
    assert a["status"] == "running" and a["pid"] > 0 and a["labels"] == {"team": "a"}
    assert a["capabilities"] == ["x"] and a["argv"][1] == AGENT
    b = spawn(daemon, "exit", 3, name="bad")
    a = wait_status(daemon, a["id"], "completed")
    assert a["exit_code"] == 0 and a["reason"] == "exited with code 0" and a["ended_at"]
    assert a["pid"] is None
    b = wait_status(daemon, b["id"], "failed")
    assert b["exit_code"] == 3 and b["reason"] == "exited with code 3"
    assert output(daemon, b["id"])["lines"][0]["text"] == "exiting"
    # list, filters and pagination
    r = daemon.get("/api/v1/agents", params={"status": "failed"}).json()
    assert [x["id"] for x in r["agents"]] == [b["id"]] and r["total"] == 1
    r = daemon.get("/api/v1/agents", params={"labels": "team=a"}).json()
    assert [x["id"] for x in r["agents"]] == [a["id"]]
    r = daemon.get("/api/v1/agents", params={"limit": 1, "offset": 0}).json()
    assert r["total"] == 2 and r["has_more"] and len(r["agents"]) == 1
    st = daemon.get("/api/v1/agents/stats").json()
    assert st["spawns_ok"] == 2 and st["by_status"]["completed"] == 1 and st["healthy"]


def test_status_events_on_the_bus(daemon):
    import gsse
    c = gsse.SSEClient(daemon.url, "/api/v1/stream?topics=agent.*.status")
    c.read_headers()
    first = c.next_event()  # the "connected" comment: the subscription exists from here on
    assert first is not None and first.is_comment
    a = spawn(daemon, "exit", 0)
    seen = []
    end = time.time() + 10 * SLOW
    while time.time() < end and "completed" not in seen:
        ev = c.next_event()
        if ev and not ev.is_comment:
            import json
            seen.append(json.loads(ev.data)["status"])
    c.close()
    assert seen[:2] == ["initializing", "running"] and seen[-1] == "completed", seen
    assert a["id"]


def test_spawn_validation_and_exec_failure(daemon):
    assert_problem(daemon.post("/api/v1/agents", json={"name": "x"}), 422, "/argv")
    assert_problem(daemon.post("/api/v1/agents", json={"argv": ["true"]}), 422, "/name")
    assert_problem(daemon.post("/api/v1/agents", json={"name": "x", "argv": ["true"],
                                                        "env": {"1BAD": "x"}}), 422)
    assert_problem(daemon.post("/api/v1/agents", json={"name": "x", "argv": ["true"],
                                                        "labels": {"k": 5}}), 422)
    assert_problem(daemon.post("/api/v1/agents", json={"name": "x", "preset": "cli",
                                                        "task": "t"}), 422, "/program")
    assert_problem(daemon.post("/api/v1/agents", json={"name": "x", "argv": ["true"],
                                                        "limits": {"memory_mb": 0}}), 422)
    r = daemon.post("/api/v1/agents", json={"name": "x", "argv": ["/nonexistent/prog"]})
    assert_problem(r, 422)
    assert "No such file" in r.json()["detail"]
    assert daemon.get("/api/v1/agents").json()["total"] == 0
    st = daemon.get("/api/v1/agents/stats").json()
    assert st["spawns_failed"] == 1
    assert_problem(daemon.get("/api/v1/agents/nope"), 404)


def test_presets_env_context_and_cwd(daemon, tmp_path):
    a = spawn(daemon, name="cli", preset="cli", program="echo", args=["-n", "say:"], task="hello")
    assert a["argv"] == ["echo", "-n", "say:", "hello"]
    wait_status(daemon, a["id"], "completed")
    assert output(daemon, a["id"])["lines"][0]["text"] == "say: hello"
    assert output(daemon, a["id"])["lines"][0].get("noeol") is True
    b = spawn(daemon, name="env", argv=["sh", "-c", 'echo "$FOO|$AGENT_CONTEXT|$AGENT_ID|$(pwd)"'],
              env={"FOO": "bar"}, context="ctx text", cwd=str(tmp_path))
    wait_status(daemon, b["id"], "completed")
    assert output(daemon, b["id"])["lines"][0]["text"] == f"bar|ctx text|{b['id']}|{tmp_path}"
    # the claude and opencode command lines (the programs need not exist to check argv)
    r = daemon.post("/api/v1/agents", json={"name": "c", "preset": "claude", "task": "do it",
                                            "model": "m1", "args": ["--x"]})
    if r.status_code == 201:
        assert r.json()["argv"] == ["claude", "-p", "do it", "--output-format", "stream-json",
                                    "--verbose", "--model", "m1", "--x"]
    else:
        assert_problem(r, 422)
        assert "claude" in r.json()["detail"]


def test_stop_escalates_to_sigkill_for_the_whole_group(daemon):
    a = spawn(daemon, "ignore-term", 2, stop_grace_ms=int(600 * SLOW))
    o = wait_output(daemon, a["id"], lambda o: o["lines"])
    pids = [int(p) for p in o["lines"][0]["text"].split()[1:]]
    assert len(pids) == 3 and all(pid_alive(p) for p in pids)
    r = daemon.post(f"/api/v1/agents/{a['id']}/stop", json={})
    assert r.status_code == 200 and r.json()["status"] == "stopping"
    time.sleep(0.3)
    assert all(pid_alive(p) for p in pids), "SIGTERM is ignored: still alive within the grace"
    a = wait_status(daemon, a["id"], "terminated")
    assert a["signal"] == "SIGKILL" and "SIGKILL" in a["reason"]
    time.sleep(0.2)
    assert not any(pid_alive(p) for p in pids), "children of the agent must be gone too"
    # stop is idempotent: the ended agent is answered as it is
    r = daemon.post(f"/api/v1/agents/{a['id']}/stop", json={})
    assert r.status_code == 200 and r.json()["status"] == "terminated", r.text


def test_stop_kill_signal_and_delete(daemon):
    a = spawn(daemon, "interactive")
    r = daemon.post(f"/api/v1/agents/{a['id']}/stop", json={"grace_ms": 5000})
    a = wait_status(daemon, a["id"], "terminated")
    assert a["signal"] == "SIGTERM" and a["reason"] == "stopped on request (SIGTERM)"
    b = spawn(daemon, "interactive")
    assert daemon.post(f"/api/v1/agents/{b['id']}/kill", json={}).status_code == 200
    b = wait_status(daemon, b["id"], "terminated")
    assert b["reason"] == "killed on request" and b["signal"] == "SIGKILL"
    c = spawn(daemon, "interactive")
    assert_problem(daemon.post(f"/api/v1/agents/{c['id']}/signal", json={"signal": "bogus"}),
                   422, "/signal")
    assert daemon.post(f"/api/v1/agents/{c['id']}/signal", json={"signal": "usr1"}).status_code == 200
    c = wait_status(daemon, c["id"], "failed")
    assert c["signal"] == "SIGUSR1" and c["reason"] == "killed by SIGUSR1"
    d = spawn(daemon, "interactive")
    pid = d["pid"]
    assert daemon.request("DELETE", f"/api/v1/agents/{d['id']}").status_code == 204
    assert_problem(daemon.get(f"/api/v1/agents/{d['id']}"), 404)
    end = time.time() + 5 * SLOW
    while pid_alive(pid) and time.time() < end:
        time.sleep(0.05)
    assert not pid_alive(pid)


def _ticks(d, aid):
    lines = output(d, aid, grep="^tick ", tail=1)["lines"]
    return int(lines[0]["text"].split()[1]) if lines else 0


def test_forced_pause_makes_no_progress_then_resumes(daemon):
    a = spawn(daemon, "interactive")
    wait_output(daemon, a["id"], lambda o: o["total"] >= 3, grep="^tick ")
    r = daemon.post(f"/api/v1/agents/{a['id']}/pause", json={"force": True})
    assert r.status_code == 200 and r.json()["status"] == "paused"
    assert r.json()["paused_mode"] == "forced"
    time.sleep(0.2)
    t1 = _ticks(daemon, a["id"])
    time.sleep(0.6)
    assert _ticks(daemon, a["id"]) == t1, "a SIGSTOPped agent printed"
    assert_problem(daemon.post(f"/api/v1/agents/{a['id']}/pause", json={"force": True}), 409)
    r = daemon.post(f"/api/v1/agents/{a['id']}/resume", json={})
    assert r.status_code == 200 and r.json()["status"] == "running"
    wait_output(daemon, a["id"], lambda o: o["lines"] and int(o["lines"][0]["text"].split()[1]) > t1 + 3,
                grep="^tick ", tail=1)
    assert_problem(daemon.post(f"/api/v1/agents/{a['id']}/resume", json={}), 409)


def test_cooperative_pause_and_stdin(daemon):
    a = spawn(daemon, "interactive", capabilities=["pause-protocol"])
    wait_output(daemon, a["id"], lambda o: o["total"] >= 2, grep="^tick ")
    r = daemon.post(f"/api/v1/agents/{a['id']}/pause", json={})
    assert r.json()["status"] == "paused" and r.json()["paused_mode"] == "cooperative"
    wait_output(daemon, a["id"], lambda o: o["total"] == 1, grep="^paused$")
    t1 = _ticks(daemon, a["id"])
    time.sleep(0.4)
    assert _ticks(daemon, a["id"]) <= t1 + 1
    assert daemon.post(f"/api/v1/agents/{a['id']}/resume", json={}).json()["status"] == "running"
    wait_output(daemon, a["id"], lambda o: o["lines"] and int(o["lines"][0]["text"].split()[1]) > t1 + 2,
                grep="^tick ", tail=1)
    r = daemon.post(f"/api/v1/agents/{a['id']}/stdin", json={"text": "hello there\n"})
    assert r.status_code == 200 and r.json()["written"] == 12
    wait_output(daemon, a["id"], lambda o: o["total"] == 1, grep="^got: hello there$")
    r = daemon.post(f"/api/v1/agents/{a['id']}/stdin", json={"data_b64": "Ynl0ZXMK"})
    wait_output(daemon, a["id"], lambda o: o["total"] == 1, grep="^got: bytes$")
    assert_problem(daemon.post(f"/api/v1/agents/{a['id']}/stdin", json={"text": "x" * 70000}), 422)
    assert_problem(daemon.post(f"/api/v1/agents/{a['id']}/stdin", json={"data_b64": "!!"}), 422)
    assert_problem(daemon.post(f"/api/v1/agents/{a['id']}/stdin", json={}), 422)


def test_stream_json_reports_thinking(daemon):
    a = spawn(daemon, "status")
    wait_status(daemon, a["id"], "thinking")
    wait_status(daemon, a["id"], "running")
    daemon.post(f"/api/v1/agents/{a['id']}/kill", json={})
    wait_status(daemon, a["id"], "terminated")


def test_agents_persist_on_both_stores(store_daemon):
    d = store_daemon
    a = spawn(d, "exit", 2, labels={"k": "v"})
    a = wait_status(d, a["id"], "failed")
    time.sleep(0.3)  # the final row is written on the thread pool
    d.restart()
    b = get(d, a["id"])
    assert (b["status"], b["exit_code"], b["reason"], b["labels"]) == ("failed", 2, "exited with code 2", {"k": "v"})
    assert output(d, a["id"])["lines"][0]["text"] == "exiting"
    assert d.request("DELETE", f"/api/v1/agents/{a['id']}").status_code == 204
    time.sleep(0.3)
    d.restart()
    assert d.get(f"/api/v1/agents/{a['id']}").status_code == 404
