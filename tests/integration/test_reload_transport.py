"""A reload reaches the HTTP transport by notification: the CORS list and the body limit apply
to the next request, on a new connection and on one kept alive across the reload."""

import signal
import time

import requests


def _wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_reload_reaches_http_settings(make_daemon, tmp_path):
    cfg = tmp_path / "reload.ini"
    cfg.write_text("[server]\nbody_limit = 2k\n")
    d = make_daemon(args=("--config", str(cfg)))
    origin = {"Origin": "https://ui.example"}
    big = '{"name":"%s"}' % ("x" * 3000)
    kept = d.http  # the fixture's session: one keep-alive connection across the reload

    def get(s):
        return s.get(d.url + "/healthz", headers=origin, timeout=10)

    assert kept.post(d.url + "/api/v1/test/echo", data=big, timeout=10,
                     headers={"Content-Type": "application/json"}).status_code == 413
    # (a refusal closes its connection: the next request opens the one kept across the reload)
    assert "Access-Control-Allow-Origin" not in get(kept).headers

    cfg.write_text("[server]\nbody_limit = 64k\ncors_origins = https://ui.example\n")
    d.send_signal(signal.SIGHUP)
    assert _wait_for(lambda: any(l.get("msg") == "reloaded" for l in d.log_lines()))

    for s in (kept, requests.Session()):
        assert get(s).headers.get("Access-Control-Allow-Origin") == "https://ui.example"
    r = kept.post(d.url + "/api/v1/test/echo", data=big, timeout=10,
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 422  # admitted by size now; the name is longer than 64
