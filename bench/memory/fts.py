#!/usr/bin/env python3
"""Full-text bench for the memory domain: fills a daemon's SQLite store with N generated records
(words drawn from a Zipf-like vocabulary), then times POST /api/v1/memory/search (FTS5 candidates
ranked by BM25 in C, with snippets) end to end, and the same words found by a plain
`content LIKE '%word%'` scan straight on the database file, side by side. Prints JSON.

usage: fts.py DAEMON_BIN N QUERIES WORKDIR"""

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

VOCAB = 20000
WORDS_PER_RECORD = 14
LAYERS = ["short-term", "working", "episodic", "semantic", "long-term"]


def word(i):
    # distinct pronounceable words: w0 = "ba", w1 = "be" ...
    syl = ["ba", "be", "bi", "bo", "bu", "da", "de", "di", "do", "du", "ka", "ke", "ki", "ko",
           "ku", "la", "le", "li", "lo", "lu", "ma", "me", "mi", "mo", "mu", "na", "ne", "ni"]
    out = ""
    i += 1
    while i:
        out += syl[i % len(syl)]
        i //= len(syl)
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(bin_, data, port):
    p = subprocess.Popen([bin_, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data,
                          "--zmq-listen", "off", "--zmq-pub", "off", "--log-level", "warn",
                          "--set", "memory.max_records=100000000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return p
        except OSError:
            time.sleep(0.2)
    p.kill()
    raise SystemExit("bench/memory: the daemon did not start")


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def main():
    bin_, n, queries, work = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    port = free_port()
    stop(start(bin_, data, port))  # creates the schema
    rnd = random.Random(7)
    weights = [1.0 / (r + 1) for r in range(VOCAB)]
    cum = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    vocab = [word(i) for i in range(VOCAB)]
    db = sqlite3.connect(os.path.join(data, "ganglion.db"))
    db.execute("PRAGMA journal_mode=WAL")
    t0 = time.time()
    now = int(time.time() * 1000) - n
    batch = []
    for i in range(n):
        ws = rnd.choices(vocab, cum_weights=cum, k=WORDS_PER_RECORD)
        batch.append((f"mem-{i:016x}", LAYERS[i % 5], " ".join(ws), "bench", "", "[]", now + i))
        if len(batch) == 20000 or i == n - 1:
            db.executemany("INSERT INTO memory_records (id, layer, content, principal, agent, "
                           "tags, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
            db.commit()
            batch = []
    fill_s = time.time() - t0
    # query words: a spread of frequencies (ranks 50..5000 of the vocabulary), two per query
    qrnd = random.Random(11)
    qs = [f"{vocab[qrnd.randint(50, 5000)]} {vocab[qrnd.randint(50, 5000)]}"
          for _ in range(queries)]
    like = []
    for q in qs:
        a, b = q.split()
        t = time.perf_counter()
        db.execute("SELECT id, content FROM memory_records WHERE content LIKE ? OR content LIKE ? "
                   "ORDER BY created_at DESC LIMIT 10", (f"%{a}%", f"%{b}%")).fetchall()
        like.append(time.perf_counter() - t)
    fts_direct = []
    for q in qs:
        a, b = q.split()
        t = time.perf_counter()
        db.execute("SELECT id, content FROM memory_records WHERE rid IN (SELECT rowid FROM "
                   "memory_fts WHERE memory_fts MATCH ?) ORDER BY created_at DESC LIMIT 1000",
                   (f'"{a}" OR "{b}"',)).fetchall()
        fts_direct.append(time.perf_counter() - t)
    db.close()
    p = start(bin_, data, port)
    token = open(os.path.join(data, "admin.token")).read().strip()
    api = []
    found = 0
    try:
        for q in qs:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/memory/search",
                data=json.dumps({"query": q, "k": 10}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            t = time.perf_counter()
            body = json.loads(urllib.request.urlopen(req, timeout=60).read())
            api.append(time.perf_counter() - t)
            found += len(body["results"])
    finally:
        stop(p)
    ms = lambda xs, q: round(pct(xs, q) * 1e3, 2)
    print(json.dumps({
        "records": n, "queries": queries, "fill_s": round(fill_s, 1),
        "api_search_p50_ms": ms(api, 0.5), "api_search_p99_ms": ms(api, 0.99),
        "fts5_candidates_p50_ms": ms(fts_direct, 0.5), "fts5_candidates_p99_ms": ms(fts_direct, 0.99),
        "like_scan_p50_ms": ms(like, 0.5), "like_scan_p99_ms": ms(like, 0.99),
        "results_per_query": round(found / max(1, queries), 1),
    }))


if __name__ == "__main__":
    main()
