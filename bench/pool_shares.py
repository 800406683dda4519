"""Per step of a model at two (or more) threads on the runtime's pool: each thread's CPU time in its shares, against
the step's one-thread CPU time, read on a busy machine. The demo is built with the step timer and the pool's share
clock (``-DSDK_PROFILE -DSDK_POOL_SHARE_CLOCK``: every region prints each thread's CPU us in its shares, the region's
wall us and how many workers' shares the caller ran itself); the CPU clock leaves out the other jobs' slices that
make two-thread wall times unreadable at load 10+, so the table shows what the split itself costs:

- ``t1``: the step's one-thread CPU time (a ``-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID`` build), minimum over runs;
- ``regions``: parallel regions the step opens at the thread count (0: it runs on one thread there);
- ``crit``: the sum over its regions of the busiest thread's CPU time (the step's time if both threads ran at once
  and never waited for a core), ``cpu``: all threads' CPU time (barrier spins included); minima over the runs in which
  no worker's share was taken by the caller;
- ``scale`` = t1 / crit (ideal 2.0 at two threads), ``bal`` = crit / (cpu / threads) (1.0: even shares), ``over`` =
  cpu / t1 (1.0: the split adds no work), ``work over``: the same without the threads' CPU in barrier waits (above
  1.0: the threads' compute itself costs more CPU than one thread's: duplicated packing, cache or memory contention,
  or a core shared with another job's hyperthread).

    python bench/pool_shares.py bench/data/zoo_full/squeezenet1_1.onnx --runs 40
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx

STEP = re.compile(r"step (\S+)\s+([\d.]+) us")
REGION = re.compile(r"pool region ((?:[\d.]+ )+)(\d+) (\d+)$")


def build(model, out: Path, cflags):
    import sdk
    b = sdk.compile(model, target="host", name="model")
    b.save(out, force=True)
    base = next(ln.split("=", 1)[1].strip() for ln in (out / "Makefile").read_text().splitlines()
                if ln.startswith("CFLAGS ="))
    subprocess.run(["make", "-s", "-B", "-C", str(out), "CFLAGS=" + " ".join([base, *cflags])], check=True,
                   capture_output=True)


def parse(stderr: str, threads: int):
    """[(step, step us, [(cpu us per thread..., wall us, taken)] per region)] in run order."""
    out, regions = [], []
    for ln in stderr.splitlines():
        m = REGION.match(ln)
        if m:
            vals = [float(x) for x in m.group(1).split()]
            n = (len(vals) - 1) // 2  # threads' share CPU us, their barrier-wait CPU us, wall us
            regions.append((vals[:n], int(m.group(3)), vals[n:2 * n], int(m.group(2))))
            continue
        m = STEP.match(ln)
        if m:
            out.append((m.group(1).split("->")[-1], float(m.group(2)), regions))
            regions = []
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--cflags", default="", help="extra compiler flags of both builds (e.g. -DSDK_PAR_MIN_WORK=65536)")
    a = ap.parse_args()
    from sdk.backends.host.runner import run_demo
    import json
    model = onnx.load(a.model)
    inp = model.graph.input[0]
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    feed = {inp.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    tmp = Path(tempfile.mkdtemp(prefix="pool_shares_"))
    load0 = os.getloadavg()[0]
    try:
        one, many = tmp / "one", tmp / "many"
        build(model, one, ["-DSDK_PROFILE", "-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID", *a.cflags.split()])
        build(model, many, ["-DSDK_PROFILE", "-DSDK_POOL_SHARE_CLOCK", *a.cflags.split()])
        meta = json.loads((one / "bundle.json").read_text())
        _, _, p1 = run_demo([str(one / "model_main")], meta, feed, repeat=a.runs, threads=1)
        _, _, pn = run_demo([str(many / "model_main")], meta, feed, repeat=a.runs, threads=a.threads)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load1 = os.getloadavg()[0]
    t1 = defaultdict(lambda: float("inf"))
    for name, us, _ in parse(p1.stderr, 1):
        t1[name] = min(t1[name], us)
    crit, cpu, barw, bars, nreg, wall = (defaultdict(lambda: float("inf")), {}, {}, {}, {}, {})
    for name, us, regions in parse(pn.stderr, a.threads):
        nreg[name] = len(regions)
        wall[name] = min(wall.get(name, float("inf")), us)
        if any(r[1] for r in regions):
            continue  # the caller ran a worker's share: the worker was off its core, nothing about the split
        if regions:
            c = sum(max(r[0]) for r in regions)
            if c < crit[name]:
                crit[name], cpu[name] = c, sum(sum(r[0]) for r in regions)
                barw[name], bars[name] = sum(sum(r[2]) for r in regions), sum(r[3] for r in regions)
    names = sorted(t1, key=lambda s: -t1[s])
    print(f"{Path(a.model).name}: {a.threads} threads on the pool, {a.runs} runs each build, per-step minima of CPU "
          f"time; load {load0:.1f}-{load1:.1f}\n")
    print("| step | t1 us | regions | barriers | crit us | cpu us | of which barrier waits | scale | bal | over | "
          "work over | wall us |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    tot1 = totc = totw = 0.0
    for i, s in enumerate(names):
        k = nreg.get(s, 0)
        c = crit[s] if k and crit[s] < float("inf") else None
        tot1 += t1[s]
        totc += c if c is not None else t1[s]
        totw += cpu[s] - barw[s] if c is not None else t1[s]
        if i >= a.top:
            continue
        if c is None:
            print(f"| {s} | {t1[s]:.1f} | {k} | - | - | - | - | {'1.00' if k == 0 else '-'} | - | - | - | "
                  f"{wall.get(s, 0):.1f} |")
        else:
            print(f"| {s} | {t1[s]:.1f} | {k} | {bars[s]} | {c:.1f} | {cpu[s]:.1f} | {barw[s]:.1f} | "
                  f"{t1[s] / c:.2f} | {c / (cpu[s] / a.threads):.2f} | {cpu[s] / t1[s]:.2f} | "
                  f"{(cpu[s] - barw[s]) / t1[s]:.2f} | {wall[s]:.1f} |")
    print(f"\nsum of steps: one thread {tot1 / 1e3:.3f} ms CPU; {a.threads} threads, busiest thread per region (steps "
          f"without regions at their one-thread time) {totc / 1e3:.3f} ms: scale {tot1 / totc:.2f}; all threads' CPU "
          f"outside barrier waits {totw / 1e3:.3f} ms ({totw / tot1:.2f}x one thread's)")
    serial = [s for s in names if not nreg.get(s)]
    small = [s for s in names if nreg.get(s) and crit[s] < float("inf") and t1[s] < 20]
    print(f"steps on one thread (no region): {len(serial)}, {sum(t1[s] for s in serial):.0f} us; split steps under "
          f"20 us: {len(small)}, {sum(t1[s] for s in small):.0f} us one thread, "
          f"{sum(crit[s] for s in small):.0f} us busiest thread")
    return 0


if __name__ == "__main__":
    sys.exit(main())
