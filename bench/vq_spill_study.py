"""Which partition / stop needs the fewest visited items at equal held-out recall@10 (numpy, offline; issue 20).

  python3 bench/vq_spill_study.py minilm-tokens-all [--lams 1,4,8]

On a set of bench/vq_tree_bench.py (its cached IRVQ and 1,000-row held-out split), exhaustive ADC distances (float
tables) of every held-out row to every item, then for each partition of the items into leaves visited in order of
the query's distance to the leaf's centroid: the held-out recall@10 after B visited positions, and the budget the
tune's rule (sdk.vq.tune._smallest_budget: the grid, then 3 bisections) would choose to reach exhaustive ADC's
held-out recall. Partitions: the one-level A-Tree (stage-0 codewords), k-means cells of the decoded items
(tree.ivf_cells(n) of them; the centroids themselves, where the IVF tree scores their encoded copies), and both with every item also in a second leaf (SOAR, tree.soar_cells,
weight `--lams`; positions count twice). Also: the per-query oracle (each query stopped right after its truth's
leaf, the cheapest queries first until the target: what a perfect per-query stop would visit).
"""
import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import vq_tree_bench as tb  # noqa: E402

GRID = (250, 500, 750, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 32000, 1 << 40)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set")
    ap.add_argument("--lams", default="1,4,8")
    args = ap.parse_args()
    from sdk.vq.kmeans import kmeans
    from sdk.vq.tree import ivf_cells, soar_cells
    desc, make, base_n, train = tb.SETS[args.set]
    xq, xb, xt = tb.split(args.set, make(), base_n, train)
    quant, codes = tb.quantizer(args.set, xt, xb)
    rows, truth = tb.held_out_split(args.set, xb, 1000)
    books = quant.codebooks.astype(np.float32)
    n, stages = codes.shape
    rec = quant.decode(codes).astype(np.float32)
    Q = xb[rows]
    nq = len(Q)
    D = np.einsum("ij,ij->i", Q, Q)[:, None] + np.einsum("ij,ij->i", rec, rec)[None]
    for m in range(stages):
        D -= 2.0 * (Q @ books[m].T)[:, codes[:, m]]
    D[np.arange(nq), rows] = np.inf  # leave-one-out: the query's own row
    dt = D[np.arange(nq), truth]
    less = (D < dt[:, None]) | ((D == dt[:, None]) & (np.arange(n)[None] < truth[:, None]))
    target = (less.sum(1) < 10).mean()
    print(f"{args.set}: {n} items, {nq} held-out rows, exhaustive ADC recall@10 {target:.3f} (float tables)")
    print("| partition | positions | recall@10 at 2,000 / 4,000 / 6,000 / 8,000 / 12,000 positions | tune's budget "
          "(share of n) | per-query oracle: mean items |\n|---|---|---|---|---|")

    def evaluate(label, assign, cent):
        L = len(cent)
        score = -2 * Q @ cent.T + np.einsum("ij,ij->i", cent, cent)[None]
        cnt = sum(np.bincount(a, minlength=L) for a in assign)
        order = np.argsort(score, axis=1, kind="stable")
        cs = np.cumsum(cnt[order], axis=1) - cnt[order]
        start = np.empty_like(cs)
        start[np.arange(nq)[:, None], order] = cs
        pos = np.minimum.reduce([start[:, a] for a in assign])  # first visit of each item
        pt = pos[np.arange(nq), truth]
        comp = np.where(less, pos, np.iinfo(np.int64).max)
        comp.partition(9, axis=1)
        tenth = comp[:, 9]  # found with budget B iff the truth's leaf starts before B and the 10th better item's not

        def rc(b):
            return ((pt < b) & (b <= tenth)).mean()
        lo = None
        for b in GRID:
            if rc(b) >= target - 1e-12:
                break
            lo = b
        hi = b
        if lo is not None:
            for _ in range(3):
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if rc(mid) >= target - 1e-12 else (mid, hi)
        # oracle: each findable query stopped after its truth's leaf (positions up to that leaf's end)
        ok = pt < tenth
        tl = np.stack([a[truth] for a in assign], 1)  # the truth's leaves
        ts = start[np.arange(nq)[:, None], tl]
        leaf_end = pt + cnt[tl[np.arange(nq), ts.argmin(1)]]
        need = int(np.ceil(target * nq - 1e-9))
        oracle = np.sort(leaf_end[ok])[:need].sum() / nq if ok.sum() >= need else float("nan")
        print(f"| {label} | {int(cnt.sum()):,} | " + " / ".join(f"{rc(b):.3f}" for b in (2000, 4000, 6000, 8000, 12000))
              + f" | {hi if hi < GRID[-1] else 'all'} ({min(hi, cnt.sum()) / n:.1%}) | {oracle:.0f} |", flush=True)

    lams = [float(v) for v in args.lams.split(",") if v]
    c0, leaf0 = books[0], codes[:, 0].astype(np.int64)
    evaluate("A-Tree 1 level (stage-0 codewords)", [leaf0], c0)
    for lam in lams:
        evaluate(f"A-Tree 1 level + SOAR second leaf, weight {lam:g}", [leaf0, soar_cells(rec, c0, leaf0, lam)], c0)
    k = ivf_cells(n)
    cent = kmeans(rec, k, iters=10, seed=0)[0]
    lab = np.argmin(-2 * rec @ cent.T + np.einsum("ij,ij->i", cent, cent)[None], axis=1)
    evaluate(f"k-means {k} cells (IVF)", [lab], cent)
    for lam in lams:
        evaluate(f"k-means {k} cells + SOAR second cell, weight {lam:g}", [lab, soar_cells(rec, cent, lab, lam)], cent)


if __name__ == "__main__":
    main()
