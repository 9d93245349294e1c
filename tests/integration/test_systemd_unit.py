"""contrib/ganglion.service as an operator installs it: systemd accepts it, and it keeps the
settings the daemon relies on (the daemon stops its own agents; a delegated cgroup for their
limits; a writable data dir under ProtectSystem=strict)."""

import re
import shutil
import subprocess

import pytest

from conftest import ROOT

UNIT = ROOT / "contrib" / "ganglion.service"


def settings():
    out = {}
    for line in UNIT.read_text().splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def test_unit_keeps_what_the_daemon_relies_on():
    s = settings()
    assert s["KillMode"] == ["mixed"] and s["Delegate"] == ["yes"]
    assert s["ProtectSystem"] == ["strict"] and "/var/lib/ganglion" in s["ReadWritePaths"]
    assert s["NoNewPrivileges"] == ["yes"] and s["PrivateTmp"] == ["yes"]
    assert "--data-dir /var/lib/ganglion" in s["ExecStart"][0]
    assert "ProtectControlGroups" not in s  # would make the delegated subtree read-only


def test_systemd_analyze_verify_accepts_the_unit(tmp_path, bin):
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze is not installed")
    # verify wants ExecStart's binary to exist: point it at the one under test
    unit = tmp_path / "ganglion.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/ganglion", str(bin)))
    r = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "ganglion.service" not in r.stderr, r.stderr  # no warning about the unit itself
