"""Why the word pieces / passages need so many positions at exhaustive ADC's recall, and which partition or cell
ranking needs fewer (numpy study, issue 20; float64 distances to the decoded items, the tree bench's cached IRVQ
codes and 5,000-row leave-one-out split; the budget is chosen on those held-out rows only, then judged on the
500 test queries).

    python3 bench/vq_cell_rank_study.py minilm-tokens-all [--variants base,bias0.5,...]

A query visits cells best first by score S(q, c) = ||q - c||^2 + bias_c (c: the cell's decoded centre; the
shipped tree: bias 0) and is found at budget B (cells visited while fewer than B positions were seen) iff its
true neighbour's first cell is visited and fewer than 10 items closer than it (ties by id) are. Per variant:
exhaustive's recall on the held-out rows (the target), the smallest budget on a grid reaching it there, the test
recall and mean test positions at that budget, and the oracle (mean positions at which the neighbour is held).

Variants: `base` (the shipped spilled tree: build_ivf(spill=SPILL), ivf_cells(n) cells); `cellsN` (N cells);
`spill3` (a third cell per item: the nearest other than the shipped two; 3n positions, index bytes 1.5x the
spilled tree's ids and codes); `nearest2` (second cell = the second nearest, no SOAR term); `biasA` (bias_c = -A x the mean squared distance of
the cell's items to its centre: a wide cell holds items nearer to a query than its centre is); `sbiasA` (bias_c =
-A x that mean's square root x the median centre distance of the held-out queries, a first-order term of
(||q - c|| - r)^2); `white` (k-means on PCA-whitened decoded items, centres the cells' means in the original
space).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
import vq_tree_bench as tb  # noqa: E402
from sdk.vq.index import SPILL  # noqa: E402
from sdk.vq.kmeans import assign, kmeans  # noqa: E402
from sdk.vq.tree import build_ivf, ivf_cells, soar_cells  # noqa: E402

K = 10


def cells_of(codes, q, centers, spill, nearest2=False):
    """An IVF partition from given centres, as build_ivf: (decoded centres, item cells (n, 2), -1 = none)."""
    rec = q.decode(codes).astype(np.float32)
    chat = q.decode(np.asarray(q.encode(centers), q.code_dtype)).astype(np.float32)
    lab = assign(rec, chat)[0]
    if nearest2:
        d = (rec * rec).sum(1)[:, None] - 2 * rec @ chat.T + (chat * chat).sum(1)[None]
        d[np.arange(len(rec)), lab] = np.inf
        sec = np.argmin(d, 1)
    else:
        sec = soar_cells(rec, chat, lab, spill) if spill > 0 else np.full(len(rec), -1)
    return chat.astype(np.float64), np.c_[lab, sec]


def partition(variant, q, codes, rec):
    n = len(codes)
    if variant.startswith("cells"):
        t = build_ivf(codes, q, int(variant[5:]), spill=SPILL)
    elif variant == "white":
        mu = rec.mean(0)
        w, v = np.linalg.eigh(np.cov((rec - mu).T))
        xw = ((rec - mu) @ v / np.sqrt(np.maximum(w, 1e-12))).astype(np.float32)
        lab = kmeans(xw, ivf_cells(n), iters=10, seed=0)[1]
        cen = np.stack([rec[lab == j].mean(0) for j in np.unique(lab)]).astype(np.float32)
        return cells_of(codes, q, cen, SPILL)
    elif variant == "spill3":  # a third cell: the nearest one that is neither of the shipped two
        chat, ic = partition("base", q, codes, rec)
        d = (rec * rec).sum(1)[:, None] - 2 * rec @ chat.T + (chat * chat).sum(1)[None]
        d[np.arange(n), ic[:, 0]] = np.inf
        d[np.arange(n)[ic[:, 1] >= 0], ic[ic[:, 1] >= 0, 1]] = np.inf
        return chat, np.c_[ic, np.argmin(d, 1)]
    elif variant == "nearest2":
        cen = kmeans(rec.astype(np.float32), ivf_cells(n), iters=10, seed=0)[0]
        return cells_of(codes, q, cen, 0, nearest2=True)
    else:
        t = build_ivf(codes, q, None, spill=SPILL)
    lv = t.levels[0]
    chat = q.decode(t.cell_codes).astype(np.float64)
    ic = np.full((n, 2), -1, np.int64)
    cell_of_pos = np.repeat(np.arange(len(lv.count)), lv.count.astype(np.int64))
    seen = np.zeros(n, bool)
    for p, it in enumerate(t.ids):
        ic[it, int(seen[it])] = cell_of_pos[p]
        seen[it] = True
    return chat, ic


def visits(Q, truth, rows, rec, chat, ic, bias, batch=500):
    """Per query: positions when its neighbour is first held (need; inf: never), positions when the 10th closer item
    is held (lose), and cum positions after each cell (nq, cells); plus the neighbour's cell rank (diagnostics)."""
    ncell = len(chat)
    sizes = np.bincount(ic[ic >= 0], minlength=ncell)
    rn, cn = (rec * rec).sum(1), (chat * chat).sum(1) + bias
    need, lose, cums, rank = [], [], [], []
    for b in range(0, len(Q), batch):
        X = Q[b:b + batch].astype(np.float64)
        qn = (X * X).sum(1)
        D = qn[:, None] - 2 * X @ rec.T + rn[None]
        if rows is not None:
            D[np.arange(len(X)), rows[b:b + batch]] = np.inf
        S = -2 * X @ chat.T + cn[None]
        order = np.lexsort((np.broadcast_to(np.arange(ncell), S.shape), S), axis=-1)
        step = np.empty_like(order)
        np.put_along_axis(step, order, np.arange(ncell)[None].repeat(len(X), 0), 1)
        step = np.c_[step, np.full(len(X), 1 << 40)]  # column ncell: "no second cell"
        cum = np.cumsum(sizes[order], 1)
        for i in range(len(X)):
            st = step[i, np.where(ic >= 0, ic, ncell)].min(1)
            t = truth[b + i]
            d = D[i]
            closer = (d < d[t]) | ((d == d[t]) & (np.arange(len(d)) < t))
            cs = np.sort(st[closer])
            tv = st[t]
            need.append(cum[i, tv])
            lose.append(cum[i, cs[K - 1]] if len(cs) >= K else np.inf)
            rank.append(tv)
        cums.append(cum)
    return np.array(need, float), np.array(lose, float), np.concatenate(cums), np.array(rank)


