"""Ownership and sharing: the endpoint × role matrix's ownership dimension. For each kind of
owned resource, operator A (team t1) creates one shared with t1 and one of its own; operator B
(no team) neither sees nor changes them (404 on the one, absent from the list), operator C
(team t1) acts on the shared one only, an admin on both, a viewer sees only what its teams
share. On SQLite and PostgreSQL (store_daemon)."""

import json
import os
import subprocess
import time

import pytest

from agents_util import PY
from auth_util import bearer, make_user, tokens
from conftest import bare_http
from test_brain import GENOMES, brain_args

SLEEPER = [PY, "-c", "import time; time.sleep(60)"]


class World:
    """Users of each kind signed in on one daemon, team t1 = {A, C, viewer T}."""

    def __init__(self, d):
        self.d = d
        self.s = bare_http()
        assert d.post("/api/v1/teams", json={"name": "t1"}).status_code == 201
        self.h = {"admin": {}}
        for who, role, team in (("opa", "operator", True), ("opb", "operator", False),
                                ("opc", "operator", True), ("viewt", "viewer", True),
                                ("view", "viewer", False)):
            _, pw = make_user(d, who, role)
            if team:
                r = d.request("PUT", f"/api/v1/teams/t1/members/{who}")
                assert r.status_code == 200, r.text
            self.h[who] = bearer(tokens(d, who, pw)["access_token"])

    def call(self, who, method, path, **kw):
        if who == "admin":
            return self.d.request(method, path, **kw)
        headers = dict(kw.pop("headers", {}), **self.h[who])
        return self.s.request(method, self.d.url + path, headers=headers, timeout=30, **kw)


class Agents:
    kind = "agent"

    def create(self, w, who, team=None, expect=201):
        body = {"name": f"own-{who}-{team or 'private'}", "argv": SLEEPER,
                "allow_duplicate_name": True}
        if team:
            body["team"] = team
        r = w.call(who, "POST", "/api/v1/agents", json=body)
        assert r.status_code == expect, r.text
        return r.json()["id"] if expect == 201 else r

    def path(self, rid):
        return f"/api/v1/agents/{rid}"

    def listed(self, w, who):
        r = w.call(who, "GET", "/api/v1/agents?limit=1000")
        assert r.status_code == 200, r.text
        return {a["id"] for a in r.json()["agents"]}

    def act(self, w, who, rid):
        return w.call(who, "POST", f"/api/v1/agents/{rid}/signal", json={"signal": "CONT"})

    def cleanup(self, w, rid):
        w.call("admin", "POST", f"/api/v1/agents/{rid}/kill")


class Brains:
    kind = "brain"

    def create(self, w, who, team=None, expect=201):
        body = {"name": f"own-{who}-{team or 'private'}", "genome_name": "barebones"}
        if team:
            body["team"] = team
        r = w.call(who, "POST", "/api/v1/brains", json=body)
        assert r.status_code == expect, r.text
        return r.json()["id"] if expect == 201 else r

    def path(self, rid):
        return f"/api/v1/brains/{rid}"

    def listed(self, w, who):
        r = w.call(who, "GET", "/api/v1/brains")
        assert r.status_code == 200, r.text
        return {b["id"] for b in r.json()["brains"]}

    def act(self, w, who, rid):
        return w.call(who, "POST", f"/api/v1/brains/{rid}/step")

    def cleanup(self, w, rid):
        w.call("admin", "DELETE", f"/api/v1/brains/{rid}")


class Tasks:
    kind = "task"

    def create(self, w, who, team=None, expect=201):
        body = {"type": "own", "capability": "nobody-has-it"}
        if team:
            body["team"] = team
        r = w.call(who, "POST", "/api/v1/tasks", json=body)
        assert r.status_code == expect, r.text
        return r.json()["id"] if expect == 201 else r

    def path(self, rid):
        return f"/api/v1/tasks/{rid}"

    def listed(self, w, who):
        r = w.call(who, "GET", "/api/v1/tasks?limit=1000")
        assert r.status_code == 200, r.text
        return {t["id"] for t in r.json()["tasks"]}

    def act(self, w, who, rid):
        r = w.call(who, "POST", f"/api/v1/tasks/{rid}/cancel")
        if r.status_code == 409 and r.json()["type"].endswith("task-finished"):
            r.status_code = 200  # cancelled by an earlier caller: the act was allowed
        return r

    def cleanup(self, w, rid):
        pass


