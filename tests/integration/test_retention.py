"""Retention as an operator meets it: short retention settings remove old anomalies, audit rows and
finished tasks while recent ones stay, pending anomalies left too long become resolved, every row
removed is counted in /metrics, and a purge of 50 000 rows runs while requests keep being served —
on SQLite and PostgreSQL."""

import threading
import time

from db_util import run_sql
from watch_util import (SLOW, burst_lines, make_stream, normal_lines, post_events,
                        wait_settled)

DAY_MS = 86400 * 1000
FAST = {"GANGLION_RETENTION_INTERVAL_MS": "200"}


def removed(d, kind):
    fam = d.metrics().get("ganglion_retention_removed_total")
    got = fam.find(kind=kind) if fam else []
    return got[0].value if got else 0


def wait_for(what, fn, timeout=30.0):
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not reached in {timeout * SLOW}s (last: {last})")


def daemon_for(make_daemon, store_kind, request, env):
    store = request.getfixturevalue("pg_url") if store_kind == "postgres" else None
    return make_daemon(store=store, env=env)


def stamped(events, ts_ms):
    return [dict(e, timestamp=ts_ms + i) for i, e in enumerate(events)]


def test_anomalies_expire_are_capped_per_stream_and_resolved(make_daemon, store_kind, request):
    # first gather anomalies with nothing removed, then restart with the bounds in place; gap 0:
    # the fresh stream's two bursts are two incidents
    d = daemon_for(make_daemon, store_kind, request,
                   {"GANGLION_RETENTION_INTERVAL_MS": "0", "GANGLION_WATCH_INCIDENT_GAP_S": "0"})
    now = int(time.time() * 1000)
    ages = {"ancient": now - 60 * DAY_MS, "old": now - 10 * DAY_MS, "fresh": now}
    burst = normal_lines(100) + burst_lines(20)
    events = {"ancient": burst, "old": burst,
              "fresh": burst + normal_lines(100, 100) + burst_lines(20)}
    for stream, ts in ages.items():
        make_stream(d, stream)
        r = post_events(d, stream, stamped(events[stream], ts))
        assert r.status_code == 202, r.text
    found = {s: wait_settled(d, s, len(events[s]))["anomalies"] for s in ages}
    for s, got in found.items():
        assert len(got) >= 2, f"{s}: the burst should span several windows: {got}"
        assert all(a["status"] == "pending" for a in got)
    newest_fresh = max(found["fresh"], key=lambda a: (a["timestamp_ms"], a["id"]))
    fresh_incidents = {a["incident_id"] for a in found["fresh"]}
    assert len(fresh_incidents) == 2, found["fresh"]

    d.env.update(FAST, GANGLION_RETENTION_ANOMALIES_MAX_AGE_S=str(30 * 86400),
                 GANGLION_RETENTION_ANOMALIES_MAX_PER_STREAM="1",
                 GANGLION_RETENTION_ANOMALIES_RESOLVE_AFTER_S="86400")
    d.restart()

    def listing(stream):
        return d.get(f"/api/v1/watch/anomalies?stream={stream}&limit=1000").json()["anomalies"]

    expected = len(found["ancient"]) + len(found["old"]) - 1 + len(found["fresh"]) - 1
    wait_for("anomalies removed", lambda: removed(d, "anomalies") >= expected)
    wait_for("old anomaly resolved", lambda: removed(d, "anomalies_resolved") >= 1)
    assert listing("ancient") == []
    fresh = listing("fresh")
    assert [a["id"] for a in fresh] == [newest_fresh["id"]], "the newest is kept"
    assert fresh[0]["status"] == "pending", "a recent anomaly is left for people to review"
    old = listing("old")
    assert len(old) == 1 and old[0]["status"] == "resolved"
    # the counts are exact: each row once, however many passes ran since
    assert removed(d, "anomalies") == expected
    assert removed(d, "anomalies_resolved") == 1
    # the ancient burst's incident went with its anomalies, and the fresh stream's first one
    # with its last member; the old one's is resolved
    incidents = d.get("/api/v1/watch/incidents?limit=100").json()["incidents"]
    assert sorted(i["stream"] for i in incidents) == ["fresh", "old"], incidents
    assert [i["id"] for i in incidents if i["stream"] == "fresh"] == [newest_fresh["incident_id"]]
    assert all(i["status"] == "resolved" for i in incidents if i["stream"] == "old")
    assert removed(d, "incidents") >= 1


