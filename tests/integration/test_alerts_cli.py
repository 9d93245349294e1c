"""`ganglion alert rules|notifiers|test|history|outbox|retry|silence|rule-add|notifier-add|rm`
against a real daemon and a real local HTTP receiver."""
import json
import os
import subprocess

from agents_util import ROOT
from alerts_util import Receiver, poll

FAST = {"GANGLION_ALERTS_BACKOFF_MS": "50", "GANGLION_ALERTS_MAX_ATTEMPTS": "2"}


def run(d, *args, timeout=30):
    env = d.cli_env()
    env["GANGLION_URL"] = d.url
    return subprocess.run([os.environ.get("GANGLION_BIN", str(ROOT / "build" / "ganglion")),
                           *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_alert_cli(make_daemon):
    rec = Receiver(statuses=(500, 500, 200)).start()
    try:
        d = make_daemon(env=FAST)
        r = run(d, "alert", "notifier-add", json.dumps({"name": "ops-hook", "kind": "webhook",
                                                         "url": rec.url}))
        assert r.returncode == 0, r.stderr
        nid = r.stdout.strip()
        r = run(d, "alert", "rule-add", json.dumps({"name": "web-anomalies", "kind": "anomaly",
                                                     "stream": "web-*", "notifiers": [nid]}))
        assert r.returncode == 0, r.stderr
        rid = r.stdout.strip()
        ls = run(d, "alert", "rules")
        assert ls.returncode == 0 and "web-anomalies" in ls.stdout and rid in ls.stdout
        assert "ops-hook" in run(d, "alert", "notifiers").stdout
        # a test by the rule's name: 500 twice (max 2 attempts) makes a dead letter
        t = run(d, "alert", "test", "web-anomalies")
        assert t.returncode == 0, t.stderr
        first = t.stdout.strip()
        poll(lambda: first in run(d, "alert", "outbox", "--state", "dead").stdout,
             what="dead letter")
        hist = json.loads(run(d, "--json", "alert", "history").stdout)["history"]
        assert hist[0]["id"] == first and hist[0]["state"] == "dead"
        r = run(d, "alert", "retry", first)
        assert r.returncode == 0 and "pending again" in r.stdout, r.stderr
        poll(lambda: "delivered" in run(d, "alert", "history", "--rule", rid).stdout,
             what="delivered after the retry")
        # silence by name, then end it
        s = run(d, "alert", "silence", "web-anomalies", "600", "--reason", "deploy")
        assert s.returncode == 0 and s.stdout.strip().endswith("Z"), s.stderr
        assert "silenced_until" in run(d, "--json", "alert", "rules").stdout
        assert run(d, "alert", "silence", "web-anomalies", "0").stdout.strip() == "silence ended"
        # unknown names and bad arguments are refused with a reason
        bad = run(d, "alert", "test", "no-such")
        assert bad.returncode != 0 and "no rule or notifier" in bad.stderr
        assert run(d, "alert", "history", "--state", "a&b=c").returncode == 2
        busy = run(d, "alert", "rm", "ops-hook")
        assert busy.returncode != 0 and "409" in busy.stderr
        assert run(d, "alert", "rm", "web-anomalies").returncode == 0
        assert run(d, "alert", "rm", "ops-hook").returncode == 0
        assert json.loads(run(d, "--json", "alert", "rules").stdout) == {"rules": []}
    finally:
        rec.stop()
