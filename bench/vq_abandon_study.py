"""Early abandoning of ADC scans on a real set (issue 20): how many items a lower bound drops after s stages, and
what each way of scanning costs in C, exhaustive ADC and a spilled IVF tree's visited runs, in one run.

  python3 bench/vq_abandon_study.py minilm-tokens-all 8500

Bound after s stages: partial sum + each remaining stage's smallest term (-2 max_j <q, c_m,j>), against the k-th best
distance so far (the running top-10, updated every 32 items). Queries: the first 64 test queries (the table), 128 in C.
The C driver is bench/vq_abandon_micro.c (built with the host profile's flags).
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import vq_tree_bench as tb  # noqa: E402
from sdk.vq import Index  # noqa: E402
from sdk.vq.tree import last_level  # noqa: E402


def prune_fractions(lut, qn, norms, codes, order, qx, tmin, chunk=32, k=10):
    """Fraction of the items in `order` dropped after s = 0..M stages (running k-th best, at chunk starts)."""
    m_st = lut.shape[1]
    c = codes[order]
    terms = -2 * lut[qx][np.arange(m_st)[None, :], c]
    base = qn[qx] + norms[order]
    d = base + terms.sum(1)
    kth = np.full(len(d), np.inf)
    best, seen = np.empty(0), set()
    for s0 in range(0, len(d), chunk):
        kth[s0:s0 + chunk] = best[k - 1] if len(best) >= k else np.inf
        new = [x for x, i in zip(d[s0:s0 + chunk], order[s0:s0 + chunk]) if i not in seen]  # spilled: once
        seen.update(order[s0:s0 + chunk].tolist())
        best = np.sort(np.r_[best, new])[:k]
    out, cum = [], base.copy()
    for s in range(m_st + 1):
        out.append(np.mean(cum + tmin[qx, s:].sum() > kth))
        if s < m_st:
            cum = cum + terms[:, s]
    return np.array(out)


def main():
    name, budget = sys.argv[1], int(sys.argv[2])
    desc, make, base_n, train = tb.SETS[name]
    xq, xb, xt = tb.split(name, make(), base_n, train)
    q, codes = tb.quantizer(name, xt, xb)
    idx = Index(q, tree="ivf", spill=4.0)
    idx.add_codes(codes)
    t = idx.trees[0]
    lut, qn = idx.lookup_tables(xq[:128])
    norms = idx.search_norms()
    tmin = -2 * lut.max(2)
    lv, nodes, _, _, _ = last_level(t, lut, qn, 10 ** 9, budget)
    runs = []
    for qx in range(len(lut)):
        r, seen = [], 0
        for col in range(nodes.shape[1]):
            if seen >= budget:
                break
            leaf = nodes[qx, col]
            r.append((int(lv.start[leaf]), int(lv.start[leaf] + lv.count[leaf])))
            seen += int(lv.count[leaf])
        runs.append(r)
    nq = 64
    ex = sum(prune_fractions(lut, qn, norms, codes, np.arange(len(codes)), qx, tmin) for qx in range(nq)) / nq
    tr = sum(prune_fractions(lut, qn, norms, codes, np.concatenate([t.ids[a:b] for a, b in runs[qx]]).astype(np.int64),
                             qx, tmin) for qx in range(nq)) / nq
    pos = np.mean([sum(b - a for a, b in r) for r in runs])
    print(f"{name}: {len(codes)} items; spilled IVF tree, budget {budget}: {pos:.0f} positions a query\n")
    print("| stages read | exhaustive ADC: items dropped | tree's runs: items dropped |\n|---|---|---|")
    for s in range(len(ex)):
        print(f"| {s} | {ex[s]:.3f} | {tr[s]:.3f} |")
    with tempfile.TemporaryDirectory() as tmp:
        pre = f"{tmp}/{name}"
        codes.astype(np.uint8).tofile(pre + "_codes.u8")
        lut.astype(np.float32).tofile(pre + "_lut.f32")
        qn.astype(np.float32).tofile(pre + "_qn.f32")
        norms.astype(np.float32).tofile(pre + "_norms.f32")
        t.rest.astype(np.uint8).tofile(pre + "_trest.u8")
        t.ids.astype(np.uint32).tofile(pre + "_tids.u32")
        norms[t.ids].astype(np.float32).tofile(pre + "_tnorms.f32")
        with open(pre + "_ranges.txt", "w") as f:
            for r in runs:
                f.write(f"{len(r)} " + " ".join(f"{a} {b}" for a, b in r) + "\n")
        exe = f"{tmp}/micro"
        subprocess.run(["gcc", *tb.host_flags().split(), "-std=c99", "-o", exe, str(HERE / "vq_abandon_micro.c")],
                       check=True)
        print(f"\nC ({tb.host_flags()}), {len(lut)} queries, us a query (best of 5):\n")
        print(subprocess.run([exe, pre], capture_output=True, text=True, check=True).stdout)


if __name__ == "__main__":
    main()
