"""Helpers for the security tests: sign in, make users and keys with the suite's admin session,
and a Python statement of the role → scope table that docs/security.md documents."""

import base64
import json

from conftest import bare_http

ADMIN_PASSWORD = "suite-admin-passphrase"  # conftest.AUTH_TEST_ENV
ROLES = ("admin", "operator", "viewer", "agent")
AGENT_SCOPES = {"agents:read", "agents:write", "events:read", "memory:read", "memory:write",
                "tasks:read", "tasks:write"}
ADMIN_ONLY_DOMAINS = ("users", "keys", "guard_rules")


def role_allows(role, scope):
    """The documented table (mirrors src/auth/auth_policy.c)."""
    if scope == "public":
        return True
    if role == "admin":
        return True
    if scope == "self":
        return role in ROLES
    if scope == "admin" or scope.split(":")[0] in ADMIN_ONLY_DOMAINS:
        return False
    if role == "operator":
        return scope.endswith(":read") or scope.endswith(":write")
    if role == "viewer":
        return scope.endswith(":read")
    if role == "agent":
        return scope in AGENT_SCOPES
    return False


def login(d, username, password, session=None):
    s = session or bare_http()
    return s.post(d.url + "/api/v1/auth/login", json={"username": username, "password": password},
                  timeout=30)


def tokens(d, username, password):
    r = login(d, username, password)
    assert r.status_code == 200, r.text
    return r.json()


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def make_user(d, username, role, password=None):
    password = password or f"{username}-long-passphrase-7"
    r = d.post("/api/v1/users", json={"username": username, "password": password, "role": role})
    assert r.status_code == 201, r.text
    return r.json(), password


def make_key(d, **body):
    body.setdefault("name", "k")
    r = d.post("/api/v1/keys", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt_parts(tok):
    h, p, s = tok.split(".")
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(h))), json.loads(base64.urlsafe_b64decode(pad(p))), s)
