"""Latency of sdk bundles on real (full-width) zoo models against onnxruntime, one thread and all threads.

    python bench/zoo_latency.py [--models resnet18,vit_s] [--repeat 30] [--budget-s 10] [--interleave] [--write]
    python bench/zoo_latency.py --profile mobilenet_v3_small [--top 25] [--threads 1]

Models: every ``*.onnx`` in bench/data/zoo_full/ (made by ``bench/export_zoo_full.py`` with the torch venv); with
``--torch-zoo`` also the committed small zoo's image models (tests/torch_zoo, TorchScript files, names ``zoo_*``,
compiled at the manifest's bounds). Batch 1, random standard-normal input (seed 0).

Per model, in the same run:
- sdk1 / sdkN: ``sdk.compile(model, target="host")``, the untuned default build (gcc -O3 -march=native -fopenmp,
  the profile's flags); the C demo program times ``model_run`` ``n`` times after one untimed call, with
  ``model_set_threads(1)`` / ``(all cores)`` (its ``--threads``); median and min reported.
- ort1 / ortN: onnxruntime CPUExecutionProvider, ORT_ENABLE_ALL, ORT_SEQUENTIAL, intra-op threads 1 / all
  cores; two warm-up runs, then median and min of ``perf_counter`` around ``session.run``.
- ``sdk=ort``: max |sdk - ort1| <= 1e-3 + 1e-3 |ort1| on every output, for both sdk runs.
- ``arena``: the bundle's planned workspace at its bounds (``b.plan.arena_bytes``).
The machine is shared: the load average (``/proc/loadavg``) before and after each model is printed with the row,
and so is ``c2c``: the round trip of a cache line between two threads of this process (two OpenMP threads passing a
flag back and forth, minimum of a few thousand passes), before and after the row. On a virtual machine the host may
run the two vCPUs on cores that share a cache or on cores that do not: on the 2-vCPU build machine of 2026-12-05 it
read ~52 ns or ~330 ns, switching every 20-60 s, and every all-threads time (sdk's and onnxruntime's) moved with it
(SqueezeNet 1.1 two threads: sdk 2.9 / 4.9 ms, onnxruntime 3.5 / 5.0 ms; bench/RESULTS_zoo.md, helper sq15).

``--interleave``: instead of the demo program, the bundle's C sources (the same flags, minus the demo's main) are built
into a shared library that this process loads (ctypes), and sdk's ``model_run`` and onnxruntime run in paired rounds
in this one process (bench/paired_rounds.py): per round, each peer a block of one untimed run and ``k`` timed runs,
the order swapping round by round (sdk first, then onnxruntime first, ...); at one thread timed by the thread's CPU
clock, at all threads by the wall clock after a pause of ``PAUSE_S`` before each block (each engine's pool threads
spin for well under a millisecond after a run, then sleep, so neither spins while the other runs). ``--repeat`` is
the number of rounds (at least 5; fewer where a slow model would overrun the budget), and the blocks fill
``--budget-s`` (``plan_rounds``: a 3 ms pair at 16 rounds and 6 s gets blocks of 124 runs). Both peers are called the
same way: inputs, outputs (and sdk's arena) bound once to numpy buffers, sdk through ctypes (~2 us), onnxruntime
through io binding (``session.run_with_iobinding``; ``session.run`` also converted the inputs and allocated and
returned the outputs every run: 1-2 % of a MobileNetV3-S / ShuffleNetV2 run at load 1.6, up to 9 % under load 11,
that sdk did not pay). The ratio columns
are the median of the per-round ratios (block median / block median) with its 95 % order-statistic interval
(``sdk/ort 1t 95% CI``), the geometric means are over those medians; the ms columns are the medians and minimums of
all timed runs. ``--aa``: also the A/A controls, the same rounds of onnxruntime against a second session and of sdk
against a second copy of its library; a symmetric harness reads 1.00 within their interval.
Before 2026-12-07 (helper hx49) the one-thread pair alternated run by run for ``n`` <= ``--repeat`` pairs: 16 pairs
of MobileNetV3-S took ~50 ms, one instant of a host whose speed (and the two engines' ratio) drifts over seconds, and
the same build read 0.88 and 0.71 in two blocks of one run (bench/RESULTS_zoo.md, hx49).
Timed separately, back to back on a shared machine, the two peers met different loads minutes apart.

``--tuning-db FILE`` (with ``--interleave``): also the tuned build, ``sdk.compile(..., tuning_db=FILE)`` (a database
that ``sdk tune`` wrote for these models), at one thread against onnxruntime in its own interleaved pair: the columns
``tuned 1t`` and ``tuned/ort 1t``, and their geometric mean.

``--profile NAME`` builds that model with ``-DSDK_PROFILE`` (the bundle prints the time of every step) and prints
the time per step kind (library call / generated GEMM-conv workload / loop kernel), summed over the steps.
"""
from __future__ import annotations

