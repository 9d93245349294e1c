"""Numbers on the command line are read whole and range-checked: a value such as "5s", "soon" or
one past the limit is refused with a usage error naming the option, before any request is made
(it used to be read as 5, 0 or whatever atoi made of it)."""

import os
import subprocess

from agents_util import ROOT

BIN = os.environ.get("GANGLION_BIN", str(ROOT / "build" / "ganglion"))


def cli(*args):
    # a port nothing listens on: a request that got out would fail differently (exit 3/4)
    env = dict(os.environ, GANGLION_URL="http://127.0.0.1:9", GANGLION_TOKEN="x")
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30, env=env)


def test_bad_numbers_are_usage_errors():
    cases = [
        (("agent", "stop", "a1", "--grace", "5s"), "--grace wants milliseconds from 0 to 600000"),
        (("agent", "stop", "a1", "--grace", "600001"), "--grace wants milliseconds"),
        (("agent", "restart", "a1", "--grace", ""), "--grace wants milliseconds"),
        (("task", "wait", "t-0123456789ab", "--timeout-s", "soon"),
         "--timeout-s wants a number of seconds, not 'soon'"),
        (("task", "submit", "echo", "--wait-s", "1e999"), "--wait-s wants a number of seconds"),
        (("task", "submit", "echo", "--wait-s", "-1"), "--wait-s wants a number of seconds"),
    ]
    for args, msg in cases:
        r = cli(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert msg in r.stderr, (args, r.stderr)


def test_good_numbers_reach_the_request():
    # valid values pass the parser: the command gets as far as the (absent) daemon
    for args in (("agent", "stop", "a1", "--grace", "2000"),
                 ("task", "wait", "t-0123456789ab", "--timeout-s", "0.5")):
        r = cli(*args)
        assert r.returncode not in (0, 2), (args, r.returncode, r.stderr)
        assert "wants" not in r.stderr, r.stderr