class Streams:
    kind = "stream"

    def create(self, w, who, team=None, expect=201):
        name = f"own-{who}-{team or 'private'}"
        body = {"type": "logs"}
        if team:
            body["team"] = team
        r = w.call(who, "PUT", f"/api/v1/watch/streams/{name}", json=body)
        assert r.status_code == expect, r.text
        return name if expect == 201 else r

    def path(self, rid):
        return f"/api/v1/watch/streams/{rid}"

    def listed(self, w, who):
        r = w.call(who, "GET", "/api/v1/watch/streams")
        assert r.status_code == 200, r.text
        return {s["name"] for s in r.json()["streams"]}

    def act(self, w, who, rid):
        return w.call(who, "PUT", f"/api/v1/watch/streams/{rid}", json={"type": "logs"})

    def cleanup(self, w, rid):
        w.call("admin", "DELETE", f"/api/v1/watch/streams/{rid}")


class AlertNotifiers:
    kind = "notifier"

    @staticmethod
    def body(who, team=None):
        body = {"name": f"own-{who}-{team or 'private'}", "kind": "webhook",
                "url": "http://127.0.0.1:9/hook"}
        if team:
            body["team"] = team
        return body

    def create(self, w, who, team=None, expect=201):
        r = w.call(who, "POST", "/api/v1/alerts/notifiers", json=self.body(who, team))
        assert r.status_code == expect, r.text
        return r.json()["id"] if expect == 201 else r

    def path(self, rid):
        return f"/api/v1/alerts/notifiers/{rid}"

    def listed(self, w, who):
        r = w.call(who, "GET", "/api/v1/alerts/notifiers")
        assert r.status_code == 200, r.text
        return {n["id"] for n in r.json()["notifiers"]}

    def act(self, w, who, rid):
        return w.call(who, "PUT", self.path(rid), json=self.body("edited"))

    def cleanup(self, w, rid):
        w.call("admin", "DELETE", self.path(rid))


class AlertRules:
    """Each rule sends to a private notifier of its creator's."""
    kind = "alert rule"

    def create(self, w, who, team=None, expect=201):
        nid = AlertNotifiers().create(w, who)
        body = {"name": f"own-{who}-{team or 'private'}", "kind": "task", "task_type": "build*",
                "notifiers": [nid]}
        if team:
            body["team"] = team
        r = w.call(who, "POST", "/api/v1/alerts/rules", json=body)
        assert r.status_code == expect, r.text
        return r.json()["id"] if expect == 201 else r

    def path(self, rid):
        return f"/api/v1/alerts/rules/{rid}"

    def listed(self, w, who):
        r = w.call(who, "GET", "/api/v1/alerts/rules")
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()["rules"]}

    def act(self, w, who, rid):
        return w.call(who, "POST", f"{self.path(rid)}/silence", json={"seconds": 60})

    def cleanup(self, w, rid):
        w.call("admin", "DELETE", self.path(rid))


KINDS = [Agents(), Brains(), Tasks(), Streams(), AlertNotifiers(), AlertRules()]


