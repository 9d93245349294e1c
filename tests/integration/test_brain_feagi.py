"""The FEAGI compatibility routes under /v1 pin Python FEAGI's response shapes: bare numbers for
the burst engine, sorted id lists, id→name maps, area properties by FEAGI's names, the health
check's keys, connector registration, and the default brain created by a genome upload."""

import json

import pytest

from conftest import assert_problem, bare_http
from test_brain import GENOMES, brain_args, wait_for

pytestmark = pytest.mark.skipif(GENOMES is None, reason="the shipped FEAGI genomes are not here")


@pytest.fixture
def fd(make_daemon):
    d = make_daemon(args=brain_args())
    r = d.post("/v1/genome/upload/essential")
    assert r.status_code == 200 and r.json() == {"success": True}, r.text
    return d


def test_upload_creates_the_default_brain_and_runs_it(make_daemon):
    d = make_daemon(args=brain_args())
    h = d.get("/v1/system/health_check").json()
    assert h["genome_availability"] is False and h["burst_engine"] is False
    assert_problem(d.get("/v1/cortical_area/cortical_area_id_list"), 404)
    g = json.loads((GENOMES / "barebones_genome.json").read_text())
    r = d.post("/v1/genome/upload/string", json={"genome": json.dumps(g)})
    assert r.status_code == 200, r.text
    assert d.get("/api/v1/brains").json()["total"] == 1
    wait_for(lambda: d.get("/v1/burst_engine/burst_counter").json() > 0, what="bursts")
    assert d.get("/v1/genome/file_name").json() == g["genome_title"]
    assert d.get("/v1/genome/download").json() == g
    # a file upload replaces the default brain's genome (multipart, as FEAGI's clients send it)
    ess = (GENOMES / "essential_genome.json").read_bytes()
    r = d.post("/v1/genome/upload/file", files={"file": ("essential_genome.json", ess)})
    assert r.status_code == 200, r.text
    assert d.get("/api/v1/brains").json()["brains"][0]["area_count"] > 2


def test_burst_engine_shapes(fd):
    c = fd.get("/v1/burst_engine/burst_counter")
    assert c.headers["Content-Type"].startswith("application/json")
    assert isinstance(c.json(), int) and not isinstance(c.json(), bool)
    p = fd.get("/v1/burst_engine/stimulation_period").json()
    assert isinstance(p, float) and p == pytest.approx(1 / 15)
    r = fd.post("/v1/burst_engine/stimulation_period", json={"burst_duration": 0.05})
    assert r.status_code == 200 and r.json() == pytest.approx(0.05)
    # feagi-core's name for the same field
    r = fd.post("/v1/burst_engine/stimulation_period", json={"simulation_timestep": 0.04})
    assert r.json() == pytest.approx(0.04)
    assert fd.get("/v1/burst_engine/stimulation_period").json() == pytest.approx(0.04)
    assert_problem(fd.post("/v1/burst_engine/stimulation_period", json={"burst_duration": -1}), 422)


