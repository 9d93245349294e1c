"""Accounts and sessions against the real daemon on both stores: login, refresh rotation and
reuse detection revoking the family, logout, expiry, forged/foreign/expired tokens, the
password policy and password changes."""

import shutil
import time

import pytest

from auth_util import (ADMIN_PASSWORD, b64url, bearer, jwt_parts, login, make_user, tokens)
from conftest import assert_problem, bare_http


def test_login_refresh_logout(store_daemon):
    d = store_daemon
    s = bare_http()
    t = tokens(d, "admin", ADMIN_PASSWORD)
    assert t["token_type"] == "Bearer" and t["expires_in"] == 900
    hdr, claims, _ = jwt_parts(t["access_token"])
    assert hdr["alg"] == "EdDSA"
    for k in ("iss", "aud", "sub", "jti", "iat", "nbf", "exp", "role", "scopes"):
        assert k in claims
    assert claims["exp"] - claims["iat"] == 900
    me = s.get(d.url + "/api/v1/auth/me", headers=bearer(t["access_token"]), timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "admin"
    assert me.headers["Cache-Control"] == "no-store"
    assert "pwhash" not in me.text

    r = s.post(d.url + "/api/v1/auth/refresh", json={"refresh_token": t["refresh_token"]}, timeout=10)
    assert r.status_code == 200, r.text
    t2 = r.json()
    assert t2["refresh_token"] != t["refresh_token"] and t2["access_token"] != t["access_token"]
    assert s.get(d.url + "/api/v1/auth/me", headers=bearer(t2["access_token"]), timeout=10).status_code == 200

    r = s.post(d.url + "/api/v1/auth/logout", headers=bearer(t2["access_token"]), timeout=10)
    assert r.status_code == 204
    # the family is gone: its refresh token and its access tokens no longer work
    r = s.post(d.url + "/api/v1/auth/refresh", json={"refresh_token": t2["refresh_token"]}, timeout=10)
    assert_problem(r, 401)
    r = s.get(d.url + "/api/v1/auth/me", headers=bearer(t2["access_token"]), timeout=10)
    assert_problem(r, 401)
    assert "Bearer" in r.headers["WWW-Authenticate"]
    # another session of the same user is untouched
    t3 = tokens(d, "admin", ADMIN_PASSWORD)
    assert s.get(d.url + "/api/v1/auth/me", headers=bearer(t3["access_token"]), timeout=10).status_code == 200

    rows = d.get("/api/v1/audit", params={"limit": 100}).json()["entries"]
    actions = [(e["action"], e["result"]) for e in rows]
    assert ("auth.login", 200) in actions and ("auth.refresh", 200) in actions
    assert ("auth.logout", 204) in actions
    login_row = next(e for e in rows if e["action"] == "auth.login")
    assert login_row["principal"] == "user:admin" and login_row["peer"] and login_row["request_id"]


def test_refresh_reuse_revokes_family(store_daemon):
    d = store_daemon
    s = bare_http()
    t1 = tokens(d, "admin", ADMIN_PASSWORD)
    t2 = s.post(d.url + "/api/v1/auth/refresh", json={"refresh_token": t1["refresh_token"]}, timeout=10).json()
    # the old refresh token again: reuse, the whole family dies
    r = s.post(d.url + "/api/v1/auth/refresh", json={"refresh_token": t1["refresh_token"]}, timeout=10)
    assert_problem(r, 401)
    r = s.post(d.url + "/api/v1/auth/refresh", json={"refresh_token": t2["refresh_token"]}, timeout=10)
    assert_problem(r, 401)
    r = s.get(d.url + "/api/v1/auth/me", headers=bearer(t2["access_token"]), timeout=10)
    assert_problem(r, 401)
    rows = d.get("/api/v1/audit", params={"action": "auth.refresh.reuse"}).json()["entries"]
    assert len(rows) == 1 and rows[0]["result"] == 401


def test_expiry_short_lifetimes(make_daemon):
    d = make_daemon(env={"GANGLION_AUTH_ACCESS_TTL_S": "1", "GANGLION_AUTH_REFRESH_TTL_S": "2"})
    s = bare_http()
    t = tokens(d, "admin", ADMIN_PASSWORD)
    assert t["expires_in"] == 1
    time.sleep(2.2)
    r = s.get(d.url + "/api/v1/auth/me", headers=bearer(t["access_token"]), timeout=10)
    assert_problem(r, 401)
    assert "expired" in r.json()["detail"]
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    r = s.post(d.url + "/api/v1/auth/refresh", json={"refresh_token": t["refresh_token"]}, timeout=10)
    assert_problem(r, 401)


def test_rejects_foreign_none_and_wrong_audience(make_daemon):
    a = make_daemon(name="a")
    b = make_daemon(name="b")  # its own signing key
    s = bare_http()
    tb = tokens(b, "admin", ADMIN_PASSWORD)["access_token"]
    r = s.get(a.url + "/api/v1/auth/me", headers=bearer(tb), timeout=10)
    assert_problem(r, 401)
    assert "signature" in r.json()["detail"]

    ta = tokens(a, "admin", ADMIN_PASSWORD)["access_token"]
    hdr, claims, sig = jwt_parts(ta)
    import json
    for alg in ("none", "HS256", "RS256"):
        h = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        p = ta.split(".")[1]
        for forged in (f"{h}.{p}.", f"{h}.{p}.{sig}"):
            r = s.get(a.url + "/api/v1/auth/me", headers=bearer(forged), timeout=10)
            assert_problem(r, 401)
            assert "algorithm" in r.json()["detail"]
    # claims changed under the original signature
    claims["role"] = "admin"
    claims["exp"] += 3600
    forged = ta.split(".")[0] + "." + b64url(json.dumps(claims).encode()) + "." + sig
    assert_problem(s.get(a.url + "/api/v1/auth/me", headers=bearer(forged), timeout=10), 401)

    # same signing key, other audience: only the aud check can refuse it
    c = make_daemon(name="c", start=False, env={"GANGLION_AUTH_AUDIENCE": "elsewhere"})
    shutil.copy(a.data_dir / "auth_signing.key", c.data_dir / "auth_signing.key")
    c.start()
    tc = tokens(c, "admin", ADMIN_PASSWORD)["access_token"]
    r = s.get(a.url + "/api/v1/auth/me", headers=bearer(tc), timeout=10)
    assert_problem(r, 401)
    assert "audience" in r.json()["detail"]
    assert s.get(c.url + "/api/v1/auth/me", headers=bearer(tc), timeout=10).status_code == 200


def test_missing_or_malformed_credentials(daemon):
    s = bare_http()
    r = s.get(daemon.url + "/api/v1/system/info", timeout=10)
    assert_problem(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    for h in ({"Authorization": "Basic YWRtaW46eA=="}, {"Authorization": "Bearer "},
              {"Authorization": "Bearer abc.def.ghi"}, {"X-Api-Key": "gk_nope"},
              {"Authorization": "Bearer gk_" + "A" * 300}):
        assert_problem(s.get(daemon.url + "/api/v1/system/info", headers=h, timeout=10), 401)
    assert s.get(daemon.url + "/healthz", timeout=10).status_code == 200
    assert s.get(daemon.url + "/readyz", timeout=10).status_code == 200
    assert_problem(s.get(daemon.url + "/metrics", timeout=10), 401)
    assert_problem(s.get(daemon.url + "/openapi.json", timeout=10), 401)


def test_public_metrics_and_openapi_switches(make_daemon):
    d = make_daemon(env={"GANGLION_AUTH_PUBLIC_METRICS": "1", "GANGLION_AUTH_PUBLIC_OPENAPI": "1"})
    s = bare_http()
    assert s.get(d.url + "/metrics", timeout=10).status_code == 200
    assert s.get(d.url + "/openapi.json", timeout=10).status_code == 200
    assert_problem(s.get(d.url + "/api/v1/system/info", timeout=10), 401)


@pytest.mark.parametrize("pw,needle", [
    ("short", "at least 12"),
    ("x" * 129, "at most 128"),
    ("password1234", "common"),
    ("QwertyUiop123", "common"),
    ("carol-the-user", "username"),
])
def test_password_policy(daemon, pw, needle):
    r = daemon.post("/api/v1/users", json={"username": "carol-the-user", "password": pw, "role": "viewer"})
    body = assert_problem(r, 422, field="/password", in_="body")
    assert needle in " ".join(e["message"] for e in body["errors"])
    assert pw not in r.text  # the problem never echoes the password


def test_password_floor_configurable(make_daemon):
    d = make_daemon(env={"GANGLION_AUTH_PASSWORD_MIN": "16"})
    r = d.post("/api/v1/users", json={"username": "dave", "password": "fourteen-chars", "role": "viewer"})
    assert_problem(r, 422, field="/password")
    assert "at least 16" in r.text


def test_password_change_revokes_other_sessions(store_daemon):
    d = store_daemon
    s = bare_http()
    make_user(d, "erin", "operator", "erin-first-passphrase")
    t1 = tokens(d, "erin", "erin-first-passphrase")
    t2 = tokens(d, "erin", "erin-first-passphrase")
    r = s.post(d.url + "/api/v1/auth/password", headers=bearer(t1["access_token"]),
               json={"current_password": "wrong-passphrase-x", "new_password": "erin-second-passphrase"}, timeout=30)
    assert_problem(r, 422, field="/current_password")
    r = s.post(d.url + "/api/v1/auth/password", headers=bearer(t1["access_token"]),
               json={"current_password": "erin-first-passphrase", "new_password": "password1234"}, timeout=30)
    assert_problem(r, 422, field="/new_password")
    r = s.post(d.url + "/api/v1/auth/password", headers=bearer(t1["access_token"]),
               json={"current_password": "erin-first-passphrase", "new_password": "erin-second-passphrase"}, timeout=30)
    assert r.status_code == 204, r.text
    assert s.get(d.url + "/api/v1/auth/me", headers=bearer(t1["access_token"]), timeout=10).status_code == 200
    assert_problem(s.get(d.url + "/api/v1/auth/me", headers=bearer(t2["access_token"]), timeout=10), 401)
    assert_problem(s.post(d.url + "/api/v1/auth/refresh", json={"refresh_token": t2["refresh_token"]}, timeout=10), 401)
    assert_problem(login(d, "erin", "erin-first-passphrase"), 401)
    assert login(d, "erin", "erin-second-passphrase").status_code == 200


def test_admin_reset_forces_change_and_disable(store_daemon):
    d = store_daemon
    s = bare_http()
    u, pw = make_user(d, "frank", "operator")
    t = tokens(d, "frank", pw)
    r = d.post(f"/api/v1/users/{u['id']}/password", json={"password": "frank-temporary-pass"})
    assert r.status_code == 200 and r.json()["must_change_password"] is True
    assert_problem(s.get(d.url + "/api/v1/auth/me", headers=bearer(t["access_token"]), timeout=10), 401)
    t = tokens(d, "frank", "frank-temporary-pass")
    assert t["must_change_password"] is True
    r = s.get(d.url + "/api/v1/system/info", headers=bearer(t["access_token"]), timeout=10)
    assert_problem(r, 403)
    assert r.json()["type"].endswith("password-change-required")
    r = s.post(d.url + "/api/v1/auth/password", headers=bearer(t["access_token"]),
               json={"current_password": "frank-temporary-pass", "new_password": "frank-own-passphrase"}, timeout=30)
    assert r.status_code == 204
    assert s.get(d.url + "/api/v1/system/info", headers=bearer(t["access_token"]), timeout=10).status_code == 200

    # disabling ends every session at once; login then fails like a wrong password
    r = d.request("PATCH", f"/api/v1/users/{u['id']}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert_problem(s.get(d.url + "/api/v1/system/info", headers=bearer(t["access_token"]), timeout=10), 401)
    assert_problem(login(d, "frank", "frank-own-passphrase"), 401)


def test_role_change_is_audited_and_effective(daemon):
    s = bare_http()
    u, pw = make_user(daemon, "gina", "viewer")
    t = tokens(daemon, "gina", pw)
    h = bearer(t["access_token"])
    assert_problem(s.post(daemon.url + "/api/v1/test/echo", headers=h, json={"name": "x"}, timeout=10), 403)
    r = daemon.request("PATCH", f"/api/v1/users/{u['id']}", json={"role": "operator"})
    assert r.status_code == 200 and r.json()["role"] == "operator"
    # the old token carries the old role: refused, a refresh gets the new one
    assert_problem(s.get(daemon.url + "/api/v1/system/info", headers=h, timeout=10), 401)
    t2 = s.post(daemon.url + "/api/v1/auth/refresh", json={"refresh_token": t["refresh_token"]}, timeout=10).json()
    r = s.post(daemon.url + "/api/v1/test/echo", headers=bearer(t2["access_token"]), json={"name": "x"}, timeout=10)
    assert r.status_code == 200, r.text
    rows = daemon.get("/api/v1/audit", params={"action": "users.role"}).json()["entries"]
    assert rows and rows[0]["principal"] == "key:1"
    assert rows[0]["detail"]["old_role"] == "viewer" and rows[0]["detail"]["role"] == "operator"


def test_users_crud_and_last_admin(store_daemon):
    d = store_daemon
    u, _ = make_user(d, "hank", "viewer")
    r = d.post("/api/v1/users", json={"username": "hank", "password": "another-long-pass", "role": "viewer"})
    assert_problem(r, 409)
    names = [x["username"] for x in d.get("/api/v1/users").json()["users"]]
    assert names == ["admin", "hank"]
    assert d.get(f"/api/v1/users/{u['id']}").json()["role"] == "viewer"
    assert_problem(d.get("/api/v1/users/999999"), 404)
    # the only admin cannot be demoted, disabled or deleted
    assert_problem(d.request("PATCH", "/api/v1/users/1", json={"role": "viewer"}), 409)
    assert_problem(d.request("PATCH", "/api/v1/users/1", json={"disabled": True}), 409)
    assert_problem(d.request("DELETE", "/api/v1/users/1"), 409)
    assert d.request("DELETE", f"/api/v1/users/{u['id']}").status_code == 204
    assert_problem(d.get(f"/api/v1/users/{u['id']}"), 404)
    assert_problem(login(d, "hank", "hank-long-passphrase-7"), 401)
    acts = {e["action"] for e in d.get("/api/v1/audit", params={"limit": 100}).json()["entries"]}
    assert {"users.create", "users.delete"} <= acts


def test_first_start_random_password_printed_once(make_daemon):
    d = make_daemon(env={"GANGLION_ADMIN_PASSWORD": ""})
    err = d.stderr()
    line = next(ln for ln in err.splitlines() if "created user 'admin' with password:" in ln)
    pw = line.rsplit(": ", 1)[1].strip()
    assert len(pw) >= 20
    assert not any(pw in str(l) for l in d.log_lines()), "the password reached the JSON log"
    tok = d.data_dir / "admin.token"
    assert (tok.stat().st_mode & 0o777) == 0o600
    assert login(d, "admin", pw).status_code == 200
    d.restart()
    assert "created user" not in d.stderr()  # only the first start prints it
    assert d.get("/api/v1/system/info").status_code == 200  # admin.token still valid
