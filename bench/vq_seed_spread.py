"""IRVQ (shipped defaults) and faiss RQ beam 8 over several seeds, and their per-stage error curves.

  python3 bench/vq_seed_spread.py --sets aniso-48,t3-16 --faiss-seeds 1234,1,2,3 --ours-seeds 0,1,2
  python3 bench/vq_seed_spread.py --sets aniso-48 --stages      # + the error after 1..8 stages, seed 0 / 1234
  python3 bench/vq_seed_spread.py --sets t3-16 --faiss-seeds "" --seeding progressive   # an opt-in start

On heavy-tailed sets a few unseen rows hold most of the unseen energy, and the ratio of one IRVQ run to one
faiss run (bench/vq_bench.py) can be inside either method's spread over k-means seeds: this prints the
spread. Same split, rows and measures as `bench/vq_bench.py`'s summary (whole base set, unseen rows, unseen
rows without the largest-norm 1%); faiss's seed is its ClusteringParameters.seed (default 1234), ours
vq.train's seed (default 0). Every library on one thread; CPU seconds of the training.
"""
import argparse
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
import numpy as np  # noqa: E402

import vq_bench as vb  # noqa: E402  (puts the repository root on sys.path)


def errors(xb, rec, unseen, bulk, un):
    e = ((xb.astype(np.float64) - rec.astype(np.float64)) ** 2).sum(1)
    nb = float((xb.astype(np.float64) ** 2).sum())
    return e.sum() / nb, e[unseen].sum() / un.sum(), e[unseen][bulk].sum() / un[bulk].sum()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="aniso-48,t3-16,bow-256")
    ap.add_argument("--faiss-seeds", default="1234,1,2,3")
    ap.add_argument("--ours-seeds", default="0,1,2")
    ap.add_argument("--seeding", default=None, help="IRVQ's seeding (vq.train; default: the shipped one)")
    ap.add_argument("--stages", action="store_true", help="also the error after each stage (first seeds)")
    args = ap.parse_args()
    import faiss
    from sdk import vq
    from sdk.vq.quantizer import beam_encode
    print("| set | method | seed | whole base MSE | unseen | unseen w/o largest 1% | train CPU s |\n"
          "|---|---|---|---|---|---|---|")
    for name in args.sets.split(","):
        _desc, make, base, train = vb.SETS[name]
        _xq, xb, xt = vb.split(make(), base, train)
        trained = {r.tobytes() for r in xt}
        unseen = np.array([r.tobytes() not in trained for r in xb])
        un = (xb[unseen].astype(np.float64) ** 2).sum(1)
        bulk = np.argsort(un)[:len(un) - max(1, len(un) // 100)]
        books = {}
        runs = [("faiss RQ8", int(s)) for s in args.faiss_seeds.split(",") if s] + \
               [("IRVQ", int(s)) for s in args.ours_seeds.split(",") if s]
        for who, seed in runs:
            t = time.process_time()
            if who == "IRVQ":
                kw = {} if args.seeding is None else {"seeding": args.seeding}
                q = vq.train(xt, method="irvq", stages=8, bits=8, beam=8, seed=seed, progress=False, **kw)
                rec, cb, beam = q.decode(q.encode(xb)), q.codebooks, q.beam
            else:
                c = faiss.ResidualQuantizer(xt.shape[1], 8, 8)
                c.max_beam_size, c.cp.seed = 8, seed
                c.train(xt)
                rec, beam = c.decode(c.compute_codes(xb)), 8
                cb = faiss.vector_to_array(c.codebooks).reshape(8, 256, xt.shape[1])
            cpu = time.process_time() - t
            books.setdefault(who, (cb, beam))
            w, u, b = errors(xb, rec, unseen, bulk, un)
            print(f"| {name} | {who} | {seed} | {w:.5f} | {u:.5f} | {b:.6f} | {cpu:.1f} |", flush=True)
        if args.stages and len(books) == 2:  # (both methods ran)
            print(f"\n{name}: error after m stages (codebooks of the first seed of each, each method's beam):\n")
            print("| stages | IRVQ train rows | IRVQ unseen | IRVQ w/o 1% | RQ8 train rows | RQ8 unseen | "
                  "RQ8 w/o 1% |\n|---|---|---|---|---|---|---|")
            nt = float((xt.astype(np.float64) ** 2).sum())
            for m in range(1, 9):
                cells = []
                for who in ("IRVQ", "faiss RQ8"):
                    cb, beam = books[who]
                    et = beam_encode(xt, cb[:m], beam)[1].astype(np.float64)
                    eu = beam_encode(xb[unseen], cb[:m], beam)[1].astype(np.float64)
                    cells += [f"{et.sum() / nt:.5f}", f"{eu.sum() / un.sum():.5f}",
                              f"{eu[bulk].sum() / un[bulk].sum():.6f}"]
                print(f"| {m} | " + " | ".join(cells) + " |", flush=True)
            print()


if __name__ == "__main__":
    sys.exit(main())
