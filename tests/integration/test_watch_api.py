"""watch: streams, ingest (JSON, arrays, NDJSON, text), bad input, back-pressure, anomalies with
their evidence, the review workflow, signed export checked by `ganglion watch verify`, the live
feed, metrics — against the real daemon, anomalies seeded by normal traffic and a burst."""

import json
import re
import os
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

import agents_util

from conftest import assert_problem
from gsse import SSEClient
from watch_util import (SANITIZED, SLOW, burst_lines, make_stream, ndjson, normal_lines,
                        post_events, seed, wait_anomalies, wait_settled)

EVIDENCE = ("id", "timestamp", "stream", "stream_type", "ncd_score", "p_value", "confidence_level",
            "is_statistically_significant", "compression_baseline", "compression_window",
            "compression_combined", "compression_ratio_change", "baseline_entropy",
            "window_entropy", "entropy_change", "glass_box_explanation", "detailed_explanation",
            "baseline_data", "window_data", "novel_lines", "metadata", "tags", "status", "notes",
            "acknowledged_by", "acknowledged_at", "dismissed_by", "dismissed_at", "created_at",
            "updated_at")


# ---- streams ----------------------------------------------------------------------------------

def test_stream_put_get_list_delete_and_persisted(make_daemon):
    d = make_daemon()
    r = d.request("PUT", "/api/v1/watch/streams/app.logs",
                  json={"type": "logs", "settings": {"baseline": 100, "window": 20, "hop": 5,
                                                     "ncd_threshold": 0.4}})
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["name"] == "app.logs" and s["type"] == "logs"
    assert s["settings"]["baseline"] == 100 and s["settings"]["window"] == 20
    assert s["settings"]["ncd_threshold"] == pytest.approx(0.4)
    assert s["settings"]["permutations"] == 1000  # not overridden: the default
    # the [watch] defaults are the detector's own (novelty 0.15, flood 0.3)
    assert s["settings"]["flood_threshold"] == pytest.approx(0.3)
    r = d.request("PUT", "/api/v1/watch/streams/plain.logs", json={"type": "logs"})
    assert r.status_code == 201, r.text
    assert r.json()["settings"]["ncd_threshold"] == pytest.approx(0.15)
    assert r.json()["settings"]["flood_threshold"] == pytest.approx(0.3)
    r = d.request("PUT", "/api/v1/watch/streams/plain.logs",
                  json={"settings": {"flood_threshold": 1.5}})
    assert_problem(r, 422, field="/settings/flood_threshold")
    d.request("DELETE", "/api/v1/watch/streams/plain.logs")
    assert s["overrides"] == {"baseline": 100, "window": 20, "hop": 5, "ncd_threshold": 0.4}

    r = d.request("PUT", "/api/v1/watch/streams/app.logs", json={"settings": {"hop": 10}})
    assert r.status_code == 200, r.text
    assert r.json()["settings"]["hop"] == 10 and r.json()["settings"]["baseline"] == 400

    assert [x["name"] for x in d.get("/api/v1/watch/streams").json()["streams"]] == ["app.logs"]
    d.restart()
    r = d.get("/api/v1/watch/streams/app.logs")
    assert r.status_code == 200 and r.json()["settings"]["hop"] == 10
    assert d.request("DELETE", "/api/v1/watch/streams/app.logs").status_code == 204
    assert_problem(d.get("/api/v1/watch/streams/app.logs"), 404)
    d.restart()
    assert d.get("/api/v1/watch/streams").json()["streams"] == []


def test_stream_bad_settings_name_the_field(daemon):
    r = daemon.request("PUT", "/api/v1/watch/streams/s", json={"settings": {"window": 10, "hop": 20}})
    assert_problem(r, 422, field="/settings/hop", in_="body")
    r = daemon.request("PUT", "/api/v1/watch/streams/s", json={"type": "nonsense"})
    assert_problem(r, 422, field="/type", in_="body")
    r = daemon.request("PUT", "/api/v1/watch/streams/s", json={"settings": {"baseline": "big"}})
    assert_problem(r, 422, field="/settings/baseline", in_="body")
    r = daemon.request("PUT", "/api/v1/watch/streams/s", json={"settings": {"p_threshold": 7}})
    assert_problem(r, 422, field="/settings/p_threshold", in_="body")
    r = daemon.request("PUT", "/api/v1/watch/streams/bad%20name", json={})
    assert_problem(r, 422, field="name", in_="path")
    assert daemon.get("/api/v1/watch/streams").json()["streams"] == []


