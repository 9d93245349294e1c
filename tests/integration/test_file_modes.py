"""Files on disk: the data directory holds password hashes, agent environments, signing keys and
tokens. Whatever the operator's umask, the daemon creates the directory 0700 and its files 0600
(the SQLite database and its -wal/-shm files included), and it warns at start about anything
there that is wider."""

import os
import shutil
import stat

import pytest


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_created_files_are_private_whatever_the_umask(make_daemon, tmp_path, mask):
    data = tmp_path / "fresh" / "data"
    log = tmp_path / "ganglion.log"
    d = make_daemon(start=False, data_dir=data, env={"GANGLION_LOG_FILE": str(log)})
    shutil.rmtree(tmp_path / "fresh")  # the daemon creates it
    old = os.umask(mask)
    try:
        d.start()
    finally:
        os.umask(old)
    # a write, so the database's WAL is in use
    assert d.post("/api/v1/users", json={"username": "modesuser", "password": "a long passphrase 1",
                                         "role": "viewer"}).status_code == 201

    assert mode(data) == 0o700, oct(mode(data))
    names = sorted(p.name for p in data.iterdir())
    for name in ("ganglion.db", "ganglion.db-wal", "ganglion.db-shm", "ganglion.lock",
                 "admin.token"):
        assert name in names, names
    wide = {p.name: oct(mode(p)) for p in data.iterdir()
            if p.is_file() and not p.name.endswith(".pub") and mode(p) & 0o077}
    assert not wide, wide
    assert mode(log) & 0o077 == 0, oct(mode(log))


def test_wide_modes_warned_at_start(make_daemon, tmp_path):
    data = tmp_path / "old-data"
    data.mkdir()
    data.chmod(0o755)
    d = make_daemon(start=False, data_dir=data)
    d.start()
    d.stop()
    (data / "ganglion.db").chmod(0o644)  # as an older version or a restore left it
    d.start()
    warned = {r.get("path"): r for r in d.log_lines()
              if r.get("msg") == "data directory: permissions wider than owner-only"}
    assert str(data) in warned and warned[str(data)]["mode"] == "0755", warned
    db = str(data / "ganglion.db")
    assert db in warned and warned[db]["mode"] == "0644" and warned[db]["fix"] == "chmod 600"
    assert len(warned) == 2, warned  # nothing the daemon made itself
