"""`ganglion chat AGENT`: the CLI talks to an agent over the WebSocket — --message prints the
streamed answer whole; the interactive mode, driven through a pipe, sends each line, answers
/history and /clear, and ends cleanly at the end of input; refusals exit non-zero with the
daemon's problem."""

import os
import signal
import subprocess

import agents_util
from test_ws_chat import ECHO


def echo_agent(d, name="echo"):
    a = agents_util.spawn(d, name, argv=[agents_util.PY, ECHO, "0.005"])
    agents_util.wait_status(d, a["id"], ("running", "idle"))
    return a


def chat(d, *args, stdin=None, **kw):
    env = d.cli_env({k: v for k, v in os.environ.items()
                     if k not in ("GANGLION_URL", "GANGLION_TOKEN", "GANGLION_DATA_DIR")})
    return subprocess.run([d.bin, "--url", d.url, "chat", *args], input=stdin, capture_output=True,
                          text=True, timeout=30, env=env, **kw)


def test_message_prints_the_echoed_answer(daemon):
    a = echo_agent(daemon)
    r = chat(daemon, a["name"], "--message", "hi there")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "You said: hi there\n"
    r = chat(daemon, a["id"], "--message=by id")
    assert r.returncode == 0 and r.stdout == "You said: by id\n", r.stderr


def test_interactive_through_a_pipe(daemon):
    a = echo_agent(daemon)
    r = chat(daemon, a["name"], stdin="hello\n\nsecond line\n/history\n/clear\n/history\nafter\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "You said: hello",
        "You said: second line",
        "user: hello",
        "assistant: You said: hello",
        "user: second line",
        "assistant: You said: second line",
        "history cleared",
        "You said: after",
    ]


def test_refusals_exit_non_zero(daemon):
    r = chat(daemon, "no-such-agent", "--message", "hi")
    assert r.returncode == 1 and "404" in r.stderr and r.stdout == ""
    r = chat(daemon)
    assert r.returncode == 2
    env = dict(os.environ, GANGLION_TOKEN="not-a-token")
    a = echo_agent(daemon)
    r = subprocess.run([daemon.bin, "--url", daemon.url, "chat", a["id"], "--message", "hi"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 1 and "401" in r.stderr
    r = subprocess.run([daemon.bin, "--url", "http://127.0.0.1:9", "chat", a["id"], "-m", "hi"],
                       capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 3 and "cannot reach" in r.stderr


def test_ctrl_c_leaves_cleanly(daemon):
    a = echo_agent(daemon)
    env = daemon.cli_env()
    p = subprocess.Popen([daemon.bin, "--url", daemon.url, "chat", a["name"]], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    p.stdin.write("one\n")
    p.stdin.flush()
    assert p.stdout.readline() == "You said: one\n"
    p.send_signal(signal.SIGINT)
    assert p.wait(10) == 0
    p.stdin.close()


def test_session_resumed_by_a_later_chat(daemon):
    a = echo_agent(daemon)
    r = chat(daemon, a["name"], "--session", "new", "--message", "remember me")
    assert r.returncode == 0 and r.stdout == "You said: remember me\n", r.stderr
    line = [ln for ln in r.stderr.splitlines() if ln.startswith("session cs-")]
    assert line and line[0].endswith("(0 turns restored)"), r.stderr
    session = line[0].split()[1]
    r = chat(daemon, a["name"], "--session", session, stdin="/history\n")
    assert r.returncode == 0, r.stderr
    assert f"session {session} (2 turns restored)" in r.stderr
    assert r.stdout.splitlines() == ["user: remember me", "assistant: You said: remember me"]
    r = chat(daemon, a["name"], "--session", "nope", "--message", "x")
    assert r.returncode == 1 and "422" in r.stderr and r.stdout == ""
