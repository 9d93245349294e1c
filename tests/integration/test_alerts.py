"""Alerts as a user relies on them: rules over real events (anomalies from `ganglion synth`, an
agent that fails, a metric over a threshold), notifiers that reach a real local HTTP receiver
signed with HMAC-SHA256 or run a command, retries with backoff, dead letters that can be
retried, grouping, silences, rate limits, and notifications that survive a daemon restart."""
import json
import subprocess
import sys
import time

import pytest

from agents_util import spawn, wait_status
from alerts_util import Receiver, history, metric, notifier, poll, rule, signature
from db_util import run_sql

FAST = {"GANGLION_ALERTS_BACKOFF_MS": "50", "GANGLION_ALERTS_MAX_ATTEMPTS": "3",
        "GANGLION_ALERTS_METRIC_INTERVAL_MS": "100"}
SECRET = "a-webhook-secret-of-some-length"


def test_webhook_is_signed_and_retried_until_it_succeeds(make_daemon):
    rec = Receiver(statuses=(500, 500, 200)).start()
    try:
        d = make_daemon(env=FAST)
        n = notifier(d, url=rec.url, secret=SECRET)
        assert n["has_secret"] is True and "secret" not in n
        # the URL's path (where chat webhooks keep their token) is never shown either
        assert n["url"] == f"http://127.0.0.1:{rec.port}/..."
        assert d.get(f"/api/v1/alerts/notifiers/{n['id']}").json()["url"] == n["url"]
        r = d.post(f"/api/v1/alerts/notifiers/{n['id']}/test")
        assert r.status_code == 202, r.text
        nid = r.json()["notifications"][0]
        got = rec.wait(3)
        for req in got:  # every attempt is signed, timestamped and names the delivery
            h = req["headers"]
            assert h["X-Ganglion-Signature"] == signature(SECRET, req["body"])
            assert abs(int(h["X-Ganglion-Timestamp"]) - time.time()) < 60
            assert h["X-Ganglion-Delivery"] == nid
        body = json.loads(got[-1]["body"])
        assert body["id"] == nid and body["severity"] == "info" and body["event"]["test"] is True
        row = poll(lambda: [h for h in history(d) if h["id"] == nid and h["state"] == "delivered"],
                   what="delivered")[0]
        assert row["attempts"] == 3 and row["last_error"] == ""
        assert metric(d, "ganglion_alerts_notifications_total", result="delivered") == 1
        assert metric(d, "ganglion_alerts_notifications_total", result="failed") == 2
    finally:
        rec.stop()


def test_dead_letter_after_max_attempts_then_retry(make_daemon):
    rec = Receiver(statuses=(503,)).start()
    try:
        d = make_daemon(env=FAST)
        n = notifier(d, url=rec.url)
        nid = d.post(f"/api/v1/alerts/notifiers/{n['id']}/test").json()["notifications"][0]
        dead = poll(lambda: [o for o in d.get("/api/v1/alerts/outbox", params={"state": "dead"})
                             .json()["outbox"] if o["id"] == nid], what="the dead letter")[0]
        assert dead["attempts"] == 3 and "503" in dead["last_error"]
        assert len(rec.got()) == 3
        assert "X-Ganglion-Signature" not in rec.got()[0]["headers"]  # no secret, no signature
        assert metric(d, "ganglion_alerts_notifications_total", result="dead") == 1
        # a notification that is not dead cannot be retried; an unknown one is 404
        assert d.post("/api/v1/alerts/outbox/ffffffffffffffff/retry").status_code == 404
        rec.statuses = [200]
        r = d.post(f"/api/v1/alerts/outbox/{nid}/retry")
        assert r.status_code == 202 and r.json()["state"] == "pending", r.text
        rec.wait(4)
        poll(lambda: [h for h in history(d) if h["id"] == nid and h["state"] == "delivered"],
             what="delivered after the retry")
        assert d.post(f"/api/v1/alerts/outbox/{nid}/retry").status_code == 409
    finally:
        rec.stop()


