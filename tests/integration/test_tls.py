"""HTTPS on the HTTP listener ([tls]): a certificate from `ganglion cert self-signed`, the real
daemon, curl and Python's ssl as clients; TLS 1.0/1.1 refused (with a control daemon showing the
same client can speak them); bad files refuse the start; the CLI over https; and the security
headers on every reply, with and without TLS."""

import json
import os
import shutil
import socket
import ssl
import stat
import subprocess

import pytest
import requests

from conftest import SANITIZED, Daemon, DaemonStartError, _finish

CURL = shutil.which("curl")
TIMEOUT = 30 if SANITIZED else 10
CSP_API = "default-src 'none'; frame-ancestors 'none'"

needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


def client_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("GANGLION_URL", "GANGLION_TOKEN", "GANGLION_DATA_DIR", "GANGLION_CACERT")}
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def cli(bin, *args, env=None, cwd=None):
    r = subprocess.run([str(bin), *args], capture_output=True, text=True, timeout=TIMEOUT * 3,
                       env=env or client_env(), cwd=cwd)
    for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
        assert marker not in r.stderr, r.stderr
    return r


def curl(*args):
    """Runs curl; returns (exit code, stdout, stderr)."""
    r = subprocess.run([CURL, "-sS", "--max-time", str(TIMEOUT), *args], capture_output=True,
                       text=True, timeout=TIMEOUT * 2)
    return r.returncode, r.stdout, r.stderr


class TlsDaemon(Daemon):
    """A daemon serving HTTPS with the given files; the harness's health check trusts `cafile`."""

    def __init__(self, *a, cert=None, key=None, cafile=None, priorities=None, **kw):
        super().__init__(*a, **kw)
        if cert:
            self.env["GANGLION_TLS_CERT_FILE"] = str(cert)
        if key:
            self.env["GANGLION_TLS_KEY_FILE"] = str(key)
        if priorities:
            self.env["GANGLION_TLS_PRIORITIES"] = priorities
        self.http.verify = str(cafile or cert)

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture
def make_tls(bin, tmp_path):
    made = []

    def make(cert, key, start=True, **kw):
        d = TlsDaemon(bin, tmp_path, cert=cert, key=key, name=f"tls{len(made)}", **kw)
        made.append(d)
        if start:
            d.start()
        return d

    yield make
    problems = []
    for d in made:
        problems += _finish(d)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def self_signed(bin, out, *extra):
    r = cli(bin, "cert", "self-signed", "--out", str(out), *extra)
    assert r.returncode == 0, r.stderr
    return out / "cert.pem", out / "key.pem", r


@pytest.fixture(scope="module")
def certs(bin, tmp_path_factory):
    """One generated certificate for the module (generation is the slow part)."""
    out = tmp_path_factory.mktemp("tls") / "dev"
    cert, key, _ = self_signed(bin, out, "--host", "ganglion.test")
    return cert, key


@pytest.fixture
def tls_daemon(make_tls, certs):
    return make_tls(*certs)


def assert_security_headers(h, tls):
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "no-referrer"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Content-Security-Policy"] == CSP_API
    if tls:
        assert h["Strict-Transport-Security"].startswith("max-age=")
        assert int(h["Strict-Transport-Security"].split("=")[1]) >= 86400 * 180
    else:
        assert "Strict-Transport-Security" not in h


# ---- ganglion cert self-signed ------------------------------------------------------------

