"""Program files: [program:NAME] sections in <data-dir>/programs.d/*.ini started with the
daemon, reused across daemon restarts, reloaded applying only what changed, and refused with
file:line when wrong."""
import os
import subprocess
import textwrap
import time

import pytest

from agents_util import PY, SLOW, get, pid_alive, wait_status

SLEEP = f'argv = ["{PY}", "-c", "import time; time.sleep(1000)"]'


def write(d, name, text):
    pd = d.data_dir / "programs.d"
    pd.mkdir(exist_ok=True)
    (pd / name).write_text(textwrap.dedent(text))


def cli(d, *args):
    env = d.cli_env({k: v for k, v in os.environ.items()
                     if k not in ("GANGLION_URL", "GANGLION_TOKEN", "GANGLION_DATA_DIR")})
    env["NO_COLOR"] = "1"
    return subprocess.run([d.bin, "--url", d.url, *args], capture_output=True, text=True,
                          timeout=30, env=env)


def programs(d):
    r = d.get("/api/v1/programs")
    assert r.status_code == 200, r.text
    return {p["name"]: p for p in r.json()["programs"]}, r.json()["errors"]


def agents_of(d, name):
    r = d.get("/api/v1/agents", params={"labels": f"program={name}"})
    assert r.status_code == 200, r.text
    return sorted(r.json()["agents"], key=lambda a: a["name"])


def wait_running(d, name, n):
    end = time.time() + 10 * SLOW
    while time.time() < end:
        live = [a for a in agents_of(d, name) if a["status"] == "running"]
        if len(live) == n:
            return live
        time.sleep(0.05)
    raise AssertionError(f"{name}: {agents_of(d, name)}")


def test_program_files_start_with_the_daemon(make_daemon):
    d = make_daemon(start=False)
    write(d, "a.ini", f"""\
        ; workers for team a
        [program:worker]
        {SLEEP}
        numprocs = 3
        labels = team=a
        env.GREETING = hello world
        environment = A=1, B="two"
        cwd = /tmp
        stop_grace_ms = 200

        [program:manual]
        command = sleep 1000
        autostart = false
        """)
    d.start()
    ws = wait_running(d, "worker", 3)
    assert [a["name"] for a in ws] == ["worker-0", "worker-1", "worker-2"]
    for i, a in enumerate(ws):
        assert a["labels"] == {"team": "a", "program": "worker"}
        assert a["cwd"] == "/tmp" and a["restart"] == "always"
        env = open(f"/proc/{a['pid']}/environ", "rb").read().split(b"\0")
        assert b"GREETING=hello world" in env and b"A=1" in env and b"B=two" in env
        assert b"PROGRAM_NAME=worker" in env and b"PROGRAM_INDEX=%d" % i in env
    assert agents_of(d, "manual") == []
    ps, errors = programs(d)
    assert errors == []
    assert ps["manual"]["autostart"] is False and ps["manual"]["argv"] == ["sleep", "1000"]
    assert ps["worker"]["file"].endswith("programs.d/a.ini") and ps["worker"]["line"] == 2
    r = cli(d, "program", "ls")
    assert r.returncode == 0, r.stderr
    assert "worker" in r.stdout and "manual" in r.stdout
    # start, restart and stop one program
    r = cli(d, "program", "start", "manual")
    assert r.returncode == 0, r.stderr
    m = wait_running(d, "manual", 1)[0]
    r = d.post("/api/v1/programs/manual/restart")
    assert r.status_code == 200, r.text
    assert [x["result"] for x in r.json()["agents"]] == ["restarted"]
    end = time.time() + 10 * SLOW
    while get(d, m["id"])["pid"] in (None, m["pid"]) and time.time() < end:
        time.sleep(0.05)
    assert get(d, m["id"])["restarts"] == 1
    r = cli(d, "program", "stop", "worker")
    assert r.returncode == 0, r.stderr
    for a in ws:
        wait_status(d, a["id"], "terminated")
    assert d.post("/api/v1/programs/nosuch/start").status_code == 404


