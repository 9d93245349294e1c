"""Agents' output: ring wrap and resume by sequence, the regular-expression filter, binary and
very long lines, and following logs over SSE."""
import base64
import json
import time

import gsse
from agents_util import SLOW, output, spawn, wait_output, wait_status
from conftest import assert_problem


def test_ring_wraps_and_readers_resume_by_seq(make_daemon):
    # without log files: the rings alone (test_agents_logfiles.py reads beyond them)
    d = make_daemon(args=("--set", "agents.output_buffer=64k", "--set", "agents.line_max=1k",
                          "--set", "agents.log_max_bytes=0"))
    a = spawn(d, "flood", 5000)
    a = wait_status(d, a["id"], "completed")
    assert a["output"]["stdout_lines"] == 5000
    o = output(d, a["id"], limit=10000)
    # 64 KiB holds far fewer than 5000 lines of ~110 bytes each: the oldest went
    assert 0 < o["total"] < 5000 and o["first_seq"] > 1 and o["last_seq"] == 5000
    seqs = [l["seq"] for l in o["lines"]]
    assert seqs == list(range(o["first_seq"], 5001)), "kept lines are contiguous and ordered"
    assert o["lines"][-1]["text"].startswith("line 00005000 ")
    # resume from a seq: only later lines, paged
    mid = seqs[len(seqs) // 2]
    p = output(d, a["id"], since=mid, limit=100)
    assert p["lines"][0]["seq"] == mid + 1 and len(p["lines"]) == 100 and p["has_more"]
    q = output(d, a["id"], since=p["next_since"], limit=100)
    assert q["lines"][0]["seq"] == p["lines"][-1]["seq"] + 1
    t = output(d, a["id"], tail=3)
    assert [l["seq"] for l in t["lines"]] == [4998, 4999, 5000]


def test_regex_filter_and_streams(daemon):
    a = spawn(daemon, name="mix", argv=["sh", "-c",
              "for i in 1 2 3 4 5 6 7 8 9 10; do echo out$i; echo err$i >&2; done"])
    wait_status(daemon, a["id"], "completed")
    o = output(daemon, a["id"], grep="^out(1|7)$")
    assert [l["text"] for l in o["lines"]] == ["out1", "out7", "out10"][:2]
    assert o["total"] == 2
    o = output(daemon, a["id"], stream="stderr", grep="err1")
    assert [l["text"] for l in o["lines"]] == ["err1", "err10"]
    assert all(l["stream"] == "stderr" for l in o["lines"])
    o = output(daemon, a["id"], stream="both", offset=5, limit=5)
    assert len(o["lines"]) == 5 and o["total"] == 20 and o["has_more"]
    assert [l["seq"] for l in o["lines"]] == [6, 7, 8, 9, 10]
    assert_problem(daemon.get(f"/api/v1/agents/{a['id']}/output", params={"grep": "(unclosed"}),
                   422, "grep")
    assert_problem(daemon.get(f"/api/v1/agents/{a['id']}/output", params={"grep": "a" * 600}),
                   (400, 422))
    assert_problem(daemon.get(f"/api/v1/agents/{a['id']}/output", params={"stream": "x"}),
                   (400, 422))


def test_binary_and_very_long_lines(make_daemon):
    d = make_daemon(args=("--set", "agents.line_max=16k",))
    a = spawn(d, "binary")
    wait_status(d, a["id"], "completed")
    lines = output(d, a["id"])["lines"]
    assert lines[0]["text"] == "ok \ufffd\ufffd bytes"
    assert base64.b64decode(lines[0]["data_b64"]) == b"ok \xff\xfe bytes"
    assert base64.b64decode(lines[1]["data_b64"]) == b"nul \x00 here"
    long = [l for l in lines if l["text"].startswith("L")]
    assert sum(len(l["text"]) for l in long) == 100000, "nothing of the long line is lost"
    assert all(l.get("cont") for l in long[:-1]) and not long[-1].get("cont")
    assert len(long) == 7 and len(long[0]["text"]) == 16384
    assert lines[-2]["text"] == "after"
    assert lines[-1]["text"] == "no newline at the end" and lines[-1]["noeol"]


def test_logs_follow_replays_then_streams_live(daemon):
    a = spawn(daemon, "interactive")
    o = wait_output(daemon, a["id"], lambda o: o["total"] >= 5)
    since = o["lines"][1]["seq"]
    c = gsse.SSEClient(daemon.url, f"/api/v1/agents/{a['id']}/logs?follow=1&since={since}",
                       timeout=5 * SLOW)
    got = []
    end = time.time() + 10 * SLOW
    while time.time() < end and len(got) < 20:
        ev = c.next_event()
        if ev is None or ev.is_comment or ev.event != f"agent.{a['id']}.output":
            continue
        got.append(json.loads(ev.data))
    c.close()
    seqs = [g["seq"] for g in got]
    assert seqs[0] == since + 1, seqs
    assert seqs == list(range(since + 1, since + 1 + len(seqs))), "no gap between replay and live"
    assert all(g["text"].startswith("tick ") for g in got)
    # follow=false answers like /output
    r = daemon.get(f"/api/v1/agents/{a['id']}/logs", params={"follow": "false", "since": since})
    assert r.status_code == 200 and r.json()["lines"][0]["seq"] == since + 1
    daemon.post(f"/api/v1/agents/{a['id']}/kill", json={})


def test_output_events_match_the_ring(daemon):
    """Output and status events are written without building JSON objects: every line's event
    must decode to what /output answers (escapes, control characters, non-ASCII, split and
    unterminated lines), and the status events carry the agent object's fields."""
    path = "/api/v1/stream?topics=agent.*.output,agent.*.status,test.marker"
    with gsse.SSEClient(daemon.url, path, timeout=5 * SLOW) as c:
        # a marker comes back once the subscription exists: no status event can be missed
        subscribed = False
        for _ in range(40):
            daemon.publish("test.marker", {})
            try:
                while not subscribed:
                    ev = c.next_event(timeout=0.25 * SLOW)
                    subscribed = ev is not None and ev.event == "test.marker"
            except TimeoutError:
                continue
            break
        assert subscribed, "the stream never delivered the marker"
        a = spawn(daemon, "escapes", name='esc "q" \\ ✓')
        wait_status(daemon, a["id"], "completed")
        got, status = [], []
        end = time.time() + 10 * SLOW
        while time.time() < end and not (status and status[-1]["status"] == "completed"):
            ev = c.next_event()
            if ev is None or ev.is_comment:
                continue
            if ev.event == f"agent.{a['id']}.output":
                got.append(json.loads(ev.data))
            elif ev.event == f"agent.{a['id']}.status":
                status.append(json.loads(ev.data))
    lines = output(daemon, a["id"])["lines"]
    assert got == lines
    assert lines[0]["text"] == 'quote " backslash \\ tab \t ctl \x01\x1f del \x7f é ✓ 😀'
    assert lines[1]["cont"] and "".join(l["text"] for l in lines[1:-1]) == "M" * 20000
    assert lines[-1]["text"] == "cr \r slash / end" and lines[-1]["noeol"]
    assert [(e["previous"], e["status"]) for e in status] == [
        ("idle", "initializing"), ("initializing", "running"), ("running", "completed")]
    assert all(e["id"] == a["id"] and e["name"] == 'esc "q" \\ ✓' and e["ts"] > 0 for e in status)
    assert status[1]["pid"] == a["pid"] and "exit_code" not in status[1]
    assert status[-1]["exit_code"] == 0 and status[-1]["reason"] == "exited with code 0"
    # the ended agent's tail (written as JSON text without jansson) comes back after a restart
    time.sleep(0.3)
    daemon.restart()
    assert output(daemon, a["id"])["lines"] == lines