import argparse
import atexit
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))  # paired_rounds (imported as a module by the tests)
FULL = ROOT / "bench" / "data" / "zoo_full"
TORCH_ZOO = ROOT / "tests" / "torch_zoo"
RTOL = ATOL = 1e-3
PAUSE_S = 0.05  # --interleave, all threads: idle time before each block, longer than either pool spins


def find_models(torch_zoo=False, folder=None):
    """{name: (path, sdk dim bounds)}: the full-width exports (or every ``*.onnx`` in ``folder``: models outside
    the zoo), plus (``torch_zoo``) the committed small zoo's single-float-input models (TorchScript files, compiled
    at the manifest's bounds, run at batch 1)."""
    d = Path(folder) if folder else FULL
    found = {p.stem: (p, None) for p in sorted(d.glob("*.onnx"))} if d.is_dir() else {}
    if torch_zoo and (TORCH_ZOO / "manifest.json").exists():
        import json
        for name, rec in json.loads((TORCH_ZOO / "manifest.json").read_text())["models"].items():
            f = rec["files"].get("ts")
            if f and len(rec["inputs"]) == 1 and rec["inputs"][0]["dtype"] == "float32":
                found[f"zoo_{name}"] = (TORCH_ZOO / f["path"], rec["bounds"])
    return found


C2C_SRC = r"""
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <omp.h>
static _Alignas(64) atomic_long flag;
int main(int argc, char **argv) {
  const long n = argc > 1 ? atol(argv[1]) : 2000; /* round trips a repetition */
  double best = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    double t0 = 0, t1 = 0;
    atomic_store(&flag, 0);
#pragma omp parallel num_threads(2)
    {
      const long me = omp_get_thread_num();
#pragma omp barrier
      if (me == 0) t0 = omp_get_wtime();
      for (long i = 0; i < n; ++i) { /* thread 0 moves the flag from 2i to 2i+1, thread 1 from 2i+1 to 2i+2 */
        while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + me) {}
        atomic_store_explicit(&flag, 2 * i + me + 1, memory_order_release);
      }
      if (me == 0) t1 = omp_get_wtime();
    }
    if ((t1 - t0) / n < best) best = (t1 - t0) / n;
  }
  printf("%.1f\n", best * 1e9);
  return 0;
}
"""
_C2C = {}


def c2c_ns(rounds=2000):
    """Round trip of a cache line between two threads of this machine, in ns (see the module's text), the best of 5
    repetitions of ``rounds`` round trips; None with fewer than two cores or no C compiler, or after 20 s (on a
    loaded machine a spinning thread waits for a time slice at every handoff)."""
    if len(os.sched_getaffinity(0)) < 2:
        return None
    try:
        if "exe" not in _C2C:
            d = Path(tempfile.mkdtemp(prefix="c2c"))
            atexit.register(shutil.rmtree, d, True)
            (d / "c2c.c").write_text(C2C_SRC)
            subprocess.run(["gcc", "-O2", "-std=c11", "-fopenmp", "-o", str(d / "c2c"), str(d / "c2c.c")], check=True,
                           capture_output=True)
            _C2C["exe"] = d / "c2c"
        return float(subprocess.run([str(_C2C["exe"]), str(rounds)], capture_output=True, text=True,
                                    timeout=20).stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def loadavg():
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):  # sandboxes without /proc/loadavg
        return 0.0


