"""Large bursts on one and on two burst threads, as a user runs them: the same genome and seed
stepped on a daemon with brain.burst_threads=1 and on one with 2 fire the same neurons, burst
for burst, and the stats say how the bursts ran (docs/brain.md, "Large bursts on two threads")."""

import time

from conftest import assert_problem

RULES = 31  # randomizer synapses per neuron and mapping: 10 000 x 31 is over the split bound


def genome():
    """A power area of 4 000 neurons firing every burst into 10 000 neurons that also map onto
    themselves (11 of 31 rules inhibitory), PSP divided by the out-degree, 90 % excitability."""
    bp = {}

    def area(aid, x, y, **genes):
        bp[f"_____10c-{aid}-cx-___bbx-i"] = x
        bp[f"_____10c-{aid}-cx-___bby-i"] = y
        for k, v in genes.items():
            bp[f"_____10c-{aid}-{k}"] = v

    rnd = [["randomizer", [1, 1, 1], 1, False, 1, 1, 1]] * 20
    inh = [["randomizer", [1, 1, 1], -1, False, 1, 1, 1]] * (RULES - 20)
    area("_power", 80, 50, **{"nx-fire_t-f": 1, "nx-refrac-i": 0, "nx-c_fr_c-i": 0,
                              "cx-dstmap-d": {"c_a___": rnd + rnd[:RULES - 20]}})
    area("c_a___", 100, 100, **{"nx-fire_t-f": 2, "nx-excite-f": 0.9, "nx-pstcr_-f": 7,
                                "nx-leak_c-f": 0.3, "nx-mp_acc-b": True, "nx-refrac-i": 1,
                                "cx-dstmap-d": {"c_a___": rnd + inh}})
    return {"genome_id": "threads", "version": "2.1",
            "physiology": {"simulation_timestep": 0.01},
            "neuron_morphologies": {"randomizer": {"type": "functions", "parameters": {}}},
            "blueprint": bp}


def wait_built(d, name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = d.get(f"/api/v1/brains/{name}").json()
        if b["status"] != "building":
            return b
        time.sleep(0.05)
    raise AssertionError(f"{name} still building after {timeout} s")


def run(d, steps):
    r = d.post("/api/v1/brains", json={"name": "big", "genome": genome(), "seed": 7})
    assert r.status_code == 201, r.text
    b = wait_built(d, "big")
    assert b["neuron_count"] == 14000 and b["synapse_count"] == 14000 * RULES
    for _ in range(steps):
        r = d.post("/api/v1/brains/big/step")
        assert r.status_code == 200, r.text
    act = d.get(f"/api/v1/brains/big/activity?bursts={steps}").json()["bursts"]
    for burst in act:
        burst.pop("duration_us", None)
        burst.pop("brain", None)  # ids differ
    fired = d.get(f"/api/v1/brains/big/areas/c_a___/activity?bursts={steps}").json()["bursts"]
    return act, fired, d.get("/api/v1/brains/big/stats").json()


def test_one_and_two_burst_threads_fire_the_same(make_daemon):
    steps = 12
    # 14 000 neurons: under the default split bound (524 288), lowered here
    low = ["--set", "brain.burst_split_neurons=0"]
    one = make_daemon(args=["--set", "brain.burst_threads=1", *low])
    two = make_daemon(args=["--set", "brain.burst_threads=2", *low])
    act1, fired1, st1 = run(one, steps)
    act2, fired2, st2 = run(two, steps)
    assert [b["burst"] for b in act1] == list(range(steps, 0, -1))
    # the power area fires every burst, so every burst after the first propagates 124 000
    # synapses and more: split, on one thread or two
    assert st1["burst_threads"] == 1 and st2["burst_threads"] == 2
    assert st1["split_bursts"] == st2["split_bursts"] >= steps - 1
    assert all(b["areas"]["_power"] == 4000 for b in act1)
    assert sum(b["areas"]["c_a___"] for b in act1) > 1000
    assert act1 == act2
    # the same neurons, by their coordinates
    assert sum(len(b["fired"]) for b in fired1) > 300  # the ledger keeps 4 096 a burst
    assert fired1 == fired2


def test_small_networks_do_not_split_by_default(make_daemon):
    d = make_daemon(args=["--set", "brain.burst_threads=2"])
    _, _, st = run(d, 4)
    assert st["burst_threads"] == 2 and st["split_bursts"] == 0


def test_burst_threads_refused_out_of_range(make_daemon):
    d = make_daemon(start=False, args=["--set", "brain.burst_threads=3"])
    d.expect_clean_exit = False
    try:
        d.start(timeout=5)
    except Exception:
        pass
    else:
        assert_problem(d.get("/api/v1/brains/none"), 404)
        raise AssertionError("the daemon started with brain.burst_threads=3")
    assert "burst_threads" in d.stderr()
