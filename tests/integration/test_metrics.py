"""/metrics: Prometheus text format, the documented families, histograms, counters moving."""

import math

import gprom
import pytest

EXPECTED = {
    "ganglion_build_info": "gauge",
    "ganglion_uptime_seconds": "gauge",
    "ganglion_http_requests_total": "counter",
    "ganglion_http_request_duration_seconds": "histogram",
    "ganglion_http_inflight_requests": "gauge",
    "ganglion_loop_lag_seconds": "histogram",
    "ganglion_store_operations_total": "counter",
    "ganglion_store_errors_total": "counter",
    "ganglion_bus_subscribers": "gauge",
}


def test_parser_self_check():
    fams = gprom.parse(
        '# HELP x_total A counter.\n# TYPE x_total counter\nx_total{a="1",b="q\\"x"} 3\n'
        '# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.3\nh_count 2\n')
    assert fams["x_total"].samples[0].labels == {"a": "1", "b": 'q"x'}
    assert gprom.check_histogram(fams["h"]) == []
    for bad in ("x{a=1} 2\n", "x 1 2 3\n", "x{a=\"1\"}2\n", "# TYPE x foo\n", "x 1"):
        with pytest.raises(ValueError):
            gprom.parse(bad)


def _requests_total(fams, endpoint_part, method, status):
    fam = fams["ganglion_http_requests_total"]
    total = 0.0
    for s in fam.samples:
        if (s.labels.get("method") == method and s.labels.get("status") == str(status)
                and endpoint_part in s.labels.get("endpoint", "")):
            total += s.value
    return total


def test_metrics_format(daemon):
    daemon.get("/healthz")
    daemon.get("/no/such/path")
    r = daemon.get("/metrics")
    assert r.status_code == 200
    ct = r.headers["Content-Type"]
    assert ct.startswith("text/plain"), ct
    assert "version=0.0.4" in ct or "charset" in ct or ct.strip() == "text/plain", ct
    fams = gprom.parse(r.text)  # raises on any malformed line
    for name, typ in EXPECTED.items():
        assert name in fams, f"{name} missing from /metrics"
        assert fams[name].type == typ, f"{name}: TYPE {fams[name].type}, expected {typ}"
        assert fams[name].help, f"{name} has no HELP"
    for fam in fams.values():
        if fam.name.startswith("ganglion_"):
            assert fam.type != "untyped", f"{fam.name} has no TYPE"
            assert fam.help, f"{fam.name} has no HELP"
        for s in fam.samples:
            assert not math.isnan(s.value) or fam.type == "gauge", s
            if fam.type == "counter":
                assert s.value >= 0, s
        if fam.type == "counter":
            assert all(s.name.endswith("_total") or s.name.endswith("_created") for s in fam.samples), fam.name
        if fam.type == "histogram":
            assert fam.samples, f"histogram {fam.name} has no samples"
            assert gprom.check_histogram(fam) == []
    build = fams["ganglion_build_info"].samples
    assert len(build) == 1 and build[0].value == 1 and "version" in build[0].labels
    assert fams["ganglion_uptime_seconds"].samples[0].value >= 0
    # one loop-lag metric: the histogram (the last probe is in GET /api/v1/agents/stats)
    assert "ganglion_event_loop_lag_seconds" not in fams
    # the scrape itself is in flight while rendering
    assert fams["ganglion_http_inflight_requests"].samples[0].value >= 0
    for s in fams["ganglion_http_requests_total"].samples:
        assert {"endpoint", "method", "status"} <= set(s.labels), s


def test_counters_increase(daemon):
    before = daemon.metrics()
    h0 = _requests_total(before, "healthz", "GET", 200)
    n0 = sum(s.value for s in before["ganglion_http_request_duration_seconds"].samples
             if s.name.endswith("_count"))
    up0 = before["ganglion_uptime_seconds"].samples[0].value
    for _ in range(5):
        assert daemon.get("/healthz").status_code == 200
    assert daemon.get("/no/such/thing").status_code == 404
    after = daemon.metrics()
    assert _requests_total(after, "healthz", "GET", 200) >= h0 + 5
    n404 = sum(s.value for s in after["ganglion_http_requests_total"].samples
               if s.labels.get("status") == "404")
    assert n404 >= 1
    n1 = sum(s.value for s in after["ganglion_http_request_duration_seconds"].samples
             if s.name.endswith("_count"))
    assert n1 >= n0 + 6
    assert after["ganglion_uptime_seconds"].samples[0].value >= up0
    for fam in after.values():
        if fam.type == "counter" and fam.name in before:
            old = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in before[fam.name].samples}
            for s in fam.samples:
                k = (s.name, tuple(sorted(s.labels.items())))
                if k in old:
                    assert s.value >= old[k], f"counter {k} went down"


def test_store_operations_counted(store_daemon):
    before = store_daemon.metrics()
    ops0 = sum(s.value for s in before["ganglion_store_operations_total"].samples)
    r = store_daemon.post("/api/v1/test/echo", json={"name": "m"})
    assert r.status_code == 200, r.text
    assert store_daemon.get("/api/v1/audit").status_code == 200
    after = store_daemon.metrics()
    assert sum(s.value for s in after["ganglion_store_operations_total"].samples) > ops0
