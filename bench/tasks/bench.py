"""The measurements of bench/tasks/run (see there); also runnable against a daemon of your own
with BENCH_PORT, BENCH_TMP (its data dir's parent: data/admin.token) and BENCH_PID set."""
import http.client
import json
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

TMP, PORT, PID = os.environ["BENCH_TMP"], int(os.environ["BENCH_PORT"]), int(os.environ["BENCH_PID"])
OUT, ROOT = os.environ["BENCH_OUTFILE"], os.environ["BENCH_ROOT"]
RT = int(os.environ.get("BENCH_RT", "300"))
NTASKS = int(os.environ.get("BENCH_TASKS", "20000"))
NWORKERS = int(os.environ.get("BENCH_WORKERS", "8"))


def token():
    p = f"{TMP}/data/admin.token"
    for _ in range(400):
        if os.path.exists(p):
            time.sleep(0.1)
            return open(p).read().strip()
        time.sleep(0.05)
    sys.exit("bench/tasks: the daemon did not start")


TOKEN = token()
H = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN}
local = threading.local()


def call(method, path, body=None):
    c = getattr(local, "c", None)
    if c is None:
        c = local.c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=H)
    r = c.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data else None)


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p))] * 1000, 3)


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        f = f.read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def round_trips(cap):
    lat = []
    for i in range(RT):
        t0 = time.perf_counter()
        st, t = call("POST", "/api/v1/tasks", {"type": "echo", "capability": cap, "input": i})
        assert st == 201, t
        st, fin = call("GET", f"/api/v1/tasks/{t['id']}/wait?timeout_ms=10000")
        assert fin["state"] == "succeeded" and fin["output"] == i, fin
        lat.append(time.perf_counter() - t0)
    return {"n": RT, "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99)}


def lease_worker_loop(stop, caps, max_n=1):
    while not stop.is_set():
        st, got = call("POST", "/api/v1/tasks/lease",
                       {"capabilities": caps, "max": max_n, "wait_ms": 200, "lease_ms": 30000})
        for t in got["tasks"]:
            call("POST", f"/api/v1/tasks/{t['id']}/result",
                 {"lease": t["lease"], "ok": True, "output": t["input"]})


def drain_worker(batch, done_q):
    local.c = None
    n = 0
    idle = 0
    last = time.perf_counter()  # when this worker's last completion was answered
    while idle < 20:
        st, got = call("POST", "/api/v1/tasks/lease",
                       {"capabilities": ["noop"], "max": 50, "wait_ms": 100, "lease_ms": 60000})
        if not got["tasks"]:
            idle += 1
            continue
        idle = 0
        if batch:  # one request completes the whole lease
            st, r = call("POST", "/api/v1/tasks/results",
                         {"results": [{"id": t["id"], "lease": t["lease"], "ok": True}
                                      for t in got["tasks"]]})
            assert st == 200 and r["refused"] == 0, (st, r)
            n += r["completed"]
            last = time.perf_counter()
            continue
        for t in got["tasks"]:
            st, r = call("POST", f"/api/v1/tasks/{t['id']}/result", {"lease": t["lease"], "ok": True})
            assert st == 200, (st, r)
            n += 1
        last = time.perf_counter()
    done_q.put((n, last))


def submitter(n, batch, q):
    local.c = None
    if batch:
        for i in range(0, n, 100):
            k = min(100, n - i)
            st, r = call("POST", "/api/v1/tasks/batch",
                         {"tasks": [{"type": "noop", "capability": "noop"}] * k})
            assert st == 200 and r["accepted"] == k, (st, r)
        q.put(n)
        return
    for i in range(n):
        st, _ = call("POST", "/api/v1/tasks", {"type": "noop", "capability": "noop"})
        assert st == 201, (st, _)
    q.put(n)


def throughput(batch):
    """4 submitter processes, then NWORKERS leasing workers (lease max 50) drain the queue; with
    batch, submissions go 100 to a request and each lease's results in one request."""
    q = mp.Queue()
    c0, t0 = cpu_s(PID), time.perf_counter()
    subs = [mp.Process(target=submitter, args=(NTASKS // 4, batch, q)) for _ in range(4)]
    for p in subs:
        p.start()
    for p in subs:
        p.join()
    t1, c1 = time.perf_counter(), cpu_s(PID)
    n_sub = sum(q.get() for _ in subs)
    ws = [mp.Process(target=drain_worker, args=(batch, q)) for _ in range(NWORKERS)]
    for p in ws:
        p.start()
    for p in ws:
        p.join()
    c2 = cpu_s(PID)
    got = [q.get() for _ in ws]
    drained = sum(n for n, _ in got)
    # until the last completion was answered (perf_counter is CLOCK_MONOTONIC, one clock for
    # all processes): the workers' idle tail of empty long-polls is not drain time
    drain_s = max(last for _, last in got) - t1
    return {
        "tasks": n_sub, "completed": drained, "workers": NWORKERS,
        "submit_per_s": round(n_sub / (t1 - t0)), "drain_per_s": round(drained / drain_s),
        # submitted and completed, one after the other: tasks through the whole path per second
        "end_to_end_per_s": round(drained / (t1 - t0 + drain_s)),
        "daemon_cpu_us_per_submit": round((c1 - c0) / n_sub * 1e6, 1),
        "daemon_cpu_us_per_completion": round((c2 - c1) / max(drained, 1) * 1e6, 1),
        # what the daemon alone could sustain on one core: tasks submitted and completed per
        # second of its CPU (threads included); the Python clients share the machine's cores
        "daemon_tasks_per_cpu_s": round(1 / max((c1 - c0) / n_sub + (c2 - c1) / max(drained, 1),
                                                 1e-9)),
        "note": ("submissions 100 to a request (POST /tasks/batch); a completion is one lease "
                 "share (max 50 per lease) plus a share of one POST /tasks/results per lease"
                 if batch else
                 "a completion is one lease share (max 50 per lease) plus one result POST")
        + "; every transition committed (grouped) before its reply",
    }


def ganglion():
    res = {}
    # 1a. stdin worker
    st, a = call("POST", "/api/v1/agents", {"name": "bench-stdin", "argv": [
        sys.executable, f"{ROOT}/examples/tasks/stdin_worker.py"], "capabilities": ["rt-stdin", "tasks:8"]})
    assert st == 201, a
    for _ in range(200):
        if call("GET", f"/api/v1/agents/{a['id']}")[1]["status"] == "running":
            break
        time.sleep(0.02)
    res["stdin_round_trip"] = round_trips("rt-stdin")
    # 1b. leasing worker (a thread with its own connection)
    stop = threading.Event()
    th = threading.Thread(target=lease_worker_loop, args=(stop, ["rt-lease"]))
    th.start()
    res["lease_round_trip"] = round_trips("rt-lease")
    stop.set()
    th.join()
    # 2. throughput: a request per task, then the batch endpoints
    res["throughput"] = throughput(False)
    if os.environ.get("BENCH_BATCH", "1") != "0":  # 0: a daemon without the batch endpoints
        res["throughput_batched"] = throughput(True)
    return res


def rabbit():
    try:
        import pika
    except ImportError:
        return {"skipped": "python3-pika not installed"}
    url = os.environ.get("BENCH_AMQP")
    if not url:
        return {"skipped": "no broker: set BENCH_AMQP=amqp://guest:guest@127.0.0.1:PORT/"}
    params = pika.URLParameters(url)

    def connect():
        for _ in range(60):  # the broker may still be booting after its port opened
            try:
                return pika.BlockingConnection(params)
            except pika.exceptions.AMQPConnectionError:
                time.sleep(0.5)
        return pika.BlockingConnection(params)

    def chan():
        conn = connect()
        ch = conn.channel()
        ch.confirm_delivery()
        for qn in ("bench.tasks", "bench.results"):
            ch.queue_declare(qn, durable=True)
        return conn, ch

    persistent = pika.BasicProperties(delivery_mode=2)

    def worker(stop):
        conn, ch = chan()
        for m, _, body in ch.consume("bench.tasks", inactivity_timeout=0.2):
            if stop.is_set():
                break
            if m is None:
                continue
            ch.basic_publish("", "bench.results", body, persistent)
            ch.basic_ack(m.delivery_tag)
        ch.cancel()
        conn.close()

    conn, ch = chan()
    ch.queue_purge("bench.tasks")
    ch.queue_purge("bench.results")
    stop = threading.Event()
    th = threading.Thread(target=worker, args=(stop,))
    th.start()
    lat = []
    it = ch.consume("bench.results")
    for i in range(RT):
        t0 = time.perf_counter()
        ch.basic_publish("", "bench.tasks", json.dumps({"i": i}).encode(), persistent)
        m, _, body = next(it)
        ch.basic_ack(m.delivery_tag)
        lat.append(time.perf_counter() - t0)
    ch.cancel()
    stop.set()
    th.join()
    res = {"round_trip": {"n": RT, "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99)}}
    # drain: publish NTASKS persistent with confirms, then 8 consumers ack them
    t0 = time.perf_counter()
    for i in range(NTASKS):
        ch.basic_publish("", "bench.tasks", b"{}", persistent)
    t1 = time.perf_counter()
    conn.close()

    def consumer(q):
        conn2 = pika.BlockingConnection(params)
        ch2 = conn2.channel()
        ch2.basic_qos(prefetch_count=50)
        n = 0
        for m, _, _ in ch2.consume("bench.tasks", inactivity_timeout=0.5):
            if m is None:
                break
            ch2.basic_ack(m.delivery_tag)
            n += 1
        conn2.close()
        q.put(n)
    q = mp.Queue()
    ps = [mp.Process(target=consumer, args=(q,)) for _ in range(8)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    t2 = time.perf_counter()
    got = sum(q.get() for _ in ps)
    res["throughput"] = {"messages": NTASKS, "consumed": got,
                         "publish_confirmed_per_s": round(NTASKS / (t1 - t0)),
                         "drain_per_s": round(got / (t2 - t1 - 0.5))}
    return res


def main():
    res = {"ganglion": ganglion()}
    try:
        res["rabbitmq"] = rabbit()
    except Exception as e:  # a broker that failed to boot must not lose ganglion's figures
        res["rabbitmq"] = {"failed": f"{type(e).__name__}: {e}"}
    res["machine"] = {"cpus": os.cpu_count(), "loadavg": os.getloadavg()[0]}
    with open(OUT, "w") as f:
        json.dump(res, f, indent=2)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
