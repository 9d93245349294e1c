"""watch incidents and the review workflow as users meet them: the overlapping windows of one
burst grouped into one incident, a later burst into another, listings newest first, one-step
acknowledgement, reviewing a whole incident — against the real daemon on both stores."""

import sqlite3
import time

from conftest import assert_problem
from watch_util import SLOW, burst_lines, make_stream, normal_lines, post_events, wait_settled

# gap 0: only overlapping or adjoining windows join an incident, so a second burst posted a
# moment later is a separate one however soon it comes
NO_GAP = {"GANGLION_WATCH_INCIDENT_GAP_S": "0"}


def two_bursts(d, stream):
    """Two bursts on one stream, 100 normal events apart; returns (first, second) anomaly lists."""
    make_stream(d, stream)
    assert post_events(d, stream, normal_lines(100) + burst_lines(20)).status_code == 202
    first = wait_settled(d, stream, 120)["anomalies"]
    assert first, "the first burst found nothing"
    assert post_events(d, stream, normal_lines(100, 100) + burst_lines(20)).status_code == 202
    both = wait_settled(d, stream, 240)["anomalies"]
    seen = {a["id"] for a in first}
    return first, [a for a in both if a["id"] not in seen]


def test_a_burst_is_one_incident_and_a_later_burst_another(make_daemon, store_kind, request):
    store = request.getfixturevalue("pg_url") if store_kind == "postgres" else None
    d = make_daemon(store=store, env=NO_GAP)
    first, second = two_bursts(d, "inc")
    assert len(first) >= 2, "a 20-line burst over windows of 10 with hop 5 spans several windows"
    ids1 = {a["incident_id"] for a in first}
    assert len(ids1) == 1 and next(iter(ids1)).startswith("inc-")
    inc1 = ids1.pop()
    later = [a for a in second if a["incident_id"] != inc1]
    assert later, f"the second burst joined the first incident: {second}"
    inc2 = later[0]["incident_id"]
    assert all(a["incident_id"] == inc2 for a in later)

    body = d.get("/api/v1/watch/incidents?stream=inc").json()
    assert body["total"] == 2 and [i["id"] for i in body["incidents"]] == [inc2, inc1]
    i1 = body["incidents"][1]
    members1 = [a for a in first + second if a["incident_id"] == inc1]
    assert i1["anomalies"] == len(members1) and i1["status"] == "pending"
    assert i1["first_ms"] == min(a["timestamp_ms"] for a in members1)
    assert i1["last_ms"] == max(a["timestamp_ms"] for a in members1)
    rank = {"medium": 1, "high": 2, "critical": 3}
    assert i1["severity"] == max((a["severity"] for a in members1), key=rank.get)

    one = d.get(f"/api/v1/watch/incidents/{inc1}?limit=1000").json()
    assert one["id"] == inc1 and {a["id"] for a in one["members"]} == {a["id"] for a in members1}
    ts = [a["timestamp_ms"] for a in one["members"]]
    assert ts == sorted(ts, reverse=True) and one["has_more"] is False
    page = d.get(f"/api/v1/watch/incidents/{inc1}?limit=1").json()
    assert len(page["members"]) == 1 and page["has_more"] is (len(members1) > 1)
    assert d.get(f"/api/v1/watch/anomalies?incident_id={inc2}").json()["total"] == len(later)
    assert d.get("/api/v1/watch/incidents?limit=1").json()["incidents"][0]["id"] == inc2
    assert d.get("/api/v1/watch/incidents?stream=other").json()["total"] == 0
    assert_problem(d.get("/api/v1/watch/incidents/inc-nope"), 404)
    assert_problem(d.get("/api/v1/watch/incidents?severity=huge"), 422, field="severity")

    # the grouping is stored: it survives a restart
    d.restart()
    assert d.get(f"/api/v1/watch/incidents/{inc1}").json()["anomalies"] == len(members1)


