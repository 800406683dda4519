"""Tree search vs exhaustive ADC at equal recall@10 on the real sets, shipped defaults (issue 20).

  python3 bench/vq_tree_bench.py --sets sift-like,minilm-tokens,minilm-passages-half
  python3 bench/vq_tree_bench.py --write     # also append the tables to bench/RESULTS_vq.md

Each set is split as in bench/vq_bench.py (same queries, base and training rows), the shipped IRVQ
(`vq.train(xt, method="irvq", stages=8, bits=8, beam=8, seed=0)`) is trained once and cached in
bench/data/vqtree_<set>.npz (codebooks, encoding beam and base codes), then `tree_sweep` of vq_bench.py
runs with match=True: for each tree, the fastest (nprobe, budget) whose recall@10 reaches exhaustive
ADC's own, then that setting and exhaustive ADC timed alternately. The index is built with the shipped
`sdk.vq.Index` defaults for the tree kind (no options), so the table is what a user gets.
"""
import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import vq_bench as vb  # noqa: E402
import vq_datasets as ds  # noqa: E402


def quantizer(name, xt, xb):
    """The shipped IRVQ of a set and the base codes, cached."""
    from sdk.vq.quantizer import Quantizer
    cache = ds.DATA / f"vqtree_{name}.npz"
    if cache.exists():
        z = np.load(cache)
        if z["n"] == len(xb) and z["ntrain"] == len(xt):
            return Quantizer(z["books"], "irvq", int(z["beam"])), z["codes"]
    from sdk import vq
    t0 = time.process_time()
    q = vq.train(xt, method="irvq", stages=8, bits=8, beam=8, seed=0, progress=False, iters=20)
    codes = q.encode(xb)
    print(f"  {name}: IRVQ trained and base encoded in {time.process_time() - t0:.0f} CPU s", file=sys.stderr)
    ds.DATA.mkdir(exist_ok=True)
    np.savez(cache, books=q.codebooks, beam=q.beam, codes=codes, n=len(xb), ntrain=len(xt))
    return q, codes


def run_set(name, opt, trees):
    desc, make, base, train = vb.SETS[name]
    xq, xb, xt = vb.split(make(), base, train)
    print(f"== {name}: train {xt.shape}, base {xb.shape}, queries {xq.shape}", file=sys.stderr, flush=True)
    q, codes = quantizer(name, xt, xb)
    gt = vb.knn(xq, xb, 1)[:, 0]
    lines = [f"\n#### Tree search on `{name}` ({desc}; {len(xb):,} items; IRVQ codes, shipped defaults)"]
    vb.tree_sweep(q, codes, xq, gt, lines, trees=trees, opt=opt, match=True)
    print("\n".join(lines), file=sys.stderr, flush=True)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="sift-like,minilm-tokens,minilm-passages-half")
    ap.add_argument("--opt", default="-O2", help="gcc flags of the C runtime build (both searches)")
    ap.add_argument("--trees", default="atree,etree", help="tree kinds (shipped defaults of each)")
    ap.add_argument("--train-only", action="store_true", help="only train and cache the quantizers")
    ap.add_argument("--write", action="store_true", help="append the tables to bench/RESULTS_vq.md")
    args = ap.parse_args()
    load = os.getloadavg()
    head = [f"\n## {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: tree search at equal recall "
            f"(`bench/vq_tree_bench.py --sets {args.sets} --opt \"{args.opt}\"`)\n",
            f"{vb.machine()}; load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine)."]
    out = []
    if args.train_only:
        for name in args.sets.split(","):
            desc, make, base, train = vb.SETS[name]
            xq, xb, xt = vb.split(make(), base, train)
            quantizer(name, xt, xb)
        return
    for name in args.sets.split(","):
        out += run_set(name, args.opt, tuple((k, 1) for k in args.trees.split(",")))
    load = os.getloadavg()
    out.append(f"\nLoad average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.")
    text = "\n".join(head + out) + "\n"
    print(text)
    if args.write:
        with open(HERE / "RESULTS_vq.md", "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