@pytest.fixture
def world(store_daemon):
    if GENOMES:  # the brains need the shipped genomes
        store_daemon.stop()
        store_daemon.args = brain_args()
        store_daemon.start()
    return World(store_daemon)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_ownership_matrix(world, kind):
    if kind.kind == "brain" and not GENOMES:
        pytest.skip("the shipped FEAGI genomes are not here")
    w = world
    shared = kind.create(w, "opa", team="t1")
    private = kind.create(w, "opa")
    try:
        # the owner: sees and acts on both
        for rid in (shared, private):
            assert w.call("opa", "GET", kind.path(rid)).status_code == 200
            assert kind.act(w, "opa", rid).status_code < 300
        assert {shared, private} <= kind.listed(w, "opa")
        # B, no team: neither exists for it — 404 on the one, absent from the list, 404 on acts
        for rid in (shared, private):
            r = w.call("opb", "GET", kind.path(rid))
            assert r.status_code == 404, r.text
            assert kind.act(w, "opb", rid).status_code == 404
        assert not {shared, private} & kind.listed(w, "opb")
        # C, team t1: the shared one only
        assert w.call("opc", "GET", kind.path(shared)).status_code == 200
        assert kind.act(w, "opc", shared).status_code < 300
        assert w.call("opc", "GET", kind.path(private)).status_code == 404
        assert kind.act(w, "opc", private).status_code == 404
        assert kind.listed(w, "opc") & {shared, private} == {shared}
        # the admin: everything
        for rid in (shared, private):
            assert w.call("admin", "GET", kind.path(rid)).status_code == 200
            assert kind.act(w, "admin", rid).status_code < 300
        assert {shared, private} <= kind.listed(w, "admin")
        # viewers: what their teams share, never a change
        assert w.call("viewt", "GET", kind.path(shared)).status_code == 200
        assert w.call("viewt", "GET", kind.path(private)).status_code == 404
        assert kind.listed(w, "viewt") & {shared, private} == {shared}
        assert not {shared, private} & kind.listed(w, "view")
        assert w.call("view", "GET", kind.path(shared)).status_code == 404
        assert kind.act(w, "viewt", shared).status_code == 403
        # the owner and team are shown
        got = w.call("opc", "GET", kind.path(shared)).json()
        assert got["owner"].startswith("user:") and got["team"] == "t1"
        # sharing needs membership: B cannot share with t1
        r = kind.create(w, "opb", team="t1", expect=422)
        assert "not a member of team t1" in r.text
    finally:
        kind.cleanup(w, shared)
        kind.cleanup(w, private)


def test_unowned_agents_are_seen_by_all_changed_by_admins(make_daemon):
    """An agent started from programs.d has no owner (nor has a row from before ownership was
    recorded): every role sees it, only an admin changes it, and the 403 says why."""
    d = make_daemon(start=False)
    pd = d.data_dir / "programs.d"
    pd.mkdir(exist_ok=True)
    (pd / "sys.ini").write_text(f'[program:sys]\nargv = ["{PY}", "-c", "import time; time.sleep(60)"]\n')
    d.start()
    w = World(d)
    deadline = time.monotonic() + 10
    while not (got := [a for a in w.call("admin", "GET", "/api/v1/agents").json()["agents"]
                       if a["name"] == "sys-0" or a["name"] == "sys"]):
        assert time.monotonic() < deadline, "the program's agent did not start"
        time.sleep(0.05)
    aid = got[0]["id"]
    assert got[0]["owner"] is None
    for who in ("opb", "view"):
        assert w.call(who, "GET", f"/api/v1/agents/{aid}").status_code == 200
        assert aid in Agents().listed(w, who)
    r = w.call("opa", "POST", f"/api/v1/agents/{aid}/stop")
    assert r.status_code == 403 and "only an admin" in r.json()["detail"]
    assert w.call("admin", "POST", f"/api/v1/agents/{aid}/stop").status_code == 200