def test_daemon_restart_reuses_the_programs_agents(make_daemon):
    d = make_daemon(start=False)
    write(d, "p.ini", f"""\
        [program:svc]
        {SLEEP}
        numprocs = 2
        [program:job]
        command = sh -c 'echo done'
        restart = never
        """)
    d.start()
    before = {a["name"]: a for a in wait_running(d, "svc", 2)}
    job = wait_status(d, agents_of(d, "job")[0]["id"], "completed")
    d.restart()
    after = {a["name"]: a for a in wait_running(d, "svc", 2)}
    assert {n: a["id"] for n, a in after.items()} == {n: a["id"] for n, a in before.items()}
    assert all(after[n]["pid"] != before[n]["pid"] for n in after)
    assert all(a["restarts"] == 1 for a in after.values())
    jobs = agents_of(d, "job")
    assert [a["id"] for a in jobs] == [job["id"]]  # started again, not duplicated
    assert wait_status(d, job["id"], "completed")["restarts"] == 1
    assert len(d.get("/api/v1/agents").json()["agents"]) == 3


def test_programs_removed_or_not_autostart_stay_down_after_a_daemon_restart(make_daemon):
    d = make_daemon(start=False)
    write(d, "p.ini", f"""\
        [program:gone]
        {SLEEP}
        [program:manual]
        {SLEEP}
        autostart = false
        """)
    d.start()
    gone = wait_running(d, "gone", 1)[0]
    assert d.post("/api/v1/programs/manual/start").status_code == 200
    manual = wait_running(d, "manual", 1)[0]
    assert d.stop() == 0
    write(d, "p.ini", f"""\
        [program:manual]
        {SLEEP}
        autostart = false
        """)
    d.start()
    for a in (gone, manual):
        b = get(d, a["id"])
        assert b["status"] == "terminated" and b["restarts"] == 0, b
        assert b["reason"].startswith("daemon shutting down"), b["reason"]
    assert set(programs(d)[0]) == {"manual"}


def test_reload_applies_only_what_changed(store_kind, request, make_daemon):
    store = request.getfixturevalue("pg_url") if store_kind == "postgres" else None
    d = make_daemon(store=store, start=False)
    write(d, "p.ini", f"""\
        [program:keep]
        {SLEEP}
        [program:change]
        {SLEEP}
        stop_grace_ms = 200
        [program:drop]
        {SLEEP}
        stop_grace_ms = 200
        [program:grow]
        {SLEEP}
        """)
    d.start()
    keep = wait_running(d, "keep", 1)[0]
    change = wait_running(d, "change", 1)[0]
    drop = wait_running(d, "drop", 1)[0]
    wait_running(d, "grow", 1)
    write(d, "p.ini", f"""\
        ; moved around and commented: still the same program
        [program:change]
        command = sleep 999
        stop_grace_ms = 200

        [program:keep]
        {SLEEP}

        [program:grow]
        {SLEEP}
        numprocs = 2

        [program:new]
        {SLEEP}
        """)
    r = d.post("/api/v1/programs/reload")
    assert r.status_code == 200, r.text
    actions = {p["program"]: p for p in r.json()["programs"]}
    assert {k: v["action"] for k, v in actions.items()} == {
        "keep": "unchanged", "change": "changed", "grow": "changed", "new": "added",
        "drop": "removed"}
    assert [x["result"] for x in actions["change"]["agents"]] == ["restarted"]
    assert [x["result"] for x in actions["drop"]["agents"]] == ["stopped"]
    # unchanged: the same process
    k = get(d, keep["id"])
    assert (k["status"], k["pid"], k["restarts"]) == ("running", keep["pid"], 0)
    # changed: same id, the new command line
    end = time.time() + 10 * SLOW
    while time.time() < end:
        c = get(d, change["id"])
        if c["status"] == "running" and c["pid"] != change["pid"]:
            break
        time.sleep(0.05)
    assert c["argv"] == ["sleep", "999"] and c["restarts"] == 1
    assert wait_status(d, drop["id"], "terminated")["restarts"] == 0
    assert not pid_alive(drop["pid"])
    # numprocs 1 -> 2: grow-0 and grow-1 run, the old single agent is stopped
    assert [a["name"] for a in wait_running(d, "grow", 2)] == ["grow-0", "grow-1"]
    wait_running(d, "new", 1)
    # a second reload with nothing changed touches nothing
    r = cli(d, "program", "reload")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("unchanged") == 4, r.stdout
    assert get(d, keep["id"])["pid"] == keep["pid"]
    # the new spec is the stored one: the next daemon starts the same agent with it
    d.restart()
    c = wait_status(d, change["id"], "running")
    assert c["argv"] == ["sleep", "999"] and c["restarts"] == 2