def test_many_anomaly_windows_make_one_notification(make_daemon, bin):
    rec = Receiver().start()
    try:
        d = make_daemon(env=FAST)
        n = notifier(d, url=rec.url, kind="slack", name="chat-room")
        rule(d, name="synthetic anomalies", kind="anomaly", stream="synth*", min_severity="medium",
             notifiers=[n["id"]], group_window_s=600)
        p = subprocess.run([str(bin), "synth", "--count", "1500", "--seed", "3", "--stream",
                            "synthetic", "--url", d.url], capture_output=True, text=True,
                           timeout=120, env=d.cli_env())
        assert p.returncode == 0, p.stderr
        # several anomalies on the stream, grouped into one notification
        poll(lambda: (metric(d, "ganglion_alerts_suppressed_total") or 0) >= 1, timeout=60,
             what="a second anomaly held back by the group window")
        got = rec.wait(1)
        anomalies = d.get("/api/v1/watch/anomalies", params={"stream": "synthetic"}).json()
        assert len(anomalies.get("anomalies", anomalies.get("items", []))) >= 2
        body = json.loads(got[0]["body"])
        assert list(body) == ["text"] and "anomaly on stream synthetic" in body["text"]
        poll(lambda: all(h["state"] != "pending" for h in history(d)), what="the outbox drained")
        assert len(rec.got()) == 1
        assert metric(d, "ganglion_alerts_fired_total") == 1
    finally:
        rec.stop()


def test_agent_failed_rule_silence_and_rate_limit(make_daemon):
    rec = Receiver().start()
    try:
        d = make_daemon(env=FAST)
        n = notifier(d, url=rec.url)
        r = rule(d, name="failed agents", kind="agent", agent="crashy-*", notifiers=[n["id"]],
                 group_window_s=0, rate_limit=1, rate_window_s=3600)
        a = spawn(d, name="crashy-1", argv=["/bin/false"])
        wait_status(d, a["id"], "failed")
        body = json.loads(rec.wait(1)[0]["body"])
        assert body["rule"]["id"] == r["id"] and body["event"]["status"] == "failed"
        assert body["group_key"] == a["id"] and "crashy-1" in body["title"]
        # the rate limit (1 per hour) holds the second failure back
        b = spawn(d, name="crashy-2", argv=["/bin/false"])
        wait_status(d, b["id"], "failed")
        poll(lambda: metric(d, "ganglion_alerts_suppressed_total") == 1, what="rate limited")
        # agents the rule's glob does not name never count
        c = spawn(d, name="other", argv=["/bin/false"])
        wait_status(d, c["id"], "failed")
        assert len(rec.got()) == 1
        assert metric(d, "ganglion_alerts_suppressed_total") == 1
    finally:
        rec.stop()


def test_silence_holds_a_rule_back_until_it_ends(make_daemon):
    rec = Receiver().start()
    try:
        d = make_daemon(env=FAST)
        n = notifier(d, url=rec.url)
        r = rule(d, name="lost or failed", kind="agent", notifiers=[n["id"]], group_window_s=0)
        s = d.post(f"/api/v1/alerts/rules/{r['id']}/silence", json={"seconds": 600,
                                                                    "reason": "maintenance"})
        assert s.status_code == 200 and s.json()["silence_reason"] == "maintenance", s.text
        a = spawn(d, argv=["/bin/false"])
        wait_status(d, a["id"], "failed")
        poll(lambda: metric(d, "ganglion_alerts_suppressed_total") == 1, what="silenced")
        assert rec.got() == []
        assert d.post(f"/api/v1/alerts/rules/{r['id']}/silence", json={"seconds": 0}).status_code == 200
        assert "silenced_until" not in d.get(f"/api/v1/alerts/rules/{r['id']}").json()
        b = spawn(d, argv=["/bin/false"])
        wait_status(d, b["id"], "failed")
        assert json.loads(rec.wait(1)[0]["body"])["group_key"] == b["id"]
    finally:
        rec.stop()


