"""Recall@10 (held-out / test) and speed-up over exhaustive ADC at a grid of budgets, for the one-level A-Tree and
IVF trees with given cell counts (issue 20): the curve behind an "equal recall" choice.

  python3 bench/vq_budget_curve.py minilm-passages-cpu 0,1024,2048 2000 1000,2000,3000,4000,6000,8000,12000

(cells 0: the one-level A-Tree; 2000: leave-one-out held-out base rows.) Host-profile C runtime, one thread, best of
3 alternating rounds by the thread's CPU clock.
"""
import sys, os, time
os.environ.setdefault("OMP_NUM_THREADS", "1"); os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."), os.path.dirname(os.path.abspath(__file__))]
import numpy as np
import vq_tree_bench as tb, vq_bench as vb
from sdk.vq import Index
from sdk.vq.native import NativeIndex
from sdk.vq.tune import _Held, recall_at
name = sys.argv[1]; cells_list = [int(c) for c in sys.argv[2].split(",")]; held_n = int(sys.argv[3])
budgets = [int(b) for b in sys.argv[4].split(",")]
desc, make, base_n, train = tb.SETS[name]
xq, xb, xt = tb.split(name, make(), base_n, train)
q, codes = tb.quantizer(name, xt, xb)
gt = vb.knn(xq, xb, 1)[:, 0]
rows, truth = tb.held_out_split(name, xb, held_n)
held = _Held(xb[rows], truth, rows, 10)
opt = tb.host_flags()
def nat(kind, cells=None):
    idx = Index(q, tree=kind, depth=1 if kind else None, cells=cells); idx.add_codes(codes)
    return NativeIndex(idx.to_bytes(), opt=opt)
flat = nat(None)
print(f"{name} n={len(codes)} held {held_n}: exhaustive held {recall_at(held.search(flat), truth, 10):.4f} test {vb.recall_at(flat.search(xq, 10)[1], gt, 10):.3f}", flush=True)
for cells in cells_list:
    n_ = nat("ivf", cells) if cells else nat("atree")
    line = []
    for b in budgets:
        rh = recall_at(held.search(n_, use_tree=True, budget=b), truth, 10)
        rt = vb.recall_at(n_.search(xq, 10, use_tree=True, budget=b)[1], gt, 10)
        line.append(f"{b}:{rh:.4f}/{rt:.3f}")
    e = max(vb.qps(flat, xq, 10, repeat=1)[0] for _ in range(3))
    t = [max(vb.qps(n_, xq, 10, repeat=1, use_tree=True, budget=b)[0] for _ in range(3)) for b in budgets]
    print(f"  {'ivf ' + str(cells) if cells else 'atree:1'}: " + " ".join(line), flush=True)
    print(f"     speed-up vs exhaustive ({1e6/e:.0f} us): " + " ".join(f"{b}:{x/e:.2f}x" for b, x in zip(budgets, t)), flush=True)
