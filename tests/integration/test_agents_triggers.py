"""Resource usage of live agents (CPU %, RSS in the agent object and as agent.<id>.usage events)
and the restart triggers beyond exit: max_memory_restart, a cron schedule, and file changes under
watched paths — each restart keeping the agent's id, counting a restart and naming its cause."""
import json
import os
import time

from agents_util import PY, SLOW, get, spawn, wait_status
from conftest import assert_problem

FAST = ("--set", "agents.sample_ms=200")


def wait_for(pred, timeout=10, what="condition"):
    end = time.time() + timeout * SLOW
    last = None
    while time.time() < end:
        last = pred()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what} not met in time (last: {last})")


def sh(d, script, **spec):
    return spawn(d, None, name=spec.pop("name", "sh"), argv=["sh", "-c", script], **spec)


def restarted(d, aid, n):
    """The agent once it has restarted at least n times and runs again."""
    def check():
        a = get(d, aid)
        return a if a["restarts"] >= n and a["status"] == "running" else None
    return wait_for(check, what=f"restart {n} of {aid}")


# ---- usage ----

def test_usage_of_a_running_agent_and_its_events(make_daemon):
    import gsse
    d = make_daemon(args=FAST)
    c = gsse.SSEClient(d.url, "/api/v1/stream?topics=agent.*.usage")
    c.read_headers()
    assert c.next_event().is_comment
    # the tree counts: a shell whose child holds 64 MiB and spins
    a = sh(d, f"{PY} -c 'b = bytearray(64 << 20)\nwhile True: pass' & wait")
    assert a["usage"] is None  # nothing sampled yet
    u = wait_for(lambda: get(d, a["id"])["usage"], what="a usage sample")
    assert set(u) == {"cpu_percent", "rss_bytes", "sampled_at"}
    assert isinstance(u["cpu_percent"], float) and u["cpu_percent"] >= 0
    assert u["sampled_at"].endswith("Z")
    big = wait_for(lambda: (get(d, a["id"])["usage"] or {}).get("rss_bytes", 0) > 64 << 20,
                   what="the child's 64 MiB counted")
    assert big
    busy = wait_for(lambda: (get(d, a["id"])["usage"] or {}).get("cpu_percent", 0) > 20,
                    what="a spinning child's CPU counted")
    assert busy
    # the same figures arrive as events
    ev = None
    end = time.time() + 5 * SLOW
    while time.time() < end:
        e = c.next_event()
        if e and not e.is_comment and e.event == f"agent.{a['id']}.usage":
            ev = json.loads(e.data)
            break
    c.close()
    assert ev and ev["id"] == a["id"] and ev["rss_bytes"] > 0 and "cpu_percent" in ev
    assert ev["pid"] == get(d, a["id"])["pid"] and ev["sampled_at"]
    # an ended agent has none
    assert d.post(f"/api/v1/agents/{a['id']}/kill").status_code == 200
    assert wait_status(d, a["id"], "terminated")["usage"] is None


# ---- max_memory_restart ----

GROW = (f"{PY} -c \"import time\nb = []\nwhile True:\n"
        f"    b.append(bytearray(4 << 20))\n    time.sleep(0.05)\"")


def test_memory_over_max_memory_restart_restarts_the_agent(make_daemon):
    d = make_daemon(args=FAST)
    a = sh(d, f"exec {GROW}", max_memory_restart="48M", stop_grace_ms=500)
    b = restarted(d, a["id"], 1)
    assert b["id"] == a["id"] and b["pid"] != a["pid"]
    assert b["reason"].startswith("memory ") and b["reason"].endswith(
        "over max_memory_restart 48 MiB"), b["reason"]
    used = float(b["reason"].split()[1])
    assert used > 48
    # and again: the trigger stays armed across restarts
    restarted(d, a["id"], 2)
    # an agent under its threshold is left alone (bytes as an integer work too)
    c = sh(d, "sleep 30", max_memory_restart=256 << 20)
    wait_for(lambda: get(d, c["id"])["usage"], what="a sample")
    assert get(d, c["id"])["restarts"] == 0


