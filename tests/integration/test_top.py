"""`ganglion top` driven the way a person uses it: in a real terminal (tmux), reading the screen
and pressing keys, against a real daemon. The screen must follow the event stream (a new agent
shows up without waiting for the periodic resync), keys must act on the selection, and the
terminal must be given back as it was on every way out."""

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from agents_util import SLOW, get, wait_output, wait_status

TMUX = shutil.which("tmux")
PY = sys.executable or "/usr/bin/python3"


def ticker(d, name, period=0.2):
    """A shell agent printing '<name> line N' every period seconds, and 'got usr1' on SIGUSR1."""
    body = {"name": name,
            "argv": ["sh", "-c", f'trap "echo got usr1" USR1; i=0; while :; do '
                                 f'echo "{name} line $i"; i=$((i+1)); sleep {period}; done']}
    r = d.post("/api/v1/agents", json=body)
    assert r.status_code == 201, r.text
    return r.json()


class Pane:
    """One tmux server of our own (its own socket, no user config) with one 120x40 window."""

    def __init__(self, tmp_path):
        assert TMUX, "tmux is a test dependency (scripts/install-deps)"
        self.sock = f"gtop-{uuid.uuid4().hex[:8]}"
        self.dir = tmp_path

    def tmux(self, *args, check=True):
        r = subprocess.run([TMUX, "-L", self.sock, "-f", "/dev/null", *args], capture_output=True,
                           text=True, timeout=10)
        if check:
            assert r.returncode == 0, r.stderr
        return r

    def start(self, command, env):
        args = ["new-session", "-d", "-x", "120", "-y", "40"]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        self.tmux(*args, command)

    def screen(self):
        return self.tmux("capture-pane", "-p").stdout

    def keys(self, *keys):
        self.tmux("send-keys", *keys)

    def wait(self, pred, what, timeout=5.0):
        end = time.monotonic() + timeout * SLOW
        text = ""
        while time.monotonic() < end:
            text = self.screen()
            if pred(text):
                return text
            time.sleep(0.05)
        raise AssertionError(f"{what} not on screen within {timeout}s:\n{text}")

    def close(self):
        self.tmux("kill-server", check=False)


def row(screen, aid):
    for line in screen.splitlines():
        if line.startswith(aid):
            return line
    return ""


def status_line(screen):
    lines = [l for l in screen.splitlines() if l.strip()]
    return lines[-1] if lines else ""


@pytest.fixture
def pane(tmp_path):
    p = Pane(tmp_path)
    yield p
    p.close()


def top_command(bin, d, tmp_path):
    """top between two snapshots of the terminal settings; its exit code, written last."""
    t = tmp_path
    return (f"stty -g > {t}/stty.before; {bin} top --url {d.url} --token \"$GTOP_TOKEN\"; "
            f"r=$?; stty -g > {t}/stty.after; echo $r > {t}/rc; sleep 60")


def wait_file(path, timeout=5.0):
    end = time.monotonic() + timeout * SLOW
    while time.monotonic() < end:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} not written within {timeout}s")


