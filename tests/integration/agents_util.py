"""Helpers for the agents tests: spawning the test agent (tests/agents/agent.py) and waiting
for states, with timeouts that stretch under the sanitizers."""
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGENT = str(ROOT / "tests" / "agents" / "agent.py")
SLOW = 3 if os.environ.get("GANGLION_SANITIZED") == "1" else 1
PY = sys.executable or "/usr/bin/python3"


_SPAWNED = [0]


def spawn(d, mode=None, *args, expect=201, **spec):
    """Spawns the test agent in a mode (or the spec's own argv). Without a name, a fresh one
    (MODE-N); names may repeat among running agents unless allow_duplicate_name=False is passed
    (the tests of names as handles post their spawns themselves)."""
    _SPAWNED[0] += 1
    body = {"name": spec.pop("name", f"{mode or 'agent'}-{_SPAWNED[0]}"),
            "allow_duplicate_name": spec.pop("allow_duplicate_name", True)}
    if mode is not None:
        body["argv"] = [PY, AGENT, mode, *map(str, args)]
    body.update(spec)
    r = d.post("/api/v1/agents", json=body)
    assert r.status_code == expect, r.text
    return r.json()


def get(d, aid):
    r = d.get(f"/api/v1/agents/{aid}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_status(d, aid, statuses, timeout=10):
    if isinstance(statuses, str):
        statuses = (statuses,)
    end = time.time() + timeout * SLOW
    a = None
    while time.time() < end:
        a = get(d, aid)
        if a["status"] in statuses:
            return a
        time.sleep(0.05)
    raise AssertionError(f"agent {aid} is {a and a['status']} ({a and a['reason']}), wanted {statuses}")


def output(d, aid, **q):
    r = d.get(f"/api/v1/agents/{aid}/output", params=q)
    assert r.status_code == 200, r.text
    return r.json()


def wait_output(d, aid, pred, timeout=10, **q):
    end = time.time() + timeout * SLOW
    o = None
    while time.time() < end:
        o = output(d, aid, **q)
        if pred(o):
            return o
        time.sleep(0.05)
    raise AssertionError(f"output condition not met: {o}")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie waiting for its parent counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        # the process was reaped between the two checks (reading /proc/PID/stat of a
        # vanishing process fails with ESRCH)
        return False
