"""The detector's command-line tools: `ganglion synth` writes labelled traffic a user can replay
(the same seed gives the same bytes; anomalies are labelled where they are), posts it to a
daemon, and `ganglion watch bench` compares the fast path with the full permutation test on the
same windows and must find them in agreement."""
import json
import subprocess

from conftest import sanitizer_report


def run(bin, *args, timeout=300):
    p = subprocess.run([str(bin), *args], capture_output=True, text=True, timeout=timeout)
    assert not sanitizer_report(p.stderr), p.stderr
    return p


def test_synth_is_reproducible_and_labelled(bin):
    a = run(bin, "synth", "--count", "400", "--seed", "7", "--warmup", "50", "--gap", "50")
    b = run(bin, "synth", "--count", "400", "--seed", "7", "--warmup", "50", "--gap", "50")
    assert a.returncode == 0, a.stderr
    assert a.stdout == b.stdout
    events = [json.loads(line) for line in a.stdout.splitlines()]
    assert len(events) == 400
    labels = {e["label"] for e in events}
    assert "normal" in labels and len(labels) > 1  # anomalies are injected and named
    assert all(e["message"] for e in events)
    other = run(bin, "synth", "--count", "400", "--seed", "8", "--warmup", "50", "--gap", "50")
    assert other.stdout != a.stdout


def test_synth_otlp_metrics_is_otlp_json(bin):
    p = run(bin, "synth", "--count", "20", "--format", "otlp", "--signal", "metrics")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    points = [dp for rm in doc["resourceMetrics"] for sm in rm["scopeMetrics"]
              for m in sm["metrics"] for dp in m["gauge"]["dataPoints"]]
    assert len(points) == 20 and all("asDouble" in dp for dp in points)


def test_synth_bad_options_are_usage_errors(bin):
    p = run(bin, "synth", "--anomalies", "no-such-kind")
    assert p.returncode != 0 and "unknown anomaly kind" in p.stderr
    p = run(bin, "synth", "--count", "-3")
    assert p.returncode != 0


def test_synth_posts_to_a_daemon(daemon, bin):
    # the client finds the daemon's local admin token through its data directory
    env = {"GANGLION_DATA_DIR": str(daemon.data_dir), "PATH": "/usr/bin:/bin"}
    p = subprocess.run([str(bin), "synth", "--count", "120", "--seed", "1", "--stream", "synthetic",
                        "--url", daemon.url], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    assert not sanitizer_report(p.stderr), p.stderr
    s = daemon.get("/api/v1/watch/streams/synthetic").json()
    assert s["stats"]["events_in"] == 120


def test_watch_bench_fast_path_agrees_with_the_full_test(bin):
    p = run(bin, "watch", "bench", "--events", "3000", "--full-events", "800", "--threads", "1")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    text = json.dumps(r)
    assert '"mismatches": 0' in text and '"identical_decisions": true' in text
    assert '"p_bound_violations": 0' in text
