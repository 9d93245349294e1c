"""`ganglion task submit|ls|show|cancel|wait` against a real daemon with a real stdin worker."""

import json
import os
import subprocess

from agents_util import PY, ROOT, spawn, wait_status

WORKER = str(ROOT / "examples" / "tasks" / "stdin_worker.py")


def run(d, *args, timeout=30):
    env = d.cli_env()
    env["GANGLION_URL"] = d.url
    env.pop("NO_COLOR", None)
    return subprocess.run([os.environ.get("GANGLION_BIN", str(ROOT / "build" / "ganglion")),
                           *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_task_cli(daemon):
    d = daemon
    # queued before any worker: submit prints the id, show and ls see it waiting
    r = run(d, "task", "submit", "echo", "--capability", "echo", "--input", '{"n": 7}',
            "--label", "team=a", "--priority", "3")
    assert r.returncode == 0, r.stderr
    tid = r.stdout.strip()
    assert tid.startswith("t-")
    shown = json.loads(run(d, "task", "show", tid).stdout)
    assert shown["state"] == "queued" and shown["labels"] == {"team": "a"} and shown["priority"] == 3
    ls = run(d, "task", "ls", "--state", "queued")
    assert ls.returncode == 0 and tid in ls.stdout and "STATE" in ls.stdout
    a = spawn(d, name="cli-w", argv=[PY, WORKER], capabilities=["echo", "sleep", "tasks:1"])
    wait_status(d, a["id"], ("running",))
    w = run(d, "task", "wait", tid, "--timeout-s", "10")
    assert w.returncode == 0, w.stderr
    assert "succeeded" in w.stdout and '{"n": 7}' in w.stdout.replace('{"n":7}', '{"n": 7}')
    # --wait exits 1 when the task fails
    f = run(d, "--json", "task", "submit", "fail", "--capability", "echo", "--wait", "--wait-s", "10")
    assert f.returncode == 1 and json.loads(f.stdout)["state"] == "failed"
    # cancel: the task ends as cancelled; a second cancel is a 409 (exit 1)
    s = run(d, "task", "submit", "sleep", "--agent", "cli-w", "--input", '{"ms": 20000}')
    sid = s.stdout.strip()
    c = run(d, "task", "cancel", sid)
    assert c.returncode == 0 and "cancelled" in c.stdout
    again = run(d, "task", "cancel", sid)
    assert again.returncode == 1 and "409" in again.stderr
    assert run(d, "task", "submit", "x", "--input", "{bad").returncode == 2
    assert run(d, "task", "show", "nope").returncode == 2
