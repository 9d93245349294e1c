"""The command-line client (`ganglion call|status|version|help`) against a real daemon, plus a
small fake daemon for the states a real one is hard to put in (not ready, missing fields)."""

import http.server
import json
import os
import socket
import subprocess
import threading

import pytest

CLIENT_COMMANDS = ["call", "status", "version", "help"]


def client_env(**extra):
    """The client's environment without anything from the runner that would redirect it."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("GANGLION_URL", "GANGLION_TOKEN", "GANGLION_DATA_DIR")}
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def run(bin, *args, url=None, input=None, env=None, timeout=30):
    cmd = [str(bin)]
    if url:
        cmd += ["--url", url]
    cmd += list(args)
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                       env=env or client_env())
    # Under the sanitizer build the client is checked too, not only the daemon.
    for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
        assert marker not in r.stderr, r.stderr
    return r


@pytest.fixture
def cli(daemon):
    """Runs the client against the test daemon."""
    def go(*args, **kw):
        kw.setdefault("env", daemon.cli_env(client_env()))
        return run(daemon.bin, *args, url=daemon.url, **kw)
    return go


@pytest.fixture
def bin_path(bin):
    """The binary for tests that need no daemon (`bin` comes from conftest.py)."""
    return bin


def dead_url():
    """A loopback URL where nothing listens (the port is bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---- call ---------------------------------------------------------------------------------

def test_call_get(cli):
    r = cli("call", "GET", "/healthz")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"status": "ok"}


def test_call_method_case_insensitive_and_json(cli):
    r = cli("--json", "call", "get", "/api/v1/system/info")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1  # compact: one line
    assert json.loads(r.stdout)["name"] == "ganglion"


def test_call_global_options_after_command(cli, daemon):
    r = run(daemon.bin, "call", "GET", "/healthz", "--url", daemon.url, "--timeout", "5")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "ok"


def test_call_url_from_environment(daemon):
    r = run(daemon.bin, "call", "GET", "/healthz", env=client_env(GANGLION_URL=daemon.url))
    assert r.returncode == 0, r.stderr


def test_call_post(cli):
    r = cli("call", "POST", "/api/v1/test/echo", '{"name": "w1", "count": 3}')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "w1"


def test_call_body_from_file(cli, tmp_path):
    f = tmp_path / "body.json"
    f.write_text('{"name": "from-file"}\n')
    r = cli("call", "POST", "/api/v1/test/echo", f"@{f}")
    assert r.returncode == 0, r.stderr
    assert "from-file" in r.stdout


def test_call_body_from_stdin(cli):
    r = cli("call", "POST", "/api/v1/test/echo", "-", input='{"name": "from-stdin"}')
    assert r.returncode == 0, r.stderr
    assert "from-stdin" in r.stdout


def test_call_query_string(cli):
    r = cli("call", "GET", "/api/v1/test/sleep?ms=1")
    assert r.returncode == 0, r.stderr


def test_call_raw_non_json(cli):
    r = cli("call", "GET", "/metrics")
    assert r.returncode == 0, r.stderr
    assert "# TYPE" in r.stdout
    assert not r.stdout.lstrip().startswith("{")


def test_call_404(cli):
    r = cli("call", "GET", "/no/such/endpoint")
    assert r.returncode == 1
    assert r.stderr.startswith("error: 404 Not Found"), r.stderr
    assert r.stdout == ""


def test_call_422_field_errors(cli):
    r = cli("call", "POST", "/api/v1/test/echo", '{"name": 5, "count": 300}')
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0].startswith("error: 422 "), r.stderr
    assert any(l.startswith("  body /name: ") for l in lines[1:]), r.stderr
    assert any(l.startswith("  body /count: ") for l in lines[1:]), r.stderr


def test_call_error_json_puts_problem_on_stdout(cli):
    r = cli("--json", "call", "GET", "/no/such/endpoint")
    assert r.returncode == 1
    assert json.loads(r.stdout)["status"] == 404
    assert "error: 404" in r.stderr


