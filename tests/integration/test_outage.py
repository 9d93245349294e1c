"""Outages of the store: PostgreSQL stopped and started again under load, and a full disk under
SQLite. While the store is out, requests that need it get 503 problems with Retry-After (not
500, not a hang, not a crash), requests that do not need it go on, the daemon recovers by itself
when the store returns, and no write that was acknowledged is lost."""

import concurrent.futures
import os
import sqlite3
import subprocess
import threading
import time

import pytest

from conftest import SANITIZED, assert_problem, http
from gzmq import Client, zmq_daemon

PASSWORD = "outage-test-passphrase-1"
# Longest a single request may take, outage or not: the daemon must answer, not hang.
REQUEST_BOUND_S = 10.0 if SANITIZED else 3.0


def _retry_after_ok(r):
    ra = r.headers.get("Retry-After", "")
    return ra.isdigit() and int(ra) >= 1


class Load:
    """Writers creating users and a reader fetching one, until stopped. Every answer is
    recorded: (start, seconds taken, kind, status, Retry-After, problem type, username)."""

    def __init__(self, d, writers=2):
        self.d = d
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.log = []
        self.acked = []  # usernames answered 201
        self.threads = [threading.Thread(target=self._writer, args=(i,), daemon=True)
                        for i in range(writers)]
        self.threads.append(threading.Thread(target=self._reader, daemon=True))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=30)

    def _record(self, kind, t0, r, name=None, error=None):
        took = time.monotonic() - t0
        entry = {"t": t0, "took": took, "kind": kind, "name": name, "error": error,
                 "status": r.status_code if r is not None else None,
                 "retry_after": r.headers.get("Retry-After") if r is not None else None,
                 "ctype": r.headers.get("Content-Type", "") if r is not None else "",
                 "type": None}
        if r is not None and entry["ctype"].startswith("application/problem+json"):
            entry["type"] = r.json().get("type")
        with self.lock:
            self.log.append(entry)
            if kind == "write" and entry["status"] == 201:
                self.acked.append(name)
        return entry

    def _call(self, kind, s, method, path, name=None, **kw):
        t0 = time.monotonic()
        try:
            r = s.request(method, self.d.url + path, timeout=10, **kw)
        except Exception as e:  # a hang or a dropped connection is a finding, not a crash here
            return self._record(kind, t0, None, name, error=repr(e))
        return self._record(kind, t0, r, name)

    def _writer(self, i):
        s = http()
        n = 0
        while not self.stop_ev.is_set():
            n += 1
            name = f"w{i}-{n}"
            e = self._call("write", s, "POST", "/api/v1/users", name=name,
                           json={"username": name, "password": PASSWORD, "role": "viewer"})
            if e["status"] != 201:
                self.stop_ev.wait(0.02)  # a client backing off, briefly

    def _reader(self):
        s = http()
        while not self.stop_ev.is_set():
            e = self._call("read", s, "GET", "/api/v1/users/1")
            if e["status"] != 200:
                self.stop_ev.wait(0.02)

    def entries(self, since=0.0, kind=None):
        with self.lock:
            return [e for e in self.log if e["t"] >= since and (kind is None or e["kind"] == kind)]

    def wait_for(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return time.monotonic()
            time.sleep(0.02)
        raise AssertionError(f"not within {timeout}s: {what}")


def _assert_outage_answers(entries, ok_statuses):
    """Every answer is a success or a 503 problem with Retry-After, and none took long."""
    for e in entries:
        assert e["error"] is None, f"request failed outright: {e}"
        assert e["took"] < REQUEST_BOUND_S, f"request took {e['took']:.1f}s: {e}"
        if e["status"] in ok_statuses:
            continue
        assert e["status"] == 503, f"unexpected status during the outage: {e}"
        assert e["ctype"].startswith("application/problem+json"), e
        ra = e["retry_after"] or ""
        assert ra.isdigit() and int(ra) >= 1, f"503 without a usable Retry-After: {e}"


def _usernames(d):
    r = d.get("/api/v1/users")
    assert r.status_code == 200, r.text
    return {u["username"] for u in r.json()["users"]}


# fast: an administrator's stop (sessions ended with a FATAL message); immediate: as a crash.
@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_stopped_and_started_under_load(make_daemon, mode):
    pg = pytest.importorskip("pg")
    # A cluster of its own (not $GANGLION_TEST_PG_URL's): the test stops and starts it.
    srv = pg.PostgresServer()
    url = srv.start()
    try:
        # A commit is acknowledged only once it is in the server's log, as in production; the
        # test cluster turns that off for speed, and a crash would then lose the last ones.
        srv.configure(synchronous_commit="on")
        d, rpc, _ = zmq_daemon(make_daemon, store=url)
        load = Load(d).start()
        try:
            load.wait_for(lambda: len(load.acked) >= 20, 15, "20 users created before the outage")

            srv.halt(mode)
            t_down = time.monotonic()
            load.wait_for(lambda: sum(e["status"] == 503 for e in load.entries(t_down, "write"))
                          >= 10, 10, "writers refused while PostgreSQL is down")
            # What needs the store is refused with a problem that says when to retry ...
            r = d.get("/readyz", timeout=REQUEST_BOUND_S)
            assert_problem(r, 503)
            assert _retry_after_ok(r), r.headers
            z = Client(rpc).call("GET", "/api/v1/users/1")
            assert z["status"] == 503, z
            assert z.get("headers", {}).get("Retry-After", "").isdigit(), z
            # ... and what does not need it goes on.
            r = d.get("/healthz", timeout=REQUEST_BOUND_S)
            assert r.status_code == 200
            assert d.get("/api/v1/agents", timeout=REQUEST_BOUND_S).status_code == 200

            srv.resume()
            t_up = time.monotonic()
            t_back = load.wait_for(
                lambda: any(e["status"] == 201 for e in load.entries(t_up, "write")), 10,
                "a write succeeding after PostgreSQL is back")
            acked_after = len(load.acked)
            load.wait_for(lambda: len(load.acked) >= acked_after + 20, 10,
                          "20 more users created after recovery")
        finally:
            load.stop()

        assert d.running(), "the daemon died during the outage"
        _assert_outage_answers(load.entries(), ok_statuses=(200, 201))
        # Recovery is complete: once writes succeed again nothing more is refused.
        late = [e for e in load.entries(t_back + 1.0) if e["status"] not in (200, 201)]
        assert not late, f"refusals after recovery: {late[:5]}"
        assert t_back - t_up < 6.0, f"recovery took {t_back - t_up:.1f}s"
        during = load.entries(t_down)
        print(f"outage: {sum(e['status'] == 503 for e in during)} refused, "
              f"{len(load.acked)} acknowledged, slowest answer {max(e['took'] for e in during):.3f}s, "
              f"first write {t_back - t_up:.3f}s after the server was back")

        # No acknowledged write lost, also across a restart of the daemon.
        acked = set(load.acked)
        assert acked <= _usernames(d)
        d.restart()
        assert acked <= _usernames(d)

        # A restart of PostgreSQL that no request saw: the pooled connections it closed are
        # re-established before their next statement, so the first requests all succeed.
        srv.halt()
        srv.resume()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            rs = list(ex.map(lambda _: http().get(d.url + "/api/v1/users/1", timeout=10),
                             range(16)))
        assert [r.status_code for r in rs] == [200] * 16, [r.text for r in rs if r.status_code != 200]
        m = d.metrics()
        assert m["ganglion_store_up"].samples[0].value == 1
        assert m["ganglion_store_reconnects_total"].samples[0].value >= 1
    finally:
        srv.stop()


def test_postgres_frozen(make_daemon):
    """A server that accepts connections and never answers (every process stopped, as when its
    disk hangs): statements give up after twice the statement timeout and a second, so requests
    get 503 in bounded time instead of hanging, and all is well once it answers again."""
    pg = pytest.importorskip("pg")
    srv = pg.PostgresServer()
    url = srv.start()
    frozen = False
    try:
        # statement timeout 500 ms: a statement is given up after 2 s, a connection after 2 s
        d = make_daemon(store=url, args=["--set", "store.busy_timeout_ms=500"])
        assert d.get("/api/v1/users/1").status_code == 200
        srv.freeze()
        frozen = True
        s = http()
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            def one(_):
                t0 = time.monotonic()
                r = s.get(d.url + "/api/v1/users/1", timeout=30)
                return r, time.monotonic() - t0
            answers = list(ex.map(one, range(8)))
        for r, took in answers:
            assert_problem(r, 503)
            assert _retry_after_ok(r), r.headers
            assert took < 2 * REQUEST_BOUND_S, f"{took:.1f}s for a request to a frozen server"
        assert d.get("/healthz", timeout=REQUEST_BOUND_S).status_code == 200
        srv.thaw()
        frozen = False
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if d.get("/api/v1/users/1").status_code == 200:
                break
            time.sleep(0.1)
        rs = [d.get("/api/v1/users/1").status_code for _ in range(8)]
        assert rs == [200] * 8, rs
    finally:
        if frozen:
            srv.thaw()
        srv.stop()


# ---- SQLite on a full disk ----------------------------------------------------------------

def _mount_tmpfs(path, size):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")


def _umount(path):
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(path):
    """Writes a file until the file system is full, to the last byte; returns its path."""
    f = path / "filler"
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = 1 << 16
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)
    return f


