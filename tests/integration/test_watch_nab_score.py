"""The NAB scorer (tools/nab_score.py) on hand-made series whose scores can be worked out by hand:
the scaled sigmoid, windows, probation, first-detection-only, false-positive weights, the three
profiles, threshold optimisation and normalisation. Needs nothing from the daemon."""

import importlib.util
import json
import math
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("nab_score", os.path.join(ROOT, "tools", "nab_score.py"))
nab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nab)

STD = nab.PROFILES["standard"]


def ts(i):
    return "2020-01-01 %02d:%02d:00" % (i // 60, i % 60)


def write_corpus(tmp_path, files):
    """files: {"cat/name.csv": (scores, [(first_row, last_row), ...])}"""
    windows = {}
    for key, (scores, wins) in files.items():
        cat, name = key.split("/")
        d = tmp_path / "results" / "det" / cat
        d.mkdir(parents=True, exist_ok=True)
        with open(d / ("det_" + name), "w") as f:
            f.write("timestamp,value,anomaly_score,label\n")
            for i, s in enumerate(scores):
                f.write("%s,%d,%s,0\n" % (ts(i), i, s))
        # NAB writes window bounds with microseconds; the scorer must accept both forms.
        windows[key] = [[ts(a) + ".000000", ts(b) + ".000000"] for a, b in wins]
    wpath = tmp_path / "windows.json"
    wpath.write_text(json.dumps(windows))
    return str(tmp_path / "results"), str(wpath)


def test_scaled_sigmoid_values():
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert nab.scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert nab.scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert nab.scaled_sigmoid(3.5) == -1.0
    # Earlier in the window is worth more.
    assert nab.scaled_sigmoid(-0.9) > nab.scaled_sigmoid(-0.5) > nab.scaled_sigmoid(-0.1) > 0


def test_perfect_and_null(tmp_path):
    n = 100  # probation = 15 rows
    wins = [(30, 39), (70, 79)]
    perfect = [1.0 if i in (30, 70) else 0.0 for i in range(n)]
    res, wpath = write_corpus(tmp_path, {"c/a.csv": (perfect, wins)})
    _, series = nab.load_results(res, wpath)
    for prof in nab.PROFILES.values():
        t, _ = nab.optimise(series, prof)
        assert nab.normalised(series, prof, t) == pytest.approx(100.0)
        # The null detector: a threshold nothing reaches.
        assert nab.normalised(series, prof, 2.0) == pytest.approx(0.0)


def test_first_detection_counts_and_position(tmp_path):
    n = 100
    wins = [(40, 59)]  # 20 rows
    scores = [0.0] * n
    scores[49] = 0.9  # middle of the window
    scores[55] = 0.9  # a later detection in the same window: ignored
    res, wpath = write_corpus(tmp_path, {"c/a.csv": (scores, wins)})
    _, series = nab.load_results(res, wpath)
    s = series[0][1]
    raw, tp, fp, fn = s.score(0.5, STD)
    assert (tp, fp, fn) == (1, 0, 0)
    # Row 49 sits 11 rows before the end of a 20-row window: position -(59 - 49 + 1)/20.
    # NAB scales a true positive by the value at the window's first row, so the earliest
    # detection is worth exactly A_TP.
    assert raw == pytest.approx(nab.scaled_sigmoid(-11 / 20) / nab.scaled_sigmoid(-1.0))
    assert nab.tp_weight(-1.0) == pytest.approx(1.0)


def test_false_positives_and_probation(tmp_path):
    n = 200  # probation = 30 rows
    wins = [(100, 119)]
    scores = [0.0] * n
    scores[10] = 1.0   # inside the probationary period: never scored
    scores[50] = 1.0   # before any window: full -A_FP
    scores[121] = 1.0  # just after the window: a mild penalty
    scores[190] = 1.0  # far after (> 3 window lengths): full penalty
    res, wpath = write_corpus(tmp_path, {"c/a.csv": (scores, wins)})
    _, series = nab.load_results(res, wpath)
    s = series[0][1]
    assert s.probation == 30
    raw, tp, fp, fn = s.score(0.5, STD)
    assert (tp, fp, fn) == (0, 3, 1)
    # NAB measures the distance in (previous window's length - 1) rows.
    near = nab.scaled_sigmoid((121 - 119) / 19)
    assert -0.5 < near < 0
    assert raw == pytest.approx(-1.0 + STD["fp"] * (-1.0 + near - 1.0))


def test_probation_is_capped_and_windows_inside_it_are_ignored(tmp_path):
    # NAB's probationary period is min(15 % of the rows, 750): a long series is scored from row
    # 750 on, and a window that ends inside the period is neither a hit nor a miss (it still
    # counts in the perfect score).
    assert nab.probation_rows(200) == 30
    assert nab.probation_rows(5000) == 750
    assert nab.probation_rows(20000) == 750
    n = 6000
    wins = [(100, 199), (800, 899), (3000, 3099)]
    scores = [0.0] * n
    scores[150] = 1.0  # inside the probationary period
    scores[800] = 1.0  # after row 750: scored, though it is before 15 % of the series
    res, wpath = write_corpus(tmp_path, {"c/a.csv": (scores, wins)})
    _, series = nab.load_results(res, wpath)
    s = series[0][1]
    assert s.probation == 750
    raw, tp, fp, fn = s.score(0.5, STD)
    assert (tp, fp, fn) == (1, 0, 1)
    assert raw == pytest.approx(1.0 - 1.0)
    assert s.null_score(STD) == pytest.approx(-2.0)
    assert s.perfect_score(STD) == pytest.approx(3.0)
    assert nab.normalised(series, STD, 0.5) == pytest.approx(100.0 * (0.0 + 2.0) / (3.0 + 2.0))


def test_profiles_weigh_differently(tmp_path):
    n = 200
    wins = [(100, 119), (150, 169)]
    scores = [0.0] * n
    scores[60] = 0.8   # false positive
    scores[101] = 0.8  # catches the first window early
    res, wpath = write_corpus(tmp_path, {"c/a.csv": (scores, wins)})
    _, series = nab.load_results(res, wpath)
    s = series[0][1]
    std = s.score(0.5, nab.PROFILES["standard"])[0]
    low_fp = s.score(0.5, nab.PROFILES["reward_low_FP_rate"])[0]
    low_fn = s.score(0.5, nab.PROFILES["reward_low_FN_rate"])[0]
    tp = nab.tp_weight(-19 / 20)
    assert std == pytest.approx(tp - 0.11 - 1.0)
    assert low_fp == pytest.approx(tp - 0.22 - 1.0)
    assert low_fn == pytest.approx(tp - 0.11 - 2.0)


def test_threshold_optimisation_over_corpus(tmp_path):
    # Two files: true detections score 0.7, noise up to 0.6 in one file and a lone 0.9 false
    # positive in the other. The best threshold catches both windows and skips the noise.
    n = 200
    a = [0.6 if i % 17 == 0 else 0.1 for i in range(n)]
    a[100] = 0.7
    b = [0.0] * n
    b[60] = 0.9
    b[150] = 0.7
    res, wpath = write_corpus(tmp_path, {"c/a.csv": (a, [(100, 119)]), "d/b.csv": (b, [(150, 169)])})
    _, series = nab.load_results(res, wpath)
    t, total = nab.optimise(series, STD)
    assert 0.6 < t <= 0.7
    # The sweep's total equals a direct evaluation at that threshold.
    assert total == pytest.approx(sum(s.score(t, STD)[0] for _, s in series))
    # And no threshold on a fine grid does better.
    for g in [i / 100 for i in range(0, 101)]:
        assert sum(s.score(g, STD)[0] for _, s in series) <= total + 1e-9
    score = nab.normalised(series, STD, t)
    assert 0 < score < 100


def test_cli_writes_json(tmp_path, capsys):
    n = 100
    scores = [1.0 if i == 30 else 0.0 for i in range(n)]
    res, wpath = write_corpus(tmp_path, {"c/a.csv": (scores, [(30, 39)]), "c/b.csv": ([0.0] * n, [])})
    out = tmp_path / "scores.json"
    assert nab.main([res, "--windows", wpath, "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["detector"] == "det"
    assert data["files"] == 2
    assert data["profiles"]["standard"]["score"] == pytest.approx(100.0)
    assert set(data["profiles"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert "standard" in capsys.readouterr().out
