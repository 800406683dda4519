"""Tree search vs exhaustive ADC at equal recall@10 on the real sets, shipped defaults (issue 20).

  python3 bench/vq_tree_bench.py --sets sift-like,minilm-tokens,minilm-passages-half
  python3 bench/vq_tree_bench.py --write     # also append the tables to bench/RESULTS_vq.md
  python3 bench/vq_tree_bench.py --dump DIR  # write the index files, queries and neighbours; then
  python3 bench/vq_tree_bench.py --blobs DIR # runs from those files (no data set, no training)

Each set is split as in bench/vq_bench.py (same queries, base and training rows), the shipped IRVQ
(`vq.train(xt, method="irvq", stages=8, bits=8, beam=8, seed=0)`) is trained once and cached in
bench/data/vqtree_<set>.npz (codebooks, encoding beam and base codes). Then `sdk.vq.tune.tune_search` chooses,
on `--held` leave-one-out base rows (never the test queries), the tree (`--trees`, KIND:DEPTH; default the
one-level and the shipped two-level A-Tree and the IVF tree over k-means cells) and its (nprobe, budget): per tree and nprobe the smallest budget
reaching exhaustive ADC's recall@10 on those rows, and for one-level trees the smallest adaptive-stop margin
(sdk_vq_params.margin) reaching it, then the fastest. Each tree's held-out choice (budget and adaptive) is then
judged on the test queries: its recall@10 next to exhaustive ADC's, and its QPS timed alternately with
exhaustive ADC's. Both searches run the C runtime built with the host profile's flags (targets/host.toml, what a
user's build gets; `--opt` overrides, e.g. `--opt -O2`, the default before 2026-12-06), and each also in a build with
`-DSDK_VQ_BOUND8=0` (PLAIN: no 8-bit lower-bound tables in front of the float sums; same results, asserted): the
table reports the tree against plain and against pruned exhaustive ADC (since 2026-12-07 tree46). The indexes are `sdk.vq.Index(q, tree=KIND, depth=DEPTH)`, nothing else set.
"""
import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import vq_bench as vb  # noqa: E402
import vq_datasets as ds  # noqa: E402
from sdk.vq import index as vq_index  # noqa: E402


# the quality bench's sets (bench/vq_bench.py), and the whole word-piece table: the quality bench compares
# quantizers on its first 12,000 rows, the tree bench searches all of its rows (sizes are what trees are for)
SETS = dict(vb.SETS, **{"minilm-tokens-all": ("real: MiniLM word-piece vectors, the whole table (384-d)",
                                               ds.minilm_tokens, 0, 10000)})

ROUNDS = 7  # tree and exhaustive timed alternately, best of each (the load moves between rounds)
# the build flag of the plain scan (runtime_c/src/sdk_vq.c SDK_VQ_BOUND8: no 8-bit lower-bound tables in front of the
# float sums); the default build of the host profile prunes with them where the CPU has AVX-512 VBMI
PLAIN = "-DSDK_VQ_BOUND8=0"


# sets whose rows come in a fixed random order and grow chunk by chunk (bench/vq_web_embed.py all): split by
# position, so that the queries and the training rows stay the same as chunks are added (and the cached quantizer
# only encodes the new rows)
GROWING = ("minilm-passages-cpu",)


def split(name, x, base, train, queries=500):
    if name in GROWING:
        return x[:queries], x[queries:], x[queries:queries + train]
    return vb.split(x, base, train)


def quantizer(name, xt, xb):
    """The shipped IRVQ of a set and the base codes, cached."""
    from sdk.vq.quantizer import Quantizer
    cache = ds.DATA / f"vqtree_{name}.npz"
    if cache.exists():
        z = np.load(cache)
        if z["n"] == len(xb) and z["ntrain"] == len(xt):
            return Quantizer(z["books"], "irvq", int(z["beam"])), z["codes"]
        if name in GROWING and z["ntrain"] == len(xt) and z["n"] < len(xb):  # same training rows: encode the new
            q = Quantizer(z["books"], "irvq", int(z["beam"]))
            t0 = time.process_time()
            codes = np.concatenate([z["codes"], q.encode(xb[int(z["n"]):])])
            print(f"  {name}: {len(xb) - int(z['n'])} new rows encoded in {time.process_time() - t0:.0f} CPU s",
                  file=sys.stderr)
            np.savez(cache, books=q.codebooks, beam=q.beam, codes=codes, n=len(xb), ntrain=len(xt))
            return q, codes
    from sdk import vq
    t0 = time.process_time()
    q = vq.train(xt, method="irvq", stages=8, bits=8, beam=8, seed=0, progress=False, iters=20)
    codes = q.encode(xb)
    print(f"  {name}: IRVQ trained and base encoded in {time.process_time() - t0:.0f} CPU s", file=sys.stderr)
    ds.DATA.mkdir(exist_ok=True)
    np.savez(cache, books=q.codebooks, beam=q.beam, codes=codes, n=len(xb), ntrain=len(xt))
    return q, codes


