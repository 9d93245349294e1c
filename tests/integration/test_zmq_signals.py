"""A signal never costs a ZMQ reply. libzmq looks at a socket's mailbox (poll with a zero timeout)
inside every send, receive and ZMQ_EVENTS look; a signal that arrives then — SIGCHLD, each time
an agent exits — makes the call fail with EINTR although nothing is wrong. The daemon used to
count such a send as "unroutable" and drop the reply (the client waited in vain), and a receive
between two frames split a request into two malformed halves. Here a preloaded poll() makes
every fifth such look fail with EINTR, and every request must still get its reply."""

import json
import os
import shutil
import subprocess
import time

import pytest
import zmq

from conftest import daemon_env
from gzmq import SANITIZED, decode, encode, zmq_daemon

SHIM = os.path.join(os.path.dirname(__file__), "shims", "eintr_poll.c")


@pytest.fixture
def eintr_shim(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if SANITIZED or not cc:
        pytest.skip("needs a C compiler, and a build without sanitizers (their runtime must "
                    "be preloaded first)")
    out = tmp_path / "eintr_poll.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(out), SHIM, "-ldl"], check=True)
    return str(out)


def _metric(d, name, **labels):
    return sum(s.value for s in d.metrics()[name].samples
               if all(s.labels.get(k) == v for k, v in labels.items()))


def test_every_request_answered_while_calls_are_interrupted(make_daemon, eintr_shim):
    d, rpc, _ = zmq_daemon(make_daemon, env={"LD_PRELOAD": eintr_shim,
                                             "GANGLION_TEST_EINTR_EVERY": "5"})
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(rpc)
    calls = [("GET", "/healthz", None, 200), ("GET", "/api/v1/watch/streams", None, 200),
             ("POST", "/api/v1/test/echo", {"name": "n"}, 200)]
    want, got = {}, {}
    n = 0
    deadline = time.monotonic() + 10
    for _ in range(20):  # 20 bursts of 40 pipelined requests, JSON and MessagePack
        burst = []
        for i in range(40):
            n += 1
            method, path, body, status = calls[n % len(calls)]
            enc = "msgpack" if n % 2 else "json"
            env = {"id": n, "method": method, "path": path, "token": d.token}
            if body is not None:
                env["body"] = dict(body, count=n % 100)
            want[n] = (enc, status)
            burst.append(n)
            sock.send(encode(env, enc))
        while any(i not in got for i in burst) and time.monotonic() < deadline:
            if sock.poll(200):
                payload = sock.recv_multipart()[-1]
                rep = decode(payload, "json" if payload[:1] == b"{" else "msgpack")
                got[rep["id"]] = rep["status"]
    sock.close(0)
    missing = sorted(i for i in want if i not in got)
    assert not missing, f"{len(missing)} of {len(want)} requests without a reply: {missing[:10]}"
    wrong = {i: got[i] for i in want if got[i] != want[i][1]}
    assert not wrong, f"unexpected statuses: {dict(list(wrong.items())[:10])}"
    # Nothing was dropped on the way, in either direction.
    assert _metric(d, "ganglion_zmq_dropped_total") == 0
    assert _metric(d, "ganglion_zmq_malformed_total") == 0
    assert _metric(d, "ganglion_zmq_messages_in_total") == len(want)
    assert _metric(d, "ganglion_zmq_messages_out_total") == len(want)


def test_cli_requests_are_not_retried_when_calls_are_interrupted(make_daemon, bin, eintr_shim):
    """The CLI's ZMQ client under the same interruptions (one look at its socket's
    mailbox in three fails with EINTR): every call answers at once, without a reconnect."""
    d, rpc, _ = zmq_daemon(make_daemon)
    env = {**daemon_env(), "GANGLION_DEBUG": "1", "GANGLION_TOKEN": d.token,
           "LD_PRELOAD": eintr_shim, "GANGLION_TEST_EINTR_EVERY": "3"}
    for i in range(10):
        r = subprocess.run([str(bin), "--via", "zmq", "--url", rpc, "--timeout", "20", "call",
                            "POST", "/api/v1/test/echo", json.dumps({"name": "n", "count": i})],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"name": "n", "count": i}
        assert "retry" not in r.stderr, r.stderr
