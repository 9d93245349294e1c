"""The C client library (src/client) through the CLI's --via zmq: requests and problems over
ZMQ, reconnecting with backoff across a daemon restart on the same port, and replies with
unknown ids discarded."""

import json
import os
import re
import subprocess
import threading
import time

import zmq

from conftest import free_port, daemon_env
from gzmq import SANITIZED, zmq_daemon

CLI_TIMEOUT = 60 if SANITIZED else 20


def cli(bin, *args, env=None, timeout=CLI_TIMEOUT):
    e = daemon_env(env)
    e.pop("GANGLION_TEST_ENDPOINTS", None)
    return subprocess.run([str(bin), *args], capture_output=True, text=True, env=e, timeout=timeout)


def test_cli_call_over_zmq_matches_http(make_daemon, bin):
    d, rpc, _ = zmq_daemon(make_daemon)
    for via, url in (("http", d.url), ("zmq", rpc)):
        r = cli(bin, "--via", via, "--url", url, "call", "POST", "/api/v1/test/echo",
                '{"name":"n","count":2}', env={"GANGLION_TOKEN": d.token})
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"name": "n", "count": 2}
        r = cli(bin, "--via", via, "--url", url, "call", "POST", "/api/v1/test/echo", '{"count":500}',
                env={"GANGLION_TOKEN": d.token})
        assert r.returncode == 1
        assert "422" in r.stderr and "/count" in r.stderr and "/name" in r.stderr
    # A URL of the HTTP daemon with --via zmq means its host on the default ZMQ port: nothing
    # listens there in this test, so the client gives up with exit code 3 (unreachable).
    r = cli(bin, "--via", "zmq", "--url", "tcp://127.0.0.1:%d" % free_port(), "--timeout", "1",
            "call", "GET", "/healthz")
    assert r.returncode == 3 and "cannot reach ganglion" in r.stderr


def test_reconnect_after_daemon_restart(make_daemon, bin):
    d, rpc, _ = zmq_daemon(make_daemon)
    assert cli(bin, "--via", "zmq", "--url", rpc, "call", "GET", "/healthz").returncode == 0
    assert d.stop() == 0
    proc = subprocess.Popen([str(bin), "--via", "zmq", "--url", rpc, "--timeout", str(CLI_TIMEOUT),
                             "call", "GET", "/healthz"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**daemon_env(), "GANGLION_DEBUG": "1"})
    time.sleep(2.0)
    assert proc.poll() is None, "the client gave up while the daemon was down"
    d.start()  # same data dir and the same ZMQ ports
    out, err = proc.communicate(timeout=CLI_TIMEOUT * 2)
    assert proc.returncode == 0, err
    assert json.loads(out) == {"status": "ok"}
    retries = [(int(a), int(b)) for a, b in re.findall(r"retry (\d+) in (\d+) ms", err)]
    assert len(retries) >= 4, err
    # Attempt k waits 100 ms · 2^(k-1) (capped at 30 s) scaled by a jitter in [0.5, 1).
    for k, delay in retries:
        nominal = min(100 * 2 ** (k - 1), 30000)
        assert k == retries.index((k, delay)) + 1
        assert nominal * 0.5 - 1 <= delay <= nominal, (k, delay)


def test_unknown_reply_ids_are_discarded(bin):
    """A server that first answers with a stranger's id: the client waits for its own."""
    port = free_port()
    ctx = zmq.Context.instance()
    srv = ctx.socket(zmq.ROUTER)
    srv.setsockopt(zmq.LINGER, 0)
    srv.bind(f"tcp://127.0.0.1:{port}")
    seen = []

    def serve():
        if srv.poll(CLI_TIMEOUT * 1000):
            peer, payload = srv.recv_multipart()
            req = json.loads(payload)
            seen.append(req)
            srv.send_multipart([peer, json.dumps({"id": "someone-else", "status": 500,
                                                  "body": {"wrong": True}}).encode()])
            srv.send_multipart([peer, b"not json at all"])
            srv.send_multipart([peer, json.dumps({"id": req["id"], "status": 200,
                                                  "body": {"right": True}}).encode()])

    t = threading.Thread(target=serve)
    t.start()
    r = cli(bin, "--via", "zmq", "--url", f"tcp://127.0.0.1:{port}", "call", "GET", "/x?a=1")
    t.join()
    srv.close(0)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"right": True}
    assert seen[0]["method"] == "GET" and seen[0]["path"] == "/x?a=1"
    assert isinstance(seen[0]["id"], str) and seen[0]["id"]


def test_local_admin_key_is_used_over_zmq(make_daemon, bin):
    """On the daemon's own machine the CLI finds the local admin key for a tcp:// URL too."""
    d, rpc, _ = zmq_daemon(make_daemon)
    env = {"GANGLION_DATA_DIR": str(d.data_dir)}
    r = cli(bin, "--via", "zmq", "--url", rpc, "call", "GET", "/api/v1/system/info", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "ganglion"
