#!/usr/bin/python3
"""NAB scorer written from the benchmark's published rules (Lavin & Ahmad 2015; Ahmad et al. 2017).

Reads a results tree in NAB's layout, RESULTS/<detector>/<category>/<detector>_<file>.csv with
columns timestamp,value,anomaly_score[,label], and the windows in combined_windows.json; for each
application profile it finds the threshold that maximises the corpus score and prints the
normalised score (null detector 0, perfect detector 100) with a per-category breakdown.

Rules implemented, as NAB's own scorer (nab/sweeper.py, nab/runner.py) applies them:
- rows in the probationary period are never scored: the first min(floor(15 % of the rows), 750)
  rows of each series (NAB caps the period at 15 % of 5000 rows);
- a window whose rows all lie in the probationary period is ignored (neither hit nor missed);
- a detection is a row whose score is >= the threshold;
- inside a window only the first detection counts, as a true positive worth
  A_TP * scaled_sigmoid(position) / scaled_sigmoid(-1), position = -(last - row + 1) / length
  (-1 at the window's first row, so the earliest detection is worth exactly A_TP);
- a detection outside every window is a false positive worth A_FP * scaled_sigmoid(position),
  position = (row - previous window's last row) / (previous window's length - 1), and
  -A_FP when there is no previous window;
- a window without a detection is a false negative (-A_FN);
- the profile weights: standard A_TP=1 A_FP=0.11 A_FN=1; reward_low_FP A_FP=0.22;
  reward_low_FN A_FN=2;
- normalised = 100 * (raw - null) / (perfect - null), where the null detector never fires
  (-A_FN per scored window) and perfect = A_TP per window of the corpus.

Standard library only (Debian's python3).
"""

import argparse
import csv
import json
import math
import os
import sys

PROFILES = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}

PROBATION = 0.15
PROBATION_MAX = 750  # NAB: probationPercent * 5000 rows


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def scaled_sigmoid(pos):
    """NAB's weight for a detection at relative position pos (in window lengths)."""
    if pos >= 3.0:
        return -1.0
    return 2.0 * sigmoid(-5.0 * pos) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def tp_weight(pos):
    """A true positive at relative position pos, scaled so that the window's first row is 1."""
    return scaled_sigmoid(pos) / MAX_TP


def probation_rows(n):
    return int(min(math.floor(PROBATION * n), PROBATION * 5000))


def norm_ts(ts):
    """'2014-02-19 10:50:00.000000' and '2014-02-19 10:50:00' name the same row."""
    ts = ts.strip()
    if "." in ts:
        ts = ts.split(".", 1)[0]
    return ts


class Series:
    """One scored file: the rows' scores and, per row, its window (or None)."""

    def __init__(self, name, timestamps, scores, windows):
        self.name = name
        self.scores = scores
        n = len(scores)
        self.probation = probation_rows(n)
        index = {t: i for i, t in enumerate(timestamps)}
        self.windows = []  # (first_row, last_row)
        for start, end in windows:
            s, e = norm_ts(start), norm_ts(end)
            if s not in index or e not in index:
                # Fall back to the nearest rows inside the bounds (timestamps sort as text).
                rows = [i for i, t in enumerate(timestamps) if s <= t <= e]
                if not rows:
                    continue
                self.windows.append((rows[0], rows[-1]))
            else:
                self.windows.append((index[s], index[e]))
        self.windows.sort()
        # A window inside the probationary period is never scored (NAB gives it no FN part),
        # but it still counts in the perfect score and as the previous window of later rows.
        self.scored = [k for k, w in enumerate(self.windows) if w[1] >= self.probation]
        # Per row: ('in', window number, relative position) or ('out', position past the
        # previous window or None).
        self.rows = []
        w = 0
        prev = None
        for i in range(n):
            while w < len(self.windows) and self.windows[w][1] < i:
                prev = self.windows[w]
                w += 1
            if w < len(self.windows) and self.windows[w][0] <= i <= self.windows[w][1]:
                first, last = self.windows[w]
                length = last - first + 1
                self.rows.append(("in", w, -(last - i + 1) / length))
            elif prev is not None:
                # NAB divides by the previous window's length - 1 (one-row windows: by 1).
                length = max(prev[1] - prev[0], 1)
                self.rows.append(("out", None, (i - prev[1]) / length))
            else:
                self.rows.append(("out", None, None))

    def score(self, threshold, prof):
        """Raw score and counts (tp, fp, fn) at a threshold."""
        raw = 0.0
        tp = fp = 0
        hit = set()
        for i in range(self.probation, len(self.scores)):
            if self.scores[i] < threshold:
                continue
            kind, w, pos = self.rows[i]
            if kind == "in":
                if w in hit:
                    continue
                hit.add(w)
                raw += prof["tp"] * tp_weight(pos)
                tp += 1
            else:
                fp += 1
                raw += prof["fp"] * (scaled_sigmoid(pos) if pos is not None else -1.0)
        fn = 0
        for w in self.scored:
            if w not in hit:
                fn += 1
                raw -= prof["fn"]
        return raw, tp, fp, fn

    def null_score(self, prof):
        return -prof["fn"] * len(self.scored)

    def perfect_score(self, prof):
        # NAB counts every window of the corpus here, scored or not.
        return prof["tp"] * len(self.windows)

    def candidate_thresholds(self):
        return set(self.scores[self.probation:])


