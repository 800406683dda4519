"""How many items equal recall@10 needs, and how noisy the held-out choice of the budget is (numpy; issue 20).

  python3 bench/vq_tail_study.py minilm-tokens-all --held 4000 --parts atree,ivf512,ivf1024,ivf512-spill4

On a set of bench/vq_tree_bench.py (its cached IRVQ, the shipped 8-bit lookup tables: sdk.vq.lut8.tables, float32
norms): exhaustive ADC distances of `--held` leave-one-out base rows (sdk.vq.tune.leave_one_out, seed 1: a
superset-free draw, not the bench's 1,000) and of the 500 test queries to every item. For each partition the
leaves are visited in order of the query's leaf score (the C search's order: score, then node), and a query is
found at budget B (visit leaves while fewer than B positions were seen: sdk_vq_params.budget) iff its truth's leaf
starts before B and fewer than 10 items that beat the truth (ADC distance, ties by id; a leave-one-out query's own
row left out) start before B: an interval of budgets per query, so the recall at every budget comes exactly from
one pass. Prints per partition the held-out and test recall@10 by budget, the mean positions a query visits there,
the smallest budget reaching exhaustive ADC's recall on the whole held-out split, on each of its 1,000-row blocks
(the spread is the selection noise of a 1,000-row split), and on the test queries.

Partitions: atree (the one-level A-Tree: stage-0 codewords, leaf score = the stage-0 partial distance);
ivfN (sdk.vq.tree.build_ivf with N cells: k-means of the decoded items, centroids stored as codes, score = the
centroid's ADC distance); a -spillW suffix puts every item also in a SOAR second leaf (bench/vq_spill_study.py;
positions count twice, an item counts as visited at its first leaf).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import vq_bench as vb  # noqa: E402
import vq_tree_bench as tb  # noqa: E402

K = 10


def partition(name, q, codes):
    """(labels (n,) or (n, 2), leaf sizes (L,), leaf score function lut, qn -> (nq, L))."""
    from sdk.vq.tree import build_ivf, build_tree
    spill = 0.0
    if "-spill" in name:
        name, w = name.split("-spill")
        spill = float(w)
    books = q.codebooks
    if name == "atree":
        t = build_tree(codes, books, (0,))
        lv = t.levels[0]
        labels = np.empty(len(codes), np.int64)
        labels[t.ids] = np.repeat(np.arange(len(lv.code)), lv.count)
        c0, cn = lv.code.astype(np.int64), lv.norm.astype(np.float64)
        rec_centers = books[0][c0].astype(np.float32)

        def score(lut, qn):
            return qn[:, None] - 2.0 * lut[:, 0, c0] + cn[None]
    else:
        cells = int(name[3:])
        t = build_ivf(codes, q, cells)
        lv = t.levels[0]
        labels = np.empty(len(codes), np.int64)
        labels[t.ids] = np.repeat(np.arange(len(lv.code)), lv.count)
        cc = t.cell_codes.astype(np.int64)
        cn = lv.norm.astype(np.float64)
        rec_centers = q.decode(t.cell_codes).astype(np.float32)

        def score(lut, qn):
            acc = np.zeros((len(lut), len(cc)))
            for m in range(cc.shape[1]):
                acc += lut[:, m, cc[:, m]]
            return qn[:, None] - 2.0 * acc + cn[None]
    sizes = np.bincount(labels, minlength=len(lv.code)).astype(np.int64)
    if spill:
        from sdk.vq.tree import soar_cells
        rec = q.decode(codes).astype(np.float32)
        second = soar_cells(rec, rec_centers, labels, spill)
        labels = np.stack([labels, second], 1)
        sizes = sizes + np.bincount(second[second >= 0], minlength=len(sizes))
    return labels, sizes, score


def intervals(dist, truth, self_ids, labels, sizes, scores):
    """Per query: (lo, hi, ends): found at budget B iff lo < B <= hi; ends (L,) the positions seen after each leaf
    in visiting order. dist (nq, n) ADC distances, scores (nq, L) leaf scores."""
    nq, n = dist.shape
    order = np.argsort(scores, axis=1, kind="stable")
    ends = np.cumsum(sizes[order], axis=1)
    before = np.empty_like(ends)
    np.put_along_axis(before, order, ends - sizes[order], axis=1)
    if labels.ndim == 1:
        ib = np.take_along_axis(before, np.broadcast_to(labels, (nq, n)), axis=1)
    else:
        b0 = np.take_along_axis(before, np.broadcast_to(labels[:, 0], (nq, n)), axis=1)
        sec = np.where(labels[:, 1] >= 0, labels[:, 1], labels[:, 0])
        b1 = np.take_along_axis(before, np.broadcast_to(sec, (nq, n)), axis=1)
        ib = np.minimum(b0, b1)
    r = np.arange(nq)
    dt = dist[r, truth]
    ids = np.arange(n)
    better = (dist < dt[:, None]) | ((dist == dt[:, None]) & (ids[None] < truth[:, None]))
    if self_ids is not None:
        better[r, self_ids] = False
    lo = ib[r, truth].astype(np.float64)
    cand = np.where(better, ib, np.iinfo(np.int64).max).astype(np.float64)
    cand[cand == np.iinfo(np.int64).max] = np.inf
    hi = np.partition(cand, K - 1, axis=1)[:, K - 1] if n >= K else np.full(nq, np.inf)
    ex = better.sum(1) < K
    return lo, hi, ends, ex


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("set")
    ap.add_argument("--held", type=int, default=4000)
    ap.add_argument("--parts", default="atree,ivf512")
    ap.add_argument("--step", type=int, default=250, help="budget grid step")
    ap.add_argument("--draws", type=int, default=400, help="random held-out subsets per size (selection noise)")
    ap.add_argument("--save", help="write the found-at-budget matrices to this .npz")
    args = ap.parse_args()
    from sdk.vq import lut8
    from sdk.vq.tune import leave_one_out
    desc, make, base_n, train = tb.SETS[args.set]
    xq, xb, xt = tb.split(args.set, make(), base_n, train)
    q, codes = tb.quantizer(args.set, xt, xb)
    codes = np.asarray(codes).astype(np.int64)
    n = len(codes)
    t0 = time.time()
    rows, htruth = leave_one_out(xb, args.held)
    gt = vb.knn(xq, xb, 1)[:, 0]
    rec = q.decode(codes)
    norms = np.einsum("ij,ij->i", rec, rec).astype(np.float32).astype(np.float64)
    queries = np.concatenate([xb[rows], xq]).astype(np.float32)
    truth = np.concatenate([htruth, gt]).astype(np.int64)
    self_ids = np.concatenate([rows, np.full(len(xq), -1)]).astype(np.int64)
    is_held = np.r_[np.ones(len(rows), bool), np.zeros(len(xq), bool)]
    print(f"{args.set}: {n} items, {len(rows)} held-out + {len(xq)} test queries ({time.time() - t0:.0f} s)",
          file=sys.stderr, flush=True)
    parts = {p: partition(p, q, codes) for p in args.parts.split(",")}
    res = {p: ([], [], [], []) for p in parts}
    blk = 64
    for s in range(0, len(queries), blk):
        qb = queries[s:s + blk]
        lut = lut8.tables(qb, q.codebooks)
        qn = np.einsum("qd,qd->q", qb.astype(np.float64), qb.astype(np.float64))
        acc = np.zeros((len(qb), n))
        for m in range(codes.shape[1]):
            acc += lut[:, m, codes[:, m]]
        dist = qn[:, None] - 2.0 * acc + norms[None]
        sid = self_ids[s:s + blk]
        dist_s = dist.copy()
        hold = sid >= 0
        dist_s[np.flatnonzero(hold), sid[hold]] = np.inf  # own row: never a better item, never the truth
        for p, (labels, sizes, score) in parts.items():
            lo, hi, ends, ex = intervals(dist_s, truth[s:s + blk], None, labels, sizes, score(lut, qn))
            for lst, val in zip(res[p], (lo, hi, ends, ex)):
                lst.append(val)
        if s % 1024 == 0:
            print(f"  {s + len(qb)} queries ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    grid = np.arange(args.step, n * 2 + args.step, args.step)
    out = {}
    for p in parts:
        lo, hi, ends, ex = (np.concatenate(x) for x in res[p])
        found = (lo[:, None] < grid[None]) & (grid[None] <= hi[:, None])  # (nq, grid)
        last = ends[:, -1]
        # positions a query visits at budget B: the end of the first leaf whose end reaches B
        idx = np.array([np.searchsorted(e, grid, side="left") for e in ends])
        seen = np.take_along_axis(ends, np.minimum(idx, ends.shape[1] - 1), axis=1)
        seen = np.minimum(seen, last[:, None])
        leaves = np.minimum(idx + 1, ends.shape[1])
        out[p] = dict(found=found, ex=ex, seen=seen.mean(0), seen_test=seen[~is_held].mean(0),
                      leaves=leaves[~is_held].mean(0), positions=int(last[0]))
    exh = out[next(iter(parts))]["ex"]
    print(f"\nexhaustive ADC recall@10: held-out {exh[is_held].mean():.4f} ({exh[is_held].sum()} of {is_held.sum()}), "
          f"test {exh[~is_held].mean():.4f} ({exh[~is_held].sum()} of {(~is_held).sum()})")
    blocks = [np.flatnonzero(is_held)[i:i + 1000] for i in range(0, is_held.sum(), 1000)]

    def need(found, ex, sel):
        ok = found[sel].sum(0) >= ex[sel].sum()
        return int(grid[np.argmax(ok)]) if ok.any() else None
    for p, o in out.items():
        f, ex = o["found"], o["ex"]
        nh = need(f, ex, is_held)
        nt = need(f, ex, ~is_held)
        nb = [need(f, ex, b) for b in blocks]
        i_h = None if nh is None else int(np.searchsorted(grid, nh))
        print(f"\n{p} ({o['positions']} positions): budget reaching exhaustive's recall: all held-out {nh}, "
              f"1,000-row blocks {nb}, test {nt}")
        if i_h is not None:
            print(f"  at the held-out budget {nh}: test recall {f[~is_held, i_h].mean():.4f} vs exhaustive "
                  f"{ex[~is_held].mean():.4f}; test queries visit {o['seen_test'][i_h]:.0f} positions "
                  f"({o['seen_test'][i_h] / n:.1%} of n), {o['leaves'][i_h]:.1f} leaves")
        # spare: queries found at some budget beyond the exhaustive ones
        print(f"  held-out: findable at some budget {((f[is_held]).any(1)).sum()}, exhaustive {ex[is_held].sum()}")
        print("  budget | held-out recall (found - exhaustive) | test recall (found - exhaustive) | test positions | leaves")
        for b in (1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 10000, 12000, 14000, 16000, 20000):
            if b > grid[-1]:
                break
            i = int(np.searchsorted(grid, b))
            print(f"  {b:6d} | {f[is_held, i].mean():.4f} ({f[is_held, i].sum() - ex[is_held].sum():+d}) | "
                  f"{f[~is_held, i].mean():.4f} ({f[~is_held, i].sum() - ex[~is_held].sum():+d}) | "
                  f"{o['seen_test'][i]:.0f} | {o['leaves'][i]:.1f}")
    # the selection noise: the tune's rule (the smallest budget whose held-out recall reaches exhaustive ADC's on
    # the same rows) on random subsets of the held-out rows, and whether its pick reaches equal *test* recall
    rng = np.random.default_rng(0)
    held_rows = np.flatnonzero(is_held)
    print("\npart | held-out rows | the rule's pick: median (quartiles) | share of picks reaching exhaustive ADC's "
          "test recall | test positions at the median pick")
    for p, o in out.items():
        f, ex = o["found"], o["ex"]
        test_ok = f[~is_held].sum(0) >= ex[~is_held].sum()
        for size in sorted({s for s in (500, 1000, 2000) if s < len(held_rows)} | {len(held_rows)}):
            picks = []
            for _ in range(args.draws if size < len(held_rows) else 1):
                sel = rng.choice(held_rows, size, replace=False)
                ok = f[sel].sum(0) >= ex[sel].sum()
                picks.append(int(np.argmax(ok)) if ok.any() else len(grid) - 1)
            picks = np.array(picks)
            q1, med, q3 = np.percentile(grid[picks], [25, 50, 75])
            print(f"{p} | {size} | {med:.0f} ({q1:.0f}-{q3:.0f}) | {test_ok[picks].mean():.2f} | "
                  f"{o['seen_test'][int(np.searchsorted(grid, med))]:.0f}")
        print(f"{p} | (the test queries' own smallest budget: {grid[np.argmax(test_ok)] if test_ok.any() else None})")
    if args.save:
        np.savez(args.save, grid=grid, is_held=is_held,
                 **{f"{p}_found": o["found"] for p, o in out.items()}, ex=exh,
                 **{f"{p}_seen": o["seen_test"] for p, o in out.items()},
                 **{f"{p}_leaves": o["leaves"] for p, o in out.items()})


if __name__ == "__main__":
    main()
