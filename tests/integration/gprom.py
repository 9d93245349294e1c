"""A small, strict parser for the Prometheus text exposition format (version 0.0.4).

parse(text) -> dict family name -> Family(name, type, help, samples[]); each sample is
Sample(name, labels dict, value float). Raises ValueError with the line number on any line
that does not follow the format, so a test that parses /metrics checks the format too.
"""

import math
import re
from dataclasses import dataclass, field

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


@dataclass
class Sample:
    name: str
    labels: dict
    value: float
    timestamp: int = None


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str = None
    samples: list = field(default_factory=list)

    def find(self, name=None, **labels):
        """Samples whose name is `name` (default: the family's) and whose labels include `labels`."""
        name = name or self.name
        return [s for s in self.samples
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def _parse_value(tok, lineno):
    if tok in ("+Inf", "Inf"):
        return math.inf
    if tok == "-Inf":
        return -math.inf
    if tok == "NaN":
        return math.nan
    try:
        return float(tok)
    except ValueError:
        raise ValueError(f"line {lineno}: bad value {tok!r}") from None


def _unescape(s, lineno, what):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s):
                raise ValueError(f"line {lineno}: dangling backslash in {what}")
            n = s[i + 1]
            if n == "n":
                out.append("\n")
            elif n in ('\\', '"'):
                out.append(n)
            else:
                raise ValueError(f"line {lineno}: bad escape \\{n} in {what}")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _parse_labels(s, i, lineno):
    """s[i] == '{'. Returns (labels, index after '}')."""
    labels = {}
    i += 1
    while True:
        while i < len(s) and s[i] == " ":
            i += 1
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(s, i)
        if not m:
            raise ValueError(f"line {lineno}: bad label name at column {i}")
        lname = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            raise ValueError(f"line {lineno}: expected =\" after label {lname}")
        i += 2
        j = i
        while j < len(s) and s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        if j >= len(s):
            raise ValueError(f"line {lineno}: unterminated label value")
        if lname in labels:
            raise ValueError(f"line {lineno}: duplicate label {lname}")
        labels[lname] = _unescape(s[i:j], lineno, "label value")
        i = j + 1
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        raise ValueError(f"line {lineno}: expected , or }} after label value")


def _family_of(sample_name, families):
    if sample_name in families:
        return families[sample_name]
    for suffix in ("_bucket", "_sum", "_count", "_total", "_created"):
        if sample_name.endswith(suffix):
            base = sample_name[: -len(suffix)]
            if base in families and families[base].type in ("histogram", "summary", "counter"):
                return families[base]
    return None


def parse(text):
    if text and not text.endswith("\n"):
        raise ValueError("exposition does not end with a newline")
    families = {}
    seen_samples = set()
    for lineno, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        if line == "":
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3:
                    raise ValueError(f"line {lineno}: {parts[1]} without a metric name")
                name = parts[2]
                if not METRIC_NAME.match(name):
                    raise ValueError(f"line {lineno}: bad metric name {name!r}")
                fam = families.setdefault(name, Family(name))
                if parts[1] == "HELP":
                    if fam.help is not None:
                        raise ValueError(f"line {lineno}: second HELP for {name}")
                    fam.help = _unescape(parts[3] if len(parts) > 3 else "", lineno, "HELP")
                else:
                    t = parts[3].strip() if len(parts) > 3 else ""
                    if t not in TYPES:
                        raise ValueError(f"line {lineno}: bad TYPE {t!r} for {name}")
                    if fam.samples:
                        raise ValueError(f"line {lineno}: TYPE for {name} after its samples")
                    fam.type = t
            continue
        m = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*").match(line)
        if not m:
            raise ValueError(f"line {lineno}: bad sample line {line!r}")
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i, lineno)
        rest = line[i:]
        if not rest.startswith(" "):
            raise ValueError(f"line {lineno}: expected a space before the value")
        toks = rest.split()
        if len(toks) not in (1, 2):
            raise ValueError(f"line {lineno}: expected value [timestamp], got {rest!r}")
        value = _parse_value(toks[0], lineno)
        ts = None
        if len(toks) == 2:
            try:
                ts = int(toks[1])
            except ValueError:
                raise ValueError(f"line {lineno}: bad timestamp {toks[1]!r}") from None
        key = (name, tuple(sorted(labels.items())))
        if key in seen_samples:
            raise ValueError(f"line {lineno}: duplicate sample {name}{labels}")
        seen_samples.add(key)
        fam = _family_of(name, families)
        if fam is None:
            fam = families.setdefault(name, Family(name))
        fam.samples.append(Sample(name, labels, value, ts))
    return families


def check_histogram(fam):
    """Checks one histogram family: per label set, buckets ascending with a +Inf bucket,
    cumulative counts non-decreasing, +Inf == _count, _sum present. Returns a list of problems."""
    problems = []
    groups = {}
    for s in fam.samples:
        base = {k: v for k, v in s.labels.items() if k != "le"}
        key = tuple(sorted(base.items()))
        g = groups.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if s.name == fam.name + "_bucket":
            if "le" not in s.labels:
                problems.append(f"{s.name}{s.labels}: bucket without le")
                continue
            g["buckets"].append((_parse_value(s.labels["le"], 0), s.value))
        elif s.name == fam.name + "_sum":
            g["sum"] = s.value
        elif s.name == fam.name + "_count":
            g["count"] = s.value
        else:
            problems.append(f"unexpected sample {s.name} in histogram {fam.name}")
    for key, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        if les != sorted(les):
            problems.append(f"{fam.name}{dict(key)}: buckets not in ascending le order")
        if not les or les[-1] != math.inf:
            problems.append(f"{fam.name}{dict(key)}: no +Inf bucket")
        counts = [c for _, c in sorted(g["buckets"])]
        if any(b < a for a, b in zip(counts, counts[1:])):
            problems.append(f"{fam.name}{dict(key)}: bucket counts not cumulative: {counts}")
        if g["count"] is None or g["sum"] is None:
            problems.append(f"{fam.name}{dict(key)}: missing _count or _sum")
        elif counts and counts[-1] != g["count"]:
            problems.append(f"{fam.name}{dict(key)}: +Inf bucket {counts[-1]} != _count {g['count']}")
    return problems
