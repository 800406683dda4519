"""Step-level A/B of two source trees of sdk on one model, at any thread count: each tree compiles the model in its
own process, each bundle's demo is built with the step timer (``-DSDK_PROFILE``; wall clock, or the thread's CPU
clock at one thread), and the two demos run in alternating rounds of ``--repeat`` runs; per step, the minimum over
every run of the rounds. Minima of single steps (10-500 us) stay readable under a load that makes whole two-thread
runs unreadable (a step fits between the other jobs' time slices far more often than a whole run does). The
demos' whole runs (no step timer) and onnxruntime's ``session.run`` at the same threads alternate with them.

    python bench/steps_ab.py --a /work/main --b $PWD --model bench/data/zoo_full/squeezenet1_1.onnx --threads 2

``--cflags-a`` / ``--cflags-b``: extra compiler flags of each side's demos (e.g. one tree, B with a -D switch).
"""
import argparse
import json
import os
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
import onnxruntime as ort

BUILD = """
import sys, onnx, sdk
b = sdk.compile(onnx.load(sys.argv[1]), target="host", name="model")
b.save(sys.argv[2], force=True)
"""
STEP = re.compile(r"step (\S+)\s+([\d.]+) us")


def build(tree: str, model: Path, out: Path, cflags: list):
    env = dict(os.environ, PYTHONPATH=tree)
    subprocess.run([sys.executable, "-c", BUILD, str(model), str(out)], env=env, check=True, cwd=tree)
    base = next(ln.split("=", 1)[1].strip() for ln in (out / "Makefile").read_text().splitlines()
                if ln.startswith("CFLAGS ="))
    subprocess.run(["make", "-s", "-B", "-C", str(out), "CFLAGS=" + " ".join([base, *cflags])], check=True,
                   capture_output=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--model-b", help="B's model (default --model: e.g. the same graph with its nodes reordered)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=50, help="runs per round and demo")
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--cflags-a", default="", help="extra CFLAGS of A's demos")
    ap.add_argument("--cflags-b", default="", help="extra CFLAGS of B's demos")
    a = ap.parse_args()
    from sdk.backends.host.runner import run_demo
    m = onnx.load(a.model)
    inp = m.graph.input[0]
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
    feed = {inp.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = a.threads, 1
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    ref = sess.run(None, feed)[0]
    clock = ["-DSDK_PROF_CLOCK=CLOCK_THREAD_CPUTIME_ID"] if a.threads == 1 else []
    tmp = Path(tempfile.mkdtemp(prefix="steps_ab_"))
    try:
        prof, plain, arena, err = {}, {}, {}, {}
        for k, tree, extra in (("A", a.a, a.cflags_a.split()), ("B", a.b, a.cflags_b.split())):
            prof[k], plain[k] = tmp / f"{k}_prof", tmp / f"{k}_plain"
            model = a.model_b if k == "B" and a.model_b else a.model
            build(tree, Path(model).resolve(), prof[k], ["-DSDK_PROFILE", *clock, *extra])
            shutil.copytree(prof[k], plain[k])
            base = next(ln.split("=", 1)[1].strip() for ln in (plain[k] / "Makefile").read_text().splitlines()
                        if ln.startswith("CFLAGS ="))
            subprocess.run(["make", "-s", "-B", "-C", str(plain[k]), "CFLAGS=" + " ".join([base, *extra])],
                           check=True, capture_output=True)
            arena[k] = int(json.loads((prof[k] / "plan.json").read_text())["arena_bytes"])
            meta = json.loads((plain[k] / "bundle.json").read_text())
            outs, _, _ = run_demo([str(plain[k] / "model_main")], meta, feed, threads=a.threads)
            err[k] = float(np.abs(list(outs.values())[0] - ref).max())
        steps = {"A": defaultdict(list), "B": defaultdict(list)}
        whole = {"A": [], "B": [], "ort": []}
        load0 = os.getloadavg()[0]
        for r in range(a.rounds):
            for k in (("A", "B") if r % 2 == 0 else ("B", "A")):
                meta = json.loads((prof[k] / "bundle.json").read_text())
                _, _, proc = run_demo([str(prof[k] / "model_main")], meta, feed, repeat=a.repeat, threads=a.threads)
                for ln in proc.stderr.splitlines():
                    mt = STEP.match(ln)
                    if mt:
                        steps[k][mt.group(1)].append(float(mt.group(2)))
                _, info, _ = run_demo([str(plain[k] / "model_main")], meta, feed, repeat=a.repeat, threads=a.threads)
                whole[k].append(float(info["min_ms"]))
            clk = time.thread_time if a.threads == 1 else time.perf_counter
            for _ in range(a.repeat):
                t0 = clk()
                sess.run(None, feed)
                whole["ort"].append(1e3 * (clk() - t0))
        load1 = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mins = {k: {s: min(v) for s, v in st.items()} for k, st in steps.items()}
    names = list(mins["A"])
    print(f"{Path(a.model).name}: {a.threads} thread(s), {a.rounds} alternating rounds x {a.repeat} runs, "
          f"per-step minima ({'CPU' if a.threads == 1 else 'wall'} clock); load {load0:.1f}-{load1:.1f}")
    print(f"A = {a.a} {a.cflags_a}, B = {a.b} {a.cflags_b}{' ' + a.model_b if a.model_b else ''}\n")
    print("| step | A us | B us | B/A |\n|---|---:|---:|---:|")
    rows = sorted(set(names) | set(mins["B"]), key=lambda s: -max(mins["A"].get(s, 0), mins["B"].get(s, 0)))
    for s in rows[: a.top]:
        ta, tb = mins["A"].get(s, float("nan")), mins["B"].get(s, float("nan"))
        print(f"| {s} | {ta:.1f} | {tb:.1f} | {tb / ta if ta else float('nan'):.3f} |")
    sa, sb = sum(mins["A"].values()), sum(mins["B"].values())
    print(f"\nsum of step minima: A {sa / 1e3:.3f} ms, B {sb / 1e3:.3f} ms (B/A {sb / sa:.3f})")
    print(f"whole runs (no step timer), min (median of round minima): A {min(whole['A']):.3f} "
          f"({statistics.median(whole['A']):.3f}) ms, B {min(whole['B']):.3f} ({statistics.median(whole['B']):.3f}) "
          f"ms, onnxruntime {min(whole['ort']):.3f} ({statistics.median(whole['ort']):.3f}) ms")
    print(f"max abs err vs onnxruntime: A {err['A']:.1e}, B {err['B']:.1e}; arena bytes A {arena['A']}, "
          f"B {arena['B']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