def test_teams_are_managed_by_admins(daemon):
    w = World(daemon)
    r = w.call("admin", "GET", "/api/v1/teams/t1")
    assert r.status_code == 200 and sorted(r.json()["members"]) == ["opa", "opc", "viewt"]
    # operators cannot manage teams, but see their own in /auth/me
    assert w.call("opa", "POST", "/api/v1/teams", json={"name": "t2"}).status_code == 403
    assert w.call("opa", "GET", "/api/v1/auth/me").json()["teams"] == ["t1"]
    assert w.call("opb", "GET", "/api/v1/auth/me").json()["teams"] == []
    assert w.call("admin", "POST", "/api/v1/teams", json={"name": "t1"}).status_code == 409
    assert w.call("admin", "POST", "/api/v1/teams", json={"name": "a b"}).status_code == 422
    assert w.call("admin", "PUT", "/api/v1/teams/t1/members/nobody").status_code == 404
    # a member removed loses the team's resources at its next request
    shared = Tasks().create(w, "opa", team="t1")
    assert w.call("opc", "GET", f"/api/v1/tasks/{shared}").status_code == 200
    r = w.call("admin", "DELETE", "/api/v1/teams/t1/members/opc")
    assert r.status_code == 200 and "opc" not in r.json()["members"]
    assert w.call("opc", "GET", f"/api/v1/tasks/{shared}").status_code == 404
    # a key shared with a team acts with it
    key = w.call("admin", "POST", "/api/v1/keys", json={"name": "ci", "role": "operator", "team": "t1"})
    assert key.status_code == 201 and key.json()["team"] == "t1", key.text
    kh = bearer(key.json()["secret"])
    assert w.s.get(f"{daemon.url}/api/v1/tasks/{shared}", headers=kh, timeout=10).status_code == 200
    bad = w.call("admin", "POST", "/api/v1/keys", json={"name": "x", "role": "operator", "team": "nope"})
    assert bad.status_code == 422 and "no team named nope" in bad.text
    # deleting a team unshares: the owner keeps it
    assert w.call("admin", "DELETE", "/api/v1/teams/t1").status_code == 204
    assert w.call("admin", "GET", "/api/v1/teams/t1").status_code == 404
    assert w.call("viewt", "GET", f"/api/v1/tasks/{shared}").status_code == 404
    assert w.call("opa", "GET", f"/api/v1/tasks/{shared}").status_code == 200
    # the teams survive a restart
    assert w.call("admin", "POST", "/api/v1/teams", json={"name": "t3"}).status_code == 201
    assert w.call("admin", "PUT", "/api/v1/teams/t3/members/opb").status_code == 200
    daemon.restart()
    assert daemon.get("/api/v1/teams/t3").json()["members"] == ["opb"]


def test_team_cli(daemon, tmp_path):
    """`ganglion team`: create, add, show, ls, remove, delete with the daemon's admin token."""
    make_user(daemon, "cli-op", "operator")

    def team(*args):
        env = daemon.cli_env({k: v for k, v in os.environ.items()
                              if k not in ("GANGLION_URL", "GANGLION_TOKEN")})
        env["NO_COLOR"] = "1"
        return subprocess.run([daemon.bin, "--url", daemon.url, "team", *args], capture_output=True,
                              text=True, timeout=30, env=env)

    r = team("create", "ops")
    assert r.returncode == 0 and "created team ops" in r.stdout, r.stderr
    assert team("add", "ops", "cli-op").returncode == 0
    r = team("show", "ops")
    assert r.returncode == 0 and r.stdout.strip() == "ops: cli-op"
    r = team("ls")
    assert r.returncode == 0 and "ops" in r.stdout and "cli-op" in r.stdout
    r = team("add", "ops", "nobody")
    assert r.returncode == 1 and "no user named nobody" in r.stderr
    assert team("remove", "ops", "cli-op").returncode == 0
    assert daemon.get("/api/v1/teams/ops").json()["members"] == []
    assert team("delete", "ops").returncode == 0
    r = team("show", "ops")
    assert r.returncode == 1 and "404" in r.stderr
    assert team("create").returncode == 2


def test_guard_rules_and_keys_record_their_owner(store_daemon):
    """Guard rules and keys are an admin's to change (guard_rules:*, keys:*); they record who
    made them and the team they name, across a restart."""
    d = store_daemon
    assert d.post("/api/v1/teams", json={"name": "sec"}).status_code == 201
    r = d.post("/api/v1/guard/rules", json={"name": "owned", "weight": 5, "team": "sec",
                                             "match": {"words": ["rm -rf"]}})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    me = d.get("/api/v1/auth/me").json()["principal"]
    assert r.json()["owner"] == me and r.json()["team"] == "sec"
    k = d.post("/api/v1/keys", json={"name": "k", "role": "viewer", "team": "sec"}).json()
    assert k["owner"] == me and k["team"] == "sec"
    d.restart()
    got = d.get(f"/api/v1/guard/rules/{rid}").json()
    assert got["owner"] == me and got["team"] == "sec"
    assert d.get(f"/api/v1/keys/{k['id']}").json()["team"] == "sec"


