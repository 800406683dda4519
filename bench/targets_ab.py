"""Whole runs of one model built for several target profiles (e.g. ``host`` and a variant ``base = "host"`` profile
that changes one fact), one thread, in this process, alternating run by run with onnxruntime between each round:
what a per-step minimum does not show (the weights and activations a choice streams through the caches on every run).

    PYTHONPATH=$PWD python bench/targets_ab.py resnet18 host,host-nowino [--rounds 8] [--repeat 5] [--steps]

Each profile's bundle is built as a shared library (its Makefile's flags, ``-fPIC``) and timed around ``model_run``
with the thread's CPU clock (``time.thread_time``), in rounds of ``--repeat`` runs whose order rotates; onnxruntime's
``session.run`` (one intra-op thread) runs ``--repeat`` times in every round. ``--steps``: also each build with the step
timer (``-DSDK_PROFILE``, thread CPU clock): the sum of its steps' minima and the minimum of its runs' step sums.
Prints min and median per build, ratios to the first profile and to onnxruntime, weights and arena bytes, and the
largest output difference from onnxruntime.
"""
import argparse
import ctypes
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_gap import Captured, build_lib, steps_of  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models")
    ap.add_argument("targets", help="comma-separated target profiles (targets/NAME.toml), the first is the base")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--steps", action="store_true")
    ap.add_argument("--dir", default=str(ROOT / "bench" / "data" / "zoo_full"))
    a = ap.parse_args()
    import sdk
    from sdk.backends.host.ctensor import Tensor, stop_pool, view
    targets = a.targets.split(",")
    for name in a.models.split(","):
        model = onnx.load(str(Path(a.dir) / f"{name}.onnx"))
        inp = model.graph.input[0]
        shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        ref = sess.run(None, {inp.name: x})[0]
        y = np.empty_like(ref)
        ins, outs = (Tensor * 1)(view(x)), (Tensor * 1)(view(y))
        t, steps, err, info, libs = defaultdict(list), defaultdict(list), {}, {}, []
        with tempfile.TemporaryDirectory(prefix="targets_ab_") as tmp:
            try:
                runs = {}
                for k, tg in enumerate(targets):
                    b = sdk.compile(model, target=tg, name="model")
                    size = b.plan.arena_bytes + 64
                    arena = np.zeros(size + 64, np.uint8)
                    base = ctypes.c_void_p(arena.ctypes.data + (-arena.ctypes.data) % 64)
                    kinds = [("whole", [])] + ([("steps", ["-DSDK_PROFILE", "-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"])]
                                               if a.steps else [])
                    for kind, flags in kinds:
                        lib = build_lib(b, Path(tmp) / f"{k}_{kind}", flags)
                        libs.append(lib)
                        runs[(tg, kind)] = (lambda f=lib.model_run, base=base, size=size, arena=arena:
                                            f(base, size, ctypes.addressof(ins), ctypes.addressof(outs)))
                    runs[(tg, "whole")]()
                    err[tg] = float(np.abs(y - ref).max())
                    wb = (Path(tmp) / f"{k}_whole" / "model_weights.bin").stat().st_size
                    info[tg] = (wb, b.plan.arena_bytes)
                load0 = os.getloadavg()[0]
                for r in range(a.rounds):
                    order = targets[r % len(targets):] + targets[: r % len(targets)]
                    for tg in order:
                        f = runs[(tg, "whole")]
                        f()
                        for _ in range(a.repeat):
                            t0 = time.thread_time()
                            f()
                            t[tg].append(1e3 * (time.thread_time() - t0))
                        if a.steps:
                            with Captured() as cap:
                                for _ in range(a.repeat):
                                    runs[(tg, "steps")]()
                            steps[tg] += steps_of(cap.text)
                    for _ in range(a.repeat):
                        t0 = time.thread_time()
                        sess.run(None, {inp.name: x})
                        t["ort"].append(1e3 * (time.thread_time() - t0))
                load1 = os.getloadavg()[0]
            finally:
                for lib in libs:
                    stop_pool(lib)
        b0 = t[targets[0]]
        print(f"\n{name}: one thread, CPU clock, {a.rounds} rotating rounds x {a.repeat} runs, ms; load "
              f"{load0:.1f}-{load1:.1f}")
        print("| build | min | median | / first min | / first median | / ort min | / ort median | steps min sum | "
              "run step sums min (median) | weights bytes | arena bytes | max abs err vs ort |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        o = t["ort"]
        for tg in targets:
            v = t[tg]
            st = "- | -"
            if steps[tg]:
                mins = defaultdict(lambda: float("inf"))
                for run in steps[tg]:
                    for s, us in run:
                        mins[s] = min(mins[s], us)
                sums = [sum(us for _, us in run) / 1e3 for run in steps[tg]]
                st = f"{sum(mins.values()) / 1e3:.2f} | {min(sums):.2f} ({statistics.median(sums):.2f})"
            print(f"| {tg} | {min(v):.2f} | {statistics.median(v):.2f} | {min(v) / min(b0):.3f} | "
                  f"{statistics.median(v) / statistics.median(b0):.3f} | {min(v) / min(o):.3f} | "
                  f"{statistics.median(v) / statistics.median(o):.3f} | {st} | {info[tg][0]} | {info[tg][1]} | "
                  f"{err[tg]:.1e} |")
        print(f"| onnxruntime | {min(o):.2f} | {statistics.median(o):.2f} | | | | | | | | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