def feeds_for(model, seed=0):
    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    feed = {}
    for v in model.graph.input:
        if v.name in inits:
            continue
        shape = [d.dim_value if d.HasField("dim_value") else 1 for d in v.type.tensor_type.shape.dim]
        feed[v.name] = rng.standard_normal(shape).astype(onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type))
    return feed


def ort_times(model, feed, threads, n):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    out = dict(zip(names, sess.run(names, feed)))
    sess.run(names, feed)
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        sess.run(names, feed)
        ts.append(time.perf_counter() - t0)
    return out, 1e3 * statistics.median(ts), 1e3 * min(ts)


def compile_sdk(model, bounds=None, name="model", tuning_db=None):
    import sdk
    return sdk.compile(model, target="host", dims=bounds, name=name, tuning_db=tuning_db)


def sdk_times(b, feed, n, runner=None, threads=None):
    # engine="c": the bundle's demo program times the C model_run (not the in-process LLVM engine)
    if runner is None and threads is not None:
        from sdk.backends.host.runner import HostRunner
        runner = HostRunner(threads=threads)
    got, info = b.run_with_info(feed, runner=runner, engine="c", repeat=n + 1)
    return got, float(info["median_ms"]), float(info.get("min_ms", info["median_ms"]))


def agree(ref, *outs):
    """"yes" when every output is within ATOL + RTOL |ref| of onnxruntime's, else the excess."""
    err = max(float(np.max(np.abs(g[k] - v) - RTOL * np.abs(v))) for k, v in ref.items() for g in outs)
    return "yes" if err <= ATOL else f"NO ({err:.2g})"


def shared_library(b, tmp):
    """The bundle's C sources (its Makefile's CFLAGS and sources, not the demo's main.c) as a loaded shared library."""
    import ctypes

    from sdk.backends.host.ctensor import start_pool
    out = Path(b.save(Path(tmp) / "m"))
    mk = (out / "Makefile").read_text()
    cflags = re.search(r"^CFLAGS = (.*)$", mk, re.M).group(1).split()
    ldlibs = re.search(r"^LDLIBS = (.*)$", mk, re.M).group(1).split()
    srcs = [x for x in re.search(r"^SRCS = (.*)$", mk, re.M).group(1).split() if x != "main.c"]
    # one object a source, then the link: ccache (first in PATH) serves the runtime's objects and a model built before
    objs = [f"{Path(src).stem}.pic.o" for src in srcs]
    for src, obj in zip(srcs, objs):
        subprocess.run(["gcc", *cflags, "-fPIC", "-c", src, "-o", obj], cwd=out, check=True)
    subprocess.run(["gcc", *cflags, "-fPIC", "-shared", "-o", "lib.so", *objs, *ldlibs], cwd=out, check=True)
    lib = ctypes.CDLL(str(out / "lib.so"))
    start_pool(lib)  # [cpu] threading = "pool": the runtime's threads (all cores); bench_model stops them
    return lib


