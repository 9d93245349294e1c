"""The performance gate (bench/gate/run): it passes on the committed baseline, fails and names the
path when one costs more than 15 % over its baseline, and its per-operation counts do not depend
on how many operations were counted. Runs the real driver under callgrind (a few seconds)."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "bench" / "gate" / "run"
BASELINE = ROOT / "bench" / "gate" / "baseline.json"


@pytest.fixture(scope="module")
def build():
    b = Path(os.environ.get("GANGLION_BIN", ROOT / "build" / "ganglion")).resolve().parent
    if not (b / "bench" / "gate" / "gate").exists():
        pytest.skip(f"no {b}/bench/gate/gate in this build")
    if not shutil.which("valgrind"):
        pytest.skip("valgrind is not installed (scripts/install-deps)")
    if os.environ.get("GANGLION_SANITIZED"):
        pytest.skip("the gate counts instructions of the normal build; valgrind cannot run "
                    "an AddressSanitizer binary (the sanitizer run checks memory, not counts)")
    return b


def gate(build, baseline, only):
    env = dict(os.environ, GATE_BASELINE=str(baseline), GATE_ONLY=only)
    return subprocess.run([str(RUN), str(build)], env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_gate_passes_on_the_baseline_and_fails_on_a_regression(build, tmp_path):
    base = json.loads(BASELINE.read_text())
    ok = gate(build, BASELINE, "http_healthz,guard_eval")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"^http_healthz\s+[\d,]+\s+[\d,]+\s+\d\.\d{3}$", ok.stdout, re.M), ok.stdout
    assert "every path within 15%" in ok.stdout

    # The same build against a baseline that says http_healthz used to cost 20 % less.
    lowered = json.loads(json.dumps(base))
    lowered["paths"]["http_healthz"]["instructions_per_op"] = round(
        base["paths"]["http_healthz"]["instructions_per_op"] / 1.2)
    f = tmp_path / "baseline.json"
    f.write_text(json.dumps(lowered))
    bad = gate(build, f, "http_healthz,guard_eval")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    line = next(l for l in bad.stdout.splitlines() if l.startswith("http_healthz"))
    assert line.endswith("REGRESSION"), bad.stdout
    assert not next(l for l in bad.stdout.splitlines() if l.startswith("guard_eval")).endswith(
        "REGRESSION")
    assert "http_healthz over the baseline" in bad.stdout

    # A path the baseline does not know fails too: a new path comes with its baseline.
    del lowered["paths"]["guard_eval"]
    f.write_text(json.dumps(lowered))
    missing = gate(build, f, "guard_eval")
    assert missing.returncode == 1 and "not in the baseline" in missing.stdout


def test_a_path_costs_the_same_per_operation_whatever_the_count(build):
    def per_op(n):
        # as bench/gate/run runs it: ./gate from its directory, in a fixed environment
        r = subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=gate_measure",
                            "--callgrind-out-file=/dev/null", "./gate", "guard_eval", str(n)],
                           cwd=build / "bench" / "gate", env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        return int(re.search(r"Collected : (\d+)", r.stderr).group(1)) / n

    few, many = per_op(32), per_op(96)
    assert abs(many / few - 1) < 0.02, (few, many)


def test_the_counts_do_not_depend_on_where_the_gate_is_run_from(build, tmp_path):
    """The checkout's path and the caller's environment must not move a count."""
    env = dict(os.environ, GATE_BASELINE=str(BASELINE), GATE_ONLY="guard_eval",
               GANGLION_PADDING="x" * 1000)
    runs = [subprocess.run([str(RUN), str(build)], cwd=cwd, env=env, capture_output=True,
                           text=True, timeout=300).stdout for cwd in (tmp_path, ROOT)]
    counts = [re.search(r"^guard_eval\s+[\d,]+\s+([\d,]+)", out, re.M).group(1) for out in runs]
    assert counts[0] == counts[1], runs


def test_the_spawn_path_counts_its_commit_and_cleans_up(build):
    """agents_spawn passes on the baseline; what it counts includes the row's commit on the
    thread pool (without that pool job it would be cheaper); its data directory is removed."""
    before = set(Path("/tmp").glob("ganglion-gate-*"))
    ok = gate(build, BASELINE, "agents_spawn")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    now = float(re.search(r"^agents_spawn\s+[\d,]+\s+([\d,]+)", ok.stdout, re.M)
                .group(1).replace(",", ""))

    r = subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=gate_measure",
                        "--callgrind-out-file=/dev/null", "./gate", "agents_spawn", "40"],
                       cwd=build / "bench" / "gate", env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    loop_only = int(re.search(r"Collected : (\d+)", r.stderr).group(1)) / 40
    assert now - loop_only > 20000, (now, loop_only)  # the commit: ~50 000 instructions
    assert set(Path("/tmp").glob("ganglion-gate-*")) <= before
