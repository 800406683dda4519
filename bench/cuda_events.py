"""Median time of a GPU call in ms, timed by CUDA events around each call (PyTorch), for the GPU benchmarks."""
from __future__ import annotations

import statistics


def median_ms(fn, reps: int, warmup: int = 10) -> float:
    """``fn()`` ``warmup`` times untimed, then ``reps`` times between two events each; the median of those."""
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    return float(statistics.median(ts))
