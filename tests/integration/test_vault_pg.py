"""vault on PostgreSQL: a populated daemon's database backed up while it runs (COPY of every
domain's tables in one snapshot), restored into an empty database and into the same one (replace),
every table compared row by row, the daemon serving the restored data; damage refused before the
database is touched; a stream of writes during a backup never tears the snapshot."""
import json
import os
import signal
import subprocess
import time

import pytest

from auth_util import login, make_key, make_user
from conftest import ROOT, _create_database, _pg_client
from test_brain import brain_args
from test_vault import PASS, backup, vault
from watch_util import seed

# a small genome kept with the tests: the shipped ones live outside the tree
RELAY_GENOME = json.loads((ROOT / "tests" / "integration" / "genomes" / "robot_relay.json").read_text())

DOMAIN_TABLES = {
    "audit": {"audit_log"},
    "agents": {"agents"},
    "auth": {"auth_users", "auth_keys", "auth_refresh", "auth_teams", "auth_team_members",
             "auth_tokens", "mail_outbox"},
    "watch": {"watch_streams", "watch_anomalies", "watch_incidents"},
    "guard": {"guard_rules", "guard_principals", "guard_verdicts", "guard_meta"},
    "memory": {"memory_records"},
    "brain": {"brains"},
    "tasks": {"tasks", "chat_turns"},
    "alerts": {"alert_rules", "alert_notifiers", "alert_outbox"},
}


