"""Where a PyTorch peer's GPU time goes: the kernels of one run of a bench/gpu_zoo.py model under torch.compile (default
mode) or eager, from torch.profiler (kernel time, warm caches), summed by kernel name - the peer's side of
bench/gpu_profile.py's table of an sdk bundle.

    python bench/torch_kernel_profile.py [--model bert_base] [--dims batch=8,seq=512] [--prec fp16] [--eager]
                                         [--mode reduce-overhead]

Prints a markdown table (kernel, launches a run, us a run, share) and the median wall time of a run (CUDA events)."""
from __future__ import annotations

import argparse
import sys
import zlib
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bert_base")
    ap.add_argument("--dims", default="batch=8,seq=512")
    ap.add_argument("--prec", default="fp16", choices=("fp16", "fp32"))
    ap.add_argument("--eager", action="store_true", help="eager instead of torch.compile")
    ap.add_argument("--mode", default=None, help="torch.compile mode (default: its default mode)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args(argv)
    import gpu_zoo
    from cuda_events import median_ms
    torch.backends.cuda.matmul.allow_tf32 = False
    if hasattr(torch.backends, "mha"):
        torch.backends.mha.set_fastpath_enabled(False)
    dims = {k: int(v) for k, v in (kv.split("=") for kv in a.dims.split(","))}
    m, _, _, _, mk = gpu_zoo.build(a.model)
    dt = torch.float16 if a.prec == "fp16" else torch.float32
    m = m.to(dt).cuda()
    tag = "_".join(f"{k}{v}" for k, v in dims.items())
    xs = [x.cuda().to(dt) if x.is_floating_point() else x.cuda()
          for x in mk(dims, torch.Generator().manual_seed(zlib.crc32(tag.encode())))]
    fn = m if a.eager else torch.compile(m, mode=a.mode)
    with torch.no_grad():
        for _ in range(3):
            fn(*xs)
        torch.cuda.synchronize()
        ms = median_ms(lambda: fn(*xs), 30, warmup=3)
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(a.runs):
                fn(*xs)
            torch.cuda.synchronize()
    by, total = kernel_times(prof, a.runs)
    print(f"{a.model} {a.dims} {a.prec} {'eager' if a.eager else f'torch.compile (mode {a.mode})'}: median {ms:.3f} ms a run "
          f"(CUDA events), {sum(c for c, _ in by.values()) / a.runs:.0f} kernels and {total / 1e3:.3f} ms of "
          f"kernel time a run (torch.profiler, {a.runs} runs)")
    print_kernel_table(by, total, a.runs, a.top)


def kernel_times(prof, runs):
    """({kernel name: [launches, us]} summed over the profiled runs, us of kernel time a run) of a torch.profiler
    profile's CUDA events."""
    by = defaultdict(lambda: [0, 0.0])
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA:
            name = ev.name.split("(")[0][:90]
            by[name][0] += 1
            by[name][1] += ev.time_range.elapsed_us()
    return by, sum(t for _, t in by.values()) / runs


def print_kernel_table(by, total, runs, top):
    """The ``top`` kernels of ``kernel_times`` by time: launches and us a run, share of the kernel time."""
    print("| kernel | launches a run | us a run | share |\n| --- | ---: | ---: | ---: |")
    for name, (c, t) in sorted(by.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"| `{name}` | {c / runs:g} | {t / runs:.1f} | {100 * t / runs / total:.1f}% |")

if __name__ == "__main__":
    main()
