"""The guard's gate on task submissions: a gated task (labelled guard=true, or every task with
guard.gate=all) is evaluated before it is queued — deny refused with the rules that fired and
nothing queued, review refused too (a submission is not held), allow queued as usual."""

from conftest import assert_problem

GUARDED = {"guard": "true"}
REVIEW_RULE = {"name": "needs-review", "weight": 60, "match": {"words": ["needs-review"]}}


def queued(d):
    r = d.get("/api/v1/tasks")
    assert r.status_code == 200, r.text
    return r.json()["tasks"]


def test_denied_submission_is_refused_and_nothing_queued(daemon):
    r = daemon.post("/api/v1/tasks", json={"type": "shell", "labels": GUARDED,
                                           "input": {"cmd": "rm -rf /"}})
    body = assert_problem(r, 403)
    assert body["type"].endswith("guard-denied") and body["verdict"] == "deny"
    assert "destructive-rm-root" in {f["name"] for f in body["fired"]}
    assert queued(daemon) == []
    gate = daemon.get("/api/v1/audit", params={"action": "GUARD gate.task"}).json()["entries"]
    assert [e["result"] for e in gate] == [403]
    # the same input on an ungated task (no label, guard.gate=labelled) is queued
    r = daemon.post("/api/v1/tasks", json={"type": "shell", "input": {"cmd": "rm -rf /"}})
    assert r.status_code in (200, 201), r.text
    assert [t["id"] for t in queued(daemon)] == [r.json()["id"]]


def test_allowed_submission_is_queued(daemon):
    r = daemon.post("/api/v1/tasks", json={"type": "echo", "labels": GUARDED,
                                           "description": "say hello", "input": {"text": "hello"}})
    assert r.status_code in (200, 201), r.text
    t = r.json()
    assert t["state"] == "queued" and [x["id"] for x in queued(daemon)] == [t["id"]]


def test_review_verdict_is_refused_not_held(make_daemon):
    d = make_daemon(args=["--set", "guard.gate=all"])
    assert d.post("/api/v1/guard/rules", json=REVIEW_RULE).status_code == 201
    r = d.post("/api/v1/tasks", json={"type": "echo", "description": "needs-review please"})
    body = assert_problem(r, 403)
    assert body["type"].endswith("guard-review-unsupported") and body["verdict"] == "review"
    assert d.get("/api/v1/guard/reviews").json()["reviews"] == [] and queued(d) == []
    # guard=false opts a task out of guard.gate=all
    r = d.post("/api/v1/tasks", json={"type": "echo", "description": "needs-review please",
                                      "labels": {"guard": "false"}})
    assert r.status_code in (200, 201), r.text
