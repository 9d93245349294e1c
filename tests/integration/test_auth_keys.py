"""API keys: the secret shown once, keyed-hash storage, Bearer and X-Api-Key, scopes narrower
than the role, expiry, revocation and rotation with a grace period, on both stores."""

import datetime
import sqlite3
import time

from auth_util import bearer, make_key
from conftest import assert_problem, bare_http


def test_key_lifecycle(store_daemon):
    d = store_daemon
    s = bare_http()
    k = make_key(d, name="ci", role="viewer")
    assert k["secret"].startswith("gk_") and k["role"] == "viewer" and k["created_by"] == "key:1"
    for h in (bearer(k["secret"]), {"X-Api-Key": k["secret"]}):
        assert s.get(d.url + "/api/v1/system/info", headers=h, timeout=10).status_code == 200
    r = s.post(d.url + "/api/v1/test/echo", headers=bearer(k["secret"]), json={"name": "x"}, timeout=10)
    body = assert_problem(r, 403)
    assert body["required_scope"] == "system:write" and "system:write" in body["detail"]
    # listed and shown without the secret
    lst = d.get("/api/v1/keys").json()["keys"]
    assert [x["name"] for x in lst] == ["local-admin", "ci"]
    one = d.get(f"/api/v1/keys/{k['id']}").json()
    assert "secret" not in one and k["secret"] not in d.get("/api/v1/keys").text
    # revoke
    assert d.request("DELETE", f"/api/v1/keys/{k['id']}").status_code == 204
    assert_problem(s.get(d.url + "/api/v1/system/info", headers=bearer(k["secret"]), timeout=10), 401)
    assert d.get(f"/api/v1/keys/{k['id']}").json()["revoked"] is True
    assert_problem(d.request("DELETE", f"/api/v1/keys/{k['id']}"), 404)
    acts = [e["action"] for e in d.get("/api/v1/audit", params={"limit": 50}).json()["entries"]]
    assert "keys.create" in acts and "keys.revoke" in acts


def test_key_survives_restart_and_is_stored_hashed(make_daemon):
    d = make_daemon()
    k = make_key(d, name="persist", role="operator")
    d.restart()
    s = bare_http()
    assert s.get(d.url + "/api/v1/system/info", headers=bearer(k["secret"]), timeout=10).status_code == 200
    d.stop()
    db = sqlite3.connect(d.data_dir / "ganglion.db")
    rows = db.execute("SELECT hash FROM auth_keys").fetchall()
    db.close()
    assert all(k["secret"] not in r[0] and len(r[0]) == 64 for r in rows)
    raw = (d.data_dir / "ganglion.db").read_bytes() + (d.data_dir / "ganglion.db-wal").read_bytes() \
        if (d.data_dir / "ganglion.db-wal").exists() else (d.data_dir / "ganglion.db").read_bytes()
    assert k["secret"].encode() not in raw


def test_key_scopes_subset(daemon):
    s = bare_http()
    k = make_key(daemon, name="narrow", role="operator", scopes=["system:read"])
    h = bearer(k["secret"])
    assert s.get(daemon.url + "/api/v1/system/info", headers=h, timeout=10).status_code == 200
    assert_problem(s.get(daemon.url + "/api/v1/audit", headers=h, timeout=10), 403)
    assert_problem(s.post(daemon.url + "/api/v1/test/echo", headers=h, json={"name": "x"}, timeout=10), 403)
    # a scope the role does not grant is refused at creation, with the field named
    r = daemon.post("/api/v1/keys", json={"name": "bad", "role": "viewer", "scopes": ["system:write"]})
    assert_problem(r, 422, field="/scopes/0")
    r = daemon.post("/api/v1/keys", json={"name": "bad", "role": "viewer", "scopes": ["nonsense"]})
    assert_problem(r, 422, field="/scopes/0")
    r = daemon.post("/api/v1/keys", json={"name": "bad"})
    assert_problem(r, 422, field="/role")
    # a key without keys:write cannot create keys
    r = s.post(daemon.url + "/api/v1/keys", headers=h, json={"name": "x", "role": "viewer"}, timeout=10)
    assert_problem(r, 403)


def test_key_expiry(daemon):
    s = bare_http()
    past = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert_problem(daemon.post("/api/v1/keys", json={"name": "old", "role": "viewer", "expires_at": past}),
                   422, field="/expires_at")
    assert_problem(daemon.post("/api/v1/keys", json={"name": "old", "role": "viewer", "expires_at": "soon"}),
                   422, field="/expires_at")
    soon = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)).isoformat()
    k = make_key(daemon, name="short", role="viewer", expires_at=soon)
    assert s.get(daemon.url + "/api/v1/system/info", headers=bearer(k["secret"]), timeout=10).status_code == 200
    time.sleep(2.5)
    r = s.get(daemon.url + "/api/v1/system/info", headers=bearer(k["secret"]), timeout=10)
    assert_problem(r, 401)
    assert "expired" in r.json()["detail"]


def test_key_rotation_grace(make_daemon):
    d = make_daemon(env={"GANGLION_AUTH_KEY_GRACE_S": "2"})
    s = bare_http()
    k = make_key(d, name="rot", role="viewer")
    r = d.post(f"/api/v1/keys/{k['id']}/rotate")
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != k["secret"] and r.json()["previous_valid_until"]
    for sec in (k["secret"], new):
        assert s.get(d.url + "/api/v1/system/info", headers=bearer(sec), timeout=10).status_code == 200
    time.sleep(2.5)
    assert_problem(s.get(d.url + "/api/v1/system/info", headers=bearer(k["secret"]), timeout=10), 401)
    assert s.get(d.url + "/api/v1/system/info", headers=bearer(new), timeout=10).status_code == 200
    assert_problem(d.post("/api/v1/keys/999999/rotate"), 404)
    # after a restart the index is rebuilt from the store: same answers
    d.restart()
    assert_problem(s.get(d.url + "/api/v1/system/info", headers=bearer(k["secret"]), timeout=10), 401)
    assert s.get(d.url + "/api/v1/system/info", headers=bearer(new), timeout=10).status_code == 200


def test_key_me(daemon):
    k = make_key(daemon, name="whoami", role="agent")
    r = bare_http().get(daemon.url + "/api/v1/auth/me", headers=bearer(k["secret"]), timeout=10)
    assert r.status_code == 200
    assert r.json()["kind"] == "key" and r.json()["principal"] == f"key:{k['id']}" and r.json()["role"] == "agent"
    r = bare_http().post(daemon.url + "/api/v1/auth/logout", headers=bearer(k["secret"]), timeout=10)
    assert_problem(r, 400)
