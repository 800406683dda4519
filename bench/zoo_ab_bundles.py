"""A/B of two saved bundles of one zoo model (say main's and a branch's, each saved with ``Bundle.save`` under its own
tree's PYTHONPATH) against onnxruntime, rounds alternating, each sdk run in its own demo process.

One thread: the demo built with -DSDK_CPU_CLOCK (the thread's CPU clock), onnxruntime by ``time.thread_time()``.
Two threads: wall clock (demo ``--threads 2``, onnxruntime ``intra_op_num_threads = 2``), with the c2c probe of
``zoo_latency.py`` (the vCPUs' cache-line round trip: ~50 ns near, ~330 ns far) before each round's two-thread block.
Prints minima / medians, the ratios, the load and every peer's max |sdk - onnxruntime|.

    PYTHONPATH=$PWD python bench/zoo_ab_bundles.py vit_s A_DIR B_DIR [--rounds 10] [--reps 5] [--one-thread]

A text model (``bench/export_text_full.py``): ``--zoo bench/data/text_full --seq 128`` feeds every input at that
length (``text_latency.text_feeds``); save its bundles with ``sdk.compile(model, dims=bounds)`` at those bounds.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_latency import c2c_ns  # noqa: E402

from sdk.backends.host.runner import HostRunner  # noqa: E402

ZOO = Path(__file__).resolve().parent / "data" / "zoo_full"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("a", help="bundle folder A (the baseline)")
    ap.add_argument("b", help="bundle folder B")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--one-thread", action="store_true")
    ap.add_argument("--zoo", default=str(ZOO))
    ap.add_argument("--seq", type=int, default=0, help="a text model: its inputs at this length")
    a = ap.parse_args()
    m = onnx.load(str(Path(a.zoo) / f"{a.model}.onnx"))
    inp = m.graph.input[0]
    x = np.random.default_rng(0).standard_normal([d.dim_value or 1 for d in inp.type.tensor_type.shape.dim])
    x = x.astype(np.float32)
    feed = {inp.name: x}
    if a.seq:
        from text_latency import text_feeds
        feed, _ = text_feeds(m, a.seq)
    ths = (1,) if a.one_thread else (1, 2)
    sess = {}
    for th in ths:
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = th, 1
        sess[th] = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    ref = sess[1].run(None, feed)[0]
    runners = {1: HostRunner(threads=1, extra_cflags=["-DSDK_CPU_CLOCK"]), 2: HostRunner(threads=2)}
    dirs = {}
    for k, src in (("A", Path(a.a)), ("B", Path(a.b))):
        for th in ths:  # one copy per clock: the two demos differ in main.c only
            d = src.parent / f"{src.name}_ab_t{th}"
            if not d.exists():
                shutil.copytree(src, d)
            dirs[(k, th)] = d
    T = {(k, th): [] for k in ("A", "B", "ort") for th in ths}
    outs, c2c, load0 = {}, [], os.getloadavg()[0]

    def run_sdk(k, th, r):
        d = dirs[(k, th)]
        meta = json.loads((d / "bundle.json").read_text())
        exe = d / f"{meta['name']}_main"
        got, info = runners[th].run(d, {k: feed[k] for k in meta["inputs"]}, repeat=a.reps,
                                    rebuild=r == 0 and not exe.exists())
        outs[(k, th)] = list(got.values())[0]
        T[(k, th)].append(float(info["min_ms"]))

    for r in range(a.rounds):
        for k in ("A", "B"):
            run_sdk(k, 1, r)
        for _ in range(a.reps):
            t = time.thread_time()
            sess[1].run(None, feed)
            T[("ort", 1)].append(1e3 * (time.thread_time() - t))
        if 2 in ths:
            c2c.append(c2c_ns())
            for k in ("A", "B"):
                run_sdk(k, 2, r)
            best = float("inf")
            for _ in range(a.reps):
                t = time.perf_counter()
                sess[2].run(None, feed)
                best = min(best, 1e3 * (time.perf_counter() - t))
            T[("ort", 2)].append(best)
        print(f"round {r}: " + ", ".join(f"{k}{th} {min(v):.2f}" for (k, th), v in T.items()), flush=True)
    err = {k: float(np.abs(v - ref).max()) for k, v in outs.items()}
    print(f"{a.model}: load {load0:.1f}-{os.getloadavg()[0]:.1f}"
          + (f", c2c ns {min(c2c):.0f}-{max(c2c):.0f}" if c2c else "") + ", max |sdk - onnxruntime| "
          + ", ".join(f"{k}{th} {e:.2g}" for (k, th), e in err.items())
          + f"; max |A - B| one thread {float(np.abs(outs[('A', 1)] - outs[('B', 1)]).max()):.2g}")
    print("| model | threads | A ms min / median | B ms min / median | onnxruntime ms min / median | B / A | A / ort | "
          "B / ort |")
    for th in ths:
        mn = {k: min(T[(k, th)]) for k in ("A", "B", "ort")}
        md = {k: statistics.median(T[(k, th)]) for k in ("A", "B", "ort")}
        print(f"| {a.model} | {th} | " + " | ".join(f"{mn[k]:.2f} / {md[k]:.2f}" for k in ("A", "B", "ort"))
              + f" | {mn['B'] / mn['A']:.3f} / {md['B'] / md['A']:.3f} | {mn['A'] / mn['ort']:.2f} / "
              f"{md['A'] / md['ort']:.2f} | {mn['B'] / mn['ort']:.2f} / {md['B'] / md['ort']:.2f} |")


if __name__ == "__main__":
    main()
