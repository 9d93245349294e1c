"""Fixtures for the integration suite: each test starts the real daemon on a free port in its
own temporary directory and talks to it over HTTP.

Environment:
  GANGLION_BIN        the binary under test (default <root>/build/ganglion)
  GANGLION_SANITIZED  1 when the binary is the ASan/UBSan build: longer start timeouts, and
                      every test fails at teardown if the daemon's stderr has a sanitizer report
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
import requests.auth

ROOT = Path(__file__).resolve().parents[2]
SANITIZED = os.environ.get("GANGLION_SANITIZED") == "1"
START_TIMEOUT = 30.0 if SANITIZED else 10.0
STOP_TIMEOUT = 30.0 if SANITIZED else 15.0
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")

# Variables the test runner uses that must not reach the daemon (it treats unknown
# GANGLION_<SECTION>_<KEY> variables as configuration errors).
_RUNNER_VARS = {"GANGLION_BIN", "GANGLION_SANITIZED", "GANGLION_URL", "GANGLION_TOKEN",
                "GANGLION_TEST_PG_URL", "GANGLION_TEST_AMQP_URL",
                "GANGLION_TEST_AMQP_DIR"}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The local admin credential of every daemon started by the suite, by "host:port": sessions
# from http() send it automatically, so tests written before authentication keep working.
_TOKENS = {}


class _DaemonAuth(requests.auth.AuthBase):
    """Adds `Authorization: Bearer <admin.token>` for a known daemon unless the request already
    carries a credential (tests of other principals set their own)."""

    def __call__(self, r):
        if "Authorization" not in r.headers and "X-Api-Key" not in r.headers:
            tok = _TOKENS.get(urlsplit(r.url).netloc)
            if tok:
                r.headers["Authorization"] = "Bearer " + tok
        return r


def daemon_token(netloc):
    """The local admin credential of the suite's daemon at "127.0.0.1:PORT", or None."""
    return _TOKENS.get(netloc)


def http():
    """A requests session that ignores proxy settings from the environment and authenticates
    to the suite's daemons as their local admin."""
    s = requests.Session()
    s.trust_env = False
    s.auth = _DaemonAuth()
    return s


def bare_http():
    """A session with no credential at all (for tests of 401/403)."""
    s = requests.Session()
    s.trust_env = False
    return s


# Cheap password hashing for the suite (argon2id at its minimum): tests that measure timing
# pass their own GANGLION_AUTH_PWHASH_* values, which win.
# A fixed first admin password keeps the random one (printed once on stderr) out of the logs
# that tests parse; tests of the random password pass GANGLION_ADMIN_PASSWORD="".
AUTH_TEST_ENV = {"GANGLION_AUTH_PWHASH_OPSLIMIT": "1", "GANGLION_AUTH_PWHASH_MEMLIMIT": "8k",
                 "GANGLION_ADMIN_PASSWORD": "suite-admin-passphrase"}


def daemon_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("GANGLION_") and k in _RUNNER_VARS)}
    env["GANGLION_TEST_ENDPOINTS"] = "1"
    env.update(AUTH_TEST_ENV)
    env.update(extra or {})
    return env


def sanitizer_report(text):
    for marker in SANITIZER_MARKERS:
        i = text.find(marker)
        if i >= 0:
            return text[max(0, i - 200): i + 3000]
    return None


class DaemonStartError(Exception):
    pass


