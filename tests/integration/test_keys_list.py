"""Listing API keys: pages with limit/offset/has_more like every other list, revoked keys left
out unless include_revoked=true, on both stores."""

from auth_util import make_key
from conftest import assert_problem


def test_keys_pages_and_revoked_filter(store_daemon):
    d = store_daemon
    made = [make_key(d, name=f"k{i}", role="viewer") for i in range(5)]
    assert d.request("DELETE", f"/api/v1/keys/{made[1]['id']}").status_code == 204

    # default: live keys only (local-admin + 4), one page
    r = d.get("/api/v1/keys").json()
    names = [k["name"] for k in r["keys"]]
    assert names == ["local-admin", "k0", "k2", "k3", "k4"]
    assert (r["total"], r["limit"], r["offset"], r["has_more"]) == (5, 100, 0, False)

    # pages of two walk the same list in order, has_more false on the last
    seen, offset = [], 0
    while True:
        page = d.get("/api/v1/keys", params={"limit": 2, "offset": offset}).json()
        seen += [k["name"] for k in page["keys"]]
        assert page["total"] == 5 and len(page["keys"]) <= 2
        if not page["has_more"]:
            break
        offset += 2
    assert seen == names

    # the revoked key is still there when asked for, marked revoked
    r = d.get("/api/v1/keys", params={"include_revoked": "true"}).json()
    assert [k["name"] for k in r["keys"]] == ["local-admin", "k0", "k1", "k2", "k3", "k4"]
    assert r["total"] == 6 and [k["revoked"] for k in r["keys"]].count(True) == 1

    # past the end: an empty page, not an error
    r = d.get("/api/v1/keys", params={"offset": 50}).json()
    assert r["keys"] == [] and r["total"] == 5 and r["has_more"] is False

    assert_problem(d.get("/api/v1/keys", params={"limit": 0}), 422)
    assert_problem(d.get("/api/v1/keys", params={"limit": 1001}), 422)
    assert_problem(d.get("/api/v1/keys", params={"include_revoked": "maybe"}), 422)
