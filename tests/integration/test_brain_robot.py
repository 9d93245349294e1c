"""Robot I/O over ZMQ in feagi-core's protocol (docs/brain.md "Robot I/O"): the example embodiment
and raw pyzmq clients against the real daemon — registration and its refusals, heartbeats,
deregistration, silent agents dropped, malformed and oversize messages counted, never fatal."""

import importlib.util
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "embodiment.py"
SANITIZED = os.environ.get("GANGLION_SANITIZED") == "1"
WAIT_MS = 15000 if SANITIZED else 5000

_spec = importlib.util.spec_from_file_location("embodiment", EXAMPLE)
emb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(emb)

TOKEN = "ab" * 32


def robot_daemon(make_daemon, *sets):
    """A daemon with the robot sockets on free ports; returns (daemon, router, sensory, motor)."""
    r, s, m = free_port(), free_port(), free_port()
    args = ["--zmq-listen", "off", "--zmq-pub", "off",
            "--set", f"brain.robot_router=127.0.0.1:{r}",
            "--set", f"brain.robot_sensory=127.0.0.1:{s}",
            "--set", f"brain.robot_motor=127.0.0.1:{m}"]
    for kv in sets:
        args += ["--set", kv]
    d = make_daemon(args=args)
    return d, f"tcp://127.0.0.1:{r}", f"tcp://127.0.0.1:{s}", f"tcp://127.0.0.1:{m}"


def metric(d, name, **labels):
    fam = d.metrics().get(name)
    samples = fam.find(**labels) if fam else []
    return samples[0].value if samples else None


def wait_metric(d, name, want, **labels):
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        v = metric(d, name, **labels)
        if v == want or time.monotonic() > deadline:
            assert v == want, f"{name}{labels} = {v}, want {want}"
            return
        time.sleep(0.05)