def test_cortical_area_shapes(fd):
    ids = fd.get("/v1/cortical_area/cortical_area_id_list").json()
    assert isinstance(ids, list) and ids == sorted(ids) and "_power" in ids
    names = fd.get("/v1/cortical_area/cortical_area_name_list").json()
    assert isinstance(names, list) and len(names) == len(ids)
    m = fd.get("/v1/cortical_area/cortical_id_name_mapping").json()
    assert set(m) == set(ids) and all(isinstance(v, str) for v in m.values())
    ipu, opu = fd.get("/v1/cortical_area/ipu").json(), fd.get("/v1/cortical_area/opu").json()
    assert ipu and opu and all(i.startswith("i") for i in ipu) and all(o.startswith("o") for o in opu)
    types = fd.get("/v1/cortical_area/cortical_types").json()
    assert set(types["IPU"]["cortical_ids"]) == set(ipu)
    a = fd.post("/v1/cortical_area/cortical_area_properties", json={"cortical_id": ipu[0]}).json()
    for k in ("cortical_id", "cortical_name", "cortical_dimensions", "coordinates_3d",
              "cortical_group", "cortical_type", "neuron_count", "visible",
              "neuron_fire_threshold"):
        assert k in a, k
    assert len(a["cortical_dimensions"]) == 3 and a["cortical_group"] == "IPU"
    # add, change, delete an area
    r = fd.post("/v1/cortical_area/cortical_area",
                json={"cortical_id": "c_test", "cortical_name": "test area",
                      "cortical_dimensions": [4, 2, 1]})
    assert r.status_code == 200 and r.json()["neuron_count"] == 8, r.text
    r = fd.request("PUT", "/v1/cortical_area/cortical_area",
                   json={"cortical_id": "c_test", "neuron_fire_threshold": 3.0})
    assert r.json()["neuron_fire_threshold"] == 3.0
    assert "c_test" in fd.get("/v1/cortical_area/cortical_area_id_list").json()
    r = fd.request("DELETE", "/v1/cortical_area/cortical_area?cortical_id=c_test")
    assert r.status_code == 200, r.text
    assert "c_test" not in fd.get("/v1/cortical_area/cortical_area_id_list").json()
    summ = fd.get("/v1/connectome/cortical_areas/list/summary").json()
    assert {s["cortical_id"] for s in summ} == set(ids)
    dims = fd.get("/v1/connectome/properties/dimensions").json()
    assert set(dims) == set(ids) and all(len(v) == 3 for v in dims.values())


def test_morphology_mapping_region_shapes(fd):
    morphs = fd.get("/v1/morphology/morphology_list").json()
    assert isinstance(morphs, list) and "projector" in morphs
    p = fd.post("/v1/morphology/morphology_properties", json={"morphology_name": "projector"}).json()
    assert p["morphology_name"] == "projector" and "type" in p
    mappings = fd.get("/api/v1/brains/essential/mappings").json()["mappings"]
    src, dst = mappings[0]["source"], mappings[0]["destination"]
    eff = fd.post("/v1/cortical_mapping/efferents", json={"cortical_area_id": src}).json()
    assert dst in eff
    aff = fd.post("/v1/cortical_mapping/afferents", json={"cortical_area_id": dst}).json()
    assert src in aff
    rules = fd.post("/v1/cortical_mapping/mapping_properties",
                    json={"src_cortical_area": src, "dst_cortical_area": dst}).json()
    assert isinstance(rules, list) and rules == mappings[0]["rules"]
    assert isinstance(fd.get("/v1/region/regions").json(), dict)
    r = fd.post("/v1/region/region", json={"region_id": "r1", "title": "one", "areas": []})
    assert r.status_code == 200
    assert fd.get("/v1/region/regions").json()["r1"]["title"] == "one"


def test_health_check_and_agents(fd):
    h = wait_for(lambda: (x := fd.get("/v1/system/health_check").json())["burst_engine"] and x,
                 what="running")
    for k in ("burst_engine", "connected_agents", "genome_availability", "brain_readiness",
              "cortical_area_count", "neuron_count", "synapse_count", "simulation_timestep"):
        assert k in h, k
    assert h["genome_availability"] is True and h["cortical_area_count"] > 0
    # the Python connector posts JSON without a Content-Type
    body = {"agent_type": "embodiment", "agent_id": "robot1", "agent_ip": "127.0.0.1",
            "agent_data_port": 40001, "capabilities": {}}
    r = fd.post("/v1/agent/register", data=json.dumps(body))
    assert r.status_code == 200, r.text
    assert r.json()["agent_id"] == "robot1" and "agent_router_address" in r.json()
    assert fd.get("/v1/agent/list").json() == ["robot1"]
    assert fd.get("/v1/system/health_check").json()["connected_agents"] == 1
    assert fd.request("DELETE", "/v1/agent/deregister?agent_id=robot1").status_code == 200
    assert fd.get("/v1/agent/list").json() == []


