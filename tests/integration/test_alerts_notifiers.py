"""How a notifier's failures reach the operator: an exec command that hangs is killed at its
timeout, one ended by a signal or that ignores its stdin is reported as such, and settings that
can never deliver (a URL that is not HTTP, a chat notifier without its template) are refused up
front with the field named."""
import sys

from alerts_util import history, notifier, poll

FAST = {"GANGLION_ALERTS_BACKOFF_MS": "50", "GANGLION_ALERTS_MAX_ATTEMPTS": "1"}


def fire(d, n):
    r = d.post(f"/api/v1/alerts/notifiers/{n['id']}/test")
    assert r.status_code == 202, r.text
    return r.json()["notifications"][0]


def settled(d, nid):
    return poll(lambda: [h for h in history(d) if h["id"] == nid and h["state"] in ("delivered",
                                                                                  "dead")],
                what=f"notification {nid} settled")[0]


def test_exec_failures_are_told_apart(make_daemon):
    d = make_daemon(env=FAST)
    hang = notifier(d, name="hang", kind="exec", timeout_ms=300,
                    argv=[sys.executable, "-c", "import time; time.sleep(30)"])
    signal = notifier(d, name="signal", kind="exec",
                      argv=[sys.executable, "-c", "import os; os.kill(os.getpid(), 15)"])
    deaf = notifier(d, name="deaf", kind="exec", argv=["/bin/true"])
    ids = {n["name"]: fire(d, n) for n in (hang, signal, deaf)}

    row = settled(d, ids["hang"])
    assert row["state"] == "dead" and row["last_error"] == "killed after 300 ms", row
    row = settled(d, ids["signal"])
    assert row["state"] == "dead" and row["last_error"] == "ended by signal 15", row
    row = settled(d, ids["deaf"])  # a command need not read the alert to succeed
    assert row["state"] == "delivered", row
    assert d.get("/healthz").status_code == 200


def test_notifiers_that_cannot_deliver_are_refused(daemon):
    for body, field in (({"kind": "webhook", "url": "ftp://example.org/hook"}, "url"),
                        ({"kind": "slack", "url": "file:///etc/passwd"}, "url"),
                        ({"kind": "chat", "url": "http://127.0.0.1:9/chat"}, "template")):
        r = daemon.post("/api/v1/alerts/notifiers", json=dict(body, name="x"))
        assert r.status_code == 422, (body, r.text)
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    ok = daemon.post("/api/v1/alerts/notifiers",
                     json={"name": "chat", "kind": "chat", "url": "http://127.0.0.1:9/chat",
                           "template": "{\"text\":\"{{title}}\"}"})
    assert ok.status_code == 201, ok.text
    assert daemon.get("/api/v1/alerts/notifiers").json()["notifiers"] == [ok.json()]
