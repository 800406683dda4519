"""A saved bundle's demo at two threads under OpenMP wait policies (set in the demo process's environment: libgomp
reads them when it loads), rounds alternating, with onnxruntime at two threads in the same run; wall clock. Each
round takes the demo's median of ``--reps`` runs per policy and onnxruntime's median of as many; the table gives
the minimum and the median over rounds, with the load average.

    PYTHONPATH=$PWD python bench/omp_wait_policy.py BUNDLE_DIR MODEL.onnx [--rounds 8] [--reps 10]

(build the demo first: ``make -C BUNDLE_DIR``; a bundle saved by ``Bundle.save``)
"""
import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from sdk.backends.host.runner import write_tensor

POLICIES = {"default": {}, "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"}, "GOMP_SPINCOUNT=1000": {"GOMP_SPINCOUNT": "1000"},
            "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("model")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--reps", type=int, default=10)
    a = ap.parse_args()
    d = Path(a.bundle)
    exe = next(f for f in d.iterdir() if f.name.endswith("_main"))
    m = onnx.load(a.model)
    inp = m.graph.input[0]
    x = np.random.default_rng(0).standard_normal([v.dim_value or 1 for v in inp.type.tensor_type.shape.dim])
    x = x.astype(np.float32)
    write_tensor(d / "in0.sdkt", x)
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 2, 1
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    T = {k: [] for k in (*POLICIES, "onnxruntime")}
    load0 = os.getloadavg()[0]
    for _ in range(a.rounds):
        for k, env in POLICIES.items():
            out = subprocess.run([str(exe), "--threads", "2", "--repeat", str(a.reps), "in0.sdkt", "out0.sdkt"], cwd=d,
                                 env={**base, **env}, capture_output=True, text=True, check=True).stdout
            T[k].append(float(out.split("median_ms")[1].split()[0]))
        ts = []
        for _ in range(a.reps):
            t = time.perf_counter()
            sess.run(None, {inp.name: x})
            ts.append(1e3 * (time.perf_counter() - t))
        T["onnxruntime"].append(statistics.median(ts))
    print(f"{d.name}: two threads, load {load0:.1f}-{os.getloadavg()[0]:.1f}, {a.rounds} rounds x {a.reps} runs")
    print("| run | ms min / median over rounds | / onnxruntime (median) |")
    o = statistics.median(T["onnxruntime"])
    for k, v in T.items():
        print(f"| {k} | {min(v):.2f} / {statistics.median(v):.2f} | {statistics.median(v) / o:.2f} |")


if __name__ == "__main__":
    main()
