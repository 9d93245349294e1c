"""The contract suite: every endpoint of the registry (as /openapi.json lists it) is called
over HTTP, ZMQ, WebSocket and MQTT (through a real Mosquitto) with the same inputs, and the
four replies must agree in status
and body (volatile fields such as request ids and clocks normalised away). One daemon serves
the whole module, so the suite stays fast.

Inputs come from CALLS below: safe ones — reads, ids that do not exist, bodies that fail
validation — so that calling an endpoint three times changes nothing and each transport gets
the same answer. A new endpoint fails test_every_endpoint_has_a_call until it gets a line."""

import asyncio
import json

import pytest
import websockets
import zmq

import gmqtt
import gzmq
from conftest import Daemon, _finish, daemon_env, free_port
from gws import rpc

NOPE = "nope404"

# (METHOD, path template) -> the call: path (params filled), query, body; or SKIP(reason).
class SKIP:
    def __init__(self, reason):
        self.reason = reason


CALLS = {
    ("GET", "/healthz"): {},
    ("GET", "/readyz"): {},
    ("GET", "/metrics"): {"status_only": "counters move with every request"},
    ("GET", "/openapi.json"): {},
    ("GET", "/api/v1/system/info"): {},
    ("GET", "/api/v1/system/log-levels"): {},
    ("PUT", "/api/v1/system/log-levels"): {"body": {"module": "nosuch", "level": "debug"}},
    ("GET", "/api/v1/stream"): {"query": {"topics": "a..b"}},  # invalid: a stream differs by transport
    ("POST", "/api/v1/test/echo"): {"body": {"name": "parity", "count": 2, "mode": None}},
    ("POST", "/api/v1/test/publish"): {"body": {}},
    ("GET", "/api/v1/test/sleep"): {"query": {"ms": "1"}},
    ("GET", "/api/v1/audit"): {"query": {"limit": "5"}},
    ("GET", "/api/v1/agents"): {},
    ("POST", "/api/v1/agents"): {"body": {}},
    ("GET", "/api/v1/agents/stats"): {},
    ("POST", "/api/v1/agents/batch"): {"body": {}},
    ("POST", "/api/v1/agents/prune"): {"body": {"ids": [NOPE]}},
    ("GET", "/api/v1/agents/{id}"): {"path": f"/api/v1/agents/{NOPE}"},
    ("DELETE", "/api/v1/agents/{id}"): {"path": f"/api/v1/agents/{NOPE}"},
    ("POST", "/api/v1/agents/{id}/pause"): {"path": f"/api/v1/agents/{NOPE}/pause"},
    ("POST", "/api/v1/agents/{id}/resume"): {"path": f"/api/v1/agents/{NOPE}/resume"},
    ("POST", "/api/v1/agents/{id}/stop"): {"path": f"/api/v1/agents/{NOPE}/stop"},
    ("POST", "/api/v1/agents/{id}/start"): {"path": f"/api/v1/agents/{NOPE}/start"},
    ("POST", "/api/v1/agents/{id}/restart"): {"path": f"/api/v1/agents/{NOPE}/restart"},
    ("POST", "/api/v1/agents/{id}/kill"): {"path": f"/api/v1/agents/{NOPE}/kill"},
    ("POST", "/api/v1/agents/{id}/signal"): {"path": f"/api/v1/agents/{NOPE}/signal",
                                             "body": {"signal": "TERM"}},
    ("POST", "/api/v1/agents/{id}/stdin"): {"path": f"/api/v1/agents/{NOPE}/stdin",
                                            "body": {"text": "x\n"}},
    ("POST", "/api/v1/agents/{id}/action"): {"path": f"/api/v1/agents/{NOPE}/action",
                                             "body": {"action": "noop"}},
    ("GET", "/api/v1/agents/{id}/output"): {"path": f"/api/v1/agents/{NOPE}/output"},
    ("GET", "/api/v1/agents/{id}/logs"): {"path": f"/api/v1/agents/{NOPE}/logs"},
    ("GET", "/api/v1/programs"): {},
    ("POST", "/api/v1/programs/reload"): {},
    ("POST", "/api/v1/programs/{name}/start"): {"path": f"/api/v1/programs/{NOPE}/start"},
    ("POST", "/api/v1/programs/{name}/stop"): {"path": f"/api/v1/programs/{NOPE}/stop"},
    ("POST", "/api/v1/programs/{name}/restart"): {"path": f"/api/v1/programs/{NOPE}/restart"},
    ("GET", "/api/v1/guard/rules"): {},
    ("POST", "/api/v1/guard/rules"): {"body": {}},
    ("GET", "/api/v1/guard/rules/{id}"): {"path": f"/api/v1/guard/rules/{NOPE}"},
    ("PUT", "/api/v1/guard/rules/{id}"): {"path": f"/api/v1/guard/rules/{NOPE}", "body": {}},
    ("DELETE", "/api/v1/guard/rules/{id}"): {"path": f"/api/v1/guard/rules/{NOPE}"},
    ("POST", "/api/v1/guard/evaluate"): {"body": {}},  # a real verdict moves trust: invalid body
    ("GET", "/api/v1/guard/reviews"): {},
    ("POST", "/api/v1/guard/reviews/{id}/approve"): {"path": f"/api/v1/guard/reviews/{NOPE}/approve"},
    ("POST", "/api/v1/guard/reviews/{id}/reject"): {"path": f"/api/v1/guard/reviews/{NOPE}/reject"},
    ("GET", "/api/v1/guard/principals"): {"status_only": "trust decays with the clock"},
    ("GET", "/api/v1/guard/principals/{id}"): {"path": f"/api/v1/guard/principals/{NOPE}"},
    ("GET", "/api/v1/memory/records"): {},
    ("POST", "/api/v1/memory/records"): {"body": {}},
    ("GET", "/api/v1/memory/records/{id}"): {"path": f"/api/v1/memory/records/{NOPE}"},
    ("DELETE", "/api/v1/memory/records/{id}"): {"path": f"/api/v1/memory/records/{NOPE}"},
    ("POST", "/api/v1/memory/records/{id}/promote"): {"path": f"/api/v1/memory/records/{NOPE}/promote",
                                                      "body": {"layer": "working"}},
    ("POST", "/api/v1/memory/search"): {"body": {}},
    # no vault.repo in this daemon: each answers its refusal, the same on every transport
    ("GET", "/api/v1/vault/backups"): {},
    ("POST", "/api/v1/vault/backups"): {"body": {}},
    ("GET", "/api/v1/vault/backups/{id}"): {"path": f"/api/v1/vault/backups/{NOPE}"},
    ("POST", "/api/v1/vault/backups/{id}/verify"): {"path": f"/api/v1/vault/backups/{NOPE}/verify"},
    ("POST", "/api/v1/vault/prune"): {"body": {}},
    ("GET", "/api/v1/vault/schedule"): {},
    # brains: no brain in this daemon, ids that do not exist, bodies that fail validation
    ("GET", "/api/v1/brains"): {},
    ("GET", "/api/v1/brains/genomes"): {},
    ("POST", "/api/v1/brains"): {"body": {}},
    ("GET", "/api/v1/brains/{id}"): {"path": f"/api/v1/brains/{NOPE}"},
    ("DELETE", "/api/v1/brains/{id}"): {"path": f"/api/v1/brains/{NOPE}"},
    ("GET", "/api/v1/brains/{id}/activity"): {"path": f"/api/v1/brains/{NOPE}/activity"},
    ("GET", "/api/v1/brains/{id}/areas"): {"path": f"/api/v1/brains/{NOPE}/areas"},
    ("GET", "/api/v1/brains/{id}/embodiments"): {"path": f"/api/v1/brains/{NOPE}/embodiments"},
    ("GET", "/api/v1/brains/{id}/frequency"): {"path": f"/api/v1/brains/{NOPE}/frequency"},
    ("GET", "/api/v1/brains/{id}/genome"): {"path": f"/api/v1/brains/{NOPE}/genome"},
    ("GET", "/api/v1/brains/{id}/mappings"): {"path": f"/api/v1/brains/{NOPE}/mappings"},
    ("GET", "/api/v1/brains/{id}/morphologies"): {"path": f"/api/v1/brains/{NOPE}/morphologies"},
    ("GET", "/api/v1/brains/{id}/stats"): {"path": f"/api/v1/brains/{NOPE}/stats"},
    ("POST", "/api/v1/brains/{id}/pause"): {"path": f"/api/v1/brains/{NOPE}/pause"},
    ("POST", "/api/v1/brains/{id}/start"): {"path": f"/api/v1/brains/{NOPE}/start"},
    ("POST", "/api/v1/brains/{id}/step"): {"path": f"/api/v1/brains/{NOPE}/step"},
    ("POST", "/api/v1/brains/{id}/stop"): {"path": f"/api/v1/brains/{NOPE}/stop"},
    ("PUT", "/api/v1/brains/{id}/frequency"): {"path": f"/api/v1/brains/{NOPE}/frequency", "body": {}},
    ("PUT", "/api/v1/brains/{id}/mappings"): {"path": f"/api/v1/brains/{NOPE}/mappings", "body": {}},
    ("GET", "/api/v1/brains/{id}/areas/{area}"): {"path": f"/api/v1/brains/{NOPE}/areas/{NOPE}"},
    ("GET", "/api/v1/brains/{id}/areas/{area}/activity"): {"path": f"/api/v1/brains/{NOPE}/areas/{NOPE}/activity"},
    ("PUT", "/api/v1/brains/{id}/areas/{area}"): {"path": f"/api/v1/brains/{NOPE}/areas/{NOPE}", "body": {}},
    # FEAGI /v1 routes on no default brain (genome uploads with an empty body: refused)
    ("DELETE", "/v1/agent/deregister"): {},
    ("DELETE", "/v1/cortical_area/cortical_area"): {},
    ("DELETE", "/v1/morphology/morphology"): {},
    ("DELETE", "/v1/region/region"): {},
    ("GET", "/v1/agent/list"): {},
    ("GET", "/v1/burst_engine/burst_counter"): {},
    ("GET", "/v1/burst_engine/stimulation_period"): {},
    ("GET", "/v1/connectome/cortical_areas/list/summary"): {},
    ("GET", "/v1/connectome/properties/dimensions"): {},
    ("GET", "/v1/cortical_area/cortical_area_id_list"): {},
    ("GET", "/v1/cortical_area/cortical_area_name_list"): {},
    ("GET", "/v1/cortical_area/cortical_id_name_mapping"): {},
    ("GET", "/v1/cortical_area/cortical_types"): {},
    ("GET", "/v1/cortical_area/ipu"): {},
    ("GET", "/v1/cortical_area/opu"): {},
    ("GET", "/v1/genome/download"): {},
    ("GET", "/v1/genome/file_name"): {},
    ("GET", "/v1/morphology/morphology_list"): {},
    ("GET", "/v1/region/regions"): {},
    ("GET", "/v1/system/health_check"): {},
    ("POST", "/v1/agent/register"): {"body": {}},
    ("POST", "/v1/burst_engine/stimulation_period"): {"body": {}},
    ("POST", "/v1/cortical_area/cortical_area"): {"body": {}},
    ("POST", "/v1/cortical_area/cortical_area_properties"): {"body": {}},
    ("POST", "/v1/cortical_mapping/afferents"): {"body": {}},
    ("POST", "/v1/cortical_mapping/efferents"): {"body": {}},
    ("POST", "/v1/cortical_mapping/mapping_properties"): {"body": {}},
    ("POST", "/v1/genome/upload/barebones"): {"body": {}},
    ("POST", "/v1/genome/upload/essential"): {"body": {}},
    ("POST", "/v1/genome/upload/file"): {"body": {}},
    ("POST", "/v1/genome/upload/string"): {"body": {}},
    ("POST", "/v1/morphology/morphology"): {"body": {}},
    ("POST", "/v1/morphology/morphology_properties"): {"body": {}},
    ("POST", "/v1/region/region"): {"body": {}},
    ("PUT", "/v1/cortical_area/cortical_area"): {"body": {}},
    ("PUT", "/v1/cortical_mapping/mapping_properties"): {"body": {}},
    ("PUT", "/v1/morphology/morphology"): {"body": {}},
    ("PUT", "/v1/region/region"): {"body": {}},
    ("GET", "/api/v1/tasks"): {},
    ("POST", "/api/v1/tasks"): {"body": {}},
    ("POST", "/api/v1/tasks/lease"): {"body": {}},
    ("POST", "/api/v1/tasks/batch"): {"body": {"tasks": []}},
    ("POST", "/api/v1/tasks/results"): {"body": {"results": [{"id": NOPE, "lease": 1, "ok": True}]}},
    ("GET", "/api/v1/tasks/{id}"): {"path": f"/api/v1/tasks/{NOPE}"},
    ("GET", "/api/v1/tasks/{id}/events"): {"path": f"/api/v1/tasks/{NOPE}/events"},
    ("GET", "/api/v1/tasks/{id}/wait"): {"path": f"/api/v1/tasks/{NOPE}/wait"},
    ("POST", "/api/v1/tasks/{id}/cancel"): {"path": f"/api/v1/tasks/{NOPE}/cancel"},
    ("POST", "/api/v1/tasks/{id}/heartbeat"): {"path": f"/api/v1/tasks/{NOPE}/heartbeat", "body": {}},
    ("POST", "/api/v1/tasks/{id}/result"): {"path": f"/api/v1/tasks/{NOPE}/result", "body": {}},
    ("POST", "/api/v1/auth/login"): {"body": {}},
    ("POST", "/api/v1/auth/refresh"): {"body": {}},
    ("POST", "/api/v1/auth/logout"): SKIP("would sign the suite's own credential out"),
    ("GET", "/api/v1/auth/me"): {},
    ("POST", "/api/v1/auth/password"): {"body": {}},
    ("POST", "/api/v1/users"): {"body": {}},
    ("GET", "/api/v1/users"): {},
    ("GET", "/api/v1/users/{id}"): {"path": "/api/v1/users/999999"},
    ("PATCH", "/api/v1/users/{id}"): {"path": "/api/v1/users/999999", "body": {"role": "viewer"}},
    ("DELETE", "/api/v1/users/{id}"): {"path": "/api/v1/users/999999"},
    ("POST", "/api/v1/users/{id}/password"): {"path": "/api/v1/users/999999/password",
                                              "body": {}},
    ("GET", "/api/v1/auth/options"): {},
    ("POST", "/api/v1/auth/register"): {"body": {}},
    ("POST", "/api/v1/auth/password-reset"): {"body": {}},
    ("POST", "/api/v1/auth/password-reset/confirm"): {"body": {}},
    ("POST", "/api/v1/auth/email-verification"): {},
    ("POST", "/api/v1/auth/email-verification/confirm"): {"body": {}},
    ("POST", "/api/v1/invites"): {"body": {"ttl_s": 1}},
    ("GET", "/api/v1/invites"): {},
    ("DELETE", "/api/v1/invites/{id}"): {"path": "/api/v1/invites/999999"},
    ("POST", "/api/v1/users/{id}/approve"): {"path": "/api/v1/users/999999/approve"},
    ("POST", "/api/v1/users/{id}/reset-token"): {"path": "/api/v1/users/999999/reset-token"},
    ("POST", "/api/v1/keys"): {"body": {"name": 5}},
    ("GET", "/api/v1/keys"): {},
    ("GET", "/api/v1/keys/{id}"): {"path": "/api/v1/keys/999999"},
    ("DELETE", "/api/v1/keys/{id}"): {"path": "/api/v1/keys/999999"},
    ("POST", "/api/v1/keys/{id}/rotate"): {"path": "/api/v1/keys/999999/rotate"},
    ("GET", "/api/v1/teams"): {},
    ("POST", "/api/v1/teams"): {"body": {"name": "no spaces"}},
    ("GET", "/api/v1/teams/{name}"): {"path": f"/api/v1/teams/{NOPE}"},
    ("DELETE", "/api/v1/teams/{name}"): {"path": f"/api/v1/teams/{NOPE}"},
    ("PUT", "/api/v1/teams/{name}/members/{user}"): {"path": f"/api/v1/teams/{NOPE}/members/{NOPE}"},
    ("DELETE", "/api/v1/teams/{name}/members/{user}"): {"path": f"/api/v1/teams/{NOPE}/members/{NOPE}"},
    ("GET", "/api/v1/watch/streams"): {},
    ("GET", "/api/v1/watch/streams/{name}"): {"path": f"/api/v1/watch/streams/{NOPE}"},
    ("GET", "/api/v1/watch/streams/{name}/scores"): {"path": f"/api/v1/watch/streams/{NOPE}/scores"},
    ("PUT", "/api/v1/watch/streams/{name}"): {"path": f"/api/v1/watch/streams/{NOPE}",
                                              "body": {"type": 5}},
    ("DELETE", "/api/v1/watch/streams/{name}"): {"path": f"/api/v1/watch/streams/{NOPE}"},
    ("POST", "/api/v1/watch/events"): {"body": 5},
    ("POST", "/v1/logs"): {"body": 5},
    ("POST", "/v1/metrics"): {"body": 5},
    ("POST", "/v1/traces"): {"body": 5},
    ("GET", "/api/v1/watch/anomalies"): {},
    ("GET", "/api/v1/watch/anomalies/{id}"): {"path": "/api/v1/watch/anomalies/999999"},
    ("PATCH", "/api/v1/watch/anomalies/{id}"): {"path": "/api/v1/watch/anomalies/999999",
                                                "body": {"status": "bogus"}},
    ("GET", "/api/v1/watch/anomalies/{id}/export"): {"path": "/api/v1/watch/anomalies/999999/export"},
    ("GET", "/api/v1/watch/incidents"): {},
    ("GET", "/api/v1/watch/incidents/{id}"): {"path": "/api/v1/watch/incidents/999999"},
    ("PATCH", "/api/v1/watch/incidents/{id}"): {"path": "/api/v1/watch/incidents/999999",
                                                "body": {"status": "bogus"}},
    ("GET", "/api/v1/watch/signing-key"): {},
    ("GET", "/api/v1/watch/stats"): {},
    ("GET", "/api/v1/alerts/rules"): {},
    ("POST", "/api/v1/alerts/rules"): {"body": {}},
    ("GET", "/api/v1/alerts/rules/{id}"): {"path": f"/api/v1/alerts/rules/{NOPE}"},
    ("PUT", "/api/v1/alerts/rules/{id}"): {"path": f"/api/v1/alerts/rules/{NOPE}", "body": {}},
    ("DELETE", "/api/v1/alerts/rules/{id}"): {"path": f"/api/v1/alerts/rules/{NOPE}"},
    ("POST", "/api/v1/alerts/rules/{id}/silence"): {"path": f"/api/v1/alerts/rules/{NOPE}/silence",
                                                    "body": {}},
    ("POST", "/api/v1/alerts/rules/{id}/test"): {"path": f"/api/v1/alerts/rules/{NOPE}/test"},
    ("GET", "/api/v1/alerts/notifiers"): {},
    ("POST", "/api/v1/alerts/notifiers"): {"body": {}},
    ("GET", "/api/v1/alerts/notifiers/{id}"): {"path": f"/api/v1/alerts/notifiers/{NOPE}"},
    ("PUT", "/api/v1/alerts/notifiers/{id}"): {"path": f"/api/v1/alerts/notifiers/{NOPE}",
                                               "body": {}},
    ("DELETE", "/api/v1/alerts/notifiers/{id}"): {"path": f"/api/v1/alerts/notifiers/{NOPE}"},
    ("POST", "/api/v1/alerts/notifiers/{id}/test"): {"path": f"/api/v1/alerts/notifiers/{NOPE}/test"},
    ("GET", "/api/v1/alerts/outbox"): {},
    ("POST", "/api/v1/alerts/outbox/{id}/retry"): {"path": f"/api/v1/alerts/outbox/{NOPE}/retry"},
    ("GET", "/api/v1/alerts/history"): {},
}