def test_call_405(cli):
    r = cli("call", "DELETE", "/healthz")
    assert r.returncode == 1
    assert "error: 405" in r.stderr


def test_call_invalid_json_is_local_error(cli):
    r = cli("call", "POST", "/api/v1/test/echo", '{"name": ')
    assert r.returncode == 2
    assert "not valid JSON" in r.stderr and "line 1" in r.stderr


def test_call_missing_file(cli, tmp_path):
    r = cli("call", "POST", "/api/v1/test/echo", f"@{tmp_path}/nope.json")
    assert r.returncode == 2
    assert "cannot read body file" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["call"], "needs METHOD and PATH"),
    (["call", "GET"], "needs METHOD and PATH"),
    (["call", "GET", "healthz"], "must start with '/'"),
    (["call", "G3T", "/healthz"], "not an HTTP method"),
    (["call", "GET", "/a b"], "percent-encode"),
    (["call", "GET", "/x", "{}", "extra"], "too many arguments"),
    (["call", "--bogus", "GET", "/x"], "unknown option"),
    (["--timeout", "abc", "status"], "--timeout"),
    (["--via", "pigeon", "status"], "--via"),
    (["--url", "ftp://x", "status"], "scheme"),
])
def test_usage_errors(bin_path, args, needle):
    r = run(bin_path, *args, url=None if "--url" in args else dead_url())
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle in r.stderr


def test_call_unreachable(bin_path):
    url = dead_url()
    r = run(bin_path, "call", "GET", "/healthz", url=url)
    assert r.returncode == 3
    assert f"cannot reach ganglion at {url}: connection refused (is `ganglion serve` running?)" \
        in r.stderr


def test_call_timeout(cli):
    r = cli("--timeout", "0.3", "call", "GET", "/api/v1/test/sleep?ms=3000")
    assert r.returncode == 3
    assert "no reply" in r.stderr and "--timeout" in r.stderr


def test_call_sends_token(bin_path, tmp_path):
    """GANGLION_TOKEN, then <data-dir>/admin.token for a loopback URL, as a bearer token."""
    seen = []
    with FakeDaemon(routes={"/x": (200, {"ok": True})}, seen=seen) as fake:
        (tmp_path / "admin.token").write_text("local-token\n")
        r = run(bin_path, "call", "GET", "/x", url=fake.url,
                env=client_env(GANGLION_DATA_DIR=str(tmp_path)))
        assert r.returncode == 0, r.stderr
        r = run(bin_path, "call", "GET", "/x", url=fake.url,
                env=client_env(GANGLION_DATA_DIR=str(tmp_path), GANGLION_TOKEN="env-token"))
        assert r.returncode == 0, r.stderr
    assert seen[0].get("Authorization") == "Bearer local-token"
    assert seen[1].get("Authorization") == "Bearer env-token"
    assert all(h.get("X-Request-Id") for h in seen)
    assert seen[0]["X-Request-Id"] != seen[1]["X-Request-Id"]


# ---- status -------------------------------------------------------------------------------

def test_status_table(cli, daemon):
    r = cli("status")
    assert r.returncode == 0, r.stderr
    rows = dict(line.split(None, 1) for line in r.stdout.splitlines() if line.strip())
    assert rows["URL"] == daemon.url
    assert rows["status"] == "ok"
    assert rows["version"]
    assert rows["store"] == "sqlite"
    assert rows["uptime"].endswith("s")
    assert "\033[" not in r.stdout  # not a terminal: no colour