def test_cert_command_writes_key_0600_and_prints_config(bin, tmp_path):
    out = tmp_path / "a" / "b"
    cert, key, r = self_signed(bin, out, "--host", "ganglion.test", "--host", "10.9.8.7",
                               "--days", "30")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert f"cert_file = {cert}" in r.stdout and f"key_file = {key}" in r.stdout
    assert "[tls]" in r.stdout and "--cacert" in r.stdout
    info = ssl._ssl._test_decode_cert(str(cert))
    sans = {v for _, v in info["subjectAltName"]}
    assert {"localhost", "127.0.0.1", "ganglion.test", "10.9.8.7"} <= sans
    assert any(v.replace("0:", "").strip() in ("1", "::1") for v in sans), sans  # ::1

    # Existing files are kept unless --force; nothing is half-written.
    before = key.read_bytes()
    r = cli(bin, "cert", "self-signed", "--out", str(out))
    assert r.returncode == 1 and "already exists" in r.stderr and "--force" in r.stderr
    assert key.read_bytes() == before
    r = cli(bin, "--json", "cert", "self-signed", "--out", str(out), "--force")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["cert_file"] == str(cert) and doc["key_file"] == str(key)
    assert key.read_bytes() != before

    for bad in (["--days", "0"], ["--days", "x"], ["--host", "not a host"], ["--bogus"]):
        r = cli(bin, "cert", "self-signed", "--out", str(tmp_path / "c"), *bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert r.stderr.startswith("error:")
    assert not (tmp_path / "c" / "key.pem").exists()


def test_cert_command_default_dir_is_the_data_dir(bin, tmp_path):
    r = cli(bin, "cert", "self-signed", env=client_env(GANGLION_DATA_DIR=str(tmp_path / "data")))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data" / "tls" / "key.pem").is_file()


# ---- HTTPS -------------------------------------------------------------------------------

@needs_curl
def test_https_with_cacert_and_plain_http_refused(tls_daemon, certs):
    cert, _ = certs
    rc, out, err = curl("--cacert", str(cert), tls_daemon.url + "/healthz")
    assert rc == 0, err
    assert json.loads(out)["status"] == "ok"
    # The name in the certificate's SANs works as well as the address.
    rc, out, err = curl("--cacert", str(cert), "--resolve",
                        f"ganglion.test:{tls_daemon.port}:127.0.0.1",
                        f"https://ganglion.test:{tls_daemon.port}/healthz")
    assert rc == 0, err

    # Without trusting the certificate, curl refuses it (60: peer certificate not verified).
    rc, _, _ = curl(tls_daemon.url + "/healthz")
    assert rc == 60
    # Plain HTTP to the TLS port gets no HTTP answer.
    rc, out, _ = curl("-i", f"http://127.0.0.1:{tls_daemon.port}/healthz")
    assert rc != 0 and "HTTP/" not in out
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{tls_daemon.port}/healthz", timeout=TIMEOUT)
    # Python's requests verifies against the same file.
    r = requests.get(tls_daemon.url + "/healthz", verify=str(cert), timeout=TIMEOUT)
    assert r.status_code == 200
    assert tls_daemon.get("/healthz").status_code == 200  # still serving after the failures


def tls_handshake(port, cafile, version):
    """(negotiated version, cipher name) from Python's ssl pinned to one TLS version."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.minimum_version = ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.version(), s.cipher()[0]


@needs_curl
def test_tls12_and_tls13_succeed_with_aead_ciphers(tls_daemon, certs):
    cert, _ = certs
    for flags in (["--tlsv1.2", "--tls-max", "1.2"], ["--tlsv1.3", "--tls-max", "1.3"]):
        rc, out, err = curl("--cacert", str(cert), *flags, "-o", "/dev/null", "-w",
                            "%{http_code}", tls_daemon.url + "/healthz")
        assert (rc, out) == (0, "200"), (flags, err)
    for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        got, cipher = tls_handshake(tls_daemon.port, cert, version)
        assert got == name
        assert "GCM" in cipher or "CHACHA20" in cipher, cipher


@needs_curl
def test_tls10_and_tls11_refused(make_tls, certs):
    cert, key = certs
    # OpenSSL on the client side refuses old versions at its default security level, so lower
    # it; the control daemon (which allows them) shows this client really speaks them.
    old = [["--tlsv1.1", "--tls-max", "1.1"], ["--tlsv1.0", "--tls-max", "1.0"]]
    legacy = ["--ciphers", "DEFAULT@SECLEVEL=0", "--cacert", str(cert), "-o", "/dev/null",
              "-w", "%{http_code}"]
    control = make_tls(cert, key, priorities="NORMAL:+VERS-TLS1.1:+VERS-TLS1.0")
    for flags in old:
        rc, out, err = curl(*legacy, *flags, control.url + "/healthz")
        if rc != 0:
            pytest.skip(f"this curl/OpenSSL cannot speak {flags[-1]} at all: {err.strip()}")
        assert out == "200"
    d = make_tls(cert, key)
    for flags in old:
        rc, out, err = curl(*legacy, *flags, d.url + "/healthz")
        assert rc == 35 and out == "000", (flags, rc, err)  # 35: the TLS handshake failed
    assert d.get("/healthz").status_code == 200


def test_bad_tls_files_refuse_to_start(make_tls, bin, certs, tmp_path):
    cert, key = certs
    other_cert, other_key, _ = self_signed(bin, tmp_path / "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    missing = tmp_path / "missing.pem"
    cases = [
        (missing, key, ["tls.cert_file", str(missing), "No such file"]),
        (cert, missing, ["tls.key_file", str(missing), "No such file"]),
        (garbage, key, ["tls.cert_file", str(garbage), "not a PEM certificate"]),
        (cert, cert, ["tls.key_file", str(cert), "not a PEM private key"]),
        (cert, other_key, ["tls.key_file", str(other_key), "does not match", str(cert)]),
        (cert, None, ["tls.cert_file is set but tls.key_file is not"]),
        (None, key, ["tls.key_file is set but tls.cert_file is not"]),
    ]
    for c, k, needles in cases:
        d = make_tls(c, k, start=False, cafile=other_cert)
        with pytest.raises(DaemonStartError):
            d.start()
        assert d.returncode not in (0, None)
        err = d.stderr()
        for n in needles:
            assert n in err, (n, err[-2000:])
    d = make_tls(cert, key, start=False, priorities="NORMAL:+NO-SUCH-CIPHER")
    with pytest.raises(DaemonStartError):
        d.start()
    assert "tls.priorities" in d.stderr() and "NO-SUCH-CIPHER" in d.stderr()


def test_key_readable_by_others_is_a_warning(make_tls, certs, tmp_path):
    cert, key = certs
    loose = tmp_path / "loose-key.pem"
    shutil.copyfile(key, loose)
    os.chmod(loose, 0o644)
    d = make_tls(cert, loose)
    warns = [l for l in d.log_lines() if l.get("level") == "warn" and "key file" in l.get("msg", "")]
    assert warns and warns[0]["key_file"] == str(loose) and warns[0]["mode"] == "0644", d.log_lines()
    on = [l for l in d.log_lines() if l.get("msg", "").startswith("tls: HTTPS")]
    assert on and on[0]["cert_file"] == str(cert)


def test_event_stream_over_https(tls_daemon):
    """SSE runs over TLS too: the stream's socket watch and suspend/resume see TLS records."""
    r = tls_daemon.http.get(tls_daemon.url + "/api/v1/stream?topics=demo.*", stream=True,
                            timeout=TIMEOUT)
    try:
        assert r.status_code == 200 and r.headers["Content-Type"] == "text/event-stream"
        assert_security_headers(r.headers, tls=True)
        lines = r.iter_lines(chunk_size=1)
        assert next(lines).startswith(b": connected")
        tls_daemon.publish("demo.tls", {"over": "tls"})
        for line in lines:
            if line.startswith(b"data:"):
                assert json.loads(line[5:]) == {"over": "tls"}
                break
    finally:
        r.close()
    assert tls_daemon.get("/healthz").status_code == 200


# ---- the CLI over https --------------------------------------------------------------------

def test_cli_status_over_https(tls_daemon, certs, bin):
    cert, _ = certs
    # The data dir lets the client pick up the daemon's local credential when there is one.
    cli_env = client_env(GANGLION_DATA_DIR=str(tls_daemon.data_dir))
    r = cli(bin, "status", "--url", tls_daemon.url, "--cacert", str(cert), env=cli_env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok" in r.stdout
    r = cli(bin, "--json", "status", env=dict(cli_env, GANGLION_URL=tls_daemon.url,
                                               GANGLION_CACERT=str(cert)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["status"] == "ok"

    # Not trusted: a failure that says how to fix it; --insecure skips the check.
    r = cli(bin, "--url", tls_daemon.url, "call", "GET", "/healthz", env=cli_env)
    assert r.returncode != 0 and "--cacert" in r.stderr, r.stderr
    r = cli(bin, "--url", tls_daemon.url, "--insecure", "call", "GET", "/healthz", env=cli_env)
    assert r.returncode == 0, r.stderr
    # http:// to the HTTPS port: the daemon hangs up, and the client says what to change.
    r = cli(bin, "--url", f"http://127.0.0.1:{tls_daemon.port}", "call", "GET", "/healthz",
            env=cli_env)
    assert r.returncode != 0 and "https://" in r.stderr, r.stderr
    r = cli(bin, "--url", tls_daemon.url, "--cacert", str(cert.parent / "nope.pem"), "status",
            env=cli_env)
    assert r.returncode == 2 and "nope.pem" in r.stderr


# ---- security headers ----------------------------------------------------------------------

def test_security_headers_over_https(tls_daemon):
    r = tls_daemon.get("/healthz")
    assert r.status_code == 200
    assert_security_headers(r.headers, tls=True)
    r = tls_daemon.get("/no/such/endpoint")
    assert r.status_code == 404 and r.headers["Content-Type"] == "application/problem+json"
    assert_security_headers(r.headers, tls=True)


def test_hsts_max_age_configurable(make_tls, certs):
    cert, key = certs
    d = make_tls(cert, key, env={"GANGLION_TLS_HSTS_MAX_AGE_S": "0"})
    r = d.get("/healthz")
    assert r.status_code == 200 and "Strict-Transport-Security" not in r.headers
    assert r.headers["Content-Security-Policy"] == CSP_API
    d2 = make_tls(cert, key, env={"GANGLION_TLS_HSTS_MAX_AGE_S": "600"})
    assert d2.get("/healthz").headers["Strict-Transport-Security"] == "max-age=600"


def test_security_headers_over_http(daemon):
    for method, path, kw, status in (
        ("GET", "/healthz", {}, 200),
        ("GET", "/no/such/endpoint", {}, 404),
        ("POST", "/healthz", {"json": {}}, 405),
    ):
        r = daemon.request(method, path, **kw)
        assert r.status_code == status, (path, r.status_code, r.text)
        assert_security_headers(r.headers, tls=False)

    # The transport's own problem (413, answered from the headers before any body is read).
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=TIMEOUT) as s:
        s.sendall(b"POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 104857600\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("HTTP/1.1 413"), head
    headers = dict(l.split(": ", 1) for l in head.split("\r\n")[1:])
    assert_security_headers(headers, tls=False)


def test_large_body_over_https(tls_daemon):
    """A body larger than the connection's read buffer: GnuTLS holds decrypted bytes the socket
    no longer signals, and the connection must read them (this used to hang)."""
    for size in (20000, 200000):
        assert tls_daemon.publish("demo.big", {"s": "x" * size}) > 0


# ---- WebSocket over TLS --------------------------------------------------------------------

@pytest.mark.parametrize("SIZE", [10, 40000])
def test_websocket_over_wss(tls_daemon, certs, SIZE):
    """wss:// works through the same TLS connection code: an RPC and an event, large enough to
    span several TLS records."""
    import asyncio
    import ssl

    import websockets

    ctx = ssl.create_default_context(cafile=str(certs[0]))

    async def go():
        async with websockets.connect(
                f"wss://127.0.0.1:{tls_daemon.port}/api/v1/ws", ssl=ctx,
                server_hostname="ganglion.test", max_size=None,
                extra_headers={"Authorization": f"Bearer {tls_daemon.token}"}) as ws:
            await ws.send(json.dumps({"id": 1, "method": "GET", "path": "/openapi.json"}))
            r = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert r["id"] == 1 and r["status"] == 200 and r["body"]["openapi"].startswith("3.1")
            await ws.send(json.dumps({"type": "subscribe", "topics": ["demo.*"]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "subscribed"
            await asyncio.to_thread(tls_daemon.publish, "demo.wss", {"s": "x" * SIZE})
            m = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert m["topic"] == "demo.wss" and len(m["data"]["s"]) == SIZE
    asyncio.run(go())


def test_cli_chat_over_wss(tls_daemon, certs, bin):
    cert, _ = certs
    cli_env = client_env(GANGLION_DATA_DIR=str(tls_daemon.data_dir), GANGLION_URL=tls_daemon.url,
                         GANGLION_CACERT=str(cert))
    echo = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "echo_llm.py")
    r = cli(bin, "agent", "spawn", "echo", "--", "python3", echo, "0.001", env=cli_env)
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli(bin, "chat", "echo", "--message", "over tls", env=cli_env)
    assert r.returncode == 0 and r.stdout == "You said: over tls\n", r.stdout + r.stderr
    r = cli(bin, "chat", "echo", "--message", "x", env=dict(cli_env, GANGLION_CACERT=""))
    assert r.returncode == 3 and "cannot reach" in r.stderr, r.stderr


def test_busy_https_daemon_checkpoints_and_stops_cleanly(make_tls, certs):
    """Writes over HTTPS until the SQLite WAL needs a checkpoint: the store's checkpoint thread
    starts then (after the TLS library is loaded) and runs it, the WAL file stays bounded, and
    the daemon still stops cleanly (the fixture checks its exit, sanitizers included)."""
    d = make_tls(*certs)
    done = 0.0
    for i in range(3000):
        r = d.post("/api/v1/memory/records",
                   json={"layer": "episodic", "content": f"{i} " + "x" * 3000})
        assert r.status_code == 201, r.text
        if i % 100 == 99:
            done = d.metrics()["ganglion_store_checkpoints_total"].samples[0].value
            if done > 0:
                break
    assert done > 0
    wal = d.data_dir / "ganglion.db-wal"
    assert wal.stat().st_size < 24 * 1024 * 1024
