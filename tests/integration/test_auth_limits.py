"""Lockout, indistinguishable login failures, rate limits (429 with Retry-After and RateLimit-*)
and secrets kept out of the logs."""

import statistics
import time

from auth_util import ADMIN_PASSWORD, bearer, login, make_key, make_user, tokens
from conftest import SANITIZED, assert_problem, bare_http


def _shape(r):
    b = r.json()
    return r.status_code, b["type"], b["title"], b["detail"], sorted(k for k in b if k not in ("request_id", "instance"))


def test_lockout_after_five_failures_indistinguishable(store_daemon):
    d = store_daemon
    make_user(d, "ivan", "viewer", "ivan-real-passphrase")
    unknown = login(d, "nobody-here", "whatever-password-1")
    wrong = login(d, "ivan", "not-ivans-password")
    assert_problem(unknown, 401)
    assert _shape(unknown) == _shape(wrong)
    for _ in range(4):
        assert_problem(login(d, "ivan", "not-ivans-password"), 401)
    # locked now: the right password gets exactly the same answer as a wrong one
    locked = login(d, "ivan", "ivan-real-passphrase")
    assert _shape(locked) == _shape(wrong)
    assert locked.headers.get("WWW-Authenticate") == wrong.headers.get("WWW-Authenticate")
    u = [x for x in d.get("/api/v1/users").json()["users"] if x["username"] == "ivan"][0]
    assert u["locked"] is True
    rows = d.get("/api/v1/audit", params={"action": "auth.lockout"}).json()["entries"]
    assert len(rows) == 1 and rows[0]["detail"]["username"] == "ivan"
    reasons = [e["detail"]["reason"] for e in d.get("/api/v1/audit", params={"action": "auth.login", "result": 401}).json()["entries"]]
    assert "locked" in reasons and "unknown_user" in reasons and "bad_password" in reasons
    # an admin reset unlocks
    d.post(f"/api/v1/users/{u['id']}/password", json={"password": "ivan-reset-passphrase"})
    assert login(d, "ivan", "ivan-reset-passphrase").status_code == 200


def test_lock_expires(make_daemon):
    d = make_daemon(env={"GANGLION_AUTH_LOCKOUT_S": "2", "GANGLION_AUTH_LOCKOUT_THRESHOLD": "3"})
    make_user(d, "judy", "viewer", "judy-real-passphrase")
    for _ in range(3):
        assert_problem(login(d, "judy", "bad-bad-bad-bad"), 401)
    assert_problem(login(d, "judy", "judy-real-passphrase"), 401)
    time.sleep(2.5)
    assert login(d, "judy", "judy-real-passphrase").status_code == 200


def test_unknown_user_costs_a_hash(make_daemon):
    """An unknown user is verified against a dummy hash: no fast path that tells names apart."""
    d = make_daemon(env={"GANGLION_AUTH_PWHASH_OPSLIMIT": "2", "GANGLION_AUTH_PWHASH_MEMLIMIT": "16M",
                         "GANGLION_AUTH_LOCKOUT_THRESHOLD": "1000"})
    make_user(d, "kate", "viewer", "kate-real-passphrase")

    def t(user):
        t0 = time.monotonic()
        assert login(d, user, "wrong-password-123").status_code == 401
        return time.monotonic() - t0

    known = statistics.median(t("kate") for _ in range(7))
    unknown = statistics.median(t("no-such-user") for _ in range(7))
    assert known > 0.01, f"hashing looks disabled ({known:.4f}s)"
    assert unknown > known * 0.5, f"unknown user answered in {unknown:.4f}s vs {known:.4f}s"


def test_auth_endpoints_throttled_per_address(make_daemon):
    d = make_daemon(env={"GANGLION_RATELIMIT_AUTH_RATE": "1", "GANGLION_RATELIMIT_AUTH_BURST": "3"})
    codes = [login(d, f"user{i}", "some-password-123").status_code for i in range(3)]
    assert codes == [401, 401, 401]
    r = login(d, "admin", ADMIN_PASSWORD)  # across accounts, the right password too
    assert_problem(r, 429)
    assert int(r.headers["Retry-After"]) >= 1
    for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert h in r.headers
    assert r.headers["RateLimit-Limit"] == "3" and r.headers["RateLimit-Remaining"] == "0"
    # other endpoints are not in the auth class
    assert d.get("/api/v1/system/info").status_code == 200
    time.sleep(int(r.headers["Retry-After"]) + 0.2)
    assert login(d, "admin", ADMIN_PASSWORD).status_code == 200


def test_principal_buckets_by_role_and_key(make_daemon):
    d = make_daemon(env={"GANGLION_RATELIMIT_VIEWER_RATE": "1", "GANGLION_RATELIMIT_PRINCIPAL_BURST": "3"})
    s = bare_http()
    v = make_key(d, name="v", role="viewer")
    codes = [s.get(d.url + "/api/v1/system/info", headers=bearer(v["secret"]), timeout=10).status_code
             for _ in range(4)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    # a second viewer has its own bucket; the admin its own limit
    v2 = make_key(d, name="v2", role="viewer")
    assert s.get(d.url + "/api/v1/system/info", headers=bearer(v2["secret"]), timeout=10).status_code == 200
    assert all(d.get("/api/v1/system/info").status_code == 200 for _ in range(10))
    # a key's own rate_limit wins over its role's
    k = make_key(d, name="lim", role="operator", rate_limit=1)
    codes = [s.get(d.url + "/api/v1/system/info", headers=bearer(k["secret"]), timeout=10).status_code
             for _ in range(12)]
    assert 429 in codes


def test_no_secret_in_logs(make_daemon):
    d = make_daemon(args=["--log-level", "debug"], env={"GANGLION_ADMIN_PASSWORD": ""})
    first_pw = next(ln for ln in d.stderr().splitlines() if "with password:" in ln).rsplit(": ", 1)[1].strip()
    u, pw = make_user(d, "leo", "operator", "leo-secret-passphrase")
    t = tokens(d, "leo", pw)
    s = bare_http()
    r = s.post(d.url + "/api/v1/auth/refresh", json={"refresh_token": t["refresh_token"]}, timeout=10)
    t2 = r.json()
    login(d, "leo", "leo-wrong-passphrase")
    s.post(d.url + "/api/v1/auth/password", headers=bearer(t2["access_token"]),
           json={"current_password": pw, "new_password": "leo-newer-passphrase"}, timeout=30)
    k = make_key(d, name="x", role="viewer")
    rot = d.post(f"/api/v1/keys/{k['id']}/rotate").json()
    s.get(d.url + "/api/v1/system/info", headers=bearer(k["secret"]), timeout=10)
    audit = d.get("/api/v1/audit", params={"limit": 1000}).text
    d.stop()
    secrets = [first_pw, pw, "leo-wrong-passphrase", "leo-newer-passphrase", t["access_token"],
               t["refresh_token"], t2["access_token"], t2["refresh_token"], k["secret"], rot["secret"], d.token]
    logs = [str(l) for l in d.log_lines(all_runs=True)]
    assert logs
    for sec in secrets:
        assert not any(sec in l for l in logs), "a secret reached the log"
        assert sec not in audit, "a secret reached the audit log"
    cfg = __import__("subprocess").run([d.bin, "serve", "--print-config", "--data-dir", str(d.data_dir)],
                                       capture_output=True, text=True, timeout=30)
    assert "pwhash_opslimit" in cfg.stdout and all(sec not in cfg.stdout for sec in secrets)