def test_trigger_fields_are_validated(daemon, tmp_path):
    for bad in ("12X", "", "0", "5K", "2T", -1, 1.5, True):
        assert_problem(daemon.post("/api/v1/agents", json={
            "name": "x", "argv": ["true"], "max_memory_restart": bad}), 422,
            "/max_memory_restart")
    for expr, why in (("* * *", "fields"), ("61 * * * *", "minute: 61 is out of range"),
                      ("0 0 30 2 *", "never fires"), ("* * * * blursday", "day of week")):
        r = daemon.post("/api/v1/agents", json={"name": "x", "argv": ["true"], "cron": expr})
        assert_problem(r, 422, "/cron")
        assert why in r.text, r.text
    r = daemon.post("/api/v1/agents", json={"name": "x", "argv": ["true"],
                                            "watch": {"paths": [str(tmp_path / "nope")]}})
    assert_problem(r, 422, "/watch/paths/0")
    assert "No such file" in r.text
    assert_problem(daemon.post("/api/v1/agents", json={"name": "x", "argv": ["true"],
                                                        "watch": {"paths": []}}), 422)
    assert_problem(daemon.post("/api/v1/agents", json={
        "name": "x", "argv": ["true"], "watch": {"paths": ["."], "debounce_ms": -1}}), 422)
    assert daemon.get("/api/v1/agents").json()["total"] == 0
    for good in ("500M", "1G", "64MiB", "2048K", 1 << 20):
        r = daemon.post("/api/v1/agents", json={"name": f"x-{good}", "argv": ["true"],
                                                "max_memory_restart": good})
        assert r.status_code == 201, (good, r.text)


# ---- cron ----

def test_cron_schedule_with_seconds_restarts_the_agent(daemon):
    a = sh(daemon, "sleep 60", cron="*/2 * * * * *", stop_grace_ms=500)
    b = restarted(daemon, a["id"], 1)
    assert b["id"] == a["id"]
    assert b["reason"] == "cron schedule '*/2 * * * * *'"
    restarted(daemon, a["id"], 2)
    m = daemon.get("/metrics").text
    assert any(line.startswith('ganglion_agents_triggered_restarts_total{trigger="cron"} ')
               and float(line.split()[-1]) >= 2 for line in m.splitlines()), m[-2000:]
    # an ended agent is not started by its schedule
    assert daemon.post(f"/api/v1/agents/{a['id']}/stop").status_code == 200
    n = wait_status(daemon, a["id"], "terminated")["restarts"]
    c = sh(daemon, "sleep 60", cron="*/1 * * * * *")
    restarted(daemon, c["id"], 2)  # two more seconds have passed: the stopped one had its turns
    assert get(daemon, a["id"])["status"] == "terminated"
    assert get(daemon, a["id"])["restarts"] == n


def test_cron_trigger_survives_a_daemon_restart(make_daemon):
    d = make_daemon()
    a = sh(d, "sleep 60", cron="*/2 * * * * *", restart="always", stop_grace_ms=500)
    wait_status(d, a["id"], "running")
    d.stop()
    d.start()
    b = wait_status(d, a["id"], "running")  # brought back by its policy
    n = b["restarts"]
    c = wait_for(lambda: (lambda x: x if x["restarts"] > n and x["status"] == "running"
                          and x["reason"].startswith("cron") else None)(get(d, a["id"])),
                 what="a cron restart after the daemon restart")
    assert c["reason"] == "cron schedule '*/2 * * * * *'"


# ---- watch ----

def test_file_change_restarts_once_ignored_files_do_not(daemon, tmp_path):
    src = tmp_path / "src"
    (src / "cache").mkdir(parents=True)
    (src / "app.py").write_text("print(1)\n")
    a = sh(daemon, "sleep 60", cwd=str(tmp_path), stop_grace_ms=500,
           watch={"paths": ["src"], "ignore": ["*.pyc", "cache/**", "node_modules"],
                  "debounce_ms": 300})
    a = wait_status(daemon, a["id"], "running")
    # ignored changes first, then one real change in the same burst: the reason names the
    # first change that counts
    (src / "app.pyc").write_bytes(b"x")
    (src / "cache" / "x.bin").write_bytes(b"x")
    (src / "cache" / "deeper").mkdir()
    (src / "cache" / "deeper" / "y").write_bytes(b"y")
    (src / "app.py").write_text("print(2)\n")
    b = restarted(daemon, a["id"], 1)
    assert b["reason"] == "file changed: src/app.py", b["reason"]
    # a burst of changes restarts once
    for i in range(30):
        (src / f"f{i}.txt").write_text(str(i))
    c = restarted(daemon, a["id"], 2)
    assert c["reason"] == "files changed: src/f0.txt and 29 more", c["reason"]
    # the next restart is the next change's: had the burst restarted twice, a third restart
    # would name a file of the burst (or the count would be one ahead)
    (src / "marker").write_text("1")
    c = restarted(daemon, a["id"], 3)
    assert c["restarts"] == 3 and c["reason"] == "file changed: src/marker", c["reason"]
    # a directory made after the start is watched too (its creation is a change itself)
    (src / "pkg").mkdir()
    c = restarted(daemon, a["id"], 4)
    assert c["reason"] == "file changed: src/pkg", c["reason"]
    (src / "pkg" / "mod.py").write_text("x = 1\n")
    c = restarted(daemon, a["id"], 5)
    assert c["reason"] == "file changed: src/pkg/mod.py", c["reason"]
    # ignored changes in a new ignored directory are not counted either
    (src / "node_modules" / "x").mkdir(parents=True)
    (src / "node_modules" / "x" / "i.js").write_text("1")
    (src / "marker").write_text("2")
    c = restarted(daemon, a["id"], 6)
    assert c["restarts"] == 6 and c["reason"] == "file changed: src/marker", c["reason"]


