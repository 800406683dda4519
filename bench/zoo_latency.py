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

``--interleave``: at one thread, instead of the demo program, the bundle's C sources (the same flags, minus the
demo's main) are built into a shared library that this process loads (ctypes), and sdk's ``model_run`` and
onnxruntime's ``session.run`` alternate run by run in this one process and thread, timed by the thread's CPU clock:
on a shared machine both peers then meet the same load, so the ratio holds where single times jump by 2x. Each sdk
time includes a ctypes call (~2 us), each onnxruntime one ``session.run``'s Python overhead. All threads: the two
also alternate in this process, in blocks: a pause of ``PAUSE_S`` (each engine's pool threads spin for well under a
millisecond after a run, then sleep, so neither spins while the other runs: run by run with no pause they took the
same cores from each other, ResNet-18 two threads 45 ms against 20 ms), one untimed run, two timed runs (wall clock).
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
    subprocess.run(["gcc", *cflags, "-fPIC", "-shared", "-o", "lib.so", *srcs, *ldlibs], cwd=out, check=True)
    lib = ctypes.CDLL(str(out / "lib.so"))
    start_pool(lib)  # [cpu] threading = "pool": the runtime's threads (all cores); bench_model stops them
    return lib


def interleaved(b, lib, model, feed, threads, n):
    """(sdk outputs, sdk median, sdk min, ort median, ort min) in ms: model_run from the bundle's shared library and
    onnxruntime's session.run, alternating in this process. One thread: run by run, the thread's CPU clock. More
    threads: in blocks (a pause of PAUSE_S, one untimed run, two timed runs), wall clock."""
    import ctypes
    import onnxruntime as ort

    from sdk.backends.host.ctensor import Tensor, view
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    ref = dict(zip(names, sess.run(names, feed)))
    xs = [np.ascontiguousarray(feed[i.name]) for i in model.graph.input if i.name in feed]  # the bundle's order
    ys = {k: np.empty_like(v) for k, v in ref.items()}
    ins, outs = (Tensor * len(xs))(*map(view, xs)), (Tensor * len(ys))(*map(view, ys.values()))
    size = b.plan.arena_bytes + 64
    arena = np.zeros(size + 64, np.uint8)
    base = ctypes.c_void_p(arena.ctypes.data + (-arena.ctypes.data) % 64)
    run = getattr(lib, f"{b.name}_run")
    run.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
    getattr(lib, f"{b.name}_set_threads")(threads)
    if run(base, size, ctypes.addressof(ins), ctypes.addressof(outs)) != 0:
        raise RuntimeError(f"{b.name}_run failed")
    ts, to = [], []
    sdk_run = lambda: run(base, size, ctypes.addressof(ins), ctypes.addressof(outs))  # noqa: E731
    ort_run = lambda: sess.run(names, feed)  # noqa: E731
    if threads == 1:
        for _ in range(n):
            for f, acc in ((sdk_run, ts), (ort_run, to)):
                t0 = time.thread_time()
                f()
                acc.append(time.thread_time() - t0)
    else:  # blocks: a pause (the other's pool threads stop spinning and sleep), one untimed run, two timed ones
        for _ in range((n + 1) // 2):
            for f, acc in ((sdk_run, ts), (ort_run, to)):
                time.sleep(PAUSE_S)
                f()
                for _ in range(2):
                    t0 = time.perf_counter()
                    f()
                    acc.append(time.perf_counter() - t0)
    ms = lambda v: (1e3 * statistics.median(v), 1e3 * min(v))  # noqa: E731
    return {k: v.copy() for k, v in ys.items()}, *ms(ts), *ms(to)


def bench_model(name, path, bounds, repeat, budget_s, interleave=False, tuning_db=None):
    """One row: sdk and onnxruntime at one thread and all; ``interleave``: each pair alternating in this process
    (``interleaved``), else each timed separately (see the module's text); ``tuning_db`` (interleaved only): the
    tuned build against onnxruntime at one thread, its own pair."""
    model = onnx.load(str(path))
    feed = feeds_for(model)
    r = {"model": name, "load0": loadavg(), "c2c0": c2c_ns()}
    t0 = time.perf_counter()
    ref, _, _ = ort_times(model, feed, 1, 1)
    first = time.perf_counter() - t0
    n = max(5, min(repeat, int(budget_s / max(first * (2 if interleave else 1), 1e-6))))  # interleaved: both peers
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
                try:
                    got, r["sdk"], r["sdk_min"], r["ort1"], r["ort1_min"] = interleaved(b, lib, model, feed, 1, n)
                    gotN, r["sdkN"], r["sdkN_min"], r["ortN"], r["ortN_min"] = interleaved(b, lib, model, feed, cores,
                                                                                           n)
                finally:
                    stop_pool(lib)  # before the library and the pool's storage go (a pool's storage outlives it)
                if tuning_db is not None:
                    bt = compile_sdk(model, bounds, name="tuned", tuning_db=tuning_db)
                    libt = shared_library(bt, Path(tmp) / "t")
                    try:
                        gotT, r["sdkT"], r["sdkT_min"], r["ortT"], r["ortT_min"] = interleaved(bt, libt, model, feed,
                                                                                               1, n)
                    finally:
                        stop_pool(libt)
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


def c2c(a, b):
    """The c2c column: before-after the row in ns, "-" where not measured."""
    return "-" if a is None and b is None else "-".join("?" if v is None else f"{v:.0f}" for v in (a, b))


def table(rows):
    tuned = any(r.get("sdkT") for r in rows)
    head = ["model", "sdk 1t ms (min)", "ort 1t ms (min)", "sdk all ms (min)", "ort all ms (min)", "sdk/ort 1t",
            "sdk min/ort 1t min", "sdk/ort all", "sdk min/ort all min", "arena KiB", "sdk=ort", "n", "load", "c2c ns"]
    if tuned:
        head += ["tuned 1t ms (min)", "its ort 1t ms (min)", "tuned/ort 1t", "tuned min/ort min", "tuned=ort"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        g = r.get
        out.append("| " + " | ".join([
            r["model"], f"{fmt(g('sdk'))} ({fmt(g('sdk_min'))})", f"{fmt(g('ort1'))} ({fmt(g('ort1_min'))})",
            f"{fmt(g('sdkN'))} ({fmt(g('sdkN_min'))})", f"{fmt(g('ortN'))} ({fmt(g('ortN_min'))})",
            ratio(g("sdk"), g("ort1")), ratio(g("sdk_min"), g("ort1_min")), ratio(g("sdkN"), g("ortN")),
            ratio(g("sdkN_min"), g("ortN_min")), "-" if g("arena") is None else f"{g('arena') / 1024:.0f}", g("ok", "-"),
            str(g("n", "-")), f"{g('load0', 0):.1f}-{g('load1', 0):.1f}", c2c(g("c2c0"), g("c2c1"))]
            + ([f"{fmt(g('sdkT'))} ({fmt(g('sdkT_min'))})", f"{fmt(g('ortT'))} ({fmt(g('ortT_min'))})",
                ratio(g("sdkT"), g("ortT")), ratio(g("sdkT_min"), g("ortT_min")), g("okT", "-")] if tuned else []))
            + " |")
    ok = [r for r in rows if r.get("sdk") and r.get("sdkN") and r.get("ort1")]
    if ok:
        gm = float(np.exp(np.mean([np.log(r["sdk"] / r["ort1"]) for r in ok])))
        gmn = float(np.exp(np.mean([np.log(r["sdkN"] / r["ortN"]) for r in ok])))
        out.append(f"\ngeometric mean sdk/ort: 1 thread {gm:.2f}, all threads ({len(os.sched_getaffinity(0))}) "
                   f"{gmn:.2f} ({len(ok)} models)")
        okT = [r for r in ok if r.get("sdkT")]
        if okT:
            gt = float(np.exp(np.mean([np.log(r["sdkT"] / r["ortT"]) for r in okT])))
            gu = float(np.exp(np.mean([np.log(r["sdk"] / r["ort1"]) for r in okT])))
            out.append(f"geometric mean tuned sdk/ort 1 thread {gt:.2f} (untuned on the same models {gu:.2f}; "
                       f"{len(okT)} models)")
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
    ap.add_argument("--repeat", type=int, default=30, help="timed runs per peer (fewer for slow models)")
    ap.add_argument("--budget-s", type=float, default=10.0, help="seconds per measurement before n is lowered")
    ap.add_argument("--write", action="store_true", help="append the table to bench/RESULTS_zoo.md")
    ap.add_argument("--profile", default="", help="print where the time goes in one model (SDK_PROFILE)")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None, help="--profile: threads of the profiled run (default: all)")
    ap.add_argument("--torch-zoo", action="store_true", help="also the small committed zoo (tests/torch_zoo)")
    ap.add_argument("--interleave", action="store_true",
                    help="sdk (shared library) and onnxruntime alternating run by run in one process")
    ap.add_argument("--tuning-db", default=None, help="with --interleave: also the build tuned by this database "
                                                       "(sdk tune --db), one thread")
    ap.add_argument("--dir", default="", help="the models: every *.onnx in this folder instead of bench/data/zoo_full "
                                              "(e.g. export_zoo_full.py --out DIR --models googlenet,densenet121)")
    a = ap.parse_args(argv)
    if a.tuning_db and not a.interleave:
        ap.error("--tuning-db needs --interleave")
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
        rows.append(bench_model(n, *models[n], a.repeat, a.budget_s, a.interleave, a.tuning_db))
        print(f"  {n}: {time.time() - t:.0f} s {rows[-1]}", file=sys.stderr, flush=True)
    how = (" sdk and onnxruntime alternating in one process (`--interleave`): one thread run by run, the thread's CPU "
           "clock; all threads in blocks (pause, one untimed and two timed runs each), wall clock," if a.interleave
           else "")
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
