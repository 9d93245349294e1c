"""Brains as a user drives them: the shipped FEAGI genomes load and run through /api/v1/brains,
start/stop/pause/step/frequency, the fire ledger, a restart that brings every brain back in its
state (SQLite and PostgreSQL), the same registry over ZMQ, and refusals with useful problems."""

import json
import os
import time
from pathlib import Path

import pytest

from conftest import assert_problem


def _genome_dir():
    env = os.environ.get("GANGLION_TEST_GENOMES")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for up in here.parents:
        cand = up / "shared" / "data" / "feagi-genomes"
        if cand.is_dir():
            return cand
    return None


GENOMES = _genome_dir()
SHIPPED = ["barebones", "essential", "vision", "example_fp32"]
pytestmark = pytest.mark.skipif(GENOMES is None, reason="the shipped FEAGI genomes are not here")


def brain_args(*extra):
    return ["--set", f"brain.genome_dir={GENOMES}", *extra]


def wait_for(fn, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}: last {last!r}")


def create(d, **body):
    r = d.post("/api/v1/brains", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def brain(d, ref):
    r = d.get(f"/api/v1/brains/{ref}")
    assert r.status_code == 200, r.text
    return r.json()


def blueprint_areas(name):
    g = json.loads((GENOMES / f"{name}_genome.json").read_text())
    bp = g["blueprint"]
    if "cortical_areas" in bp:
        return {a.get("cortical_id", k) for k, a in bp["cortical_areas"].items()}
    return {k.split("-")[1] for k in bp if k.startswith("_____10c-")}


@pytest.fixture
def bd(make_daemon):
    return make_daemon(args=brain_args())


def test_shipped_genomes_load_and_run(bd):
    names = bd.get("/api/v1/brains/genomes").json()["genomes"]
    assert set(SHIPPED) <= set(names)
    for name in SHIPPED:
        b = create(bd, genome_name=name, start=True)
        assert b["name"] == name and b["status"] == "running"
        assert b["area_count"] == len(blueprint_areas(name)) and b["neuron_count"] > 0
        areas = bd.get(f"/api/v1/brains/{b['id']}/areas").json()["areas"]
        assert {a["cortical_id"] for a in areas} == blueprint_areas(name)
    for name in SHIPPED:
        wait_for(lambda: brain(bd, name)["burst_count"] >= 3, what=f"{name} bursts")
    listed = bd.get("/api/v1/brains").json()
    assert listed["total"] == 4 and {b["name"] for b in listed["brains"]} == set(SHIPPED)
    # the genome comes back as it was uploaded, unknown keys included
    g = bd.get("/api/v1/brains/vision/genome").json()
    assert g == json.loads((GENOMES / "vision_genome.json").read_text())


def test_start_stop_pause_step_frequency(bd):
    b = create(bd, genome_name="barebones", name="bb")
    assert b["status"] == "stopped" and b["burst_count"] == 0
    r = bd.post("/api/v1/brains/bb/step")
    assert r.status_code == 200 and r.json()["burst_count"] == 1 and r.json()["status"] == "paused"
    assert bd.post("/api/v1/brains/bb/step").json()["burst_count"] == 2
    r = bd.request("PUT", "/api/v1/brains/bb/frequency", json={"frequency_hz": 50})
    assert r.status_code == 200 and r.json() == {"frequency_hz": 50.0, "period_s": 0.02}
    assert bd.get("/api/v1/brains/bb/frequency").json()["frequency_hz"] == 50.0
    assert bd.post("/api/v1/brains/bb/start").json()["status"] == "running"
    wait_for(lambda: brain(bd, "bb")["burst_count"] >= 12, what="bursts at 50 Hz")
    assert_problem(bd.post("/api/v1/brains/bb/step"), 409)
    assert bd.post("/api/v1/brains/bb/pause").json()["status"] == "paused"
    n = brain(bd, "bb")["burst_count"]
    time.sleep(0.1)  # five periods at 50 Hz: a paused brain runs none of them
    assert brain(bd, "bb")["burst_count"] == n
    assert bd.post("/api/v1/brains/bb/step").json()["burst_count"] == n + 1
    stopped = bd.post("/api/v1/brains/bb/stop").json()
    assert stopped["status"] == "stopped" and stopped["burst_count"] == n + 1
    stats = bd.get("/api/v1/brains/bb/stats").json()
    assert stats["overruns"] == 0 and stats["period_us"] == pytest.approx(20000)
    assert_problem(bd.request("PUT", "/api/v1/brains/bb/frequency", json={"frequency_hz": 0}), 422,
                   field="frequency_hz")


def test_activity_fire_ledger(bd):
    create(bd, genome_name="barebones", name="bb")
    for _ in range(3):
        assert bd.post("/api/v1/brains/bb/step").status_code == 200
    act = bd.get("/api/v1/brains/bb/areas/_power/activity?bursts=2").json()
    assert act["area"] == "_power" and [b["burst"] for b in act["bursts"]] == [3, 2]
    # the power neuron fires three bursts in a row (c_fr_c = 3), then rests one
    assert all(b["count"] == 1 and b["fired"] == [[0, 0, 0]] for b in act["bursts"])
    allareas = bd.get("/api/v1/brains/bb/activity").json()["bursts"][0]
    assert allareas["burst"] == 3 and set(allareas["areas"]) == {"_power", "_death"}
    assert_problem(bd.get("/api/v1/brains/bb/areas/nope__/activity"), 404)
    bd.post("/api/v1/brains/bb/step")
    rest = bd.get("/api/v1/brains/bb/areas/_power/activity").json()["bursts"][0]
    assert rest["burst"] == 4 and rest["count"] == 0 and rest["fired"] == []


def test_area_edit_rebuilds_and_persists(bd):
    create(bd, genome_name="essential", name="ess")
    areas = bd.get("/api/v1/brains/ess/areas").json()["areas"]
    a = next(a for a in areas if a["cortical_group"] == "CUSTOM" or a["cortical_id"].startswith("c"))
    aid = a["cortical_id"]
    r = bd.request("PUT", f"/api/v1/brains/ess/areas/{aid}",
                   json={"neuron_fire_threshold": 2.5, "cortical_dimensions": [2, 3, 1]})
    assert r.status_code == 200, r.text
    assert r.json()["neuron_fire_threshold"] == 2.5 and r.json()["cortical_dimensions"] == [2, 3, 1]
    got = bd.get(f"/api/v1/brains/ess/areas/{aid}").json()
    assert got["neuron_count"] == 6 * got["cortical_neuron_per_vox_count"]
    assert_problem(bd.request("PUT", f"/api/v1/brains/ess/areas/{aid}", json={"bogus": 1}), 422,
                   field="bogus")
    genes = bd.get("/api/v1/brains/ess/genome").json()["blueprint"]
    assert genes[f"_____10c-{aid}-nx-fire_t-f"] == 2.5


def test_bad_genome_is_422_naming_the_gene(bd):
    g = json.loads((GENOMES / "barebones_genome.json").read_text())
    key = "_____10c-_power-cx-dstmap-d"
    g["blueprint"][key] = {"nowhere": [["projector", [1, 1, 1], 1, False]]}
    r = bd.post("/api/v1/brains", json={"name": "bad", "genome": g})
    p = assert_problem(r, 422)
    assert any(e["field"] == key and "nowhere" in e["message"] for e in p["errors"])
    assert bd.get("/api/v1/brains").json()["total"] == 0
    assert_problem(bd.post("/api/v1/brains", json={"genome_name": "nosuch"}), 404)
    assert_problem(bd.post("/api/v1/brains", json={}), 422)
    create(bd, genome_name="barebones", name="one")
    assert_problem(bd.post("/api/v1/brains", json={"genome_name": "barebones", "name": "one"}), 409)


def test_delete(bd):
    b = create(bd, genome_name="barebones", start=True)
    r = bd.request("DELETE", f"/api/v1/brains/{b['id']}")
    assert r.status_code == 204
    assert_problem(bd.get(f"/api/v1/brains/{b['id']}"), 404)
    assert bd.get("/api/v1/brains").json()["brains"] == []


def test_brain_survives_restart(store_daemon, make_daemon, store_kind):
    d = store_daemon
    d.stop()
    d.args = brain_args()
    d.start()
    run = create(d, genome_name="barebones", name="runner", start=True, seed=7)
    idle = create(d, genome_name="essential", name="idle")
    d.request("PUT", "/api/v1/brains/idle/frequency", json={"frequency_hz": 3.5})
    d.post("/api/v1/brains/idle/step")
    d.post("/api/v1/brains/idle/stop")
    wait_for(lambda: brain(d, "runner")["burst_count"] >= 3, what="bursts before the restart")
    d.restart()
    got = wait_for(lambda: (b := brain(d, "runner"))["status"] == "running" and b, what="running")
    assert got["id"] == run["id"] and got["seed"] == 7
    before = got["burst_count"]
    assert before >= 3
    wait_for(lambda: brain(d, "runner")["burst_count"] > before, what="bursts after the restart")
    i = wait_for(lambda: (b := brain(d, "idle"))["status"] != "building" and b, what="idle built")
    assert i["id"] == idle["id"] and i["status"] == "stopped"
    assert i["frequency_hz"] == 3.5 and i["burst_count"] == 1


def test_brains_over_zmq(make_daemon):
    from gzmq import Client, zmq_daemon
    d, rpc, _ = zmq_daemon(make_daemon, args=brain_args())
    c = Client(rpc)
    r = c.call("POST", "/api/v1/brains", body={"genome_name": "barebones", "name": "z"})
    assert r["status"] == 201 and r["body"]["name"] == "z"
    r = c.call("POST", "/api/v1/brains/z/step")
    assert r["status"] == 200 and r["body"]["burst_count"] == 1
    r = c.call("GET", "/v1/burst_engine/burst_counter")
    assert r["status"] == 200 and r["body"] == 1
    c.close()


def test_status_and_burst_events_on_the_bus(make_daemon):
    """brain.<id>.status on every move; brain.<id>.burst at most brain.events_hz a second, so a
    brain bursting at 100 Hz with 5 events a second skips bursts on the bus."""
    import gsse
    d = make_daemon(args=brain_args("--set", "brain.events_hz=5"))
    b = create(d, genome_name="barebones", name="ev")
    d.request("PUT", "/api/v1/brains/ev/frequency", json={"frequency_hz": 100})
    c = gsse.SSEClient(d.url, f"/api/v1/stream?topics=brain.{b['id']}.*")
    c.read_headers()
    assert c.next_event().is_comment  # subscribed from here on
    d.post("/api/v1/brains/ev/start")
    statuses, bursts = [], []
    deadline = time.monotonic() + 10
    while len(bursts) < 3 and time.monotonic() < deadline:
        ev = c.next_event(comments=False)
        if ev is None:
            continue
        data = json.loads(ev.data)
        if "status" in data:
            statuses.append(data["status"])
        elif "overruns" not in data:  # brain.<id>.overrun when a burst ran late (alerts)
            bursts.append(data)
    c.close()
    assert statuses[:1] == ["running"]
    # barebones' power neuron fires three bursts in a row, then rests one (c_fr_c = 3)
    assert len(bursts) == 3 and all(e["areas"]["_power"] in (0, 1) for e in bursts)
    nums = [e["burst"] for e in bursts]
    assert all(b2 - b1 > 1 for b1, b2 in zip(nums, nums[1:])), nums


def test_edited_genome_survives_restart(make_daemon):
    d = make_daemon(args=brain_args())
    create(d, genome_name="barebones", name="ed")
    r = d.request("PUT", "/api/v1/brains/ed/areas/_power", json={"neuron_fire_threshold": 0.25})
    assert r.status_code == 200, r.text
    d.post("/api/v1/brains/ed/step")
    d.restart()
    got = wait_for(lambda: (b := brain(d, "ed"))["status"] != "building" and b, what="rebuilt")
    assert got["status"] == "paused" and got["burst_count"] == 1
    assert d.get("/api/v1/brains/ed/areas/_power").json()["neuron_fire_threshold"] == 0.25


def test_genome_beyond_the_bounds_is_refused_naming_the_area(bd):
    """The build's bounds (voxels per area) refuse a genome before any memory is taken for it."""
    g = json.loads((GENOMES / "barebones_genome.json").read_text())
    g["blueprint"]["_____10c-_power-cx-___bbx-i"] = 60000
    g["blueprint"]["_____10c-_power-cx-___bby-i"] = 60000
    r = bd.post("/api/v1/brains", json={"name": "huge", "genome": g})
    p = assert_problem(r, 422)
    assert "_power" in json.dumps(p)
    assert bd.get("/api/v1/brains").json()["total"] == 0


def test_mapping_put_rebuilds_the_source_area(bd):
    create(bd, genome_name="essential", name="ess")
    before = brain(bd, "ess")
    m = bd.get("/api/v1/brains/ess/mappings").json()["mappings"][0]
    body = {"source": m["source"], "destination": m["destination"], "rules": []}
    r = bd.request("PUT", "/api/v1/brains/ess/mappings", json=body)
    assert r.status_code == 200 and r.json() == body, r.text
    assert brain(bd, "ess")["synapse_count"] < before["synapse_count"]
    body["rules"] = m["rules"]
    assert bd.request("PUT", "/api/v1/brains/ess/mappings", json=body).json() == body
    assert brain(bd, "ess")["synapse_count"] == before["synapse_count"]
    body["rules"] = [["no_such_morphology", [1, 1, 1], 1, False]]
    p = assert_problem(bd.request("PUT", "/api/v1/brains/ess/mappings", json=body), 422)
    assert "no_such_morphology" in json.dumps(p)
    body["destination"] = "zz_none"
    assert_problem(bd.request("PUT", "/api/v1/brains/ess/mappings", json=body), 404)
