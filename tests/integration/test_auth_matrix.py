"""Every endpoint × role, generated from GET /openapi.json: each operation's x-scope must be a
decision of the documented table, anonymous callers get 401 on everything not public, and each
role is allowed or refused (403 naming the scope) exactly as the table says. A new endpoint is
covered the moment it is registered. The ownership dimension (who may see and change which
agent, stream, brain and task, by owner and team) is test_auth_ownership.py."""

import re

from auth_util import ROLES, make_key, role_allows, tokens
from conftest import bare_http

SCOPE_FORM = re.compile(r"^(public|self|admin|[a-z][a-z0-9_]*:(read|write))$")


def _operations(d):
    doc = d.get("/openapi.json").json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                continue
            yield method.upper(), path, op


def _concrete(path):
    # ids far beyond anything the test creates, so no DELETE touches a real record
    return re.sub(r"\{[^}]+\}", "999999", path)


def _call(s, d, method, path, headers):
    kw = {"headers": dict(headers), "timeout": 10}
    if method in ("POST", "PUT", "PATCH"):
        kw["json"] = {}
    if path.endswith("/test/sleep"):
        path += "?ms=1"
    kw["stream"] = True  # a stream endpoint answers headers first; we only need the status
    r = s.request(method, d.url + path, **kw)
    if r.headers.get("Content-Type", "").startswith("text/event-stream"):
        r.close()  # an open stream: the status is all we need
    else:
        r.content  # noqa: B018 - read the body before the connection goes back
    return r


def test_endpoint_role_matrix(daemon):
    # logout ends the signed-in user's session: it goes last
    ops = sorted(_operations(daemon), key=lambda o: o[1] == "/api/v1/auth/logout")
    assert len(ops) > 15
    s = bare_http()
    creds = {role: {"Authorization": "Bearer " + make_key(daemon, name=f"m-{role}", role=role)["secret"]}
             for role in ROLES}
    # one role also as a signed-in user, to cover the JWT path the same way
    daemon.post("/api/v1/users", json={"username": "mviewer", "password": "matrix-viewer-pass", "role": "viewer"})
    creds["viewer-user"] = {"Authorization": "Bearer " + tokens(daemon, "mviewer", "matrix-viewer-pass")["access_token"]}

    failures = []
    for method, path, op in ops:
        scope = op.get("x-scope")
        if not scope or not SCOPE_FORM.match(scope):
            failures.append(f"{method} {path}: x-scope {scope!r} is not a decision of the table")
            continue
        target = _concrete(path)
        r = _call(s, daemon, method, target, {})
        if scope == "public":
            if r.status_code in (401, 403):
                failures.append(f"{method} {path}: public but anonymous got {r.status_code}")
        elif r.status_code != 401 or "Bearer" not in r.headers.get("WWW-Authenticate", ""):
            failures.append(f"{method} {path}: anonymous got {r.status_code}, expected 401")
        for who, h in creds.items():
            role = who.split("-")[0]
            r = _call(s, daemon, method, target, h)
            allowed = role_allows(role, scope)
            if allowed and r.status_code in (401, 403):
                failures.append(f"{method} {path} [{scope}]: {who} refused with {r.status_code}")
            if not allowed:
                if r.status_code != 403:
                    failures.append(f"{method} {path} [{scope}]: {who} got {r.status_code}, expected 403")
                elif r.json().get("required_scope") != scope:
                    failures.append(f"{method} {path}: 403 does not name {scope}")
    assert not failures, "\n".join(failures)


def test_alerts_roles_manage_and_read(daemon):
    # the matrix above covers every alerts endpoint by its scope; this is the same decision
    # with real documents: admins and operators manage rules and notifiers, viewers read them
    s = bare_http()
    h = {role: {"Authorization": "Bearer " + make_key(daemon, name=f"al-{role}", role=role)["secret"]}
         for role in ("operator", "viewer", "agent")}
    notifier = {"name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}
    r = s.post(daemon.url + "/api/v1/alerts/notifiers", json=notifier, headers=h["operator"], timeout=10)
    assert r.status_code == 201, r.text
    nid = r.json()["id"]
    rule = {"name": "r", "kind": "agent", "notifiers": [nid]}
    assert s.post(daemon.url + "/api/v1/alerts/rules", json=rule, headers=h["operator"],
                  timeout=10).status_code == 201
    assert daemon.post("/api/v1/alerts/rules", json=rule).status_code == 201  # admin
    v = s.get(daemon.url + "/api/v1/alerts/rules", headers=h["viewer"], timeout=10)
    # both rules are owned (by the operator's key, by the admin) and shared with no team: a
    # viewer reads the list but sees neither (test_auth_ownership.py has the sharing)
    assert v.status_code == 200 and v.json()["rules"] == []
    assert len(daemon.get("/api/v1/alerts/rules").json()["rules"]) == 2
    assert s.get(daemon.url + "/api/v1/alerts/history", headers=h["viewer"], timeout=10).status_code == 200
    for who in ("viewer", "agent"):
        r = s.post(daemon.url + "/api/v1/alerts/rules", json=rule, headers=h[who], timeout=10)
        assert r.status_code == 403 and r.json()["required_scope"] == "alerts:write"
    assert s.get(daemon.url + "/api/v1/alerts/rules", headers=h["agent"], timeout=10).status_code == 403
# The account flows: which are open to anyone (they must answer the same whether the account
# exists), which need the caller's own session, which are an admin's. A change of scope here is
# a change of the security model and must be deliberate.
ACCOUNT_FLOW_SCOPES = {
    ("GET", "/api/v1/auth/options"): "public",
    ("POST", "/api/v1/auth/register"): "public",
    ("POST", "/api/v1/auth/password-reset"): "public",
    ("POST", "/api/v1/auth/password-reset/confirm"): "public",
    ("POST", "/api/v1/auth/email-verification/confirm"): "public",
    ("POST", "/api/v1/auth/email-verification"): "self",
    ("POST", "/api/v1/invites"): "users:write",
    ("GET", "/api/v1/invites"): "users:read",
    ("DELETE", "/api/v1/invites/{id}"): "users:write",
    ("POST", "/api/v1/users/{id}/approve"): "users:write",
    ("POST", "/api/v1/users/{id}/reset-token"): "users:write",
}


def test_account_flow_scopes(daemon):
    declared = {(m, p): op.get("x-scope") for m, p, op in _operations(daemon)}
    for key, scope in ACCOUNT_FLOW_SCOPES.items():
        assert declared.get(key) == scope, f"{key}: x-scope {declared.get(key)!r}, expected {scope!r}"
    # only an admin issues reset tokens, invitations and approvals
    for key, scope in ACCOUNT_FLOW_SCOPES.items():
        if scope == "users:write":
            assert [r for r in ("operator", "viewer", "agent") if role_allows(r, scope)] == []
