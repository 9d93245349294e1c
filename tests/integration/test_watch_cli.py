"""`ganglion watch anomalies|show|ack|resolve|false-positive|incidents|streams` as a user runs
them: the real CLI binary against the real daemon, output and exit codes, and `anomalies -f`
showing an anomaly found while it runs."""

import json
import os
import selectors
import signal
import subprocess
import time

import pytest

from conftest import free_port
from gzmq import zmq_daemon
from watch_util import SLOW, burst_lines, make_stream, normal_lines, post_events, wait_settled


def cli_env(d):
    env = d.cli_env()
    env.pop("GANGLION_URL", None)
    return env


def cli(d, *args):
    return subprocess.run([d.bin, "--url", d.url, *args], capture_output=True, text=True,
                          timeout=30 * SLOW, env=cli_env(d))


# Three bursts 60 normal lines apart, in one post: one incident (they come within
# watch.incident_gap_s) of several anomalies. A burst's overlapping windows add an anomaly only
# for a message new to the stream, so one burst of 20 lines alone gives one or two.
BURSTS = normal_lines(100) + burst_lines(20) + normal_lines(60, 100) + burst_lines(20) + \
    normal_lines(60, 160) + burst_lines(20)


def burst(d, stream):
    make_stream(d, stream)
    assert post_events(d, stream, BURSTS).status_code == 202
    return wait_settled(d, stream, len(BURSTS))["anomalies"]


def test_list_show_and_review_from_the_cli(daemon):
    found = burst(daemon, "app")
    assert len(found) >= 3
    p = cli(daemon, "watch", "anomalies")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:4] == ["TIME", "STREAM", "SEVERITY", "STATUS"]
    # newest first, in the daemon's order, each with its incident
    assert [next(w for w in ln.split() if w in {a["id"] for a in found}) for ln in lines[1:]] == \
        [a["id"] for a in found]
    assert all(found[0]["incident_id"] in ln and "pending" in ln for ln in lines[1:])
    p = cli(daemon, "--json", "watch", "anomalies", "--stream", "app", "--limit", "1")
    body = json.loads(p.stdout)
    assert p.returncode == 0 and body["total"] == len(found) and len(body["anomalies"]) == 1
    p = cli(daemon, "watch", "anomalies", "--stream", "other")
    assert p.returncode == 0 and p.stdout.strip() == "no anomalies"
    crit = [a for a in found if a["severity"] == "critical"]
    p = cli(daemon, "watch", "anomalies", "--severity", "critical")
    assert p.returncode == 0 and len(p.stdout.splitlines()) == (len(crit) + 1 if crit else 1)

    a, b = found[0], found[1]
    p = cli(daemon, "watch", "show", a["id"])
    assert p.returncode == 0, p.stderr
    assert a["id"] in p.stdout and a["incident_id"] in p.stdout
    assert "explanation:" in p.stdout and a["glass_box_explanation"][:40] in p.stdout
    assert "window (the evidence)" in p.stdout and "details:" in p.stdout

    # pending → acknowledged in one step, then resolved with a note
    p = cli(daemon, "watch", "ack", a["id"])
    assert p.returncode == 0 and p.stdout.strip() == f"anomaly {a['id']}: acknowledged", p.stderr
    p = cli(daemon, "watch", "resolve", a["id"], "--note", "fixed in 1.2")
    assert p.returncode == 0, p.stderr
    got = daemon.get(f"/api/v1/watch/anomalies/{a['id']}").json()
    assert got["status"] == "resolved" and got["notes"] == "fixed in 1.2"
    assert got["acknowledged_by"]
    # resolved cannot be acknowledged without reopening: refused, exit 1, the moves named
    p = cli(daemon, "watch", "ack", a["id"])
    assert p.returncode == 1 and "409" in p.stderr and "investigating" in p.stderr
    p = cli(daemon, "watch", "false-positive", b["id"])
    assert p.returncode == 0, p.stderr
    got = daemon.get(f"/api/v1/watch/anomalies/{b['id']}").json()
    assert got["status"] == "dismissed" and got["tags"] == ["false-positive"]
    assert cli(daemon, "watch", "false-positive", b["id"]).returncode == 0  # already: fine

    inc = a["incident_id"]
    p = cli(daemon, "watch", "incidents")
    assert p.returncode == 0 and inc in p.stdout and "app" in p.stdout
    p = cli(daemon, "watch", "ack", inc, "--note", "paging db team")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"incident {inc}: ")
    moved = len(found) - 2  # the resolved and the dismissed one cannot be acknowledged
    assert f"({moved} anomalies moved" in p.stdout
    assert f"{a['id']} stays resolved" in p.stdout and f"{b['id']} stays dismissed" in p.stdout
    p = cli(daemon, "watch", "show", inc)
    assert p.returncode == 0 and "paging db team" in p.stdout
    assert all(x["id"] in p.stdout for x in found)
    p = cli(daemon, "watch", "streams")
    assert p.returncode == 0
    row = next(ln for ln in p.stdout.splitlines() if ln.startswith("app "))
    assert row.split()[:4] == ["app", "logs", str(len(BURSTS)), str(len(BURSTS))]


