"""Median time of a GPU call in ms, timed by CUDA events around each call (PyTorch), for the GPU benchmarks."""
from __future__ import annotations

import statistics


def median_ms(fn, reps: int, warmup: int = 10, calls: int = 1) -> float:
    """``fn()`` ``warmup`` times untimed, then ``reps`` spans of ``calls`` back-to-back calls between two events
    each; the median of (span / ``calls``). With ``calls`` > 1 the host's launch cost hides behind the previous
    launch, which one event pair per call does not allow."""
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(calls):
            fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b) / calls)
    return float(statistics.median(ts))
