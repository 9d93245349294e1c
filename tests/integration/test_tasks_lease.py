"""Tasks through the leasing protocol: a real worker (examples/tasks/lease_worker.py) with an
agent-role key takes tasks over the API; leases lapse, results come once, sizes are bounded, and
every transition survives a restart (SQLite and PostgreSQL)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auth_util import bearer, make_key
from conftest import assert_problem, bare_http

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "examples" / "tasks" / "lease_worker.py"


def until(pred, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def agent_session(d):
    k = make_key(d, name="worker", role="agent")
    s = bare_http()
    s.headers.update(bearer(k["secret"]))
    return s, k["secret"]


def submit(d, **body):
    body.setdefault("type", "echo")
    r = d.post("/api/v1/tasks", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def lease(d, s, **body):
    r = s.post(d.url + "/api/v1/tasks/lease", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["tasks"]


def task(d, tid):
    r = d.get(f"/api/v1/tasks/{tid}")
    assert r.status_code == 200, r.text
    return r.json()


def start_worker(d, secret, *args):
    env = dict(os.environ, GANGLION_URL=d.url, GANGLION_API_KEY=secret)
    return subprocess.Popen([sys.executable, str(WORKER), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_leasing_worker_end_to_end(store_daemon):
    d = store_daemon
    _, secret = agent_session(d)
    w = start_worker(d, secret, "--capability", "echo", "--capability", "sleep")
    try:
        t = submit(d, type="echo", capability="echo", input={"hello": [1, 2]}, labels={"team": "a"})
        assert t["state"] == "queued" and t["id"].startswith("t-")
        r = d.get(f"/api/v1/tasks/{t['id']}/wait", params={"timeout_ms": 10000}, timeout=20)
        assert r.status_code == 200
        done = r.json()
        assert done["state"] == "succeeded" and done["output"] == {"hello": [1, 2]}
        assert done["attempts"] == 1
        s2 = submit(d, type="sleep", capability="sleep", input={"ms": 300})
        fin = d.get(f"/api/v1/tasks/{s2['id']}/wait", params={"timeout_ms": 10000}, timeout=20).json()
        assert fin["state"] == "succeeded" and fin["progress"]["step"] >= 1
    finally:
        w.kill()
        w.wait()
    # every transition was committed: a restart still knows both results
    d.restart()
    assert task(d, t["id"])["output"] == {"hello": [1, 2]}
    lst = d.get("/api/v1/tasks", params={"state": "succeeded"}).json()
    assert [x["id"] for x in lst["tasks"]] == [t["id"], s2["id"]]


def test_batching_worker_completes_what_it_leased_in_one_request_per_lease(daemon):
    d = daemon
    _, secret = agent_session(d)
    ids = [submit(d, type="echo", capability="echo", input={"n": i})["id"] for i in range(25)]
    ids.append(submit(d, type="fail", capability="echo")["id"])
    w = start_worker(d, secret, "--capability", "echo", "--batch", "10")
    try:
        until(lambda: all(task(d, i)["state"] in ("succeeded", "failed") for i in ids),
              what="every task finished")
    finally:
        w.kill()
        out = w.communicate()[0]
    assert [task(d, i)["output"] for i in ids[:25]] == [{"n": i} for i in range(25)]
    # a failed task's result carries no output (null), only its error
    failed = task(d, ids[25])
    assert failed["state"] == "failed" and failed["output"] is None
    assert failed["error"] == "asked to fail"
    assert out.count(" result 200") == 26, out
    # the results went in batches: fewer result requests than tasks in the audit log
    audit = d.get("/api/v1/audit", params={"action": "POST /api/v1/tasks/results"}).json()
    assert 3 <= len(audit["entries"]) < 26


def test_priority_then_fifo_and_capability_routing(daemon):
    d = daemon
    s, _ = agent_session(d)
    low1 = submit(d, priority=1, capability="c")
    high = submit(d, priority=7, capability="c")
    low2 = submit(d, priority=1, capability="c")
    other = submit(d, priority=9, capability="other")
    mine = submit(d, priority=0, agent="w1")
    got = lease(d, s, capabilities=["c"], max=10)
    assert [x["id"] for x in got] == [high["id"], low1["id"], low2["id"]]
    assert all(x["state"] == "assigned" for x in got)
    # a task addressed to an agent goes only to that agent
    assert lease(d, s, capabilities=["c"], agent="w2", max=10) == []
    got = lease(d, s, capabilities=["other"], agent="w1", max=10)
    assert [x["id"] for x in got] == [other["id"], mine["id"]]
    assert task(d, mine["id"])["worker"] == "w1"


def test_lease_over_several_capabilities_keeps_priority_and_submission_order(daemon):
    d = daemon
    s, _ = agent_session(d)
    a = submit(d, priority=1, capability="x")
    b = submit(d, priority=1, capability="y")
    c = submit(d, priority=1)  # for anyone
    hi = submit(d, priority=5, capability="y")
    e = submit(d, priority=1, capability="x")
    submit(d, priority=9, capability="z")  # nobody here serves z
    got = lease(d, s, capabilities=["x", "y"], max=3)
    assert [t["id"] for t in got] == [hi["id"], a["id"], b["id"]]
    got = lease(d, s, capabilities=["y", "x"], max=10)
    assert [t["id"] for t in got] == [c["id"], e["id"]]
    assert lease(d, s, capabilities=["x", "y"], max=10) == []


def test_lease_waits_until_work_arrives(daemon):
    d = daemon
    s, _ = agent_session(d)
    import threading
    out = {}
    th = threading.Thread(target=lambda: out.update(
        tasks=lease(d, s, capabilities=["late"], wait_ms=10000)))
    th.start()
    time.sleep(0.2)  # the lease is parked before the task exists (not an assertion)
    t0 = time.monotonic()
    t = submit(d, capability="late")
    th.join(15)
    assert [x["id"] for x in out["tasks"]] == [t["id"]]
    assert time.monotonic() - t0 < 2
    # nothing for it: an empty list once wait_ms is over
    t0 = time.monotonic()
    assert lease(d, s, capabilities=["none"], wait_ms=300) == []
    assert time.monotonic() - t0 >= 0.25


def test_lapsed_lease_retries_then_late_result_is_409(daemon):
    d = daemon
    s, _ = agent_session(d)
    t = submit(d, capability="x", max_attempts=3)
    first = lease(d, s, capabilities=["x"], lease_ms=100)[0]
    # the worker goes silent: the task returns to the queue (with a backoff) and goes elsewhere
    second = until(lambda: lease(d, s, capabilities=["x"], lease_ms=5000), what="re-lease")[0]
    assert second["id"] == t["id"] and second["attempts"] == 2 and second["lease"] != first["lease"]
    late = s.post(f"{d.url}/api/v1/tasks/{t['id']}/result",
                  json={"lease": first["lease"], "ok": True, "output": 1}, timeout=10)
    assert_problem(late, 409)
    ok = s.post(f"{d.url}/api/v1/tasks/{t['id']}/result",
                json={"lease": second["lease"], "ok": True, "output": 2}, timeout=10)
    assert ok.status_code == 200 and ok.json()["state"] == "succeeded"
    again = s.post(f"{d.url}/api/v1/tasks/{t['id']}/result",
                   json={"lease": second["lease"], "ok": True, "output": 3}, timeout=10)
    assert_problem(again, 409)
    assert task(d, t["id"])["output"] == 2


def test_max_attempts_exhausted_fails(daemon):
    d = daemon
    s, _ = agent_session(d)
    t = submit(d, capability="y", max_attempts=1)
    lease(d, s, capabilities=["y"], lease_ms=50)
    fin = until(lambda: (lambda x: x if x["state"] == "failed" else None)(task(d, t["id"])),
                what="failed")
    assert fin["attempts"] == 1 and "lapsed" in fin["error"]
    audit = d.get("/api/v1/audit", params={"principal": "system"}).json()
    assert any(t["id"] in (e.get("target") or "") for e in audit["entries"]), audit


def test_deadline_expires_a_task(daemon):
    d = daemon
    t = submit(d, capability="nobody", timeout_ms=150)
    fin = d.get(f"/api/v1/tasks/{t['id']}/wait", params={"timeout_ms": 5000}, timeout=10).json()
    assert fin["state"] == "expired"


def test_cancel_reaches_a_leasing_worker(daemon):
    d = daemon
    _, secret = agent_session(d)
    w = start_worker(d, secret, "--capability", "sleep", "--once")
    try:
        t = submit(d, type="sleep", capability="sleep", input={"ms": 20000})
        until(lambda: task(d, t["id"])["state"] == "running", what="running")
        r = d.post(f"/api/v1/tasks/{t['id']}/cancel")
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        out, _ = w.communicate(timeout=10)  # its next heartbeat is refused: it stops the work
        assert f"task {t['id']} lost its lease" in out
    finally:
        w.kill()
    assert task(d, t["id"])["state"] == "cancelled"
    assert_problem(d.post(f"/api/v1/tasks/{t['id']}/cancel"), 409)


def test_idempotency_key_dedups(store_daemon):
    d = store_daemon
    a = d.post("/api/v1/tasks", json={"type": "echo", "idempotency_key": "k-1"})
    b = d.post("/api/v1/tasks", json={"type": "echo", "idempotency_key": "k-1"})
    assert a.status_code == 201 and b.status_code == 200 and a.json()["id"] == b.json()["id"]
    d.restart()
    c = d.post("/api/v1/tasks", json={"type": "echo", "idempotency_key": "k-1"})
    assert c.status_code == 200 and c.json()["id"] == a.json()["id"]


def test_sizes_are_bounded(daemon):
    d = daemon
    s, _ = agent_session(d)
    assert_problem(d.post("/api/v1/tasks", json={"type": "x", "input": "a" * 70000}), 413)
    t = submit(d, capability="z")
    got = lease(d, s, capabilities=["z"])[0]
    big = s.post(f"{d.url}/api/v1/tasks/{t['id']}/result",
                 json={"lease": got["lease"], "ok": True, "output": "b" * 300000}, timeout=10)
    assert_problem(big, 413)
    assert task(d, t["id"])["state"] == "assigned"
    assert_problem(d.post("/api/v1/tasks", json={"type": "x", "agent": "a", "capability": "c"}),
                   422)


def test_roles_and_events(daemon):
    d = daemon
    assert d.post("/api/v1/teams", json={"name": "ops"}).status_code == 201
    viewer = make_key(d, name="v", role="viewer", team="ops")
    s = bare_http()
    r = s.post(d.url + "/api/v1/tasks", json={"type": "x"}, headers=bearer(viewer["secret"]))
    assert_problem(r, 403)
    # a viewer reads what its team shares, and nothing else of another's (docs/security.md)
    hidden = submit(d)
    r = s.get(f"{d.url}/api/v1/tasks/{hidden['id']}", headers=bearer(viewer["secret"]), timeout=10)
    assert r.status_code == 404
    d.post(f"/api/v1/tasks/{hidden['id']}/cancel")
    t = submit(d, team="ops")
    r = s.get(f"{d.url}/api/v1/tasks/{t['id']}", headers=bearer(viewer["secret"]), timeout=10)
    assert r.status_code == 200
    lst = d.get("/api/v1/tasks", params={"limit": 1, "after": hidden["seq"]}).json()
    assert lst["has_more"] is False and lst["tasks"][0]["id"] == t["id"]
