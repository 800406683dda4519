"""A/B of the direct grouped convolution (sdk/tune/gconv.py) on one zoo model: sdk with it and without it (the im2col
GEMM's default schedule) against onnxruntime, one thread each, timed by CPU clock (the demo built with
-DSDK_CPU_CLOCK; onnxruntime by time.thread_time() around session.run), rounds interleaved, minima: a number that
survives a loaded machine, unlike bench/zoo_latency.py's wall clock.

    PYTHONPATH=$PWD python bench/zoo_ab.py regnet_y_400mf [--rounds 4]    (models: bench/data/zoo_full/*.onnx)
"""
import argparse
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

import sdk
from sdk.backends.host.runner import HostRunner
from sdk.tune import gconv

ZOO = Path(__file__).resolve().parent / "data" / "zoo_full"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()
    m = onnx.load(str(ZOO / f"{a.model}.onnx"))
    inp = m.graph.input[0]
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    feed = {inp.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    builds = {"direct": sdk.compile(m, name="ma")}
    orig, gconv.schedule = gconv.schedule, lambda wl, facts: None
    try:
        builds["gemm"] = sdk.compile(m, name="mb")
    finally:
        gconv.schedule = orig
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    ref = sess.run(None, feed)[0]
    runner = HostRunner(threads=1, extra_cflags=["-DSDK_CPU_CLOCK"])
    for b in builds.values():
        b.run_with_info(feed, runner=runner, engine="c", repeat=1)  # the builds, outside the timed rounds
    best = {k: float("inf") for k in (*builds, "ort")}
    for r in range(a.rounds):
        for k, b in builds.items():
            got, info = b.run_with_info(feed, runner=runner, engine="c", repeat=10)
            err = float(np.abs(list(got.values())[0] - ref).max())
            assert err <= 1e-3, f"{k}: max |sdk - onnxruntime| {err:.3g}"
            best[k] = min(best[k], float(info["min_ms"]))
        for _ in range(10):
            t = time.thread_time()
            sess.run(None, feed)
            best["ort"] = min(best["ort"], 1e3 * (time.thread_time() - t))
        print(f"round {r}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in best.items()), flush=True)
    o = best["ort"]
    print(f"{a.model}: sdk direct {best['direct']:.2f} ms ({best['direct'] / o:.2f}x onnxruntime), im2col GEMM "
          f"{best['gemm']:.2f} ms ({best['gemm'] / o:.2f}x), onnxruntime {o:.2f} ms (one thread, CPU clock, minima)")


if __name__ == "__main__":
    main()
