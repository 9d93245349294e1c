"""Self-checks of the fixtures: the teardown really reports sanitizer output and crashes.
Uses a stand-in daemon (a few lines of Python) so it does not depend on the real binary."""

import os
import signal
import sys
import textwrap

from conftest import Daemon, _finish, sanitizer_report

FAKE = textwrap.dedent("""\
    #!{python}
    import http.server, os, signal, sys
    args = sys.argv[1:]
    host, port = args[args.index("--listen") + 1].rsplit(":", 1)
    mode = os.environ.get("FAKE_MODE", "")
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.end_headers(); self.wfile.write(b'{{"status":"ok"}}')
            if mode == "crash":
                os.kill(os.getpid(), signal.SIGSEGV)
        def log_message(self, *a): pass
    signal.signal(signal.SIGTERM, lambda *a: (sys.stderr.write(
        "==1==ERROR: AddressSanitizer: heap-use-after-free\\n" if mode == "asan" else ""), sys.exit(0)))
    http.server.HTTPServer((host, int(port)), H).serve_forever()
""")


def _fake_bin(tmp_path):
    p = tmp_path / "fake-ganglion"
    p.write_text(FAKE.format(python=sys.executable))
    p.chmod(0o755)
    return p


def test_sanitizer_markers():
    assert sanitizer_report("x\n==12==ERROR: AddressSanitizer: SEGV on unknown address\n")
    assert sanitizer_report("src/a.c:3:5: runtime error: signed integer overflow")
    assert sanitizer_report('{"level":"info","msg":"ok"}\n') is None


def test_teardown_reports_sanitizer_output(tmp_path):
    d = Daemon(_fake_bin(tmp_path), tmp_path, env={"FAKE_MODE": "asan"}).start()
    problems = _finish(d)
    assert any("sanitizer report" in p for p in problems), problems


def test_teardown_reports_crash(tmp_path):
    d = Daemon(_fake_bin(tmp_path), tmp_path, env={"FAKE_MODE": "crash"})
    try:
        d.start()
    except Exception:
        pass  # it may die before /healthz answered twice
    d.proc.wait(5)
    if d.returncode is None:
        problems = _finish(d)
        assert any(f"signal {signal.SIGSEGV}" in p or "signal 11" in p for p in problems), problems
    else:
        assert d.returncode == -signal.SIGSEGV


def test_clean_daemon_has_no_problems(tmp_path):
    d = Daemon(_fake_bin(tmp_path), tmp_path).start()
    assert _finish(d) == []
    assert d.returncode == 0
