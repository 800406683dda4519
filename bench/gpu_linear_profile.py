"""Where the time of ``sdk_cuda_linear_f16`` goes on the GPU (issue 22): GPU time of each kernel it launches (the
fp16 rounding of A, the wgmma GEMM) from torch.profiler, and the host time a call takes, on BERT-base shapes, for
the 128x256 (cfg 1) and 128x128 (cfg 2) tiles. Needs the ``lin`` library of ``bench/igemm_gpu.py build``:

    python bench/gpu_linear_profile.py --libs DIR     # on the GPU machine (PyTorch)"""
import argparse
import ctypes
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main():
    import torch
    import igemm_gpu as ig
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--libs", default="ig")
    a = ap.parse_args()
    lib = ig.declare(ctypes.CDLL(str(Path(a.libs) / "libig_lin.so")))
    for M, N, K in [(4096, 2304, 768), (4096, 768, 3072)]:
        case = (1, M, N, K, False, False, 1.0, True, False, False)
        A, B, C, R, ref = ig.gemm_operands(case, torch.Generator(device="cuda").manual_seed(0))
        Y = torch.empty(ref.shape, device="cuda")
        for cfg in (1, 2):
            def f():
                ig.call_linear(lib, cfg, case, A, B, C, R, Y)
            for _ in range(5):
                f()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(50):
                f()
            t1 = time.perf_counter()
            torch.cuda.synchronize()
            t2 = time.perf_counter()
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as p:
                for _ in range(20):
                    f()
                torch.cuda.synchronize()
            kernels = [(e.key, e.device_time_total / e.count, e.count) for e in p.key_averages() if e.device_time_total > 0]
            print(M, N, K, cfg, json.dumps(dict(host_us_per_call=(t1 - t0) / 50 * 1e6,
                                                wall_us_per_call=(t2 - t0) / 50 * 1e6, kernels=kernels)), flush=True)


if __name__ == "__main__":
    main()
