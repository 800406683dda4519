"""Tuning through the JIT against tuning in gcc batches (issue 17): the same search (model, seed, trials) with the
host's two measurers, then the model built with each database and run both ways.

    python bench/tune_measure.py [--model resnext_block] [--trials 48] [--repeat 30]

Columns: measurer; trials; wall seconds and CPU seconds of the search (this process plus its waited-for children:
gcc for the C measurer; the machine is shared, so CPU time is what to compare); candidates per CPU second; then
the model compiled with that database: the gcc -O3 bundle's ``model_run`` median (the demo program, timed in C) and
the JIT's run median (timed in native code), both on one thread. The "jit" row's database in the gcc bundle is the
question "are the kernels the JIT picked as fast in the C bundle". Outputs are checked against onnxruntime.
"""
from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))

import sdk  # noqa: E402
from sdk.targets import load_target  # noqa: E402
from sdk.tune.tuner import tune  # noqa: E402


def cpu_s() -> float:
    me, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def search(model, dims, kind: str, trials: int, seed: int, db_path: str):
    from sdk.backends.host.measure import Measurer
    from sdk.backends.host.measure_jit import JitMeasurer
    tgt = load_target("host")
    m = JitMeasurer(tgt, seed=seed) if kind == "jit" else Measurer(tgt, seed=seed)
    w0, c0 = time.perf_counter(), cpu_s()
    s = tune(model, dims=dims, trials=trials, db=db_path, seed=seed, progress=False, sparse=False, measurer=m)
    return s, time.perf_counter() - w0, cpu_s() - c0, m


def run_times(model, dims, db_path, feeds, repeat):
    from conftest import ort_run
    b = sdk.compile(model, dims=dims, tuning_db=db_path, name="tuned")
    ref = ort_run(model, feeds)
    ok = []
    out = {}
    for engine in ("c", "llvm"):
        got, info = b.run_with_info(feeds, engine=engine, repeat=repeat)
        out[engine] = float(info["median_ms"])
        ok.append(all(np.allclose(got[k], ref[k], rtol=1e-4, atol=1e-5) for k in ref))
    return out, ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnext_block")
    ap.add_argument("--trials", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    from conftest import random_inputs
    from make_examples import BOUNDS, EXAMPLES
    model, bounds = EXAMPLES[a.model](), dict(BOUNDS[a.model])
    dims = dict(bounds, batch=1)  # tuned at the shape that runs
    feeds = random_inputs(model, dims, seed=1)
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for kind in ("c", "jit"):
            db = str(Path(td) / f"{kind}.jsonl")
            s, wall, cpu, m = search(model, dims, kind, a.trials, a.seed, db)
            times, ok = run_times(model, dims, db, feeds, a.repeat)
            best = sum(t.count * t.best[1] for t in s.tasks)
            rows.append((kind, s.trials, wall, cpu, s.trials / cpu, best * 1e3, times["c"], times["llvm"], ok))
    print(f"model {a.model} (batch 1), {a.trials} trials, seed {a.seed}, one thread")
    print("| measurer | trials | search wall s | search CPU s | candidates / CPU s | sum of best kernel times ms "
          "| gcc bundle model_run ms | JIT run ms | outputs = ORT (gcc, JIT) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.2f} | {r[5]:.4f} | {r[6]:.4f} | {r[7]:.4f} | "
              f"{'yes' if r[8][0] else 'NO'}, {'yes' if r[8][1] else 'NO'} |")
    c, j = rows
    print(f"\nsearch CPU time jit / c: {j[3] / c[3]:.2f}; gcc bundle with the JIT-tuned kernels / with the gcc-tuned "
          f"kernels: {j[6] / c[6]:.2f}")


if __name__ == "__main__":
    main()
