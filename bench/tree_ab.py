"""A/B of two source trees of sdk on zoo models: each tree compiles each model in its own process (its own Python
package and runtime_c), then one process builds the demos (-DSDK_CPU_CLOCK, one thread) and times A, B and
onnxruntime (time.thread_time() around session.run, one thread) in alternating rounds; the median of the rounds'
medians and the minimum, CPU clock, outputs against onnxruntime, arena bytes of each build. ``--threads 2``: the
demos on two threads and onnxruntime with two intra-op threads, both by the wall clock (a thread's CPU clock
would miss the other thread's work).

    python bench/tree_ab.py --a /work/main --b $PWD --models resnet18,regnet_y_400mf [--rounds 6] [--threads 2]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ZOO = Path(__file__).resolve().parent / "data" / "zoo_full"
BUILD = """
import sys, onnx, sdk
b = sdk.compile(onnx.load(sys.argv[1]), target="host", name="model")
b.save(sys.argv[2], force=True)
"""


def build(tree: str, model: Path, out: Path):
    env = dict(os.environ, PYTHONPATH=tree)
    # cwd: the tree itself (python -c puts the working directory before PYTHONPATH on sys.path)
    subprocess.run([sys.executable, "-c", BUILD, str(model), str(out)], env=env, check=True, cwd=tree)
    src = subprocess.run([sys.executable, "-c", "import sdk.resources as r; print(r.RUNTIME)"], env=env, cwd=tree,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert Path(src).resolve().is_relative_to(Path(tree).resolve()), f"{tree}: sdk's runtime_c is {src}"


def arena(out: Path) -> int:
    plan = json.loads((out / "plan.json").read_text())
    return int(plan["arena_bytes"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True, help="tree A (e.g. /work/main)")
    ap.add_argument("--b", required=True, help="tree B")
    ap.add_argument("--models", required=True)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=10, help="runs per round and build")
    ap.add_argument("--dir", default=str(ZOO))
    ap.add_argument("--threads", type=int, default=1, help="1: CPU clock; more: wall clock for sdk and onnxruntime")
    a = ap.parse_args()
    from sdk.backends.host.runner import HostRunner
    one = a.threads == 1
    runner = HostRunner(threads=a.threads, extra_cflags=["-DSDK_CPU_CLOCK"] if one else [])
    clock = time.thread_time if one else time.perf_counter
    rows = []
    with tempfile.TemporaryDirectory(prefix="tree_ab_") as tmp:
        for name in a.models.split(","):
            path = (Path(a.dir) / f"{name}.onnx").resolve()  # the builds run in the trees
            m = onnx.load(str(path))
            inp = m.graph.input[0]
            shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]
            feed = {inp.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
            outs = {k: Path(tmp) / f"{name}_{k}" for k in ("A", "B")}
            build(a.a, path, outs["A"])
            build(a.b, path, outs["B"])
            so = ort.SessionOptions()
            so.intra_op_num_threads, so.inter_op_num_threads = a.threads, 1
            sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
            ref = sess.run(None, feed)[0]
            errs = {}
            for k, o in outs.items():
                got, _ = runner.run(o, feed, rebuild=True)
                errs[k] = float(np.abs(list(got.values())[0] - ref).max())
            t = {"A": [], "B": [], "ort": []}  # per-round medians
            mins = {"A": [], "B": [], "ort": []}
            load0 = os.getloadavg()[0]
            for r in range(a.rounds):
                for k in (("A", "B") if r % 2 == 0 else ("B", "A")):
                    _, info = runner.run(outs[k], feed, repeat=a.repeat)
                    t[k].append(float(info["median_ms"]))
                    mins[k].append(float(info.get("min_ms", info["median_ms"])))
                o = []
                for _ in range(a.repeat):
                    t0 = clock()
                    sess.run(None, feed)
                    o.append(1e3 * (clock() - t0))
                t["ort"].append(statistics.median(o))
                mins["ort"].append(min(o))
            load1 = os.getloadavg()[0]
            med = {k: statistics.median(v) for k, v in t.items()}
            mn = {k: min(v) for k, v in mins.items()}
            rows.append((name, med, mn, errs, load0, load1, {k: arena(o) for k, o in outs.items()}))
            print(f"{name}: A {med['A']:.2f} ({mn['A']:.2f}) B {med['B']:.2f} ({mn['B']:.2f}) ort {med['ort']:.2f} "
                  f"({mn['ort']:.2f}) ms", flush=True)
    how = "one thread, CPU clock" if one else f"{a.threads} threads, wall clock"
    print(f"\nA = {a.a}, B = {a.b}; {how}, median (min) over {a.rounds} alternating rounds x {a.repeat} runs\n")
    print("| model | A ms | B ms | ort ms | A/ort | B/ort | B/A (median) | B/A (min) | max abs err A / B vs ort | "
          "arena bytes A / B | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, med, mn, errs, l0, l1, ar in rows:
        print(f"| {name} | {med['A']:.2f} ({mn['A']:.2f}) | {med['B']:.2f} ({mn['B']:.2f}) | {med['ort']:.2f} "
              f"({mn['ort']:.2f}) | {med['A'] / med['ort']:.3f} | {med['B'] / med['ort']:.3f} | "
              f"{med['B'] / med['A']:.3f} | {mn['B'] / mn['A']:.3f} | {errs['A']:.1e} / {errs['B']:.1e} | "
              f"{ar['A']} / {ar['B']} | {l0:.1f}-{l1:.1f} |")


if __name__ == "__main__":
    main()