def dump(name, folder, kinds, held=500):
    """Write a set's index files (exhaustive and each tree kind, shipped defaults), queries and true
    nearest neighbours to `folder`, for --blobs runs without the data set or the training."""
    from sdk.vq.index import index_for
    desc, make, base, train = SETS[name]
    xq, xb, xt = split(name, make(), base, train)
    q, codes = quantizer(name, xt, xb)
    folder.mkdir(parents=True, exist_ok=True)
    for kind in (None, *kinds):
        idx = index_for(q, kind)
        idx.add_codes(codes)
        (folder / f"{name}_{kind}.svq").write_bytes(idx.to_bytes())
    xq.astype("<f4").tofile(folder / f"{name}_q.f32")
    np.save(folder / f"{name}_gt.npy", vb.knn(xq, xb, 1)[:, 0])
    rows, truth = held_out_split(name, xb, held)
    np.savez(folder / f"{name}_held.npz", queries=xb[rows], rows=rows, truth=truth)


def held_out_split(name, xb, count):
    """Leave-one-out queries from the base (sdk.vq.tune.leave_one_out), cached with the set's quantizer."""
    from sdk.vq.tune import leave_one_out
    cache = ds.DATA / f"vqtree_{name}_held{count}.npz"
    if cache.exists():
        z = np.load(cache)
        if "n" not in z or z["n"] == len(xb):  # files from before the growing sets have no n
            return z["rows"], z["truth"]
    rows, truth = leave_one_out(xb, count)
    np.savez(cache, rows=rows, truth=truth, n=len(xb))
    return rows, truth


