"""bench/vq_cell_rank_study.py judges partitions and cell rankings without running searches: at a fixed budget a
query's top 10 holds its true neighbour iff the neighbour's first cell was visited and fewer than 10 closer items
(ties by id) were. Checked against a brute-force visit (cells by score + bias, ties by cell index; cells visited
while fewer than B positions were seen; top 10 of the visited items by (distance, id); the query's own row left out)
on small spilled IVF partitions, with and without a per-cell bias."""
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

cr = pytest.importorskip("vq_cell_rank_study")

from sdk.vq.quantizer import Quantizer  # noqa: E402


def _brute(Q, truth, rows, rec, chat, ic, bias, i, budget):
    qv = Q[i].astype(np.float64)
    d = (qv @ qv) - 2 * rec @ qv + (rec * rec).sum(1)
    if rows is not None:
        d[rows[i]] = np.inf
    sc = -2 * chat @ qv + (chat * chat).sum(1) + bias
    order = np.lexsort((np.arange(len(chat)), sc))
    seen, pos = set(), 0
    for c in order:
        if pos >= budget:
            break
        members = np.flatnonzero((ic == c).any(1))
        seen.update(int(x) for x in members)
        pos += len(members)
    top = [x for _, x in sorted((d[x], x) for x in seen if np.isfinite(d[x]))][:cr.K]
    return truth[i] in top, pos


@pytest.mark.parametrize("variant", ["base", "nearest2", "cells16", "spill3"])
@pytest.mark.parametrize("with_bias", [False, True])
def test_fixed_budget_recall_and_positions_equal_a_brute_force_visit(variant, with_bias, monkeypatch):
    rng = np.random.default_rng(5)
    q = Quantizer(rng.normal(size=(3, 16, 8)).astype(np.float32), "rvq")
    codes = rng.integers(0, 16, size=(500, 3)).astype(np.uint8)
    monkeypatch.setattr(cr, "ivf_cells", lambda n: 20)  # the shipped count for 500 items is 128: too few per cell
    monkeypatch.setattr(cr, "build_ivf", lambda c, qq, cells, spill: __import__("sdk.vq.tree", fromlist=["x"])
                        .build_ivf(c, qq, cells or 20, spill=spill))
    rec = q.decode(codes).astype(np.float64)
    chat, ic = cr.partition(variant, q, codes, rec)
    assert (ic[:, 1] >= 0).any() and (ic[:, 0] >= 0).all()  # spilled: items in two cells
    assert all((ic[:, a] != ic[:, b]).all() for a in range(ic.shape[1]) for b in range(a))
    bias = rng.normal(scale=2.0, size=len(chat)) if with_bias else np.zeros(len(chat))
    xb = rec + rng.normal(scale=1.0, size=rec.shape)
    rows = np.arange(100, 180)
    dd = ((xb[rows][:, None, :] - xb[None]) ** 2).sum(-1)
    dd[np.arange(len(rows)), rows] = np.inf
    xq = xb[:60] + rng.normal(scale=0.5, size=(60, 8))
    truth_t = np.argmin(((xq[:, None, :] - xb[None]) ** 2).sum(-1), 1)
    for Q, truth, rr in ((xb[rows], np.argmin(dd, 1), rows), (xq, truth_t, None)):
        need, lose, cum, _ = cr.visits(Q, truth, rr, rec, chat, ic, bias, batch=25)
        for budget in (1, 40, 150, 400, 10 ** 6):
            got = [_brute(Q, truth, rr, rec, chat, ic, bias, i, budget) for i in range(len(Q))]
            r, p = cr.recall_at(need, lose, cum, budget)
            assert r == pytest.approx(np.mean([g[0] for g in got]), abs=1e-12)
            assert p == pytest.approx(np.mean([g[1] for g in got]), abs=1e-9)
        # the whole table visited: the neighbour held iff it is among the 10 nearest decoded items (exhaustive)
        assert recall_all(need, lose, cum) == pytest.approx(np.isinf(lose).mean())


def recall_all(need, lose, cum):
    return cr.recall_at(need, lose, cum, cum[0, -1])[0]
