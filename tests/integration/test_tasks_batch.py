"""The batch endpoints of tasks: many submissions (POST /api/v1/tasks/batch) or many results
(POST /api/v1/tasks/results) in one request, each item taken or refused as its single endpoint
would, every taken one committed before the reply (SQLite and PostgreSQL)."""

from auth_util import bearer, make_key
from conftest import assert_problem, bare_http


def agent_session(d):
    k = make_key(d, name="worker", role="agent")
    s = bare_http()
    s.headers.update(bearer(k["secret"]))
    return s


def post(d, s, path, body):
    return s.post(d.url + path, json=body, timeout=30)


def test_batch_submit_lease_and_complete(store_daemon):
    d = store_daemon
    s = agent_session(d)
    first = d.post("/api/v1/tasks", json={"type": "echo", "capability": "o", "idempotency_key": "k-1"}).json()
    r = d.post("/api/v1/tasks/batch", json={"tasks": [
        {"type": "echo", "capability": "b", "input": 1},
        {"type": "echo", "capability": "b", "input": 2, "priority": 5},
        {"type": "echo", "input": "a" * 70000},                       # too large: 413
        {"type": "echo", "idempotency_key": "k-1"},                   # the first task: 200
        {"type": "echo", "agent": "x", "capability": "b"},            # both: 422
        {"type": "echo", "capability": "b", "input": 3},
    ]})
    assert r.status_code == 200, r.text
    body = r.json()
    items = body["tasks"]
    assert [i["status"] for i in items] == [201, 201, 413, 200, 422, 201]
    assert body["accepted"] == 4 and body["refused"] == 2
    assert items[3]["id"] == first["id"]
    assert items[2]["problem"]["status"] == 413 and items[2]["problem"]["detail"]
    assert items[4]["problem"]["status"] == 422
    ids = [items[i]["id"] for i in (0, 1, 5)]
    assert all(items[i]["state"] == "queued" for i in (0, 1, 5))
    # submission order within a priority, higher priority first
    assert items[0]["seq"] < items[1]["seq"] < items[5]["seq"]
    got = post(d, s, "/api/v1/tasks/lease", {"capabilities": ["b"], "max": 10}).json()["tasks"]
    assert [t["id"] for t in got] == [ids[1], ids[0], ids[2]]
    lease = {t["id"]: t["lease"] for t in got}
    r = post(d, s, "/api/v1/tasks/results", {"results": [
        {"id": ids[0], "lease": lease[ids[0]], "ok": True, "output": {"n": 1}},
        {"id": ids[1], "lease": lease[ids[1]] + 1000, "ok": True},      # not its lease: 409
        {"id": "t-0000000000000000", "lease": 1, "ok": True},           # no such task: 404
        {"id": ids[2], "lease": lease[ids[2]], "ok": False, "error": "no"},
        {"id": ids[0], "lease": lease[ids[0]], "ok": True, "output": 9},  # twice: 409
        {"id": ids[1], "lease": lease[ids[1]], "ok": True, "output": "b" * 300000},  # 413
    ]})
    assert r.status_code == 200, r.text
    res = r.json()
    assert [i["status"] for i in res["results"]] == [200, 409, 404, 200, 409, 413]
    assert res["completed"] == 2 and res["refused"] == 4
    assert [i["id"] for i in res["results"]][:4] == [ids[0], ids[1], "t-0000000000000000", ids[2]]
    assert res["results"][0]["state"] == "succeeded" and res["results"][3]["state"] == "failed"
    assert res["results"][1]["problem"]["state"] == "assigned"
    # what the reply reported was committed: a restart still knows it
    d.restart()
    t0 = d.get(f"/api/v1/tasks/{ids[0]}").json()
    assert t0["state"] == "succeeded" and t0["output"] == {"n": 1}
    t2 = d.get(f"/api/v1/tasks/{ids[2]}").json()
    assert t2["state"] == "failed" and t2["error"] == "no"
    # the refused one kept its lease until the restart, which returned it to the queue
    assert d.get(f"/api/v1/tasks/{ids[1]}").json()["state"] == "queued"


