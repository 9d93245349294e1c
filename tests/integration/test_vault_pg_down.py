"""vault against a PostgreSQL store that cannot be reached: a backup fails with the reason (no
server answering at the URL) and records nothing in the repository; a restore into it is refused
before any file is written. Needs no cluster: the URL points at a closed loopback port."""
import json
import os
import subprocess

from conftest import free_port

PASS = {"GANGLION_VAULT_PASSPHRASE": "a vault passphrase for tests"}


def vault(bin, *args):
    return subprocess.run([str(bin), "--json", "vault", *map(str, args)], capture_output=True,
                          text=True, env=dict(os.environ, **PASS), timeout=120)


def test_unreachable_store_fails_backup_and_restore_with_the_reason(bin, tmp_path):
    repo, dd = tmp_path / "repo", tmp_path / "dd"
    dd.mkdir()
    (dd / "f").write_bytes(b"x" * 1000)
    assert vault(bin, "init", "--repo", repo).returncode == 0
    down = f"postgres://ganglion@127.0.0.1:{free_port()}/ganglion"

    r = vault(bin, "backup", "--repo", repo, "--data-dir", dd, "--store", down)
    assert r.returncode != 0 and "cannot connect" in r.stderr, (r.returncode, r.stderr)
    assert json.loads(vault(bin, "ls", "--repo", repo).stdout) == []  # nothing half-recorded

    ok = vault(bin, "backup", "--repo", repo, "--data-dir", dd)
    assert ok.returncode == 0, ok.stderr
    bid = json.loads(ok.stdout)["id"]
    target = tmp_path / "target"
    r = vault(bin, "restore", bid, "--repo", repo, "--data-dir", target, "--store", down)
    # a backup without a PostgreSQL export is never restored into one, reachable or not
    assert r.returncode != 0 and "nothing was restored" in r.stderr, (r.returncode, r.stderr)
    assert not (target / "f").exists()
