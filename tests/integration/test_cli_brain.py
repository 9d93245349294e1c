"""`ganglion brain …` as a user types it: create from a shipped name and from a file, ls, show,
step, frequency, start/stop, activity (one table and -f frames with sparklines), rm, usage
errors, and completion listing the group."""

import json
import subprocess

import pytest

from test_brain import GENOMES, brain_args, wait_for

pytestmark = pytest.mark.skipif(GENOMES is None, reason="the shipped FEAGI genomes are not here")


def run(d, *args, check=True):
    p = subprocess.run([d.bin, "--url", d.url, *args], env=d.cli_env(), capture_output=True,
                       text=True, timeout=30)
    if check:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def test_cli_brain_commands(make_daemon, tmp_path):
    d = make_daemon(args=brain_args())
    out = run(d, "brain", "create", "barebones", "--name", "bb", "--seed", "5").stdout
    assert "bb" in out and "stopped" in out
    f = tmp_path / "mine.json"
    f.write_text((GENOMES / "essential_genome.json").read_text())
    run(d, "brain", "create", str(f), "--name", "ess", "--start")
    ls = run(d, "brain", "ls").stdout.splitlines()
    assert ls[0].split()[:3] == ["ID", "NAME", "STATUS"]
    rows = {line.split()[1]: line.split() for line in ls[1:]}
    assert rows["bb"][2] == "stopped" and rows["ess"][2] == "running"
    assert run(d, "brain", "step", "bb").stdout.strip() == "bb paused (burst 1)"
    assert run(d, "brain", "step", "bb").stdout.strip() == "bb paused (burst 2)"
    assert run(d, "brain", "frequency", "bb", "25").stdout.startswith("25 Hz (40 ms")
    assert run(d, "brain", "frequency", "bb").stdout.startswith("25 Hz")
    shown = json.loads(run(d, "--json", "brain", "show", "bb").stdout)
    assert shown["seed"] == 5 and shown["burst_count"] == 2 and shown["frequency_hz"] == 25
    act = run(d, "brain", "activity", "bb").stdout
    assert "burst 2" in act and "_power" in act and "█" in act
    frames = run(d, "brain", "activity", "ess", "-f", "--frames", "2", "--area", "_power").stdout
    assert frames.count("AREA") == 2 and "_power" in frames
    assert "bb running" in run(d, "brain", "start", "bb").stdout
    assert "bb stopped" in run(d, "brain", "stop", "bb").stdout
    run(d, "brain", "rm", "bb")
    names = [line.split()[1] for line in run(d, "brain", "ls").stdout.splitlines()[1:]]
    assert names == ["ess"]
    p = run(d, "brain", "show", "bb", check=False)
    assert p.returncode != 0 and "no brain" in p.stderr
    p = run(d, "brain", "strat", "ess", check=False)
    assert p.returncode == 2 and "start" in p.stderr
    p = run(d, "brain", "create", check=False)
    assert p.returncode == 2
    comp = run(d, "completion", "bash").stdout
    assert "brain" in comp and "activity" in comp