def test_batch_results_answer_clients_waiting_for_those_tasks(daemon):
    d = daemon
    s = agent_session(d)
    items = d.post("/api/v1/tasks/batch", json={"tasks": [
        {"type": "echo", "capability": "w", "input": i} for i in range(3)]}).json()["tasks"]
    got = post(d, s, "/api/v1/tasks/lease", {"capabilities": ["w"], "max": 3}).json()["tasks"]
    r = post(d, s, "/api/v1/tasks/results", {"results": [
        {"id": t["id"], "lease": t["lease"], "ok": True, "output": t["input"] * 10} for t in got]})
    assert r.json()["completed"] == 3
    for i, it in enumerate(items):
        fin = d.get(f"/api/v1/tasks/{it['id']}/wait", params={"timeout_ms": 5000}, timeout=10)
        assert fin.json()["state"] == "succeeded" and fin.json()["output"] == i * 10


def test_batches_are_validated_and_bounded(daemon):
    d = daemon
    s = agent_session(d)
    too_many = {"tasks": [{"type": "x"}] * 101}
    assert_problem(d.post("/api/v1/tasks/batch", json=too_many), 422, field="/tasks")
    assert_problem(d.post("/api/v1/tasks/batch", json={"tasks": []}), 422, field="/tasks")
    assert_problem(d.post("/api/v1/tasks/batch", json={"tasks": [{"type": "x", "nope": 1}]}), 422)
    assert_problem(d.post("/api/v1/tasks/batch", json={"tasks": [{"priority": 3}]}), 422,
                   field="/tasks/0/type")
    assert_problem(post(d, s, "/api/v1/tasks/results", {"results": []}), 422, field="/results")
    many = {"results": [{"id": "t-1", "lease": 1, "ok": True}] * 101}
    assert_problem(post(d, s, "/api/v1/tasks/results", many), 422, field="/results")
    assert_problem(post(d, s, "/api/v1/tasks/results", {"results": [{"id": "t-1", "ok": True}]}),
                   422, field="/results/0/lease")
    # nothing of a refused batch was taken
    assert d.get("/api/v1/tasks").json()["tasks"] == []
    # a viewer may not submit, one by one or in a batch
    viewer = make_key(d, name="v", role="viewer")
    r = bare_http().post(d.url + "/api/v1/tasks/batch", json={"tasks": [{"type": "x"}]},
                         headers=bearer(viewer["secret"]), timeout=10)
    assert_problem(r, 403)


def test_rendered_replies_are_the_task_as_get_shows_it(store_daemon):
    # a lease reply and a submission's reply are the task as its transition rendered it, which
    # must be the very document GET builds, odd characters and all — and survive a restart
    d = store_daemon
    s = agent_session(d)
    odd = 'quote " back \\ nl \n tab \t ctl \x01 del \x7f é ✓ 𝄞 </script>'
    sub = d.post("/api/v1/tasks", json={
        "type": odd, "description": odd, "capability": "odd", "labels": {odd: odd},
        "input": {"s": odd, "n": [1, 2.5, None, True]}, "priority": 3, "timeout_ms": 600000,
        "idempotency_key": odd})
    assert sub.status_code == 201, sub.text
    assert sub.json() == d.get(f"/api/v1/tasks/{sub.json()['id']}").json()
    got = post(d, s, "/api/v1/tasks/lease", {"capabilities": ["odd"], "agent": odd}).json()["tasks"]
    assert len(got) == 1 and got[0]["worker"] == odd and got[0]["state"] == "assigned"
    assert got[0] == d.get(f"/api/v1/tasks/{got[0]['id']}").json()
    r = s.post(f"{d.url}/api/v1/tasks/{got[0]['id']}/result",
               json={"lease": got[0]["lease"], "ok": False, "error": odd, "output": {odd: [odd]}},
               timeout=10)
    assert r.status_code == 200 and r.json() == d.get(f"/api/v1/tasks/{got[0]['id']}").json()
    d.restart()
    assert d.get(f"/api/v1/tasks/{got[0]['id']}").json() == r.json()
