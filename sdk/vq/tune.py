"""Tree search settings chosen per data on held-out queries: tree depth, nprobe and budget.

No single (depth, nprobe, budget) is fastest at a given recall on every data set: the one-level A-Tree (the
256 cells of the first codebook, visited best-first until `budget` items: IVF over the first codebook) and the
shipped two-level one trade places from one data set to another (`bench/RESULTS_vq.md`). `tune_search` decides on queries the caller holds out (never the queries it will
be judged on): for each tree and each nprobe, the smallest budget whose recall@k on the held-out queries
reaches the target (by default exhaustive ADC's own recall on them: equal recall), and for one-level trees the
smallest adaptive-stop margin (leaves best first until a leaf's score exceeds the k-th best distance so far plus
the margin: easy queries stop early, hard ones go on) reaching it, then the fastest of those settings, timed with
the C runtime. A held-out split can come from the base itself
(`leave_one_out`): base rows as queries, their nearest other base row as the truth, each query's own id
dropped from its results.
"""
import time

import numpy as np

from ..errors import SdkError

PROBES = (4, 8, 12, 16, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256)
BUDGETS = (250, 500, 750, 1000, 1500, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 32000, 0)  # 0: unlimited
TREES = (("atree", 1), ("atree", 2), ("ivf", 1), ("ivf-spill", 1))  # (kind, depth); kinds: index.TREE_CHOICES
# adaptive-stop margins (sdk_vq_params.margin) tried on one-level trees, in units of the median k-th exhaustive ADC
# distance of the held-out queries (the data's scale)
MARGINS = (0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.5, 2.0)


def leave_one_out(x, count, seed=1, block=256):
    """(rows, truth): `count` random rows of x (the base vectors, float32 (n, dim)) as held-out queries, and
    the nearest *other* row of each (exact squared L2, ties by the lower index)."""
    x = np.asarray(x, np.float32)
    if len(x) < 2 or not 1 <= count <= len(x):
        raise SdkError(f"leave_one_out needs 1 <= count <= n and n >= 2 (count {count}, n {len(x)})")
    rows = np.sort(np.random.default_rng(seed).choice(len(x), count, replace=False))
    xn = np.einsum("ij,ij->i", x, x)
    truth = np.empty(count, np.int64)
    for s in range(0, count, block):
        r = rows[s:s + block]
        d = xn[None, :] - 2.0 * (x[r] @ x.T)
        d[np.arange(len(r)), r] = np.inf
        truth[s:s + block] = np.argmin(d, axis=1)
    return rows, truth


def recall_at(ids, truth, k):
    """Fraction of queries whose true nearest neighbour is among the first k ids."""
    return float((ids[:, :k] == truth[:, None]).any(1).mean())


class _Held:
    """Held-out queries and their truth; with `self_ids`, each query's own id is dropped from its results."""

    def __init__(self, queries, truth, self_ids, k):
        self.q, self.truth, self.self_ids, self.k = np.ascontiguousarray(queries, np.float32), truth, self_ids, k

    def search(self, native, **kw):
        if self.self_ids is None:
            return native.search(self.q, self.k, **kw)[1]
        ids = native.search(self.q, self.k + 1, **kw)[1]
        keep = ids != self.self_ids[:, None]
        out = np.full((len(ids), self.k), -1, np.int64)
        for i in range(len(ids)):  # the first k ids other than the query's own
            row = ids[i][keep[i]][:self.k]
            out[i, :len(row)] = row
        return out

    def qps(self, native, repeat=3, **kw):
        """Queries per second by this thread's CPU clock, best of `repeat` (other processes' time left out)."""
        native.search(self.q[:50], self.k, **kw)
        best = float("inf")
        for _ in range(repeat):
            t0 = time.thread_time()
            native.search(self.q, self.k + (self.self_ids is not None), **kw)
            best = min(best, time.thread_time() - t0)
        return len(self.q) / best


def _smallest_budget(recall, target, budgets, refine):
    """(budget, recall) of the first of `budgets` (ascending, 0 = unlimited last) whose recall reaches the target,
    then bisected `refine` times between it and the grid value before it (recall grows with the budget, as the
    visited set does); None if no budget reaches it."""
    lo = None
    for b in budgets:
        r = recall(b)
        if r >= target:
            break
        lo = b
    else:
        return None
    hi, r_hi = b, r
    if lo is not None and hi:  # bisect in (lo, hi]
        for _ in range(refine):
            mid = (lo + hi) // 2
            if mid <= lo:
                break
            r = recall(mid)
            if r >= target:
                hi, r_hi = mid, r
            else:
                lo = mid
    return hi, r_hi


