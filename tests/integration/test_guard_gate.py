"""The guard's gate in front of agents: spawn, stdin writes and custom actions evaluated first —
deny refused with the rules that fired, review held until approved, rejected or timed out — for
agents labelled guard=true (the default) or every agent (guard.gate=all); and the guard CLI."""
import os
import subprocess
import threading
import time

from agents_util import spawn, wait_output
from conftest import assert_problem

REVIEW_RULE = {"name": "needs-review", "weight": 60, "match": {"words": ["needs-review"]}}
GUARDED = {"guard": "true"}


def cli(d, *args):
    env = d.cli_env({k: v for k, v in os.environ.items()
                     if k not in ("GANGLION_URL", "GANGLION_TOKEN", "GANGLION_DATA_DIR")})
    env["NO_COLOR"] = "1"
    return subprocess.run([d.bin, "--url", d.url, *args], capture_output=True, text=True,
                          timeout=30, env=env)


def in_background(fn):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", fn()), daemon=True)
    t.start()
    return t, box


def held_review(d, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rs = d.get("/api/v1/guard/reviews").json()["reviews"]
        if rs:
            return rs[0]
        time.sleep(0.05)
    raise AssertionError("no action was held for review")


def me(d):
    return d.get("/api/v1/auth/me").json()


def test_deny_on_spawn_stdin_and_action(store_daemon):
    daemon = store_daemon  # on SQLite and PostgreSQL
    # not labelled: the default gate leaves the agent alone (echo only prints the words)
    spawn(daemon, argv=["echo", "mkfs.ext4", "/dev/sdz"])
    r = daemon.post("/api/v1/agents", json={"name": "bad", "argv": ["echo", "mkfs.ext4", "/dev/sdz"],
                                            "labels": GUARDED})
    body = assert_problem(r, 403)
    assert body["verdict"] == "deny" and "destructive-mkfs" in {f["name"] for f in body["fired"]}
    assert "mkfs" in body["fired"][0]["why"][0] and len(body["digest"]) == 64
    a = spawn(daemon, "interactive", labels=GUARDED)
    r = daemon.post(f"/api/v1/agents/{a['id']}/stdin", json={"text": "dd if=/dev/zero of=/dev/sda\n"})
    assert "destructive-dd-device" in {f["name"] for f in assert_problem(r, 403)["fired"]}
    r = daemon.post(f"/api/v1/agents/{a['id']}/stdin", json={"text": "hello\n"})
    assert r.status_code == 200
    wait_output(daemon, a["id"], lambda o: any(ln["text"] == "got: hello" for ln in o["lines"]))
    r = daemon.post(f"/api/v1/agents/{a['id']}/action", json={"name": "add", "params": {"cmd": "rm -rf /"}})
    assert "destructive-rm-root" in {f["name"] for f in assert_problem(r, 403)["fired"]}
    r = daemon.post(f"/api/v1/agents/{a['id']}/action", json={"name": "add", "params": {"a": 1, "b": 2}})
    assert r.status_code == 200 and r.json()["result"] == {"sum": 3}
    audit = daemon.get("/api/v1/audit", params={"action": "POST /api/v1/agents/{id}/stdin"}).json()["entries"]
    assert audit and audit[0]["result"] == 200
    gate = daemon.get("/api/v1/audit", params={"action": "GUARD gate.spawn"}).json()["entries"]
    assert {e["target"]: e["result"] for e in gate} == {"bad": 403, a["name"]: 200}
    denied = [e for e in gate if e["target"] == "bad"][0]
    assert denied["detail"]["digest"] == body["digest"] and denied["detail"]["verdict"] == "deny"


def test_gate_all_and_the_opt_out_label(make_daemon):
    d = make_daemon(args=["--set", "guard.gate=all"])
    assert_problem(d.post("/api/v1/agents", json={"name": "x", "argv": ["echo", ":(){ :|:& };:"]}), 403)
    spawn(d, argv=["echo", ":(){ :|:& };:"], labels={"guard": "false"})


def test_gate_by_label_selector(make_daemon):
    d = make_daemon(args=["--set", "guard.gate_selector=env=prod,team=pay"])
    bomb = ["echo", ":(){ :|:& };:"]
    assert_problem(d.post("/api/v1/agents", json={"name": "p", "argv": bomb,
                                                  "labels": {"env": "prod", "team": "pay", "x": "1"}}), 403)
    spawn(d, argv=bomb, labels={"env": "prod"})                      # only one of the two
    spawn(d, argv=bomb, labels={"env": "prod", "team": "pay", "guard": "false"})  # opted out
    spawn(d, argv=bomb)


def test_review_approved_lets_the_spawn_run(store_daemon):
    daemon = store_daemon  # on SQLite and PostgreSQL
    assert daemon.post("/api/v1/guard/rules", json=REVIEW_RULE).status_code == 201
    t, box = in_background(lambda: daemon.post(
        "/api/v1/agents", json={"name": "held", "argv": ["echo", "needs-review"], "labels": GUARDED}))
    rv = held_review(daemon)
    assert rv["action"]["kind"] == "spawn" and rv["score"] == 60 and rv["fired"][0]["name"] == "needs-review"
    assert not box  # still waiting
    listed = cli(daemon, "guard", "reviews")
    assert listed.returncode == 0 and "needs-review" in listed.stdout
    r = cli(daemon, "guard", "approve", str(rv["id"]))
    assert r.returncode == 0, r.stderr
    t.join(10)
    assert box["r"].status_code == 201, box["r"].text
    assert daemon.get("/api/v1/guard/reviews").json()["reviews"] == []
    hist = daemon.get(f"/api/v1/guard/principals/{me(daemon)['principal']}").json()["history"]
    assert [h["cause"] for h in hist][-2:] == ["review", "approved"]


def test_review_rejected_refuses_the_stdin_write(store_daemon):
    daemon = store_daemon  # on SQLite and PostgreSQL
    assert daemon.post("/api/v1/guard/rules", json=REVIEW_RULE).status_code == 201
    a = spawn(daemon, "interactive", labels=GUARDED)
    t, box = in_background(lambda: daemon.post(f"/api/v1/agents/{a['id']}/stdin",
                                               json={"text": "please needs-review\n"}))
    rv = held_review(daemon)
    assert rv["action"]["kind"] == "stdin" and rv["action"]["input"] == "please needs-review\n"
    r = cli(daemon, "guard", "reject", str(rv["id"]))
    assert r.returncode == 0 and r.stdout.strip() == f"review {rv['id']} rejected", r.stderr
    t.join(10)
    body = assert_problem(box["r"], 403)
    assert body["type"].endswith("guard-review-rejected")
    assert_problem(daemon.post(f"/api/v1/guard/reviews/{rv['id']}/approve"), 404)
    out = daemon.get(f"/api/v1/agents/{a['id']}/output").json()
    assert not any("needs-review" in ln["text"] for ln in out["lines"])


def test_review_times_out_and_the_action_is_refused(make_daemon):
    d = make_daemon(args=["--set", "guard.review_timeout_ms=400"])
    assert d.post("/api/v1/guard/rules", json=REVIEW_RULE).status_code == 201
    a = spawn(d, "interactive", labels=GUARDED)
    start = time.monotonic()
    r = d.post(f"/api/v1/agents/{a['id']}/action", json={"name": "add", "params": {"note": "needs-review"}})
    body = assert_problem(r, 403)
    assert body["type"].endswith("guard-review-expired") and time.monotonic() - start >= 0.35
    assert d.get("/api/v1/guard/reviews").json()["reviews"] == []


def test_review_queue_is_bounded(make_daemon):
    d = make_daemon(args=["--set", "guard.reviews_max=1", "--set", "guard.review_timeout_ms=3000"])
    assert d.post("/api/v1/guard/rules", json=REVIEW_RULE).status_code == 201
    a = spawn(d, "interactive", labels=GUARDED)
    t, box = in_background(lambda: d.post(f"/api/v1/agents/{a['id']}/stdin", json={"text": "needs-review\n"}))
    held_review(d)
    r = d.post(f"/api/v1/agents/{a['id']}/stdin", json={"text": "needs-review again\n"})
    assert assert_problem(r, 503)["type"].endswith("guard-review-queue-full")
    t.join(10)


def test_guard_cli_rules_and_eval(daemon):
    r = cli(daemon, "guard", "rules")
    assert r.returncode == 0 and "destructive-rm-root" in r.stdout and "rules_version" in r.stdout
    r = cli(daemon, "guard", "eval", "--dry-run", "rm -rf /")
    assert r.returncode == 0 and r.stdout.startswith("deny (score 100") and "destructive-rm-root" in r.stdout
    r = cli(daemon, "guard", "eval", "--dry-run", "--object", '{"kind":"spawn","argv":["mkfs","/dev/sdz"]}')
    assert r.returncode == 0 and "destructive-mkfs" in r.stdout
    r = cli(daemon, "--json", "guard", "eval", "--dry-run", "ls")
    assert r.returncode == 0 and '"verdict": "allow"' in r.stdout
    r = cli(daemon, "guard", "approve", "12345")
    assert r.returncode == 1 and "12345" in r.stderr
    assert cli(daemon, "guard", "eval").returncode == 2
    r = cli(daemon, "guard", "eval", "ls", "--principal")
    assert r.returncode == 2 and "--principal needs a value" in r.stderr


def test_a_stopping_daemon_refuses_what_is_held(daemon):
    assert daemon.post("/api/v1/guard/rules", json=REVIEW_RULE).status_code == 201
    t, box = in_background(lambda: daemon.post(
        "/api/v1/agents", json={"name": "late", "argv": ["echo", "needs-review"], "labels": GUARDED}))
    held_review(daemon)
    start = time.monotonic()
    assert daemon.stop() == 0
    t.join(10)
    assert assert_problem(box["r"], 503)["type"].endswith("guard-review-abandoned")
    assert time.monotonic() - start < 5, "the drain waited for the held request"
