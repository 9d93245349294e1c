"""Starting agents again with the same id: `agent start` on an ended agent, `agent restart` on a
live one, the batch restart, and the agents a daemon restart brings back by their policy."""
import os
import subprocess
import time

from agents_util import SLOW, get, pid_alive, spawn, wait_output, wait_status


def cli(d, *args):
    env = d.cli_env({k: v for k, v in os.environ.items()
                     if k not in ("GANGLION_URL", "GANGLION_TOKEN", "GANGLION_DATA_DIR")})
    env["NO_COLOR"] = "1"
    return subprocess.run([d.bin, "--url", d.url, *args], capture_output=True, text=True,
                          timeout=30, env=env)


def wait_for(pred, timeout=10):
    end = time.time() + timeout * SLOW
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def running_again(d, aid, old_pid):
    """The agent once it runs with a pid other than old_pid."""
    def check():
        a = get(d, aid)
        return a if a["status"] == "running" and a["pid"] and a["pid"] != old_pid else None
    return wait_for(check)


def test_start_a_completed_agent_again(daemon):
    a = spawn(daemon, "exit", 0)
    a = wait_status(daemon, a["id"], "completed")
    r = daemon.post(f"/api/v1/agents/{a['id']}/start")
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["id"] == a["id"] and b["restarts"] == 1
    assert b["reason"] == "started again on request"
    b = wait_status(daemon, a["id"], "completed")
    assert b["restarts"] == 1 and b["exit_code"] == 0
    # through the CLI, with the same id again
    r = cli(daemon, "agent", "start", a["id"])
    assert r.returncode == 0, r.stderr
    assert a["id"] in r.stdout
    assert wait_status(daemon, a["id"], "completed")["restarts"] == 2


def test_start_refuses_a_running_agent(daemon):
    a = spawn(daemon, "interactive")
    r = daemon.post(f"/api/v1/agents/{a['id']}/start")
    assert r.status_code == 409, r.text
    assert "use restart" in r.json()["detail"]
    r = cli(daemon, "agent", "start", a["id"])
    assert r.returncode != 0 and "running" in r.stderr
    assert daemon.post("/api/v1/agents/nosuchagent/start").status_code == 404


def test_start_refuses_a_name_another_live_agent_holds(daemon):
    a = spawn(daemon, "exit", 0, name="nightly", allow_duplicate_name=False)
    wait_status(daemon, a["id"], "completed")
    b = spawn(daemon, "interactive", name="nightly", allow_duplicate_name=False)
    r = daemon.post(f"/api/v1/agents/{a['id']}/start")
    assert r.status_code == 409, r.text
    assert r.json()["agent_id"] == b["id"]
    assert get(daemon, a["id"])["status"] == "completed"
    # once the name is free again, the old agent starts under it
    daemon.post(f"/api/v1/agents/{b['id']}/stop")
    wait_status(daemon, b["id"], ("terminated", "completed", "failed"))
    r = daemon.post(f"/api/v1/agents/{a['id']}/start")
    assert r.status_code == 200, r.text


def test_restart_a_running_agent_keeps_its_id(daemon):
    a = spawn(daemon, "interactive", stop_grace_ms=2000)
    a = wait_status(daemon, a["id"], "running")
    old = a["pid"]
    r = daemon.post(f"/api/v1/agents/{a['id']}/restart", json={"reason": "new config"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "stopping"
    b = running_again(daemon, a["id"], old)
    assert b["restarts"] == 1 and b["reason"] == "new config"
    assert not pid_alive(old)
    # the CLI, and the default reason
    r = cli(daemon, "agent", "restart", a["id"])
    assert r.returncode == 0, r.stderr
    c = running_again(daemon, a["id"], b["pid"])
    assert c["restarts"] == 2 and c["reason"] == "restarted on request"


def test_stop_while_a_restart_is_pending_wins(daemon):
    a = spawn(daemon, "ignore-term", stop_grace_ms=500)
    wait_output(daemon, a["id"], lambda o: o["lines"])  # SIGTERM is ignored from here on
    r = daemon.post(f"/api/v1/agents/{a['id']}/restart")
    assert r.status_code == 200 and r.json()["status"] == "stopping", r.text
    assert r.json()["reason"].startswith("restarting (restarted on request)")
    assert daemon.post(f"/api/v1/agents/{a['id']}/stop").status_code == 200
    b = wait_status(daemon, a["id"], "terminated")
    assert b["restarts"] == 0 and b["pid"] is None


def test_batch_restart(daemon):
    ids = [spawn(daemon, "interactive", labels={"grp": "r"})["id"] for _ in range(2)]
    pids = {i: wait_status(daemon, i, "running")["pid"] for i in ids}
    r = daemon.post("/api/v1/agents/batch", json={"labels": "grp=r", "command": "restart"})
    assert r.status_code == 200, r.text
    assert r.json()["succeeded"] == 2
    for i in ids:
        assert running_again(daemon, i, pids[i])["restarts"] == 1


def test_daemon_restart_brings_back_agents_by_policy(store_daemon):
    d = store_daemon
    always = spawn(d, "interactive", name="always", restart="always")
    onfail = spawn(d, "interactive", name="onfail", restart="on-failure")
    never = spawn(d, "interactive", name="never")
    done = spawn(d, "exit", 0, name="done", restart="on-failure")
    old = {x["id"]: wait_status(d, x["id"], "running")["pid"]
           for x in (always, onfail, never)}
    wait_status(d, done["id"], "completed")
    d.restart()
    for x in (always, onfail):
        b = running_again(d, x["id"], old[x["id"]])
        assert b["restarts"] == 1, b
        assert "daemon" in b["reason"] and "stopped" in b["reason"], b["reason"]
    n = get(d, never["id"])
    assert n["status"] == "terminated" and n["restarts"] == 0
    assert n["reason"].startswith("daemon shutting down"), n["reason"]
    assert "on request" not in n["reason"]
    assert get(d, done["id"])["status"] == "completed"
    # the revived agents are stopped by the next shutdown the same way and come back again
    d.restart()
    b = wait_status(d, always["id"], "running")
    assert b["restarts"] == 2


def test_lost_agents_come_back_after_a_crash(make_daemon):
    d = make_daemon()
    always = spawn(d, "interactive", name="always", restart="always")
    never = spawn(d, "interactive", name="never")
    wait_status(d, always["id"], "running")
    wait_status(d, never["id"], "running")
    time.sleep(0.3)  # the running rows are written on the thread pool
    d.kill()
    d.start()
    b = wait_status(d, always["id"], "running")
    assert b["restarts"] == 1 and "it was lost" in b["reason"], b
    assert get(d, never["id"])["status"] == "lost"
