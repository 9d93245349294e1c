"""Per-module log levels: [log] levels at start, PUT /api/v1/system/log-levels and
`ganglion log-level MODULE LEVEL` at run time. A module's debug line appears only once its
level allows it, and stops again when the module follows the default."""

import time

from conftest import DaemonStartError, assert_problem
from test_cli import client_env, run


def _lines(d, path):
    return [l for l in d.log_lines() if l.get("msg") == "http: request" and l.get("path") == path]


def _wait_line(d, path, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        if _lines(d, path):
            return _lines(d, path)
        time.sleep(0.05)
    raise AssertionError(f"no 'http: request' line for {path}")


def _quiet(d, path):
    """No line for `path`: a later request's line (written after, by the same thread) shows the
    log has caught up."""
    d.get("/no/marker")
    return _lines(d, path) == []


def test_module_level_at_run_time(daemon):
    daemon.get("/no/before")
    assert daemon.get("/api/v1/system/log-levels").json()["modules"]["http"] is None

    r = daemon.request("PUT", "/api/v1/system/log-levels", json={"module": "http", "level": "debug"})
    assert r.status_code == 200, r.text
    assert r.json()["modules"]["http"] == "debug" and r.json()["default"] == "info"
    daemon.get("/no/during")
    _wait_line(daemon, "/no/during")
    assert _lines(daemon, "/no/before") == []
    # the other modules' debug lines stay off: the default is still info
    assert daemon.get("/api/v1/system/log-levels").json()["modules"]["agents"] is None

    r = daemon.request("PUT", "/api/v1/system/log-levels", json={"module": "http", "level": "default"})
    assert r.status_code == 200 and r.json()["modules"]["http"] is None
    daemon.get("/no/after")
    # turned back on to see that the log has caught up past /no/after
    daemon.request("PUT", "/api/v1/system/log-levels", json={"module": "http", "level": "debug"})
    daemon.get("/no/later")
    _wait_line(daemon, "/no/later")
    assert _lines(daemon, "/no/after") == []


def test_refusals(daemon):
    r = daemon.request("PUT", "/api/v1/system/log-levels", json={"module": "nosuch", "level": "debug"})
    assert_problem(r, 422, "/module")
    r = daemon.request("PUT", "/api/v1/system/log-levels", json={"module": "http", "level": "loud"})
    assert_problem(r, 422, "/level")
    r = daemon.request("PUT", "/api/v1/system/log-levels", json={"level": "default"})
    assert_problem(r, 422, "/level")


def test_config_sets_initial_levels(make_daemon):
    d = make_daemon(env={"GANGLION_LOG_LEVELS": "http=debug,agents=warn"})
    levels = d.get("/api/v1/system/log-levels").json()
    assert levels["modules"]["http"] == "debug" and levels["modules"]["agents"] == "warn"
    d.get("/no/configured")
    _wait_line(d, "/no/configured")


def test_config_refuses_unknown_module(make_daemon):
    d = make_daemon(env={"GANGLION_LOG_LEVELS": "nosuch=debug"}, start=False)
    try:
        d.start(timeout=5)
        raise AssertionError("the daemon started with an unknown module in [log] levels")
    except DaemonStartError as e:
        assert "nosuch" in str(e) or "nosuch" in d.stderr()
    d.expect_clean_exit = False


def test_cli_log_level(daemon):
    env = daemon.cli_env(client_env())
    r = run(daemon.bin, "log-level", "http", "debug", url=daemon.url, env=env)
    assert r.returncode == 0, r.stderr
    assert "http" in r.stdout and "debug" in r.stdout
    daemon.get("/no/cli")
    _wait_line(daemon, "/no/cli")
    r = run(daemon.bin, "--json", "log-level", url=daemon.url, env=env)
    assert r.returncode == 0, r.stderr
    import json
    assert json.loads(r.stdout)["modules"]["http"] == "debug"
    r = run(daemon.bin, "log-level", "http", "shout", url=daemon.url, env=env)
    assert r.returncode != 0 and "level" in r.stderr
    r = run(daemon.bin, "log-level", "http", url=daemon.url, env=env)
    assert r.returncode == 2 and "usage" in r.stderr
