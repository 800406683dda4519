"""Recall@10 (held-out / test) and speed-up over exhaustive ADC of the adaptive stop (sdk_vq_params.margin: leaves
best first until a leaf's score exceeds the k-th best distance so far plus the margin) at a grid of margins, for the
one-level A-Tree and the IVF tree (issue 20): the curve behind an equal-recall choice with the adaptive stop.

  python3 bench/vq_margin_curve.py minilm-passages-cpu atree,ivf,ivf:1024 1000 0.1,0.2,0.3,0.4,0.5

(ivf:1024: an IVF tree of 1,024 cells; 1000: leave-one-out held-out base rows; margins in squared-distance units.) Host-profile C runtime, one thread, lookup tables 32 queries at a time,
QPS by the thread's CPU clock, best of 3 rounds alternating with exhaustive ADC.
"""
import sys, os
os.environ.setdefault("OMP_NUM_THREADS", "1"); os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, ".."), HERE]
import numpy as np
import vq_tree_bench as tb, vq_bench as vb
from sdk.vq import Index
from sdk.vq.native import NativeIndex
from sdk.vq.tune import _Held, recall_at
name, kinds, held_n = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
margins = [float(m) for m in sys.argv[4].split(",")]
desc, make, base_n, train = tb.SETS[name]
xq, xb, xt = tb.split(name, make(), base_n, train)
q, codes = tb.quantizer(name, xt, xb)
gt = vb.knn(xq, xb, 1)[:, 0]
rows, truth = tb.held_out_split(name, xb, held_n)
held = _Held(xb[rows], truth, rows, 10)
opt = tb.host_flags()
def nat(kind):
    kind, _, cells = (kind or "").partition(":")  # ivf:CELLS: that many cells (default tree.ivf_cells(n))
    idx = Index(q, tree=kind or None, depth=1 if kind else None, cells=int(cells) if cells else None)
    idx.add_codes(codes)
    return NativeIndex(idx.to_bytes(), opt=opt)
flat = nat(None)
print(f"{name} n={len(codes)} held {held_n} load {os.getloadavg()[0]:.1f}: exhaustive held "
      f"{recall_at(held.search(flat), truth, 10):.4f} test {vb.recall_at(flat.search(xq, 10)[1], gt, 10):.3f}",
      flush=True)
for kind in kinds:
    n_ = nat(kind)
    line = []
    for m in margins:
        rh = recall_at(held.search(n_, use_tree=True, margin=m), truth, 10)
        rt = vb.recall_at(n_.search(xq, 10, use_tree=True, margin=m)[1], gt, 10)
        line.append(f"{m}:{rh:.4f}/{rt:.3f}")
    print(f"  {kind}: " + " ".join(line), flush=True)
    ts, es = [], []
    for _ in range(3):
        es.append(vb.qps(flat, xq, 10, repeat=1)[0])
        ts.append([vb.qps(n_, xq, 10, repeat=1, use_tree=True, margin=m)[0] for m in margins])
    e = max(es); t = np.max(ts, 0)
    print(f"     speed-up vs exhaustive ({1e6/e:.0f} us): " + " ".join(f"{m}:{x/e:.2f}x" for m, x in zip(margins, t)),
          flush=True)
print(f"load at end {os.getloadavg()[0]:.1f}")
