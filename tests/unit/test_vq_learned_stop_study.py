"""bench/vq_learned_stop_study.py judges stop rules without running searches: a query's top 10 after cell j holds its
true neighbour t iff t was visited by then and fewer than 10 items closer than t were. Checked here against a
brute-force visit (cells in centre order, the top 10 of the visited items by (distance, id), the query's own row
left out) on a small spilled IVF tree, for every budget rule the study evaluates."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

ls = pytest.importorskip("vq_learned_stop_study")

from sdk.vq.quantizer import Quantizer  # noqa: E402
from sdk.vq.tree import build_ivf  # noqa: E402


def _brute(st, which, i, budget, F):
    qs, truth, rows = st[which]
    rec, t, chat = st["rec"], st["t"], st["chat"]
    qv = qs[i].astype(np.float64)
    d = (qv @ qv) - 2 * rec @ qv + (rec * rec).sum(1)  # the study's expression (same rounding)
    if rows is not None:
        d[rows[i]] = np.inf
    sc = (qv @ qv) - 2 * chat @ qv + (chat * chat).sum(1)
    lv = t.levels[0]
    seen, pos = set(), 0
    for j, c in enumerate(np.argsort(sc, kind="stable")):
        if j >= F and pos >= budget:
            break
        seen.update(int(x) for x in t.ids[lv.start[c]:lv.start[c] + lv.count[c]])
        pos += int(lv.count[c])
    vis = [x for _, x in sorted((d[x], x) for x in seen if np.isfinite(d[x]))]
    rank = vis.index(truth[i]) if truth[i] in vis else -1  # the true neighbour's place among the visited
    return rank, pos


def test_vectorised_hits_and_positions_equal_a_brute_force_visit():
    rng = np.random.default_rng(3)
    q = Quantizer(rng.normal(size=(3, 16, 8)).astype(np.float32), "rvq")
    codes = rng.integers(0, 16, size=(600, 3)).astype(np.uint8)
    t = build_ivf(codes, q, 24, spill=1.0)
    assert len(t.ids) > len(codes)  # spilled: some items in two cells
    rec = q.decode(codes).astype(np.float64)
    xb = rec + rng.normal(scale=1.0, size=rec.shape)  # the items before quantization
    xq = xb[:150] + rng.normal(scale=0.5, size=(150, 8))
    rows = np.arange(200, 300)
    # neighbours by exact distance to the unquantized items: some lie outside the ADC top 10, as in the real sets
    truth_t = np.argmin(((xq[:, None, :] - xb[None]) ** 2).sum(-1), 1)
    dd = ((xb[rows][:, None, :] - xb[None]) ** 2).sum(-1)
    dd[np.arange(len(rows)), rows] = np.inf
    st = dict(test=(xq, truth_t, None), held=(xb[rows], np.argmin(dd, 1), rows), rec=rec, t=t,
              chat=q.decode(t.cell_codes).astype(np.float64))
    ranks = []
    for which in ("test", "held"):
        tr = ls.trajectories(st, which)
        for i in range(len(st[which][0])):
            for budget, F in ((1, 1), (30, 1), (80, 4), (200, 2), (10 ** 6, 1)):
                r, p = ls.evaluate(tr, [i], [budget], F)
                rank, pos = _brute(st, which, i, budget, F)
                assert (bool(r), int(p)) == (0 <= rank < 10, pos), (which, i, budget, F)
                ranks.append(rank)
    # every case occurs: not visited yet, held, held as the 10th, visited but pushed out by 10 closer items
    assert {-1, 9} <= set(ranks) and min(ranks) == -1 and max(ranks) >= 10 and 0 in ranks