def test_a_watched_file_replaced_by_rename_stays_watched(daemon, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("a = 1\n")
    a = sh(daemon, "sleep 60", cwd=str(tmp_path), stop_grace_ms=500,
           watch={"paths": ["config.toml"], "debounce_ms": 100})
    wait_status(daemon, a["id"], "running")
    for n in (1, 2):  # saved as editors do: a new file renamed over the old one, twice
        tmp = tmp_path / f".config.toml.{n}"
        tmp.write_text(f"a = {n + 1}\n")
        os.rename(tmp, cfg)
        b = restarted(daemon, a["id"], n)
        assert b["reason"] == "file changed: config.toml", b["reason"]


def test_watch_of_an_ended_agent_is_released(daemon, tmp_path):
    (tmp_path / "w").mkdir()
    a = sh(daemon, "exit 0", watch={"paths": [str(tmp_path / "w")], "debounce_ms": 50})
    wait_status(daemon, a["id"], "completed")
    b = get(daemon, a["id"])
    assert b["status"] == "completed" and b["restarts"] == 0
    # the inotify descriptor went with the agent: no inotify left open in the daemon
    fds = os.listdir(f"/proc/{daemon.proc.pid}/fd")
    links = [os.readlink(f"/proc/{daemon.proc.pid}/fd/{f}") for f in fds
             if os.path.exists(f"/proc/{daemon.proc.pid}/fd/{f}")]
    assert not any("inotify" in x for x in links), links


# ---- the CLI ----

def cli(d, *args):
    import subprocess
    env = d.cli_env({k: v for k, v in os.environ.items()
                     if k not in ("GANGLION_URL", "GANGLION_TOKEN", "GANGLION_DATA_DIR")})
    env["NO_COLOR"] = "1"
    return subprocess.run([d.bin, "--url", d.url, *args], capture_output=True, text=True,
                          timeout=30, env=env)


def spawned_id(r):
    import re
    assert r.returncode == 0, r.stderr
    m = re.search(r"\b[0-9a-f]{12}\b", r.stdout)
    assert m, r.stdout
    return m.group(0)


def test_spawn_options_from_the_cli(daemon, tmp_path):
    (tmp_path / "src").mkdir()
    aid = spawned_id(cli(daemon, "agent", "spawn", "dev", "--cwd", str(tmp_path),
                         "--watch", "src", "--watch-ignore", "*.pyc", "--watch-debounce", "100",
                         "--max-memory-restart", "1G", "--", "sleep", "60"))
    wait_status(daemon, aid, "running")
    (tmp_path / "src" / "a.pyc").write_text("x")
    (tmp_path / "src" / "a.py").write_text("x")
    assert restarted(daemon, aid, 1)["reason"] == "file changed: src/a.py"
    bid = spawned_id(cli(daemon, "agent", "spawn", "tick", "--cron", "*/1 * * * * *",
                         "--", "sleep", "60"))
    assert restarted(daemon, bid, 1)["reason"] == "cron schedule '*/1 * * * * *'"
    r = cli(daemon, "agent", "spawn", "bad", "--cron", "* * 32 * *", "--", "true")
    assert r.returncode == 1 and "day of month: 32 is out of range 1-31" in r.stderr, r.stderr
    r = cli(daemon, "agent", "spawn", "bad", "--max-memory-restart", "lots", "--", "true")
    assert r.returncode == 1 and "max_memory_restart" in r.stderr, r.stderr
    r = cli(daemon, "agent", "spawn", "bad", "--watch-debounce", "soon", "--", "true")
    assert r.returncode == 2 and "--watch-debounce" in r.stderr, r.stderr
