"""watch over OTLP/HTTP: the real OpenTelemetry JS SDK exporters (logs, metrics and traces, JSON
and protobuf encodings) pointed at the daemon, and hand-written OTLP JSON for partial success and bad input.
tests/otel/install brings the SDK into tests/otel/node_modules on first use (npm ci)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import assert_problem
from watch_util import SLOW, SMALL, wait_anomalies

OTEL = Path(__file__).resolve().parents[1] / "otel"


@pytest.fixture(scope="session")
def otel_sdk():
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed (scripts/install-deps installs it)")
    deps = json.loads((OTEL / "package.json").read_text())["dependencies"]
    if not all((OTEL / "node_modules" / d).is_dir() for d in deps):
        p = subprocess.run([str(OTEL / "install")], capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"tests/otel/install failed:\n{p.stdout}\n{p.stderr}"
    return node


def export(node, d, service, normal=5, burst=0, protocol="json"):
    p = subprocess.run([node, str(OTEL / "export.js"), d.url, getattr(d, "token", None) or "",
                        service, str(normal), str(burst), protocol],
                       capture_output=True, text=True, timeout=120 * SLOW)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["logs"] and all(r["code"] == 0 for r in out["logs"]), (out, p.stderr)
    assert out["metrics"] and all(r["code"] == 0 for r in out["metrics"]), (out, p.stderr)
    assert out["traces"] and all(r["code"] == 0 for r in out["traces"]), (out, p.stderr)
    return out


@pytest.mark.parametrize("protocol", ["json", "protobuf"])
def test_sdk_exporters_feed_streams_and_anomalies_keep_resource(otel_sdk, daemon, protocol):
    r = daemon.request("PUT", "/api/v1/watch/streams/otel.checkout.logs",
                       json={"type": "logs", "settings": SMALL})
    assert r.status_code == 201, r.text
    export(otel_sdk, daemon, "checkout", normal=100, burst=20, protocol=protocol)

    streams = {s["name"]: s for s in daemon.get("/api/v1/watch/streams").json()["streams"]}
    assert streams["otel.checkout.logs"]["stats"]["events_in"] == 120
    for m in ("requests", "queue.depth", "latency"):
        s = streams[f"otel.checkout.metrics.{m}"]
        assert s["type"] == "metrics" and s["stats"]["events_in"] >= 1
    # one event per span, the SDK's spans read from either encoding
    assert streams["otel.checkout.traces"]["type"] == "traces"
    assert streams["otel.checkout.traces"]["stats"]["events_in"] == 120

    a = wait_anomalies(daemon, "otel.checkout.logs")["anomalies"][0]
    assert a["stream_type"] == "logs"
    meta = a["metadata"]
    assert meta["resource"]["service.name"] == "checkout"
    assert meta["resource"]["deployment.environment"] == "test"
    assert meta["scope"]["name"] == "ganglion-otel-test"
    assert any("panic" in line for line in a["novel_lines"])
    assert "sekrit-otel-key" not in json.dumps(a)


def test_otlp_json_partial_success_and_bad_input(daemon):
    logs = {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeLogs": [{"scope": {"name": "s"}, "logRecords": [
            {"timeUnixNano": "1700000000000000000", "severityText": "INFO",
             "body": {"stringValue": "hello"},
             "attributes": [{"key": "n", "value": {"intValue": "3"}}]},
            {"body": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": True}}]}}},
        ]}]}]}
    r = daemon.post("/v1/logs", json=logs)
    assert r.status_code == 200 and r.json() == {}, r.text
    assert daemon.get("/api/v1/watch/streams/otel.api.logs").json()["stats"]["events_in"] == 2

    metrics = {"resourceMetrics": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeMetrics": [{"metrics": [
            {"name": "rps", "gauge": {"dataPoints": [{"asDouble": 1.5}, {"asInt": "2"}, {}]}},
            {"name": "h", "histogram": {"dataPoints": [{"count": "2", "sum": 100}]}},
            {"name": "nothing"},
        ]}]}]}
    r = daemon.post("/v1/metrics", json=metrics)
    assert r.status_code == 200, r.text
    ps = r.json()["partialSuccess"]
    assert ps["rejectedDataPoints"] == 2 and ps["errorMessage"]
    assert daemon.get("/api/v1/watch/streams/otel.api.metrics.rps").json()["stats"]["events_in"] == 2
    assert daemon.get("/api/v1/watch/streams/otel.api.metrics.h").json()["stats"]["events_in"] == 1

    assert daemon.post("/v1/logs", json={}).json() == {}
    body = assert_problem(daemon.post("/v1/logs", data=b"<logs/>",
                                      headers={"Content-Type": "application/xml"}), 415)
    assert body["accepted"] == "application/json"
    # protobuf: an empty request is fine, truncated bytes are not
    r = daemon.post("/v1/logs", data=b"", headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200 and r.content == b""
    assert_problem(daemon.post("/v1/logs", data=b"\x0a\x05\x0a\x03",
                               headers={"Content-Type": "application/x-protobuf"}), 400)
    assert_problem(daemon.post("/v1/metrics", data=b"\xff\xff",
                               headers={"Content-Type": "application/x-protobuf"}), 400)
    assert_problem(daemon.post("/v1/logs", data="{", headers={"Content-Type": "application/json"}),
                   400)
    assert_problem(daemon.post("/v1/metrics", json={"resourceMetrics": {}}), 400,
                   field="/resourceMetrics")
