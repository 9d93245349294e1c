"""Agents' descendants stay under control: a grandchild that leaves the agent's session
(setsid) is ended with its agent, after stop, kill, delete or the main process's own exit; and
the processes of a daemon that was killed (kill -9) are ended deliberately at the next start,
without touching a process whose pid was reused. agents.orphans = leave keeps the old way."""
import os
import signal
import sqlite3
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from agents_util import SLOW, get, pid_alive, spawn, wait_output, wait_status
from conftest import _pg_client

DEADLINE = 5 * SLOW


def marker():
    """A sleep length no other process uses: its command line finds the process wherever it
    was re-parented."""
    return f"{3000 + (os.getpid() % 997)}.{time.monotonic_ns() % 10**9}"


def procs_with(arg):
    """Live (non-zombie) processes whose command line holds the argument arg."""
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{p}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if arg.encode() in argv and state != "Z":
            found.append(int(p))
    return found


def wait_gone(arg, timeout=DEADLINE):
    end = time.time() + timeout
    while time.time() < end:
        left = procs_with(arg)
        if not left:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes still running with {arg}: {left}")


@pytest.fixture
def sweeper():
    """Kills whatever the test's markers still name at the end (a failing run leaves them)."""
    marks = []
    yield marks
    for m in marks:
        for pid in procs_with(m):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# sh: start `setsid sleep M` in the background and wait until it runs sleep (its pid is $!:
# setsid does not fork when its caller is not a group leader), then print that pid
START_GRANDCHILD = ('setsid sleep {m} & g=$!; '
                    'until grep -qa "^sleep" /proc/$g/cmdline 2>/dev/null; do :; done; '
                    'echo "grandchild $g"')