def test_top_follows_events_and_acts_on_the_selection(bin, daemon, pane, tmp_path):
    d = daemon
    a = ticker(d, "alpha")
    b = ticker(d, "beta")
    pane.start(top_command(bin, d, tmp_path), {"GTOP_TOKEN": d.token, "LANG": "C.UTF-8"})

    s = pane.wait(lambda t: a["id"] in t and b["id"] in t, "both agents")
    assert "running" in row(s, a["id"]) and "alpha" in row(s, a["id"])
    assert "running" in row(s, b["id"]) and "beta" in row(s, b["id"])
    # no usage reported yet: CPU and RSS are '-'
    assert re.search(r"running\s+-\s+-\s+0\s+\d+s", row(s, a["id"])), row(s, a["id"])
    # the first agent is selected and its log follows below the table
    pane.wait(lambda t: "log of alpha" in t and re.search(r"^alpha line \d+", t, re.M),
              "alpha's log")

    # spawned afterwards: shown from its status event, well before the 10 s resync
    c = ticker(d, "gamma")
    pane.wait(lambda t: "gamma" in row(t, c["id"]), "the new agent", timeout=3.0)

    # a usage event fills CPU and RSS
    d.publish(f"agent.{b['id']}.usage", {"cpu_percent": 12.5, "rss_bytes": 5 * 1024 * 1024})
    pane.wait(lambda t: re.search(r"12\.5\s+5\.0M", row(t, b["id"])), "beta's usage")

    # select beta: its log replaces alpha's
    pane.keys("j")
    s = pane.wait(lambda t: "log of beta" in t and re.search(r"^beta line \d+", t, re.M),
                  "beta's log")
    assert not re.search(r"^alpha line", s, re.M)
    # new lines keep arriving (the log stream, not a snapshot)
    last = max(int(n) for n in re.findall(r"^beta line (\d+)", s, re.M))
    pane.wait(lambda t: any(int(n) > last for n in re.findall(r"^beta line (\d+)", t, re.M)),
              "a newer line of beta")

    # s stops the selection: on screen and through the API
    pane.keys("s")
    pane.wait(lambda t: "terminated" in row(t, b["id"]), "beta terminated")
    assert get(d, b["id"])["status"] == "terminated"
    assert get(d, a["id"])["status"] == "running"
    assert "running" in row(pane.screen(), a["id"])

    # r asks for a restart: the daemon's answer (done, or its problem) is on the status line
    pane.keys("r")
    s = pane.wait(lambda t: status_line(t).startswith("restart beta:"), "the restart's outcome")

    # p pauses the selection and p again resumes it
    pane.keys("k")
    pane.wait(lambda t: "log of alpha" in t, "alpha selected again")
    pane.keys("p")
    pane.wait(lambda t: "paused" in row(t, a["id"]), "alpha paused")
    assert get(d, a["id"])["status"] == "paused"
    pane.keys("p")
    pane.wait(lambda t: "running" in row(t, a["id"]), "alpha resumed")
    assert get(d, a["id"])["status"] == "running"

    # S asks for a signal's name; the agent's trap answers in the log pane
    pane.keys("S")
    pane.wait(lambda t: "signal to alpha" in status_line(t), "the signal prompt")
    pane.keys("-l", "SIGUSR1")
    pane.keys("Enter")
    pane.wait(lambda t: re.search(r"^got usr1$", t, re.M), "the trap's line")
    assert "signal usr1 to alpha:" in status_line(pane.screen())

    # K asks first; n keeps the agent
    pane.keys("K")
    pane.wait(lambda t: "kill alpha" in status_line(t) and "(y/N)" in status_line(t),
              "the kill confirmation")
    pane.keys("n")
    pane.wait(lambda t: "kill cancelled" in status_line(t), "the cancellation")
    assert get(d, a["id"])["status"] == "running"

    # q quits and gives the terminal back
    pane.keys("q")
    assert wait_file(tmp_path / "rc") == "0"
    assert (tmp_path / "stty.after").read_text() == (tmp_path / "stty.before").read_text()
    assert pane.tmux("display", "-p", "#{alternate_on}").stdout.strip() == "0"
    assert pane.tmux("display", "-p", "#{cursor_flag}").stdout.strip() == "1"


def test_top_restores_the_terminal_on_sigterm(bin, daemon, pane, tmp_path):
    d = daemon
    a = ticker(d, "solo")
    pane.start(top_command(bin, d, tmp_path), {"GTOP_TOKEN": d.token})
    pane.wait(lambda t: a["id"] in t, "the agent")
    assert pane.tmux("display", "-p", "#{alternate_on}").stdout.strip() == "1"
    # a resize (SIGWINCH) redraws for the new width: the NAME column narrows to fit 80
    def name_gap(t):
        head = t.splitlines()[1]
        return head.index("STATUS") - head.index("NAME") if "STATUS" in head else -1
    assert name_gap(pane.screen()) == 41
    pane.tmux("resize-window", "-x", "80", "-y", "24")
    pane.wait(lambda t: name_gap(t) == 22 and a["id"] in t, "the narrower table")
    shell = int(pane.tmux("display", "-p", "#{pane_pid}").stdout)
    kids = open(f"/proc/{shell}/task/{shell}/children").read().split()
    tops = [int(k) for k in kids if "top" in open(f"/proc/{k}/cmdline").read()]
    assert len(tops) == 1, kids
    os.kill(tops[0], 15)
    assert wait_file(tmp_path / "rc") == "0"
    assert (tmp_path / "stty.after").read_text() == (tmp_path / "stty.before").read_text()
    assert pane.tmux("display", "-p", "#{alternate_on}").stdout.strip() == "0"


