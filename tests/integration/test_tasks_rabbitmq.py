"""Tasks between hubs over RabbitMQ: two real daemons on one PostgreSQL, connected to a real
rabbitmq-server (one throwaway node per module, tests/harness/rabbitmq-start). A task submitted to
hub A runs once on a worker of hub B, the only hub with the capability, and A shows its result;
hub and broker restarts lose nothing that was acknowledged; repeated offers do not run a task
twice."""

import os
import subprocess
import sys
import time
from datetime import datetime
import uuid
from pathlib import Path

import pytest

from auth_util import make_key

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "harness"
WORKER = ROOT / "examples" / "tasks" / "lease_worker.py"
SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


class Broker:
    def __init__(self):
        self.url = self.dir = None
        self.port = None

    def start(self, port=None, keep_dir=None):
        args = [str(HARNESS / "rabbitmq-start")]
        if port:
            args += [str(port), keep_dir]
        p = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-3000:]
        vals = dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)
        self.url = vals["GANGLION_TEST_AMQP_URL"]
        self.dir = vals["GANGLION_TEST_AMQP_DIR"]
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def stop(self, keep=False):
        args = [str(HARNESS / "rabbitmq-stop")] + (["--keep"] if keep else []) + [self.dir]
        subprocess.run(args, capture_output=True, timeout=60)

    def restart(self):
        self.stop(keep=True)
        self.start(self.port, self.dir)


@pytest.fixture(scope="module")
def broker():
    b = Broker()
    if os.environ.get("GANGLION_TEST_AMQP_URL") and os.environ.get("GANGLION_TEST_AMQP_DIR"):
        # a node from tests/harness/with-rabbitmq (or rabbitmq-start), shared with the caller
        b.url, b.dir = os.environ["GANGLION_TEST_AMQP_URL"], os.environ["GANGLION_TEST_AMQP_DIR"]
        b.port = int(b.url.rsplit(":", 1)[1].split("/")[0])
        yield b
        return
    if not SERVER.exists():
        pytest.skip("rabbitmq-server is not installed")
    b.start()
    yield b
    b.stop()