def test_a_large_audit_purge_leaves_requests_served(make_daemon, store_kind, request):
    d = daemon_for(make_daemon, store_kind, request, {"GANGLION_RETENTION_INTERVAL_MS": "0"})
    assert d.post("/api/v1/test/echo", json={"name": "recent"}).status_code in (200, 201)
    d.stop()
    old = int(time.time() * 1000) - 10 * DAY_MS
    run_sql(d, "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 50000)"
               " INSERT INTO audit_log (ts_ms, principal, action, target, result)"
               f" SELECT {old} + n, 'seed', 'POST /api/v1/old', '/api/v1/old', 200 FROM g")
    d.env.update(FAST, GANGLION_RETENTION_AUDIT_MAX_AGE_S="86400")
    d.start()

    latencies, stop = [], threading.Event()

    def probe():
        while not stop.is_set():
            t = time.monotonic()
            r = d.get("/healthz")
            latencies.append(time.monotonic() - t)
            assert r.status_code == 200

    th = threading.Thread(target=probe)
    th.start()
    try:
        wait_for("50 000 audit rows removed", lambda: removed(d, "audit") >= 50000, timeout=120)
    finally:
        stop.set()
        th.join()
    assert removed(d, "audit") == 50000
    page = d.get("/api/v1/audit?limit=1000").json()
    rows = page["entries"]
    assert rows, page
    assert not [r for r in rows if r["principal"] == "seed"], "every old row is gone"
    assert [r for r in rows if r["action"].startswith("POST /api/v1/test/echo")], \
        "a recent row stays"
    latencies.sort()
    # requests were served while it ran (how many depends on the machine's load: a busy one
    # purges slower and answers slower alike)
    assert len(latencies) >= 5, latencies
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    assert p99 < 1.0, f"p99 of /healthz during the purge: {p99:.3f}s"
    # the pass is counted when it ends: after the audit's last batch it still visits the rest
    wait_for("the pass counted", lambda: d.metrics()["ganglion_retention_passes_total"]
             .samples[0].value >= 1, timeout=30)


def test_finished_tasks_leave_after_their_age(make_daemon, store_kind, request):
    d = daemon_for(make_daemon, store_kind, request,
                   dict(FAST, GANGLION_RETENTION_TASKS_MAX_AGE_S="2"))
    r = d.post("/api/v1/tasks", json={"type": "echo"})
    assert r.status_code in (201, 202), r.text
    old = r.json()["id"]
    queued = d.post("/api/v1/tasks", json={"type": "echo"}).json()["id"]
    assert d.post(f"/api/v1/tasks/{old}/cancel").status_code == 200
    wait_for("the finished task removed",
             lambda: d.get(f"/api/v1/tasks/{old}").status_code == 404)
    assert removed(d, "tasks") >= 1
    # a task not finished is never removed, however old
    assert d.get(f"/api/v1/tasks/{queued}").json()["state"] == "queued"
    d.restart()
    assert d.get(f"/api/v1/tasks/{old}").status_code == 404, "removed from the store too"
    assert d.get(f"/api/v1/tasks/{queued}").status_code == 200


def test_ended_agents_are_forgotten_with_their_log_files(make_daemon, store_kind, request):
    from agents_util import spawn, wait_status
    d = daemon_for(make_daemon, store_kind, request,
                   dict(FAST, GANGLION_RETENTION_AGENTS_MAX_AGE_S="2"))
    ended = spawn(d, argv=["sh", "-c", "echo retained-line"])["id"]
    live = spawn(d, argv=["sleep", "60"])["id"]
    wait_status(d, ended, "completed")
    log = d.data_dir / "logs" / f"{ended}.log"
    wait_for("the agent's log file", log.exists)
    wait_for("the ended agent forgotten",
             lambda: d.get(f"/api/v1/agents/{ended}").status_code == 404)
    assert not log.exists(), "its log file went with it"
    assert removed(d, "agents") == 1
    assert d.get(f"/api/v1/agents/{live}").json()["status"] == "running", \
        "a running agent is never removed, however old"
    assert d.post(f"/api/v1/agents/{live}/stop").status_code in (200, 202)
    wait_status(d, live, ("terminated", "completed", "failed"))
    d.env["GANGLION_RETENTION_INTERVAL_MS"] = "0"
    d.restart()
    assert d.get(f"/api/v1/agents/{ended}").status_code == 404, "removed from the store too"


def test_old_chat_turns_are_removed(make_daemon, store_kind, request):
    d = daemon_for(make_daemon, store_kind, request, {"GANGLION_RETENTION_INTERVAL_MS": "0"})
    d.stop()
    now = int(time.time() * 1000)
    for seq, ts in enumerate([now - 10 * DAY_MS, now - 9 * DAY_MS, now - 8 * DAY_MS, now]):
        run_sql(d, "INSERT INTO chat_turns (session, seq, role, agent, content, ts)"
                   f" VALUES ('cs-{'a' * 32}', {seq}, 'user', 'bot', 'turn {seq}', {ts})")
    d.env.update(FAST, GANGLION_RETENTION_CHAT_MAX_AGE_S="86400")
    d.start()
    wait_for("old chat turns removed", lambda: removed(d, "chat") >= 3)
    assert removed(d, "chat") == 3
    assert d.stop() == 0
    assert run_sql(d, "SELECT content FROM chat_turns ORDER BY seq") == ["turn 3"]
