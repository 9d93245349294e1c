"""What a release is made of, as an operator checks it: `ganglion version` names the version,
the revision and the build options, the daemon's /api/v1/system/info says the same, and a
binary older than the database's schema refuses to start instead of running on it."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DaemonStartError
from db_util import run_sql

ROOT = Path(__file__).resolve().parents[2]
BUILD_KEYS = {"version", "revision", "build_type", "optimization", "debug", "sanitize", "fuzz",
              "tls", "compiler"}


def test_version_names_the_revision_and_build_options(daemon, bin):
    env = daemon.cli_env()
    r = subprocess.run([str(bin), "--url", daemon.url, "version", "--json"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)
    build = v["client"]["build"]
    assert set(build) == BUILD_KEYS
    assert build["tls"].startswith("gnutls ") and build["sanitize"]
    assert build["version"] == v["client"]["version"]
    meson = (ROOT / "meson.build").read_text()
    assert f"version : '{build['version']}'" in meson
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        short = re.match(r"^(?:.*-g)?([0-9a-f]{7,40})(-dirty)?$", build["revision"])
        assert short, build["revision"]
        # a commit of this repository (the build's, which the checkout may have moved past)
        assert subprocess.run([git, "-C", str(ROOT), "cat-file", "-e",
                               short.group(1) + "^{commit}"]).returncode == 0
    # the daemon's own answer, over the API and through the CLI
    info = daemon.get("/api/v1/system/info").json()
    assert info["build"] == build and info["revision"] == build["revision"]
    assert v["daemon"]["build"] == build
    text = subprocess.run([str(bin), "--url", daemon.url, "version"], env=env,
                          capture_output=True, text=True, timeout=30).stdout
    assert f"revision {build['revision']}" in text
    assert f"sanitize {build['sanitize']}" in text and build["tls"] in text


def test_a_newer_schema_is_refused_with_both_versions(make_daemon, store_kind, request):
    store = request.getfixturevalue("pg_url") if store_kind == "postgres" else None
    d = make_daemon(store=store)
    known = d.get("/api/v1/system/info").json()["store"]["schema_version"]
    assert d.stop() == 0
    future = known + 1000
    run_sql(d, "INSERT INTO schema_migrations (version, name, applied_at_ms)"
               f" VALUES ({future}, 'from_the_future', 0)")
    d.expect_clean_exit = False
    with pytest.raises(DaemonStartError):
        d.start()
    err = d.stderr()
    assert "refusing to downgrade" in err, err[-2000:]
    assert f"version {future} (from_the_future)" in err
    assert f"this binary knows, {known};" in err
    # nothing was changed: the same database still carries the newer version
    run_sql(d, f"DELETE FROM schema_migrations WHERE version = {future}")
    d.expect_clean_exit = True
    d.start()
    assert d.get("/api/v1/system/info").json()["store"]["schema_version"] == known
