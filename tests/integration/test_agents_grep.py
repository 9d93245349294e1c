"""The output grep chosen by a client cannot stall the daemon: patterns that backtrack badly
over output an agent printed itself are matched off the loop thread within a budget, while
/healthz keeps answering; refusals are clear (422 on grep, 503 with Retry-After when too many
searches run) over HTTP and ZMQ."""
import socket
import threading
import time

from agents_util import PY, SLOW, output, spawn, wait_status
from conftest import assert_problem, http
from gzmq import Client, zmq_daemon

# stderr first: 20 000 lines of 18 'a' (each costs (a|aa)*[bc] about 40 000 steps, under the
# per-match limit, so only the CPU budget stops it); then 1 MiB of 'a' on stdout without a
# newline (records of agents.line_max bytes), what the tester's agent printed
PRINTER = ("import sys\n"
           "sys.stderr.write(('a' * 18 + '\\n') * 20000); sys.stderr.flush()\n"
           "sys.stdout.write('a' * (1 << 20)); sys.stdout.flush()\n")
GREP_WAIT = 20 * SLOW  # the old daemon took 26 s for one such request


def _printer(d):
    a = spawn(d, name="aaaa", argv=[PY, "-c", PRINTER])
    wait_status(d, a["id"], "completed", timeout=30)
    return a["id"]


def _grep_in_background(d, aid, pattern):
    """Sends the grep on its own connection; returns (thread, result dict)."""
    res = {}

    def run():
        s = http()
        t0 = time.monotonic()
        try:
            res["r"] = s.get(f"{d.url}/api/v1/agents/{aid}/output",
                             params={"grep": pattern, "limit": 5}, timeout=GREP_WAIT)
        except Exception as e:  # a timeout is the failure being tested for
            res["error"] = repr(e)
        res["s"] = time.monotonic() - t0

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, res


def _health_while(d, t):
    """Polls /healthz on another connection while t runs; returns the answers received while
    it was still running. Every probe must answer within 2 s."""
    s = http()
    during = 0
    while t.is_alive():
        t0 = time.monotonic()
        r = s.get(f"{d.url}/healthz", timeout=2 * SLOW)
        assert r.status_code == 200, r.text
        assert time.monotonic() - t0 < 2 * SLOW
        if t.is_alive():
            during += 1
        time.sleep(0.05)
    return during


def test_evil_grep_leaves_the_daemon_responsive(make_daemon):
    d = make_daemon(args=("--set", "agents.grep_budget_ms=1500"))
    aid = _printer(d)
    seen_during = 0
    # the reported pattern (PCRE2 rules it out at once: no 'c' in the line) and one that does
    # backtrack on every line until the budget runs out
    for pattern in ("(a|aa)*c", "(a|aa)*[bc]"):
        t, res = _grep_in_background(d, aid, pattern)
        seen_during += _health_while(d, t)
        t.join(GREP_WAIT)
        assert "r" in res, f"grep {pattern!r} got no answer: {res.get('error')}"
        r = res["r"]
        if r.status_code == 200:
            assert r.json()["total"] == 0
        elif r.status_code == 503:
            # within its CPU budget but past its wall-clock deadline (4x): a loaded machine
            assert_problem(r, 503)
            assert r.headers["Retry-After"] == "1"
        else:
            body = assert_problem(r, 422, "grep", in_="query")
            assert "budget" in body["errors"][0]["message"]
        # the CPU budget is 1.5 s and the deadline 6 s, whatever the load
        assert res["s"] < 10 * SLOW, f"{pattern!r} took {res['s']:.1f} s"
    assert seen_during > 0, "/healthz was never answered while a grep was in flight"
    # on the 16 KiB records of 'a' the first line is past the match limit: always a 422
    r = d.get(f"/api/v1/agents/{aid}/output", params={"grep": "(a|aa)*[bc]", "stream": "stdout"})
    body = assert_problem(r, 422, "grep", in_="query")
    assert "match limit" in body["errors"][0]["message"]
    # and ordinary greps over the same output still work
    o = d.get(f"/api/v1/agents/{aid}/output",
              params={"grep": "^a{18}$", "stream": "stderr", "tail": 2}).json()
    assert o["total"] > 1000 and len(o["lines"]) == 2 and o["lines"][0]["stream"] == "stderr"