def test_top_reconnects_when_the_daemon_restarts(bin, daemon, pane, tmp_path):
    d = daemon
    a = ticker(d, "solo")
    pane.start(top_command(bin, d, tmp_path), {"GTOP_TOKEN": d.token})
    s = pane.wait(lambda t: a["id"] in t and " live " in t.splitlines()[0], "the live view")
    d.restart(port=d.port)
    # the stream ended and came back: the list reloaded on reconnect shows what the restart
    # did to the agent (its process ended with the daemon) ...
    after = get(d, a["id"])["status"]
    assert after != "running"
    pane.wait(lambda t: " live " in t.splitlines()[0] and after in row(t, a["id"]),
              "live again", timeout=8.0)
    # ... and events flow on the new stream
    b = ticker(d, "after")
    pane.wait(lambda t: b["id"] in t, "an agent spawned after the reconnect", timeout=3.0)
    pane.keys("q")
    assert wait_file(tmp_path / "rc") == "0"


def test_top_once_prints_one_plain_frame(bin, daemon):
    d = daemon
    a = ticker(d, "alpha", period=0.01)
    b = ticker(d, "béta-日本")
    wait_status(d, b["id"], "running")
    wait_output(d, a["id"], lambda o: len(o["lines"]) >= 12)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANGLION_")}
    r = subprocess.run([str(bin), "top", "--once", "--url", d.url, "--token", d.token],
                       capture_output=True, text=True, timeout=10, env=env)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout
    lines = r.stdout.splitlines()
    assert lines[0].startswith("ganglion top")
    assert lines[1].split() == ["ID", "NAME", "STATUS", "CPU%", "RSS", "RESTARTS", "UPTIME"]
    assert re.match(rf"{a['id']} alpha\s+running\s+-\s+-\s+0\s+\d+s$", row(r.stdout, a["id"]))
    assert "béta-日本" in row(r.stdout, b["id"])
    # the selected (first) agent's last ten lines follow the table, in order
    log = [l for l in lines if l.startswith("alpha line ")]
    assert len(log) == 10, r.stdout
    nums = [int(l.split()[-1]) for l in log]
    assert nums == list(range(nums[0], nums[0] + 10))
    assert lines[-1].startswith("q quit")
    # uptimes carry no fractions
    assert not re.search(r"\d\.\d+s", r.stdout)


def test_top_reports_an_unreachable_daemon(bin):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANGLION_")}
    r = subprocess.run([str(bin), "top", "--once", "--url", "http://127.0.0.1:9"],
                       capture_output=True, text=True, timeout=10, env=env)
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "cannot reach" in r.stderr


def test_top_refused_before_taking_the_screen(bin, daemon, pane, tmp_path):
    """A wrong token is said on stderr with the daemon's status and exit code 1, in the
    interactive mode too (the first list is read before the screen is taken)."""
    d = daemon
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANGLION_")}
    r = subprocess.run([str(bin), "top", "--once", "--url", d.url, "--token", "gk_wrong"],
                       capture_output=True, text=True, timeout=10, env=env)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "401" in r.stderr
    pane.start(f"{bin} top --url {d.url} --token gk_wrong 2> {tmp_path}/err; "
               f"echo $? > {tmp_path}/rc; sleep 60", {})
    assert wait_file(tmp_path / "rc") == "1"
    err = (tmp_path / "err").read_text()
    assert "401" in err
