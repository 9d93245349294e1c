"""Editing alert rules and notifiers in place (PUT), as an operator does after creating them: the
replacement is what GET and a restarted daemon return, what the edit must not change (creation
time, a silence in force, the team, a notifier's secret) is kept, and a bad edit is a problem
that leaves the stored document exactly as it was."""
from alerts_util import notifier, rule


def put(d, path, body):
    return d.request("PUT", path, json=body)


def test_rule_edit_replaces_it_and_keeps_what_it_must(daemon):
    d = daemon
    a = notifier(d, name="first", url="http://127.0.0.1:9/a")
    b = notifier(d, name="second", url="http://127.0.0.1:9/b")
    r = rule(d, name="builds", kind="task", task_type="build*", notifiers=[a["id"]])
    s = d.post(f"/api/v1/alerts/rules/{r['id']}/silence", json={"seconds": 600, "reason": "deploy"})
    assert s.status_code == 200, s.text

    e = put(d, f"/api/v1/alerts/rules/{r['id']}",
            {"name": "lint", "kind": "task", "task_type": "lint*", "notifiers": [b["id"]]})
    assert e.status_code == 200, e.text
    got = e.json()
    assert got["id"] == r["id"] and got["name"] == "lint" and got["task_type"] == "lint*"
    assert got["notifiers"] == [b["id"]]
    assert got["created_at"] == r["created_at"]
    assert got["silence_reason"] == "deploy"  # a silence in force outlives the edit

    # the old notifier is free now; the new one is held by the rule
    assert d.request("DELETE", f"/api/v1/alerts/notifiers/{a['id']}").status_code == 204
    busy = d.request("DELETE", f"/api/v1/alerts/notifiers/{b['id']}")
    assert busy.status_code == 409 and busy.json()["rule"] == r["id"], busy.text

    d.restart()
    again = d.get(f"/api/v1/alerts/rules/{r['id']}").json()
    assert again["name"] == "lint" and again["notifiers"] == [b["id"]], again


def test_a_bad_rule_edit_is_refused_and_changes_nothing(daemon):
    d = daemon
    n = notifier(d, url="http://127.0.0.1:9/hook")
    r = rule(d, name="builds", kind="task", task_type="build*", notifiers=[n["id"]])
    path = f"/api/v1/alerts/rules/{r['id']}"

    gone = put(d, path, {"name": "x", "kind": "task", "task_type": "x", "notifiers": ["nope"]})
    assert gone.status_code == 422, gone.text
    assert gone.headers["Content-Type"].startswith("application/problem+json")
    assert any(e["field"] == "notifiers" and "nope" in e["message"] for e in gone.json()["errors"])

    bad = put(d, path, {"name": "x", "kind": "metric", "notifiers": [n["id"]]})
    assert bad.status_code == 422, bad.text

    team = put(d, path, {"name": "x", "kind": "task", "task_type": "x", "notifiers": [n["id"]],
                         "team": "t1"})
    assert team.status_code == 422 and "fixed at creation" in team.text, team.text

    assert d.get(path).json() == r  # every refusal left the rule as it was

    missing = put(d, "/api/v1/alerts/rules/ffffffffffffffff",
                  {"name": "x", "kind": "task", "task_type": "x", "notifiers": [n["id"]]})
    assert missing.status_code == 404 and missing.json()["type"].endswith("not-found"), missing.text
    for method, p in (("GET", "/api/v1/alerts/rules/ffffffffffffffff"),
                      ("POST", "/api/v1/alerts/rules/ffffffffffffffff/test"),
                      ("POST", "/api/v1/alerts/rules/ffffffffffffffff/silence")):
        kw = {"json": {"seconds": 5}} if p.endswith("silence") else {}
        got = d.request(method, p, **kw)
        assert got.status_code == 404, (method, p, got.text)


def test_notifier_edit_keeps_its_secret_unless_replaced(daemon):
    d = daemon
    n = notifier(d, name="hook", url="http://127.0.0.1:9/private/path", secret="s" * 32)
    assert n["has_secret"] is True and n["url"] == "http://127.0.0.1:9/..."  # the path is hidden
    path = f"/api/v1/alerts/notifiers/{n['id']}"

    e = put(d, path, {"name": "renamed", "kind": "webhook", "url": "http://127.0.0.1:9/other"})
    assert e.status_code == 200, e.text
    assert e.json()["name"] == "renamed" and e.json()["has_secret"] is True
    assert "secret" not in e.json()
    got = d.get(path).json()
    assert got["name"] == "renamed" and got["created_at"] == n["created_at"]

    bad = put(d, path, {"name": "x", "kind": "webhook"})  # no url
    assert bad.status_code == 422, bad.text
    assert d.get(path).json() == got

    mail = put(d, path, {"name": "x", "kind": "email", "to": "ops@example.org"})
    assert mail.status_code == 409 and mail.json()["type"].endswith("mail-not-configured"), mail.text

    for method in ("GET", "PUT", "DELETE"):
        kw = {"json": {"name": "x", "kind": "webhook", "url": "http://127.0.0.1:9/"}} \
            if method == "PUT" else {}
        miss = d.request(method, "/api/v1/alerts/notifiers/ffffffffffffffff", **kw)
        assert miss.status_code == 404, (method, miss.text)
    assert d.post("/api/v1/alerts/notifiers/ffffffffffffffff/test").status_code == 404

    d.restart()
    assert d.get(path).json()["name"] == "renamed"