def psql(url, sql):
    r = subprocess.run([_pg_client("psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url,
                        "-c", sql], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def pg_rows(url):
    """Every ganglion table's rows (as JSON, sorted), keyed by table; schema_migrations aside
    (each database records when it migrated)."""
    tables = psql(url, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                       "AND tablename <> 'schema_migrations' ORDER BY 1").split()
    out = {t: psql(url, f"SELECT coalesce(json_agg(x ORDER BY x::text), '[]') FROM {t} x")
           for t in tables}
    # the indexes and constraints too: a restore drops them for the load and builds them again
    out["(indexes)"] = psql(url, "SELECT string_agg(indexdef, E'\\n' ORDER BY indexdef) "
                                 "FROM pg_indexes WHERE schemaname = current_schema()")
    out["(constraints)"] = psql(url, "SELECT string_agg(c, E'\\n' ORDER BY c) FROM (SELECT "
                                     "conrelid::regclass || ' ' || conname || ' ' || "
                                     "pg_get_constraintdef(oid) AS c FROM pg_constraint WHERE "
                                     "connamespace = current_schema()::regnamespace) x")
    # and where each sequence stands: the next id is the one the original would have given
    out["(sequences)"] = psql(url, "SELECT string_agg(sequencename || '=' || "
                                   "coalesce(last_value::text, '-'), ',' ORDER BY sequencename) "
                                   "FROM pg_sequences WHERE schemaname = current_schema()")
    return out


@pytest.fixture
def repo(bin, tmp_path):
    path = tmp_path / "repo"
    vault(bin, "init", "--repo", path)
    return path


def populate(d):
    """Something in every domain's tables; what the restored daemon must serve again."""
    _, pw = make_user(d, "alice", "operator")
    key = make_key(d, name="ci", role="viewer")
    r = d.post("/api/v1/agents", json={"name": "sleeper", "argv": ["/bin/true"]})
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    anomalies = seed(d, "svc")
    r = d.post("/api/v1/guard/rules", json={"name": "no-rm", "weight": 60,
                                             "match": {"words": ["rm -rf"]}})
    assert r.status_code == 201, r.text
    r = d.post("/api/v1/tasks", json={"type": "echo", "idempotency_key": "vault-1"})
    assert r.status_code in (201, 202), r.text
    tid = r.json()["id"]
    r = d.post("/api/v1/memory/records", json={"layer": "semantic", "content": "disks fill up"})
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    r = d.post("/api/v1/brains", json={"genome": RELAY_GENOME, "name": "bb"})
    assert r.status_code == 201, r.text
    deadline = time.monotonic() + 10
    while d.get(f"/api/v1/agents/{aid}").json()["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return {"pw": pw, "key": key, "aid": aid, "anomaly": anomalies[0]["id"], "tid": tid,
            "mid": mid}


def assert_serves(d, seen):
    assert login(d, "alice", seen["pw"]).status_code == 200
    r = d.http.get(d.url + "/api/v1/auth/me",
                   headers={"Authorization": "Bearer " + seen["key"]["secret"]}, timeout=10)
    assert r.status_code == 200, r.text
    assert d.get(f"/api/v1/agents/{seen['aid']}").json()["name"] == "sleeper"
    assert d.get(f"/api/v1/watch/anomalies/{seen['anomaly']}").status_code == 200
    assert any(x["name"] == "no-rm" for x in d.get("/api/v1/guard/rules").json()["rules"])
    assert d.get(f"/api/v1/tasks/{seen['tid']}").json()["id"] == seen["tid"]
    assert d.get(f"/api/v1/memory/records/{seen['mid']}").json()["content"] == "disks fill up"
    assert d.get("/api/v1/brains/bb").status_code == 200


def test_pg_backup_restores_every_domain_into_an_empty_and_into_the_same_database(
        bin, make_daemon, pg_cluster, pg_url, repo, tmp_path):
    d = make_daemon(store=pg_url, args=brain_args())
    seen = populate(d)
    b = backup(bin, repo, d.data_dir, "--store", pg_url)  # the daemon keeps running
    assert b["store"].startswith("postgres") and b["schema_version"] > 0
    assert "undeclared_tables" not in b  # every table belongs to a domain
    declared = {x["name"]: {t["table"] for t in x["tables"]} for x in b["domains"]}
    assert declared == DOMAIN_TABLES
    rows = {t["table"]: t.get("rows", 0) for x in b["domains"] for t in x["tables"]}
    for t in ("auth_users", "auth_keys", "agents", "watch_streams", "watch_anomalies",
              "guard_rules", "tasks", "memory_records", "brains", "audit_log"):
        assert rows[t] > 0, t
    assert "programs.d" in next(x for x in b["domains"] if x["name"] == "agents")["files"] or \
        not (d.data_dir / "programs.d").exists()
    d.stop()
    live = pg_rows(pg_url)
    assert all(live[t] != "[]" for t in ("agents", "auth_keys", "watch_anomalies", "brains"))

    # into an empty database and a fresh data directory
    empty = _create_database(pg_cluster, "t_restored_" + os.urandom(4).hex())
    new = tmp_path / "restored"
    vault(bin, "restore", b["id"], "--repo", repo, "--data-dir", new, "--store", empty)
    assert pg_rows(empty) == live
    assert "audit_log_pkey" in live["(indexes)"] and "PRIMARY KEY" in live["(constraints)"]
    assert "audit_log_id_seq=" in live["(sequences)"]
    d2 = make_daemon(store=empty, data_dir=new, args=brain_args())
    assert_serves(d2, seen)
    # a daemon connected to the database: a restore into it is refused, even with --force
    r = vault(bin, "restore", b["id"], "--repo", repo, "--data-dir", tmp_path / "x", "--store",
              empty, "--force", check=False)
    assert r.returncode != 0 and "stop the daemon" in r.stderr
    d2.stop()

    # into the same database, changed since: refused without --force, replaced with it
    psql(pg_url, "DELETE FROM guard_rules; DELETE FROM memory_records")
    r = vault(bin, "restore", b["id"], "--repo", repo, "--data-dir", tmp_path / "again",
              "--store", pg_url, check=False)
    assert r.returncode != 0 and "--force" in r.stderr and "holds ganglion data" in r.stderr
    assert not (tmp_path / "again").exists() or not os.listdir(tmp_path / "again")
    vault(bin, "restore", b["id"], "--repo", repo, "--data-dir", d.data_dir, "--store", pg_url,
          "--force")
    assert pg_rows(pg_url) == live
    d.start()
    assert_serves(d, seen)


def test_pg_archive_damage_is_detected_and_the_database_left_untouched(bin, make_daemon,
                                                                       pg_cluster, pg_url, repo,
                                                                       tmp_path):
    d = make_daemon(store=pg_url)
    make_user(d, "bob", "viewer")
    d.stop()
    # an empty data directory: the database export is all the backup holds
    (tmp_path / "empty").mkdir()
    b = backup(bin, repo, tmp_path / "empty", "--store", pg_url)
    chunks = sorted(p for p in (repo / "chunks").rglob("*") if p.is_file())
    assert chunks
    chunk = chunks[0].name
    data = bytearray(chunks[0].read_bytes())
    data[len(data) // 2] ^= 0x01
    chunks[0].write_bytes(bytes(data))
    r = vault(bin, "verify", "--repo", repo, check=False)
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert not report["ok"] and any(chunk in x["object"] and "store:postgres" in x["problem"]
                                    for x in report["damage"])
    target = _create_database(pg_cluster, "t_damaged_" + os.urandom(4).hex())
    r = vault(bin, "restore", b["id"], "--repo", repo, "--data-dir", tmp_path / "t", "--store",
              target, check=False)
    assert r.returncode != 0 and "nothing was restored" in r.stderr
    # not even the schema: the database is checked and migrated only after every chunk checked
    assert psql(target, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()") == "0"


def test_writes_during_a_pg_backup_do_not_tear_the_snapshot(bin, make_daemon, pg_cluster, pg_url,
                                                            repo, tmp_path):
    d = make_daemon(store=pg_url)
    d.stop()  # the schema is in place; the writer below is the only client
    # each transaction adds one row to the first table exported and one to a later one
    writer = subprocess.Popen(
        [_pg_client("psql"), "-X", "-q", "-d", pg_url, "-c",
         "DO $$ BEGIN FOR i IN 1..2000000 LOOP "
         "INSERT INTO audit_log (ts_ms, principal, action, result) VALUES (i, 'tear', 'w', 200); "
         "INSERT INTO watch_streams (name, type, overrides, created_ms, updated_ms) "
         "VALUES ('tear-' || i, 'log', '{}', i, i); COMMIT; END LOOP; END $$"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    count = "SELECT count(*) FROM audit_log WHERE principal = 'tear'"
    try:
        deadline = time.monotonic() + 30
        while int(psql(pg_url, count)) < 200:
            assert time.monotonic() < deadline and writer.poll() is None
            time.sleep(0.05)
        before = int(psql(pg_url, count))
        b = backup(bin, repo, d.data_dir, "--store", pg_url)
        after = int(psql(pg_url, count))
    finally:
        writer.kill()
        writer.wait()
    assert after > before  # the writes went on while the backup ran
    target = _create_database(pg_cluster, "t_tear_" + os.urandom(4).hex())
    vault(bin, "restore", b["id"], "--repo", repo, "--data-dir", tmp_path / "t", "--store", target)
    audit = int(psql(target, count))
    streams = int(psql(target, "SELECT count(*) FROM watch_streams WHERE name LIKE 'tear-%'"))
    assert before <= audit <= after and streams == audit


def test_daemon_backup_of_its_pg_store_holds_the_export(bin, make_daemon, pg_url, tmp_path):
    kf = tmp_path / "vault.key"
    kf.write_bytes(os.urandom(32))
    repo = tmp_path / "repo"
    vault(bin, "init", "--repo", repo, "--key-file", kf)
    d = make_daemon(store=pg_url, env={"GANGLION_VAULT_REPO": str(repo),
                                       "GANGLION_VAULT_KEY_FILE": str(kf)})
    make_user(d, "carol", "viewer")
    r = d.post("/api/v1/vault/backups")
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    m = d.get(f"/api/v1/vault/backups/{bid}").json()
    assert m["store"].startswith("postgres")
    assert any(c["name"] == "store:postgres" for c in m["components"])
    users = next(t for x in m["domains"] if x["name"] == "auth" for t in x["tables"]
                 if t["table"] == "auth_users")
    assert users["rows"] >= 2  # the first admin and carol
    v = d.post(f"/api/v1/vault/backups/{bid}/verify")
    assert v.status_code == 200 and v.json()["ok"], v.text


def test_kill_9_during_a_pg_export_leaves_a_usable_repository(bin, make_daemon, pg_cluster,
                                                               pg_url, repo, tmp_path):
    d = make_daemon(store=pg_url)
    d.stop()
    dd = d.data_dir
    first = backup(bin, repo, dd, "--store", pg_url)
    # about 24 MiB of rows that neither compress nor repeat: the export takes a while
    psql(pg_url, "INSERT INTO audit_log (ts_ms, principal, action, result, target) "
                 "SELECT i, 'bulk', 'x', 200, repeat(md5(i::text), 128) "
                 "FROM generate_series(1, 6000) i")
    p = subprocess.Popen([str(bin), "vault", "backup", "--repo", str(repo), "--data-dir", str(dd),
                          "--store", pg_url], env=dict(os.environ, **PASS),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        snaps = [f for f in dd.iterdir() if f.name.startswith(".vault-snapshot-")]
        if snaps and snaps[0].stat().st_size > (2 << 20):
            break
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL, "the backup ended before it could be killed"
    assert sorted(os.listdir(repo / "manifests")) == [first["id"]]
    left = [f for f in os.listdir(dd) if f.startswith(".vault-snapshot-")]
    assert len(left) == 1 and (dd / left[0]).stat().st_mode & 0o077 == 0
    # the server rolled the export's transaction back: no session of it is left
    deadline = time.monotonic() + 10
    while psql(pg_url, "SELECT count(*) FROM pg_stat_activity "
                       "WHERE application_name = 'ganglion-vault'") != "0":
        assert time.monotonic() < deadline, "the killed export's session is still open"
        time.sleep(0.05)
    vault(bin, "verify", "--repo", repo)
    second = backup(bin, repo, dd, "--store", pg_url)
    assert not [f for f in os.listdir(dd) if f.startswith(".vault-snapshot-")]
    vault(bin, "verify", "--repo", repo)
    target = _create_database(pg_cluster, "t_killed_" + os.urandom(4).hex())
    vault(bin, "restore", second["id"], "--repo", repo, "--data-dir", tmp_path / "r", "--store",
          target)
    assert pg_rows(target) == pg_rows(pg_url)


def test_cli_backup_finds_the_pg_store_in_the_daemons_config(bin, make_daemon, pg_url, repo,
                                                             tmp_path):
    d = make_daemon(store=pg_url)
    make_user(d, "dave", "viewer")
    d.stop()
    conf = tmp_path / "ganglion.ini"
    conf.write_text(f"[store]\nurl = {pg_url}\n")
    b = backup(bin, repo, d.data_dir, "--config", conf)
    assert b["store"].startswith("postgres")
    users = next(t for x in b["domains"] if x["name"] == "auth" for t in x["tables"]
                 if t["table"] == "auth_users")
    assert users["rows"] >= 2
    # without it the data directory alone holds no store, and the backup says so
    r = vault(bin, "backup", "--repo", repo, "--data-dir", d.data_dir)
    assert json.loads(r.stdout)["store"].startswith("none") and "--store" in r.stderr