def test_cli_usage_errors_and_unreachable(daemon):
    for args in (("watch", "anomalies", "--severity", "huge"),
                 ("watch", "anomalies", "--limit", "0"),
                 ("watch", "ack"),
                 ("watch", "ack", "two words"),
                 ("watch", "show"),
                 ("watch", "incidents", "--bogus")):
        p = cli(daemon, *args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert p.stderr.startswith("error:"), (args, p.stderr)
    p = cli(daemon, "watch", "show", "no-such-anomaly")
    assert p.returncode == 1 and "404" in p.stderr
    p = cli(daemon, "watch", "resolve", "inc-nothing")
    assert p.returncode == 1 and "no incident" in p.stderr
    p = subprocess.run([daemon.bin, "--url", f"http://127.0.0.1:{free_port()}", "watch", "streams"],
                       capture_output=True, text=True, timeout=30, env=cli_env(daemon))
    assert p.returncode == 3
    p = cli(daemon, "watch", "anomalies", "--help")
    assert p.returncode == 0 and "--follow" in p.stdout and "--severity" in p.stdout


def _read_until(proc, sel, pred, timeout):
    """Reads proc's stdout lines until pred(line) is true; returns everything read."""
    out = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _key, _ in sel.select(timeout=0.2):
            chunk = os.read(proc.stdout.fileno(), 65536).decode()
            if not chunk:
                return out
            out += chunk
        if any(pred(ln) for ln in out.splitlines()):
            return out
    raise AssertionError(f"nothing matched within {timeout}s; read: {out!r}")


@pytest.mark.parametrize("via", ["http", "zmq"])
def test_follow_prints_an_anomaly_found_while_it_runs(make_daemon, via):
    daemon, rpc, _ = zmq_daemon(make_daemon)
    url = rpc if via == "zmq" else daemon.url
    make_stream(daemon, "live")
    proc = subprocess.Popen([daemon.bin, "--via", via, "--url", url, "watch", "anomalies", "-f",
                             "--stream", "live"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=cli_env(daemon))
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        _read_until(proc, sel, lambda ln: ln == "no anomalies", 10 * SLOW)
        assert post_events(daemon, "live", normal_lines(100) + burst_lines(20)).status_code == 202
        out = _read_until(proc, sel, lambda ln: "live" in ln and "pending" in ln, 30 * SLOW)
        stored = wait_settled(daemon, "live", 120)["anomalies"]
        shown = [ln for ln in out.splitlines() if "live" in ln]
        assert any(a["id"] in shown[0] and a["incident_id"] in shown[0] for a in stored)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the review verbs travel the same way
    p = subprocess.run([daemon.bin, "--via", via, "--url", url, "watch", "ack",
                        stored[0]["incident_id"]], capture_output=True, text=True,
                       timeout=30 * SLOW, env=cli_env(daemon))
    assert p.returncode == 0 and f"({len(stored)} anomalies moved" in p.stdout, p.stderr
