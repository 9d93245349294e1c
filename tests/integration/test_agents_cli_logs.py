"""`ganglion agent` as a pm2 user drives it: spawn's output in a script and on a terminal,
`logs` (stderr marks, timestamps, ANSI colours, --tail 0, history from the log files, Ctrl-C),
`ls` (live agents unless --all, uptime/restarts/usage/command columns) and `prune`."""
import json
import os
import pty
import re
import signal
import subprocess
import time

from agents_util import AGENT, PY, SLOW, output, spawn, wait_output, wait_status

TIMEOUT = 20 * SLOW


def _env(d):
    env = {k: v for k, v in d.cli_env().items() if k not in ("GANGLION_URL", "GANGLION_DATA_DIR")}
    env.pop("NO_COLOR", None)
    return env


def _cli(d, *args, env=None):
    return subprocess.run([d.bin, "--url", d.url, *args], capture_output=True, text=True,
                          env=env or _env(d), timeout=TIMEOUT)


def _on_tty(d, *args):
    """Runs the CLI with stdout on a pseudo-terminal; returns (exit code, what it printed)."""
    master, slave = pty.openpty()
    env = _env(d)
    env["TERM"] = "xterm"
    p = subprocess.Popen([d.bin, "--url", d.url, *args], stdout=slave, stderr=subprocess.PIPE,
                         env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return p.wait(timeout=TIMEOUT), out.decode(errors="replace")


def test_spawn_prints_only_the_id_to_a_script_and_a_sentence_to_a_person(daemon):
    r = subprocess.run(["sh", "-c", f'ID=$("$BIN" --url {daemon.url} agent spawn s1 -- true) '
                                    '&& echo "[$ID]"'],
                       capture_output=True, text=True, timeout=TIMEOUT,
                       env={**_env(daemon), "BIN": daemon.bin})
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(r"\[([0-9a-f]+)\]\n", r.stdout)
    assert m, r.stdout
    assert daemon.get(f"/api/v1/agents/{m.group(1)}").json()["name"] == "s1"
    rc, out = _on_tty(daemon, "agent", "spawn", "s2", "--", "true")
    assert rc == 0 and re.search(r"spawned s2 \([0-9a-f]+\).*agent logs [0-9a-f]+ -f", out), out


def test_logs_mark_stderr_add_timestamps_and_handle_colours(daemon):
    a = spawn(daemon, name="mix", argv=["sh", "-c", "echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; "
                                                    "printf '\\033[32mgreen\\033[0m\\n'"])
    aid = a["id"]
    wait_status(daemon, aid, "completed")
    wait_output(daemon, aid, lambda o: o["total"] == 3)
    r = _cli(daemon, "agent", "logs", aid)
    assert r.returncode == 0, r.stderr
    # not a terminal: stderr lines marked "stderr| ", escape sequences stripped
    assert r.stdout.splitlines() == ["out1", "stderr| err1", "green"]
    r = _cli(daemon, "agent", "logs", aid, "--raw")
    assert r.stdout.splitlines() == ["out1", "err1", "green"]
    r = _cli(daemon, "agent", "logs", aid, "--color=always")
    assert "\033[32mgreen\033[0m" in r.stdout and "\033[31mstderr|\033[0m err1" in r.stdout
    r = _cli(daemon, "agent", "logs", aid, "--timestamps")
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    for line, text in zip(lines, ["out1", "stderr| err1", "green"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z " + re.escape(text), line)
    # on a terminal the program's colours come through
    rc, out = _on_tty(daemon, "agent", "logs", aid)
    assert rc == 0 and "\033[32mgreen" in out and "stderr|" in out, out


def test_logs_read_history_beyond_the_ring_from_the_files(make_daemon):
    d = make_daemon(args=("--set", "agents.output_buffer=64k"))
    a = spawn(d, "flood", 20000)
    wait_status(d, a["id"], "completed")
    assert output(d, a["id"], since=0, limit=1)["lines"][0]["seq"] == 1
    r = _cli(d, "agent", "logs", a["id"])
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and len(lines) == 20000, r.stderr
    assert lines[0].startswith("line 00000001 ") and lines[-1].startswith("line 00020000 ")
    r = _cli(d, "agent", "logs", a["id"], "--tail", "5000")
    lines = r.stdout.splitlines()
    assert len(lines) == 5000 and lines[0].startswith("line 00015001 ")


def test_tail_zero_follows_only_new_lines_and_ctrl_c_is_quiet(daemon):
    a = spawn(daemon, "interactive")
    aid = a["id"]
    wait_output(daemon, aid, lambda o: o["total"] >= 3)
    before = output(daemon, aid, tail=1)["lines"][-1]
    last_tick = int(before["text"].split()[1])
    logged = len(daemon.log_lines())
    f = subprocess.Popen([daemon.bin, "--url", daemon.url, "agent", "logs", aid, "--tail", "0",
                          "-f"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=_env(daemon))
    first = f.stdout.readline()  # blocks until the first new line comes
    assert first.startswith("tick ") and int(first.split()[1]) > last_tick, first
    f.send_signal(signal.SIGINT)
    out, err = f.communicate(timeout=TIMEOUT)
    assert f.returncode == 130 and err == "", err
    ticks = [int(l.split()[1]) for l in out.splitlines() if l.startswith("tick ")]
    assert all(t > last_tick for t in ticks)
    # without -f, --tail 0 prints nothing
    r = _cli(daemon, "agent", "logs", aid, "--tail", "0")
    assert r.returncode == 0 and r.stdout == ""
    # an SSE follower that goes away mid-stream, as curl -N does on Ctrl-C
    with daemon.http.get(daemon.url + f"/api/v1/agents/{aid}/logs", stream=True,
                         timeout=TIMEOUT) as r:
        assert r.status_code == 200
        assert any(l.startswith(b"event: ") for l in r.iter_lines())  # stops at the first
    assert daemon.request("POST", f"/api/v1/agents/{aid}/kill").status_code == 200
    # the followers' ends are nothing the daemon calls an error
    bad = [l for l in daemon.log_lines()[logged:] if l.get("level") in ("error", "warn")]
    assert bad == [], bad


def test_ls_shows_live_agents_unless_all_and_prune_forgets_ended_ones(make_daemon, store_kind,
                                                                       request):
    store = request.getfixturevalue("pg_url") if store_kind == "postgres" else None
    d = make_daemon(store=store, args=("--set", "agents.log_max_bytes=2k", "--set",
                                       "agents.log_backups=1"))
    done = spawn(d, "flood", 100, labels={"team": "a"})
    wait_status(d, done["id"], "completed")
    other = spawn(d, "flood", 10, labels={"team": "b"})
    wait_status(d, other["id"], "completed")
    live = spawn(d, name="sleeper", argv=["sleep", "30"])
    wait_status(d, live["id"], "running")
    r = _cli(d, "agent", "ls")
    assert r.returncode == 0, r.stderr
    header = r.stdout.splitlines()[0].split()
    assert header == ["ID", "NAME", "STATUS", "PID", "UPTIME", "RESTARTS", "CPU%", "RSS", "EXIT",
                      "COMMAND", "REASON"]
    assert live["id"] in r.stdout and done["id"] not in r.stdout
    row = next(l for l in r.stdout.splitlines() if l.startswith(live["id"]))
    assert "sleep 30" in row and re.search(r"\s\d+s\s", row), row  # uptime as 3s, 1m05s …
    r = _cli(d, "agent", "ls", "--all")
    assert done["id"] in r.stdout and other["id"] in r.stdout and live["id"] in r.stdout
    logs = d.data_dir / "logs"
    assert any(p.name.startswith(done["id"]) for p in logs.iterdir())
    # prune by label, then the rest; the live agent stays
    r = _cli(d, "agent", "prune", "--label", "team=a")
    assert r.returncode == 0 and r.stdout == "pruned 1 ended agent\n", (r.stdout, r.stderr)
    assert d.get(f"/api/v1/agents/{done['id']}").status_code == 404
    assert not any(p.name.startswith(done["id"]) for p in logs.iterdir())
    assert d.get(f"/api/v1/agents/{other['id']}").status_code == 200
    r = d.post("/api/v1/agents/prune", json={"older_than_s": 3600})
    assert r.status_code == 200 and r.json() == {"pruned": 0}
    r = _cli(d, "--json", "agent", "prune")
    assert r.returncode == 0 and json.loads(r.stdout) == {"pruned": 1}
    assert d.get(f"/api/v1/agents/{live['id']}").json()["status"] == "running"
    # the rows are gone from the store too: a restart does not bring them back
    d.request("POST", f"/api/v1/agents/{live['id']}/kill")
    d.restart()
    ids = {a["id"] for a in d.get("/api/v1/agents").json()["agents"]}
    assert done["id"] not in ids and other["id"] not in ids and live["id"] in ids


def test_reason_is_the_current_one_after_a_restart(daemon):
    a = spawn(daemon, name="flaky", argv=["sh", "-c", "sleep 0.3; exit 3"], restart="always",
              restart_max=10)
    end = time.time() + TIMEOUT
    while time.time() < end:
        x = daemon.get(f"/api/v1/agents/{a['id']}").json()
        if x["restarts"] >= 1 and x["status"] == "running":
            assert "restarting in" not in (x["reason"] or ""), x["reason"]
            return
        time.sleep(0.02)
    raise AssertionError("the agent was never seen running again after a restart")