def run_set(name, opt, trees, blobs=None, held=500, group=32):
    """Settings chosen by sdk.vq.tune.tune_search on `held` leave-one-out base rows, judged on the test
    queries (never seen by the choice) against exhaustive ADC timed alternately."""
    from sdk.vq import Index
    from sdk.vq.native import NativeIndex
    from sdk.vq.tune import tune_search
    desc = SETS[name][0]
    if blobs:  # index file, queries, neighbours and the held-out split written by --dump
        base = vq_index.from_bytes((blobs / f"{name}_None.svq").read_bytes())
        q, codes = base.quantizer, base.codes
        gt = np.load(blobs / f"{name}_gt.npy")
        xq = np.fromfile(blobs / f"{name}_q.f32", "<f4").reshape(len(gt), -1)
        z = np.load(blobs / f"{name}_held.npz")
        hq, rows, truth = z["queries"], z["rows"], z["truth"]
    else:
        desc, make, base_n, train = SETS[name]
        xq, xb, xt = split(name, make(), base_n, train)
        print(f"== {name}: train {xt.shape}, base {xb.shape}, queries {xq.shape}", file=sys.stderr, flush=True)
        q, codes = quantizer(name, xt, xb)
        gt = vb.knn(xq, xb, 1)[:, 0]
        rows, truth = held_out_split(name, xb, held)
        hq = xb[rows]
    t0 = time.perf_counter()
    choice = tune_search(q, codes, hq, truth, self_ids=rows, trees=trees, opt=opt)
    tune_s = time.perf_counter() - t0
    print(f"  {name}: tuned in {tune_s:.0f} s: {choice['candidates']}", file=sys.stderr, flush=True)
    flat = NativeIndex(_blob(q, codes, None, None), opt=opt)
    flat_plain = NativeIndex(_blob(q, codes, None, None), opt=f"{opt} {PLAIN}")
    ex_qps, ex_ids = vb.qps(flat, xq, 10, group=group)
    ex_r10 = vb.recall_at(ex_ids, gt, 10)
    assert (flat_plain.search(xq, 10, group=group)[1] == ex_ids).all(), "the bound tables changed a result"
    lines = [f"\n#### Tree search on `{name}` ({desc}; {len(codes):,} items; IRVQ codes, shipped defaults)",
             f"\nSettings chosen on {len(rows)} held-out queries (leave-one-out base rows; target: exhaustive ADC's "
             f"recall@10 on them, {choice['target']:.3f}; {tune_s:.0f} s), judged on the {len(xq)} test queries: "
             f"C runtime, float, gcc {opt}{' (the host profile)' if opt == host_flags() else ''}, 1 thread, k=10, lookup tables {group} queries at a time for both; QPS of the "
             f"setting and of exhaustive ADC timed alternately, best of {ROUNDS} each, by the thread's CPU clock. "
             "**bold**: the tree the held-out split chose (fastest there). adaptive stop: the leaves best first "
             "until a leaf's score exceeds the 10th best distance so far plus the margin, or `budget` items were "
             "seen.\n",
             f"Each search also runs in a build with `{PLAIN}` (the plain scan: every item's 8 float lookups); the "
             "default build prunes 8-stage scans (exhaustive ADC and the IVF trees) by 8-bit lower-bound tables "
             "where the compiler targets AVX-512 VBMI (the host profile here): same results (asserted), fewer float "
             "sums. The four are timed alternately in each round. Speed-ups: the tree (default build) over plain "
             "exhaustive ADC (issue 20's peer), over exhaustive ADC with the same pruning (what the tree itself "
             "adds), and the plain tree over plain exhaustive ADC (the comparison before 2026-12-07 07:30).\n",
             "| search | chosen on held-out | held-out recall@10 | test recall@10 | QPS | QPS plain scan | "
             "exhaustive QPS plain | exhaustive QPS pruned | speed-up vs plain exhaustive | vs pruned exhaustive | "
             "plain / plain |", "|---|---|---|---|---|---|---|---|---|---|---|",
             f"| exhaustive ADC | - | {choice['exhaustive_recall']:.3f} | {ex_r10:.3f} | {ex_qps:.0f} | - | - | - | "
             "- | 1.00x | 1.00x |"]
    per_tree = {}
    for c in choice["candidates"]:  # each tree's fastest setting on the held-out queries, budget or adaptive stop
        key = (c[0], c[1], c[6] > 0)
        if key not in per_tree or c[5] > per_tree[key][5]:
            per_tree[key] = c
    for (kind, depth, adaptive), (_, _, nprobe, budget, r_held, _, margin) in per_tree.items():
        blob = _blob(q, codes, kind, depth)
        nat, nat_plain = NativeIndex(blob, opt=opt), NativeIndex(blob, opt=f"{opt} {PLAIN}")
        kw = dict(use_tree=True, nprobe=nprobe, budget=budget, group=group, margin=margin)
        _, ids = nat.search(xq, 10, **kw)
        assert (nat_plain.search(xq, 10, **kw)[1] == ids).all(), "the bound tables changed a result"
        r10 = vb.recall_at(ids, gt, 10)
        t_best = e_best = tp_best = ep_best = 0.0
        for _ in range(ROUNDS):  # alternate: same load for all four
            ep_best = max(ep_best, vb.qps(flat_plain, xq, 10, repeat=1, group=group)[0])
            t_best = max(t_best, vb.qps(nat, xq, 10, repeat=1, **kw)[0])
            e_best = max(e_best, vb.qps(flat, xq, 10, repeat=1, group=group)[0])
            tp_best = max(tp_best, vb.qps(nat_plain, xq, 10, repeat=1, **kw)[0])
        chosen = (kind, depth, margin) == (choice["tree"], choice["depth"], choice["margin"])
        label = f"{kind} depth {depth}" + (", adaptive stop" if adaptive else "")
        label = f"**{label}**" if chosen else label
        setting = (f"nprobe={nprobe} " if depth > 1 else "") + (f"margin={margin:.4g}" if adaptive else "")
        setting += (" " if adaptive and budget else "") + (f"budget={budget or 'all'}" if budget or not adaptive
                                                           else "")
        lines.append(f"| {label} | {setting} | {r_held:.3f} | {r10:.3f} | {t_best:.0f} | {tp_best:.0f} | "
                     f"{ep_best:.0f} | {e_best:.0f} | {t_best / ep_best:.2f}x | {t_best / e_best:.2f}x | "
                     f"{tp_best / ep_best:.2f}x |")
    print("\n".join(lines), file=sys.stderr, flush=True)
    return lines