def test_feagi_routes_need_a_token_unless_opened_on_loopback(make_daemon):
    d = make_daemon(args=brain_args())
    assert bare_http().get(d.url + "/v1/burst_engine/burst_counter").status_code == 401
    o = make_daemon(args=brain_args("--set", "brain.feagi_loopback_open=1"))
    r = bare_http().get(o.url + "/v1/burst_engine/burst_counter")
    assert r.status_code == 200 and r.json() == 0
    # the native endpoints are not opened
    assert bare_http().get(o.url + "/api/v1/brains").status_code == 401


def test_mapping_edit_rebuilds_in_place(fd):
    """Removing one mapping takes its synapses away; the brain keeps running and counting."""
    b = wait_for(lambda: (x := fd.get("/api/v1/brains/essential").json())["burst_count"] >= 2 and x,
                 what="bursts")
    assert b["synapse_count"] > 0
    m = next(m for m in fd.get("/api/v1/brains/essential/mappings").json()["mappings"])
    r = fd.request("PUT", "/v1/cortical_mapping/mapping_properties",
                   json={"src_cortical_area": m["source"], "dst_cortical_area": m["destination"],
                         "mapping_string": []})
    assert r.status_code == 200, r.text
    after = fd.get("/api/v1/brains/essential").json()
    assert after["status"] == "running" and after["burst_count"] >= b["burst_count"]
    assert after["synapse_count"] < b["synapse_count"]
    eff = fd.post("/v1/cortical_mapping/efferents", json={"cortical_area_id": m["source"]}).json()
    assert m["destination"] not in eff
    # and back: the same rules give the same synapses
    r = fd.request("PUT", "/v1/cortical_mapping/mapping_properties",
                   json={"src_cortical_area": m["source"], "dst_cortical_area": m["destination"],
                         "mapping_string": m["rules"]})
    assert r.status_code == 200, r.text
    assert fd.get("/api/v1/brains/essential").json()["synapse_count"] == b["synapse_count"]


def test_area_delete_and_add_on_a_running_brain_match_a_fresh_build(fd):
    """Deleting and adding an area grow only what changed while the brain keeps bursting; the
    result has the same neurons and synapses as a brain built from the edited genome."""
    b = wait_for(lambda: (x := fd.get("/api/v1/brains/essential").json())["burst_count"] >= 2 and x,
                 what="bursts")
    maps = fd.get("/api/v1/brains/essential/mappings").json()["mappings"]
    victim = next(m["destination"] for m in maps if m["destination"] != m["source"])
    r = fd.request("DELETE", "/v1/cortical_area/cortical_area", json={"cortical_id": victim})
    assert r.status_code == 200, r.text
    after = fd.get("/api/v1/brains/essential").json()
    assert after["status"] == "running" and after["burst_count"] >= b["burst_count"]
    assert after["area_count"] == b["area_count"] - 1
    assert after["neuron_count"] < b["neuron_count"]
    assert all(victim not in (m["source"], m["destination"])
               for m in fd.get("/api/v1/brains/essential/mappings").json()["mappings"])
    r = fd.post("/v1/cortical_area/cortical_area",
                json={"cortical_id": "c_new_", "cortical_name": "new",
                      "cortical_dimensions": [3, 2, 1]})
    assert r.status_code == 200, r.text
    edited = fd.get("/api/v1/brains/essential").json()
    assert edited["neuron_count"] == after["neuron_count"] + 6
    wait_for(lambda: fd.get("/api/v1/brains/essential").json()["burst_count"]
             > edited["burst_count"], what="bursts after the edits")
    genome = fd.get("/v1/genome/download").json()
    r = fd.post("/api/v1/brains", json={"name": "fresh", "genome": genome, "seed": 0})
    assert r.status_code == 201, r.text
    fresh = wait_for(lambda: (x := fd.get("/api/v1/brains/fresh").json())["status"] != "building"
                     and x, what="the fresh build")
    for k in ("area_count", "neuron_count", "synapse_count"):
        assert fresh[k] == edited[k], k
    # the log says what each edit redid: the delete grew nothing, the add grew only its own area
    edits = [json.loads(line) for line in fd.stderr().splitlines()
             if '"brain: edit applied"' in line]
    assert [e["synapses_grown"] for e in edits] == [0, 0], edits