class Daemon:
    """One ganglion daemon process. Start with .start(); .stop(sig) returns the exit code."""

    def __init__(self, bin, workdir, store=None, args=(), env=None, data_dir=None, name="d"):
        self.bin = str(bin)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir) if data_dir else self.workdir / f"{name}-data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.args = list(args)
        self.env = dict(env or {})
        self.name = name
        self.proc = None
        self.port = None
        self.returncode = None
        self.runs = 0
        self.stderr_path = None
        self.stderr_paths = []
        self.http = http()
        self.token = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def command(self, port):
        cmd = [self.bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(self.data_dir)]
        if self.store:
            cmd += ["--store", self.store]
        return cmd + self.args

    def start(self, timeout=START_TIMEOUT, port=None):
        """Starts on a free port (retried if another process took it) and waits for /healthz."""
        last = None
        for _attempt in range(3):
            p = port or free_port()
            try:
                self._start_once(p, timeout)
                return self
            except DaemonStartError as e:
                last = e
                if port or "address" not in str(e).lower():
                    raise
        raise last

    def _start_once(self, port, timeout):
        self.runs += 1
        self.stderr_path = self.workdir / f"{self.name}.stderr.{self.runs}.log"
        self.stderr_paths.append(self.stderr_path)
        self.port = port
        self.returncode = None
        with open(self.stderr_path, "wb") as err, open(self.workdir / f"{self.name}.stdout.log", "ab") as out:
            self.proc = subprocess.Popen(self.command(port), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=daemon_env(self.env), cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise DaemonStartError(f"daemon exited with {rc} during start:\n{self.stderr()[-4000:]}")
            try:
                r = self.http.get(self.url + "/healthz", timeout=1)
                if r.status_code == 200:
                    self._load_token()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill()
        raise DaemonStartError(f"daemon not healthy after {timeout}s:\n{self.stderr()[-4000:]}")

    def _load_token(self):
        """Reads <data_dir>/admin.token (written at first start) for http() sessions and CLIs."""
        p = self.data_dir / "admin.token"
        self.token = p.read_text().strip() if p.exists() else None
        if self.token:
            _TOKENS[f"127.0.0.1:{self.port}"] = self.token
        else:
            _TOKENS.pop(f"127.0.0.1:{self.port}", None)

    def cli_env(self, base=None):
        """An environment for running the CLI against this daemon: GANGLION_TOKEN is the local
        admin credential (pass base to start from a specific environment)."""
        env = dict(os.environ if base is None else base)
        if self.token:
            env["GANGLION_TOKEN"] = self.token
        return env

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        self.returncode = self.proc.wait(timeout=timeout)
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and waits; returns the exit code (negative: killed by that signal).
        Kills the process and raises if it does not exit in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"daemon did not exit within {timeout}s of {sig!r}")
        self.returncode = self.proc.returncode
        return self.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.returncode = self.proc.returncode

    def restart(self, **kw):
        rc = self.stop()
        assert rc == 0, f"exit code {rc} on restart:\n{self.stderr()[-3000:]}"
        return self.start(**kw)

    def stderr(self, all_runs=False):
        paths = self.stderr_paths if all_runs else [self.stderr_path]
        return "".join(p.read_text(errors="replace") for p in paths if p and p.exists())

    def log_lines(self, all_runs=False):
        """The stderr lines that are JSON objects, parsed."""
        out = []
        for line in self.stderr(all_runs).splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    out.append(obj)
        return out

    # convenience
    def get(self, path, **kw):
        kw.setdefault("timeout", 10)
        return self.http.get(self.url + path, **kw)

    def post(self, path, **kw):
        kw.setdefault("timeout", 10)
        return self.http.post(self.url + path, **kw)

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 10)
        return self.http.request(method, self.url + path, **kw)

    def publish(self, topic, data):
        r = self.post("/api/v1/test/publish", json={"topic": topic, "data": data})
        assert r.status_code in (200, 201, 202), (r.status_code, r.text)
        return r.json()["id"]

    def metrics(self):
        import gprom
        r = self.get("/metrics")
        assert r.status_code == 200, r.text
        return gprom.parse(r.text)


def _finish(d, expect_clean_exit=True):
    """Teardown for one daemon: stop it, then check for crashes and sanitizer reports."""
    problems = []
    if d.proc is None:
        return problems
    code = d.proc.poll()
    if code is not None and d.returncode is None:
        # It exited and no test waited for it: a crash or an unexpected exit.
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        problems.append(f"{d.name}: daemon exited during the test ({how}):\n{d.stderr()[-3000:]}")
    elif code is None:
        try:
            rc = d.stop()
            if expect_clean_exit and rc != 0:
                problems.append(f"{d.name}: exit code {rc} after SIGTERM at teardown:\n{d.stderr()[-3000:]}")
        except AssertionError as e:
            problems.append(f"{d.name}: {e}")
    # Secrets never reach the log: the daemon's local admin key and the suite's admin password.
    secrets = [x for x in (d.token, AUTH_TEST_ENV["GANGLION_ADMIN_PASSWORD"]) if x]
    for line in d.stderr(all_runs=True).splitlines():
        if line.startswith("{") and any(x in line for x in secrets):
            problems.append(f"{d.name}: a secret appears in a log line")
            break
    rep = sanitizer_report(d.stderr(all_runs=True))
    if rep:
        problems.append(f"{d.name}: sanitizer report in stderr:\n{rep}")
    return problems


