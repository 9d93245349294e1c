"""Liveness, readiness, system info and the log format."""

import json


def test_healthz(daemon):
    r = daemon.get("/healthz")
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert r.json() == {"status": "ok"}


def test_healthz_head(daemon):
    r = daemon.request("HEAD", "/healthz")
    assert r.status_code in (200, 405)
    assert r.content == b""


def test_readyz(store_daemon, store_kind):
    r = store_daemon.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["store"] == store_kind
    assert isinstance(body["schema_version"], int) and body["schema_version"] >= 1


def test_system_info(daemon):
    r = daemon.get("/api/v1/system/info")
    assert r.status_code == 200, r.text
    info = r.json()
    assert isinstance(info, dict)
    assert isinstance(info.get("version"), str) and info["version"]
    uptime = info.get("uptime_s", info.get("uptime_seconds", info.get("uptime")))
    assert isinstance(uptime, (int, float)) and uptime >= 0, info
    assert any(k.startswith("build") or k in ("revision", "commit") for k in info), info
    assert isinstance(info.get("config"), dict), info


def test_logs_are_json_lines(make_daemon):
    d = make_daemon(args=["--log-level", "debug"])
    for _ in range(3):
        assert d.get("/healthz").status_code == 200
    d.get("/no/such/path")
    assert d.stop() == 0
    lines = [ln for ln in d.stderr().splitlines() if ln.strip()]
    assert lines, "the daemon logged nothing at debug level"
    for ln in lines:
        if "Sanitizer" in ln or ln.startswith(("==", "    #", "SUMMARY:")):
            continue  # sanitizer output is not ours
        obj = json.loads(ln)
        assert isinstance(obj, dict)
        for k in ("ts", "level", "msg"):
            assert k in obj, f"log line without {k}: {ln}"
        assert obj["level"] in ("debug", "info", "warn", "error"), ln