def test_status_json(cli, daemon):
    r = cli("status", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["status"] == "ok" and s["healthy"] is True and s["ready"] is True
    assert s["url"] == daemon.url
    assert isinstance(s["uptime_s"], (int, float))
    assert s["store"]["backend"] == "sqlite"
    assert isinstance(s["store"]["schema_version"], int)


def test_status_unreachable(bin_path):
    r = run(bin_path, "status", url=dead_url())
    assert r.returncode == 3
    assert "down" in r.stdout and "connection refused" in r.stdout
    r = run(bin_path, "status", "--json", url=dead_url())
    assert r.returncode == 3
    assert json.loads(r.stdout)["status"] == "down"


def test_status_not_ready(bin_path):
    problem = {"type": "urn:ganglion:problem:unavailable", "title": "Service Unavailable",
               "status": 503, "detail": "store unreachable"}
    with FakeDaemon(routes={"/healthz": (200, {"status": "ok"}), "/readyz": (503, problem),
                            "/api/v1/system/info": (200, {"name": "ganglion"})}) as fake:
        r = run(bin_path, "status", url=fake.url)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "degraded" in r.stdout and "store unreachable" in r.stdout
        r = run(bin_path, "status", "--json", url=fake.url)
        assert r.returncode == 1
        s = json.loads(r.stdout)
        assert s["status"] == "degraded" and s["ready"] is False and s["version"] is None


# ---- version, help, dispatch --------------------------------------------------------------

def test_version_with_daemon(cli):
    r = cli("version", "--json")
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)
    assert v["client"]["version"] and v["client"]["revision"] and v["client"]["build_type"]
    assert v["daemon"]["reachable"] is True
    assert v["daemon"]["version"] == v["client"]["version"]
    r = cli("version")
    assert r.returncode == 0
    assert r.stdout.startswith("client") and "daemon" in r.stdout


def test_version_without_daemon(bin_path):
    r = run(bin_path, "version", url=dead_url())
    assert r.returncode == 0, r.stderr
    assert "client" in r.stdout and "connection refused" in r.stdout
    r = run(bin_path, "version", "--json", url=dead_url())
    assert json.loads(r.stdout)["daemon"]["reachable"] is False


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_top_level_help(bin_path, args):
    r = run(bin_path, *args)
    assert r.returncode == 0
    assert r.stdout.startswith("usage:")
    for name in CLIENT_COMMANDS + ["serve"]:
        assert f"\n  {name} " in r.stdout, name


def test_no_arguments_prints_usage(bin_path):
    r = run(bin_path)
    assert r.returncode == 2
    assert "usage:" in r.stderr


@pytest.mark.parametrize("name", CLIENT_COMMANDS)
def test_command_help(bin_path, name):
    for flag in ("--help", "-h"):
        r = run(bin_path, name, flag, url=dead_url())
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("usage:"), r.stdout
        if name != "help":
            assert "examples:" in r.stdout
    r = run(bin_path, "help", name)
    assert r.returncode == 0 and r.stdout.startswith("usage:")


def test_serve_help(bin_path):
    r = run(bin_path, "serve", "--help")
    assert r.returncode == 0
    assert "usage" in r.stdout.lower()


@pytest.mark.parametrize("typo,want", [("stauts", "status"), ("cal", "call"),
                                       ("verison", "version")])
def test_unknown_command_suggests(bin_path, typo, want):
    r = run(bin_path, typo)
    assert r.returncode == 2
    assert f"unknown command '{typo}'" in r.stderr
    assert f"Did you mean 'ganglion {want}'?" in r.stderr


def test_unknown_command_without_suggestion(bin_path):
    r = run(bin_path, "zzzzzzzz")
    assert r.returncode == 2
    assert "unknown command" in r.stderr and "Did you mean" not in r.stderr


# ---- a fake daemon ------------------------------------------------------------------------

class FakeDaemon:
    """Answers GETs from a {path: (status, json)} table on a free loopback port and records the
    request headers it saw."""

    def __init__(self, routes, seen=None):
        self.routes = routes
        self.seen = seen if seen is not None else []

    def __enter__(self):
        routes, seen = self.routes, self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(dict(self.headers.items()))
                status, body = routes.get(self.path.split("?")[0], (404, {"status": 404}))
                data = json.dumps(body).encode()
                self.send_response(status)
                ctype = "application/problem+json" if status >= 400 else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
