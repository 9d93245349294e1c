#!/usr/bin/env python3
"""Brian2's side of bench/brain: the same network (pre/post arrays written by bench.c), the same
firing rate (a random fraction of the neurons fires each step) and the same step count, in
Brian2's numpy runtime or as cpp_standalone (compiled with g++; the build is not timed).

    brian.py NET.bin NEURONS STEPS FRACTION numpy|cpp WORKDIR

Prints {"mode", "steps", "run_s", "per_step_us", "spikes_per_step"}."""
import json
import os
import sys
import time

import numpy as np


def main():
    path, n, steps, frac, mode, work = sys.argv[1:7]
    n, steps, frac = int(n), int(steps), float(frac)
    raw = np.fromfile(path, dtype=np.int32)
    m = raw.size // 2
    pre, post = raw[:m], raw[m:]
    os.makedirs(work, exist_ok=True)
    import brian2 as b2
    b2.prefs.logging.file_log = False
    b2.prefs.logging.delete_log_on_exit = True
    if mode == "cpp":
        b2.set_device("cpp_standalone", directory=os.path.join(work, "standalone"),
                      build_on_run=True)
    else:
        b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = 1 * b2.ms
    tau = 10 * b2.ms
    # leak as in the engine's neurons; the stimulated fraction fires (rand() per neuron and step),
    # synapses add their PSP to the target: the same work per step as the engine's burst
    g = b2.NeuronGroup(n, "dv/dt = -v/tau : 1", threshold=f"rand() < {frac}", reset="v = 0",
                       method="exact", namespace={"tau": tau})
    s = b2.Synapses(g, g, on_pre="v_post += 1.0")
    s.connect(i=pre, j=post)
    mon = b2.SpikeMonitor(g, record=False)
    net = b2.Network(g, s, mon)
    if mode == "cpp":
        net.run(steps * b2.defaultclock.dt)
        run_s = b2.device._last_run_time
    else:
        net.run(5 * b2.defaultclock.dt)  # code generation and first-run set-up
        before = int(mon.num_spikes)
        t0 = time.perf_counter()
        net.run(steps * b2.defaultclock.dt)
        run_s = time.perf_counter() - t0
        _ = before
    spikes = int(mon.num_spikes)
    total_steps = steps if mode == "cpp" else steps + 5
    print(json.dumps({"mode": mode, "steps": steps, "run_s": run_s,
                      "per_step_us": run_s / steps * 1e6,
                      "spikes_per_step": spikes / total_steps}))


if __name__ == "__main__":
    main()
