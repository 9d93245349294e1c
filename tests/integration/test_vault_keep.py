"""vault prune by calendar periods: --keep-daily, --keep-weekly and --keep-monthly keep the newest
backup of each period (backups made within one day share all three periods), rules add up with
--keep-last, and the repository stays restorable after the sweep."""
import json
import os
import subprocess

import pytest

PASS = {"GANGLION_VAULT_PASSPHRASE": "a vault passphrase for tests"}


def vault(bin, *args, check=True):
    r = subprocess.run([str(bin), "--json", "vault", *map(str, args)], capture_output=True,
                       text=True, env=dict(os.environ, **PASS), timeout=120)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture
def three(bin, tmp_path):
    """A repository with three backups of a changing directory, oldest first."""
    repo, dd = tmp_path / "repo", tmp_path / "dd"
    dd.mkdir()
    vault(bin, "init", "--repo", repo)
    ids = []
    for _ in range(3):
        (dd / "f").write_bytes(os.urandom(64 << 10))
        ids.append(json.loads(vault(bin, "backup", "--repo", repo, "--data-dir", dd).stdout)["id"])
    return repo, dd, ids


@pytest.mark.parametrize("rule", ["--keep-daily", "--keep-weekly", "--keep-monthly"])
def test_a_period_rule_keeps_the_newest_of_the_period(bin, three, rule):
    repo, _, ids = three
    dry = json.loads(vault(bin, "prune", "--repo", repo, rule, 5, "--dry-run").stdout)
    assert dry["kept"] == [ids[2]] and sorted(dry["forgotten"]) == sorted(ids[:2]), dry
    listed = json.loads(vault(bin, "ls", "--repo", repo).stdout)
    assert sorted(b["id"] for b in listed) == sorted(ids)  # a dry run forgets nothing


def test_rules_add_up_and_the_kept_backups_restore(bin, three, tmp_path):
    repo, dd, ids = three
    rep = json.loads(vault(bin, "prune", "--repo", repo, "--keep-last", 2, "--keep-daily", 1)
                     .stdout)
    assert sorted(rep["kept"]) == sorted(ids[1:]) and rep["forgotten"] == [ids[0]], rep
    vault(bin, "verify", "--repo", repo)
    vault(bin, "restore", ids[2], "--repo", repo, "--data-dir", tmp_path / "r")
    assert (tmp_path / "r" / "f").read_bytes() == (dd / "f").read_bytes()