# ---- ingest -------------------------------------------------------------------------------------

def test_ingest_one_event_array_ndjson_and_text(daemon):
    r = daemon.post("/api/v1/watch/events?stream=web", json={"message": "hello", "level": "info"})
    assert r.status_code == 202, r.text
    assert r.json() == {"stream": "web", "created": True, "accepted": 1, "rejected": [],
                        "durable": False}

    r = daemon.post("/api/v1/watch/events?stream=web", json=["a line", {"message": "x"}, 42])
    assert r.status_code == 202 and r.json()["accepted"] == 3 and not r.json()["created"]

    body = '{"message": "one"}\n{not json}\n\ntrue\n{bad\n{"message": "three"}\n'
    r = daemon.post("/api/v1/watch/events?stream=web", data=body,
                    headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 2
    assert [x["index"] for x in r.json()["rejected"]] == [1, 2, 3]
    assert "not JSON" in r.json()["rejected"][0]["reason"]
    assert "object, a string or a number" in r.json()["rejected"][1]["reason"]

    r = daemon.post("/api/v1/watch/events?stream=web", data="first line\nsecond line\n",
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 202 and r.json()["accepted"] == 2

    s = daemon.get("/api/v1/watch/streams/web").json()
    assert s["stats"]["events_in"] == 8
    st = daemon.get("/api/v1/watch/stats").json()
    assert st["events_in"] == 8 and st["events_rejected"] == 3


def test_unknown_stream_is_created_with_defaults_and_type(daemon):
    r = daemon.post("/api/v1/watch/events?stream=cpu.load&type=metrics", json=[0.5, 0.7, "0.9"])
    assert r.status_code == 202 and r.json()["created"] is True and r.json()["accepted"] == 3
    s = daemon.get("/api/v1/watch/streams/cpu.load").json()
    assert s["type"] == "metrics" and s["overrides"] == {}
    assert s["settings"]["baseline"] == 400 and s["settings"]["window"] == 50
    # a metrics stream takes numbers only, each refusal by index
    r = daemon.post("/api/v1/watch/events?stream=cpu.load", json=[1.0, "high", {"value": 2}])
    assert r.status_code == 202
    assert r.json()["accepted"] == 2 and [x["index"] for x in r.json()["rejected"]] == [1]
    daemon.restart()
    assert daemon.get("/api/v1/watch/streams/cpu.load").json()["type"] == "metrics"


def test_ingest_bad_input_is_a_problem_and_changes_nothing(make_daemon):
    # a 128 KiB body limit keeps the too-big request small enough to be answered before the
    # client has finished sending it (the 1 MiB default works the same way)
    d = make_daemon(env={"GANGLION_WATCH_MAX_EVENTS": "5", "GANGLION_SERVER_BODY_LIMIT": "128k"})
    r = d.post("/api/v1/watch/events?stream=s", data="{nope",
               headers={"Content-Type": "application/json"})
    assert_problem(r, 400)
    r = d.post("/api/v1/watch/events?stream=s", json=[True, None, {}, []])
    body = assert_problem(r, 422, field="/0", in_="body")
    assert [e["field"] for e in body["errors"]] == ["/0", "/1", "/2", "/3"]
    assert body["accepted"] == 0 and len(body["rejected"]) == 4
    assert_problem(d.post("/api/v1/watch/events", json={"m": 1}), 422, field="stream", in_="query")
    assert_problem(d.post("/api/v1/watch/events?stream=no%20spaces", json={"m": 1}), 422,
                   field="stream", in_="query")
    assert_problem(d.post("/api/v1/watch/events?stream=s&type=blob", json={"m": 1}), 422,
                   field="type", in_="query")
    r = d.post("/api/v1/watch/events?stream=s", data=b"<xml/>",
               headers={"Content-Type": "application/xml"})
    assert_problem(r, 415)
    body = assert_problem(d.post("/api/v1/watch/events?stream=s", json=list(range(6))), 413)
    assert body["max_events"] == 5
    r = d.post("/api/v1/watch/events?stream=s", data=ndjson([{"m": i} for i in range(6)]),
               headers={"Content-Type": "application/x-ndjson"})
    assert_problem(r, 413)
    big = json.dumps([{"message": "x" * 1000}] * 140)  # > 128 KiB
    assert_problem(d.post("/api/v1/watch/events?stream=s", data=big,
                          headers={"Content-Type": "application/json"}), 413)
    r = d.post("/api/v1/watch/events?stream=s", json={"message": "y" * 70000})
    body = assert_problem(r, 422, field="/0", in_="body")
    assert "65536" in body["errors"][0]["message"]
    st = d.get("/api/v1/watch/stats").json()
    assert st["events_in"] == 0
    assert d.running()


def test_full_queue_refuses_the_whole_request_with_retry_after(make_daemon):
    d = make_daemon(env={"GANGLION_WATCH_QUEUE_EVENTS": "16"})
    r = d.post("/api/v1/watch/events?stream=q", json=[{"m": i} for i in range(17)])
    body = assert_problem(r, 429)
    assert r.headers.get("Retry-After")
    assert body["stream"] == "q"
    assert d.get("/api/v1/watch/streams/q").json()["stats"]["events_in"] == 0
    r = d.post("/api/v1/watch/events?stream=q", json=[{"m": i} for i in range(16)])
    assert r.status_code == 202 and r.json()["accepted"] == 16


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_queue_memory_follows_the_backlog_not_the_throughput(make_daemon):
    """A stream's queue holds memory for the events waiting in it: 200 000 events through a
    stream that keeps up cost no more than the largest batch, however large watch.queue_events
    is (a queue of its full size from the start was touched page by page as it went round:
    48 bytes an event here, 9.6 MB). Every event is scored, in order, while the queue grows
    and shrinks."""
    d = make_daemon(env={"GANGLION_WATCH_QUEUE_EVENTS": "1000000"})
    make_stream(d, "tp", permutations=0)
    batch = "".join(json.dumps({"m": f"line {i % 7}"}) + "\n" for i in range(5000))

    def push(rounds):
        for _ in range(rounds):
            r = d.post("/api/v1/watch/events?stream=tp", data=batch,
                       headers={"Content-Type": "application/x-ndjson"})
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 30 * SLOW
            while d.get("/api/v1/watch/streams/tp").json()["stats"]["queue_depth"]:
                assert time.monotonic() < deadline, "the queue did not drain"
                time.sleep(0.02)

    push(4)  # the detector, its jobs and the allocator reach their working size
    before = rss_kb(d.proc.pid)
    push(40)
    grown = rss_kb(d.proc.pid) - before
    wait_settled(d, "tp", 44 * 5000)
    stats = d.get("/api/v1/watch/streams/tp").json()["stats"]
    assert stats["events_scored"] == 44 * 5000 and stats["queue_depth"] == 0
    assert stats["windows_scored"] == (44 * 5000 - 50) // 5 + 1  # every due window, once
    if not SANITIZED:
        assert grown < 4 * 1024, grown


def test_too_many_streams(make_daemon):
    d = make_daemon(env={"GANGLION_WATCH_MAX_STREAMS": "2"})
    for n in ("a", "b"):
        assert d.post(f"/api/v1/watch/events?stream={n}", json={"m": 1}).status_code == 202
    assert_problem(d.post("/api/v1/watch/events?stream=c", json={"m": 1}), 429)
    assert d.post("/api/v1/watch/events?stream=a", json={"m": 2}).status_code == 202


# ---- anomalies ------------------------------------------------------------------------------------

def test_burst_yields_anomalies_with_evidence_and_no_secrets(store_daemon):
    d = store_daemon
    anomalies = seed(d, "svc", secret="sekrit-123456")
    a = anomalies[0]
    for k in EVIDENCE:
        assert k in a, k
    assert a["stream"] == "svc" and a["stream_type"] == "logs" and a["status"] == "pending"
    assert 0 < a["ncd_score"] <= 1 and 0 < a["p_value"] < 0.05
    assert a["confidence_level"] == pytest.approx(1 - a["p_value"])
    assert a["is_statistically_significant"] is True
    assert a["window_data"] and a["baseline_data"] and a["novel_lines"]
    assert any("panic" in line for line in a["novel_lines"])
    assert "panic" in a["glass_box_explanation"] or "novel" in a["glass_box_explanation"].lower()
    assert a["acknowledged_by"] is None and a["tags"] == []
    # the secret value never reaches storage, the API or the export
    assert "sekrit" not in json.dumps(anomalies)
    assert "sekrit" not in d.get(f"/api/v1/watch/anomalies/{a['id']}/export").text
    # normal traffic alone raised nothing before the burst
    first_burst_event = 100
    assert all(x["metadata"]["last_event"] >= first_burst_event for x in anomalies)
    one = d.get(f"/api/v1/watch/anomalies/{a['id']}")
    assert one.status_code == 200 and one.json() == a
    assert_problem(d.get("/api/v1/watch/anomalies/no-such-id"), 404)


def test_scoring_stops_at_an_anomaly_and_scores_the_rest_next(daemon):
    # One request, so one batch: the job announces the first anomalous window at once and the
    # events after it are scored by the next job, in order, none lost.
    make_stream(daemon, "split")
    r = post_events(daemon, "split", normal_lines(100) + burst_lines(20) + normal_lines(60, 100))
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 30 * SLOW
    while time.monotonic() < deadline:
        st = daemon.get("/api/v1/watch/streams/split").json()["stats"]
        if st["events_scored"] == 180:
            break
        time.sleep(0.05)
    assert st["events_scored"] == 180 and st["queue_depth"] == 0
    assert st["windows_scored"] == (180 - 50) // 5 + 1  # every due window, once
    anomalies = wait_anomalies(daemon, "split", at_least=2)["anomalies"]
    idx = sorted(a["metadata"]["window_index"] for a in anomalies)
    assert len(set(idx)) == len(idx)
    jobs = [line for line in daemon.get("/metrics").text.splitlines()
            if line.startswith('ganglion_watch_scoring_jobs_total{stream="split"}')]
    assert jobs and float(jobs[0].split()[-1]) >= len(idx) + 1


def test_anomaly_filters_and_pagination(daemon):
    n = len(seed(daemon, "f1"))
    seed(daemon, "f2")
    allr = daemon.get("/api/v1/watch/anomalies").json()
    total = allr["total"]
    assert total >= n + 1 and allr["limit"] == 50 and allr["offset"] == 0
    q = lambda s: daemon.get("/api/v1/watch/anomalies?" + s).json()  # noqa: E731
    assert q("stream=f1")["total"] == n
    assert q("stream=nothing")["total"] == 0
    assert q("stream_type=logs")["total"] == total and q("stream_type=metrics")["total"] == 0
    assert q("status=pending")["total"] == total and q("status=dismissed")["total"] == 0
    assert q("only_significant=true")["total"] == total
    assert q("min_ncd_score=1")["total"] == sum(1 for a in allr["anomalies"] if a["ncd_score"] >= 1)
    assert q("max_p_value=0.0000001")["total"] == 0
    now = datetime.now(timezone.utc)
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    assert q(f"start_time={iso(now - timedelta(hours=1))}")["total"] == total
    assert q(f"end_time={iso(now - timedelta(hours=1))}")["total"] == 0
    page = q("limit=1&offset=0")
    assert len(page["anomalies"]) == 1 and page["has_more"] is (total > 1)
    last = q(f"limit=1&offset={total - 1}")
    assert len(last["anomalies"]) == 1 and last["has_more"] is False
    ts = [a["timestamp_ms"] for a in allr["anomalies"]]
    assert ts == sorted(ts, reverse=True)
    assert_problem(daemon.get("/api/v1/watch/anomalies?start_time=yesterday"), 422,
                   field="start_time", in_="query")
    assert_problem(daemon.get("/api/v1/watch/anomalies?limit=1001"), 422, field="limit")
    assert_problem(daemon.get("/api/v1/watch/anomalies?status=closed"), 422, field="status")
    assert_problem(daemon.get("/api/v1/watch/anomalies?min_ncd_score=x"), 422, field="min_ncd_score")


def test_review_workflow_transitions(store_daemon):
    d = store_daemon
    a = seed(d, "wf")[0]
    url = f"/api/v1/watch/anomalies/{a['id']}"
    r = d.request("PATCH", url, json={"status": "investigating", "notes": "looking", "tags": ["db"]})
    assert r.status_code == 200, r.text
    x = r.json()
    assert x["status"] == "investigating" and x["notes"] == "looking" and x["tags"] == ["db"]
    assert x["updated_at"] >= a["updated_at"]

    r = d.request("PATCH", url, json={"status": "acknowledged"})
    x = r.json()
    assert r.status_code == 200 and x["status"] == "acknowledged"
    assert x["acknowledged_by"] and x["acknowledged_at"] and x["tags"] == ["db"]
    x = d.request("PATCH", url, json={"status": "dismissed"}).json()
    assert x["status"] == "dismissed" and x["dismissed_by"] and x["dismissed_at"]
    assert x["acknowledged_by"]  # history kept
    # a closed anomaly reopens through investigating only
    body = assert_problem(d.request("PATCH", url, json={"status": "acknowledged"}), 409)
    assert body["allowed"] == ["investigating"] and "investigating" in body["detail"]
    assert d.get(url).json()["status"] == "dismissed"
    assert d.get("/api/v1/watch/anomalies?status=dismissed").json()["total"] == 1
    assert_problem(d.request("PATCH", url, json={}), 422)
    assert_problem(d.request("PATCH", url, json={"status": "closed"}), 422, field="/status")
    assert_problem(d.request("PATCH", url, json={"tags": ["x" * 65]}), 422)
    assert_problem(d.request("PATCH", "/api/v1/watch/anomalies/nope", json={"notes": "n"}), 404)
    st = d.get("/api/v1/watch/stats").json()
    assert st["anomalies_by_status"].get("dismissed") == 1


def run_cli(d, *args):
    # the daemon's admin credential when the suite has authentication (cli_env), else none
    env = d.cli_env() if hasattr(d, "cli_env") else dict(os.environ)
    env.pop("GANGLION_URL", None)
    return subprocess.run([d.bin, *args], capture_output=True, text=True, timeout=60 * SLOW,
                          env=env)


def test_export_is_signed_and_verifies_offline(daemon, tmp_path):
    a = seed(daemon, "ex")[0]
    r = daemon.get(f"/api/v1/watch/anomalies/{a['id']}/export")
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["anomaly"] == a and b["exported_by"] and b["exported_at"]
    assert b["signature"]["algorithm"] == "Ed25519"
    key = daemon.get("/api/v1/watch/signing-key").json()
    assert key["public_key"] == b["signature"]["public_key"]
    f = tmp_path / "bundle.json"
    f.write_text(r.text)

    p = run_cli(daemon, "watch", "verify", str(f), "--url", daemon.url)
    assert p.returncode == 0, p.stderr
    assert "valid" in p.stdout and a["id"] in p.stdout
    p = run_cli(daemon, "watch", "verify", str(f), "--key", key["public_key"])
    assert p.returncode == 0, p.stderr
    keyfile = tmp_path / "key.json"
    keyfile.write_text(json.dumps(key))
    p = run_cli(daemon, "--json", "watch", "verify", str(f), "--key", str(keyfile))
    assert p.returncode == 0 and json.loads(p.stdout)["valid"] is True

    for path, value in ((("anomaly", "ncd_score"), 0.01), (("exported_by",), "someone else"),
                        (("anomaly", "status"), "dismissed")):
        t = json.loads(r.text)
        o = t
        for k in path[:-1]:
            o = o[k]
        o[path[-1]] = value
        tf = tmp_path / "tampered.json"
        tf.write_text(json.dumps(t))
        p = run_cli(daemon, "watch", "verify", str(tf), "--key", key["public_key"])
        assert p.returncode == 1, (path, p.stdout, p.stderr)
        assert "INVALID" in p.stderr

    other = "A" * 43 + "="
    p = run_cli(daemon, "watch", "verify", str(f), "--key", other)
    assert p.returncode == 1
    p = run_cli(daemon, "watch", "verify", str(tmp_path / "missing.json"), "--key", other)
    assert p.returncode == 2
    p = run_cli(daemon, "watch", "verify", str(f), "--key", "not-a-key")
    assert p.returncode == 2

    # the key survives a restart and stays private to the daemon's user
    keyf = daemon.data_dir / "watch-signing.key"
    assert keyf.stat().st_mode & 0o777 == 0o600
    daemon.restart()
    assert daemon.get("/api/v1/watch/signing-key").json()["public_key"] == key["public_key"]
    p = run_cli(daemon, "watch", "verify", str(f), "--url", daemon.url)
    assert p.returncode == 0, p.stderr


def test_new_anomaly_arrives_on_the_sse_feed(daemon):
    make_stream(daemon, "live")
    token = getattr(daemon, "token", None)
    headers = {"Authorization": "Bearer " + token} if token else {}
    with SSEClient(daemon.url, "/api/v1/stream?topics=anomaly.*", headers=headers,
                   timeout=10 * SLOW) as sse:
        sse.read_headers(timeout=10 * SLOW)
        assert sse.status == 200
        r = post_events(daemon, "live", normal_lines(100) + burst_lines(20))
        assert r.status_code == 202
        deadline = time.monotonic() + 30 * SLOW
        got = None
        while time.monotonic() < deadline and not got:
            ev = sse.next_event(timeout=30 * SLOW, comments=False)
            if ev.event == "anomaly.created":
                got = json.loads(ev.data)
        assert got, "no anomaly.created event"
        assert got["stream"] == "live" and got["id"]
        stored = daemon.get(f"/api/v1/watch/anomalies/{got['id']}")
        assert stored.status_code == 200  # announced only once stored
        assert stored.json() == got  # every field the detector produced survives storage
        r = daemon.request("PATCH", f"/api/v1/watch/anomalies/{got['id']}",
                           json={"status": "investigating"})
        assert r.status_code == 200
        while time.monotonic() < deadline:
            ev = sse.next_event(timeout=30 * SLOW, comments=False)
            if ev.event == "anomaly.updated":
                upd = json.loads(ev.data)
                if upd["id"] == got["id"]:
                    assert upd["status"] == "investigating"
                    break
        else:
            raise AssertionError("no anomaly.updated event")


def test_prometheus_series_per_stream(daemon):
    seed(daemon, "m1")
    text = daemon.get("/metrics").text
    assert 'ganglion_watch_events_total{stream="m1"} 120' in text
    assert 'ganglion_watch_windows_scored_total{stream="m1"}' in text
    assert 'ganglion_watch_anomalies_total{stream="m1"}' in text
    assert 'ganglion_watch_queue_depth{stream="m1"}' in text
    assert 'ganglion_watch_scoring_seconds_total{stream="m1"}' in text
    assert 'ganglion_watch_scoring_jobs_total{stream="m1"}' in text


def test_metric_labels_are_capped(make_daemon):
    d = make_daemon(env={"GANGLION_WATCH_METRICS_STREAMS": "1"})
    for n in ("one", "two", "three"):
        assert d.post(f"/api/v1/watch/events?stream={n}", json={"m": 1}).status_code == 202
    text = d.get("/metrics").text
    assert 'ganglion_watch_events_total{stream="one"} 1' in text
    assert 'ganglion_watch_events_total{stream="_other"} 2' in text
    assert 'stream="two"' not in text


# ---- agents' output ---------------------------------------------------------------------------

def _sh_agent(d, script, **spec):
    """Spawns `sh -c script` and waits for it to exit; returns its id."""
    a = agents_util.spawn(d, argv=["/bin/sh", "-c", script], name="printer", **spec)
    agents_util.wait_status(d, a["id"], ("completed", "failed"))
    return a["id"]


def _wait_events(d, stream, n, timeout=10):
    end = time.time() + timeout * agents_util.SLOW
    s = None
    while time.time() < end:
        r = d.get(f"/api/v1/watch/streams/{stream}")
        s = r.json()
        if r.status_code == 200 and s["stats"]["events_in"] >= n:
            return s
        time.sleep(0.05)
    raise AssertionError(f"stream {stream}: {s}")


def test_every_agent_watched_with_agents_all(make_daemon):
    d = make_daemon(env={"GANGLION_WATCH_AGENTS": "all"})
    aid = _sh_agent(d, "printf 'compiling crate foo\\nrunning 3 tests\\n'; "
                       "printf 'warning: unused variable\\n' >&2")
    s = _wait_events(d, f"agent.{aid}", 3)
    assert s["type"] == "agent" and s["stats"]["events_in"] == 3
    # watch=false opts one agent out even then
    off = _sh_agent(d, "echo quiet", labels={"watch": "false"})
    agents_util.wait_output(d, off, lambda o: len(o["lines"]) == 1)
    assert [x["name"] for x in d.get("/api/v1/watch/streams").json()["streams"]] == [f"agent.{aid}"]


def test_stream_names_in_queries_are_checked_by_the_schema(daemon):
    # one rule, from the endpoints' schema, for every query that names a stream
    for path in ("/api/v1/watch/anomalies", "/api/v1/watch/incidents"):
        body = assert_problem(daemon.get(f"{path}?stream=no%20spaces"), 422, field="stream",
                              in_="query")
        assert "letters, digits" in str(body["errors"])
        assert daemon.get(f"{path}?stream=app.logs:eu-1_x").status_code == 200
    body = assert_problem(daemon.post("/api/v1/watch/events?stream=a/b", json={"m": 1}), 422,
                          field="stream", in_="query")
    params = daemon.get("/openapi.json").json()["paths"]["/api/v1/watch/events"]["post"]["parameters"]
    stream = next(x for x in params if x["name"] == "stream")
    assert stream["schema"]["pattern"] == "^[A-Za-z0-9\\.\\_\\-\\:]*$"


def test_agent_output_lines_reach_watch_as_written(make_daemon):
    # each line is one event as it is, UTF-8 text and a line that looks like JSON alike
    d = make_daemon(env={"GANGLION_WATCH_AGENTS": "all"})
    aid = _sh_agent(d, "printf 'caf\\303\\251 ouvert\\nplain line\\n"
                       "{\\\"not\\\": \\\"parsed\\\"}\\n'")
    agents_util.wait_output(d, aid, lambda o: len(o["lines"]) == 3)
    s = _wait_events(d, f"agent.{aid}", 3)
    assert s["stats"]["events_in"] == 3, s


def _bus_subscribers(daemon):
    m = re.search(r"^ganglion_bus_subscribers (\d+)$", daemon.get("/metrics").text, re.M)
    assert m, "ganglion_bus_subscribers is not exported"
    return int(m.group(1))


def test_by_default_only_agents_with_a_watch_label_are_watched(daemon):
    # watch=true: a stream of its own; watch=NAME: that stream; no label or watch=off: nothing
    subs = _bus_subscribers(daemon)
    on = _sh_agent(daemon, "printf 'hi\\nho\\n'", labels={"watch": "true"})
    named = _sh_agent(daemon, "printf 'one\\ntwo\\nthree\\n'", labels={"watch": "build"})
    plain = _sh_agent(daemon, "echo hi")
    off = _sh_agent(daemon, "echo more", labels={"watch": "off"})
    assert _wait_events(daemon, f"agent.{on}", 2)["stats"]["events_in"] == 2
    s = _wait_events(daemon, "build", 3)
    assert s["type"] == "agent" and s["stats"]["events_in"] == 3
    for aid in (plain, off):
        agents_util.wait_output(daemon, aid, lambda o: len(o["lines"]) == 1)
        assert_problem(daemon.get(f"/api/v1/watch/streams/agent.{aid}"), 404)
    names = sorted(x["name"] for x in daemon.get("/api/v1/watch/streams").json()["streams"])
    assert names == sorted([f"agent.{on}", "build"])
    # watching agents' output takes no subscription on the bus (lines come through a hook)
    assert _bus_subscribers(daemon) == subs


def test_labelled_agent_output_raises_an_anomaly(daemon):
    make_stream(daemon, "worker")  # small windows, so that a short run is enough
    script = ("i=0; while [ $i -lt 100 ]; do echo \"Request completed method=GET path=/api/users "
              "status=200 duration_ms=$((40 + i % 20))\"; i=$((i + 1)); done; "
              "while [ $i -lt 120 ]; do echo \"panic: runtime error: index out of range goroutine "
              "$i [running] main.handler(0x$((i * 7919))) /srv/app/handler.go:$i\" >&2; "
              "i=$((i + 1)); done")
    aid = _sh_agent(daemon, script, labels={"watch": "worker"})
    found = wait_anomalies(daemon, "worker")["anomalies"]
    assert found[0]["stream"] == "worker" and found[0]["incident_id"].startswith("inc-")
    assert agents_util.get(daemon, aid)["labels"]["watch"] == "worker"


def test_none_and_the_deprecated_key_turn_it_off(make_daemon):
    for env in ({"GANGLION_WATCH_AGENTS": "none"}, {"GANGLION_WATCH_AGENT_STREAMS": "0"}):
        d = make_daemon(env=env)
        aid = _sh_agent(d, "echo hi", labels={"watch": "true"})
        agents_util.wait_output(d, aid, lambda o: len(o["lines"]) == 1)
        assert d.get("/api/v1/watch/streams").json()["streams"] == []
        d.stop()


def test_reloaded_defaults_reach_streams_created_afterwards(make_daemon, tmp_path):
    import signal
    ini = tmp_path / "g.ini"
    ini.write_text("[watch]\nbaseline = 300\n")
    d = make_daemon(args=["--config", str(ini)])
    assert d.post("/api/v1/watch/events?stream=before", json={"m": 1}).status_code == 202
    assert d.get("/api/v1/watch/streams/before").json()["settings"]["baseline"] == 300
    ini.write_text("[watch]\nbaseline = 200\nncd_threshold = 0.45\nflood_threshold = 0.6\n")
    d.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10 * SLOW
    while time.monotonic() < deadline:
        if any(x.get("msg") == "reloaded" for x in d.log_lines()):
            break
        time.sleep(0.05)
    assert d.post("/api/v1/watch/events?stream=after", json={"m": 1}).status_code == 202
    s = d.get("/api/v1/watch/streams/after").json()["settings"]
    assert s["baseline"] == 200 and s["ncd_threshold"] == pytest.approx(0.45)
    assert s["flood_threshold"] == pytest.approx(0.6)


def test_one_line_of_a_new_template_on_a_settled_stream_is_an_anomaly(daemon):
    # One new message among 200 + 60 lines of one known kind: too little for the compression
    # view, but the stream had shown nothing new for a whole baseline, so it is one anomaly of
    # its own kind, naming the line (docs/watch.md, "New templates on a settled stream").
    make_stream(daemon, "settled")
    odd = {"level": "error",
           "message": "EXT4-fs error (device sda1): remounting filesystem read-only"}
    r = post_events(daemon, "settled", normal_lines(200) + [odd] + normal_lines(60, 200))
    assert r.status_code == 202, r.text
    anomalies = wait_settled(daemon, "settled", 261)["anomalies"]
    assert len(anomalies) == 1, anomalies
    a = anomalies[0]
    assert a["new_template"] is True and a["flood"] is False
    assert a["severity"] == "medium"
    assert "a new template" in a["glass_box_explanation"]
    assert "read-only" in a["novel_lines"][0]
    assert a["metadata"]["first_event"] <= 200 <= a["metadata"]["last_event"]
