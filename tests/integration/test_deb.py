"""`make deb`'s package as an administrator meets it, installed into a fresh directory tree with
dpkg itself (--root, maintainer scripts run against $DPKG_ROOT, so the machine is never touched):
its files, the `ganglion` user and /var/lib/ganglion made by postinst, the installed binary's
version and a start of it with the packaged configuration, a reinstall over itself, then a remove
that keeps the data and a purge that leaves nothing behind."""

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import Daemon, _finish

ROOT = Path(__file__).resolve().parents[2]
BUILD_DEB = ROOT / "packaging" / "deb" / "build-deb"

pytestmark = pytest.mark.skipif(not shutil.which("dpkg-deb") or not shutil.which("dpkg"),
                                reason="dpkg-deb is not installed")

BASE_ETC = {"passwd": "root:x:0:0:root:/root:/bin/sh\n", "group": "root:x:0:\n",
            "shadow": "root:*:19000:0:99999:7:::\n", "gshadow": "root:*::\n"}


def fresh_tree(root):
    """An empty system as far as dpkg is concerned: its database and the account files."""
    admin = root / "var" / "lib" / "dpkg"
    for sub in ("info", "updates", "triggers"):
        (admin / sub).mkdir(parents=True)
    (admin / "status").write_text("")
    (admin / "available").write_text("")
    (root / "etc").mkdir()
    for name, text in BASE_ETC.items():
        (root / "etc" / name).write_text(text)


def dpkg(root, *args):
    r = subprocess.run(["dpkg", f"--root={root}", "--force-not-root", "--force-script-chrootless",
                        "--force-depends", "--log=/dev/null", *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"dpkg {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


def tree(root):
    """Every path under root, relative, but dpkg's own database and the backups useradd and
    userdel keep of the account files (etc/passwd- ...: on every real system already)."""
    rel = (str(p.relative_to(root)) for p in root.rglob("*"))
    return {r for r in rel if not r.startswith("var/lib/dpkg")
            and not (r.startswith("etc/") and r[4:-1] in BASE_ETC and r.endswith("-"))}


@pytest.fixture(scope="module")
def deb(bin, tmp_path_factory):
    out = tmp_path_factory.mktemp("deb")
    r = subprocess.run([str(BUILD_DEB), str(bin), str(out)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    path = Path(r.stdout.strip().splitlines()[-1])
    assert path.exists() and path.name.endswith(".deb"), r.stdout
    return path


def test_the_package_installs_runs_and_purges_cleanly(deb, tmp_path):
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Depends"],
                            capture_output=True, text=True, check=True).stdout
    assert "Package: ganglion" in fields and "libuv1" in fields and "libsodium23" in fields

    root = tmp_path / "root"
    fresh_tree(root)
    before = tree(root)
    dpkg(root, "-i", str(deb))

    exe = root / "usr/bin/ganglion"
    assert os.access(exe, os.X_OK)
    unit = (root / "lib/systemd/system/ganglion.service").read_text()
    assert "ExecStart=/usr/bin/ganglion serve --config /etc/ganglion/ganglion.ini\n" in unit
    assert "User=ganglion" in unit
    ini = root / "etc/ganglion/ganglion.ini"
    text = ini.read_text()
    assert "data_dir = /var/lib/ganglion\n" in text and "listen = 127.0.0.1:7700\n" in text
    assert ";interval_ms = 60000\n" in text, "the other keys at their defaults, commented out"
    assert (ini.stat().st_mode & 0o777) == 0o640
    status = (root / "var/lib/dpkg/status").read_text()
    assert "Status: install ok installed" in status
    assert "/etc/ganglion/ganglion.ini" in status, "the configuration is a conffile"
    man = gzip.decompress((root / "usr/share/man/man1/ganglion.1.gz").read_bytes()).decode()
    assert man.startswith(".TH GANGLION 1") and ".SS agent\n" in man and ".SS serve\n" in man
    assert "--older-than" in man, "the commands' own help is in it"
    assert (root / "usr/share/doc/ganglion/changelog.gz").exists()
    assert (root / "usr/share/doc/ganglion/grafana/ganglion.json").exists()

    # postinst: the system user (in the tree's own passwd) and its private data directory
    users = [x for x in (root / "etc/passwd").read_text().splitlines() if x.startswith("ganglion:")]
    assert len(users) == 1
    name, _, uid, gid, _, home, shell = users[0].split(":")
    assert home == "/var/lib/ganglion" and shell == "/usr/sbin/nologin" and int(uid) < 1000
    assert any(x.startswith("ganglion:") for x in (root / "etc/group").read_text().splitlines())
    data = root / "var/lib/ganglion"
    st = data.stat()
    assert (st.st_mode & 0o777) == 0o700 and st.st_uid == int(uid) and st.st_gid == int(gid)

    # the installed binary: its version, and a start with the packaged configuration
    v = subprocess.run([str(exe), "--url", "http://127.0.0.1:1", "--timeout", "1", "version"],
                       capture_output=True, text=True, timeout=30)
    assert v.stdout.startswith("client  ganglion ") and "revision " in v.stdout, v.stdout
    printed = subprocess.run([str(exe), "serve", "--config", str(ini), "--print-config"],
                             capture_output=True, text=True, timeout=30)
    assert printed.returncode == 0, printed.stderr
    assert "data_dir = /var/lib/ganglion" in printed.stdout
    d = Daemon(exe, tmp_path / "run", args=["--config", str(ini)], name="deb")
    try:
        d.start()
        info = d.get("/api/v1/system/info").json()
        assert info["version"] in fields and info["store"]["backend"] == "sqlite"
        assert d.stop() == 0
    finally:
        problems = _finish(d)
    assert not problems, problems

    # a reinstall over itself runs the upgrade path of every script, and adds no second user
    (data / "keep.me").write_text("data")
    dpkg(root, "-i", str(deb))
    users = [x for x in (root / "etc/passwd").read_text().splitlines() if x.startswith("ganglion:")]
    assert len(users) == 1

    # remove: the program goes, the configuration and the data stay
    ini.write_text(text + "\n# changed by the administrator\n")
    dpkg(root, "-r", "ganglion")
    assert not exe.exists() and not (root / "lib/systemd/system/ganglion.service").exists()
    assert "changed by the administrator" in ini.read_text()
    assert (data / "keep.me").read_text() == "data"

    # purge: nothing is left, the accounts are as they were
    dpkg(root, "--purge", "ganglion")
    assert tree(root) == before, sorted(tree(root) - before)
    for name, text0 in BASE_ETC.items():
        assert (root / "etc" / name).read_text() == text0, name
    assert "Package: ganglion" not in (root / "var/lib/dpkg/status").read_text()