def host_flags():
    """The optimisation flags of the host profile (targets/host.toml), what a user's build of the runtime gets
    there: -O3 -march=native -ffp-contract=fast (its warnings, OpenMP and the pooling/depthwise sizes left out)."""
    import tomllib
    from sdk.resources import TARGETS_DIR
    flags = tomllib.loads((TARGETS_DIR / "host.toml").read_text())["toolchain"]["cflags"]
    return " ".join(f for f in flags if f.startswith(("-O", "-march", "-mtune", "-ffp-contract", "-ffast")))


def _blob(q, codes, kind, depth):
    from sdk.vq.index import index_for
    idx = index_for(q, kind, depth)
    idx.add_codes(codes)
    return idx.to_bytes()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="sift-like,minilm-tokens,minilm-passages-half")
    ap.add_argument("--opt", default="host", help="gcc flags of the C runtime build (both searches); 'host': the "
                    "host profile's (targets/host.toml: -O3 -march=native -ffp-contract=fast; -O2 before 2026-12-06)")
    ap.add_argument("--trees", default="atree:1,atree:2,ivf:1,ivf-spill:1", help="trees the held-out split chooses from, "
                    "KIND:DEPTH (A-Tree one level: IVF over the first codebook; two levels: the shipped A-Tree; ivf: "
                    "k-means cells of the decoded items, centroids stored as codes, tree.ivf_cells(n) of them; "
                    "ivf-spill: the same with every item also in a second cell, tree.soar_cells)")
    ap.add_argument("--group", type=int, default=32, help="queries whose lookup tables are computed together "
                    "(sdk_vq_search_batch; 8 before 2026-12-05 21:00)")
    ap.add_argument("--held", type=int, default=5000, help="held-out (leave-one-out) base rows that choose the "
                    "setting (500 before 2026-12-07; runs used 1,000: on minilm-tokens-all the budget that 1,000 "
                    "rows chose reached exhaustive ADC's test recall in 21-45%% of random 1,000-row splits, "
                    "bench/vq_tail_study.py, bench/RESULTS_vq.md 2026-12-07 vq45)")
    ap.add_argument("--train-only", action="store_true", help="only train and cache the quantizers")
    ap.add_argument("--write", action="store_true", help="append the tables to bench/RESULTS_vq.md")
    ap.add_argument("--dump", type=Path, metavar="DIR", help="only write each set's index files, queries and "
                    "neighbours to DIR (after training or from the cache)")
    ap.add_argument("--blobs", type=Path, metavar="DIR", help="run from the files --dump wrote (no data set, "
                    "no training: e.g. minilm-passages-half, whose embeddings took 10 CPU minutes to make)")
    args = ap.parse_args()
    if args.opt == "host":
        args.opt = host_flags()
    if args.dump:
        for name in args.sets.split(","):
            dump(name, args.dump, ["atree", "etree"], args.held)
        return
    load = os.getloadavg()
    blobs = f" --blobs {args.blobs}" if args.blobs else ""
    head = [f"\n## {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: tree search at equal recall "
            f"(`bench/vq_tree_bench.py --sets {args.sets} --opt \"{args.opt}\" --group {args.group}{blobs}`)\n",
            f"{vb.machine()}; load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared machine)."]
    out = []
    if args.train_only:
        for name in args.sets.split(","):
            desc, make, base, train = SETS[name]
            xq, xb, xt = split(name, make(), base, train)
            quantizer(name, xt, xb)
        return
    for name in args.sets.split(","):
        trees = tuple((t.split(":")[0], int(t.split(":")[1]) if ":" in t else None) for t in args.trees.split(","))
        out += run_set(name, args.opt, trees, args.blobs, args.held, args.group)
    load = os.getloadavg()
    out.append(f"\nLoad average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.")
    text = "\n".join(head + out) + "\n"
    print(text)
    if args.write:
        with open(HERE / "RESULTS_vq.md", "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
