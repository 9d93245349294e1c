#!/usr/bin/env python3
"""A leasing worker: asks ganglion for tasks over the API, heartbeats while it works and posts
each result (docs/tasks.md). Standard library only.

  GANGLION_URL=http://127.0.0.1:7700 GANGLION_API_KEY=gk_... \
      examples/tasks/lease_worker.py --capability echo --capability sleep [--agent NAME] [--batch N]

With --batch N it leases up to N tasks at a time and posts their results in one request
(POST /api/v1/tasks/results): two requests per lease instead of one per task.

Task types it knows: echo (output = input), sleep (input {"ms": N}: progress every 100 ms),
fail (ok false). Anything else fails with "unknown task type".
"""
import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

URL = os.environ.get("GANGLION_URL", "http://127.0.0.1:7700").rstrip("/")
KEY = os.environ.get("GANGLION_API_KEY", "")


def call(path, body):
    req = urllib.request.Request(URL + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": "Bearer " + KEY})
    try:
        with urllib.request.urlopen(req, timeout=70) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def run(task, lease_ms):
    """Does one task; returns (ok, output, error), or None when the lease was lost."""
    kind, data = task["type"], task.get("input")
    if kind == "echo":
        return True, data, None
    if kind == "fail":
        return False, None, "asked to fail"
    if kind == "sleep":
        end = time.monotonic() + (data or {}).get("ms", 0) / 1000
        step = 0
        while time.monotonic() < end:
            time.sleep(min(0.1, max(0, end - time.monotonic())))
            step += 1
            status, _ = call(f"/api/v1/tasks/{task['id']}/heartbeat",
                             {"lease": task["lease"], "progress": {"step": step},
                              "lease_ms": lease_ms})
            if status == 409:  # cancelled, or the lease lapsed and the task went elsewhere
                return None
        return True, {"slept_ms": (data or {}).get("ms", 0)}, None
    return False, None, f"unknown task type {kind}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--capability", action="append", default=[])
    ap.add_argument("--agent")
    ap.add_argument("--lease-ms", type=int, default=5000)
    ap.add_argument("--once", action="store_true", help="exit after one task")
    ap.add_argument("--batch", type=int, default=1,
                    help="lease up to N tasks and post their results in one request (1-100)")
    a = ap.parse_args()
    if not 1 <= a.batch <= 100:
        ap.error("--batch takes 1 to 100")
    body = {"capabilities": a.capability, "max": a.batch, "wait_ms": 20000,
            "lease_ms": a.lease_ms}
    if a.agent:
        body["agent"] = a.agent
    while True:
        status, got = call("/api/v1/tasks/lease", body)
        if status != 200:
            print(f"lease refused: {status} {got}", file=sys.stderr, flush=True)
            time.sleep(1)
            continue
        results = []
        for task in got["tasks"]:
            print(f"task {task['id']} {task['type']}", flush=True)
            done = run(task, a.lease_ms)
            if done is None:
                print(f"task {task['id']} lost its lease", flush=True)
                if a.once:
                    return
                continue
            ok, output, error = done
            body_r = {"lease": task["lease"], "ok": ok, "output": output}
            if error:
                body_r["error"] = error
            if a.batch > 1:
                results.append(dict(body_r, id=task["id"]))
                continue
            status, res = call(f"/api/v1/tasks/{task['id']}/result", body_r)
            print(f"task {task['id']} result {status}", flush=True)
            if a.once:
                return
        if results:
            status, res = call("/api/v1/tasks/results", {"results": results})
            items = res.get("results", []) if status == 200 else []
            for item in items:
                print(f"task {item['id']} result {item['status']}", flush=True)
            if status != 200:
                print(f"results refused: {status} {res}", file=sys.stderr, flush=True)
            if a.once:
                return

if __name__ == "__main__":
    main()
