"""Helpers for the MQTT transport tests: a real Mosquitto broker started by
tests/harness/mqtt-start on a free loopback port (stopped by pid through mqtt-stop), a daemon
connected to it, and a small MQTT 5 client speaking the RPC envelope."""

import itertools
import json
import os
import queue
import socket
import subprocess
import time
from pathlib import Path

import msgpack
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

HARNESS = Path(__file__).resolve().parents[1] / "harness"
SANITIZED = os.environ.get("GANGLION_SANITIZED") == "1"
TIMEOUT = 15.0 if SANITIZED else 5.0


class Broker:
    """One mosquitto process. start() picks a free port the first time and keeps it, so a
    restart listens where the daemon expects the broker."""

    def __init__(self, user=None, password=None, tls=None):
        self.user, self.password = user, password
        self.tls = tls or {}  # MQTT_CERTFILE, MQTT_KEYFILE, MQTT_CAFILE, MQTT_REQUIRE_CERT
        self.port = None
        self.dir = None

    @property
    def url(self):
        return f"mqtt{'s' if self.tls else ''}://127.0.0.1:{self.port}"

    def start(self):
        env = dict(os.environ)
        if self.user:
            env.update(MQTT_USER=self.user, MQTT_PASSWORD=self.password or "")
        env.update({k: str(v) for k, v in self.tls.items()})
        args = [str(HARNESS / "mqtt-start")] + ([str(self.port)] if self.port else [])
        out = subprocess.run(args, env=env, check=True, capture_output=True, text=True,
                             timeout=30).stdout
        kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.dir = kv["GANGLION_TEST_MQTT_DIR"]
        self.port = int(kv["GANGLION_TEST_MQTT_URL"].rsplit(":", 1)[1])
        return self

    def stop(self):
        if self.dir:
            subprocess.run([str(HARNESS / "mqtt-stop"), self.dir], check=False, timeout=30)
            self.dir = None


class Client:
    """An MQTT 5 client of the daemon's RPC topics. call() publishes one envelope and waits for
    the reply whose id matches (on the response topic it named, or the default reply topic)."""

    _ids = itertools.count(1)

    def __init__(self, broker, name="t", prefix="ganglion", user=None, password=None,
                 tls_ca=None, tls_cert=None, tls_key=None):
        self.prefix, self.name = prefix, name
        self.replies = queue.Queue()
        self.messages = queue.Queue()
        self.c = mqtt.Client(client_id=f"test-{name}-{os.getpid()}-{next(self._ids)}",
                             protocol=mqtt.MQTTv5)
        if user:
            self.c.username_pw_set(user, password)
        if tls_ca:
            self.c.tls_set(ca_certs=str(tls_ca), certfile=tls_cert and str(tls_cert),
                           keyfile=tls_key and str(tls_key))
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", broker.port)
        # small request after small request: Nagle would hold each behind a delayed ACK
        self.c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.c.loop_start()
        self.subscribe(f"{prefix}/rpc/reply/{name}")
        self.subscribe(f"{prefix}/rpc/mine/{name}")

    def _on_message(self, _c, _u, m):
        corr = getattr(m.properties, "CorrelationData", None) if m.properties else None
        item = (m.topic, m.payload, corr)
        if "/rpc/" in m.topic or m.topic.endswith("/reply"):
            self.replies.put(item)
        else:
            self.messages.put(item)

    def subscribe(self, topic, qos=1):
        done = queue.Queue()
        self.c.on_subscribe = lambda *a: done.put(True)
        self.c.subscribe(topic, qos)
        done.get(timeout=TIMEOUT)

    def publish(self, topic, payload, response_topic=None, correlation=None, qos=1):
        props = None
        if response_topic or correlation:
            props = Properties(PacketTypes.PUBLISH)
            if response_topic:
                props.ResponseTopic = response_topic
            if correlation:
                props.CorrelationData = correlation
        info = self.c.publish(topic, payload, qos=qos, properties=props)
        info.wait_for_publish(TIMEOUT)

    def reply(self, id_, timeout=TIMEOUT):
        """The next reply carrying id_: (topic, envelope, correlation data)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no MQTT reply with id {id_!r}")
            try:
                topic, payload, corr = self.replies.get(timeout=left)
            except queue.Empty:
                continue
            env = json.loads(payload) if payload[:1] == b"{" else msgpack.unpackb(payload, raw=False)
            if env.get("id") == id_:
                return topic, env, corr

    def no_reply(self, seconds):
        """True when no reply at all arrives within seconds (for dropped messages)."""
        try:
            self.replies.get(timeout=seconds)
            return False
        except queue.Empty:
            return True

    def call(self, method, path, body=None, query=None, token=None, id=None, timeout=TIMEOUT,
             enc="json"):
        id_ = id if id is not None else f"m-{next(self._ids)}"
        env = {"id": id_, "method": method, "path": path}
        if body is not None:
            env["body"] = body
        if query is not None:
            env["query"] = query
        if token is not None:
            env["token"] = token
        payload = msgpack.packb(env, use_bin_type=True) if enc == "msgpack" else json.dumps(env)
        self.publish(f"{self.prefix}/rpc/request/{self.name}", payload)
        return self.reply(id_, timeout)[1]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def metric(d, name, **labels):
    """The value of one sample of the daemon's /metrics, or None when absent."""
    fam = d.metrics().get(name)
    found = fam.find(**labels) if fam else []
    return found[0].value if found else None


def wait_connected(d, timeout=TIMEOUT * 2):
    """Waits until the daemon reports its broker connection up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metric(d, "ganglion_mqtt_connected") == 1:
            return
        time.sleep(0.05)
    raise AssertionError("the daemon did not connect to the broker:\n" + d.stderr()[-2000:])


def make_pki(d):
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, in d."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=30)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=ganglion test CA")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        Path(d, f"{name}.ext").write_text(ext + "\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")
    return {k: Path(d, k) for k in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}