def test_exec_notifier_gets_the_alert_on_stdin(make_daemon, tmp_path):
    d = make_daemon(env=FAST)
    out = tmp_path / "exec.out"
    script = ("import json,sys; a=json.load(sys.stdin); "
              f"open({str(out)!r},'w').write(a['id']+' '+a['title']); print('seen')")
    n = notifier(d, kind="exec", argv=[sys.executable, "-c", script])
    nid = d.post(f"/api/v1/alerts/notifiers/{n['id']}/test").json()["notifications"][0]
    poll(lambda: [h for h in history(d) if h["id"] == nid and h["state"] == "delivered"],
         what="the exec delivery")
    assert out.read_text().startswith(nid + " test notification of notifier")
    bad = notifier(d, kind="exec", argv=[sys.executable, "-c", "import sys; sys.exit(3)"])
    bid = d.post(f"/api/v1/alerts/notifiers/{bad['id']}/test").json()["notifications"][0]
    row = poll(lambda: [h for h in history(d) if h["id"] == bid and h["state"] == "dead"],
               what="the failing command dead-lettered")[0]
    assert row["last_error"] == "exited with status 3"
    # no shell, no PATH lookup: a relative command is refused up front
    r = d.post("/api/v1/alerts/notifiers", json={"name": "x", "kind": "exec", "argv": ["ls"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "argv", r.text


def test_metric_threshold_for_a_duration(make_daemon):
    rec = Receiver().start()
    try:
        d = make_daemon(env=FAST)
        n = notifier(d, url=rec.url)
        rule(d, name="anything live", kind="metric", metric="ganglion_agents_live", op=">=",
             threshold=1, for_s=1, notifiers=[n["id"]])
        start = time.time()  # the condition cannot hold before the agent lives
        a = spawn(d, argv=["/bin/sleep", "30"])
        body = json.loads(rec.wait(1, timeout=20)[0]["body"])
        assert time.time() - start >= 1.0  # held for for_s before it fired
        assert body["event"]["metric"] == "ganglion_agents_live" and body["event"]["value"] >= 1
        d.post(f"/api/v1/agents/{a['id']}/kill")
    finally:
        rec.stop()


def test_pending_notifications_survive_a_restart_delivered_once(make_daemon):
    rec = Receiver()  # not listening yet: deliveries fail and stay pending
    d = make_daemon(env={**FAST, "GANGLION_ALERTS_MAX_ATTEMPTS": "100",
                         "GANGLION_ALERTS_BACKOFF_MAX_MS": "200"})
    n = notifier(d, url=rec.url, secret=SECRET)
    ids = [d.post(f"/api/v1/alerts/notifiers/{n['id']}/test").json()["notifications"][0]
           for _ in range(3)]
    poll(lambda: all(o["attempts"] >= 1 for o in d.get("/api/v1/alerts/outbox").json()["outbox"]),
         what="failed attempts")
    assert d.stop() == 0
    rec.start()
    try:
        d.start()
        rec.wait(3)
        poll(lambda: {h["id"] for h in history(d, state="delivered")} == set(ids),
             what="all delivered")
        seen = [r["headers"]["X-Ganglion-Delivery"] for r in rec.got()]
        assert sorted(seen) == sorted(ids)  # each exactly once
    finally:
        rec.stop()


def test_rules_are_validated_and_audited(daemon):
    r = daemon.post("/api/v1/alerts/rules", json={"name": "x", "kind": "anomaly",
                                                  "notifiers": ["nope"]})
    assert r.status_code == 422 and "no notifier" in r.text
    r = daemon.post("/api/v1/alerts/rules", json={"name": "x", "kind": "metric", "notifiers": ["a"]})
    assert r.status_code == 422
    n = notifier(daemon, url="http://127.0.0.1:9/hook")
    r = rule(daemon, name="x", kind="task", task_type="build*", notifiers=[n["id"]])
    assert daemon.request("DELETE", f"/api/v1/alerts/notifiers/{n['id']}").status_code == 409
    assert daemon.request("DELETE", f"/api/v1/alerts/rules/{r['id']}").status_code == 204
    assert daemon.request("DELETE", f"/api/v1/alerts/rules/{r['id']}").status_code == 404
    audit = daemon.get("/api/v1/audit", params={"limit": "20"}).json()
    text = json.dumps(audit)
    assert "/api/v1/alerts/rules" in text


def test_task_failing_fires_a_task_rule(make_daemon):
    rec = Receiver().start()
    try:
        d = make_daemon(env=FAST)
        n = notifier(d, url=rec.url)
        rule(d, name="builds failing", kind="task", task_type="build*", notifiers=[n["id"]])
        ok = d.post("/api/v1/tasks", json={"type": "lint", "capability": "y", "max_attempts": 1})
        t = d.post("/api/v1/tasks", json={"type": "build-web", "capability": "y", "max_attempts": 1})
        assert t.status_code in (200, 201) and ok.status_code in (200, 201), t.text
        # leased and never answered: the lease lapses and, out of attempts, the tasks fail
        r = d.post("/api/v1/tasks/lease", json={"capabilities": ["y"], "lease_ms": 50, "max": 2})
        assert r.status_code == 200 and len(r.json()["tasks"]) == 2, r.text
        body = json.loads(rec.wait(1)[0]["body"])
        assert body["event"]["id"] == t.json()["id"] and body["event"]["state"] == "failed"
        assert body["group_key"] == "build-web"
        poll(lambda: d.get(f"/api/v1/tasks/{ok.json()['id']}").json()["state"] == "failed",
             what="the other task failed too")
        assert len(rec.got()) == 1  # its type does not match the rule
    finally:
        rec.stop()


def test_brain_overrunning_its_period_fires_a_brain_rule(make_daemon):
    from test_brain import GENOMES, brain_args
    if GENOMES is None or not GENOMES.is_dir():
        pytest.skip("the shipped FEAGI genomes (shared/data/feagi-genomes) are not here")
    rec = Receiver().start()
    try:
        d = make_daemon(env=FAST, args=brain_args())
        n = notifier(d, url=rec.url)
        rule(d, name="slow brains", kind="brain", brain="heavy*", notifiers=[n["id"]])
        r = d.post("/api/v1/brains", json={"genome_name": "vision", "name": "heavy-1"})
        assert r.status_code == 201, r.text
        d.request("PUT", "/api/v1/brains/heavy-1/frequency", json={"frequency_hz": 1000})
        assert d.post("/api/v1/brains/heavy-1/start").status_code == 200
        body = json.loads(rec.wait(1, timeout=30)[0]["body"])
        assert body["topic"] == f"brain.{r.json()['id']}.overrun" and body["event"]["new"] >= 1
        assert "heavy-1 overran" in body["title"]
        d.post("/api/v1/brains/heavy-1/stop")
    finally:
        rec.stop()


def test_outbox_is_bounded_with_a_clear_refusal(make_daemon):
    rec = Receiver()  # never listening: everything stays pending
    d = make_daemon(env={**FAST, "GANGLION_ALERTS_MAX_ATTEMPTS": "1000",
                         "GANGLION_ALERTS_OUTBOX_MAX": "2"})
    n = notifier(d, url=rec.url)
    for _ in range(2):
        assert d.post(f"/api/v1/alerts/notifiers/{n['id']}/test").status_code == 202
    for _ in range(2):
        r = d.post(f"/api/v1/alerts/notifiers/{n['id']}/test")
        assert r.status_code == 503 and r.json()["type"].endswith("outbox-full"), r.text
        assert "alerts.outbox_max (2)" in r.json()["detail"]
    assert metric(d, "ganglion_alerts_outbox_depth") == 2
    assert metric(d, "ganglion_alerts_notifications_total", result="dropped") == 2
    full = [x for x in d.log_lines() if x.get("msg", "").startswith("alerts: outbox full")]
    assert len(full) == 1  # one warning per stretch, every drop counted


def test_delivery_and_restart_on_both_stores(store_kind, request, make_daemon):
    store = request.getfixturevalue("pg_url") if store_kind == "postgres" else None
    rec = Receiver(statuses=(500, 200))
    d = make_daemon(store=store, env={**FAST, "GANGLION_ALERTS_MAX_ATTEMPTS": "100",
                                      "GANGLION_ALERTS_BACKOFF_MAX_MS": "200"})
    n = notifier(d, url=rec.url, secret=SECRET)
    r = rule(d, name="t", kind="task", notifiers=[n["id"]])
    nid = d.post(f"/api/v1/alerts/rules/{r['id']}/test").json()["notifications"][0]
    poll(lambda: d.get("/api/v1/alerts/outbox").json()["outbox"][0]["attempts"] >= 1,
         what="a failed attempt")
    assert d.stop() == 0
    rec.start()
    try:
        d.start()
        assert d.get(f"/api/v1/alerts/rules/{r['id']}").status_code == 200  # rules persist
        got = rec.wait(2)
        assert got[-1]["headers"]["X-Ganglion-Signature"] == signature(SECRET, got[-1]["body"])
        row = poll(lambda: [h for h in history(d, rule=r["id"]) if h["state"] == "delivered"],
                   what="delivered")[0]
        assert row["id"] == nid and row["attempts"] >= 2
    finally:
        rec.stop()


def test_crash_loop_fires_once_restarts_pile_up(make_daemon):
    rec = Receiver().start()
    try:
        d = make_daemon(env={**FAST, "GANGLION_AGENTS_BACKOFF_MS": "20"})
        n = notifier(d, url=rec.url)
        rule(d, name="crash loops", kind="agent", statuses=["failed"], restarts=3, within_s=60,
             notifiers=[n["id"]])
        a = spawn(d, name="loopy", argv=["/bin/false"], restart="on-failure", restart_max=10,
                  restart_window_s=60)
        body = json.loads(rec.wait(1, timeout=30)[0]["body"])
        assert body["group_key"] == a["id"] and body["event"]["status"] == "idle"
        assert body["event"]["reason"].startswith("restarting in")
        assert body["title"] == "agent loopy is crash-looping: 3 ends within 60s"
        # fired at the third end, not before
        assert d.get(f"/api/v1/agents/{a['id']}").json()["restarts"] >= 2
        d.post(f"/api/v1/agents/{a['id']}/stop")
    finally:
        rec.stop()


def test_a_hanging_receiver_times_out_without_holding_the_daemon(make_daemon):
    rec = Receiver(delay_s=3).start()
    try:
        d = make_daemon(env={**FAST, "GANGLION_ALERTS_MAX_ATTEMPTS": "1"})
        n = notifier(d, url=rec.url, timeout_ms=300)
        nid = d.post(f"/api/v1/alerts/notifiers/{n['id']}/test").json()["notifications"][0]
        rec.wait(1)  # the request is in the receiver's hands now
        t0 = time.time()
        assert d.get("/healthz").status_code == 200
        assert time.time() - t0 < 1  # the loop answers while the delivery waits
        row = poll(lambda: [h for h in history(d) if h["id"] == nid and h["state"] == "dead"],
                   what="the attempt timed out")[0]
        assert "Timeout" in row["last_error"] or "timed out" in row["last_error"], row
    finally:
        rec.stop()


def test_old_alert_history_is_removed_by_retention(make_daemon, store_kind, request):
    rec = Receiver().start()
    down = Receiver()  # never listening: its notification stays pending
    try:
        store = request.getfixturevalue("pg_url") if store_kind == "postgres" else None
        d = make_daemon(store=store, env={**FAST, "GANGLION_ALERTS_MAX_ATTEMPTS": "100",
                                          "GANGLION_ALERTS_BACKOFF_MAX_MS": "200",
                                          "GANGLION_RETENTION_INTERVAL_MS": "0"})
        ok = notifier(d, url=rec.url, name="ok")
        bad = notifier(d, url=down.url, name="down")
        sent = [d.post(f"/api/v1/alerts/notifiers/{ok['id']}/test").json()["notifications"][0]
                for _ in range(3)]
        owed = d.post(f"/api/v1/alerts/notifiers/{bad['id']}/test").json()["notifications"][0]
        poll(lambda: {h["id"] for h in history(d, state="delivered")} == set(sent),
             what="delivered")
        assert d.stop() == 0
        old = int(time.time() * 1000) - 40 * 86400 * 1000
        aged = sent[:2] + [owed]
        run_sql(d, "UPDATE alert_outbox SET updated_ms = %d WHERE id IN (%s)"
                % (old, ",".join(f"'{i}'" for i in aged)))
        # the owed one is not tried again during the test, so it stays that old
        run_sql(d, "UPDATE alert_outbox SET next_ms = %d WHERE id = '%s'"
                % (int(time.time() * 1000) + 86400 * 1000, owed))
        d.env.update(GANGLION_RETENTION_INTERVAL_MS="200",
                     GANGLION_RETENTION_ALERTS_MAX_AGE_S=str(30 * 86400))
        d.start()
        poll(lambda: metric(d, "ganglion_retention_removed_total", kind="alerts") == 2,
             what="two old deliveries removed")
        left = {h["id"]: h["state"] for h in history(d)}
        # the recent delivery stays, and a notification still owed is never removed, however old
        assert left == {sent[2]: "delivered", owed: "pending"}, left
    finally:
        rec.stop()