# Keys whose values differ between any two calls, whatever the transport.
VOLATILE = {"request_id", "uptime_s", "uptime_ms", "uptime", "now", "time", "ts", "started_at",
            "timestamp", "elapsed_ms", "rss_bytes", "cpu_s", "inflight", "requests", "loop_lag_ms",
            "loop_lag", "as_of"}


def normalise(v):
    if isinstance(v, dict):
        return {k: normalise(x) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [normalise(x) for x in v]
    return v


# ---- the transports ----------------------------------------------------------------------

class Transports:
    """One client per transport to one daemon; call() returns (status, body) from each."""

    def __init__(self, d, zmq_ep, broker):
        self.d = d
        self.zmq = gzmq.Client(zmq_ep)
        self.mqtt = gmqtt.Client(broker, name="parity")
        self.loop = asyncio.new_event_loop()

        async def open_ws():  # created inside the loop: the client binds to the running loop
            return await websockets.connect(
                f"ws://127.0.0.1:{d.port}/api/v1/ws", max_size=None,
                extra_headers={"Authorization": f"Bearer {d.token}"})
        self.ws = self.loop.run_until_complete(open_ws())

    def http(self, method, path, query=None, body=None):
        kw = {"params": query}
        if body is not None:
            kw["data"] = json.dumps(body)
            kw["headers"] = {"Content-Type": "application/json"}
        r = self.d.request(method, path, **kw)
        ctype = r.headers.get("Content-Type", "")
        if not r.content:
            return r.status_code, None
        if "json" in ctype:
            return r.status_code, r.json()
        return r.status_code, r.text

    def zmq_call(self, method, path, query=None, body=None):
        r = self.zmq.call(method, path, query=query, body=body)
        return r["status"], r.get("body")

    def ws_call(self, method, path, query=None, body=None):
        r = self.loop.run_until_complete(rpc(self.ws, method, path, body=body, query=query))
        return r["status"], r.get("body")

    def each(self):
        yield "http", self.http
        yield "zmq", self.zmq_call
        yield "ws", self.ws_call
        yield "mqtt", self.mqtt_call

    def mqtt_call(self, method, path, query=None, body=None):
        r = self.mqtt.call(method, path, body=body, query=query, token=self.d.token)
        return r["status"], r.get("body")

    def close(self):
        self.loop.run_until_complete(self.ws.close())
        self.loop.close()
        self.zmq.close()
        self.mqtt.close()


@pytest.fixture(scope="module")
def transports(bin, tmp_path_factory):
    rpc_port, pub_port = free_port(), free_port()
    broker = gmqtt.Broker().start()
    d = Daemon(bin, tmp_path_factory.mktemp("parity"),
               env={**daemon_env(), "GANGLION_MQTT_URL": broker.url},
               args=["--zmq-listen", f"127.0.0.1:{rpc_port}", "--zmq-pub",
                     f"127.0.0.1:{pub_port}", "--set", "ratelimit.enabled=0"])
    d.start()
    gmqtt.wait_connected(d)
    ep = f"tcp://127.0.0.1:{rpc_port}"
    gzmq.ENDPOINT_TOKENS[ep] = d.token
    t = Transports(d, ep, broker)
    yield t
    t.close()
    broker.stop()
    problems = _finish(d)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_every_endpoint_has_a_call(transports):
    spec = transports.d.get("/openapi.json").json()
    listed = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
              if m in ("get", "post", "put", "patch", "delete")}
    missing = sorted(listed - CALLS.keys())
    gone = sorted(CALLS.keys() - listed)
    assert not missing, f"endpoints without a parity call (add them to CALLS): {missing}"
    assert not gone, f"CALLS lists endpoints the registry no longer has: {gone}"


@pytest.mark.parametrize("key", sorted(CALLS), ids=lambda k: f"{k[0]} {k[1]}")
def test_same_reply_on_every_transport(transports, key):
    call = CALLS[key]
    if isinstance(call, SKIP):
        pytest.skip(call.reason)
    method, template = key
    path = call.get("path", template)
    replies = {name: fn(method, path, query=call.get("query"), body=call.get("body"))
               for name, fn in transports.each()}
    statuses = {name: r[0] for name, r in replies.items()}
    assert len(set(statuses.values())) == 1, f"statuses differ: {statuses}"
    if call.get("status_only"):
        return
    bodies = {name: normalise(r[1]) for name, r in replies.items()}
    ref = bodies["http"]
    for name, b in bodies.items():
        assert b == ref, f"{name} body differs from http:\n{json.dumps(b)[:800]}\n" \
                         f"vs\n{json.dumps(ref)[:800]}"
