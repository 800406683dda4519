"""Encode throughput of `sdk vq` on Ray: one process without Ray (the peer) vs a local Ray cluster
with 1 and with 2 one-CPU nodes (head + worker node, Ray's own Cluster utility, on the loopback).

  python3 bench/vq_ray_bench.py [--n 400000] [--shard-size 32768]

Prints a table (vectors per second, speed-up over the single process) and checks that every Ray
run's codes equal the single-process codes.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep Ray's node address on 127.0.0.1
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400000)
    ap.add_argument("--shard-size", type=int, default=32768)
    args = ap.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    import vq_datasets as ds
    from sdk import vq
    from sdk.vq.distributed import ray_encode

    x = ds.gaussian_mixture(args.n, 64, 64, seed=0)
    q = vq.train(x[:10000], stages=8, bits=8, beam=8, paths=False, refine_rounds=0, stage_passes=0, shrink=False,
                 iters=10, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, x)
        t0 = time.perf_counter()
        ref = q.encode(x)
        rows = [("one process, no Ray", args.n / (time.perf_counter() - t0), True)]
        for nodes in (1, 2):
            c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
            for _ in range(nodes - 1):
                c.add_node(num_cpus=1)
            ray.init(address=c.address, log_to_driver=False)
            ray_encode(c.address, q, path, args.shard_size)  # warm up: workers started, modules imported
            t0 = time.perf_counter()
            codes = ray_encode(c.address, q, path, args.shard_size)
            rows.append((f"Ray, {nodes} one-CPU node{'s' * (nodes > 1)}", args.n / (time.perf_counter() - t0),
                         bool(np.array_equal(codes, ref))))
            ray.shutdown()
            c.shutdown()
    print(f"\nencode {args.n} x 64-d vectors, 8 x 8-bit codes, beam 8, shards of {args.shard_size} rows; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| encoder | vectors/s | vs one process | codes equal |\n|---|---|---|---|")
    for name, vps, same in rows:
        print(f"| {name} | {vps:.0f} | {vps / rows[0][1]:.2f}x | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
