"""Where a two-thread run's time goes, region by region: an LD_PRELOAD shim around libgomp's ``GOMP_parallel`` and
``GOMP_barrier`` records, for every parallel region of a bundle's demo, the fork latency (the master's call to the
worker's start), each thread's time in the region and inside explicit barriers, and the join (the last thread's end
to the master's return). Per region (the run's k-th region), the means over the ``--best`` runs with the smallest sum
of region times, and their sums: fork + join is what a cheaper thread pool could save; the imbalance (the threads'
net work apart) is what better splits could.

    PYTHONPATH=$PWD python bench/omp_regions.py BUNDLE_DIR [--threads 2] [--repeat 200] [--best 15]

(a bundle saved by ``Bundle.save``, its demo built: ``make -C BUNDLE_DIR``; the input is random normal). The shim wraps
libgomp's entry points: a bundle of a profile with ``[cpu] threading = "pool"`` (host) defines its own, so build it
against libgomp for this (``make -C BUNDLE_DIR SRCS="<SRCS without sdk_pool.c>" LDLIBS="-lm -fopenmp"``: the same
kernels and splits). ``OMP_*`` variables pass through (``OMP_WAIT_POLICY=passive`` on a loaded machine).
"""
import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

SHIM = r"""/* LD_PRELOAD shim: per parallel region of an OpenMP program, the fork latency (master's call -> each worker's start),
 * each thread's time in the region's function, its time inside explicit barriers, and the join (last thread's end ->
 * the master's return). Writes one line per region to $FJ_OUT at exit. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <omp.h>
#define MAXR 200000
typedef struct { double call, ret, st[2], en[2], bw[2]; } rec;
static rec *R; static int nr;
static __thread double bw_acc;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
/* FJ_CLOCK=cpu: each thread's busy and barrier times on its own CPU clock (what it computed, not the time a loaded
 * machine kept it off a core); fork and join stay on the wall clock */
static int cpu_clock = -1;
static double bnow(void) {
  if (cpu_clock < 0) cpu_clock = getenv("FJ_CLOCK") && getenv("FJ_CLOCK")[0] == 'c';
  if (!cpu_clock) return now();
  struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec;
}
typedef void (*par_t)(void (*)(void *), void *, unsigned, unsigned);
typedef struct { void (*fn)(void *); void *data; rec *r; } wrap;
static void tramp(void *v) {
  wrap *w = v; int tid = omp_get_thread_num();
  double s = now(), cs = bnow(); bw_acc = 0; w->fn(w->data); double e = now(), ce = bnow();
  if (tid < 2) { w->r->st[tid] = s; w->r->en[tid] = cpu_clock ? s + (ce - cs) : e; w->r->bw[tid] = bw_acc; }
}
void GOMP_parallel(void (*fn)(void *), void *d, unsigned n, unsigned f) {
  static par_t real; if (!real) real = (par_t)dlsym(RTLD_NEXT, "GOMP_parallel");
  if (!R) R = calloc(MAXR, sizeof(rec));
  rec *r = nr < MAXR ? &R[nr++] : &R[MAXR - 1];
  wrap w = {fn, d, r};
  r->st[1] = r->en[1] = 0;
  r->call = now(); real(tramp, &w, n, f); r->ret = now();
}
void GOMP_barrier(void) {
  static void (*real)(void); if (!real) real = (void (*)(void))dlsym(RTLD_NEXT, "GOMP_barrier");
  double s = bnow(); real(); bw_acc += bnow() - s;
}
__attribute__((destructor)) static void fin(void) {
  const char *o = getenv("FJ_OUT"); FILE *f = o ? fopen(o, "w") : stderr;
  for (int i = 0; i < nr; ++i) {
    rec *r = &R[i];
    fprintf(f, "%d %.3f %.3f %.3f %.3f %.3f %.3f %.3f\n", i, 1e6 * (r->ret - r->call), 1e6 * (r->st[1] ? r->st[1] - r->call : -1),
            1e6 * (r->en[0] - r->st[0]), 1e6 * (r->st[1] ? r->en[1] - r->st[1] : -1), 1e6 * r->bw[0], 1e6 * r->bw[1],
            1e6 * (r->ret - (r->en[0] > r->en[1] ? r->en[0] : r->en[1])));
  }
  if (o) fclose(f);
}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bundle")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--best", type=int, default=15)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: busy and barrier times on each thread's CPU clock (a loaded machine; join is then not meaningful)")
    a = ap.parse_args()
    from sdk.backends.host.runner import write_tensor
    d = Path(a.bundle).resolve()
    exe = next(f for f in d.iterdir() if f.name.endswith("_main"))
    meta = json.loads((d / "bundle.json").read_text())
    tmp = Path(tempfile.mkdtemp(prefix="omp_regions_"))
    (tmp / "shim.c").write_text(SHIM)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-fopenmp", str(tmp / "shim.c"), "-o", str(tmp / "shim.so"),
                    "-ldl"], check=True)
    ins = []
    for k, spec in enumerate(meta["input_types"]):  # float inputs; a symbolic dim (a string) as 1
        shape = [v if isinstance(v, int) and v > 0 else 1 for v in spec["shape"]]
        write_tensor(tmp / f"in{k}.sdkt", np.random.default_rng(k).standard_normal(shape).astype(np.float32))
        ins.append(str(tmp / f"in{k}.sdkt"))
    outs = [str(tmp / f"out{k}.sdkt") for k in range(len(meta["outputs"]))]
    log = tmp / "regions.txt"
    res = subprocess.run([str(exe), "--threads", str(a.threads), "--repeat", str(a.repeat), *ins, *outs], check=True,
                         capture_output=True, text=True, env={"LD_PRELOAD": str(tmp / "shim.so"), "FJ_OUT": str(log),
                                                             "PATH": "/usr/bin:/bin", "FJ_CLOCK": a.clock,
                                                             **{k: v for k, v in os.environ.items() if k.startswith("OMP_")}}).stdout
    rows = np.loadtxt(log, ndmin=2)
    per = len(rows) // a.repeat
    n = len(rows) // per
    rows = rows[len(rows) - n * per:].reshape(n, per, 8)
    wall = rows[:, :, 1]
    idx = np.argsort(wall.sum(1))[:a.best]
    B = rows[idx]
    fork, b0, b1, w0, w1, join = (B[:, :, i] for i in (2, 3, 4, 5, 6, 7))
    print(f"{exe.name} --threads {a.threads}: {n} runs of {per} regions, demo {' '.join(res.split()[-4:])}; "
          f"means over the {a.best} runs with the least region time (us)")
    print("| region | wall | fork | t0 busy | t1 busy | t0 in barriers | t1 in barriers | join |")
    print("|---|---|---|---|---|---|---|---|")
    for k in range(per):
        print(f"| {k} | {wall[idx, k].mean():.1f} | {fork[:, k].mean():.2f} | {b0[:, k].mean():.1f} | "
              f"{b1[:, k].mean():.1f} | {w0[:, k].mean():.1f} | {w1[:, k].mean():.1f} | {join[:, k].mean():.2f} |")
    s = lambda v: v.sum(1).mean()
    imb = np.abs((b0 - w0) - (b1 - w1))
    print(f"\nsums: regions {s(wall[idx]):.0f} us, fork {s(fork):.1f}, join {s(join):.1f}, barrier waits "
          f"{s(w0):.1f} / {s(w1):.1f}, imbalance (|net work t0 - t1| summed) {s(imb):.0f}")


if __name__ == "__main__":
    main()