def _smallest_margin(recall, target, margins, refine):
    """(margin, recall) of the first of `margins` (ascending) whose recall reaches the target, then bisected
    `refine` times between it and the grid value before it (a larger margin visits a superset of the leaves);
    None if none reaches it."""
    lo = 0.0
    for m in margins:
        r = recall(m)
        if r >= target:
            break
        lo = m
    else:
        return None
    hi, r_hi = m, r
    for _ in range(refine):
        mid = float(np.float32((lo + hi) / 2))
        if not lo < mid < hi:
            break
        r = recall(mid)
        if r >= target:
            hi, r_hi = mid, r
        else:
            lo = mid
    return hi, r_hi


def tune_search(quantizer, codes, queries, truth, self_ids=None, k=10, trees=TREES, target=None, opt="-O2",
                probes=PROBES, budgets=BUDGETS, norm_bits=32, refine=3, margins=MARGINS):
    """Choose the tree and its (nprobe, budget) or adaptive-stop margin on held-out queries.

    quantizer, codes: the index's quantizer and codes (n, stages); queries (nq, dim) held out from the queries
    the setting will be judged on, truth (nq,) their true nearest base ids; self_ids (nq,): each query's own
    id in the base (leave-one-out splits), dropped from its results. target: recall@k to reach (default:
    exhaustive ADC's on these queries). One-level trees are also tried with the adaptive stop (`margins`, relative to
    the median k-th exhaustive ADC distance of the queries), with an unlimited budget and capped at the tree's
    smallest one-budget setting: per tree and cap the smallest margin reaching the target, bisected `refine` + 2
    times. Returns a dict: tree, depth, nprobe, budget (0 = unlimited), margin (0.0 =
    off; else the sdk_vq_params.margin / Index.search margin to search with), recall, qps (held-out, C runtime,
    gcc `opt`), target, exhaustive_qps, and `candidates`: every (tree, depth, nprobe, budget, recall, qps, margin)
    that reached the target.
    """
    from .index import index_for
    from .native import NativeIndex
    truth = np.asarray(truth, np.int64)
    self_ids = None if self_ids is None else np.asarray(self_ids, np.int64)
    if len(truth) != len(queries) or self_ids is not None and len(self_ids) != len(queries):
        raise SdkError("queries, truth and self_ids must have one row per query")
    held = _Held(queries, truth, self_ids, k)

    def native(kind, depth):
        idx = index_for(quantizer, kind, depth, norm_bits=norm_bits)
        idx.add_codes(codes)
        return NativeIndex(idx.to_bytes(), opt=opt)
    flat = native(None, None)
    ex_recall = recall_at(held.search(flat), truth, k)
    target = ex_recall if target is None else target
    kk = k + (self_ids is not None)  # the searches' k (a leave-one-out query's own id comes back too)
    ex_d = flat.search(held.q, kk)[0][:, -1]
    scale = float(np.median(ex_d[np.isfinite(ex_d)])) if np.isfinite(ex_d).any() else 0.0
    cands = []
    for kind, depth in trees:
        nat = native(kind, depth)
        caps = [0]  # adaptive stop: unlimited, and capped at the smallest one-budget setting reaching the target
        for nprobe in (probes if depth > 1 else (0,)):  # one level: nprobe does not apply
            found = _smallest_budget(lambda b: recall_at(held.search(nat, use_tree=True, nprobe=nprobe, budget=b),
                                                         truth, k), target, budgets, refine)
            if found:
                budget, r = found
                cands.append([kind, depth, nprobe, budget, r, held.qps(nat, use_tree=True, nprobe=nprobe,
                                                                       budget=budget), nat, 0.0])
                caps += [budget] if depth == 1 and budget else []
        for cap in (caps if depth == 1 and scale > 0 and margins else ()):
            # the margin decides the stop: bisected 2 steps further than the budget (the speed is sensitive to it)
            found = _smallest_margin(lambda m: recall_at(held.search(nat, use_tree=True, budget=cap, margin=m),
                                                         truth, k),
                                     target, [float(np.float32(f * scale)) for f in margins], refine + 2)
            if found:
                m, r = found
                cands.append([kind, depth, 0, cap, r, held.qps(nat, use_tree=True, budget=cap, margin=m), nat, m])
    if not cands:
        raise SdkError(f"no tree setting reached recall@{k} {target:.3f} on the held-out queries")
    best = max(cands, key=lambda c: c[5])
    for c in cands:  # time the best few again, alternately, against each other: the load moves
        if c[5] >= 0.8 * best[5]:
            c[5] = max(c[5], held.qps(c[6], use_tree=True, nprobe=c[2], budget=c[3], margin=c[7]))
    best = max(cands, key=lambda c: c[5])
    return {"tree": best[0], "depth": best[1], "nprobe": best[2], "budget": best[3], "margin": best[7],
            "recall": best[4], "qps": best[5], "target": target, "exhaustive_recall": ex_recall,
            "exhaustive_qps": held.qps(flat), "candidates": [tuple(c[:6]) + (c[7],) for c in cands]}