class Client:
    """A raw robot: DEALER for commands, PUSH for sensory frames."""

    def __init__(self, ctx, router, sensory=None):
        self.cmd = ctx.socket(zmq.DEALER)
        self.cmd.setsockopt(zmq.LINGER, 0)
        self.cmd.connect(router)
        self.push = None
        if sensory:
            self.push = ctx.socket(zmq.PUSH)
            self.push.setsockopt(zmq.LINGER, 0)
            self.push.connect(sensory)
        self.agent_id = bytes(8)

    def send_raw(self, payload):
        self.cmd.send_multipart([b"", payload])

    def recv(self, timeout_ms=WAIT_MS):
        if not self.cmd.poll(timeout_ms):
            return None
        _, _, structs = emb.fbc_decode(self.cmd.recv_multipart()[-1])
        return json.loads(structs[0][2:])

    def ask(self, obj, extra_structs=()):
        self.send_raw(emb.fbc_encode([emb.json_struct(obj), *extra_structs], 1, self.agent_id))
        return self.recv()

    def register(self, token=bytes(32), **override):
        req = {"agent_descriptor": {"manufacturer": "tests", "agent_name": "raw", "agent_version": "1"},
               "auth_token": {"value": list(token)},
               "requested_capabilities": ["send_sensor_data", "receive_motor_data"],
               "connection_protocol": "Zmq", "api_version": {"version": 1}}
        req.update(override)
        reply = self.ask({"agent_registration": {"client_request_registration": req}})
        answer = reply["agent_registration"]["server_responds_registration"]
        if isinstance(answer, dict):
            self.agent_id = bytes(answer["success"][0]["bytes"])
        return answer

    def deregister(self):
        reply = self.ask({"agent_registration": {"client_request_deregistration": {"reason": "shutdown"}}})
        return reply["agent_registration"]["server_responds_deregistration"]

    def frame(self, points, area=b"i__inf__"):
        return emb.fbc_encode([emb.xyzp_struct({area: points})], 2, self.agent_id)


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def test_example_embodiment_registers_sends_heartbeats_and_deregisters(make_daemon):
    d, router, _s, _m = robot_daemon(make_daemon)
    out = subprocess.run([sys.executable, str(EXAMPLE), "--router", router, "--once", "--json",
                          "--motor-wait", "0.2"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    by = {e["event"]: e for e in events}
    assert len(by["registered"]["agent_id"]) == 16
    assert by["registered"]["sensory"] == _s and by["registered"]["motor"] == _m
    assert by["heartbeat"]["echoed"] is True
    assert by["deregistered"]["reply"] == "success"
    wait_metric(d, "ganglion_brain_robot_sensory_frames_total", 1)
    wait_metric(d, "ganglion_brain_robot_agents", 0)
    assert metric(d, "ganglion_brain_robot_departures_total", reason="deregistered") == 1


def test_registration_refusals_and_deregistration(make_daemon, ctx):
    d, router, sensory, _m = robot_daemon(make_daemon, f"brain.robot_token={TOKEN}")
    a = Client(ctx, router)
    assert a.register(token=bytes(32)) == "failed_invalid_auth"
    assert a.register(token=bytes.fromhex(TOKEN), connection_protocol="Udp") == "failed_invalid_request"
    assert a.register(token=bytes.fromhex(TOKEN), agent_descriptor={"agent_name": "x"}) == \
        "failed_invalid_request"
    assert a.register(token=bytes.fromhex(TOKEN),
                      requested_capabilities=["fly"]) == "failed_invalid_request"
    ok = a.register(token=bytes.fromhex(TOKEN))
    assert ok["success"][1]["send_sensor_data"]["Zmq"]["url"] == sensory
    assert a.register(token=bytes.fromhex(TOKEN)) == "already_registered"
    # the example refuses cleanly too (exit 2, the reason printed)
    out = subprocess.run([sys.executable, str(EXAMPLE), "--router", router, "--once", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and json.loads(out.stdout)["reply"] == "failed_invalid_auth"
    assert a.ask("heart_beat") == "heart_beat"
    assert a.deregister() == "success"
    assert a.deregister() == "not_registered"
    assert metric(d, "ganglion_brain_robot_registrations_total", result="failed_invalid_auth") == 2
    assert metric(d, "ganglion_brain_robot_registrations_total", result="already_registered") == 1
    # the token never reaches the log
    assert TOKEN not in d.stderr()


def test_silent_agent_is_dropped(make_daemon, ctx):
    d, router, _s, _m = robot_daemon(make_daemon, "brain.robot_timeout_ms=300")
    a = Client(ctx, router)
    assert "success" in a.register()
    wait_metric(d, "ganglion_brain_robot_agents", 1)
    wait_metric(d, "ganglion_brain_robot_departures_total", 1, reason="silent")
    assert metric(d, "ganglion_brain_robot_agents") == 0
    # the same peer registers anew rather than being told it already is
    assert "success" in a.register()


def test_heartbeats_keep_an_agent_alive(make_daemon, ctx):
    d, router, _s, _m = robot_daemon(make_daemon, "brain.robot_timeout_ms=400")
    a = Client(ctx, router)
    assert "success" in a.register()
    end = time.monotonic() + 1.2  # three timeouts
    while time.monotonic() < end:
        assert a.ask("heart_beat") == "heart_beat"
        time.sleep(0.1)
    assert metric(d, "ganglion_brain_robot_departures_total", reason="silent") == 0
    assert metric(d, "ganglion_brain_robot_agents") == 1


def test_malformed_containers_are_counted_and_dropped(make_daemon, ctx):
    d, router, sensory, _m = robot_daemon(make_daemon)
    a = Client(ctx, router, sensory)
    assert "success" in a.register()
    good = a.frame([(1, 0, 0, 1.0), (2, 0, 0, 0.5)])
    bad = [b"", b"\x04", b"\x03" + good[1:],              # short, short, wrong version
           good[:12] + b"\xff" * 4 + good[16:],            # struct length past the end
           good[:-1]]                                      # truncated area data
    # an area whose offset points into the area table
    st = bytearray(emb.xyzp_struct({b"i__inf__": [(0, 0, 0, 1.0)]}))
    struct.pack_into("<I", st, 4 + 8, 2)
    bad.append(emb.fbc_encode([bytes(st)], 3, a.agent_id))
    for b in bad:
        a.push.send(b)
    a.push.send_multipart([good, good])                     # multipart: not a frame
    a.push.send(good)
    wait_metric(d, "ganglion_brain_robot_sensory_frames_total", 1)
    wait_metric(d, "ganglion_brain_robot_malformed_total", len(bad) + 1, socket="sensory")
    # garbage on the router from a registered peer: counted, and the peer is still served
    a.send_raw(b"\x04\x00")
    a.send_raw(emb.fbc_encode([b"\x0b\x01"], 1, a.agent_id))  # no JSON struct
    assert a.ask("heart_beat") == "heart_beat"
    assert metric(d, "ganglion_brain_robot_malformed_total", socket="router") == 2
    # a frame from an agent id nobody was given
    stranger = Client(ctx, router, sensory)
    stranger.agent_id = b"\x01" * 8
    stranger.push.send(stranger.frame([(0, 0, 0, 1.0)]))
    wait_metric(d, "ganglion_brain_robot_dropped_total", 1, reason="unregistered")
    assert d.get("/healthz").status_code == 200


def test_oversize_request_from_unknown_peer_is_dropped(make_daemon, ctx):
    d, router, _s, _m = robot_daemon(make_daemon)
    a = Client(ctx, router)
    big = {"agent_registration": {"client_request_registration": {"padding": "x" * 2000}}}
    a.send_raw(emb.fbc_encode([emb.json_struct(big)]))
    a.send_raw(emb.fbc_encode([emb.json_struct("heart_beat")]))  # unknown: not answered either
    # both were dropped without an answer; a proper registration is answered next
    assert "success" in a.register()
    frames = a.cmd.poll(0)
    assert frames == 0
    assert metric(d, "ganglion_brain_robot_dropped_total", reason="oversize") == 1
    assert metric(d, "ganglion_brain_robot_dropped_total", reason="unknown_peer") == 1
    # once registered, a command over 1 KiB (a heartbeat with a padding struct) is answered
    pad = bytes([emb.T_XYZP, 1]) + b"\0" * 2000
    assert a.ask("heart_beat", extra_structs=[pad]) == "heart_beat"


# ---- a running brain: stimulus in, motor out --------------------------------------------------

RELAY = json.loads((ROOT / "tests" / "integration" / "genomes" / "robot_relay.json").read_text())


def relay_brain(d):
    """Creates and starts the relay brain (i__inf projected onto o__mot); waits until it runs."""
    r = d.post("/api/v1/brains", json={"name": "relay", "genome": RELAY, "start": True})
    assert r.status_code == 201, r.text
    bid = r.json()["id"]
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        st = d.get(f"/api/v1/brains/{bid}").json()
        if st["status"] == "running" or time.monotonic() > deadline:
            assert st["status"] == "running", st
            return bid
        time.sleep(0.05)


def test_example_stimulus_comes_back_as_motor_output(make_daemon):
    d, router, _s, _m = robot_daemon(make_daemon)
    relay_brain(d)
    out = subprocess.run([sys.executable, str(EXAMPLE), "--router", router, "--once", "--json",
                          "--area", "i__inf", "--motor-wait", str(WAIT_MS / 1000)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    motor = [e for e in map(json.loads, out.stdout.splitlines()) if e["event"] == "motor"]
    assert motor, out.stdout
    # the stimulus at x = 0 of i__inf fires voxel 0 of o__mot (2 × 3 = 6 over a threshold of 1)
    assert motor[0]["areas"] == {"o__mot__": [[0, 0, 0, 6.0]]}


def test_moving_stimulus_is_followed_by_the_motor_voxel(make_daemon, ctx):
    d, router, sensory, motor = robot_daemon(make_daemon)
    bid = relay_brain(d)
    a = Client(ctx, router, sensory)
    assert "success" in a.register()
    # the brain lists the robot among its embodiments
    emb_list = d.get(f"/api/v1/brains/{bid}/embodiments").json()["embodiments"]
    assert [(e["agent_id"], e["name"], e["capabilities"]) for e in emb_list] == \
        [(a.agent_id.hex(), "raw", ["send_sensor_data", "receive_motor_data"])]
    assert abs(emb_list[0]["last_seen_ms"] - time.time() * 1000) < 60000
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(motor)
    for x in (2, 5, 7):
        # resend until the subscription is up and the voxel answers (bounded by the deadline)
        deadline, seen = time.monotonic() + WAIT_MS / 1000, None
        while seen is None and time.monotonic() < deadline:
            a.push.send(a.frame([(x, 0, 0, 50.0)]))
            if sub.poll(200):
                _c, agent, structs = emb.fbc_decode(sub.recv())
                assert agent == bytes(8)
                areas = emb.xyzp_decode(structs[0])
                if areas.get("o__mot__"):
                    seen = areas["o__mot__"]
        assert seen and {p[0] for p in seen} == {x}, seen
        while sub.poll(100):  # what the resends still bring
            sub.recv()
    assert metric(d, "ganglion_brain_robot_motor_frames_total") >= 3
    emb_list = d.get(f"/api/v1/brains/{bid}/embodiments").json()["embodiments"]
    assert emb_list[0]["sensory_frames"] >= 3
    # the stats time each answer: it leaves in the burst after the one that injected the stimulus
    # (a late burst thread may run that burst early, so the spans are only ordered here)
    lat = d.get(f"/api/v1/brains/{bid}/stats").json()["robot_latency"]
    assert lat["answers"] >= 3, lat
    assert lat["answers_next_burst"] == lat["answers"], lat
    arr, inj, end = (lat[k] for k in ("arrival_to_send", "injection_to_send", "burst_end_to_send"))
    assert arr["p50_ms"] >= inj["p50_ms"] >= end["p50_ms"] >= 0, lat


def test_robot_token_is_checked_and_masked(bin):
    bad = subprocess.run([str(bin), "serve", "--set", "brain.robot_token=abc", "--print-config"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "brain.robot_token" in bad.stderr and "64 hex digits" in bad.stderr
    good = subprocess.run([str(bin), "serve", "--set", f"brain.robot_token={TOKEN}", "--print-config"],
                          capture_output=True, text=True, timeout=30)
    assert good.returncode == 0 and TOKEN not in good.stdout and "robot_token = ****" in good.stdout


def test_a_bad_robot_endpoint_stops_the_start(bin, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANGLION_")}
    env["GANGLION_ADMIN_PASSWORD"] = "suite-admin-passphrase"
    out = subprocess.run([str(bin), "serve", "--listen", f"127.0.0.1:{free_port()}",
                          "--data-dir", str(tmp_path / "d"), "--zmq-listen", "off", "--zmq-pub", "off",
                          "--set", "brain.robot_router=nonsense"],
                         capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode != 0 and "brain.robot_router" in out.stderr


def motor_frames(sub, wait_ms):
    """The motor frames that arrive within wait_ms, decoded: [(counter, {area: points})]."""
    out, deadline = [], time.monotonic() + wait_ms / 1000
    while True:
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0 or not sub.poll(left):
            return out
        counter, _a, structs = emb.fbc_decode(sub.recv())
        out.append((counter, emb.xyzp_decode(structs[0])))


def test_a_paused_brain_takes_each_agents_latest_frame_at_its_next_burst(make_daemon, ctx):
    d, router, sensory, motor = robot_daemon(make_daemon)
    bid = relay_brain(d)
    a = Client(ctx, router, sensory)
    assert "success" in a.register()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(motor)
    assert d.post(f"/api/v1/brains/{bid}/pause").json()["status"] == "paused"
    # the subscription is up once a stepped stimulus comes back
    deadline, sent, answered = time.monotonic() + WAIT_MS / 1000, 0, []
    while not answered and time.monotonic() < deadline:
        a.push.send(a.frame([(0, 0, 0, 50.0)]))
        sent += 1
        wait_metric(d, "ganglion_brain_robot_sensory_frames_total", sent)
        d.post(f"/api/v1/brains/{bid}/step")
        d.post(f"/api/v1/brains/{bid}/step")
        answered = motor_frames(sub, 200)
    assert answered
    frames0 = metric(d, "ganglion_brain_robot_sensory_frames_total")
    superseded0 = metric(d, "ganglion_brain_robot_sensory_superseded_total")
    # two frames before a burst: the second replaces the first
    a.push.send(a.frame([(2, 0, 0, 50.0)]))
    a.push.send(a.frame([(5, 0, 0, 50.0)]))
    wait_metric(d, "ganglion_brain_robot_sensory_frames_total", frames0 + 2)
    assert metric(d, "ganglion_brain_robot_sensory_superseded_total") == superseded0 + 1
    assert d.post(f"/api/v1/brains/{bid}/step").status_code == 200  # i__inf voxel 5 fires
    assert d.post(f"/api/v1/brains/{bid}/step").status_code == 200  # o__mot voxel 5 fires
    got = motor_frames(sub, 1000)
    assert [areas for _c, areas in got] == [{"o__mot__": [(5, 0, 0, 6.0)]}]


def test_frames_for_unknown_areas_or_outside_an_area_are_dropped_at_staging(make_daemon, ctx):
    d, router, sensory, motor = robot_daemon(make_daemon)
    relay_brain(d)
    a = Client(ctx, router, sensory)
    assert "success" in a.register()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(motor)
    odd = emb.fbc_encode([emb.xyzp_struct({b"zzzzzz__": [(0, 0, 0, 50.0)],
                                           b"i__inf__": [(8, 0, 0, 50.0), (4294967295, 9, 9, 50.0)],
                                           b"i__inf\0\0": [(6, 0, 0, 50.0)]})], 1, a.agent_id)
    deadline, seen = time.monotonic() + WAIT_MS / 1000, []
    while not seen and time.monotonic() < deadline:
        a.push.send(odd)
        seen = [f for f in motor_frames(sub, 200) if f[1].get("o__mot__")]
    # only the in-bounds point of the NUL-padded id reaches the brain
    assert {p[0] for _c, f in seen for p in f["o__mot__"]} == {6}
    assert d.get("/healthz").status_code == 200
