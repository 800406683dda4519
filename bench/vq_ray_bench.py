"""Encode throughput of `sdk vq` on Ray: one process without Ray (the peer) vs a local Ray cluster
with 1 and with 2 one-CPU nodes (head + worker node, Ray's own Cluster utility, on the loopback).

  python3 bench/vq_ray_bench.py [--n 400000] [--shard-size 32768] [--rounds 2]

Prints a table (vectors per second, speed-up over the single process and of 2 nodes over 1) and
checks that every Ray run's codes equal the single-process codes. The machine is shared, so each
run also reports the CPU seconds its encoding processes used (the Ray workers', read from
/proc) and the CPU seconds every other process on the machine used in the same wall time: the
speed-up of 2 nodes is bounded by the cores the other processes left free, which the table shows.
Every process encodes on one thread (OpenBLAS/OpenMP threads 1, set before numpy loads; the Ray
workers inherit it), so one node is one core's work.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep Ray's node address on 127.0.0.1

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

_TICK = os.sysconf("SC_CLK_TCK")


def machine_busy():
    """CPU seconds all processes of the machine have used (user + system + irq + steal... less idle/iowait)."""
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:]]
    return (sum(vals) - vals[3] - vals[4]) / _TICK


def _matching_pids(matches):
    """The pids whose command line contains one of ``matches`` (processes gone meanwhile are skipped)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if any(m.encode() in cmd for m in matches):
            yield pid


def proc_cpu(matches):
    """{pid: CPU seconds} of the processes whose command line contains one of `matches` (Ray's
    workers retitle themselves "ray::<task>"; before that their command line is default_worker.py)."""
    out = {}
    for pid in _matching_pids(matches):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(pid)] = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
    return out


def peak_rss_mib(matches):
    """{pid: peak resident MiB (VmHWM)} of the processes whose command line contains one of `matches`."""
    out = {}
    for pid in _matching_pids(matches):
        try:
            with open(f"/proc/{pid}/status") as f:
                hwm = next(ln for ln in f if ln.startswith("VmHWM:"))
            out[int(pid)] = int(hwm.split()[1]) / 1024
        except (OSError, StopIteration, ValueError):
            continue
    return out


