"""Lever 1 of issue 20, measured offline before building it: two-phase (prefix) scoring inside the IVF tree's
adaptive stop. The cells are visited best first (the C runtime's params.margin rule: stop before the first cell whose
centroid ADC distance exceeds the k-th best score so far plus the margin, or at 16,000 items); each visited item gets
a coarse score from its first s stages, ||q||^2 - 2 sum_{m<s} <q, c_m> + a norm ("partial": ||sum of the first s
codewords||^2; "full": the item's stored ||decoded||^2; "corr": partial minus ||the other stages' residual||^2); the
k-th best coarse score drives the stop; the best R coarse candidates are re-ranked with the full code (exhaustive
ADC's distance). "exact" is today's search (every visited item scored with all stages). Prints held-out
(leave-one-out) and test recall@10 and the mean items visited per margin; k = 11 with a held-out row's own id
dropped, as sdk.vq.tune does.

  python3 bench/vq_prefix_study.py minilm-passages-cpu 1000 2,3,4 partial,corr 100,300 0.3,0.4,0.5,0.6,0.8
"""
import sys, os
os.environ.setdefault("OMP_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, ".."), HERE]
import numpy as np, time
import vq_tree_bench as tb, vq_bench as vb
from sdk.vq import Index
name, held_n = sys.argv[1], int(sys.argv[2])
desc, make, base_n, train = tb.SETS[name]
xq, xb, xt = tb.split(name, make(), base_n, train)
q, codes = tb.quantizer(name, xt, xb)
rows, truth = tb.held_out_split(name, xb, held_n)
gt = vb.knn(xq, xb, 1)[:, 0]
idx = Index(q, tree="ivf"); idx.add_codes(codes); t = idx.trees[0]
n = len(codes); K = len(t.levels[0].code); M = q.stages
books = q.codebooks.astype(np.float64)
rec = q.decode(codes).astype(np.float64); norms = (rec * rec).sum(1)
S = [int(s) for s in sys.argv[3].split(",")]
pn = {}; rn = {}
for s in S:
    p = sum(books[m][codes[:, m]] for m in range(s)); pn[s] = (p * p).sum(1); r = rec - p; rn[s] = (r * r).sum(1)
lab = np.empty(n, np.int64); lab[t.ids] = np.repeat(np.arange(K), t.levels[0].count)
cstart = t.levels[0].start.astype(np.int64); cnt = t.levels[0].count.astype(np.int64); cn = t.levels[0].norm.astype(np.float64)
ids_leaf = t.ids.astype(np.int64)
Q = np.concatenate([xb[rows], xq]).astype(np.float64)
nn = np.concatenate([truth, gt]); selfid = np.concatenate([rows, -np.ones(len(xq), np.int64)])
k = 10
BUD = 16000
modes = [("exact", None, None)] + [(nk, s, R) for s in S for nk in sys.argv[4].split(",") for R in [int(r) for r in sys.argv[5].split(",")]]
margins = [float(m) for m in sys.argv[6].split(",")]
res = {}  # (mode, margin) -> list of (hit, items)
t0 = time.time()
for b0 in range(0, len(Q), 100):
    Qb = Q[b0:b0 + 100]
    lut = np.einsum("qd,mkd->qmk", Qb, books)
    qn = (Qb * Qb).sum(1)
    for i in range(len(Qb)):
        g = b0 + i; kk = k + (selfid[g] >= 0)
        L = lut[i]
        csum = sum(L[m][t.cell_codes[:, m]] for m in range(M))
        csc = qn[i] - 2 * csum + cn
        order = np.lexsort((np.arange(K), csc))
        # visit order up to budget
        cum = np.cumsum(cnt[order]); ncell = int(np.searchsorted(cum, BUD, side="left")) + 1; ncell = min(ncell, K)
        cells = order[:ncell]
        pos = np.concatenate([np.arange(cstart[c], cstart[c] + cnt[c]) for c in cells]); items = ids_leaf[pos]
        cellof = np.repeat(np.arange(ncell), cnt[cells]); bounds = np.r_[0, np.cumsum(cnt[cells])]
        part = {}; acc = np.zeros(len(items))
        for m in range(M):
            acc = acc + L[m][codes[items, m]]
            if m + 1 in S: part[m + 1] = acc.copy()
        full = qn[i] - 2 * acc + norms[items]
        for mode in modes:
            nk, s, R = mode
            if nk == "exact": sc = full
            elif nk == "partial": sc = qn[i] - 2 * part[s] + pn[s][items]
            elif nk == "full": sc = qn[i] - 2 * part[s] + norms[items]
            elif nk == "corr": sc = qn[i] - 2 * part[s] + pn[s][items] - rn[s][items]
            # running k-th best coarse after each cell
            kth = np.full(ncell, np.inf); top = np.empty(0)
            for j in range(ncell):
                top = np.concatenate([top, sc[bounds[j]:bounds[j + 1]]])
                if len(top) > kk: top = np.partition(top, kk - 1)[:kk]
                if len(top) == kk: kth[j] = top.max()
            for mg in margins:
                # stop before cell j if csc[cells[j]] > kth[j-1] + mg  (j>=1), or budget reached
                stop = ncell
                over = np.flatnonzero(csc[cells[1:]] > kth[:-1] + mg)
                if len(over): stop = int(over[0]) + 1
                # budget: cells visited while items seen < BUD: ncell already ensures
                nv = bounds[stop]
                vis = items[:nv]; s_ = sc[:nv]
                if R is not None:
                    o = np.lexsort((vis, s_))[:R]
                    cand = vis[o]; cf = full[:nv][o]
                else:
                    cand = vis; cf = full[:nv]
                top_ids = cand[np.lexsort((cand, cf))][:kk]
                if selfid[g] >= 0: top_ids = top_ids[top_ids != selfid[g]][:k]
                res.setdefault((mode, mg), []).append((nn[g] in top_ids, nv))
    print(f"  {b0 + len(Qb)} queries {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
H = held_n
print(f"{name}: {n} items, IVF {K} cells, {held_n} held-out rows, {len(xq)} test queries, budget cap {BUD}")
print("| coarse norm | s | R | margin | held-out recall@10 | test recall@10 | mean items (held / test) |")
print("|---|---|---|---|---|---|---|")
for (mode, mg), v in res.items():
    v = np.array(v)
    nk, s, R = mode
    print(f"| {nk} | {s or '-'} | {R or '-'} | {mg} | {v[:H, 0].mean():.3f} | {v[H:, 0].mean():.3f} | "
          f"{v[:H, 1].mean():.0f} / {v[H:, 1].mean():.0f} |")