def test_bursts_within_the_gap_share_an_incident(make_daemon):
    d = make_daemon(env={"GANGLION_WATCH_INCIDENT_GAP_S": "3600"})
    first, second = two_bursts(d, "gap")
    assert {a["incident_id"] for a in first + second} == {first[0]["incident_id"]}
    assert d.get("/api/v1/watch/incidents").json()["total"] == 1


def test_pending_to_acknowledged_in_one_step_and_the_moves(store_daemon):
    d = store_daemon
    make_stream(d, "wf1")
    assert post_events(d, "wf1", normal_lines(100) + burst_lines(20)).status_code == 202
    a = wait_settled(d, "wf1", 120)["anomalies"][0]
    url = f"/api/v1/watch/anomalies/{a['id']}"
    r = d.request("PATCH", url, json={"status": "acknowledged"})
    assert r.status_code == 200, r.text
    x = r.json()
    assert x["status"] == "acknowledged" and x["acknowledged_by"] and x["acknowledged_at"]
    x = d.request("PATCH", url, json={"status": "resolved", "notes": "fixed in 1.2"}).json()
    assert x["status"] == "resolved" and x["notes"] == "fixed in 1.2"
    body = assert_problem(d.request("PATCH", url, json={"status": "acknowledged"}), 409)
    assert body["allowed"] == ["investigating"]
    assert d.request("PATCH", url, json={"status": "investigating"}).status_code == 200
    x = d.request("PATCH", url, json={"status": "dismissed", "add_tags": ["false-positive"]}).json()
    assert x["status"] == "dismissed" and x["tags"] == ["false-positive"]
    x = d.request("PATCH", url, json={"add_tags": ["false-positive", "noisy"]}).json()
    assert x["tags"] == ["false-positive", "noisy"]
    assert d.get("/api/v1/watch/anomalies?status=resolved").json()["total"] == 0


def test_reviewing_an_incident_moves_its_anomalies(store_daemon):
    d = store_daemon
    make_stream(d, "wf2")
    assert post_events(d, "wf2", normal_lines(100) + burst_lines(20)).status_code == 202
    found = wait_settled(d, "wf2", 120)["anomalies"]
    inc = found[0]["incident_id"]
    assert len(found) >= 2
    # one of them is dismissed first: the incident stays pending (its most urgent status)
    r = d.request("PATCH", f"/api/v1/watch/anomalies/{found[0]['id']}", json={"status": "dismissed"})
    assert r.status_code == 200
    assert d.get(f"/api/v1/watch/incidents/{inc}").json()["status"] == "pending"

    r = d.request("PATCH", f"/api/v1/watch/incidents/{inc}",
                  json={"status": "acknowledged", "notes": "on it"})
    assert r.status_code == 200, r.text
    x = r.json()
    assert x["status"] == "acknowledged" and x["notes"] == "on it"
    # dismissed → acknowledged is not a move: that one stays, the others moved
    assert x["review"]["moved"] == len(found) - 1 and x["review"]["refused_total"] == 1
    assert x["review"]["refused"] == [{"id": found[0]["id"], "status": "dismissed"}]
    st = {a["id"]: a["status"] for a in d.get(f"/api/v1/watch/anomalies?incident_id={inc}").json()["anomalies"]}
    assert st[found[0]["id"]] == "dismissed"
    assert all(v == "acknowledged" for k, v in st.items() if k != found[0]["id"])
    assert d.get("/api/v1/watch/incidents?status=acknowledged").json()["total"] == 1

    x = d.request("PATCH", f"/api/v1/watch/incidents/{inc}", json={"status": "resolved"}).json()
    assert x["status"] == "resolved"  # every anomaly is resolved or dismissed: resolved leads
    members = d.get(f"/api/v1/watch/anomalies?incident_id={inc}").json()["anomalies"]
    x = d.request("PATCH", f"/api/v1/watch/incidents/{inc}", json={"notes": "postmortem"}).json()
    assert x["notes"] == "postmortem" and x["review"]["moved"] == 0
    # the notes are the incident's own: its anomalies are not touched
    assert d.get(f"/api/v1/watch/anomalies?incident_id={inc}").json()["anomalies"] == members
    body = assert_problem(d.request("PATCH", f"/api/v1/watch/incidents/{inc}",
                                    json={"status": "acknowledged"}), 409)
    assert body["found"] == {"resolved": len(found) - 1, "dismissed": 1}
    assert_problem(d.request("PATCH", "/api/v1/watch/incidents/inc-nope",
                             json={"status": "resolved"}), 404)
    assert_problem(d.request("PATCH", f"/api/v1/watch/incidents/{inc}", json={}), 422)

    # a new anomaly joining a closed incident (within the default 60 s gap) reopens it
    assert post_events(d, "wf2", normal_lines(60, 100) + burst_lines(20)).status_code == 202
    deadline = time.monotonic() + 30 * SLOW
    while time.monotonic() < deadline:
        cur = d.get(f"/api/v1/watch/incidents/{inc}").json()
        if cur["anomalies"] > len(found):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no new anomaly joined the incident")
    assert cur["status"] == "pending"


