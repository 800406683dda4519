"""Whose threads run the kernels' OpenMP regions: the runtime's pool (targets/host.toml [cpu] threading = "pool",
runtime_c/src/sdk_pool.c) against libgomp (threading = "openmp", its default wait policy), with onnxruntime in the
same run, on a quiet or a loaded machine.

    PYTHONPATH=$PWD python bench/threads_ab.py [--models squeezenet1_1,...] [--rounds 3] [--runs 10]
                                               [--threads 2,1] [--busy 2] [--pause-ms 50] [--alt-pool FILE] [--rt]

One bundle per model; its C sources compiled once (ccache gcc, the profile's flags, -fPIC) and linked twice into
shared libraries: with sdk_pool.c (pool) and with libgomp (gomp). This process loads both (ctypes) and, round by
round, runs pool, gomp and onnxruntime (intra-op threads = the same count) in blocks as bench/zoo_latency.py's
--interleave does for all threads (a pause of PAUSE_S or ``--pause-ms``, one untimed run, then ``--runs`` timed runs,
wall clock; zoo_latency's blocks are ``--runs 2``: the runs right after an idle pause), at each thread count.
``--busy N`` starts N busy loops (``nice -n 0`` Python processes) for the run and kills them by PID at the end.
Prints min and median over all timed runs per engine, and the load average. ``--alt-pool FILE``: a third library,
the same objects with FILE (another sdk_pool.c, e.g. ``git show REV:runtime_c/src/sdk_pool.c``) as the pool, in the
same rounds ("alt" in the printed lines and the table's last columns, with the median over rounds of the ratio of
pool's and alt's block medians: the blocks of one round are seconds apart, so a moving load cancels more; the order of
the engines rotates by one each round). ``--skip-gomp``: libgomp left out (its runs take seconds under load).
``--rt``: every thread of this process under SCHED_RR (priority 10) while it measures a model at a thread count (its
pauses included), back to SCHED_OTHER after (root): the other jobs of a loaded machine then get only the cores this
process leaves idle, an approximation of a quiet machine for all three engines alike (the kernel still keeps 5 % for
others: sched_rt_runtime_us); not for the pool's contention test, though (sdk_pool.c reads the machine's runnable
count, which the waiting jobs keep high).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_latency import FULL, PAUSE_S, agree, feeds_for, loadavg  # noqa: E402

from sdk.backends.host.ctensor import Tensor, start_pool, stop_pool, view  # noqa: E402

MODELS = ["squeezenet1_1", "shufflenet_v2_x1_0", "mobilenet_v3_small", "resnet18", "efficientnet_b0"]


def build(model, tmp: Path, alt_pool=None):
    """(bundle, {"pool": lib, "gomp": lib[, "alt": lib]}): one compile, two links (three with alt_pool)."""
    import sdk
    b = sdk.compile(model, target="host", name="model")  # SRCS with sdk_pool.c; relinked with libgomp below
    out = Path(b.save(tmp / "m"))
    mk = (out / "Makefile").read_text()
    cflags = re.search(r"^CFLAGS = (.*)$", mk, re.M).group(1).split()
    srcs = [x for x in re.search(r"^SRCS = (.*)$", mk, re.M).group(1).split() if x != "main.c"]
    assert "sdk_pool.c" in srcs, "the host profile's threading is not 'pool'"

    def obj(src):
        o = src.rsplit(".", 1)[0] + ".o"
        subprocess.run(["ccache", "gcc", *cflags, "-fPIC", "-c", "-I.", src, "-o", o], cwd=out, check=True)
        return o
    if alt_pool is not None:
        shutil.copy(alt_pool, out / "sdk_pool_alt.c")
        srcs.append("sdk_pool_alt.c")
    with ThreadPoolExecutor(2) as ex:
        objs = dict(zip(srcs, ex.map(obj, srcs)))
    libs = {}
    for kind in ("pool", "gomp") + (("alt",) if alt_pool is not None else ()):
        pool_src = {"pool": "sdk_pool.c", "alt": "sdk_pool_alt.c"}.get(kind)
        names = [o for s, o in objs.items() if s == pool_src or s not in ("sdk_pool.c", "sdk_pool_alt.c")]
        so = out / f"lib_{kind}.so"
        link = ["-fopenmp"] if kind == "gomp" else ["-pthread"]
        subprocess.run(["gcc", "-shared", "-o", so.name, *names, "-lm", *link], cwd=out, check=True)
        libs[kind] = ctypes.CDLL(str(so))
    if not start_pool(libs["pool"]):  # stopped by main when the model is done (before its storage is freed)
        raise RuntimeError("no sdk_pool_start in the pool build")
    if "alt" in libs:
        start_pool(libs["alt"])
    return b, libs


def main(argv=None):
    import onnxruntime as ort
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=10, help="timed runs per block")
    ap.add_argument("--threads", default="2,1")
    ap.add_argument("--busy", type=int, default=0)
    ap.add_argument("--alt-pool", default=None, help="another sdk_pool.c, linked as a third library")
    ap.add_argument("--rt", action="store_true", help="time under SCHED_RR (see the module's text)")
    ap.add_argument("--skip-gomp", action="store_true",
                    help="leave libgomp out of the timed rounds (its runs take seconds under load; gomp columns: nan)")
    ap.add_argument("--pause-ms", type=float, default=1e3 * PAUSE_S,
                    help="idle time before each block (default: zoo_latency's PAUSE_S); with --runs 2 the blocks are "
                    "zoo_latency --interleave's all-threads blocks")
    a = ap.parse_args(argv)
    busy = [subprocess.Popen(["nice", "-n", "0", sys.executable, "-c", "while True: pass"]) for _ in range(a.busy)]
    try:
        rows = []
        for name in a.models.split(","):
            model = onnx.load(str(FULL / f"{name}.onnx"))
            feed = feeds_for(model)
            with tempfile.TemporaryDirectory(prefix="threads_ab_") as tmp:
                b, libs = build(model, Path(tmp), a.alt_pool)
                try:
                    for threads in map(int, a.threads.split(",")):
                        rows.append(measure(name, b, libs, model, feed, threads, a, ort))
                        print(rows[-1]["line"], flush=True)
                finally:
                    for lib in libs.values():
                        stop_pool(lib)
        print(f"\nload average at the end {loadavg()}, busy loops {a.busy}")
        alt = " alt ms min / median | pool/alt by round (median) |" if a.alt_pool else ""
        print("| model | threads | pool ms min / median | gomp ms min / median | ort ms min / median | pool/ort (median) "
              "| gomp/ort (median) | pool/ort (min) | outputs = ort | load |" + alt)
        print("|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if a.alt_pool else ""))
        for r in rows:
            print(r["md"])
    finally:
        for p in busy:
            p.kill()
            p.wait()


def realtime(on: bool):
    """Every thread of this process under SCHED_RR (on) or SCHED_OTHER (off)."""
    policy, prio = (os.SCHED_RR, 10) if on else (os.SCHED_OTHER, 0)
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setscheduler(int(tid), policy, os.sched_param(prio))
        except (ProcessLookupError, PermissionError):
            pass


def rounds(a, runs, t, blocks=None):
    """a.rounds rounds: each engine in turn (the order rotated by one each round), a pause, one untimed run, a.runs
    timed ones (ms appended to t[kind]; each block's median to blocks[kind])."""
    kinds = list(runs)
    for i in range(a.rounds):
        for kind in kinds[i % len(kinds):] + kinds[:i % len(kinds)]:
            f = runs[kind]
            time.sleep(a.pause_ms / 1e3)
            f()
            block = []
            for _ in range(a.runs):
                t0 = time.perf_counter()
                f()
                block.append(1e3 * (time.perf_counter() - t0))
            t[kind] += block
            if blocks is not None:
                blocks.setdefault(kind, []).append(statistics.median(block))


def measure(name, b, libs, model, feed, threads, a, ort):
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    ref = dict(zip(names, sess.run(names, feed)))
    xs = [np.ascontiguousarray(feed[i.name]) for i in model.graph.input if i.name in feed]
    size = b.plan.arena_bytes + 64
    arena = np.zeros(size + 64, np.uint8)
    base = ctypes.c_void_p(arena.ctypes.data + (-arena.ctypes.data) % 64)
    runs, outs = {}, {}
    for kind, lib in libs.items():
        ys = {k: np.empty_like(v) for k, v in ref.items()}
        ins, outt = (Tensor * len(xs))(*map(view, xs)), (Tensor * len(ys))(*map(view, ys.values()))
        fn = getattr(lib, f"{b.name}_run")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p]
        got = getattr(lib, f"{b.name}_set_threads")(threads)
        assert got == threads, (kind, got, threads)
        runs[kind] = (lambda fn=fn, ins=ins, outt=outt: fn(base, size, ctypes.addressof(ins), ctypes.addressof(outt)))
        outs[kind] = ys
    runs["ort"] = lambda: sess.run(names, feed)
    if a.skip_gomp:
        del runs["gomp"], outs["gomp"]
    t, blocks = {k: [] for k in runs}, {}
    load0 = loadavg()
    try:
        if a.rt:
            realtime(True)
        rounds(a, runs, t, blocks)
    finally:
        if a.rt:
            realtime(False)
    ms = {k: (min(v), statistics.median(v)) for k, v in t.items()}
    ms.setdefault("gomp", (float("nan"), float("nan")))
    ok = agree(ref, *outs.values())
    peer = "gomp" if "gomp" in outs else "alt" if "alt" in outs else "pool"  # pool = gomp (or alt) bit for bit
    bit = all(np.array_equal(outs["pool"][k], outs[peer][k]) for k in ref)
    load = f"{load0}-{loadavg()}"
    r = lambda k, i: ms[k][i] / ms["ort"][i]  # noqa: E731
    # pool against alt round by round (the two blocks of a round are seconds apart: the load moves less between them)
    paired = (statistics.median(x / y for x, y in zip(blocks["pool"], blocks["alt"])) if "alt" in blocks
              else float("nan"))
    line = (f"{name} {threads}t pool {ms['pool'][0]:.2f}/{ms['pool'][1]:.2f} gomp {ms['gomp'][0]:.2f}/{ms['gomp'][1]:.2f} "
            f"ort {ms['ort'][0]:.2f}/{ms['ort'][1]:.2f} ok {ok} pool=gomp {bit} load {load}"
            + (f" alt {ms['alt'][0]:.2f}/{ms['alt'][1]:.2f} pool/alt by round (median) {paired:.2f}" if "alt" in ms
               else ""))
    md = (f"| {name} | {threads} | {ms['pool'][0]:.2f} / {ms['pool'][1]:.2f} | {ms['gomp'][0]:.2f} / {ms['gomp'][1]:.2f} "
          f"| {ms['ort'][0]:.2f} / {ms['ort'][1]:.2f} | {r('pool', 1):.2f} | {r('gomp', 1):.2f} | {r('pool', 0):.2f} "
          f"| {ok}{'' if bit else ' (pool != gomp bits)'} | {load} |"
          + (f" {ms['alt'][0]:.2f} / {ms['alt'][1]:.2f} | {paired:.2f} |" if "alt" in ms else ""))
    return {"line": line, "md": md}


if __name__ == "__main__":
    main()