def until(pred, timeout=20.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def hub(make_daemon, pg_url, broker, name, first=None, **extra):
    """A hub on the shared store. The keys are shared, and made by the first hub only: the others
    get its admin token and its key secrets in their data dir, as a deployment would."""
    args = ["--set", f"rabbitmq.url={broker.url}", "--set", f"rabbitmq.hub={name}",
            "--set", "rabbitmq.forward_ms=100", "--set", "rabbitmq.poll_ms=50"]
    for k, v in extra.items():
        args += ["--set", f"rabbitmq.{k}={v}"]
    d = make_daemon(store=pg_url, args=args, name=name, start=False)
    if first is not None:
        for f in ("admin.token", "auth_secret.key", "auth_signing.key"):
            (d.data_dir / f).write_bytes((first.data_dir / f).read_bytes())
    d.start()
    until(lambda: metric(d, "ganglion_rabbitmq_connected") == 1, what=f"hub {name} connected")
    return d


def metric(d, name):
    r = d.get("/metrics")
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def submit(d, **body):
    body.setdefault("type", "echo")
    r = d.post("/api/v1/tasks", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def task(d, tid):
    r = d.get(f"/api/v1/tasks/{tid}")
    assert r.status_code == 200, r.text
    return r.json()


class Worker:
    """examples/tasks/lease_worker.py against one hub."""

    def __init__(self, d, *caps):
        secret = make_key(d, name="worker-" + uuid.uuid4().hex[:8], role="agent")["secret"]
        env = dict(os.environ, GANGLION_URL=d.url, GANGLION_API_KEY=secret)
        args = [a for c in caps for a in ("--capability", c)]
        self.proc = subprocess.Popen([sys.executable, str(WORKER), *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self):
        self.proc.kill()
        out, _ = self.proc.communicate(timeout=10)
        return out


@pytest.fixture
def two_hubs(make_daemon, pg_url, broker):
    a = hub(make_daemon, pg_url, broker, "a")
    b = hub(make_daemon, pg_url, broker, "b", first=a)
    return a, b


def test_a_task_submitted_to_a_runs_once_on_b(two_hubs):
    a, b = two_hubs
    w = Worker(b, "gpu")
    try:
        tasks = [submit(a, capability="gpu", input={"n": i}) for i in range(5)]
        for t in tasks:
            r = a.get(f"/api/v1/tasks/{t['id']}/wait", params={"timeout_ms": 20000}, timeout=30)
            assert r.status_code == 200, r.text
            done = r.json()
            assert done["state"] == "succeeded", done
            assert done["output"] == t["input"]
            assert done["hub"] == "b" and done["origin"] == "a"
            assert done["attempts"] == 1
            # the hub that ran it has the same result, committed in the shared store
            on_b = task(b, t["id"])
            assert on_b["state"] == "succeeded" and on_b["output"] == t["input"]
    finally:
        w.stop()
    assert metric(a, "ganglion_rabbitmq_offered_total") >= 5
    assert metric(b, "ganglion_rabbitmq_taken_total") == 5
    assert metric(a, "ganglion_rabbitmq_confirmed_total") >= 5
    # a task for a capability of A's own stays on A (no hop through the broker)
    wa = Worker(a, "cpu")
    try:
        t = submit(a, capability="cpu", input="local")
        done = a.get(f"/api/v1/tasks/{t['id']}/wait", params={"timeout_ms": 20000}, timeout=30).json()
        assert done["state"] == "succeeded" and done["hub"] == "a"
    finally:
        wa.stop()


def test_hub_restart_and_repeated_offers_run_a_task_once(two_hubs):
    a, b = two_hubs
    t = submit(a, capability="gpu", input={"once": True})
    # offered (no worker anywhere yet), then A restarts: it offers the task a second time
    until(lambda: metric(a, "ganglion_rabbitmq_confirmed_total") >= 1, what="offer confirmed")
    a.restart()
    until(lambda: metric(a, "ganglion_rabbitmq_connected") == 1, what="A reconnected")
    until(lambda: metric(a, "ganglion_rabbitmq_confirmed_total") >= 1, what="second offer")
    w = Worker(b, "gpu")
    try:
        done = a.get(f"/api/v1/tasks/{t['id']}/wait", params={"timeout_ms": 20000}, timeout=30).json()
        assert done["state"] == "succeeded" and done["attempts"] == 1 and done["hub"] == "b"
        # the second offer was taken off the queue and dropped: the task ran once
        until(lambda: metric(b, "ganglion_rabbitmq_duplicates_total") >= 1, what="duplicate dropped")
        assert metric(b, "ganglion_rabbitmq_taken_total") == 1
        assert task(b, t["id"])["attempts"] == 1
    finally:
        w.stop()


def test_broker_restart_loses_no_acknowledged_task(two_hubs, broker):
    a, b = two_hubs
    w = Worker(b, "gpu")
    w2 = None
    try:
        # running on B when the broker goes: its result is reported once the broker is back
        running = submit(a, type="sleep", capability="gpu", input={"ms": 4000})
        until(lambda: task(a, running["id"])["state"] == "running", what="running on B")
        # offered, with no worker for it anywhere: the broker keeps the offer across its restart
        parked = submit(a, capability="fpga", input="parked")
        until(lambda: metric(a, "ganglion_rabbitmq_offered_total") >= 2, what="offer published")
        until(lambda: metric(a, "ganglion_rabbitmq_confirmed_total") >= 2, what="offer confirmed")
        broker.stop(keep=True)
        stopped_at = time.time()
        until(lambda: metric(a, "ganglion_rabbitmq_connected") == 0, what="A sees the broker gone")
        # accepted while the broker is down: held on A, offered once it is back
        during = submit(a, capability="gpu", input="during")
        until(lambda: task(b, running["id"])["state"] == "succeeded", what="done on B meanwhile")
        finished = task(b, running["id"])["updated_at"]
        if datetime.fromisoformat(finished.replace("Z", "+00:00")).timestamp() > stopped_at:
            assert task(a, running["id"])["state"] == "running"  # A cannot have heard of it
        broker.start(broker.port, broker.dir)
        until(lambda: metric(b, "ganglion_rabbitmq_connected") == 1, timeout=30, what="B reconnected")
        until(lambda: metric(a, "ganglion_rabbitmq_connected") == 1, timeout=30, what="A reconnected")
        w2 = Worker(b, "fpga")
        for t in (running, parked, during):
            done = a.get(f"/api/v1/tasks/{t['id']}/wait", params={"timeout_ms": 25000},
                         timeout=35).json()
            assert done["state"] == "succeeded" and done["hub"] == "b", done
            assert done["attempts"] == 1
        assert task(a, during["id"])["output"] == "during"
        assert task(a, parked["id"])["output"] == "parked"
    finally:
        w.stop()
        if w2:
            w2.stop()


def test_running_hub_restart_and_cancel_from_the_submitting_hub(make_daemon, pg_url, broker):
    a = hub(make_daemon, pg_url, broker, "a")
    b = hub(make_daemon, pg_url, broker, "b", first=a)
    t = submit(a, type="sleep", capability="gpu", input={"ms": 1500}, max_attempts=3)
    w = Worker(b, "gpu")
    until(lambda: task(a, t["id"])["state"] == "running", what="running on B, seen on A")
    # B stops mid-task: its lease dies with it; the row is B's, so B runs it again after restart
    w.stop()
    b.restart()
    until(lambda: metric(b, "ganglion_rabbitmq_connected") == 1, what="B reconnected")
    w = Worker(b, "gpu")
    try:
        done = a.get(f"/api/v1/tasks/{t['id']}/wait", params={"timeout_ms": 25000}, timeout=35).json()
        assert done["state"] == "succeeded" and done["hub"] == "b", done
        assert done["attempts"] == 2
        # a cancel on A of a task running on B: accepted, carried out by B, seen on A
        c = submit(a, type="sleep", capability="gpu", input={"ms": 20000})
        until(lambda: task(a, c["id"])["state"] == "running", what="second task running on B")
        # A restarts meanwhile: it reloads its copy of the task B runs, and still follows it
        a.restart()
        assert task(a, c["id"])["hub"] == "b"
        until(lambda: metric(a, "ganglion_rabbitmq_connected") == 1, what="A reconnected")
        r = a.post(f"/api/v1/tasks/{c['id']}/cancel")
        assert r.status_code == 202, r.text
        until(lambda: task(a, c["id"])["state"] == "cancelled", what="cancel seen on A")
        assert task(b, c["id"])["state"] == "cancelled"
    finally:
        w.stop()


def test_stdin_worker_of_b_takes_tasks_by_capability_and_by_name(two_hubs):
    from agents_util import PY, spawn, wait_status
    a, b = two_hubs
    ag = spawn(b, name="speaker", argv=[PY, str(ROOT / "examples" / "tasks" / "stdin_worker.py")],
               capabilities=["tts", "tasks:2"])
    wait_status(b, ag["id"], ("running",))
    by_cap = submit(a, capability="tts", input={"say": "hi"})
    by_name = submit(a, agent="speaker", input={"say": "again"})
    for t in (by_cap, by_name):
        done = a.get(f"/api/v1/tasks/{t['id']}/wait", params={"timeout_ms": 20000}, timeout=30).json()
        assert done["state"] == "succeeded" and done["output"] == t["input"], done
        assert done["hub"] == "b" and done["via"] == "stdin" and done["worker"] == ag["id"]


def test_without_url_librabbitmq_is_never_loaded(daemon):
    assert metric(daemon, "ganglion_rabbitmq_connected") is None
    assert "librabbitmq.so" not in open(f"/proc/{daemon.proc.pid}/maps").read()


def test_unreachable_broker_keeps_tasks_on_their_hub(make_daemon):
    from conftest import free_port
    d = make_daemon(args=["--set", f"rabbitmq.url=amqp://guest:guest@127.0.0.1:{free_port()}/%2F",
                          "--set", "rabbitmq.hub=lonely", "--set", "rabbitmq.forward_ms=0"])
    assert "librabbitmq.so" in open(f"/proc/{d.proc.pid}/maps").read()
    assert metric(d, "ganglion_rabbitmq_connected") == 0
    w = Worker(d, "gpu")
    try:
        t = submit(d, capability="gpu", input=[1])
        done = d.get(f"/api/v1/tasks/{t['id']}/wait", params={"timeout_ms": 20000}, timeout=30).json()
        assert done["state"] == "succeeded" and done["hub"] == "lonely" and done["output"] == [1]
    finally:
        w.stop()
    assert metric(d, "ganglion_rabbitmq_published_total") == 0


def test_cancelled_offer_is_not_run_by_another_hub(two_hubs):
    a, b = two_hubs
    t = submit(a, capability="gpu", input="never")
    until(lambda: metric(a, "ganglion_rabbitmq_confirmed_total") >= 1, what="offer confirmed")
    r = a.post(f"/api/v1/tasks/{t['id']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
    marker = submit(a, capability="gpu", input="after")
    w = Worker(b, "gpu")
    try:
        done = a.get(f"/api/v1/tasks/{marker['id']}/wait", params={"timeout_ms": 20000},
                     timeout=30).json()
        assert done["state"] == "succeeded"
        # the cancelled task's offer came first in the queue: taken off it and dropped
        until(lambda: metric(b, "ganglion_rabbitmq_duplicates_total") >= 1, what="offer dropped")
        assert task(a, t["id"])["state"] == "cancelled"
        assert b.get(f"/api/v1/tasks/{t['id']}").status_code == 404  # never held by B
        assert metric(b, "ganglion_rabbitmq_taken_total") == 1
    finally:
        w.stop()