def test_bad_program_files_are_named_by_file_and_line(make_daemon):
    d = make_daemon(start=False)
    write(d, "good.ini", f"""\
        [program:fine]
        {SLEEP}
        """)
    write(d, "bad.ini", """\
        [program:broken]
        command = sleep 'unterminated
        numprocs = 1000
        """)
    (d.data_dir / "programs.d" / "garbage.ini").write_bytes(b"\x00\x01binary\n")
    d.start()  # the daemon starts anyway
    wait_running(d, "fine", 1)
    assert agents_of(d, "broken") == []
    ps, errors = programs(d)
    assert set(ps) == {"fine"}
    bad = str(d.data_dir / "programs.d" / "bad.ini")
    assert f"{bad}:2: command: unterminated ' quote" in errors
    assert f"{bad}:3: numprocs: an integer from 1 to 64 expected" in errors
    assert any("garbage.ini: binary data" in e for e in errors)
    logged = [l for l in d.log_lines() if l.get("msg", "").startswith("agents: program file error")]
    assert any(l["error"].startswith(f"{bad}:2:") for l in logged)
    # a reload with an error changes nothing and says where
    write(d, "good.ini", """\
        [program:fine]
        command = sleep 5
        colour = blue
        """)
    r = d.post("/api/v1/programs/reload")
    assert r.status_code == 422, r.text
    good = str(d.data_dir / "programs.d" / "good.ini")
    assert {"in": "file", "field": f"{good}:3",
            "message": 'unknown key "colour" in [program:fine]'} in r.json()["errors"]
    assert "nothing was changed" in r.json()["detail"]
    r = cli(d, "program", "reload")
    assert r.returncode == 1
    assert f'{good}:3: unknown key "colour"' in r.stderr and "bad.ini:2: command" in r.stderr
    assert agents_of(d, "fine")[0]["argv"][0] == PY


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs a root daemon")
def test_program_runs_as_its_user(make_daemon):
    d = make_daemon(start=False)
    write(d, "u.ini", f"""\
        [program:asnobody]
        {SLEEP}
        user = nobody
        cwd = /
        """)
    d.start()
    a = wait_running(d, "asnobody", 1)[0]
    uid = [l for l in open(f"/proc/{a['pid']}/status") if l.startswith("Uid:")][0].split()[1]
    assert int(uid) == 65534


def test_program_restart_triggers_and_log_settings(make_daemon, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    d = make_daemon(start=False)
    write(d, "dev.ini", f"""\
        [program:dev]
        {SLEEP}
        cwd = {tmp_path}
        watch = src
        watch_ignore = *.pyc
        watch_debounce_ms = 100
        max_memory_restart = 512M
        log_backups = 2

        [program:tick]
        {SLEEP}
        cron = */1 * * * * *
        """)
    write(d, "bad.ini", """\
        [program:wrong]
        command = sleep 5
        cron = 61 * * * *
        """)
    d.start()
    dev = wait_running(d, "dev", 1)[0]
    spec = d.get(f"/api/v1/agents/{dev['id']}").json()
    assert spec["restarts"] == 0
    # a cron program restarts on its schedule
    tick = wait_running(d, "tick", 1)[0]
    end = time.time() + 10 * SLOW
    while time.time() < end and get(d, tick["id"])["restarts"] == 0:
        time.sleep(0.05)
    assert get(d, tick["id"])["restarts"] >= 1
    assert get(d, tick["id"])["reason"].startswith("cron schedule")
    # a watched file change restarts the dev program, an ignored one does not
    (src / "x.pyc").write_text("1")
    (src / "app.py").write_text("print(1)")
    end = time.time() + 10 * SLOW
    while time.time() < end and get(d, dev["id"])["restarts"] == 0:
        time.sleep(0.05)
    a = get(d, dev["id"])
    assert a["restarts"] == 1 and a["reason"] == "file changed: src/app.py", a
    # a wrong trigger is an error at its line
    _, errors = programs(d)
    bad = str(d.data_dir / "programs.d" / "bad.ini")
    assert any(e.startswith(f"{bad}:3: cron:") for e in errors), errors
