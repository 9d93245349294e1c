"""The value budget on JSON request bodies over HTTP: a body of millions of empty arrays inside
the byte limit is refused with a 413 problem naming the budget before it is built, memory stays
where it was, memory a large body within its budget cost goes back after the reply, and the
lines of an NDJSON body share one budget."""

import pytest

from conftest import SANITIZED, assert_problem

BUDGET = "urn:ganglion:problem:json-over-budget"


def _rss_mb(d):
    with open(f"/proc/{d.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_body_of_empty_arrays_is_refused_by_its_budget(make_daemon):
    """8 MB of `[]` (2.7 million arrays, ~330 MB once built) to a public endpoint: 413 from the
    scan, and 20 of them leave RSS flat."""
    d = make_daemon(args=["--set", "server.body_limit=8M"])
    body = b"[" + b",".join([b"[]"] * 2_700_000) + b"]"
    assert len(body) < 8 * 1024 * 1024
    start = _rss_mb(d)
    for i in range(20):
        r = d.post("/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"},
                   timeout=30)
        assert_problem(r, 413)
        p = r.json()
        assert p["type"] == BUDGET and p["max_containers"] == 131072, p
        assert "per KiB" in p["detail"]
        if not SANITIZED:
            rss = _rss_mb(d)
            assert rss < start + 48, f"RSS {start:.0f} MB -> {rss:.0f} MB after {i + 1} bodies"
    # A body of the same size that is mostly text is within its budget (and validated).
    r = d.post("/api/v1/test/echo", json={"name": "x" * 1_000_000, "tags": [str(i) for i in
                                                                           range(20000)]},
               timeout=30)
    assert r.status_code in (200, 422), r.text[:300]


def test_memory_returns_after_a_large_decoded_body(make_daemon):
    """A body within its budget but dear to build (2 MB of text and 130 000 `{}`), sent to the
    public login endpoint and refused there after decoding (422): the 30 MB it cost goes back."""
    d = make_daemon(args=["--set", "server.body_limit=8M", "--set", "ratelimit.enabled=0"])
    body = (b'{"username":"' + b"x" * 2_000_000 + b'","items":['
            + b",".join([b"{}"] * 130_000) + b"]}")
    start = _rss_mb(d)
    for i in range(10):
        r = d.post("/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"},
                   timeout=30)
        assert_problem(r, 422)
        if not SANITIZED:
            rss = _rss_mb(d)
            assert rss < start + 16, f"RSS {start:.0f} MB -> {rss:.0f} MB after {i + 1} bodies"


@pytest.mark.parametrize("ctype", ["application/json", "application/x-ndjson"])
def test_watch_ingest_body_shares_one_budget(daemon, ctype):
    """1 MB of events that are arrays of 200 empty arrays: as one JSON array or as 1 700 NDJSON
    lines (each small enough alone), the body is over its budget."""
    event = b"[" + b",".join([b"[]"] * 200) + b"]"
    n = 1_000_000 // (len(event) + 1)
    data = (b"\n".join([event] * n) if ctype.endswith("ndjson")
            else b"[" + b",".join([event] * n) + b"]")
    r = daemon.post("/api/v1/watch/events?stream=budget", data=data,
                    headers={"Content-Type": ctype}, timeout=30)
    assert_problem(r, 413)
    assert r.json()["type"] == BUDGET


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _msg(field, payload):
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def test_otlp_protobuf_of_empty_records_is_refused_by_its_budget(make_daemon):
    """OTLP/HTTP protobuf has the same budget: 1 MB of empty log records (two bytes each, half a
    million records, hundreds of MB once built as OTLP/JSON and converted) is a 413, RSS flat."""
    d = make_daemon()
    records = b"\x12\x00" * 480_000  # ScopeLogs.log_records (2), each an empty LogRecord
    body = _msg(1, _msg(2, records))  # ExportLogsServiceRequest.resource_logs.scope_logs
    assert len(body) < 1024 * 1024
    start = _rss_mb(d)
    for i in range(5):
        r = d.post("/v1/logs", data=body, headers={"Content-Type": "application/x-protobuf"},
                   timeout=30)
        assert_problem(r, 413)
        assert r.json()["type"] == BUDGET
        if not SANITIZED:
            rss = _rss_mb(d)
            assert rss < start + 48, f"RSS {start:.0f} MB -> {rss:.0f} MB after {i + 1} bodies"
    # a small export of the same shape is accepted
    r = d.post("/v1/logs", data=_msg(1, _msg(2, b"\x12\x00" * 3)),
               headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200, r.text
