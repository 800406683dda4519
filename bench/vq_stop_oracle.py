"""How far the tree's stop rules are from an oracle stop (numpy study; float lookup tables, the spilled IVF tree of the
shipped defaults): per held-out query (leave-one-out base rows, the tree bench's split: never the test queries) the
cells are visited in centre order and after each cell the top-10 (own id dropped) is recorded. Prints exhaustive
ADC's recall@10 on those rows, the oracle (each query stops at the first cell after which its true neighbour stays in
the top 10: the fewest positions any stop rule could visit at that recall), and the fewest mean positions at which
each rule family reaches exhaustive ADC's recall: a budget (positions), the adaptive stop's margin (a cell whose
centre distance exceeds the 10th best + margin stops the visit; units of the median 10th-best distance) with and
without a budget cap, and a patience rule (stop after P cells in a row that did not change the top 10).

    python3 bench/vq_stop_oracle.py minilm-tokens-all 1000
"""
import heapq
import sys

import numpy as np
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
import vq_tree_bench as tb
from sdk.vq.tree import build_ivf
from sdk.vq.index import SPILL
name, nh = sys.argv[1], int(sys.argv[2])
cells = int(sys.argv[3]) if len(sys.argv) > 3 else None
spill = float(sys.argv[4]) if len(sys.argv) > 4 else SPILL
desc, make, base_n, train = tb.SETS[name]
xq, xb, xt = tb.split(name, make(), base_n, train)
q, codes = tb.quantizer(name, xt, xb)
rows, truth = tb.held_out_split(name, xb, 5000)
rows, truth = rows[:nh], truth[:nh]
rec = q.decode(codes).astype(np.float64)
rn = (rec * rec).sum(1)
t = build_ivf(codes, q, cells, spill=spill)
lv = t.levels[0]
chat = q.decode(t.cell_codes).astype(np.float64)
cn = (chat * chat).sum(1)
starts, counts = lv.start.astype(np.int64), lv.count.astype(np.int64)
P = len(t.ids)
K = 11  # own id comes back
traj = []
ex_hit = 0
for i, r in enumerate(rows):
    qv = xb[r].astype(np.float64)
    d = qv @ qv - 2 * rec @ qv + rn
    d[r] = np.inf  # drop own id
    top = np.lexsort((np.arange(len(d)), d))[:10]  # ties by the smaller id, as the C top-k
    ex_hit += truth[i] in top
    sc = qv @ qv - 2 * chat @ qv + cn
    order = np.argsort(sc, kind="stable")
    heap, seen = [], set()  # max-heap of (-d, -id): the worst (d, id) on top
    out = []  # per cell: (positions so far, score of this cell, d10 before cell, hit after, changed)
    pos = 0
    for c in order:
        d10 = -heap[0][0] if len(heap) == 10 else np.inf
        ids = t.ids[starts[c]:starts[c] + counts[c]]
        ch = False
        for it in ids:
            if it in seen or it == r: continue
            seen.add(it)
            di = d[it]
            if len(heap) < 10:
                heapq.heappush(heap, (-di, -int(it)))
                ch = True
            elif (di, it) < (-heap[0][0], -heap[0][1]):
                heapq.heapreplace(heap, (-di, -int(it)))
                ch = True
        pos += counts[c]
        hit = any(-it == truth[i] for _, it in heap)
        out.append((pos, sc[c], d10, hit, ch))
    traj.append(np.array(out))
ex_r = ex_hit / len(rows)
print(f"{name}: {len(rows)} held-out rows, cells {len(lv.count)}, positions {P}, exhaustive recall {ex_r:.3f}")
# oracle: positions at the first cell after which hit stays true (to the end of the trajectory)
need = []
for tr in traj:
    hit = tr[:, 3].astype(bool)
    if not hit[-1]: need.append(0); continue
    last_miss = np.flatnonzero(~hit)
    need.append(tr[last_miss[-1] + 1, 0] if len(last_miss) else tr[0, 0])
need = np.array(need, float)
print(f"oracle (stop as soon as the NN is held for good): mean positions {need.mean():.0f}")
def evaluate(rule):
    hits, poss = [], []
    for tr in traj:
        j = rule(tr)
        hits.append(tr[j, 3]); poss.append(tr[j, 0])
    return np.mean(hits), np.mean(poss)
scale = np.median([tr[-1, 2] for tr in traj])
def budget_rule(B):
    return lambda tr: max(0, min(np.searchsorted(tr[:, 0], B, side="right") - 1, len(tr) - 1))
def margin_rule(m, B):
    def f(tr):
        before = tr[:, 0] - np.r_[tr[0, 0], np.diff(tr[:, 0])]  # positions seen before cell j
        stop = np.flatnonzero((tr[:, 1] > tr[:, 2] + m) | (before >= B))  # stop before cell j
        j = (stop[0] - 1) if len(stop) else len(tr) - 1
        return max(j, 0)
    return f
def patience_rule(pat, B, m=np.inf):
    def f(tr):
        quiet = 0
        for j in range(len(tr)):
            if j + 1 < len(tr) and (tr[j, 0] >= B or tr[j + 1, 1] > tr[j + 1, 2] + m):
                return j
            quiet = 0 if tr[j, 4] else quiet + 1
            if quiet >= pat: return j
        return len(tr) - 1
    return f
def frontier(label, make_rule, grid):
    best = None
    for g in grid:
        r, p = evaluate(make_rule(g))
        if r >= ex_r and (best is None or p < best[1]): best = (g, p, r)
    got = "none reaches it" if best is None else f"{best[0]} -> mean positions {best[1]:.0f} (recall {best[2]:.3f})"
    print(f"  {label}: {got}")
curve = [(B, round(float(evaluate(budget_rule(B))[0]), 3)) for B in (1000, 2000, 4000, 8000, 16000, 32000, P)]
print("  recall@10 by budget (positions):", curve)
frontier("budget", budget_rule, [1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 24000, 32000, 48000, P])
MARGINS = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0]
frontier("margin, no cap", lambda m: margin_rule(m * scale, 1e18), MARGINS)
for B in (4000, 6000, 8500, 12000):
    frontier(f"margin, cap {B}", lambda m: margin_rule(m * scale, B), MARGINS)
PATIENCE = [2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128]
frontier("patience (cells without a top-10 change), no cap", lambda pp: patience_rule(pp, 1e18), PATIENCE)
for B in (6000, 8500, 12000):
    frontier(f"patience, cap {B}", lambda pp: patience_rule(pp, B), PATIENCE)
