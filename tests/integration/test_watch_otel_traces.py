"""watch over OTLP/HTTP traces: POST /v1/traces in JSON and in protobuf (encoded here by hand,
field numbers from opentelemetry/proto/trace/v1/trace.proto) becomes one event per span in
otel.<service>.traces, and a burst of slow failing spans is an anomaly whose metadata names the
trace."""

import json
import struct

from conftest import assert_problem
from watch_util import SMALL, wait_anomalies

T0 = 1_700_000_000_000_000_000


# ---- a minimal protobuf writer --------------------------------------------------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(num, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _vint(num, n):
    return _varint(num << 3) + _varint(n)


def _fixed64(num, n):
    return _varint(num << 3 | 1) + struct.pack("<Q", n)


def _kv(key, s):
    return _ld(1, key) + _ld(2, _ld(1, s))  # KeyValue{key, AnyValue{string_value}}


def pb_request(service, spans):
    """ExportTraceServiceRequest{resource_spans: [{resource, scope_spans: [{scope, spans}]}]}."""
    span_bytes = b""
    for s in spans:
        body = (_ld(1, bytes.fromhex(s["trace"])) + _ld(2, bytes.fromhex(s["span"]))
                + _ld(5, s["name"]) + _vint(6, s.get("kind", 2))
                + _fixed64(7, s["start"]) + _fixed64(8, s["end"])
                + _ld(9, _kv("http.route", s.get("route", "/cart")))
                + _ld(15, _ld(2, s.get("message", "")) + _vint(3, s.get("code", 0))))
        if "parent" in s:
            body += _ld(4, bytes.fromhex(s["parent"]))
        span_bytes += _ld(2, body)
    resource = _ld(1, _kv("service.name", service))
    scope = _ld(1, _ld(1, "shop-tracer") + _ld(2, "1.0"))
    return _ld(1, _ld(1, resource) + _ld(2, scope + span_bytes))


def json_request(service, spans):
    out = []
    for s in spans:
        sp = {"traceId": s["trace"], "spanId": s["span"], "name": s["name"],
              "kind": s.get("kind", 2), "startTimeUnixNano": str(s["start"]),
              "endTimeUnixNano": str(s["end"]),
              "attributes": [{"key": "http.route", "value": {"stringValue": s.get("route", "/cart")}}],
              "status": {"code": s.get("code", 0), "message": s.get("message", "")}}
        out.append(sp)
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "shop-tracer", "version": "1.0"}, "spans": out}]}]}


def spans(n, start_index=0, slow=False):
    out = []
    for i in range(start_index, start_index + n):
        start = T0 + i * 1_000_000_000
        dur = 12_000_000_000 if slow else 3_000_000  # 12 s or 3 ms
        out.append({"trace": f"{i + 1:032x}", "span": f"{i + 1:016x}", "name": "GET /cart",
                    "start": start, "end": start + dur,
                    "code": 2 if slow else 0, "message": "database timeout" if slow else ""})
    return out


def _events_in(d, stream):
    r = d.get(f"/api/v1/watch/streams/{stream}")
    assert r.status_code == 200, r.text
    return r.json()["stats"]["events_in"], r.json()["type"]


def test_json_spans_become_events(daemon):
    body = json_request("shop", spans(3))
    body["resourceSpans"][0]["scopeSpans"][0]["spans"].append({"spanId": "01" * 8})  # no name
    r = daemon.post("/v1/traces", json=body)
    assert r.status_code == 200, r.text
    ps = r.json()["partialSuccess"]
    assert ps["rejectedSpans"] == 1 and "name" in ps["errorMessage"]
    assert _events_in(daemon, "otel.shop.traces") == (3, "traces")
    # enums by name (as some JSON exporters write them) are read too
    body = json_request("shop", spans(1, 10))
    sp = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    sp["kind"], sp["status"]["code"] = "SPAN_KIND_CLIENT", "STATUS_CODE_OK"
    assert daemon.post("/v1/traces", json=body).json() == {}
    assert _events_in(daemon, "otel.shop.traces")[0] == 4


def test_protobuf_spans_become_events(daemon):
    r = daemon.post("/v1/traces", data=pb_request("cart-svc", spans(5)),
                    headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200 and r.content == b"", r.content
    assert _events_in(daemon, "otel.cart-svc.traces") == (5, "traces")
    # truncated bytes are a 400, an empty request is fine
    assert_problem(daemon.post("/v1/traces", data=pb_request("x", spans(1))[:-3],
                               headers={"Content-Type": "application/x-protobuf"}), 400)
    r = daemon.post("/v1/traces", data=b"", headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200
    assert_problem(daemon.post("/v1/traces", json={"resourceSpans": {}}), 400,
                   field="/resourceSpans")


def test_slow_failing_spans_are_an_anomaly_with_their_trace(daemon):
    r = daemon.request("PUT", "/api/v1/watch/streams/otel.shop.traces",
                       json={"type": "traces", "settings": SMALL})
    assert r.status_code == 201, r.text
    assert daemon.post("/v1/traces", data=pb_request("shop", spans(100)),
                       headers={"Content-Type": "application/x-protobuf"}).status_code == 200
    burst = spans(20, 100, slow=True)
    assert daemon.post("/v1/traces", json=json_request("shop", burst)).status_code == 200
    a = wait_anomalies(daemon, "otel.shop.traces")["anomalies"][0]
    assert a["stream_type"] == "traces"
    text = json.dumps(a["novel_lines"])
    assert '\\"status\\":\\"error\\"' in text and "tens_of_seconds" in text
    assert "database timeout" in text
    meta = a["metadata"]
    assert meta["resource"]["service.name"] == "shop"
    assert meta["scope"]["name"] == "shop-tracer"
    burst_traces = {s["trace"] for s in burst}
    assert meta["traceId"] in burst_traces and meta["duration_ms"] == 12000
