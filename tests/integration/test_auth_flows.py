"""The account flows a console needs, done as a user does them against the real daemon and a
real SMTP server (aiosmtpd on loopback): self-registration (off by default, by invitation, by
approval), password reset with an admin-issued token and with a mailed one, single use and
expiry, the same answer for accounts that do not exist, e-mail verification, the refresh token
as an HttpOnly cookie guarded by a CSRF header, and the rate limits of the flows."""

import time

import pytest

from auth_util import bearer, login, make_user, tokens
from conftest import assert_problem, bare_http
from smtp_sink import SmtpSink, token_in

PW = "a-new-long-passphrase-9"


@pytest.fixture
def sink():
    s = SmtpSink().start()
    yield s
    s.stop()


def mail_daemon(make_daemon, sink, **env):
    e = {"GANGLION_MAIL_SMTP_URL": sink.url, "GANGLION_MAIL_FROM": "ganglion@example.test"}
    e.update(env)
    return make_daemon(env=e)


def audit_actions(d, prefix):
    r = d.get("/api/v1/audit", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return [e for e in r.json()["entries"] if e["action"].startswith(prefix)]


def user_id(d, name):
    users = d.get("/api/v1/users").json()["users"]
    return next(u["id"] for u in users if u["username"] == name)


# ---- registration ----------------------------------------------------------------------------

def test_registration_is_off_by_default(daemon):
    s = bare_http()
    r = s.get(daemon.url + "/api/v1/auth/options", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"registration": "off", "password_reset_by_mail": False,
                        "email_verification": False, "refresh_cookie": True, "password_min": 12}
    r = s.post(daemon.url + "/api/v1/auth/register",
               json={"username": "mallory", "password": "mallory-long-passphrase"}, timeout=10)
    assert_problem(r, 403)
    assert r.json()["type"].endswith("registration-closed")
    assert "registration" in r.json()["detail"]
    assert login(daemon, "mallory", "mallory-long-passphrase").status_code == 401
    assert audit_actions(daemon, "auth.register")[0]["result"] == 403


def test_registration_with_an_invitation(make_daemon):
    d = make_daemon(env={"GANGLION_AUTH_REGISTRATION": "invite"})
    s = bare_http()
    body = {"username": "newbie", "password": "newbie-long-passphrase"}
    r = s.post(d.url + "/api/v1/auth/register", json=body, timeout=10)
    assert_problem(r, 403)
    assert r.json()["type"].endswith("invite-required")
    r = s.post(d.url + "/api/v1/auth/register", json={**body, "invite": "gin_forged"}, timeout=10)
    assert_problem(r, 403)
    assert r.json()["type"].endswith("invalid-invite")

    inv = d.post("/api/v1/invites", json={})
    assert inv.status_code == 201, inv.text
    code = inv.json()["code"]
    r = s.post(d.url + "/api/v1/auth/register", json={**body, "invite": code}, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "viewer" and r.json()["pending"] is False
    t = tokens(d, "newbie", "newbie-long-passphrase")
    me = s.get(d.url + "/api/v1/auth/me", headers=bearer(t["access_token"]), timeout=10).json()
    assert me["role"] == "viewer"
    # the code is spent
    r = s.post(d.url + "/api/v1/auth/register",
               json={"username": "second", "password": "second-long-passphrase", "invite": code},
               timeout=10)
    assert_problem(r, 403)
    # a name taken does not spend a code
    inv2 = d.post("/api/v1/invites", json={}).json()["code"]
    r = s.post(d.url + "/api/v1/auth/register", json={**body, "invite": inv2}, timeout=10)
    assert_problem(r, 409)
    r = s.post(d.url + "/api/v1/auth/register",
               json={"username": "third", "password": "third-long-passphrase", "invite": inv2},
               timeout=10)
    assert r.status_code == 201, r.text
    results = sorted(e["result"] for e in audit_actions(d, "auth.register"))
    assert results == [201, 201, 403, 403, 409]


def test_registration_waits_for_approval(make_daemon):
    d = make_daemon(env={"GANGLION_AUTH_REGISTRATION": "approval"})
    s = bare_http()
    r = s.post(d.url + "/api/v1/auth/register",
               json={"username": "waiting", "password": "waiting-long-passphrase"}, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["pending"] is True
    uid = r.json()["id"]
    assert login(d, "waiting", "waiting-long-passphrase").status_code == 401
    listed = {u["username"]: u for u in d.get("/api/v1/users").json()["users"]}
    assert listed["waiting"]["pending"] is True
    # a viewer may not approve
    make_user(d, "vv", "viewer")
    vt = tokens(d, "vv", "vv-long-passphrase-7")["access_token"]
    assert_problem(s.post(d.url + f"/api/v1/users/{uid}/approve", headers=bearer(vt), timeout=10), 403)
    r = d.post(f"/api/v1/users/{uid}/approve")
    assert r.status_code == 200, r.text
    assert r.json()["pending"] is False and r.json()["disabled"] is False
    assert login(d, "waiting", "waiting-long-passphrase").status_code == 200
    assert_problem(d.post(f"/api/v1/users/{uid}/approve"), 409)
    assert_problem(d.post("/api/v1/users/999999/approve"), 404)


# ---- password reset ------------------------------------------------------------------------

def test_reset_with_an_admin_issued_token_is_single_use(daemon, bin):
    make_user(daemon, "forgetful", "operator")
    old = tokens(daemon, "forgetful", "forgetful-long-passphrase-7")
    uid = user_id(daemon, "forgetful")
    r = daemon.post(f"/api/v1/users/{uid}/reset-token")
    assert r.status_code == 201, r.text
    tok = r.json()["token"]
    assert tok.startswith("gpr_") and r.json()["username"] == "forgetful"
    s = bare_http()
    # a weak password is refused and the token stays usable
    r = s.post(daemon.url + "/api/v1/auth/password-reset/confirm",
               json={"token": tok, "new_password": "short"}, timeout=10)
    assert_problem(r, 422, field="/new_password")
    r = s.post(daemon.url + "/api/v1/auth/password-reset/confirm",
               json={"token": tok, "new_password": PW}, timeout=10)
    assert r.status_code == 204, r.text
    assert login(daemon, "forgetful", PW).status_code == 200
    assert login(daemon, "forgetful", "forgetful-long-passphrase-7").status_code == 401
    # every earlier session ended
    r = s.post(daemon.url + "/api/v1/auth/refresh", json={"refresh_token": old["refresh_token"]},
               timeout=10)
    assert_problem(r, 401)
    # single use
    r = s.post(daemon.url + "/api/v1/auth/password-reset/confirm",
               json={"token": tok, "new_password": "yet-another-passphrase-3"}, timeout=10)
    assert_problem(r, 400)
    assert r.json()["type"].endswith("invalid-token")
    actions = [(e["action"], e["result"]) for e in audit_actions(daemon, "")]
    assert ("users.reset_token", 201) in actions
    assert ("auth.password_reset", 204) in actions and ("auth.password_reset", 400) in actions


def test_a_newer_token_replaces_the_older_one(daemon):
    make_user(daemon, "twice", "viewer")
    uid = user_id(daemon, "twice")
    first = daemon.post(f"/api/v1/users/{uid}/reset-token").json()["token"]
    second = daemon.post(f"/api/v1/users/{uid}/reset-token").json()["token"]
    s = bare_http()
    r = s.post(daemon.url + "/api/v1/auth/password-reset/confirm",
               json={"token": first, "new_password": PW}, timeout=10)
    assert_problem(r, 400)
    r = s.post(daemon.url + "/api/v1/auth/password-reset/confirm",
               json={"token": second, "new_password": PW}, timeout=10)
    assert r.status_code == 204, r.text


def test_reset_token_expires(make_daemon):
    d = make_daemon(env={"GANGLION_AUTH_RESET_TTL_S": "1"})
    make_user(d, "slow", "viewer")
    tok = d.post(f"/api/v1/users/{user_id(d, 'slow')}/reset-token").json()["token"]
    time.sleep(1.2)
    r = bare_http().post(d.url + "/api/v1/auth/password-reset/confirm",
                         json={"token": tok, "new_password": PW}, timeout=10)
    assert_problem(r, 400)
    assert login(d, "slow", PW).status_code == 401


def test_reset_token_from_the_cli(daemon, bin):
    import subprocess
    make_user(daemon, "clireset", "viewer")
    r = subprocess.run([str(bin), "--url", daemon.url, "user", "reset-token", "clireset"],
                       env=daemon.cli_env(),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    tok = next(w for w in r.stdout.split() if w.startswith("gpr_"))
    # the user sets the password with the CLI too, without any credential of their own
    r = subprocess.run([str(bin), "--url", daemon.url, "user", "reset-password", tok,
                        "--password-stdin"], input=PW + "\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "password set" in r.stdout
    assert login(daemon, "clireset", PW).status_code == 200
    r = subprocess.run([str(bin), "--url", daemon.url, "user", "reset-password", tok,
                        "--password-stdin"], input=PW + "x\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "used or expired" in r.stderr


def test_reset_by_mail(make_daemon, sink):
    d = mail_daemon(make_daemon, sink)
    r = d.post("/api/v1/users", json={"username": "mailer", "password": "mailer-long-passphrase",
                                      "role": "viewer", "email": "mailer@example.test"})
    assert r.status_code == 201, r.text
    s = bare_http()
    r = s.post(d.url + "/api/v1/auth/password-reset", json={"login": "Mailer@Example.test"},
               timeout=10)
    assert r.status_code == 202, r.text
    mail = sink.wait_for("mailer@example.test")[0]
    msg = mail["msg"]
    assert msg["From"] == "ganglion@example.test" and msg["To"] == "mailer@example.test"
    assert msg["Subject"] and msg["Date"] and msg["Message-ID"]
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    tok = token_in(mail, "gpr_")
    r = s.post(d.url + "/api/v1/auth/password-reset/confirm",
               json={"token": tok, "new_password": PW}, timeout=10)
    assert r.status_code == 204, r.text
    assert login(d, "mailer", PW).status_code == 200
    e = audit_actions(d, "auth.password_reset.request")[0]
    assert e["result"] == 202 and e["detail"]["mailed"] is True
    # an address longer than any username is looked up whole
    long_addr = "a-rather-long-mailbox-name-for-this-test." + "x" * 30 + "@example.test"
    d.post("/api/v1/users", json={"username": "longmail", "password": "longmail-long-passphrase",
                                  "role": "viewer", "email": long_addr})
    assert s.post(d.url + "/api/v1/auth/password-reset", json={"login": long_addr},
                  timeout=10).status_code == 202
    token_in(sink.wait_for(long_addr)[0], "gpr_")


def test_reset_answers_the_same_for_unknown_accounts(make_daemon, sink):
    d = mail_daemon(make_daemon, sink)
    d.post("/api/v1/users", json={"username": "known", "password": "known-long-passphrase",
                                  "role": "viewer", "email": "known@example.test"})
    s = bare_http()

    def ask(login_):
        t0 = time.monotonic()
        r = s.post(d.url + "/api/v1/auth/password-reset", json={"login": login_}, timeout=10)
        return r, time.monotonic() - t0

    known, tk = ask("known")
    unknown, tu = ask("nobody-here")
    by_mail, _ = ask("ghost@example.test")
    for r in (known, unknown, by_mail):
        assert r.status_code == 202
        assert r.json() == known.json()
        assert r.headers.get("Content-Type") == known.headers.get("Content-Type")
    assert abs(tk - tu) < 0.25, (tk, tu)
    sink.wait_for("known@example.test")
    assert len(sink.messages) == 1


# ---- e-mail verification -------------------------------------------------------------------

def test_email_verification_by_mail(make_daemon, sink):
    d = mail_daemon(make_daemon, sink, GANGLION_AUTH_REGISTRATION="approval")
    s = bare_http()
    opts = s.get(d.url + "/api/v1/auth/options", timeout=10).json()
    assert opts["registration"] == "approval" and opts["email_verification"] is True
    r = s.post(d.url + "/api/v1/auth/register",
               json={"username": "verif", "password": "verif-long-passphrase",
                     "email": "verif@example.test"}, timeout=10)
    assert r.status_code == 201, r.text
    assert r.json()["email_verified"] is False
    uid = r.json()["id"]
    tok = token_in(sink.wait_for("verif@example.test")[0], "gev_")
    r = s.post(d.url + "/api/v1/auth/email-verification/confirm", json={"token": tok}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"username": "verif", "email": "verif@example.test", "email_verified": True}
    assert d.get(f"/api/v1/users/{uid}").json()["email_verified"] is True
    assert_problem(s.post(d.url + "/api/v1/auth/email-verification/confirm", json={"token": tok},
                          timeout=10), 400)
    # a new address is unverified again, and the signed-in user asks for a new mail
    d.post(f"/api/v1/users/{uid}/approve")
    r = d.request("PATCH", f"/api/v1/users/{uid}", json={"email": "verif2@example.test"})
    assert r.status_code == 200 and r.json()["email_verified"] is False
    at = tokens(d, "verif", "verif-long-passphrase")["access_token"]
    r = s.post(d.url + "/api/v1/auth/email-verification", headers=bearer(at), timeout=10)
    assert r.status_code == 202, r.text
    mail = sink.wait_for("verif2@example.test")[0]
    tok2 = token_in(mail, "gev_")
    assert f"ganglion user verify-email {tok2}" in mail["msg"].get_content()
    import subprocess
    r = subprocess.run([d.bin, "--url", d.url, "user", "verify-email", tok2],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "verif2@example.test is verified" in r.stdout
    r = s.post(d.url + "/api/v1/auth/email-verification", headers=bearer(at), timeout=10)
    assert_problem(r, (409, 429))


def test_mail_flows_without_a_relay_say_so(daemon):
    s = bare_http()
    r = s.post(daemon.url + "/api/v1/auth/password-reset", json={"login": "admin"}, timeout=10)
    assert_problem(r, 503)
    assert "smtp_url" in r.json()["detail"]


# ---- refresh token cookie ------------------------------------------------------------------

def test_refresh_cookie_needs_the_csrf_header(daemon):
    s = bare_http()
    r = s.post(daemon.url + "/api/v1/auth/login",
               json={"username": "admin", "password": "suite-admin-passphrase", "cookie": True},
               timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "refresh_token" not in body and body["refresh_cookie"] is True
    csrf = body["csrf_token"]
    cookies = r.raw.headers.getlist("Set-Cookie")
    rc = next(c for c in cookies if c.startswith("ganglion_refresh="))
    assert "HttpOnly" in rc and "SameSite=Strict" in rc and "Path=/api/v1/auth" in rc
    assert "Secure" not in rc  # plain HTTP on loopback
    cc = next(c for c in cookies if c.startswith("ganglion_csrf="))
    assert "HttpOnly" not in cc and cc.startswith(f"ganglion_csrf={csrf};")
    # the cookie alone is refused
    r = s.post(daemon.url + "/api/v1/auth/refresh", json={}, timeout=10)
    assert_problem(r, 403)
    assert "X-CSRF-Token" in r.json()["detail"]
    r = s.post(daemon.url + "/api/v1/auth/refresh", json={}, headers={"X-CSRF-Token": "0" * 64},
               timeout=10)
    assert_problem(r, 403)
    # with the header it works, and the cookie rotates
    r = s.post(daemon.url + "/api/v1/auth/refresh", json={}, headers={"X-CSRF-Token": csrf},
               timeout=10)
    assert r.status_code == 200, r.text
    new_csrf = r.json()["csrf_token"]
    assert new_csrf != csrf and "refresh_token" not in r.json()
    at = r.json()["access_token"]
    # logout clears both cookies
    r = s.post(daemon.url + "/api/v1/auth/logout", headers=bearer(at), timeout=10)
    assert r.status_code == 204
    cleared = r.raw.headers.getlist("Set-Cookie")
    assert any(c.startswith("ganglion_refresh=;") and "Max-Age=0" in c for c in cleared)
    assert any(c.startswith("ganglion_csrf=;") and "Max-Age=0" in c for c in cleared)
    # the first pair is spent (used, and its session signed out)
    r = bare_http().post(daemon.url + "/api/v1/auth/refresh", json={},
                         headers={"X-CSRF-Token": csrf,
                                  "Cookie": f"ganglion_refresh={rc.split(';')[0].split('=', 1)[1]}"},
                         timeout=10)
    assert_problem(r, 401)
    assert_problem(bare_http().post(daemon.url + "/api/v1/auth/refresh", json={}, timeout=10), 400)


# ---- rate limits ---------------------------------------------------------------------------

def test_flows_are_rate_limited(make_daemon, sink):
    d = mail_daemon(make_daemon, sink, GANGLION_RATELIMIT_AUTH_RATE="1",
                    GANGLION_RATELIMIT_AUTH_BURST="4")
    s = bare_http()
    # one mail per account named per interval, whether it exists or not
    for who in ("admin", "no-such-user"):
        assert s.post(d.url + "/api/v1/auth/password-reset", json={"login": who}, timeout=10).status_code == 202
        r = s.post(d.url + "/api/v1/auth/password-reset", json={"login": who.upper()}, timeout=10)
        assert_problem(r, 429)
        assert "account" in r.json()["detail"] and int(r.headers["Retry-After"]) >= 1
    # and the address bucket of /api/v1/auth/ covers every public flow
    codes = [s.post(d.url + "/api/v1/auth/password-reset/confirm",
                    json={"token": "gpr_x", "new_password": PW}, timeout=10).status_code
             for _ in range(6)]
    assert 429 in codes


# ---- the outbox: a mail survives a relay outage and a restart --------------------------------

def test_mail_is_retried_until_the_relay_takes_it(make_daemon):
    sink = SmtpSink()  # its port is chosen, nothing listens there yet
    d = mail_daemon(make_daemon, sink, GANGLION_MAIL_RETRY_S="1")
    d.post("/api/v1/users", json={"username": "patient", "password": "patient-long-passphrase",
                                  "role": "viewer", "email": "patient@example.test"})
    r = bare_http().post(d.url + "/api/v1/auth/password-reset", json={"login": "patient"}, timeout=10)
    assert r.status_code == 202
    deadline = time.monotonic() + 10
    while not any(e.get("msg") == "mail: not sent" for e in d.log_lines()):
        assert time.monotonic() < deadline, "the refused send was not logged"
        time.sleep(0.05)
    sink.start()
    try:
        tok = token_in(sink.wait_for("patient@example.test", timeout=15)[0], "gpr_")
    finally:
        sink.stop()
    r = bare_http().post(d.url + "/api/v1/auth/password-reset/confirm",
                         json={"token": tok, "new_password": PW}, timeout=10)
    assert r.status_code == 204, r.text


def test_mail_survives_a_restart(make_daemon):
    sink = SmtpSink()
    d = mail_daemon(make_daemon, sink, GANGLION_MAIL_RETRY_S="2")
    d.post("/api/v1/users", json={"username": "durable", "password": "durable-long-passphrase",
                                  "role": "viewer", "email": "durable@example.test"})
    r = bare_http().post(d.url + "/api/v1/auth/password-reset", json={"login": "durable"}, timeout=10)
    assert r.status_code == 202
    deadline = time.monotonic() + 10
    while not any(e.get("msg") == "mail: not sent" for e in d.log_lines()):
        assert time.monotonic() < deadline, "the refused send was not logged"
        time.sleep(0.05)
    assert d.stop() == 0
    sink.start()
    try:
        d.start()
        # the new process knows of the mail only from its row; nothing is asked of it
        tok = token_in(sink.wait_for("durable@example.test", timeout=15)[0], "gpr_")
    finally:
        sink.stop()
    r = bare_http().post(d.url + "/api/v1/auth/password-reset/confirm",
                         json={"token": tok, "new_password": PW}, timeout=10)
    assert r.status_code == 204, r.text


# ---- both stores -----------------------------------------------------------------------------

def test_the_flows_on_each_store(store_kind, request, make_daemon, sink):
    """Invitation, registration with an e-mail, its verification mail, a mailed reset and an
    admin's approval path, on SQLite and on PostgreSQL (the statements differ by backend)."""
    store = request.getfixturevalue("pg_url") if store_kind == "postgres" else None
    d = make_daemon(store=store, env={"GANGLION_MAIL_SMTP_URL": sink.url,
                                      "GANGLION_AUTH_REGISTRATION": "invite"})
    s = bare_http()
    code = d.post("/api/v1/invites", json={"ttl_s": 600}).json()["code"]
    r = s.post(d.url + "/api/v1/auth/register",
               json={"username": "both", "password": "both-long-passphrase", "email": "both@example.test",
                     "invite": code}, timeout=10)
    assert r.status_code == 201, r.text
    tok = token_in(sink.wait_for("both@example.test")[0], "gev_")
    r = s.post(d.url + "/api/v1/auth/email-verification/confirm", json={"token": tok}, timeout=10)
    assert r.status_code == 200, r.text
    r = s.post(d.url + "/api/v1/auth/password-reset", json={"login": "BOTH@example.test"}, timeout=10)
    assert r.status_code == 202
    tok = token_in(sink.wait_for("both@example.test", count=2)[1], "gpr_")
    r = s.post(d.url + "/api/v1/auth/password-reset/confirm", json={"token": tok, "new_password": PW},
               timeout=10)
    assert r.status_code == 204, r.text
    assert login(d, "both", PW).status_code == 200
    r = d.request("PATCH", f"/api/v1/users/{user_id(d, 'both')}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["pending"] is False


# ---- a relay over TLS (STARTTLS or from the first byte) with AUTH PLAIN ---------------------

@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtps"])
def test_mail_over_tls_with_auth(make_daemon, bin, tmp_path, scheme):
    import ssl
    import subprocess

    from aiosmtpd.smtp import AuthResult

    r = subprocess.run([str(bin), "cert", "self-signed", "--out", str(tmp_path / "tls")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem")
    seen = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((mechanism, auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.login == b"relay" and auth_data.password == b"s3cret")

    if scheme == "smtps":
        # TLS from the first byte: aiosmtpd does not count it for auth_require_tls
        sink = SmtpSink(ssl_context=ctx, authenticator=authenticator, auth_required=True,
                        auth_require_tls=False).start()
    else:
        sink = SmtpSink(tls_context=ctx, require_starttls=True, authenticator=authenticator,
                        auth_required=True).start()
    try:
        d = make_daemon(env={"GANGLION_MAIL_SMTP_URL": f"{scheme}://relay:s3cret@127.0.0.1:{sink.port}",
                             "GANGLION_MAIL_CA_FILE": str(tmp_path / "tls" / "cert.pem")})
        d.post("/api/v1/users", json={"username": "tlsuser", "password": "tlsuser-long-passphrase",
                                      "role": "viewer", "email": "tlsuser@example.test"})
        r = bare_http().post(d.url + "/api/v1/auth/password-reset", json={"login": "tlsuser"},
                             timeout=10)
        assert r.status_code == 202
        token_in(sink.wait_for("tlsuser@example.test")[0], "gpr_")
        assert seen == [("PLAIN", b"relay", b"s3cret")]
    finally:
        sink.stop()


def test_invite_and_approve_from_the_cli(make_daemon, bin):
    import subprocess

    def cli(d, *args):
        return subprocess.run([str(bin), "--url", d.url, *args], env=d.cli_env(),
                              capture_output=True, text=True, timeout=30)

    d = make_daemon(env={"GANGLION_AUTH_REGISTRATION": "invite"})
    r = cli(d, "user", "invite", "--ttl", "600")
    assert r.returncode == 0, r.stderr
    code = next(w for w in r.stdout.split() if w.startswith("gin_"))
    r = bare_http().post(d.url + "/api/v1/auth/register",
                         json={"username": "invited", "password": "invited-long-passphrase",
                               "email": "invited@example.test", "invite": code}, timeout=10)
    assert r.status_code == 201, r.text
    r = cli(d, "user", "ls")
    line = next(ln for ln in r.stdout.splitlines() if "invited" in ln)
    assert "active" in line and "invited@example.test (unverified)" in line
    assert cli(d, "user", "invite", "--ttl", "5").returncode == 2  # below the floor: usage

    a = make_daemon(env={"GANGLION_AUTH_REGISTRATION": "approval"}, name="appr")
    r = bare_http().post(a.url + "/api/v1/auth/register",
                         json={"username": "waits", "password": "waits-long-passphrase"}, timeout=10)
    assert r.status_code == 201
    assert "pending" in next(ln for ln in cli(a, "user", "ls").stdout.splitlines() if "waits" in ln)
    r = cli(a, "user", "approve", "waits")
    assert r.returncode == 0, r.stderr
    assert "approved" in r.stdout
    assert login(a, "waits", "waits-long-passphrase").status_code == 200
    r = cli(a, "user", "approve", "waits")
    assert r.returncode != 0 and "not waiting for approval" in r.stderr


def test_a_mail_refused_for_good_is_not_retried(make_daemon, sink):
    import sqlite3
    d = mail_daemon(make_daemon, sink, GANGLION_MAIL_RETRY_S="1")
    d.post("/api/v1/users", json={"username": "bouncer", "password": "bouncer-long-passphrase",
                                  "role": "viewer", "email": "bounce@example.test"})
    r = bare_http().post(d.url + "/api/v1/auth/password-reset", json={"login": "bouncer"}, timeout=10)
    assert r.status_code == 202
    deadline = time.monotonic() + 10
    while not any(e.get("msg") == "mail: given up" for e in d.log_lines()):
        assert time.monotonic() < deadline, "the 550 was not logged as given up"
        time.sleep(0.05)
    given_up = next(e for e in d.log_lines() if e.get("msg") == "mail: given up")
    assert "550" in given_up["reason"]
    db = sqlite3.connect(d.data_dir / "ganglion.db", timeout=10)
    deadline = time.monotonic() + 10
    while db.execute("SELECT count(*) FROM mail_outbox").fetchone()[0] != 0:
        assert time.monotonic() < deadline, "the refused mail stayed in the outbox"
        time.sleep(0.05)
    db.close()
    assert sink.rcpts == ["bounce@example.test"]
    assert not any(e.get("msg") == "mail: not sent" for e in d.log_lines())


def test_addresses_are_checked_where_they_enter(daemon):
    for bad in ("no-at-sign", "a b@example.test", "x@y>\r\nRCPT TO:<z@w"):
        r = daemon.post("/api/v1/users", json={"username": "addr", "password": "addr-long-passphrase",
                                               "role": "viewer", "email": bad})
        assert_problem(r, 422, field="/email")
    make_user(daemon, "addr2", "viewer")
    r = daemon.request("PATCH", f"/api/v1/users/{user_id(daemon, 'addr2')}", json={"email": "nope"})
    assert_problem(r, 422, field="/email")


def test_a_silent_relay_neither_blocks_the_daemon_nor_hangs_the_send(make_daemon):
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts (by the kernel) and never says a word
    port = silent.getsockname()[1]
    try:
        d = make_daemon(env={"GANGLION_MAIL_SMTP_URL": f"smtp://127.0.0.1:{port}",
                             "GANGLION_MAIL_TIMEOUT_S": "2"})
        d.post("/api/v1/users", json={"username": "quiet", "password": "quiet-long-passphrase",
                                      "role": "viewer", "email": "quiet@example.test"})
        s = bare_http()
        t0 = time.monotonic()
        r = s.post(d.url + "/api/v1/auth/password-reset", json={"login": "quiet"}, timeout=10)
        assert r.status_code == 202 and time.monotonic() - t0 < 1.0
        # while the conversation waits for a greeting, the daemon answers at once
        for _ in range(5):
            t = time.monotonic()
            assert s.get(d.url + "/healthz", timeout=5).status_code == 200
            assert time.monotonic() - t < 0.5
        deadline = time.monotonic() + 10
        while True:
            failed = [e for e in d.log_lines() if e.get("msg") == "mail: not sent"]
            if failed:
                break
            assert time.monotonic() < deadline, "the silent relay was waited for past mail.timeout_s"
            time.sleep(0.05)
        assert "timed out" in failed[0]["reason"]
        assert 1.5 < time.monotonic() - t0 < 6
    finally:
        silent.close()


def test_shutdown_with_a_send_in_flight(make_daemon):
    import socket
    import sqlite3
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:
        d = make_daemon(env={"GANGLION_MAIL_SMTP_URL": f"smtp://127.0.0.1:{port}",
                             "GANGLION_MAIL_TIMEOUT_S": "2"})
        d.post("/api/v1/users", json={"username": "leaving", "password": "leaving-long-passphrase",
                                      "role": "viewer", "email": "leaving@example.test"})
        r = bare_http().post(d.url + "/api/v1/auth/password-reset", json={"login": "leaving"},
                             timeout=10)
        assert r.status_code == 202
        t0 = time.monotonic()
        assert d.stop() == 0
        assert time.monotonic() - t0 < 8  # the drain waits for the send, bounded by its timeout
        db = sqlite3.connect(d.data_dir / "ganglion.db")
        rows = db.execute("SELECT attempts FROM mail_outbox").fetchall()
        db.close()
        assert rows == [(1,)]  # still there for the next run, its failed try recorded
    finally:
        silent.close()


def test_cookie_mode_is_for_http_only(make_daemon):
    import gzmq
    d, rpc, _pub = gzmq.zmq_daemon(make_daemon)
    c = gzmq.Client(rpc)
    try:
        r = c.call("POST", "/api/v1/auth/login",
                   body={"username": "admin", "password": "suite-admin-passphrase", "cookie": True})
    finally:
        c.close()
    assert r["status"] == 200, r
    assert r["body"]["refresh_token"].startswith("grt_") and "csrf_token" not in r["body"]


def test_open_invitations_are_listed_and_revocable(make_daemon):
    d = make_daemon(env={"GANGLION_AUTH_REGISTRATION": "invite"})
    first = d.post("/api/v1/invites", json={}).json()["code"]
    second = d.post("/api/v1/invites", json={"ttl_s": 600}).json()["code"]
    listed = d.get("/api/v1/invites").json()["invites"]
    assert len(listed) == 2 and all(set(i) == {"id", "created_by", "created_at", "expires_at"}
                                    for i in listed)
    assert first not in str(listed) and second not in str(listed)
    r = d.request("DELETE", f"/api/v1/invites/{listed[1]['id']}")
    assert r.status_code == 204
    assert_problem(d.request("DELETE", f"/api/v1/invites/{listed[1]['id']}"), 404)
    r = bare_http().post(d.url + "/api/v1/auth/register",
                         json={"username": "late", "password": "late-long-passphrase", "invite": second},
                         timeout=10)
    assert_problem(r, 403)
    r = bare_http().post(d.url + "/api/v1/auth/register",
                         json={"username": "early", "password": "early-long-passphrase", "invite": first},
                         timeout=10)
    assert r.status_code == 201
    assert d.get("/api/v1/invites").json()["invites"] == []
    assert [e["result"] for e in audit_actions(d, "users.invite_revoke")] == [404, 204]