class Measured:
    """Wall seconds, CPU seconds of the encoding processes (this process, or the Ray workers) and of
    everything else on the machine over a block."""

    def __init__(self, ray_workers):
        self.ray_workers = ray_workers

    def _ours(self):
        if self.ray_workers:
            return proc_cpu(("ray::", "default_worker.py"))
        return {0: time.process_time()}

    def __enter__(self):
        self.m0, self.o0, self.t0 = machine_busy(), self._ours(), time.perf_counter()
        self.self0 = time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.t0
        o1 = self._ours()
        self.cpu = sum(v - self.o0.get(p, 0.0) for p, v in o1.items())
        driver = time.process_time() - self.self0 if self.ray_workers else 0.0
        self.others = max(0.0, machine_busy() - self.m0 - self.cpu - driver)
        if self.ray_workers:  # the largest peak resident memory of a worker that did the encoding
            rss = peak_rss_mib(("ray::", "default_worker.py"))
            busy = [p for p in o1 if o1[p] > self.o0.get(p, 0.0) and p in rss]
            self.rss = max((rss[p] for p in busy), default=float("nan"))
            self.per_worker = sorted((o1[p] - self.o0.get(p, 0.0), rss[p]) for p in busy)  # (CPU s, peak MiB)
        else:  # this process, which also holds the data set and the codes
            import resource
            self.rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale_run(args):
    """--n vectors encoded by Ray on 2 one-CPU nodes (one round): wall time, CPU, peak RSS per worker;
    the codes of every K-th shard compared with one process encoding the same rows (the single-machine path)."""
    import ray
    from ray.cluster_utils import Cluster

    import vq_datasets as ds
    from sdk import vq
    from sdk.vq.distributed import ray_encode
    from sdk.vq.shards import shard_ranges

    import resource
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = Path(tmp) / "x.npy"
        # written block by block straight into the .npy the Ray tasks read: the driver holds the
        # labels and latent draws (72 bytes a row), not the float64 rows
        x = ds.gaussian_mixture(args.n, 64, 64, seed=0,
                                out=np.lib.format.open_memmap(path, "w+", np.float32, (args.n, 64)))
        x.flush()
        gen_s, gen_rss = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        q = vq.train(np.array(x[:10000]), stages=8, bits=8, beam=8, paths=False, refine_rounds=0, stage_passes=0,
                     shrink=False, iters=10, progress=False)
        load0 = os.getloadavg()
        prep = time.perf_counter() - t0
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        c.add_node(num_cpus=1)
        ray.init(address=c.address, log_to_driver=False)
        with Measured(True) as m:
            codes = ray_encode(c.address, q, path, args.shard_size)
        ray.shutdown()
        c.shutdown()
        ranges = shard_ranges(args.n, args.shard_size)[::args.scale]
        t1 = time.perf_counter()
        same = all(np.array_equal(q.encode(np.asarray(x[a:b])), codes[a:b]) for a, b in ranges)
        check = time.perf_counter() - t1
        nbytes = x.nbytes
        del x
    load1 = os.getloadavg()
    print(f"\n{args.n:,} x 64-d vectors (gaussian_mixture seed 0, {nbytes / 2**20:.0f} MiB float32, generated in "
          f"{gen_s:.0f} s with the driver at {gen_rss:.0f} MiB peak RSS), 8 x 8-bit codes, "
          f"beam 8, shards of {args.shard_size} rows, Ray on 2 one-CPU nodes (head + worker node on the loopback); "
          f"load average {load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f} at the start, "
          f"{load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f} at the end ({os.cpu_count()} cores)\n")
    print("| vectors | data + training s | Ray encode wall s | vectors/s | workers' CPU s | peak RSS of a worker, MiB | "
          f"driver peak RSS, MiB | shards checked (every {args.scale}th) | codes equal | check s |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.n:,} | {prep:.0f} | {m.wall:.0f} | {args.n / m.wall:.0f} | {m.cpu:.0f} | {m.rss:.0f} | "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} | {len(ranges)} of "
          f"{len(shard_ranges(args.n, args.shard_size))} | {'yes' if same else 'NO'} | {check:.0f} |")
    print("\nEach Ray worker process that encoded (CPU s, peak RSS MiB): "
          + ", ".join(f"{c:.0f} s / {r:.0f} MiB" for c, r in m.per_worker if c >= 1.0))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400000)
    ap.add_argument("--shard-size", type=int, default=32768)
    ap.add_argument("--rounds", type=int, default=2, help="timed runs per encoder (the fastest is reported)")
    ap.add_argument("--scale", type=int, default=0, metavar="K",
                    help="large runs: only Ray on 2 nodes, checked against one process on every K-th shard")
    args = ap.parse_args()
    if args.scale:
        return scale_run(args)
    import ray
    from ray.cluster_utils import Cluster

    import vq_datasets as ds
    from sdk import vq
    from sdk.vq.distributed import ray_encode

    x = ds.gaussian_mixture(args.n, 64, 64, seed=0)
    q = vq.train(x[:10000], stages=8, bits=8, beam=8, paths=False, refine_rounds=0, stage_passes=0, shrink=False,
                 iters=10, progress=False)
    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, x)
        best = None
        for _ in range(args.rounds):
            with Measured(False) as m:
                ref = q.encode(x)
            best = m if best is None or m.wall < best.wall else best
        rows.append(("one process, no Ray", best, True))
        for nodes in (1, 2):
            c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
            for _ in range(nodes - 1):
                c.add_node(num_cpus=1)
            ray.init(address=c.address, log_to_driver=False)
            ray_encode(c.address, q, path, args.shard_size)  # warm up: workers started, modules imported
            best, same = None, True
            for _ in range(args.rounds):
                with Measured(True) as m:
                    codes = ray_encode(c.address, q, path, args.shard_size)
                same = same and bool(np.array_equal(codes, ref))
                best = m if best is None or m.wall < best.wall else best
            rows.append((f"Ray, {nodes} one-CPU node{'s' * (nodes > 1)}", best, same))
            ray.shutdown()
            c.shutdown()
    load1 = os.getloadavg()
    print(f"\nencode {args.n} x 64-d vectors, 8 x 8-bit codes, beam 8, shards of {args.shard_size} rows, "
          f"fastest of {args.rounds} runs each; load average {load0[0]:.1f} / {load0[1]:.1f} / {load0[2]:.1f} at the "
          f"start, {load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f} at the end ({os.cpu_count()} cores)\n")
    print("| encoder | vectors/s | vs one process | vs 1 node | encoding CPU s | wall s | encoding cores busy "
          "(CPU s / wall s) | other processes' cores busy | peak RSS of an encoding process, MiB | codes equal |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    one_node = rows[1][1].wall
    for name, m, same in rows:
        vs_node = f"{one_node / m.wall:.2f}x" if name.startswith("Ray") else "-"
        print(f"| {name} | {args.n / m.wall:.0f} | {rows[0][1].wall / m.wall:.2f}x | {vs_node} | {m.cpu:.1f} | "
              f"{m.wall:.1f} | {m.cpu / m.wall:.2f} | {m.others / m.wall:.2f} | {m.rss:.0f} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
