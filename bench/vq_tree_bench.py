"""Tree search vs exhaustive ADC at equal recall@10 on the real sets, shipped defaults (issue 20).

  python3 bench/vq_tree_bench.py --sets sift-like,minilm-tokens,minilm-passages-half
  python3 bench/vq_tree_bench.py --write     # also append the tables to bench/RESULTS_vq.md
  python3 bench/vq_tree_bench.py --dump DIR  # write the index files, queries and neighbours; then
  python3 bench/vq_tree_bench.py --blobs DIR # runs from those files (no data set, no training)

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


def dump(name, folder, kinds):
    """Write a set's index files (exhaustive and each tree kind, shipped defaults), queries and true
    nearest neighbours to `folder`, for --blobs runs without the data set or the training."""
    from sdk.vq import Index
    desc, make, base, train = vb.SETS[name]
    xq, xb, xt = vb.split(make(), base, train)
    q, codes = quantizer(name, xt, xb)
    folder.mkdir(parents=True, exist_ok=True)
    for kind in (None, *kinds):
        idx = Index(q, tree=kind)
        idx.add_codes(codes)
        (folder / f"{name}_{kind}.svq").write_bytes(idx.to_bytes())
    xq.astype("<f4").tofile(folder / f"{name}_q.f32")
    np.save(folder / f"{name}_gt.npy", vb.knn(xq, xb, 1)[:, 0])


def run_set(name, opt, trees, blobs=None):
    desc = vb.SETS[name][0]
    if blobs:  # index files, queries and neighbours written by --dump
        files = {k: (blobs / f"{name}_{k}.svq").read_bytes() for k in (None, *(t for t, _ in trees))}
        xq = np.fromfile(blobs / f"{name}_q.f32", "<f4")
        gt = np.load(blobs / f"{name}_gt.npy")
        xq = xq.reshape(len(gt), -1)
        n = int(np.frombuffer(files[None][32:36], "<u4")[0])
        q = codes = None
    else:
        desc, make, base, train = vb.SETS[name]
        xq, xb, xt = vb.split(make(), base, train)
        print(f"== {name}: train {xt.shape}, base {xb.shape}, queries {xq.shape}", file=sys.stderr, flush=True)
        q, codes = quantizer(name, xt, xb)
        gt = vb.knn(xq, xb, 1)[:, 0]
        files, n = None, len(xb)
    lines = [f"\n#### Tree search on `{name}` ({desc}; {n:,} items; IRVQ codes, shipped defaults)"]
    vb.tree_sweep(q, codes, xq, gt, lines, trees=trees, opt=opt, match=True, blobs=files)
    print("\n".join(lines), file=sys.stderr, flush=True)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="sift-like,minilm-tokens,minilm-passages-half")
    ap.add_argument("--opt", default="-O2", help="gcc flags of the C runtime build (both searches)")
    ap.add_argument("--trees", default="atree,etree", help="tree kinds (shipped defaults of each)")
    ap.add_argument("--train-only", action="store_true", help="only train and cache the quantizers")
    ap.add_argument("--write", action="store_true", help="append the tables to bench/RESULTS_vq.md")
    ap.add_argument("--dump", type=Path, metavar="DIR", help="only write each set's index files, queries and "
                    "neighbours to DIR (after training or from the cache)")
    ap.add_argument("--blobs", type=Path, metavar="DIR", help="run from the files --dump wrote (no data set, "
                    "no training: e.g. minilm-passages-half, whose embeddings took 10 CPU minutes to make)")
    args = ap.parse_args()
    if args.dump:
        for name in args.sets.split(","):
            dump(name, args.dump, args.trees.split(","))
        return
    load = os.getloadavg()
    blobs = f" --blobs {args.blobs}" if args.blobs else ""
    head = [f"\n## {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: tree search at equal recall "
            f"(`bench/vq_tree_bench.py --sets {args.sets} --opt \"{args.opt}\"{blobs}`)\n",
            f"{vb.machine()}; load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine)."]
    out = []
    if args.train_only:
        for name in args.sets.split(","):
            desc, make, base, train = vb.SETS[name]
            xq, xb, xt = vb.split(make(), base, train)
            quantizer(name, xt, xb)
        return
    for name in args.sets.split(","):
        out += run_set(name, args.opt, tuple((k, 1) for k in args.trees.split(",")), args.blobs)
    load = os.getloadavg()
    out.append(f"\nLoad average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.")
    text = "\n".join(head + out) + "\n"
    print(text)
    if args.write:
        with open(HERE / "RESULTS_vq.md", "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
