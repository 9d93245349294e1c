"""The CLI's accounts side against a real daemon: login with the session stored 0600 and
refreshed when expired, logout, user and key management, the audit listing, and the local
admin.token picked up on the same machine."""

import json
import os
import subprocess
import time

from auth_util import ADMIN_PASSWORD


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("GANGLION_URL", "GANGLION_TOKEN", "GANGLION_DATA_DIR")}
    env["NO_COLOR"] = "1"
    env["XDG_CONFIG_HOME"] = str(tmp_path / "cfg")
    env["GANGLION_DATA_DIR"] = str(tmp_path / "no-such-dir")  # no admin.token fallback
    env.update(extra)
    return env


def run(d, tmp_path, *args, input=None, **extra):
    r = subprocess.run([d.bin, "--url", d.url, *args], input=input, capture_output=True, text=True,
                       timeout=60, env=_env(tmp_path, **extra))
    for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
        assert marker not in r.stderr, r.stderr
    return r


def test_login_session_and_management(make_daemon, tmp_path):
    d = make_daemon(env={"GANGLION_AUTH_ACCESS_TTL_S": "2"})
    r = run(d, tmp_path, "user", "ls")
    assert r.returncode == 1 and "401" in r.stderr
    r = run(d, tmp_path, "login", "--user", "admin", "--password-stdin", input="wrong-password-here\n")
    assert r.returncode == 1 and "401" in r.stderr
    r = run(d, tmp_path, "login", "--user", "admin", "--password-stdin", input=ADMIN_PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    sess = tmp_path / "cfg" / "ganglion" / "session.json"
    assert (sess.stat().st_mode & 0o777) == 0o600
    assert ADMIN_PASSWORD not in sess.read_text()
    first = json.loads(sess.read_text())

    r = run(d, tmp_path, "user", "add", "mia", "--role", "operator", "--password-stdin",
            input="mia-long-passphrase\n")
    assert r.returncode == 0, r.stderr
    r = run(d, tmp_path, "user", "add", "nia", "--role", "viewer", "--password-stdin", input="short\n")
    assert r.returncode == 1 and "at least 12" in r.stderr and "short" not in r.stdout
    r = run(d, tmp_path, "user", "ls")
    assert r.returncode == 0 and "mia" in r.stdout and "operator" in r.stdout and "active" in r.stdout
    r = run(d, tmp_path, "user", "role", "mia", "viewer")
    assert r.returncode == 0, r.stderr
    r = run(d, tmp_path, "user", "disable", "mia")
    assert r.returncode == 0, r.stderr
    users = json.loads(run(d, tmp_path, "--json", "user", "ls").stdout)["users"]
    mia = next(u for u in users if u["username"] == "mia")
    assert mia["role"] == "viewer" and mia["disabled"] is True
    assert run(d, tmp_path, "user", "enable", "mia").returncode == 0

    r = run(d, tmp_path, "--json", "key", "create", "deploy", "--role", "operator", "--scope", "system:read")
    assert r.returncode == 0, r.stderr
    k = json.loads(r.stdout)
    assert k["secret"].startswith("gk_") and k["scopes"] == ["system:read"]
    r = run(d, tmp_path, "key", "ls")
    assert "deploy" in r.stdout and k["secret"] not in r.stdout
    r = run(d, tmp_path, "key", "rotate", str(k["id"]))
    assert r.returncode == 0 and "secret: gk_" in r.stdout
    assert run(d, tmp_path, "key", "revoke", str(k["id"])).returncode == 0
    assert "revoked" in run(d, tmp_path, "key", "ls").stdout

    # the access token expires: the next command refreshes it and rotates the stored tokens
    time.sleep(2.5)
    r = run(d, tmp_path, "audit", "--principal", "user:admin")
    assert r.returncode == 0, r.stderr
    assert "users.create" in r.stdout and "keys.rotate" in r.stdout
    second = json.loads(sess.read_text())
    assert second["refresh_token"] != first["refresh_token"]

    r = run(d, tmp_path, "logout")
    assert r.returncode == 0 and not sess.exists()
    assert run(d, tmp_path, "user", "ls").returncode == 1


def test_passwd_own_and_reset(daemon, tmp_path):
    daemon.post("/api/v1/users", json={"username": "ola", "password": "ola-first-passphrase", "role": "viewer"})
    assert run(daemon, tmp_path, "login", "--user", "ola", "--password-stdin",
               input="ola-first-passphrase\n").returncode == 0
    r = run(daemon, tmp_path, "user", "passwd", "--password-stdin",
            input="ola-first-passphrase\nola-second-passphrase\n")
    assert r.returncode == 0, r.stderr
    # a viewer cannot reset others
    r = run(daemon, tmp_path, "user", "passwd", "admin", "--password-stdin", input="x-long-enough-pass\n")
    assert r.returncode == 1 and "403" in r.stderr
    assert run(daemon, tmp_path, "login", "--user", "ola", "--password-stdin",
               input="ola-second-passphrase\n").returncode == 0


def test_local_admin_token_end_to_end(daemon, tmp_path):
    r = run(daemon, tmp_path, "call", "GET", "/api/v1/auth/me", GANGLION_DATA_DIR=str(daemon.data_dir))
    assert r.returncode == 0, r.stderr
    me = json.loads(r.stdout)
    assert me["kind"] == "key" and me["role"] == "admin" and me["name"] == "local-admin"