def ort_session(model, threads):
    """onnxruntime's CPU session: all graph optimisations (ORT_ENABLE_ALL, set explicitly), sequential, ``threads``
    intra-op threads, one inter-op thread; its thread pool spins as onnxruntime's defaults say
    (session.intra_op.allow_spinning on)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def ort_call(sess, feed, ref):
    """A call of ``sess`` the way sdk's is made: inputs and outputs bound once to numpy buffers (io binding), so a
    timed run neither converts the inputs nor allocates and returns outputs (``session.run`` did both, each run).
    Returns (the call, the output buffers)."""
    import onnxruntime as ort
    io = sess.io_binding()
    keep = []
    for name, x in feed.items():
        v = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(x))
        keep.append(v)
        io.bind_ortvalue_input(name, v)
    ys = {k: np.empty_like(v) for k, v in ref.items()}
    for name, y in ys.items():
        v = ort.OrtValue.ortvalue_from_numpy(y)
        keep.append(v)
        io.bind_ortvalue_output(name, v)

    def call():
        sess.run_with_iobinding(io)
    call.keep = (io, keep, ys)
    return call, ys


def sdk_call(b, lib, model, feed, ref, threads):
    """A call of ``model_run`` from the bundle's shared library (``shared_library``) on ``threads`` threads, inputs,
    outputs and a 64-byte-aligned arena bound once. Returns (the call, the output buffers)."""
    import ctypes

    from sdk.backends.host.ctensor import Tensor, view
    xs = [np.ascontiguousarray(feed[i.name]) for i in model.graph.input if i.name in feed]  # the bundle's order
    ys = {k: np.empty_like(v) for k, v in ref.items()}
    ins, outs = (Tensor * len(xs))(*map(view, xs)), (Tensor * len(ys))(*map(view, ys.values()))
    size = b.plan.arena_bytes + 64
    arena = np.zeros(size + 64, np.uint8)
    base = ctypes.c_void_p(arena.ctypes.data + (-arena.ctypes.data) % 64)
    run = getattr(lib, f"{b.name}_run")
    run.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
    getattr(lib, f"{b.name}_set_threads")(threads)
    pi, po = ctypes.addressof(ins), ctypes.addressof(outs)

    def call():
        if run(base, size, pi, po) != 0:
            raise RuntimeError(f"{b.name}_run failed")
    call.keep = (xs, ys, ins, outs, arena)  # the call writes into ys: they live as long as it does
    return call, ys


def plan_rounds(t_pair, n, budget_s):
    """(rounds, timed runs per block) for peers that take ``t_pair`` seconds together: ``n`` rounds (at least 5, fewer
    where 3 runs of each peer a round would overrun ``budget_s``), and blocks as long as the budget allows (at least
    2 timed runs; each block also has one untimed run)."""
    rounds = max(5, min(n, int(budget_s / max(3 * t_pair, 1e-9))))
    return rounds, max(2, int(budget_s / max(rounds * t_pair, 1e-9)) - 1)


def interleaved(b, lib, model, feed, threads, n, budget_s=0.0, stats=None, aa=False):
    """(sdk outputs, sdk median, sdk min, ort median, ort min) in ms: model_run from the bundle's shared library and
    onnxruntime (io binding, ``ort_call``) in paired rounds in this process (bench/paired_rounds.py: per round each
    peer a block of one untimed and ``k`` timed runs, the order swapping round by round; one thread: the thread's
    CPU clock; more: the wall clock and a pause of PAUSE_S before each block). ``n`` rounds, ``k`` from
    ``budget_s`` (``plan_rounds``; 0: k = 2). ``stats`` (a dict) receives "ratio": (median, low, high) of the
    per-round sdk / ort ratios (95 % interval), "rounds", "k"; with ``aa`` also "aa_ort" and "aa_sdk": the same
    rounds of onnxruntime against a second session and of sdk against a second copy of its library (A/A controls:
    1.00 within their interval when the harness is symmetric)."""
    from paired_rounds import median_ci, paired_rounds, round_ratios
    sess = ort_session(model, threads)
    names = [o.name for o in sess.get_outputs()]
    ref = dict(zip(names, sess.run(names, feed)))
    sdk_run, ys = sdk_call(b, lib, model, feed, ref, threads)
    ort_run, _ = ort_call(sess, feed, ref)
    clock, pause = (time.thread_time, 0.0) if threads == 1 else (time.perf_counter, PAUSE_S)
    t = []
    for f in (sdk_run, ort_run):  # two warm-up runs each, the second timed: the rounds' plan
        f()
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    rounds, k = plan_rounds(sum(t), n, budget_s) if budget_s else (n, 2)
    ts, to = paired_rounds(sdk_run, ort_run, rounds, k, clock, pause)
    if stats is not None:
        stats.update(ratio=median_ci(round_ratios(ts, to)), rounds=rounds, k=k)
        if aa:
            ort_b, _ = ort_call(ort_session(model, threads), feed, ref)
            ort_b()
            stats["aa_ort"] = median_ci(round_ratios(*paired_rounds(ort_run, ort_b, rounds, k, clock, pause)))
            import ctypes

            from sdk.backends.host.ctensor import start_pool
            d = Path(tempfile.mkdtemp(prefix="zoo_aa_"))
            atexit.register(shutil.rmtree, d, True)
            lib_b = ctypes.CDLL(shutil.copy(lib._name, d / "lib_b.so"))  # the same code, loaded a second time
            start_pool(lib_b)
            try:
                sdk_b, _ = sdk_call(b, lib_b, model, feed, ref, threads)
                sdk_b()
                stats["aa_sdk"] = median_ci(round_ratios(*paired_rounds(sdk_run, sdk_b, rounds, k, clock, pause)))
            finally:
                from sdk.backends.host.ctensor import stop_pool
                stop_pool(lib_b)
    flat = lambda v: [x for blk in v for x in blk]  # noqa: E731
    ms = lambda v: (1e3 * statistics.median(flat(v)), 1e3 * min(flat(v)))  # noqa: E731
    return {k_: v.copy() for k_, v in ys.items()}, *ms(ts), *ms(to)


def bench_model(name, path, bounds, repeat, budget_s, interleave=False, tuning_db=None, aa=False):
    """One row: sdk and onnxruntime at one thread and all; ``interleave``: each pair in paired rounds in this process
    (``interleaved``: ``repeat`` rounds, blocks filling ``budget_s``), else each timed separately (see the module's
    text); ``tuning_db`` (interleaved only): the tuned build against onnxruntime at one thread, its own pair; ``aa``
    (interleaved only): the A/A controls of each pair."""
    model = onnx.load(str(path))
    feed = feeds_for(model)
    r = {"model": name, "load0": loadavg(), "c2c0": c2c_ns()}
    t0 = time.perf_counter()
    ref, _, _ = ort_times(model, feed, 1, 1)
    first = time.perf_counter() - t0
    n = max(5, min(repeat, int(budget_s / max(first, 1e-6))))
    r["n"] = n
    cores = len(os.sched_getaffinity(0))
    if not interleave:
        _, r["ort1"], r["ort1_min"] = ort_times(model, feed, 1, n)
        _, r["ortN"], r["ortN_min"] = ort_times(model, feed, cores, n)
    try:
        b = compile_sdk(model, bounds)
        r["arena"] = b.plan.arena_bytes
        with tempfile.TemporaryDirectory() as tmp:  # the saved bundle the runs below use lives here
            if interleave:
                from sdk.backends.host.ctensor import stop_pool
                lib = shared_library(b, tmp)
                s1, sN, sT = {}, {}, {}
                try:
                    got, r["sdk"], r["sdk_min"], r["ort1"], r["ort1_min"] = interleaved(b, lib, model, feed, 1, repeat,
                                                                                        budget_s, s1, aa)
                    gotN, r["sdkN"], r["sdkN_min"], r["ortN"], r["ortN_min"] = interleaved(b, lib, model, feed, cores,
                                                                                           repeat, budget_s, sN, aa)
                finally:
                    stop_pool(lib)  # before the library and the pool's storage go (a pool's storage outlives it)
                r["n"] = f"{s1['rounds']}x{s1['k']}"
                r["ratio1"], r["ratioN"] = s1["ratio"], sN["ratio"]
                for key in ("aa_ort", "aa_sdk"):
                    if key in s1:
                        r[key + "1"], r[key + "N"] = s1[key], sN[key]
                if tuning_db is not None:
                    bt = compile_sdk(model, bounds, name="tuned", tuning_db=tuning_db)
                    libt = shared_library(bt, Path(tmp) / "t")
                    try:
                        gotT, r["sdkT"], r["sdkT_min"], r["ortT"], r["ortT_min"] = interleaved(bt, libt, model, feed,
                                                                                               1, repeat, budget_s, sT)
                    finally:
                        stop_pool(libt)
                    r["ratioT"] = sT["ratio"]
                    r["okT"] = agree(ref, gotT)
            else:
                got, r["sdk"], r["sdk_min"] = sdk_times(b, feed, n, threads=1)
                gotN, r["sdkN"], r["sdkN_min"] = sdk_times(b, feed, n, threads=cores)
        r["ok"] = agree(ref, got, gotN)
    except Exception as e:  # noqa: BLE001 - a failing model is reported in its row
        r["ok"] = f"ERROR {type(e).__name__}: {str(e).splitlines()[0][:80]}"
    r["load1"] = loadavg()
    r["c2c1"] = c2c_ns()
    return r


def fmt(v):
    return "-" if v is None else (f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}")


def ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}"


def paired(r, key, a, b):
    """A ratio column: the median of the per-round ratios where the row has them (``interleaved``: ``r[key]``), else
    the ratio of the two medians."""
    v = r.get(key)
    return f"{v[0]:.2f}" if v else ratio(r.get(a), r.get(b))


def ci(v):
    return "-" if not v else f"{v[1]:.2f}-{v[2]:.2f}"


def rel(r, key, a, b):
    """The number the geometric means use: ``paired``'s, as a float."""
    v = r.get(key)
    return v[0] if v else r[a] / r[b]


