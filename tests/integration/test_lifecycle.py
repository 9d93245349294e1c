"""The daemon's life: graceful shutdown with a request in flight, restart on the same data dir,
the data-dir lock, configuration errors and --print-config."""

import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import START_TIMEOUT, daemon_env, free_port, http


def _gauge_inflight(d):
    return d.metrics()["ganglion_http_inflight_requests"].samples[0].value


def _in_flight(d, path, timeout=15):
    """Starts a GET in a thread; returns (thread, result dict)."""
    out = {"base": _gauge_inflight(d)}  # 0 or 1, depending on whether a scrape counts itself

    def run():
        try:
            out["resp"] = http().get(d.url + path, timeout=timeout)
        except Exception as e:  # noqa: BLE001 - reported by the test
            out["exc"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def _wait_inflight(d, out, n=1, timeout=5):
    """Waits until the in-flight gauge shows n requests besides the scrape itself."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gauge_inflight(d) >= out["base"] + n:
            return
        time.sleep(0.05)
    raise AssertionError("request never showed up as in flight")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_finishes_request_in_flight(make_daemon, sig):
    d = make_daemon()
    t, out = _in_flight(d, "/api/v1/test/sleep?ms=1500")
    _wait_inflight(d, out)
    t0 = time.monotonic()
    d.send_signal(sig)
    # new connections are refused (or told the service is going away) while it drains
    time.sleep(0.3)
    try:
        r = http().get(d.url + "/healthz", timeout=2)
        assert r.status_code == 503, f"accepted a new request while shutting down: {r.status_code}"
    except requests.ConnectionError:
        pass
    t.join(10)
    assert not t.is_alive()
    assert "exc" not in out, f"in-flight request failed: {out.get('exc')!r}"
    assert out["resp"].status_code == 200, out["resp"].text
    assert d.wait(10) == 0, d.stderr()[-3000:]
    assert time.monotonic() - t0 >= 1.0, "exited before the in-flight request could finish"


def test_shutdown_grace_is_bounded(make_daemon):
    d = make_daemon(env={"GANGLION_SERVER_SHUTDOWN_GRACE_MS": "500"})
    t, out = _in_flight(d, "/api/v1/test/sleep?ms=8000")
    _wait_inflight(d, out)
    t0 = time.monotonic()
    d.send_signal(signal.SIGTERM)
    rc = d.wait(15)
    took = time.monotonic() - t0
    assert took < 3, f"exit took {took:.1f}s with shutdown_grace_ms=500: shutdown waited past the grace period"
    assert rc == 0, d.stderr()[-3000:]
    t.join(10)
    assert "resp" not in out or out["resp"].status_code >= 500


def test_shutdown_idle_is_quick(make_daemon):
    d = make_daemon()
    t0 = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - t0 < 3


def test_shutdown_with_open_sse_stream(make_daemon):
    from gsse import SSEClient
    d = make_daemon()
    c = SSEClient(d.url, "/api/v1/stream?topics=x")
    try:
        assert c.read_headers() == 200
        t0 = time.monotonic()
        assert d.stop() == 0, d.stderr()[-3000:]
        assert time.monotonic() - t0 < 3, "an open SSE stream held up shutdown"
    finally:
        c.close()


def _audit_entries(d, **params):
    r = d.get("/api/v1/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_restart_keeps_state(store_daemon):
    d = store_daemon
    r = d.post("/api/v1/test/echo", json={"name": "before-restart"}, headers={"X-Request-Id": "persist-1"})
    assert r.status_code == 200
    v1 = d.get("/readyz").json()["schema_version"]
    d.restart()
    assert d.get("/readyz").json()["schema_version"] == v1
    page = _audit_entries(d, limit=1000)
    assert any(e.get("request_id") == "persist-1" for e in page["entries"]), page
    d.post("/api/v1/test/echo", json={"name": "after-restart"}, headers={"X-Request-Id": "persist-2"})
    d.restart()
    rids = {e.get("request_id") for e in _audit_entries(d, limit=1000)["entries"]}
    assert {"persist-1", "persist-2"} <= rids


def test_second_daemon_on_same_data_dir_refused(make_daemon, bin, tmp_path):
    d1 = make_daemon()
    port = free_port()
    p = subprocess.run([str(bin), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(d1.data_dir)],
                       env=daemon_env(), capture_output=True, text=True, timeout=START_TIMEOUT)
    assert p.returncode != 0
    msg = (p.stderr + p.stdout).lower()
    assert "lock" in msg or "already" in msg or "in use" in msg, p.stderr
    assert str(d1.data_dir).lower() in msg or "lock" in msg, p.stderr
    # the first one is unharmed
    assert d1.get("/healthz").status_code == 200
    # and once it is gone, the data dir can be used again
    assert d1.stop() == 0
    d2 = make_daemon(data_dir=d1.data_dir)
    assert d2.get("/healthz").status_code == 200


def test_stale_lock_file_after_kill(make_daemon):
    """A daemon killed with SIGKILL leaves its lock file behind; the next start must not be refused."""
    d1 = make_daemon()
    d1.kill()
    d2 = make_daemon(data_dir=d1.data_dir)
    assert d2.get("/readyz").status_code == 200


def test_port_in_use_is_a_clear_error(make_daemon, bin):
    d1 = make_daemon()
    p = subprocess.run([str(bin), "serve", "--listen", f"127.0.0.1:{d1.port}",
                        "--data-dir", str(d1.workdir / "other-data")],
                       env=daemon_env(), capture_output=True, text=True, timeout=START_TIMEOUT)
    assert p.returncode != 0
    assert "address" in p.stderr.lower() or "in use" in p.stderr.lower() or str(d1.port) in p.stderr


def _serve_fail(bin, tmp_path, *args, env=None):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    p = subprocess.run([str(bin), "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(data), *args],
                       env=daemon_env(env), capture_output=True, text=True, timeout=START_TIMEOUT)
    return p


@pytest.mark.parametrize("content,line,key", [
    ("[server]\nbody_limit = lots\n", 2, "body_limit"),
    ("# comment\n[server]\nlisten = 127.0.0.1:7700\nno_such_key = 1\n", 4, "no_such_key"),
    ("[server]\n[nosection]\nx = 1\n", 2, "nosection"),
    ("[events]\nclient_queue = -5\n", 2, "client_queue"),
    ("[log]\nlevel = loud\n", 2, "level"),
])
def test_bad_config_file(bin, tmp_path, content, line, key):
    cfg = tmp_path / "ganglion.ini"
    cfg.write_text(content)
    p = _serve_fail(bin, tmp_path, "--config", str(cfg))
    assert p.returncode != 0, p.stderr
    out = p.stderr + p.stdout
    assert f"ganglion.ini:{line}:" in out, out
    assert key in out, out


def test_bad_config_env(bin, tmp_path):
    p = _serve_fail(bin, tmp_path, env={"GANGLION_SERVER_BODY_LIMIT": "nope"})
    assert p.returncode != 0
    assert "GANGLION_SERVER_BODY_LIMIT" in p.stderr or "body_limit" in p.stderr, p.stderr


def test_missing_config_file(bin, tmp_path):
    p = _serve_fail(bin, tmp_path, "--config", str(tmp_path / "absent.ini"))
    assert p.returncode != 0
    assert "absent.ini" in p.stderr, p.stderr


def test_config_file_applies(make_daemon, tmp_path):
    cfg = tmp_path / "ok.ini"
    cfg.write_text("[server]\nbody_limit = 1024\n\n[log]\nlevel = debug\n")
    d = make_daemon(args=["--config", str(cfg)])
    r = d.post("/api/v1/test/echo", json={"name": "a", "tags": ["x" * 2000]})
    assert r.status_code == 413


def test_print_config_masks_password(bin, tmp_path):
    url = "postgres://ganglion:s3cr3t-Pa55@127.0.0.1:5432/gdb"
    p = subprocess.run([str(bin), "serve", "--print-config", "--data-dir", str(tmp_path), "--store", url],
                       env=daemon_env(), capture_output=True, text=True, timeout=START_TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert "s3cr3t-Pa55" not in p.stdout + p.stderr
    assert "***" in p.stdout
    assert "ganglion:***@127.0.0.1:5432/gdb" in p.stdout, p.stdout
    assert "[server]" in p.stdout and "body_limit" in p.stdout
    # from the environment too
    p = subprocess.run([str(bin), "serve", "--print-config", "--data-dir", str(tmp_path)],
                       env=daemon_env({"GANGLION_STORE_URL": url}), capture_output=True, text=True,
                       timeout=START_TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert "s3cr3t-Pa55" not in p.stdout + p.stderr and "***" in p.stdout


def test_print_config_shows_precedence(bin, tmp_path):
    cfg = tmp_path / "p.ini"
    cfg.write_text("[server]\nbody_limit = 1111\nlisten = 127.0.0.1:1\n")
    p = subprocess.run([str(bin), "serve", "--print-config", "--config", str(cfg), "--listen", "127.0.0.1:3333"],
                       env=daemon_env({"GANGLION_SERVER_BODY_LIMIT": "2222"}), capture_output=True,
                       text=True, timeout=START_TIMEOUT)
    assert p.returncode == 0, p.stderr
    assert "2222" in p.stdout and "1111" not in p.stdout, p.stdout   # env beats file
    assert "127.0.0.1:3333" in p.stdout, p.stdout                    # flag beats file
