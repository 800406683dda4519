"""A/B of the C search runtime (runtime_c/src/sdk_vq.c) between a git revision (A, default main) and the working
tree (B): the same index files and queries, exhaustive ADC and tree searches, both builds alternately in one run.

  python3 bench/vq_search_ab.py --synthetic                       # random 8-stage codes, 58,626 x 384
  python3 bench/vq_search_ab.py --set minilm-passages-cpu --margin 0.4 --budget 16000

Each build is bench/vq_ab_driver.c + that revision's sdk_vq.c with the host profile's flags (targets/host.toml:
-O3 -march=native -ffp-contract=fast), one thread, k=10, lookup tables 32 queries at a time; each row runs A and B
`--pairs` times alternately, each run the best of `--rounds` passes over the queries by the thread's CPU clock,
and keeps the best. `ids` says whether A's and B's tree searches returned the same ids (a checksum).
--synthetic: codes drawn uniformly, codebooks random with decaying scales (the timing depends on the shapes, the
tree's cell sizes and the items visited, not on the values), queries near decoded items; IVF (2,048 cells), one-
and two-level A-Tree. --set: the set's cached IRVQ (bench/vq_tree_bench.py) and its test queries; IVF.
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]


def build(src, out, flags):
    rt = ROOT / "runtime_c"
    subprocess.run(["gcc", "-std=c99", *flags.split(), "-Wall", "-Wextra", f"-I{rt / 'include'}", "-o", str(out),
                    str(HERE / "vq_ab_driver.c"), str(src), str(rt / "src/sdk_status.c")], check=True)


def synthetic(folder, n=58626, dim=384, stages=8, nq=480):
    from sdk.vq import Index
    from sdk.vq.quantizer import Quantizer
    rng = np.random.default_rng(0)
    books = rng.standard_normal((stages, 256, dim)) * (0.08 / (1 + np.arange(stages)))[:, None, None]
    q = Quantizer(books.astype(np.float32), "irvq", 8)
    codes = rng.integers(0, 256, (n, stages)).astype(np.uint8)
    blobs = {}
    for name, kind, depth in (("flat", None, None), ("ivf", "ivf", None), ("atree1", "atree", 1),
                              ("atree2", "atree", 2)):
        path = folder / f"{name}.svq"
        if not path.exists():
            idx = Index(q, tree=kind, depth=depth, cells=2048 if kind == "ivf" else None)  # as before 2026-12-06 vq42
            idx.add_codes(codes)
            path.write_bytes(idx.to_bytes())
        blobs[name] = path
    qf = folder / "queries.f32"
    x = q.decode(codes[:nq]) + 0.02 * rng.standard_normal((nq, dim))
    x.astype("<f4").tofile(qf)
    return blobs, qf, nq


def real(name, folder):
    import vq_tree_bench as tb
    from sdk.vq import Index
    desc, make, base_n, train = tb.SETS[name]
    xq, xb, xt = tb.split(name, make(), base_n, train)
    q, codes = tb.quantizer(name, xt, xb)
    blobs = {}
    from sdk.vq.tree import ivf_cells
    for kind in (None, "ivf"):  # the file name holds the default cell count (tree.ivf_cells changed on 2026-12-06)
        tag = f"ivf{ivf_cells(len(codes))}" if kind else "flat"
        path = folder / f"{name}_{len(codes)}_{tag}.svq"
        if not path.exists():
            idx = Index(q, tree=kind)
            idx.add_codes(codes)
            path.write_bytes(idx.to_bytes())
        blobs[kind or "flat"] = path
    qf = folder / f"{name}_q.f32"
    nq = len(xq) // 32 * 32
    xq[:nq].astype("<f4").tofile(qf)
    return blobs, qf, nq, len(codes)


def run(exe, flat, tree, qf, nq, budget, margin, rounds):
    out = subprocess.run([str(exe), str(flat), str(tree), str(qf), str(nq), str(budget), repr(margin), str(rounds)],
                         check=True, capture_output=True, text=True).stdout.split()
    return float(out[1]), float(out[3]), out[5]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="main", help="git revision of build A")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--set", help="a set of bench/vq_tree_bench.py (IVF rows at --budget / --margin)")
    ap.add_argument("--budget", type=int, default=16000)
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import vq_tree_bench as tb
    flags = tb.host_flags()
    data = HERE / "data" / "vq_search_ab"
    data.mkdir(parents=True, exist_ok=True)
    if args.synthetic:
        blobs, qf, nq = synthetic(data)
        what = "synthetic: 58,626 random 8-stage codes, 384-d"
        rows = [("ivf", 6000, 1e9, "IVF 2,048 cells, best first to 6,000 items (adaptive path)"),
                ("ivf", 6000, 0.0, "IVF 2,048 cells, budget 6,000"),
                ("atree1", 6000, 1e9, "A-Tree 1 level, best first to 6,000 items"),
                ("atree1", 6000, 0.0, "A-Tree 1 level, budget 6,000"),
                ("atree2", 6000, 0.0, "A-Tree 2 levels, budget 6,000")]
    else:
        blobs, qf, nq, n = real(args.set, data)
        what = f"{args.set}: {n:,} items, IRVQ 8 x 8 bits, its test queries"
        rows = [("ivf", args.budget, args.margin, f"IVF ({blobs['ivf'].stem.split('_')[-1]}), margin {args.margin:g} "
                                                   f"budget {args.budget}")]
    with tempfile.TemporaryDirectory() as tmp:
        a_src = Path(tmp) / "sdk_vq_a.c"
        a_src.write_text(subprocess.run(["git", "-C", str(ROOT), "show", f"{args.base}:runtime_c/src/sdk_vq.c"],
                                        check=True, capture_output=True, text=True).stdout)
        exe = {"A": Path(tmp) / "a", "B": Path(tmp) / "b"}
        build(a_src, exe["A"], flags)
        build(ROOT / "runtime_c/src/sdk_vq.c", exe["B"], flags)
        print(f"{what}; A = {args.base}, B = working tree; gcc {flags}; {nq} queries; load average "
              f"{os.getloadavg()[0]:.1f} at start; best of {args.pairs} alternating pairs x {args.rounds} rounds\n")
        print("| search | A exhaustive us | A tree us | A speed-up | B exhaustive us | B tree us | B speed-up | "
              "B tree / A tree | same ids |")
        print("|---|---|---|---|---|---|---|---|---|")
        for tree, budget, margin, label in rows:
            best = {k: [1e30, 1e30, None] for k in exe}
            for _ in range(args.pairs):
                for k in ("A", "B"):
                    e, t, ids = run(exe[k], blobs["flat"], blobs[tree], qf, nq, budget, margin, args.rounds)
                    best[k] = [min(best[k][0], e), min(best[k][1], t), ids]
            (ea, ta, ia), (eb, tb_, ib) = best["A"], best["B"]
            print(f"| {label} | {ea:.1f} | {ta:.1f} | {ea / ta:.2f}x | {eb:.1f} | {tb_:.1f} | {eb / tb_:.2f}x | "
                  f"{tb_ / ta:.3f} | {'yes' if ia == ib else 'NO'} |", flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