def load_results(results_dir, windows_path):
    with open(windows_path) as f:
        all_windows = json.load(f)
    series = []
    detectors = sorted(d for d in os.listdir(results_dir)
                       if os.path.isdir(os.path.join(results_dir, d)))
    if len(detectors) != 1:
        raise SystemExit("expected one detector directory in %s, found %s" % (results_dir, detectors))
    det = detectors[0]
    root = os.path.join(results_dir, det)
    for category in sorted(os.listdir(root)):
        cdir = os.path.join(root, category)
        if not os.path.isdir(cdir):
            continue
        for fname in sorted(os.listdir(cdir)):
            if not fname.endswith(".csv"):
                continue
            data_name = fname[len(det) + 1:] if fname.startswith(det + "_") else fname
            key = category + "/" + data_name
            timestamps, scores = [], []
            with open(os.path.join(cdir, fname), newline="") as f:
                for row in csv.DictReader(f):
                    timestamps.append(norm_ts(row["timestamp"]))
                    scores.append(float(row["anomaly_score"]))
            series.append((category, Series(key, timestamps, scores, all_windows.get(key, []))))
    return det, series


def optimise(series, prof):
    """The threshold with the best corpus score, by one sweep over all rows in descending score
    order (the score only changes where a row crosses the threshold). Ties keep the highest
    threshold. Returns (threshold, raw score)."""
    rows = []
    for k, (_, s) in enumerate(series):
        for i in range(s.probation, len(s.scores)):
            rows.append((s.scores[i], k, i))
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))
    total = sum(s.null_score(prof) for _, s in series)
    best = (max((r[0] for r in rows), default=0.0) + 1.0, total)
    first = {}  # (series, window) -> row of the first detection so far
    j = 0
    while j < len(rows):
        score = rows[j][0]
        while j < len(rows) and rows[j][0] == score:
            _, k, i = rows[j]
            s = series[k][1]
            kind, w, pos = s.rows[i]
            if kind == "out":
                total += prof["fp"] * (scaled_sigmoid(pos) if pos is not None else -1.0)
            else:
                old = first.get((k, w))
                if old is None:
                    total += prof["fn"] + prof["tp"] * tp_weight(pos)
                    first[(k, w)] = i
                elif i < old:
                    total += prof["tp"] * (tp_weight(pos) - tp_weight(s.rows[old][2]))
                    first[(k, w)] = i
            j += 1
        if total > best[1] + 1e-12:
            best = (score, total)
    return best


def normalised(series, prof, threshold):
    raw = sum(s.score(threshold, prof)[0] for _, s in series)
    null = sum(s.null_score(prof) for _, s in series)
    perfect = sum(s.perfect_score(prof) for _, s in series)
    if perfect == null:
        return 0.0
    return 100.0 * (raw - null) / (perfect - null)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", help="results directory holding one <detector>/ tree")
    ap.add_argument("--windows", required=True, help="combined_windows.json")
    ap.add_argument("--json", help="write the scores here as JSON")
    args = ap.parse_args(argv)
    det, series = load_results(args.results, args.windows)
    if not series:
        raise SystemExit("no result files under " + args.results)
    out = {"detector": det, "files": len(series), "profiles": {}}
    for name, prof in PROFILES.items():
        t, _ = optimise(series, prof)
        entry = {"threshold": t, "score": round(normalised(series, prof, t), 2), "categories": {}}
        tp = fp = fn = 0
        for _, s in series:
            _, a, b, c = s.score(t, prof)
            tp, fp, fn = tp + a, fp + b, fn + c
        entry.update({"tp": tp, "fp": fp, "fn": fn})
        for cat in sorted({c for c, _ in series}):
            sub = [(c, s) for c, s in series if c == cat]
            if any(s.windows for _, s in sub):
                entry["categories"][cat] = round(normalised(sub, prof, t), 2)
        out["profiles"][name] = entry
        print("%-20s %7.2f  (threshold %.4f, tp %d fp %d fn %d)" % (name, entry["score"], t, tp, fp, fn))
    print("per category (standard profile, corpus threshold):")
    for cat, v in out["profiles"]["standard"]["categories"].items():
        print("  %-22s %7.2f" % (cat, v))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