def test_grep_refusals_over_http_and_zmq(make_daemon):
    d, rpc, _ = zmq_daemon(make_daemon, args=("--set", "agents.grep_jobs=1",
                                              "--set", "agents.grep_budget_ms=2000"))
    aid = _printer(d)
    path = f"/api/v1/agents/{aid}/output"
    c = Client(rpc)
    for bad, why in (("(unclosed", "not a valid"), ("[\\]", "not a valid"),
                     ("a" * 513, None)):
        r = d.get(path, params={"grep": bad})
        assert_problem(r, 422 if why else (400, 422), "grep")
        if why:
            assert why in r.json()["errors"][0]["message"]
        z = c.call("GET", path, query={"grep": bad})
        assert z["status"] == r.status_code and z["body"]["errors"][0]["field"] == "grep"
    # one slow search holds the only slot: the next is told to come back
    t, res = _grep_in_background(d, aid, "(a|aa)*[bc]")
    end = time.monotonic() + GREP_WAIT
    while d.get("/api/v1/agents/stats").json()["grep"]["running"] == 0 and t.is_alive():
        assert time.monotonic() < end
        time.sleep(0.01)
    busy = d.get(path, params={"grep": "x"})
    z = c.call("GET", path, query={"grep": "x"})
    assert t.is_alive(), "the slow search ended early; the refusals below prove nothing"
    assert_problem(busy, 503)
    assert busy.headers["Retry-After"] == "1"
    assert z["status"] == 503 and z["headers"]["Retry-After"] == "1", z
    t.join(GREP_WAIT)
    assert_problem(res["r"], (422, 503))
    # a client that goes away mid-search: its reply is dropped and the slot comes back
    end = time.monotonic() + GREP_WAIT
    with socket.create_connection(("127.0.0.1", d.port)) as sk:
        sk.sendall((f"GET {path}?grep=(a%7Caa)*%5Bbc%5D HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {d.token}\r\n\r\n").encode())
        while d.get("/api/v1/agents/stats").json()["grep"]["running"] == 0:
            assert time.monotonic() < end
            time.sleep(0.01)
    end = time.monotonic() + GREP_WAIT
    while d.get("/api/v1/agents/stats").json()["grep"]["running"] != 0:
        assert time.monotonic() < end, "the search of a departed client never ended"
        time.sleep(0.05)
    assert d.get("/healthz").status_code == 200
    # the slot is free again, over both transports
    assert d.get(path, params={"grep": "x"}).json()["total"] == 0
    z = c.call("GET", path, query={"grep": "^a+$", "stream": "stdout"})
    assert z["status"] == 200 and z["body"]["total"] > 0


def test_grep_pages_like_the_plain_query(daemon):
    """The search answers from its copy of the lines exactly as the query without a pattern
    does: since, stream, offset/limit and tail select among the matching lines."""
    a = spawn(daemon, name="mix", argv=["sh", "-c",
              "for i in 1 2 3 4 5 6 7 8 9 10; do echo out$i; echo err$i >&2; done"])
    wait_status(daemon, a["id"], "completed")
    o = output(daemon, a["id"], grep="1", stream="stdout")
    assert [l["text"] for l in o["lines"]] == ["out1", "out10"] and o["total"] == 2
    five = next(l["seq"] for l in output(daemon, a["id"])["lines"] if l["text"] == "out5")
    o = output(daemon, a["id"], grep="^out", since=five)
    assert [l["text"] for l in o["lines"]] == ["out6", "out7", "out8", "out9", "out10"]
    assert all(l["seq"] > five for l in o["lines"]) and o["total"] == 5
    o = output(daemon, a["id"], grep="out", offset=2, limit=3)
    assert [l["text"] for l in o["lines"]] == ["out3", "out4", "out5"]
    assert o["has_more"] and o["next_since"] == o["lines"][-1]["seq"] and o["total"] == 10
    o = output(daemon, a["id"], grep="err", tail=2)
    assert [l["text"] for l in o["lines"]] == ["err9", "err10"]
    assert o["first_seq"] == 1 and o["last_seq"] == 20
