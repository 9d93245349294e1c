"""vault: back up a populated daemon, restore into a fresh directory (every table row by row,
then the daemon serves the same users and keys), damage detected before anything is restored,
kill -9 in the middle of a backup, deduplication of a second backup."""
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from auth_util import login, make_key, make_user
from gsse import SSEClient

PASS = {"GANGLION_VAULT_PASSPHRASE": "a vault passphrase for tests"}


def vault(bin, *args, env=None, check=True):
    e = dict(os.environ, **PASS)
    e.update(env or {})
    r = subprocess.run([str(bin), "--json", "vault", *map(str, args)], capture_output=True,
                       text=True, env=e, timeout=120)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def rows(db):
    """Every table's rows, sorted, keyed by table name."""
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out = {}
    for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
        out[t] = sorted(c.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
    c.close()
    return out


@pytest.fixture
def repo(bin, tmp_path):
    path = tmp_path / "repo"
    vault(bin, "init", "--repo", path)
    return path


def backup(bin, repo, data_dir, *extra):
    r = vault(bin, "backup", "--repo", repo, "--data-dir", data_dir, *extra)
    return json.loads(r.stdout)


def test_backup_of_a_running_daemon_restores_every_row_and_serves(bin, make_daemon, repo, tmp_path):
    d = make_daemon()
    _, pw = make_user(d, "alice", "operator")
    key = make_key(d, name="ci", role="viewer")
    r = d.post("/api/v1/agents", json={"name": "sleeper", "argv": ["/bin/true"]})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    deadline = time.monotonic() + 10
    while d.get(f"/api/v1/agents/{aid}").json()["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    b = backup(bin, repo, d.data_dir, "--description", "drill")  # the daemon keeps running
    assert b["schema_version"] > 0 and b["store"].startswith("sqlite")
    live = rows(d.data_dir / "ganglion.db")
    d.stop()
    listed = json.loads(vault(bin, "ls", "--repo", repo).stdout)
    assert [x["id"] for x in listed] == [b["id"]] and listed[0]["description"] == "drill"

    new = tmp_path / "restored"
    vault(bin, "restore", b["id"], "--repo", repo, "--data-dir", new)
    assert rows(new / "ganglion.db") == live
    for f in ("zmq_curve.key", "zmq_curve.pub", "admin.token"):
        if (d.data_dir / f).exists():
            assert (new / f).read_bytes() == (d.data_dir / f).read_bytes()

    d2 = make_daemon(data_dir=new)
    assert login(d2, "alice", pw).status_code == 200
    r = d2.http.get(d2.url + "/api/v1/auth/me", headers={"Authorization": "Bearer " + key["secret"]},
                    timeout=10)
    assert r.status_code == 200, r.text
    assert d2.get(f"/api/v1/agents/{aid}").json()["name"] == "sleeper"


def test_restore_refuses_a_non_empty_directory(bin, repo, tmp_path):
    dd = tmp_path / "dd"
    dd.mkdir()
    (dd / "state").write_text("x")
    b = backup(bin, repo, dd)
    target = tmp_path / "t"
    target.mkdir()
    (target / "keep").write_text("mine")
    r = vault(bin, "restore", b["id"], "--repo", repo, "--data-dir", target, check=False)
    assert r.returncode == 2 and "not empty" in r.stderr and "--force" in r.stderr
    assert sorted(os.listdir(target)) == ["keep"]
    vault(bin, "restore", b["id"], "--repo", repo, "--data-dir", target, "--force")
    assert (target / "state").read_text() == "x"


def _damage_setup(bin, repo, tmp_path):
    dd = tmp_path / "dd"
    dd.mkdir()
    (dd / "big").write_bytes(os.urandom(10 << 20))  # at least two chunks (8 MiB at most each)
    b = backup(bin, repo, dd)
    chunks = sorted(p for p in (repo / "chunks").rglob("*") if p.is_file())
    return b, chunks


def _assert_nothing_restored(bin, repo, b, tmp_path, words):
    target = tmp_path / "target"
    r = vault(bin, "restore", b["id"], "--repo", repo, "--data-dir", target, check=False)
    assert r.returncode == 1 and words in r.stderr and "nothing was restored" in r.stderr
    assert not target.exists() or os.listdir(target) == []


def test_one_flipped_byte_in_a_chunk_is_named_and_nothing_restored(bin, repo, tmp_path):
    b, chunks = _damage_setup(bin, repo, tmp_path)
    raw = bytearray(chunks[0].read_bytes())
    raw[len(raw) // 2] ^= 0x40
    chunks[0].write_bytes(raw)
    r = vault(bin, "verify", "--repo", repo, check=False)
    rep = json.loads(r.stdout)
    assert r.returncode == 1 and not rep["ok"]
    assert rep["damage"][0]["object"] == "chunk " + chunks[0].name
    assert "authentication failed" in rep["damage"][0]["problem"]
    _assert_nothing_restored(bin, repo, b, tmp_path, "authentication failed")


def test_truncated_chunk_and_missing_chunk_are_detected(bin, repo, tmp_path):
    b, chunks = _damage_setup(bin, repo, tmp_path)
    with open(chunks[0], "r+b") as f:
        f.truncate(100)
    chunks[-1].unlink()
    rep = json.loads(vault(bin, "verify", "--repo", repo, check=False).stdout)
    problems = sorted(x["problem"].split(":")[1].strip().split(" ")[0] for x in rep["damage"])
    assert problems == ["authentication", "missing"]
    _assert_nothing_restored(bin, repo, b, tmp_path, "chunk")


def test_damaged_manifest_and_wrong_key_are_refused(bin, repo, tmp_path):
    b, _ = _damage_setup(bin, repo, tmp_path)
    m = repo / "manifests" / b["id"]
    raw = bytearray(m.read_bytes())
    raw[-5] ^= 0x01
    m.write_bytes(raw)
    rep = json.loads(vault(bin, "verify", "--repo", repo, check=False).stdout)
    assert rep["damage"] == [{"object": "manifest " + b["id"], "problem": rep["damage"][0]["problem"]}]
    assert "authentication failed" in rep["damage"][0]["problem"]
    _assert_nothing_restored(bin, repo, b, tmp_path, "manifest")
    r = vault(bin, "ls", "--repo", repo, env={"GANGLION_VAULT_PASSPHRASE": "not it"}, check=False)
    assert r.returncode == 1 and "wrong key" in r.stderr


def test_key_rotation_keeps_the_backups_and_retires_the_old_key(bin, repo, tmp_path):
    dd = tmp_path / "dd"
    dd.mkdir()
    (dd / "f").write_text("hello")
    b = backup(bin, repo, dd)
    chunks_before = sorted(p.stat().st_mtime_ns for p in (repo / "chunks").rglob("*") if p.is_file())
    kf = tmp_path / "new.key"
    kf.write_bytes(os.urandom(32))
    vault(bin, "key", "rotate", "--repo", repo, "--new-key-file", kf)
    assert vault(bin, "ls", "--repo", repo, check=False).returncode == 1
    listed = json.loads(vault(bin, "ls", "--repo", repo, "--key-file", kf).stdout)
    assert [x["id"] for x in listed] == [b["id"]]
    after = sorted(p.stat().st_mtime_ns for p in (repo / "chunks").rglob("*") if p.is_file())
    assert after == chunks_before  # no chunk rewritten
    vault(bin, "verify", "--repo", repo, "--key-file", kf)


def test_kill_9_during_backup_leaves_a_usable_repository(bin, repo, tmp_path):
    dd = tmp_path / "dd"
    dd.mkdir()
    (dd / "small").write_text("first")
    first = backup(bin, repo, dd)
    db = sqlite3.connect(dd / "ganglion.db")
    db.execute("CREATE TABLE big(b)")
    db.executemany("INSERT INTO big VALUES (?)", ((os.urandom(1 << 20),) for _ in range(96)))
    db.commit()
    db.close()
    e = dict(os.environ, **PASS)
    p = subprocess.Popen([str(bin), "vault", "backup", "--repo", str(repo), "--data-dir", str(dd)],
                         env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = sum(1 for x in (repo / "chunks").rglob("*") if x.is_file())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum(1 for x in (repo / "chunks").rglob("*") if x.is_file()) > before + 1:
            break
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert sorted(os.listdir(repo / "manifests")) == [first["id"]]  # killed before its manifest
    left = [f for f in os.listdir(dd) if f.startswith(".vault-snapshot-")]
    assert len(left) == 1 and (dd / left[0]).stat().st_mode & 0o077 == 0
    vault(bin, "verify", "--repo", repo)
    second = backup(bin, repo, dd)
    assert not [f for f in os.listdir(dd) if f.startswith(".vault-snapshot-")]
    assert second["added_chunks"] < 96 // 2  # what the killed run wrote is reused
    vault(bin, "verify", "--repo", repo)
    vault(bin, "restore", second["id"], "--repo", repo, "--data-dir", tmp_path / "r")
    assert rows(tmp_path / "r" / "ganglion.db") == rows(dd / "ganglion.db")


def test_a_small_change_adds_only_a_few_chunks(bin, repo, tmp_path):
    dd = tmp_path / "dd"
    dd.mkdir()
    data = bytearray(os.urandom(24 << 20))
    (dd / "data").write_bytes(data)
    first = backup(bin, repo, dd)
    data[12 << 20:(12 << 20) + 100] = b"z" * 100
    (dd / "data").write_bytes(data)
    second = backup(bin, repo, dd)
    assert first["added_chunks"] >= 4
    assert second["added_chunks"] <= 2
    assert second["added_bytes"] <= first["added_bytes"] * 0.5


def _chunk_files(repo):
    return {p.name for p in (repo / "chunks").rglob("*") if p.is_file()}


def test_prune_keeps_the_newest_and_removes_only_unreferenced_chunks(bin, repo, tmp_path):
    dd = tmp_path / "dd"
    dd.mkdir()
    ids = []
    for i in range(3):
        (dd / "f").write_bytes(os.urandom(256 << 10))  # one chunk per backup
        ids.append(backup(bin, repo, dd)["id"])
    dry = json.loads(vault(bin, "prune", "--repo", repo, "--keep-last", 1, "--dry-run").stdout)
    assert sorted(dry["forgotten"]) == sorted(ids[:2]) and len(_chunk_files(repo)) == 3
    rep = json.loads(vault(bin, "prune", "--repo", repo, "--keep-last", 1).stdout)
    assert rep["kept"] == [ids[2]] and rep["chunks_removed"] == 2 and rep["swept"]
    assert len(_chunk_files(repo)) == 1
    vault(bin, "verify", "--repo", repo)
    vault(bin, "restore", ids[2], "--repo", repo, "--data-dir", tmp_path / "r")
    assert (tmp_path / "r" / "f").read_bytes() == (dd / "f").read_bytes()
    r = vault(bin, "prune", "--repo", repo, check=False)
    assert r.returncode == 2 and "retention rule" in r.stderr


def test_kill_9_during_prune_leaves_a_usable_repository(bin, repo, tmp_path):
    dd = tmp_path / "dd"
    (dd / "many").mkdir(parents=True)
    for i in range(400):
        (dd / "many" / f"{i}").write_bytes(os.urandom(64))
    old = backup(bin, repo, dd)
    for i in range(400):
        (dd / "many" / f"{i}").write_bytes(os.urandom(64))
    new = backup(bin, repo, dd)
    before = len(_chunk_files(repo))
    e = dict(os.environ, **PASS)
    p = subprocess.Popen([str(bin), "vault", "prune", "--repo", str(repo), "--keep-last", "1"],
                         env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while (repo / "manifests" / old["id"]).exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert len(_chunk_files(repo)) >= 400
    rep = json.loads(vault(bin, "verify", "--repo", repo).stdout)
    assert rep["ok"] and rep["manifests"] == 1
    vault(bin, "restore", new["id"], "--repo", repo, "--data-dir", tmp_path / "r")
    assert (tmp_path / "r" / "many" / "7").read_bytes() == (dd / "many" / "7").read_bytes()
    backup(bin, repo, dd)
    rep = json.loads(vault(bin, "prune", "--repo", repo, "--keep-last", 2).stdout)
    assert len(_chunk_files(repo)) < before and rep["swept"]
    vault(bin, "verify", "--repo", repo)


def _poll(fn, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_daemon_schedule_runs_a_missed_backup_at_start_and_serves_the_endpoints(bin, make_daemon,
                                                                                tmp_path):
    kf = tmp_path / "vault.key"
    kf.write_bytes(os.urandom(32))
    repo = tmp_path / "repo"
    vault(bin, "init", "--repo", repo, "--key-file", kf)
    env = {"GANGLION_VAULT_REPO": str(repo), "GANGLION_VAULT_KEY_FILE": str(kf),
           "GANGLION_VAULT_INTERVAL_S": "3600"}
    d = make_daemon(env=env)
    # never backed up: the run is due at start
    first = _poll(lambda: d.get("/api/v1/vault/backups").json())
    assert first[0]["description"] == "scheduled"
    s = _poll(lambda: (lambda s: s if s["runs_ok"] == 1 else None)(d.get("/api/v1/vault/schedule").json()))
    assert s["enabled"] and s["next_run"] >= s["last_success"] + 3500 and s["last_size"] > 0
    assert "ganglion_vault_last_success_timestamp_seconds" in d.metrics()
    _poll(lambda: any(a.get("principal") == "vault-schedule" and a.get("action") == "vault.backup"
                      for a in d.get("/api/v1/audit", params={"limit": 100}).json()["entries"]))

    def subscribers():
        return sum(x.value for x in d.metrics()["ganglion_bus_subscribers"].samples)
    base = subscribers()
    with SSEClient(d.url, "/api/v1/stream?topics=vault.backup.*") as c:
        assert c.read_headers() == 200
        _poll(lambda: subscribers() >= base + 1)
        r = d.post("/api/v1/vault/backups")
        assert r.status_code == 201, r.text
        bid = r.json()["id"]
        seen = []
        while len(seen) < 2:
            ev = c.next_event(timeout=10, comments=False)
            v = json.loads(ev.data)
            seen.append((ev.event or v.get("topic"), json.dumps(v)))
    assert "vault.backup.started" in seen[0][0] + seen[0][1]
    assert "vault.backup.finished" in seen[1][0] + seen[1][1] and bid in seen[1][1]
    m = d.get(f"/api/v1/vault/backups/{bid}").json()
    assert m["id"] == bid and any(c["name"] == "store:sqlite" for c in m["components"])
    assert d.get("/api/v1/vault/backups/nope").status_code == 404
    v = d.post(f"/api/v1/vault/backups/{bid}/verify")
    assert v.status_code == 200 and v.json()["ok"], v.text
    assert d.post("/api/v1/vault/prune", json={}).status_code == 422
    p = d.post("/api/v1/vault/prune", json={"keep_last": 1})
    assert p.status_code == 200 and p.json()["kept"] == [bid], p.text

    # a backup made recently: a restart runs nothing until the interval has passed
    d.stop()
    d.start()
    time.sleep(0.5)
    s = d.get("/api/v1/vault/schedule").json()
    assert s["runs_ok"] == 0 and s["next_run"] > time.time() + 3000
    assert [b["id"] for b in d.get("/api/v1/vault/backups").json()] == [bid]


def test_verify_sample_checks_a_share_of_the_chunks(bin, repo, tmp_path):
    dd = tmp_path / "dd"
    dd.mkdir()
    for i in range(12):
        (dd / f"f{i}").write_bytes(os.urandom(1000))  # one chunk each
    backup(bin, repo, dd)
    full = json.loads(vault(bin, "verify", "--repo", repo).stdout)
    assert full["chunks_checked"] == full["chunks_referenced"] == 12
    part = json.loads(vault(bin, "verify", "--repo", repo, "--sample", "1%").stdout)
    assert part["ok"] and part["sample_pct"] == 1 and part["chunks_checked"] < 12  # 0.01**12 to fail
    r = vault(bin, "verify", "--repo", repo, "--sample", "0", check=False)
    assert r.returncode == 2 and "--sample" in r.stderr
