"""Tasks through stdin workers: real agents (examples/tasks/stdin_worker.py) started by the
daemon with the capability tasks:N take tasks as stdin lines and answer on stdout; routing by
capability and by agent, least-loaded first, waiting for a worker, retry when one dies."""

import os
import signal
import time

from agents_util import PY, ROOT, spawn, wait_status

WORKER = str(ROOT / "examples" / "tasks" / "stdin_worker.py")


def until(pred, timeout=10.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def worker(d, name, *caps, slots=1):
    a = spawn(d, name=name, argv=[PY, WORKER],
              capabilities=[*caps, f"tasks:{slots}"])
    wait_status(d, a["id"], ("running",))
    return a


def submit(d, **body):
    body.setdefault("type", "echo")
    r = d.post("/api/v1/tasks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def task(d, tid):
    return d.get(f"/api/v1/tasks/{tid}").json()


def wait_done(d, tid, timeout=10):
    r = d.get(f"/api/v1/tasks/{tid}/wait", params={"timeout_ms": int(timeout * 1000)},
              timeout=timeout + 5)
    assert r.status_code == 200, r.text
    return r.json()


def test_stdin_worker_end_to_end(store_daemon):
    d = store_daemon
    w = worker(d, "w-e2e", "echo")
    t = submit(d, capability="echo", input={"q": "hi"})
    fin = wait_done(d, t["id"])
    assert fin["state"] == "succeeded" and fin["output"] == {"q": "hi"}
    assert fin["worker"] == w["id"] and fin["via"] == "stdin"
    s = submit(d, type="sleep", capability="echo", input={"ms": 300})
    fin = wait_done(d, s["id"])
    assert fin["state"] == "succeeded" and fin["progress"]["step"] >= 1
    f = submit(d, type="fail", capability="echo")
    fin = wait_done(d, f["id"])
    assert fin["state"] == "failed" and fin["error"] == "asked to fail"


def test_routing_by_agent_name_and_least_loaded(daemon):
    d = daemon
    a = worker(d, "w-a", "sleep", slots=2)
    b = worker(d, "w-b", "sleep", slots=2)
    long = [submit(d, type="sleep", capability="sleep", input={"ms": 3000}) for _ in range(2)]
    until(lambda: all(task(d, t["id"])["state"] in ("assigned", "running") for t in long),
          what="both assigned")
    # least-loaded first: one each, not both on the first worker
    assert {task(d, t["id"])["worker"] for t in long} == {a["id"], b["id"]}
    named = submit(d, type="echo", agent="w-b", input=1)
    assert wait_done(d, named["id"])["worker"] == b["id"]
    for t in long:
        d.post(f"/api/v1/tasks/{t['id']}/cancel")


def test_task_waits_until_a_worker_appears(daemon):
    d = daemon
    t = submit(d, capability="rare", input=5)
    time.sleep(0.2)  # nobody can take it yet (not an assertion by itself)
    assert task(d, t["id"])["state"] == "queued"
    worker(d, "w-rare", "rare")
    assert wait_done(d, t["id"])["output"] == 5


def test_priority_order_with_one_slot(daemon):
    d = daemon
    blocker = submit(d, type="sleep", capability="p", input={"ms": 400})
    worker(d, "w-p", "p")
    until(lambda: task(d, blocker["id"])["state"] in ("assigned", "running"), what="blocker")
    lo = submit(d, capability="p", priority=1, input="lo")
    hi = submit(d, capability="p", priority=8, input="hi")
    a, b = wait_done(d, lo["id"]), wait_done(d, hi["id"])
    assert a["state"] == b["state"] == "succeeded"
    assert b["seq"] > a["seq"]
    # the higher priority went first though submitted later: it was handed out at the first
    # free slot, the lower one only after it (one slot, so its lease number is higher)
    assert b["lease"] < a["lease"], (a, b)


def test_dead_agent_task_is_retried_elsewhere_then_fails(daemon):
    d = daemon
    w1 = worker(d, "w-die", "d")
    t = submit(d, type="sleep", capability="d", input={"ms": 20000}, max_attempts=2)
    until(lambda: task(d, t["id"])["state"] == "running", what="running")
    os.kill(w1["pid"], signal.SIGKILL)
    until(lambda: task(d, t["id"])["state"] == "queued", what="requeued")
    w2 = worker(d, "w-next", "d")
    until(lambda: task(d, t["id"])["worker"] == w2["id"], what="retried on w2")
    assert task(d, t["id"])["attempts"] == 2
    # w2 dies too: max_attempts is exhausted
    os.kill(w2["pid"], signal.SIGKILL)
    fin = wait_done(d, t["id"])
    assert fin["state"] == "failed" and "agent ended" in fin["error"]


def test_cancel_reaches_a_stdin_worker(daemon):
    d = daemon
    w = worker(d, "w-c", "c")
    t = submit(d, type="sleep", capability="c", input={"ms": 20000})
    until(lambda: task(d, t["id"])["state"] == "running", what="running")
    assert d.post(f"/api/v1/tasks/{t['id']}/cancel").json()["state"] == "cancelled"

    def saw_cancel():
        r = d.get(f"/api/v1/agents/{w['id']}/output", params={"stream": "stderr"}).json()
        return any(f"cancelled {t['id']}" in (l.get("line") or l.get("text") or "")
                   for l in r.get("lines", []))
    until(saw_cancel, what="the worker saw the cancel line")
    # its slot is free again
    e = submit(d, capability="c", input=2)
    assert wait_done(d, e["id"])["output"] == 2