def c2c(a, b):
    """The c2c column: before-after the row in ns, "-" where not measured."""
    return "-" if a is None and b is None else "-".join("?" if v is None else f"{v:.0f}" for v in (a, b))


def table(rows):
    tuned = any(r.get("sdkT") for r in rows)
    aa = any(r.get("aa_ort1") for r in rows)
    head = ["model", "sdk 1t ms (min)", "ort 1t ms (min)", "sdk all ms (min)", "ort all ms (min)", "sdk/ort 1t",
            "sdk/ort 1t 95% CI", "sdk min/ort 1t min", "sdk/ort all", "sdk/ort all 95% CI", "sdk min/ort all min",
            "arena KiB", "sdk=ort", "n", "load", "c2c ns"]
    if tuned:
        head += ["tuned 1t ms (min)", "its ort 1t ms (min)", "tuned/ort 1t", "tuned min/ort min", "tuned=ort",
                 "tuned/ort 95% CI"]
    if aa:
        head += ["A/A ort 1t (CI)", "A/A sdk 1t (CI)", "A/A ort all (CI)", "A/A sdk all (CI)"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        g = r.get
        out.append("| " + " | ".join([
            r["model"], f"{fmt(g('sdk'))} ({fmt(g('sdk_min'))})", f"{fmt(g('ort1'))} ({fmt(g('ort1_min'))})",
            f"{fmt(g('sdkN'))} ({fmt(g('sdkN_min'))})", f"{fmt(g('ortN'))} ({fmt(g('ortN_min'))})",
            paired(r, "ratio1", "sdk", "ort1"), ci(g("ratio1")), ratio(g("sdk_min"), g("ort1_min")),
            paired(r, "ratioN", "sdkN", "ortN"), ci(g("ratioN")), ratio(g("sdkN_min"), g("ortN_min")),
            "-" if g("arena") is None else f"{g('arena') / 1024:.0f}", g("ok", "-"), str(g("n", "-")),
            f"{g('load0', 0):.1f}-{g('load1', 0):.1f}", c2c(g("c2c0"), g("c2c1"))]
            + ([f"{fmt(g('sdkT'))} ({fmt(g('sdkT_min'))})", f"{fmt(g('ortT'))} ({fmt(g('ortT_min'))})",
                paired(r, "ratioT", "sdkT", "ortT"), ratio(g("sdkT_min"), g("ortT_min")), g("okT", "-"),
                ci(g("ratioT"))] if tuned else [])
            + ([f"{g(k)[0]:.3f} ({ci(g(k))})" if g(k) else "-" for k in ("aa_ort1", "aa_sdk1", "aa_ortN", "aa_sdkN")]
               if aa else [])) + " |")
    ok = [r for r in rows if r.get("sdk") and r.get("sdkN") and r.get("ort1")]
    if ok:
        gm = float(np.exp(np.mean([np.log(rel(r, "ratio1", "sdk", "ort1")) for r in ok])))
        gmn = float(np.exp(np.mean([np.log(rel(r, "ratioN", "sdkN", "ortN")) for r in ok])))
        out.append(f"\ngeometric mean sdk/ort: 1 thread {gm:.2f}, all threads ({len(os.sched_getaffinity(0))}) "
                   f"{gmn:.2f} ({len(ok)} models)")
        okT = [r for r in ok if r.get("sdkT")]
        if okT:
            gt = float(np.exp(np.mean([np.log(rel(r, "ratioT", "sdkT", "ortT")) for r in okT])))
            gu = float(np.exp(np.mean([np.log(rel(r, "ratio1", "sdk", "ort1")) for r in okT])))
            out.append(f"geometric mean tuned sdk/ort 1 thread {gt:.2f} (untuned on the same models {gu:.2f}; "
                       f"{len(okT)} models)")
        okA = [r for r in ok if r.get("aa_ort1")]
        if okA:
            gms = [float(np.exp(np.mean([np.log(r[k][0]) for r in okA]))) for k in ("aa_ort1", "aa_sdk1", "aa_ortN",
                                                                                   "aa_sdkN")]
            out.append("geometric mean A/A (should read 1.00): ort/ort 1t {:.3f}, sdk/sdk 1t {:.3f}, ort/ort all "
                       "{:.3f}, sdk/sdk all {:.3f}".format(*gms))
    return "\n".join(out)


def machine():
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    return f"{cpu}, {len(os.sched_getaffinity(0))} cores, {platform.system()} {platform.release()}"


def commit():
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except OSError:
        return "?"


def profile(name, path, bounds, repeat, top, threads=None):
    """Time per step kind, from the bundle's -DSDK_PROFILE step timer (median of each step over ``repeat`` runs)."""
    from sdk.backends.host.runner import HostRunner

    class ProfRunner(HostRunner):
        def extra_info(self, proc, info):
            info["stderr"] = proc.stderr

    model = onnx.load(str(path))
    b = compile_sdk(model, bounds)
    runner = ProfRunner(extra_cflags=["-DSDK_PROFILE"], threads=threads)
    b.run_with_info(feeds_for(model), runner=runner)  # build
    _, info = b.run_with_info(feeds_for(model), runner=runner, repeat=repeat)
    kinds = {}
    for s in b.program.steps:
        wl = getattr(s, "workload", None)
        if hasattr(s, "fn"):
            label = f"{s.fn}->{s.outputs[0].name}"
            kinds[label] = str(wl) if wl is not None else s.fn
        else:
            kinds[s.name] = "kernel " + re.sub(r"_\d+$", "", re.sub(r"^k_", "", s.name)).split("_")[-1]
    times = defaultdict(list)
    for ln in info["stderr"].splitlines():
        m = re.match(r"step (\S+)\s+([\d.]+) us", ln)
        if m:
            times[m.group(1)].append(float(m.group(2)))
    # median over the runs per step: robust to the other engineers' jobs preempting a step
    per_step = {k: statistics.median(v) for k, v in times.items()}
    per_kind = defaultdict(float)
    for k, us in per_step.items():
        per_kind[kinds.get(k, k)] += us
    total = sum(per_step.values())
    print(f"{name}: {total / 1e3:.2f} ms per run (sum of the steps' medians over {repeat} runs), {len(b.program.steps)} steps")
    for k, us in sorted(per_kind.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {us / 1e3:8.3f} ms {100 * us / total:5.1f}%  {k}")
    print("slowest steps:")
    for k, us in sorted(per_step.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {us / 1e3:8.3f} ms  {k}  [{kinds.get(k, '')}]")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="", help="comma-separated model names (default: all found)")
    ap.add_argument("--repeat", type=int, default=30, help="timed runs per peer (fewer for slow models); "
                                                            "--interleave: paired rounds per pair")
    ap.add_argument("--budget-s", type=float, default=10.0, help="seconds per measurement before n is lowered; "
                                                                 "--interleave: seconds per pair, the rounds' blocks "
                                                                 "fill it")
    ap.add_argument("--write", action="store_true", help="append the table to bench/RESULTS_zoo.md")
    ap.add_argument("--profile", default="", help="print where the time goes in one model (SDK_PROFILE)")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None, help="--profile: threads of the profiled run (default: all)")
    ap.add_argument("--torch-zoo", action="store_true", help="also the small committed zoo (tests/torch_zoo)")
    ap.add_argument("--interleave", action="store_true",
                    help="sdk (shared library) and onnxruntime alternating run by run in one process")
    ap.add_argument("--tuning-db", default=None, help="with --interleave: also the build tuned by this database "
                                                       "(sdk tune --db), one thread")
    ap.add_argument("--aa", action="store_true", help="with --interleave: A/A controls (onnxruntime against a second "
                                                       "session, sdk against a second copy of its library)")
    ap.add_argument("--dir", default="", help="the models: every *.onnx in this folder instead of bench/data/zoo_full "
                                              "(e.g. export_zoo_full.py --out DIR --models googlenet,densenet121)")
    a = ap.parse_args(argv)
    if (a.tuning_db or a.aa) and not a.interleave:
        ap.error("--tuning-db and --aa need --interleave")
    models = find_models(a.torch_zoo or "zoo_" in a.models or a.profile.startswith("zoo_"), a.dir or None)
    if not models:
        ap.error("no models: run /work/torchenv/bin/python bench/export_zoo_full.py first")
    if a.profile:
        if a.profile not in models:
            ap.error(f"unknown model {a.profile} (have: {', '.join(models)})")
        profile(a.profile, *models[a.profile], a.repeat, a.top, a.threads)
        return 0
    names = a.models.split(",") if a.models else list(models)
    unknown = [n for n in names if n not in models]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)} (have: {', '.join(models)})")
    import onnxruntime
    start = datetime.datetime.now(datetime.timezone.utc)
    rows = []
    for n in names:
        t = time.time()
        rows.append(bench_model(n, *models[n], a.repeat, a.budget_s, a.interleave, a.tuning_db, a.aa))
        print(f"  {n}: {time.time() - t:.0f} s {rows[-1]}", file=sys.stderr, flush=True)
    how = (" sdk and onnxruntime (io binding) in paired rounds in one process (`--interleave`): per round a block of "
           "each, order swapping, one untimed and k timed runs, one thread by the thread's CPU clock, all threads by "
           "the wall clock after a pause; ratios: median of the per-round ratios," if a.interleave else "")
    text = (f"Run {start:%Y-%m-%d %H:%M} UTC, commit `{commit()}`, {machine()}, onnxruntime {onnxruntime.__version__},"
            f"{how} load average {rows[0]['load0']:.1f} at start\n\n{table(rows)}\n")
    print(text)
    if a.write:
        res = ROOT / "bench" / "RESULTS_zoo.md"
        old = res.read_text() if res.exists() else ZOO_HEADER
        res.write_text(old.rstrip("\n") + "\n\n" + text)
    return 0


ZOO_HEADER = """# Zoo latency: sdk against onnxruntime (`bench/zoo_latency.py`)

Full-width torchvision models (bench/export_zoo_full.py: batch 1, 224x224, random non-degenerate weights, TorchScript
export, opset 17). sdk: untuned default build for `host`, `model_run` timed in the bundle's demo program with
`model_set_threads(1)` and all cores. ort: onnxruntime CPU, all graph optimizations, 1 intra-op thread and all cores.
Times in ms, median (min).
The machine is shared with other engineers' builds: `load` is the 1-minute load average before-after each row.
"""

if __name__ == "__main__":
    sys.exit(main())