def test_anomaly_listing_filters_by_severity_and_time_stored(daemon):
    make_stream(daemon, "sev")
    assert post_events(daemon, "sev", normal_lines(100) + burst_lines(20)).status_code == 202
    allr = wait_settled(daemon, "sev", 120)["anomalies"]
    ts = [a["timestamp_ms"] for a in allr]
    assert ts == sorted(ts, reverse=True)
    for sev, ok in (("medium", {"medium", "high", "critical"}), ("high", {"high", "critical"}),
                    ("critical", {"critical"})):
        got = daemon.get(f"/api/v1/watch/anomalies?severity={sev}&limit=1000").json()
        assert got["total"] == sum(1 for a in allr if a["severity"] in ok)
    first_created = min(a["created_at"] for a in allr)
    since = daemon.get("/api/v1/watch/anomalies?created_since=" + first_created).json()
    assert since["total"] == len(allr)
    assert daemon.get("/api/v1/watch/anomalies?created_since=2999-01-01T00:00:00Z").json()["total"] == 0


def test_anomalies_stored_before_incidents_become_one_incident_each(daemon):
    """Migration 303 on a database that already holds anomalies: their grouping cannot be
    rebuilt, so each becomes an incident of its own and every listing keeps working."""
    make_stream(daemon, "old")
    assert post_events(daemon, "old", normal_lines(100) + burst_lines(20)).status_code == 202
    before = wait_settled(daemon, "old", 120)["anomalies"]
    daemon.stop()
    db = sqlite3.connect(str(daemon.data_dir / "ganglion.db"), timeout=10)
    with db:  # back to schema 302, as a daemon of the previous release left it
        for idx in ("watch_anomalies_incident", "watch_anomalies_severity",
                    "watch_anomalies_created"):
            db.execute(f"DROP INDEX {idx}")
        db.execute("DROP TABLE watch_incidents")
        db.execute("ALTER TABLE watch_anomalies DROP COLUMN incident_id")
        db.execute("DELETE FROM schema_migrations WHERE version = 303")
    db.close()
    daemon.start()
    after = daemon.get("/api/v1/watch/anomalies?stream=old&limit=1000").json()["anomalies"]
    assert {a["id"]: a["incident_id"] for a in after} == {a["id"]: "inc-" + a["id"] for a in before}
    incs = daemon.get("/api/v1/watch/incidents?stream=old&limit=1000").json()
    assert incs["total"] == len(before)
    assert all(i["anomalies"] == 1 and i["status"] == "pending" for i in incs["incidents"])
    one = before[0]
    r = daemon.request("PATCH", f"/api/v1/watch/incidents/inc-{one['id']}",
                       json={"status": "acknowledged"})
    assert r.status_code == 200 and r.json()["review"]["moved"] == 1