def test_sqlite_disk_full(make_daemon, tmp_path):
    data = tmp_path / "small"
    _mount_tmpfs(data, "6m")
    d = None
    try:
        d = make_daemon(data_dir=data)
        for i in range(10):
            r = d.post("/api/v1/users", json={"username": f"before-{i}", "password": PASSWORD,
                                              "role": "viewer"})
            assert r.status_code == 201, r.text
        acked = {f"before-{i}" for i in range(10)}

        filler = _fill(data)
        # SQLite reuses the space its write-ahead log already has, so the first writes after the
        # disk fills may still fit; keep writing until one is refused (bounded).
        refused = None
        for i in range(400):
            name = f"full-{i}"
            body = {"username": name, "password": PASSWORD, "role": "viewer",
                    "email": f"{'x' * 200}@example.com"}
            t0 = time.monotonic()
            r = d.post("/api/v1/users", json=body, timeout=10)
            assert time.monotonic() - t0 < REQUEST_BOUND_S
            if r.status_code == 201:
                acked.add(name)
                continue
            refused = r
            break
        assert refused is not None, "no write was refused on a full disk"
        assert_problem(refused, 503)
        assert _retry_after_ok(refused), refused.headers
        # Every writing domain says the same: the watch stream table too (500 before).
        r = d.request("PUT", "/api/v1/watch/streams/full-disk", json={})
        assert_problem(r, 503)
        assert _retry_after_ok(r), r.headers
        assert r.json()["type"].endswith(":store-full"), r.json()
        # Reads are still served, and so is everything that needs no store.
        assert _usernames(d) >= acked
        assert d.get("/api/v1/audit", params={"limit": 5}).status_code == 200
        assert d.get("/healthz").status_code == 200
        assert d.running()
        assert d.metrics()["ganglion_store_full"].samples[0].value == 1

        filler.unlink()
        r = d.post("/api/v1/users", json={"username": "after", "password": PASSWORD,
                                          "role": "viewer"})
        assert r.status_code == 201, r.text
        acked.add("after")
        r = d.request("PUT", "/api/v1/watch/streams/full-disk", json={})
        assert r.status_code in (200, 201), r.text
        assert d.metrics()["ganglion_store_full"].samples[0].value == 0

        assert d.stop() == 0
        db = sqlite3.connect(str(data / "ganglion.db"))
        try:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            names = {row[0] for row in db.execute("SELECT username FROM auth_users")}
        finally:
            db.close()
        assert acked <= names, f"acknowledged users lost: {sorted(acked - names)[:5]}"
    finally:
        if d is not None and d.running():
            d.kill()
        _umount(data)
