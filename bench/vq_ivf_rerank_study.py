"""Offline study (numpy, issue 20): the IVF tree's cells visited best-first until budget B, the visited items ordered
by the ADC sum of their first m = 2 or 3 stages (plus the norm of those stages' vector, "partial", or of the whole
decoded item, "full"), the first R re-ranked with the full code (two-phase ADC): recall@10 on held-out
(leave-one-out) and test queries. B = 1000000 orders all items (two-phase without cells); R = 0 rows: the IVF tree
alone.

  python3 bench/vq_ivf_rerank_study.py minilm-passages-cpu 1000 4000,8000,16000,1000000 200,500,1000,2000
"""
import sys, os
os.environ.setdefault("OMP_NUM_THREADS", "1"); os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."), os.path.dirname(os.path.abspath(__file__))]
import numpy as np
import vq_tree_bench as tb, vq_bench as vb
from sdk.vq import Index
name, held_n = sys.argv[1], int(sys.argv[2])
Bs = [int(b) for b in sys.argv[3].split(",")]; Rs = [int(r) for r in sys.argv[4].split(",")]
desc, make, base_n, train = tb.SETS[name]
xq, xb, xt = tb.split(name, make(), base_n, train)
q, codes = tb.quantizer(name, xt, xb)
rows, truth = tb.held_out_split(name, xb, held_n)
gt = vb.knn(xq, xb, 1)[:, 0]
idx = Index(q, tree="ivf"); idx.add_codes(codes); t = idx.trees[0]
n = len(codes); K = len(t.levels[0].code); M = q.stages
books = q.codebooks.astype(np.float64)
rec = q.decode(codes).astype(np.float64); norms = (rec * rec).sum(1)
p3 = sum(books[m][codes[:, m]] for m in range(3)); pn3 = (p3 * p3).sum(1)
p2 = sum(books[m][codes[:, m]] for m in range(2)); pn2 = (p2 * p2).sum(1)
lab = np.empty(n, np.int64); lab[t.ids] = np.repeat(np.arange(K), t.levels[0].count)
cnt = t.levels[0].count.astype(np.int64); cn = t.levels[0].norm.astype(np.float64)
def evaluate(Q, nn, self_ids):
    out = {}
    for s in range(0, len(Q), 200):
        Qb = Q[s:s + 200].astype(np.float64)
        lut = np.einsum("qd,mkd->qmk", Qb, books)
        acc = np.zeros((len(Qb), n)); parts = {}
        for m in range(M):
            acc += lut[:, m, :][:, codes[:, m]]
            if m in (1, 2): parts[m + 1] = acc.copy()
        full = norms[None] - 2 * acc
        if self_ids is not None: full[np.arange(len(Qb)), self_ids[s:s + 200]] = np.inf
        csum = np.zeros((len(Qb), K))
        for m in range(M): csum += lut[:, m, :][:, t.cell_codes[:, m]]
        csc = cn[None] - 2 * csum
        order = np.argsort(csc, 1, kind="stable")
        before = np.zeros_like(csc); np.put_along_axis(before, order, np.cumsum(cnt[order], 1) - cnt[order], 1)
        pos = before[:, lab]
        for i in range(len(Qb)):
            g = s + i; nb = nn[g]
            for B in Bs:
                vis = np.flatnonzero(pos[i] < B)
                if self_ids is not None: vis = vis[vis != self_ids[g]]
                fd = full[i, vis]
                top_full = vis[np.lexsort((vis, fd))[:10]]
                out.setdefault(("ivf", B, 0), []).append(nb in top_full)
                for mm, pn in ((2, pn2), (3, pn3)):
                    for normkind in ("partial", "full"):
                        ps = (pn if normkind == "partial" else norms)[vis] - 2 * parts[mm][i, vis]
                        o = np.argsort(ps, kind="stable")
                        for R in Rs:
                            cand = vis[o[:R]]
                            top = cand[np.lexsort((cand, full[i, cand]))[:10]]
                            out.setdefault((f"{mm}st-{normkind}", B, R), []).append(nb in top)
    return {k: float(np.mean(v)) for k, v in out.items()}
h = evaluate(xb[rows], truth, rows); te = evaluate(xq, gt, None)
print(name, "n", n, "cells", K, "held", held_n)
for k in sorted(h, key=lambda k: (k[0], k[1], k[2])):
    print(f"  {k[0]:14s} B={k[1]:6d} R={k[2]:5d}: held {h[k]:.4f} test {te[k]:.3f}")
