#!/usr/bin/env python3
"""A stdin worker: ganglion starts it as an agent that declares the capability `tasks:N`, writes
each task as a JSON line on its stdin and reads progress and results from its stdout
(docs/tasks.md). Standard library only. Spawn it, for example:

  ganglion agents spawn --name w1 --capability echo --capability sleep --capability tasks:2 \
      -- python3 examples/tasks/stdin_worker.py

Task types: echo (output = input), sleep (input {"ms": N}: a progress line every 100 ms; a
task_cancel line stops it), fail (ok false), exit (the process exits: the task is retried
elsewhere).
"""
import json
import os
import sys
import threading
import time

out_lock = threading.Lock()
cancelled = set()


def say(msg):
    with out_lock:
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()


def work(task):
    tid, kind, data = task["id"], task.get("task_type"), task.get("input")
    if kind == "echo":
        say({"type": "task_result", "id": tid, "ok": True, "output": data})
    elif kind == "fail":
        say({"type": "task_result", "id": tid, "ok": False, "error": "asked to fail"})
    elif kind == "exit":
        os._exit(3)
    elif kind == "sleep":
        ms = (data or {}).get("ms", 0)
        end, step = time.monotonic() + ms / 1000, 0
        while time.monotonic() < end:
            if tid in cancelled:
                print(f"cancelled {tid}", file=sys.stderr, flush=True)
                return
            time.sleep(min(0.1, max(0, end - time.monotonic())))
            step += 1
            say({"type": "task_progress", "id": tid, "progress": {"step": step}})
        say({"type": "task_result", "id": tid, "ok": True, "output": {"slept_ms": ms}})
    else:
        say({"type": "task_result", "id": tid, "ok": False, "error": f"unknown type {kind}"})


def main():
    for line in sys.stdin:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("type") == "task":
            threading.Thread(target=work, args=(msg,), daemon=True).start()
        elif msg.get("type") == "task_cancel":
            cancelled.add(msg.get("id"))


if __name__ == "__main__":
    main()
