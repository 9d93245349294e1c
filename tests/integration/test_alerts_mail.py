"""The email notifier against a real SMTP server on loopback (aiosmtpd): an anomaly found in
`ganglion synth`'s events reaches the mailbox once with the alert in its subject, a relay that is
down is retried until it answers, and a mail owed when the daemon stops is sent after it starts
again — exactly once."""
import subprocess

from alerts_util import history, notifier, poll, rule
from conftest import assert_problem
from smtp_sink import SmtpSink

FAST = {"GANGLION_ALERTS_BACKOFF_MS": "50", "GANGLION_ALERTS_MAX_ATTEMPTS": "100",
        "GANGLION_ALERTS_BACKOFF_MAX_MS": "200", "GANGLION_ALERTS_TIMEOUT_MS": "3000"}
FROM = "ganglion@example.test"
TO = "oncall@example.test"


def mail_env(sink, **extra):
    return {**FAST, "GANGLION_MAIL_SMTP_URL": sink.url, "GANGLION_MAIL_FROM": FROM, **extra}


def drained(d):
    return all(h["state"] != "pending" for h in history(d))


def test_an_anomaly_from_synth_is_mailed_once(make_daemon, bin):
    sink = SmtpSink().start()
    try:
        d = make_daemon(env=mail_env(sink))
        n = notifier(d, kind="email", name="on-call", to=TO)
        assert n["to"] == TO
        rule(d, name="synthetic anomalies", kind="anomaly", stream="synth*", min_severity="medium",
             notifiers=[n["id"]], group_window_s=600)
        p = subprocess.run([str(bin), "synth", "--count", "1500", "--seed", "3", "--stream",
                            "synthetic", "--url", d.url], capture_output=True, text=True,
                           timeout=120, env=d.cli_env())
        assert p.returncode == 0, p.stderr
        got = sink.wait_for(TO, timeout=60)[0]
        msg = got["msg"]
        assert got["from"] == FROM and msg["From"] == FROM and msg["To"] == TO
        subject = str(msg["Subject"])
        assert subject.startswith("[ganglion] [") and "anomaly on stream synthetic" in subject
        text = msg.get_content()
        assert "rule:     synthetic anomalies (anomaly)" in text
        assert '\n  "stream": "synthetic",' in text.replace("\r\n", "\n")  # the event, indented
        assert max(len(line) for line in got["raw"].split(b"\r\n")) <= 998
        poll(lambda: drained(d), what="the outbox drained")
        assert [h["state"] for h in history(d)] == ["delivered"]
        assert len(sink.to(TO)) == 1, "several anomalies, one incident, one mail"
    finally:
        sink.stop()


def test_a_relay_that_is_down_is_retried_until_it_answers(make_daemon):
    sink = SmtpSink()  # its port is chosen but nothing listens yet
    d = make_daemon(env=mail_env(sink))
    n = notifier(d, kind="email", name="ops", to=TO, subject="{{severity}}: {{title}}",
                 template="Alert {{alert_id}} on {{topic}}\n")
    r = d.post(f"/api/v1/alerts/notifiers/{n['id']}/test")
    assert r.status_code == 202, r.text
    nid = r.json()["notifications"][0]
    row = poll(lambda: [o for o in d.get("/api/v1/alerts/outbox").json()["outbox"]
                        if o["id"] == nid and o["attempts"] >= 2], what="failed attempts")[0]
    assert row["state"] == "pending" and row["last_error"], row
    sink.start()
    try:
        got = sink.wait_for(TO, timeout=15)[0]
        assert str(got["msg"]["Subject"]) == "info: test notification of notifier ops"
        alert_id = history(d)[0]["alert_id"]
        assert got["msg"].get_content().replace("\r\n", "\n") == f"Alert {alert_id} on alerts.test\n"
        done = poll(lambda: [h for h in history(d) if h["id"] == nid and h["state"] == "delivered"],
                    what="delivered")[0]
        assert done["attempts"] >= 3 and done["last_error"] == ""
        assert len(sink.to(TO)) == 1
    finally:
        sink.stop()


def test_a_mail_owed_at_shutdown_is_sent_after_a_restart_once(make_daemon):
    sink = SmtpSink()  # down while the daemon first runs
    d = make_daemon(env=mail_env(sink))
    n = notifier(d, kind="email", name="ops", to=TO)
    ids = [d.post(f"/api/v1/alerts/notifiers/{n['id']}/test").json()["notifications"][0]
           for _ in range(2)]
    poll(lambda: all(o["attempts"] >= 1 for o in d.get("/api/v1/alerts/outbox").json()["outbox"]),
         what="failed attempts")
    assert d.stop() == 0
    sink.start()
    try:
        d.start()
        sink.wait_for(TO, count=2, timeout=15)
        poll(lambda: {h["id"] for h in history(d, state="delivered")} == set(ids),
             what="both delivered")
        assert len(sink.to(TO)) == 2  # each exactly once
    finally:
        sink.stop()


def test_email_notifiers_are_checked(make_daemon):
    d = make_daemon()  # no [mail] relay configured
    r = d.post("/api/v1/alerts/notifiers", json={"name": "m", "kind": "email", "to": TO})
    assert_problem(r, 409)
    assert "mail.smtp_url" in r.json()["detail"]
    sink = SmtpSink()
    d2 = make_daemon(env=mail_env(sink))
    for bad in ("not-an-address", "a b@example.test", "<x@example.test>"):
        r = d2.post("/api/v1/alerts/notifiers", json={"name": "m", "kind": "email", "to": bad})
        assert_problem(r, 422, field="to")
    r = d2.post("/api/v1/alerts/notifiers", json={"name": "m", "kind": "email"})
    assert_problem(r, 422, field="to")


def test_a_refused_recipient_ends_as_a_dead_letter_with_the_relay_reply(make_daemon):
    sink = SmtpSink().start()  # refuses RCPT TO addresses starting with "bounce" (550)
    try:
        d = make_daemon(env=mail_env(sink, GANGLION_ALERTS_MAX_ATTEMPTS="2"))
        n = notifier(d, kind="email", name="gone", to="bounce@example.test")
        nid = d.post(f"/api/v1/alerts/notifiers/{n['id']}/test").json()["notifications"][0]
        dead = poll(lambda: [o for o in d.get("/api/v1/alerts/outbox", params={"state": "dead"})
                             .json()["outbox"] if o["id"] == nid], what="the dead letter")[0]
        assert dead["attempts"] == 2 and "550" in dead["last_error"], dead
        assert sink.rcpts.count("bounce@example.test") == 2 and sink.messages == []
    finally:
        sink.stop()
