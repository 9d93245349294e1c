"""The memory domain as clients use it: records stored, read, listed with filters and pages,
deleted and promoted; full-text search ranked the same on SQLite and PostgreSQL; embeddings
searched by cosine and mixed with full text; bounds; retention; agent keys confined to their own
records."""

import json
import math
import time

import pytest

from auth_util import bearer, make_key
from conftest import assert_problem, bare_http

CORPUS = [
    ("episodic", "the deploy of service alpha failed because the disk was full"),
    ("episodic", "alpha deploy succeeded after the disk was cleaned"),
    ("semantic", "disk usage above ninety percent needs attention"),
    ("semantic", "service beta talks to alpha over the message queue"),
    ("working", "remember to rotate the alpha certificate on friday"),
    ("long-term", "the operator prefers short answers"),
    ("short-term", "disk disk disk: a record that repeats the word"),
]


def add(d, layer, content, **kw):
    r = d.post("/api/v1/memory/records", json={"layer": layer, "content": content, **kw})
    assert r.status_code == 201, r.text
    return r.json()


def search(d, **body):
    r = d.post("/api/v1/memory/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()["results"]


def load_corpus(d):
    return [add(d, layer, text, tags=[layer]) for layer, text in CORPUS]


def test_store_get_delete(store_daemon):
    d = store_daemon
    rec = add(d, "episodic", "ünïcode survives: naïve café", agent="a1", tags=["x", "y"],
              expires_at="2999-01-01T00:00:00Z")
    assert rec["id"].startswith("mem-") and rec["layer"] == "episodic"
    assert rec["agent"] == "a1" and rec["tags"] == ["x", "y"] and rec["principal"]
    assert rec["expires_at"].startswith("2999-01-01")
    got = d.get(f"/api/v1/memory/records/{rec['id']}")
    assert got.status_code == 200 and got.json() == rec
    r = d.request("DELETE", f"/api/v1/memory/records/{rec['id']}")
    assert r.status_code == 204
    assert_problem(d.get(f"/api/v1/memory/records/{rec['id']}"), 404)
    assert_problem(d.request("DELETE", f"/api/v1/memory/records/{rec['id']}"), 404)
    actions = [e["action"] for e in d.get("/api/v1/audit", params={"limit": 50}).json()["entries"]]
    assert "POST /api/v1/memory/records" in actions
    assert "DELETE /api/v1/memory/records/{id}" in actions


def test_full_text_ranking_and_snippets(store_daemon):
    d = store_daemon
    recs = load_corpus(d)
    res = search(d, query="disk alpha", k=10)
    got = [r["record"]["content"] for r in res]
    # Every record holding a word is found, none other; the order is the documented one (BM25
    # over the candidates, then newest, then id) and is pinned so both stores must match it.
    assert set(got) == {c for _, c in CORPUS if "disk" in c or "alpha" in c}
    assert got == EXPECTED_DISK_ALPHA, got
    scores = [r["score"] for r in res]
    assert scores == [0.912377, 0.795995, 0.688633, 0.47956, 0.456188, 0.434989]
    top = res[0]
    assert "<b>" in top["snippet"] and "</b>" in top["snippet"]
    assert "<b>disk</b>" in res[got.index(CORPUS[6][1])]["snippet"]
    # a word found nowhere gives nothing; case does not matter
    assert search(d, query="zebra") == []
    assert [r["record"]["id"] for r in search(d, query="OPERATOR")] == [recs[5]["id"]]


# BM25 (k1 1.2, b 0.75) over the six candidates, computed by hand: the shorter of the two
# records holding both words first, the record repeating "disk" before the longer single hits.
EXPECTED_DISK_ALPHA = [
    "alpha deploy succeeded after the disk was cleaned",
    "the deploy of service alpha failed because the disk was full",
    "disk disk disk: a record that repeats the word",
    "disk usage above ninety percent needs attention",
    "remember to rotate the alpha certificate on friday",
    "service beta talks to alpha over the message queue",
]


def test_filters_and_pagination(store_daemon):
    d = store_daemon
    load_corpus(d)
    add(d, "episodic", "alpha from agent seven", agent="seven")
    r = d.get("/api/v1/memory/records", params={"layer": "semantic"}).json()
    assert {x["layer"] for x in r["records"]} == {"semantic"} and len(r["records"]) == 2
    r = d.get("/api/v1/memory/records", params={"agent": "seven"}).json()
    assert [x["content"] for x in r["records"]] == ["alpha from agent seven"]
    assert [x["record"]["agent"] for x in search(d, query="alpha", agent="seven")] == ["seven"]
    assert {x["record"]["layer"] for x in search(d, query="alpha", layer="working")} == {"working"}
    seen = []
    offset = 0
    while True:
        page = d.get("/api/v1/memory/records", params={"limit": 3, "offset": offset}).json()
        seen += [x["id"] for x in page["records"]]
        if not page["has_more"]:
            break
        offset += 3
    assert len(seen) == len(set(seen)) == len(CORPUS) + 1
    created = [x["created_ms"] for x in d.get("/api/v1/memory/records",
                                               params={"limit": 100}).json()["records"]]
    assert created == sorted(created, reverse=True)
    future = d.get("/api/v1/memory/records", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert future["records"] == []
    assert_problem(d.get("/api/v1/memory/records", params={"since": "yesterday"}), 422)


def test_promotion_moves_a_record_between_layers(store_daemon):
    d = store_daemon
    rec = add(d, "short-term", "the user likes tea", embedding=[1.0, 0.0, 0.0])
    r = d.post(f"/api/v1/memory/records/{rec['id']}/promote", json={"layer": "long-term"})
    assert r.status_code == 200, r.text
    assert r.json()["layer"] == "long-term"
    assert d.get(f"/api/v1/memory/records/{rec['id']}").json()["layer"] == "long-term"
    hits = search(d, vector=[1.0, 0.1, 0.0], layer="long-term", k=1)
    assert [h["record"]["id"] for h in hits] == [rec["id"]]
    assert search(d, vector=[1.0, 0.1, 0.0], layer="short-term", k=1) == []
    assert_problem(d.post(f"/api/v1/memory/records/{rec['id']}/promote",
                          json={"layer": "attic"}), 422)
    assert_problem(d.post("/api/v1/memory/records/mem-0000000000000000/promote",
                          json={"layer": "working"}), 404)
    # a layer's vectors share one dimension: a record with another cannot move in
    add(d, "working", "two numbers", embedding=[1.0, 2.0])
    r = d.post(f"/api/v1/memory/records/{rec['id']}/promote", json={"layer": "working"})
    assert_problem(r, 422, field="layer")
    assert d.get(f"/api/v1/memory/records/{rec['id']}").json()["layer"] == "long-term"


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def test_embeddings_knn_and_hybrid(store_daemon):
    d = store_daemon
    vecs = {
        "north": [0.0, 1.0, 0.0, 0.0],
        "north-east": [0.7, 0.7, 0.0, 0.0],
        "east": [1.0, 0.0, 0.0, 0.0],
        "south": [0.0, -1.0, 0.0, 0.0],
        "up": [0.0, 0.0, 1.0, 0.0],
    }
    ids = {name: add(d, "semantic", f"heading {name} wind", embedding=v)["id"]
           for name, v in vecs.items()}
    hits = search(d, vector=[0.1, 1.0, 0.0, 0.0], k=3)
    assert [h["record"]["id"] for h in hits] == [ids["north"], ids["north-east"], ids["east"]]
    q = unit([0.1, 1.0, 0.0, 0.0])
    expect = sum(a * b for a, b in zip(q, unit(vecs["north-east"])))
    assert abs(hits[1]["vector_score"] - expect) < 1e-5
    # hybrid: the text part lifts "south" (the only one naming south) above its vector rank
    both = search(d, query="south", vector=[0.1, 1.0, 0.0, 0.0], k=5, hybrid_weight=0.9)
    assert both[0]["record"]["id"] == ids["south"]
    vec_only = search(d, query="south", vector=[0.1, 1.0, 0.0, 0.0], k=5, hybrid_weight=0.0)
    assert vec_only[0]["record"]["id"] == ids["north"]
    # the layer's dimension is fixed by its first vector
    r = d.post("/api/v1/memory/records",
               json={"layer": "semantic", "content": "x", "embedding": [1.0, 2.0]})
    assert_problem(r, 422, field="embedding")
    r = d.post("/api/v1/memory/records",
               json={"layer": "semantic", "content": "x", "embedding": [0.0, 0.0, 0.0, 0.0]})
    assert_problem(r, 422, field="embedding")
    # deleted records leave the index
    d.request("DELETE", f"/api/v1/memory/records/{ids['north']}")
    hits = search(d, vector=[0.1, 1.0, 0.0, 0.0], k=1)
    assert [h["record"]["id"] for h in hits] == [ids["north-east"]]


def test_index_is_loaded_again_after_a_restart(daemon):
    a = add(daemon, "episodic", "kept across restarts", embedding=[0.0, 0.0, 1.0])
    daemon.stop()
    daemon.start()
    hits = search(daemon, vector=[0.0, 0.1, 1.0], k=1)
    assert [h["record"]["id"] for h in hits] == [a["id"]]


def test_bounds(make_daemon):
    d = make_daemon(args=["--set", "memory.max_content_bytes=64", "--set",
                          "memory.max_records=3", "--set", "memory.max_dim=8"])
    assert_problem(d.post("/api/v1/memory/records",
                          json={"layer": "working", "content": "x" * 65}), 413)
    r = d.post("/api/v1/memory/records",
               json={"layer": "working", "content": "x", "embedding": [1.0] * 9})
    assert_problem(r, 422, field="embedding")
    assert_problem(d.post("/api/v1/memory/records", json={"layer": "attic", "content": "x"}), 422)
    assert_problem(d.post("/api/v1/memory/search", json={"query": "  !! "}), 422)
    for i in range(3):
        add(d, "working", f"note {i}")
    r = d.post("/api/v1/memory/records", json={"layer": "working", "content": "one more"})
    assert_problem(r, 422)
    assert r.json()["type"].endswith("memory-full")


def test_retention_prunes_by_count_and_age(make_daemon, store_kind, request):
    store = request.getfixturevalue("pg_url") if store_kind == "postgres" else None
    d = make_daemon(store=store, args=["--set", "memory.prune_interval_ms=200", "--set",
                          "memory.short_term_max_count=2", "--set",
                          "memory.working_max_age_s=1", "--set", "memory.prune_batch=2"])
    for i in range(5):
        add(d, "short-term", f"short {i}")
    add(d, "working", "fades quickly")
    add(d, "episodic", "stays", expires_at="2000-01-01T00:00:00Z")
    add(d, "long-term", "stays forever")
    deadline = time.time() + 15
    while time.time() < deadline:
        rows = d.get("/api/v1/memory/records", params={"limit": 100}).json()["records"]
        left = sorted(r["content"] for r in rows)
        if left == ["short 3", "short 4", "stays forever"]:
            break
        time.sleep(0.2)
    assert left == ["short 3", "short 4", "stays forever"]
    m = d.metrics()
    assert m["ganglion_memory_pruned_total"].samples[0].value >= 5


def test_agent_keys_see_only_their_own_records(daemon):
    k1 = make_key(daemon, name="agent-one", role="agent")
    k2 = make_key(daemon, name="agent-two", role="agent")
    s = bare_http()

    def call(method, path, key, **kw):
        return s.request(method, daemon.url + path, headers=bearer(key["secret"]), timeout=10,
                         **kw)

    r = call("POST", "/api/v1/memory/records", k1, json={"layer": "working",
                                                         "content": "secret plan alpha",
                                                         "embedding": [0.0, 1.0]})
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["principal"] == f"key:{k1['id']}"
    r = call("POST", "/api/v1/memory/records", k2, json={"layer": "working",
                                                         "content": "other plan alpha",
                                                         "embedding": [1.0, 0.0]})
    theirs = r.json()
    assert [x["id"] for x in call("GET", "/api/v1/memory/records", k1).json()["records"]] == [
        mine["id"]]
    hits = call("POST", "/api/v1/memory/search", k1, json={"query": "plan"}).json()["results"]
    assert [h["record"]["id"] for h in hits] == [mine["id"]]
    # the nearest vector is the other agent's: it is never shown
    hits = call("POST", "/api/v1/memory/search", k1,
                json={"vector": [1.0, 0.0], "k": 5}).json()["results"]
    assert [h["record"]["id"] for h in hits] == [mine["id"]]
    assert_problem(call("GET", f"/api/v1/memory/records/{theirs['id']}", k1), 404)
    assert_problem(call("POST", f"/api/v1/memory/records/{theirs['id']}/promote", k1,
                        json={"layer": "long-term"}), 404)
    assert_problem(call("DELETE", f"/api/v1/memory/records/{theirs['id']}", k1), 404)
    assert_problem(call("GET", "/api/v1/memory/records", k1,
                        params={"principal": f"key:{k2['id']}"}), 403)
    # people (here the admin) see every record
    assert len(daemon.get("/api/v1/memory/records").json()["records"]) == 2
    # a viewer key reads but does not write
    v = make_key(daemon, name="viewer", role="viewer")
    assert call("GET", "/api/v1/memory/records", v).status_code == 200
    assert_problem(call("POST", "/api/v1/memory/records", v,
                        json={"layer": "working", "content": "x"}), 403)


def memory_cli(d, *args):
    import subprocess
    env = d.cli_env()
    env.pop("GANGLION_URL", None)
    return subprocess.run([d.bin, "--url", d.url, "memory", *args], capture_output=True,
                          text=True, timeout=30, env=env)


def test_cli_add_search_show_rm(daemon):
    p = memory_cli(daemon, "add", "episodic", "the backup ran at midnight", "--tag", "ops",
                   "--agent", "cron", "--embedding", "1,0,0")
    assert p.returncode == 0, p.stderr
    rid = p.stdout.strip()
    assert rid.startswith("mem-")
    p = memory_cli(daemon, "add", "episodic", "lunch was at noon", "--embedding", "0,1,0")
    other = p.stdout.strip()
    p = memory_cli(daemon, "search", "backup")
    assert p.returncode == 0, p.stderr
    assert rid in p.stdout and other not in p.stdout and "<b>backup</b>" in p.stdout
    p = memory_cli(daemon, "--json", "search", "--vector", "0.1,1,0", "--k", "1")
    assert p.returncode == 0, p.stderr
    assert [h["record"]["id"] for h in json.loads(p.stdout)["results"]] == [other]
    p = memory_cli(daemon, "show", rid)
    assert p.returncode == 0 and "the backup ran at midnight" in p.stdout
    assert "layer:      episodic" in p.stdout and "ops" in p.stdout and "3 dimensions" in p.stdout
    p = memory_cli(daemon, "rm", rid)
    assert p.returncode == 0 and f"deleted {rid}" in p.stdout
    p = memory_cli(daemon, "show", rid)
    assert p.returncode != 0 and "no memory record" in p.stderr
    p = memory_cli(daemon, "add", "attic", "x")
    assert p.returncode != 0 and "layer" in p.stderr
    p = memory_cli(daemon, "search", "--vector", "1,x")
    assert p.returncode == 2 and "vector" in p.stderr


def test_hybrid_reads_many_vector_candidates(store_daemon):
    # more vector candidates than one statement reads (50): every one is found and ranked
    d = store_daemon
    ids = [add(d, "episodic", f"note number {i}" + (" zebra" if i == 37 else ""),
               embedding=[1.0, i / 100.0])["id"] for i in range(70)]
    res = search(d, query="zebra", vector=[1.0, 0.0], k=70, hybrid_weight=0.5)
    assert len(res) == 70 and len({r["record"]["id"] for r in res}) == 70
    assert res[0]["record"]["id"] == ids[37]
    # then by cosine: the smaller the second coordinate, the nearer
    rest = [r["record"]["id"] for r in res[1:]]
    assert rest == [i for i in ids if i != ids[37]]