def row_status(d, aid):
    """The agent's status as the store holds it (None without a row)."""
    if d.store:  # PostgreSQL
        u = urlsplit(d.store)
        env = dict(os.environ, PGPASSWORD=u.password or "")
        cmd = [_pg_client("psql"), "-h", u.hostname, "-p", str(u.port), "-U", u.username or "postgres",
               "-d", u.path.lstrip("/"), "-At", "-c", f"SELECT status FROM agents WHERE id = '{aid}'"]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30, check=True).stdout
        return out.strip() or None
    db = sqlite3.connect(d.data_dir / "ganglion.db")
    try:
        row = db.execute("SELECT status FROM agents WHERE id = ?", (aid,)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def wait_row_running(d, aid, timeout=DEADLINE):
    """Until the store holds the agent's running row (written on the thread pool)."""
    end = time.time() + timeout
    while time.time() < end:
        if row_status(d, aid) == "running":
            return
        time.sleep(0.05)
    raise AssertionError(f"agent {aid}: no running row in the store")


def grandchild_pid(d, aid):
    o = wait_output(d, aid, lambda o: o["total"] >= 1, grep="^grandchild ")
    return int(o["lines"][0]["text"].split()[1])


def test_setsid_grandchild_is_ended_when_the_main_process_exits(daemon, sweeper):
    m = marker()
    sweeper.append(m)
    a = spawn(daemon, name="escape", argv=["sh", "-c", START_GRANDCHILD.format(m=m) + "; exit 0"])
    g = grandchild_pid(daemon, a["id"])
    assert procs_with(m) == [g] or not procs_with(m)
    wait_status(daemon, a["id"], "completed")
    wait_gone(m)
    assert daemon.metrics()["ganglion_agents_orphans_ended_total"].samples[0].value >= 1


@pytest.mark.parametrize("how", ["stop", "kill", "delete"])
def test_setsid_grandchild_of_a_running_agent_is_ended_with_it(daemon, sweeper, how):
    m = marker()
    sweeper.append(m)
    # the grandchild's parent exits at once: it is an orphan while the agent keeps running
    script = f"sh -c '{START_GRANDCHILD.format(m=m)}'; exec sleep 600"
    a = spawn(daemon, name="keeps-running", argv=["sh", "-c", script])
    g = grandchild_pid(daemon, a["id"])
    wait_status(daemon, a["id"], "running")
    # an agent's helper that daemonized is not ended while the agent runs
    assert procs_with(m) == [g]
    if how == "delete":
        assert daemon.request("DELETE", f"/api/v1/agents/{a['id']}").status_code == 204
    else:
        r = daemon.post(f"/api/v1/agents/{a['id']}/{how}", json={"grace_ms": 2000} if how == "stop" else {})
        assert r.status_code == 200, r.text
        wait_status(daemon, a["id"], "terminated")
    wait_gone(m)


def test_daemon_shutdown_ends_setsid_grandchildren(make_daemon, sweeper):
    d = make_daemon()
    m = marker()
    sweeper.append(m)
    a = spawn(d, name="keeps-running", argv=["sh", "-c", f"sh -c '{START_GRANDCHILD.format(m=m)}'; exec sleep 600"])
    grandchild_pid(d, a["id"])
    assert d.stop() == 0
    wait_gone(m)


def agent_with_descendants(d, m):
    """An agent whose main process has a child in its group and a setsid grandchild (all three
    run `sleep m`)."""
    script = f"sleep {m} & {START_GRANDCHILD.format(m=m)}; exec sleep {m}"
    a = spawn(d, name="crash", argv=["sh", "-c", script])
    grandchild_pid(d, a["id"])
    wait_status(d, a["id"], "running")
    end = time.time() + DEADLINE
    while len(procs_with(m)) != 3 and time.time() < end:
        time.sleep(0.05)
    assert len(procs_with(m)) == 3
    return a


def test_agents_of_a_killed_daemon_are_ended_at_restart(store_daemon, sweeper):
    d = store_daemon
    m = marker()
    sweeper.append(m)
    a = agent_with_descendants(d, m)
    main = a["pid"]
    wait_row_running(d, a["id"])
    d.kill()  # kill -9
    # the main process dies with the daemon (its parent-death signal)
    end = time.time() + DEADLINE
    while pid_alive(main) and time.time() < end:
        time.sleep(0.05)
    assert not pid_alive(main), "the agent's main process outlived the killed daemon"
    d.start()
    wait_gone(m)
    b = get(d, a["id"])
    assert b["status"] == "lost" and b["lost_at"]
    assert b["reason"].endswith("; 2 of its processes were still running and were ended at restart"), b["reason"]


def test_a_reused_pid_is_never_touched_at_restart(make_daemon, sweeper):
    d = make_daemon()
    m = marker()
    sweeper.append(m)
    a = spawn(d, name="plain", argv=["sleep", m])
    wait_status(d, a["id"], "running")
    wait_row_running(d, a["id"])
    d.kill()
    # a process of its own session now holds the numbers the row names, as a reused pid would:
    # started later than the agent (start times count clock ticks: a later tick)
    db = sqlite3.connect(d.data_dir / "ganglion.db")
    start = db.execute("SELECT pid_start FROM agents WHERE id = ?", (a["id"],)).fetchone()[0]
    db.close()
    assert start > 0
    while True:
        other = subprocess.Popen(["sleep", m], start_new_session=True)
        with open(f"/proc/{other.pid}/stat") as f:
            if int(f.read().rsplit(")", 1)[1].split()[19]) > start:
                break
        other.kill()
        other.wait()
    try:
        db = sqlite3.connect(d.data_dir / "ganglion.db")
        with db:
            n = db.execute("UPDATE agents SET pid = ?, pgid = ? WHERE id = ?",
                           (other.pid, other.pid, a["id"])).rowcount
        db.close()
        assert n == 1
        d.start()
        b = get(d, a["id"])
        assert b["status"] == "lost"
        assert other.poll() is None, "a process that only reused the pid was killed"
    finally:
        other.kill()
        other.wait()


def test_orphans_leave_keeps_the_old_behaviour(make_daemon, sweeper):
    d = make_daemon(env={"GANGLION_AGENTS_ORPHANS": "leave"})
    m = marker()
    sweeper.append(m)
    a = spawn(d, name="left", argv=["sleep", m])
    wait_status(d, a["id"], "running")
    wait_row_running(d, a["id"])
    d.kill()
    d.start()
    b = get(d, a["id"])
    assert b["status"] == "lost" and f"pid {a['pid']}" in b["reason"], b["reason"]
    assert procs_with(m) == [a["pid"]]


def test_a_main_process_left_running_is_ended_by_pid_and_start_time(make_daemon, sweeper):
    # run with `leave` (no parent-death signal), so the main process survives the kill -9;
    # the next start, with `stop`, ends it by its recorded pid and start time, with the rest
    d = make_daemon(env={"GANGLION_AGENTS_ORPHANS": "leave"})
    m = marker()
    sweeper.append(m)
    a = agent_with_descendants(d, m)
    wait_row_running(d, a["id"])
    d.kill()
    assert pid_alive(a["pid"])
    d.env["GANGLION_AGENTS_ORPHANS"] = "stop"
    d.start()
    wait_gone(m)
    b = get(d, a["id"])
    assert b["status"] == "lost"
    assert b["reason"].endswith("; 3 of its processes were still running and were ended at restart"), b["reason"]


def proc_state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def wait_state(pid, want, timeout=DEADLINE):
    end = time.time() + timeout
    while time.time() < end:
        s = proc_state(pid)
        if s in want:
            return s
        time.sleep(0.02)
    raise AssertionError(f"process {pid} is in state {proc_state(pid)}, wanted one of {want}")


def test_forced_pause_and_resume_reach_a_setsid_grandchild(daemon, sweeper):
    m = marker()
    sweeper.append(m)
    a = spawn(daemon, name="paused", argv=["sh", "-c", f"sh -c '{START_GRANDCHILD.format(m=m)}'; exec sleep 600"])
    g = grandchild_pid(daemon, a["id"])
    wait_status(daemon, a["id"], "running")
    r = daemon.post(f"/api/v1/agents/{a['id']}/pause", json={"force": True})
    assert r.status_code == 200 and r.json()["status"] == "paused", r.text
    wait_state(g, "T")
    assert daemon.post(f"/api/v1/agents/{a['id']}/resume", json={}).status_code == 200
    wait_state(g, "SR")
    daemon.post(f"/api/v1/agents/{a['id']}/kill", json={})
    wait_gone(m)