def test_ingestion_into_streams_follows_visibility(daemon):
    """Events go into one's own, one's teams' and unowned streams; another's private stream is
    not there (404), and a stream made by ingestion is the ingesting principal's."""
    w = World(daemon)
    s = Streams()
    private = s.create(w, "opa")
    shared = s.create(w, "opa", team="t1")
    ev = {"message": "hello", "level": "info"}
    assert w.call("opb", "POST", f"/api/v1/watch/events?stream={private}", json=ev).status_code == 404
    assert w.call("opc", "POST", f"/api/v1/watch/events?stream={shared}", json=ev).status_code == 202
    assert w.call("admin", "POST", "/api/v1/watch/events?stream=sys-made", json=ev).status_code == 202
    r = w.call("opb", "POST", "/api/v1/watch/events?stream=opb-made", json=ev)
    assert r.status_code == 202, r.text
    got = w.call("opb", "GET", "/api/v1/watch/streams/opb-made").json()
    assert got["owner"] == "user:opb" and got["team"] is None
    assert w.call("opa", "GET", "/api/v1/watch/streams/opb-made").status_code == 404


def test_alert_rules_keep_their_owners_notifiers_and_history(store_daemon):
    """A teammate edits a shared rule without seeing its owner's private notifier; a rule may
    name only notifiers its author sees; the outbox and history show a notification to those
    who see its rule (or, for a notifier's test, its notifier); a retry is a change."""
    w = World(store_daemon)
    mine = AlertNotifiers().create(w, "opa")
    body = {"name": "r", "kind": "task", "task_type": "build*", "notifiers": [mine], "team": "t1"}
    r = w.call("opa", "POST", "/api/v1/alerts/rules", json=body)
    assert r.status_code == 201, r.text
    rule = r.json()["id"]
    # C may change the shared rule and keep A's notifier, which C itself cannot see or name
    del body["team"]
    r = w.call("opc", "PUT", f"/api/v1/alerts/rules/{rule}", json=body)
    assert r.status_code == 200 and r.json()["owner"] == "user:opa" and r.json()["team"] == "t1", r.text
    assert w.call("opc", "GET", f"/api/v1/alerts/notifiers/{mine}").status_code == 404
    r = w.call("opc", "POST", "/api/v1/alerts/rules", json=dict(body, name="c"))
    assert r.status_code == 422 and f"no notifier with id {mine}" in r.text
    r = w.call("opc", "PUT", f"/api/v1/alerts/rules/{rule}", json=dict(body, team="t1"))
    assert r.status_code == 200, r.text  # naming the team it has is no change
    # B cannot remove A's notifier, nor learn which rule uses it
    assert w.call("opb", "DELETE", f"/api/v1/alerts/notifiers/{mine}").status_code == 404
    r = w.call("admin", "DELETE", f"/api/v1/alerts/notifiers/{mine}")
    assert r.status_code == 409 and rule in r.text
    # a test notification: in A's, C's and the admin's outbox, not B's or a teamless viewer's
    r = w.call("opc", "POST", f"/api/v1/alerts/rules/{rule}/test")
    assert r.status_code == 202, r.text
    assert w.call("opb", "POST", f"/api/v1/alerts/rules/{rule}/test").status_code == 404
    assert w.call("viewt", "POST", f"/api/v1/alerts/rules/{rule}/test").status_code == 403

    def rules_in(who, what):
        r = w.call(who, "GET", f"/api/v1/alerts/{what}?limit=1000")
        assert r.status_code == 200, r.text
        return [x for x in r.json()[what] if x["rule_id"] == rule]

    for who in ("opa", "opc", "viewt", "admin"):
        assert rules_in(who, "history"), who
        assert rules_in(who, "outbox"), who
    for who in ("opb", "view"):
        assert not rules_in(who, "history") and not rules_in(who, "outbox"), who
    row = rules_in("opa", "outbox")[0]["id"]
    assert w.call("opb", "POST", f"/api/v1/alerts/outbox/{row}/retry").status_code == 404
    r = w.call("viewt", "POST", f"/api/v1/alerts/outbox/{row}/retry")
    assert r.status_code == 403, r.text
    r = w.call("opc", "POST", f"/api/v1/alerts/outbox/{row}/retry")
    assert r.status_code == 409 and r.json()["type"].endswith("not-dead"), r.text
    # a notifier's own test notification belongs to the notifier
    r = w.call("opa", "POST", f"/api/v1/alerts/notifiers/{mine}/test")
    assert r.status_code == 202, r.text
    tests_of = lambda who: [x for x in w.call(who, "GET", "/api/v1/alerts/history").json()["history"]
                            if x["notifier_id"] == mine and x["rule_id"] == ""]
    assert tests_of("opa") and tests_of("admin") and not tests_of("opc")
    # the team named at creation must exist, even for an admin, and is fixed afterwards
    r = w.call("admin", "POST", "/api/v1/alerts/notifiers", json=AlertNotifiers.body("x", "nope"))
    assert r.status_code == 422 and "no team named nope" in r.text
    r = w.call("admin", "PUT", f"/api/v1/alerts/rules/{rule}", json=dict(body, team="t2"))
    assert r.status_code == 422 and "fixed at creation" in r.text
    # the owner and team survive a restart
    store_daemon.restart()
    got = store_daemon.get(f"/api/v1/alerts/rules/{rule}").json()
    assert got["owner"] == "user:opa" and got["team"] == "t1"