def recall_at(need, lose, cum, B):
    """Fixed budget B: cells are visited while fewer than B positions were seen (the one reaching B whole)."""
    J = (cum < B).sum(1)
    seen = cum[np.arange(len(cum)), np.minimum(J, cum.shape[1] - 1)]
    hit = (need <= seen) & (lose > seen)
    return hit.mean(), seen.mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("set")
    ap.add_argument("--variants", default="base,bias0.5,bias1,nearest2,cells1024,white")
    ap.add_argument("--diag", action="store_true", help="where the deepest held-out queries' neighbours lie")
    a = ap.parse_args()
    desc, make, base_n, train = tb.SETS[a.set]
    xq, xb, xt = tb.split(a.set, make(), base_n, train)
    q, codes = tb.quantizer(a.set, xt, xb)
    rows, truth = tb.held_out_split(a.set, xb, 5000)
    gt = tb.vb.knn(xq, xb, 1)[:, 0]
    rec = q.decode(codes).astype(np.float64)
    print(f"{a.set}: {len(codes)} items; variants {a.variants}")
    print("| variant | cells | positions | held target | budget (held) | held recall | test recall (exh.) | "
          "test mean positions | oracle test | held needing > 2k / 4k / 8k | test recall at budget 1k / 2k / 4k |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    parts = {}
    for var in a.variants.split(","):
        t0 = time.time()
        base = var.split("bias")[0].rstrip("s") or "base"
        if base not in parts:
            parts[base] = partition(base, q, codes, rec)
        chat, ic = parts[base]
        ncell = len(chat)
        bias = np.zeros(ncell)
        if "bias" in var:
            A = float(var.split("bias")[1])
            pos_c = ic[ic >= 0]
            pos_i = np.nonzero(ic >= 0)[0]
            r2 = ((rec[pos_i] - chat[pos_c]) ** 2).sum(1)
            m2 = np.bincount(pos_c, r2, ncell) / np.maximum(np.bincount(pos_c, minlength=ncell), 1)
            if var.startswith("sbias"):
                hq = xb[rows[:500]].astype(np.float64)
                dc = np.sqrt(np.maximum((hq * hq).sum(1)[:, None] - 2 * hq @ chat.T + (chat * chat).sum(1), 0))
                bias = -A * np.sqrt(m2) * np.median(dc)
            else:
                bias = -A * m2
        hn, hl, hc, hr = visits(xb[rows], truth, rows, rec, chat, ic, bias)
        tn, tl, tc, tr = visits(xq, gt, None, rec, chat, ic, bias)
        # exhaustive's recall: the neighbour among the 10 nearest decoded items (lose == inf: fewer than 10 closer)
        tgt, ext = np.isinf(hl).mean(), np.isinf(tl).mean()
        P = int(hc[0, -1])
        grid = np.unique(np.round(np.exp(np.linspace(np.log(100), np.log(P), 160)))).astype(int)
        pick = next((B for B in grid if recall_at(hn, hl, hc, B)[0] >= tgt), None)
        hr_b = recall_at(hn, hl, hc, pick)[0]
        trc, tpos = recall_at(tn, tl, tc, pick)
        reach = tn < tl
        orac = np.where(reach, tn, 0).mean()
        deep = " / ".join(f"{np.mean((hn < hl) & (hn > c)):.4f}" for c in (2000, 4000, 8000))
        low = " / ".join(f"{recall_at(tn, tl, tc, B)[0]:.4f}" for B in (1000, 2000, 4000))
        print(f"| {var} | {ncell} | {P} | {tgt:.4f} | {pick} | {hr_b:.4f} | {trc:.4f} ({ext:.4f}) | {tpos:.0f} | "
              f"{orac:.0f} | {deep} | {low} |", flush=True)
        print(f"  ({var}: {time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
        if a.diag and var == "base":
            diagnose(xb[rows], truth, rec, chat, ic, hn, hl, hr)


def diagnose(Q, truth, rec, chat, ic, need, lose, rank):
    """The held-out queries that need the deepest visit: where their neighbours are relative to the cells."""
    ok = need < lose
    deep = ok & (need > 4000)
    easy = ok & (need <= 1000)
    ncell = len(chat)
    sizes = np.bincount(ic[ic >= 0], minlength=ncell)
    lab = ic[:, 0]
    r2 = ((rec - chat[lab]) ** 2).sum(1)
    cell_med = np.array([np.median(r2[lab == j]) if (lab == j).any() else 0 for j in range(ncell)])
    t = truth
    Qn = np.sqrt((Q.astype(np.float64) ** 2).sum(1))
    dq = np.sqrt(((Q.astype(np.float64) - rec[t]) ** 2).sum(1))
    dqc = np.sqrt(((Q.astype(np.float64) - chat[lab[t]]) ** 2).sum(1))
    Qd = Q.astype(np.float64)
    qc = np.sqrt(np.maximum(((Qd * Qd).sum(1)[:, None] - 2 * Qd @ chat.T + (chat * chat).sum(1)).min(1), 0))
    print(f"\ndiagnostics (held-out rows; found by exhaustive ADC: {ok.sum()}, deep > 4k positions: {deep.sum()}, "
          f"easy <= 1k: {easy.sum()})")
    print("| stat (median) | deep | easy |")
    print("|---|---|---|")
    for name, v in (("neighbour's cell rank (first visit)", rank), ("neighbour's cell size", sizes[lab[t]]),
                    ("neighbour's r^2 / its cell's median r^2 (border: > 1)", r2[t] / np.maximum(cell_med[lab[t]], 1e-12)),
                    ("neighbour spilled (has a 2nd cell) share", (ic[t, 1] >= 0).astype(float)),
                    ("query norm", Qn), ("||q - nn||", dq), ("||q - nn's centre|| / ||q - nearest centre||", dqc / qc),
                    ("||q - nn|| / ||q - nearest centre||", dq / qc)):
        print(f"| {name} | {np.median(v[deep]):.3f} | {np.median(v[easy]):.3f} |")
    print(f"cell sizes: min {sizes.min()} median {np.median(sizes):.0f} max {sizes.max()}; "
          f"top 5% of cells hold {np.sort(sizes)[::-1][:max(1, ncell // 20)].sum() / sizes.sum():.3f} of positions")


if __name__ == "__main__":
    main()
