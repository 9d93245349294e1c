"""`ganglion watch nab` on a small made-up corpus in NAB's layout: the results tree and columns,
scores in [0, 1], the same output on every run, a level shift found, and the quiet period after
a detection (every row after one that reaches the quiet level scores 0 for the quiet rows)."""

import csv
import json
import math
import random
import subprocess

from conftest import sanitizer_report

N = 1500
SHIFT = 1100  # the value jumps here in series "shift"


def ts(i):
    return "2020-01-%02d %02d:%02d:00" % (1 + i // 1440, (i // 60) % 24, i % 60)


def make_corpus(tmp_path):
    rng = random.Random(7)
    data = tmp_path / "nab" / "data" / "cat"
    data.mkdir(parents=True)
    series = {
        "shift.csv": [10 + 2 * math.sin(i / 20) + rng.gauss(0, 0.3) + (25 if i >= SHIFT else 0)
                      for i in range(N)],
        "noise.csv": [50 + rng.gauss(0, 5) for i in range(N)],
    }
    for name, vals in series.items():
        with open(data / name, "w") as f:
            f.write("timestamp,value\n")
            for i, v in enumerate(vals):
                f.write("%s,%.4f\n" % (ts(i), v))
    labels = tmp_path / "nab" / "labels"
    labels.mkdir()
    (labels / "combined_labels.json").write_text(
        json.dumps({"cat/shift.csv": [ts(SHIFT) + ".000000"], "cat/noise.csv": []}))
    return tmp_path / "nab" / "data"


def run_nab(bin, data, out, *args):
    p = subprocess.run([str(bin), "watch", "nab", str(data), str(out), "--threads", "2", *args],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert not sanitizer_report(p.stderr), p.stderr
    return p


def read(out, name):
    with open(out / "ganglion" / "cat" / ("ganglion_" + name), newline="") as f:
        return list(csv.DictReader(f))


def test_layout_scores_and_determinism(bin, tmp_path):
    data = make_corpus(tmp_path)
    run_nab(bin, data, tmp_path / "a", "--detector", "cbad")
    run_nab(bin, data, tmp_path / "b", "--detector", "cbad")
    for name in ("shift.csv", "noise.csv"):
        a, b = read(tmp_path / "a", name), read(tmp_path / "b", name)
        assert a == b  # bit for bit the same on every run, whatever the thread order
        assert len(a) == N
        assert list(a[0].keys()) == ["timestamp", "value", "anomaly_score", "label"]
        assert all(0.0 <= float(r["anomaly_score"]) <= 1.0 for r in a)
    shift = read(tmp_path / "a", "shift.csv")
    assert [i for i, r in enumerate(shift) if r["label"] == "1"] == [SHIFT]
    # The level shift is found within a few rows (it reaches the default quiet level, 0.2, which
    # then silences the rows after it), and nothing before it scores as high.
    peak = max(float(r["anomaly_score"]) for r in shift[SHIFT:SHIFT + 10])
    assert peak >= 0.2
    assert max(float(r["anomaly_score"]) for r in shift[:SHIFT]) < peak


def test_quiet_period_after_a_detection(bin, tmp_path):
    data = make_corpus(tmp_path)
    # A share this small never beats 100 rows on 1500; --quiet-rows 0 turns the period off.
    run_nab(bin, data, tmp_path / "q", "--detector", "cbad", "--quiet-level", "0.3", "--quiet-rows", "100",
            "--quiet-share", "0.00001")
    run_nab(bin, data, tmp_path / "raw", "--detector", "cbad", "--quiet-rows", "0")
    for name in ("shift.csv", "noise.csv"):
        q = [float(r["anomaly_score"]) for r in read(tmp_path / "q", name)]
        raw = [float(r["anomaly_score"]) for r in read(tmp_path / "raw", name)]
        i, triggers = 0, 0
        while i < N:
            if q[i] >= 0.3:
                triggers += 1
                assert q[i] == raw[i]
                assert all(v == 0.0 for v in q[i + 1:i + 101])
                i += 101
            else:
                assert q[i] == raw[i]
                i += 1
        if name == "shift.csv":
            assert triggers >= 1
            # Without the quiet period the shift scores high on more than one row.
            assert sum(1 for v in raw[SHIFT:SHIFT + 100] if v >= 0.3) > 1


def test_numeric_detector_finds_the_shift_then_rests(bin, tmp_path):
    """The default detector (numeric: context novelty, new extremes): the same output on every
    run, the shift reaches the anomaly threshold (0.9) within a few rows, the 50 rows after a
    detection score 0 (the rest period), and the noise before the shift stays within the stated
    false-alarm bound (about 2 ln(N / warm-up) + 4 detections)."""
    data = make_corpus(tmp_path)
    run_nab(bin, data, tmp_path / "a")
    run_nab(bin, data, tmp_path / "b", "--threads", "1")
    for name in ("shift.csv", "noise.csv"):
        a, b = read(tmp_path / "a", name), read(tmp_path / "b", name)
        assert a == b
        sc = [float(r["anomaly_score"]) for r in a]
        assert all(0.0 <= v <= 1.0 for v in sc)
        assert all(v == 0.0 for v in sc[:150])  # warm-up: no score
        hits = [i for i, v in enumerate(sc) if v >= 0.9]
        for i in hits:
            assert all(v == 0.0 for v in sc[i + 1:i + 51])
        before = [i for i in hits if i < SHIFT]
        assert len(before) <= 2 * math.log(SHIFT / 150) + 4
        if name == "shift.csv":
            assert any(SHIFT <= i < SHIFT + 10 for i in hits)
    # Options reach the detector: a longer rest silences more rows.
    run_nab(bin, data, tmp_path / "r", "--num-rest", "200")
    sc = [float(r["anomaly_score"]) for r in read(tmp_path / "r", "shift.csv")]
    first = next(i for i in range(SHIFT, N) if sc[i] >= 0.9)
    assert all(v == 0.0 for v in sc[first + 1:first + 201])
