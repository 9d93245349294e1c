#!/usr/bin/env python3
"""A test agent with one behaviour per mode, for tests/integration/test_agents_*.py.

  agent.py interactive      counter on stdout every 50 ms; obeys pause/resume lines, answers
                            {"type":"action"} lines (name "add", "slow" never answers)
  agent.py ignore-term [children]  ignores SIGTERM, prints its pid (and its children's), sleeps
  agent.py spin             burns CPU forever
  agent.py hog              allocates memory until it fails
  agent.py binary           prints invalid UTF-8, a NUL, and a 100 000-byte line
  agent.py flood N          prints N numbered lines as fast as it can
  agent.py exit CODE [SECS] sleeps SECS (default 0) then exits with CODE
  agent.py status           reports thinking, then running, through stream-JSON
"""
import json
import os
import signal
import sys
import threading
import time


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def interactive():
    paused = threading.Event()
    n = [0]

    def reader():
        for line in sys.stdin:
            try:
                msg = json.loads(line)
            except ValueError:
                out("got: " + line.rstrip("\n"))
                continue
            if msg.get("type") == "pause":
                (paused.set if msg.get("action") == "pause" else paused.clear)()
                out(json.dumps({"type": "status", "status": "running"}) if msg.get("action") == "resume" else "paused")
            elif msg.get("type") == "action":
                p = msg.get("params") or {}
                if msg["name"] == "add":
                    out(json.dumps({"type": "action_result", "id": msg["id"], "result": {"sum": p.get("a", 0) + p.get("b", 0)}}))
                elif msg["name"] == "fail":
                    out(json.dumps({"type": "action_result", "id": msg["id"], "error": "nope"}))
                # "slow" and anything else: never answered

    threading.Thread(target=reader, daemon=True).start()
    while True:
        if not paused.is_set():
            n[0] += 1
            out(f"tick {n[0]}")
        time.sleep(0.05)


def ignore_term(children):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pids = [os.getpid()]
    for _ in range(children):
        pid = os.fork()
        if pid == 0:
            while True:
                time.sleep(1)
        pids.append(pid)
    out("pids " + " ".join(map(str, pids)))
    while True:
        time.sleep(1)


def main():
    mode = sys.argv[1]
    if mode == "interactive":
        interactive()
    elif mode == "ignore-term":
        ignore_term(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    elif mode == "spin":
        x = 0
        while True:
            x += 1
    elif mode == "hog":
        blocks = []
        while True:
            blocks.append(bytearray(16 * 1024 * 1024))
    elif mode == "binary":
        sys.stdout.buffer.write(b"ok \xff\xfe bytes\n")
        sys.stdout.buffer.write(b"nul \x00 here\n")
        sys.stdout.buffer.write(b"L" * 100000 + b"\n")
        sys.stdout.buffer.write(b"after\n")
        sys.stdout.buffer.write(b"no newline at the end")
        sys.stdout.flush()
    elif mode == "escapes":
        sys.stdout.buffer.write('quote " backslash \\ tab \t ctl \x01\x1f del \x7f é ✓ 😀\n'.encode())
        sys.stdout.buffer.write(b"M" * 20000 + b"\n")
        sys.stdout.buffer.write(b"cr \r slash / end")
        sys.stdout.flush()
    elif mode == "flood":
        n = int(sys.argv[2])
        w = sys.stdout.write
        for i in range(1, n + 1):
            w(f"line {i:08d} " + "x" * 40 + "\n")
        sys.stdout.flush()
    elif mode == "exit":
        if len(sys.argv) > 3:
            time.sleep(float(sys.argv[3]))
        out("exiting")
        sys.exit(int(sys.argv[2]))
    elif mode == "status":
        out(json.dumps({"type": "status", "status": "thinking"}))
        time.sleep(1.0)
        out(json.dumps({"type": "status", "status": "running"}))
        time.sleep(30)


if __name__ == "__main__":
    main()
