#!/usr/bin/env python3
"""The live heap of a heaptrack trace (as written by bench/soak/heaptrack) by part, every STEP
seconds: the allocations made and not yet freed at that moment, grouped by the first matching
function on their stack. A part that rises and levels off is a pool or cache reaching its size;
one that keeps rising with the traffic is unbounded; RSS rising while the live heap does not is
the allocator's. Usage: heap_series.py TRACE.zst [STEP_S]"""

import collections
import subprocess
import sys

# (part, substring of a frame's function or module); the first match names the part
PARTS = [("cbad-zstd", "cbad_csize"), ("cbad", "cbad_"), ("numeric", "num_"),
         ("sqlite", "libsqlite3"), ("openapi", "api_openapi"), ("agents", "agents_"),
         ("watch", "watch_"), ("bus", "bus_"), ("http", "conn_"), ("zmq", "zmq"),
         ("store", "store_"), ("auth", "auth_")]


def main():
    path, step = sys.argv[1], int(float(sys.argv[2] if len(sys.argv) > 2 else 20) * 1000)
    p = subprocess.Popen(["zstd", "-dc", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         bufsize=1 << 20)
    strings, ips, traces, info, live = [""], [None], [None], [], []
    part_of, rows, nxt, now, rss = {}, [], step, 0, 0

    def part(tr):
        if tr not in part_of:
            names, t = [], tr
            while t:
                ipi, parent = traces[t]
                mod, frames = ips[ipi]
                names += [strings[f[0]] for f in frames] if frames else [strings[mod]]
                t = parent
            joined = " ".join(names)
            part_of[tr] = next((n for n, s in PARTS if s in joined), "other")
        return part_of[tr]

    # heaptrack's interpreted format: one record a line, numbers in hex
    for raw in p.stdout:
        c = raw[:1]
        if c == b"+":
            live[int(raw[2:], 16)] += 1
        elif c == b"-":
            live[int(raw[2:], 16)] -= 1
        elif c == b"a":
            f = raw.split()
            info.append((int(f[1], 16), int(f[2], 16)))
            live.append(0)
        elif c == b"c":
            now = int(raw[2:], 16)
            while now >= nxt:
                by = collections.Counter()
                for i, n in enumerate(live):
                    if n:
                        by[part(info[i][1])] += info[i][0] * n
                rows.append((nxt, by, rss))
                nxt += step
        elif c == b"R":
            rss = int(raw[2:], 16) * 4096
        elif c == b"t":
            f = raw.split()
            traces.append((int(f[1], 16), int(f[2], 16)))
        elif c == b"i":
            f = raw.split()
            rest = f[3:]
            ips.append((int(f[2], 16), [(int(rest[k], 16),) for k in range(0, len(rest) - 2, 3)]))
        elif c == b"s":
            sp = raw.decode(errors="replace").rstrip("\n").split(" ", 2)
            strings.append(sp[2] if len(sp) > 2 else "")
    names = [n for n, _ in PARTS] + ["other"]
    print("live heap by part, KB (openapi: a document being rendered at that instant)")
    print("   t_s " + " ".join(f"{n:>9}" for n in names) + "      live   live-oa    RSS")
    for t, by, r in rows:
        total = sum(by.values())
        print(f"{t // 1000:6d} " + " ".join(f"{by[n] >> 10:9d}" for n in names)
              + f" {total >> 10:9d} {(total - by['openapi']) >> 10:9d} {r >> 10:6d}")


if __name__ == "__main__":
    main()