def test_anomalies_and_incidents_follow_their_stream(store_daemon):
    """Anomalies and incidents are their stream's: listed, read, exported and reviewed by whom
    may see (change) the stream; for others they are not there."""
    from watch_util import SMALL, burst_lines, normal_lines, ndjson, wait_settled
    w = World(store_daemon)
    body = {"type": "logs", "settings": SMALL, "team": "t1"}
    assert w.call("opa", "PUT", "/api/v1/watch/streams/own-anom", json=body).status_code == 201
    r = w.call("opa", "POST", "/api/v1/watch/events?stream=own-anom",
               data=ndjson(normal_lines(100) + burst_lines(20)),
               headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text
    anomalies = wait_settled(store_daemon, "own-anom", 120)["anomalies"]
    assert anomalies, "the burst raised no anomaly"
    aid, inc = anomalies[0]["id"], anomalies[0]["incident_id"]

    def listed(who, what):
        r = w.call(who, "GET", f"/api/v1/watch/{what}?limit=1000")
        assert r.status_code == 200, r.text
        return r.json()

    for who in ("opa", "opc", "viewt", "admin"):
        got = listed(who, "anomalies")
        assert aid in {a["id"] for a in got["anomalies"]}, who
        assert inc in {i["id"] for i in listed(who, "incidents")["incidents"]}, who
        assert w.call(who, "GET", f"/api/v1/watch/anomalies/{aid}").status_code == 200
        assert w.call(who, "GET", f"/api/v1/watch/anomalies/{aid}/export").status_code == 200
        assert w.call(who, "GET", f"/api/v1/watch/incidents/{inc}").status_code == 200
    for who in ("opb", "view"):
        got = listed(who, "anomalies")
        assert got["total"] == 0 and not got["anomalies"], who
        assert listed(who, "incidents")["total"] == 0, who
        for path in (f"anomalies/{aid}", f"anomalies/{aid}/export", f"incidents/{inc}"):
            r = w.call(who, "GET", f"/api/v1/watch/{path}")
            assert r.status_code == 404, (who, path, r.text)
    # reviewing is a change: B is told nothing, the teamless viewer and T cannot, C can
    assert w.call("opb", "PATCH", f"/api/v1/watch/anomalies/{aid}",
                  json={"status": "acknowledged"}).status_code == 404
    r = w.call("viewt", "PATCH", f"/api/v1/watch/anomalies/{aid}", json={"notes": "x"})
    assert r.status_code == 403
    assert w.call("opb", "PATCH", f"/api/v1/watch/incidents/{inc}",
                  json={"notes": "x"}).status_code == 404
    r = w.call("opc", "PATCH", f"/api/v1/watch/anomalies/{aid}", json={"status": "acknowledged"})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged", r.text
    r = w.call("opc", "PATCH", f"/api/v1/watch/incidents/{inc}", json={"notes": "seen"})
    assert r.status_code == 200, r.text


def test_agent_stats_count_what_the_caller_sees(daemon):
    w = World(daemon)
    a = Agents()
    ids = [a.create(w, "opa"), a.create(w, "opa", team="t1")]
    try:
        def stats(who):
            r = w.call(who, "GET", "/api/v1/agents/stats")
            assert r.status_code == 200, r.text
            return r.json()

        assert stats("admin")["agents"] >= 2
        assert stats("opa")["agents"] == 2 and stats("opa")["active_agents"] == 2
        assert stats("opc")["agents"] == 1 and sum(stats("opc")["by_status"].values()) == 1
        assert stats("opb")["agents"] == 0 and stats("opb")["active_agents"] == 0
        assert sum(stats("view")["by_status"].values()) == 0
    finally:
        for rid in ids:
            a.cleanup(w, rid)


def test_a_team_that_does_not_exist_is_refused_even_for_admins(daemon):
    w = World(daemon)
    for path, body in (("/api/v1/tasks", {"type": "own", "capability": "x"}),
                       ("/api/v1/alerts/notifiers", AlertNotifiers.body("admin")),
                       ("/api/v1/guard/rules", {"name": "g", "weight": 1,
                                                "match": {"words": ["x"]}})):
        r = w.call("admin", "POST", path, json=dict(body, team="no-such-team"))
        assert r.status_code == 422 and "no team named no-such-team" in r.text, (path, r.text)
    r = w.call("admin", "PUT", "/api/v1/watch/streams/s-none", json={"type": "logs", "team": "nope"})
    assert r.status_code == 422, r.text


def _sse_until_marker(w, who, topics, publish):
    """The topics an SSE subscriber `who` receives of what publish() sends, up to a marker."""
    from gsse import SSEClient
    with SSEClient(w.d.url, f"/api/v1/stream?topics={topics},mark.*", headers=w.h[who]) as c:
        assert c.read_headers() == 200
        _wait_subscribers(w.d)
        publish()
        w.d.publish("mark.end", {})
        got = []
        while True:
            ev = c.next_event(timeout=10, comments=False)
            if ev.event == "mark.end":
                return got
            got.append((ev.event, json.loads(ev.data)))


def _wait_subscribers(d, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fams = d.metrics()
        if sum(s.value for s in fams["ganglion_bus_subscribers"].samples) >= 1:
            return
        time.sleep(0.05)
    raise AssertionError("the subscriber never showed up in ganglion_bus_subscribers")


def test_event_streams_carry_only_what_the_reader_may_see(daemon):
    """SSE and WebSocket subscriptions skip events of resources the reader may not see: another's
    tasks, agents and streams' anomalies; unowned topics reach everyone; admins see it all."""
    import asyncio
    from gws import connect, recv_json, run, until
    w = World(daemon)
    private, shared = Tasks().create(w, "opa"), Tasks().create(w, "opa", team="t1")
    s = Streams()
    stream = s.create(w, "opa")

    def publish():
        w.d.publish(f"task.{private}.updated", {"id": private})
        w.d.publish(f"task.{shared}.updated", {"id": shared})
        w.d.publish("anomaly.created", {"id": "a1", "stream": stream, "severity": "high"})
        w.d.publish("task.no-such-task.updated", {"id": "gone"})
        w.d.publish("free.news", {"n": 1})

    topics = "task.*,anomaly.*,free.*"
    seen = {who: [t for t, _ in _sse_until_marker(w, who, topics, publish)]
            for who in ("opa", "opb", "opc", "admin")}
    assert seen["opa"] == [f"task.{private}.updated", f"task.{shared}.updated",
                           "anomaly.created", "free.news"], seen
    assert seen["opb"] == ["free.news"], seen
    assert seen["opc"] == [f"task.{shared}.updated", "free.news"], seen
    assert len(seen["admin"]) == 5, seen

    async def over_ws(who):
        token = w.h[who]["Authorization"].split(" ", 1)[1]
        async with connect(daemon, token=token) as ws:
            await ws.send(json.dumps({"type": "subscribe", "topics": topics.split(",") + ["mark.*"]}))
            m = await recv_json(ws)
            assert m["type"] == "subscribed", m
            await asyncio.get_running_loop().run_in_executor(None, publish)
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: w.d.publish("mark.end", {}))
            got = []
            await until(ws, lambda m: m.get("topic") == "mark.end" or got.append(m.get("topic")))
            return got

    assert run(over_ws("opb")) == ["free.news"]
    assert run(over_ws("opc")) == [f"task.{shared}.updated", "free.news"]


def test_names_still_on_resources_are_not_given_out_again(store_daemon):
    """A deleted team's or user's name stays on what it shared or owned; a new team or user of
    that name would inherit it, so the name is refused (409) until nothing names it."""
    w = World(store_daemon)
    d = store_daemon
    shared = Tasks().create(w, "opa", team="t1")
    stream = Streams().create(w, "opb")
    assert w.call("admin", "DELETE", "/api/v1/teams/t1").status_code == 204
    r = w.call("admin", "POST", "/api/v1/teams", json={"name": "t1"})
    assert r.status_code == 409 and r.json()["type"].endswith("team-name-in-use"), r.text
    assert "deleted team t1" in r.json()["detail"]
    assert w.call("opa", "GET", f"/api/v1/tasks/{shared}").status_code == 200
    assert w.call("admin", "POST", "/api/v1/teams", json={"name": "t1-new"}).status_code == 201

    users = {u["username"]: u["id"] for u in d.get("/api/v1/users").json()["users"]}
    assert w.call("admin", "DELETE", f"/api/v1/users/{users['opb']}").status_code == 204
    body = {"username": "opb", "password": "opb-second-passphrase-7", "role": "operator"}
    r = w.call("admin", "POST", "/api/v1/users", json=body)
    assert r.status_code == 409 and r.json()["type"].endswith("username-in-use"), r.text
    assert "stream" in r.json()["detail"]
    # once what it owned is gone, the name is free again; a user who owned nothing is reusable
    assert w.call("admin", "DELETE", f"/api/v1/watch/streams/{stream}").status_code == 204
    assert w.call("admin", "POST", "/api/v1/users", json=body).status_code == 201
    assert w.call("admin", "DELETE", f"/api/v1/users/{users['view']}").status_code == 204
    make_user(d, "view", "viewer")


def test_an_operators_alert_rule_is_told_only_of_what_it_may_see(daemon):
    """An operator's anomaly rule over every stream fires for its own and its teams' streams,
    not for another's private stream; an admin's rule fires for all."""
    w = World(daemon)
    s = Streams()
    mine, theirs = s.create(w, "opa"), s.create(w, "opb")
    rules = {}
    for who in ("opa", "admin"):
        nid = AlertNotifiers().create(w, who)
        r = w.call(who, "POST", "/api/v1/alerts/rules",
                   json={"name": f"all-{who}", "kind": "anomaly", "stream": "own-*",
                         "min_severity": "low", "notifiers": [nid]})
        assert r.status_code == 201, r.text
        rules[who] = r.json()["id"]
    daemon.publish("anomaly.created", {"id": "x1", "stream": theirs, "severity": "high"})
    daemon.publish("anomaly.created", {"id": "x2", "stream": mine, "severity": "high"})

    def keys_of(rule):
        rows = daemon.get(f"/api/v1/alerts/history?rule={rule}").json()["history"]
        return {r["group_key"] for r in rows}

    deadline = time.monotonic() + 10
    while keys_of(rules["admin"]) != {mine, theirs} or mine not in keys_of(rules["opa"]):
        assert time.monotonic() < deadline, (keys_of(rules["admin"]), keys_of(rules["opa"]))
        time.sleep(0.05)
    assert keys_of(rules["opa"]) == {mine}


def test_watch_stats_list_only_visible_streams(store_daemon):
    w = World(store_daemon)
    s = Streams()
    mine, shared = s.create(w, "opa"), s.create(w, "opa", team="t1")

    def names(who):
        r = w.call(who, "GET", "/api/v1/watch/stats")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["streams_total"] == len(body["streams"])
        return {x["name"] for x in body["streams"]}

    assert {mine, shared} <= names("opa") and {mine, shared} <= names("admin")
    assert names("opc") & {mine, shared} == {shared}
    assert not names("opb") & {mine, shared}