@pytest.fixture(scope="session")
def bin():
    path = Path(os.environ.get("GANGLION_BIN") or ROOT / "build" / "ganglion")
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"ganglion binary not found at {path} (set GANGLION_BIN or run `make build`)")
    return path


@pytest.fixture
def make_daemon(bin, tmp_path):
    """Factory: make_daemon(store=None, args=(), env={}, data_dir=None, start=True) -> Daemon.
    Every daemon made is stopped at teardown and checked for crashes and sanitizer reports."""
    made = []

    def make(store=None, args=(), env=None, data_dir=None, start=True, name=None):
        d = Daemon(bin, tmp_path, store=store, args=args, env=env, data_dir=data_dir,
                   name=name or f"d{len(made)}")
        made.append(d)
        if start:
            d.start()
        return d

    yield make
    problems = []
    for d in made:
        problems += _finish(d, expect_clean_exit=getattr(d, "expect_clean_exit", True))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def daemon(make_daemon):
    """A daemon on SQLite (the default store, in its data dir) with the test endpoints on."""
    return make_daemon()


# ---- PostgreSQL ---------------------------------------------------------------------------

def _pg_module():
    try:
        import pg  # tests/integration/pg.py: a throwaway PostgreSQL cluster
    except ImportError as e:
        pytest.skip(f"tests/integration/pg.py not available: {e}")
    return pg


@pytest.fixture(scope="session")
def pg_cluster():
    """The URL of a throwaway PostgreSQL cluster for the whole session (tests/integration/pg.py;
    reuses $GANGLION_TEST_PG_URL when set, e.g. under tests/harness/with-pg)."""
    pg = _pg_module()
    with pg.existing_or_new() as url:
        yield url


def _db_url(base_url, dbname):
    u = urlsplit(base_url)
    return urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))


def _pg_client(name):
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(re.sub(r"\D", "", p.split("/")[4]) or 0))
    return cands[-1] if cands else None


def _create_database(cluster_url, dbname):
    u = urlsplit(cluster_url)
    exe = _pg_client("createdb")
    if not exe:
        pytest.fail("no createdb client found to make a per-test database")
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = u.password
    cmd = [exe, "-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432)]
    if u.username:
        cmd += ["-U", u.username]
    p = subprocess.run(cmd + [dbname], env=env, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        pytest.fail(f"createdb {dbname} failed: {p.stderr}")
    return _db_url(cluster_url, dbname)


@pytest.fixture
def pg_url(pg_cluster):
    """A fresh, empty database in the session's cluster, as a postgres:// URL."""
    return _create_database(pg_cluster, "t_" + uuid.uuid4().hex[:12])


@pytest.fixture
def pg_daemon(make_daemon, pg_url):
    return make_daemon(store=pg_url)


@pytest.fixture(params=["sqlite", "postgres"])
def store_kind(request):
    return request.param


@pytest.fixture
def store_daemon(store_kind, request, make_daemon):
    """The daemon on each backend in turn (for store-dependent tests)."""
    if store_kind == "postgres":
        return make_daemon(store=request.getfixturevalue("pg_url"))
    return make_daemon()


# ---- assertions shared by the tests -------------------------------------------------------

PROBLEM_TYPES = ("application/problem+json",)


def assert_problem(r, status, field=None, in_=None):
    """Asserts an RFC 9457 problem with the given status (int or tuple of ints). If `field` is
    given, errors[] must name it (a JSON pointer or parameter name; compared loosely)."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, f"expected {statuses}, got {r.status_code}: {r.text[:500]}"
    ct = r.headers.get("Content-Type", "")
    assert ct.split(";")[0].strip() in PROBLEM_TYPES, f"Content-Type {ct!r}"
    body = r.json()
    for k in ("type", "title", "status", "detail"):
        assert k in body, f"problem without {k}: {body}"
    assert body["status"] == r.status_code
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str)
    if field is not None:
        errs = body.get("errors")
        assert isinstance(errs, list) and errs, f"no errors[] in {body}"
        for e in errs:
            assert {"in", "field", "message"} <= set(e), f"bad field error {e}"
        norm = field.lstrip("/")
        hits = [e for e in errs if str(e["field"]).lstrip("/") == norm
                and (in_ is None or e["in"] == in_)]
        assert hits, f"no error for {in_}:{field} in {errs}"
    return body
