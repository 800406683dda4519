"""Offline study (numpy): how many items a partition or a candidate ordering must visit to keep exhaustive ADC's
recall@10, on the held-out (leave-one-out) and test queries of a tree-bench set (issue 20).

  python3 bench/vq_partition_study.py minilm-passages-cpu 256,1024,2048

For each query: every item's ADC distance (the set's cached quantizer, bench/vq_tree_bench.py), then for an ordering
of the items (cells best-first by the exact distance to their centre, or items by a partial ADC sum) the position
at which the true neighbour is reached and the position of the 10th item that ADC ranks before it; recall@10 at a
budget B is the share of queries whose neighbour comes before B and whose 10th better item does not. Orderings:
the first codebook's 256 cells (the one-level A-Tree), two-phase (items by the ADC sum of their first 1-3 stages,
the top B re-ranked by the full code), k-means cells of the base vectors (codes unchanged). Prints the smallest
budget (steps of n/200) whose held-out recall reaches exhaustive ADC's, and recall held/test at 2-50% of the items.
"""
import sys, time, os
os.environ.setdefault("OMP_NUM_THREADS", "1"); os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."), os.path.dirname(os.path.abspath(__file__))]
import numpy as np
import vq_tree_bench as tb, vq_bench as vb
import importlib  # noqa: E402
km = importlib.import_module("sdk.vq.kmeans")

name = sys.argv[1]
Ks = [int(k) for k in sys.argv[2].split(",")] if len(sys.argv) > 2 else [256, 1024, 2048]
desc, make, base_n, train = tb.SETS[name]
xq, xb, xt = tb.split(name, make(), base_n, train)
q, codes = tb.quantizer(name, xt, xb)
rows, truth = tb.held_out_split(name, xb, 500)
gt = vb.knn(xq, xb, 1)[:, 0]
books = q.codebooks.astype(np.float32)  # (M, K, d)
M = books.shape[0]
rec = q.decode(codes).astype(np.float32)
norms = np.einsum("ij,ij->i", rec, rec)
n = len(xb)
print(name, xb.shape, "M", M, flush=True)

def adc(Q):
    """ADC distances (nq, n) and -2 x the partial sums of the first 1, 2, 3 stages."""
    lut = np.einsum("qd,mkd->qmk", Q, books)
    acc = np.zeros((len(Q), n), np.float32)
    parts = []
    for m in range(M):
        acc += lut[:, m, :][:, codes[:, m]]
        if m < 3:
            parts.append(-2 * acc)
    return norms[None] - 2 * acc, parts

def stats(pos, d, nn, self_ids=None):
    """a = pos[nn], b = 10th smallest pos among items better than nn (ADC)."""
    nq = len(d)
    a = pos[np.arange(nq), nn].astype(np.float64)
    dn = d[np.arange(nq), nn]
    ids = np.arange(n)
    better = (d < dn[:, None]) | ((d == dn[:, None]) & (ids[None] < nn[:, None]))
    if self_ids is not None:
        better[np.arange(nq), self_ids] = False
    p = np.where(better, pos, np.inf)
    b = np.partition(p, 9, axis=1)[:, 9] if n > 10 else np.full(nq, np.inf)
    return a, b

def recall(a, b, B):
    return float(np.mean((a < B) & (b >= B)))

def cell_pos(scores, labels):
    """pos of each item: items in cells scored better (ties by cell id) before its cell."""
    K = scores.shape[1]
    cnt = np.bincount(labels, minlength=K)
    order = np.lexsort((np.tile(np.arange(K), (len(scores), 1)), scores), axis=-1)
    before = np.zeros_like(scores)
    cs = np.cumsum(cnt[order], axis=1) - cnt[order]
    np.put_along_axis(before, order, cs, axis=1)
    return before[:, labels]

def item_pos(s, self_ids=None):
    s = s.copy()
    if self_ids is not None:
        s[np.arange(len(s)), self_ids] = -np.inf  # self first, so it costs one slot (dropped anyway)
    r = np.argsort(s, axis=1, kind="stable")
    pos = np.empty_like(r)
    np.put_along_axis(pos, r, np.arange(n)[None].repeat(len(s), 0), axis=1)
    return pos.astype(np.float32)

budgets = np.unique(np.r_[np.arange(1, 100) * n / 200, n]).astype(int)
def report(label, held_ab, test_ab, target, ex_test):
    Bh = next((B for B in budgets if recall(*held_ab, B) >= target), n)
    curve = " ".join(f"{f:.0%}:{recall(*held_ab, int(f * n)):.3f}/{recall(*test_ab, int(f * n)):.3f}" for f in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5))
    print(f"  {label:34s} budget {Bh:6d} ({Bh / n:5.1%})  held {recall(*held_ab, Bh):.3f}  test {recall(*test_ab, Bh):.3f} (exh {ex_test:.3f}) | held/test {curve}", flush=True)

t0 = time.time()
hq = xb[rows]
dh, ph = adc(hq)
dh[np.arange(500), rows] = np.inf
dt, pt = adc(xq)
target, ex_test = recall(*stats(np.zeros((500, n), np.float32), dh, truth, rows), 1), recall(*stats(np.zeros((500, n), np.float32), dt, gt), 1)
print(f"  exhaustive recall held {target:.3f} test {ex_test:.3f}  ({time.time()-t0:.0f}s)", flush=True)
# stage-0 cells (the one-level A-Tree)
C0 = books[0]
lab0 = codes[:, 0].astype(np.int64)
def cellscore(Q, C):
    return np.einsum("kd,kd->k", C, C)[None] - 2 * Q @ C.T
report("stage-0 cells (atree:1, 256)", stats(cell_pos(cellscore(hq, C0), lab0), dh, truth, rows),
       stats(cell_pos(cellscore(xq, C0), lab0), dt, gt), target, ex_test)
# two-phase: order by first m stages' ADC (with the full norm, and with partial norm)
for m in (1, 2, 3):
    partial = books[:m][np.arange(m)[:, None], codes[:, :m].T].sum(0)  # (n, d): the first m stages' vector
    pn = np.einsum("ij,ij->i", partial, partial)
    sh = pn[None] + ph[m - 1]; st = pn[None] + pt[m - 1]
    report(f"two-phase, first {m} stages", stats(item_pos(sh, rows), dh, truth, rows), stats(item_pos(st), dt, gt), target, ex_test)
# k-means cells on the base (codes unchanged)
rng = np.random.default_rng(0)
for K in Ks:
    t1 = time.time()
    C = km.kmeanspp_init(xb, K, rng)
    for it in range(12):
        lab, _ = km.assign(xb, C)
        cnt = np.bincount(lab, minlength=K)
        S = np.zeros_like(C); np.add.at(S, lab, xb)
        nz = cnt > 0
        C[nz] = S[nz] / cnt[nz, None]
    lab, _ = km.assign(xb, C)
    report(f"k-means {K} cells ({time.time()-t1:.0f}s)", stats(cell_pos(cellscore(hq, C), lab), dh, truth, rows),
           stats(cell_pos(cellscore(xq, C), lab), dt, gt), target, ex_test)
