"""How much an exact per-cell lower bound prunes an IVF tree (numpy study, before building it in C).

An IVF cell with decoded centre c and radius R = max over its items of ||x_i - c|| (decoded items): every item's
distance to a query q is at least (max(0, ||q - c|| - R))^2, so a search that visits the cells in order of that
bound and stops at the first bound above the 10th best distance found is exact (exhaustive ADC's results). Prints,
per set and cell count, the share of positions such an exact search visits, and, for comparison, the positions a
best-first visit by centre distance needs to have found exhaustive ADC's 10 results (the least any stop rule on
that order can visit for exact results).

    python3 bench/vq_cellbound_study.py --sets sift-like,minilm-tokens-all --cells 512,2048 --queries 200
"""
import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import vq_tree_bench as tb  # noqa: E402


def study(name, cells_list, nq, spill):
    from sdk.vq.tree import build_ivf
    desc, make, base_n, train = tb.SETS[name]
    xq, xb, xt = tb.split(name, make(), base_n, train)
    q, codes = tb.quantizer(name, xt, xb)
    rec = q.decode(codes).astype(np.float64)
    qs = xq[:nq].astype(np.float64)
    d_all = (qs * qs).sum(1)[:, None] - 2 * qs @ rec.T + (rec * rec).sum(1)[None]  # ADC distance (float tables)
    d10 = np.sort(d_all, axis=1)[:, 9]
    top10 = np.argsort(d_all, axis=1)[:, :10]
    for cells in cells_list:
        t = build_ivf(codes, q, cells, spill=spill)
        lv = t.levels[0]
        chat = q.decode(t.cell_codes).astype(np.float64)
        cell_of_pos = np.repeat(np.arange(len(lv.count)), lv.count)
        r = np.sqrt(((rec[t.ids] - chat[cell_of_pos]) ** 2).sum(1))
        R = np.maximum.reduceat(r, lv.start.astype(np.int64))
        dc = np.sqrt(np.maximum((qs * qs).sum(1)[:, None] - 2 * qs @ chat.T + (chat * chat).sum(1)[None], 0))
        lb = np.maximum(dc - R[None], 0) ** 2
        exact_vis, need_vis, skip = [], [], []
        for i in range(len(qs)):
            o = np.argsort(lb[i], kind="stable")
            stop = np.searchsorted(lb[i][o], d10[i], side="right")  # cells whose bound <= the 10th best
            exact_vis.append(lv.count[o[:stop]].sum())
            skip.append(1 - stop / len(o))
            oc = np.argsort(dc[i], kind="stable")  # centre order: until all of the top 10 were seen
            cell_rank = np.empty(len(oc), np.int64)
            cell_rank[oc] = np.arange(len(oc))
            first = np.full(len(rec), len(oc), np.int64)
            np.minimum.at(first, t.ids, cell_rank[cell_of_pos])
            last = first[top10[i]].max()
            need_vis.append(lv.count[oc[:last + 1]].sum())
        pos = len(t.ids)
        print(f"{name} n={len(rec)} cells={len(lv.count)} spill={spill} positions={pos}: exact bound search "
              f"visits {np.mean(exact_vis) / pos:.3f} of positions (median {np.median(exact_vis) / pos:.3f}, cells "
              f"skipped {np.mean(skip):.3f}); centre order needs {np.mean(need_vis) / pos:.3f} (median "
              f"{np.median(need_vis) / pos:.3f}) to hold all 10; median R / sqrt(d10) "
              f"{np.median(R) / np.median(np.sqrt(d10)):.2f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="sift-like,minilm-tokens-all")
    ap.add_argument("--cells", default="0")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--spill", type=float, default=0.0)
    a = ap.parse_args()
    for name in a.sets.split(","):
        study(name, [int(c) or None for c in a.cells.split(",")], a.queries, a.spill)


if __name__ == "__main__":
    main()
