"""Interleaved rounds of built sdk CUDA bundles against their PyTorch peers on one model and dims (issue 22: fp16 <=
1.0x torch.compile; the peer's time moved 2.04-2.71 ms between calls on ResNet-50 b32, so a ratio needs the peer
timed several times in the same call, between our runs).

    python bench/gpu_ab.py WORK --model resnet50 --dims batch=32 --bundles fp16 fp16b [--rounds 7] [--reduce-overhead]

WORK is a ``bench/gpu.py models --work`` directory after that run: its bundles ``WORK/<model>_<tag>`` (built, with
``model_main``) and the input files it wrote (``WORK/<model>_<dims tag>_in<k>.sdkt``: the same seeded inputs the
peers get here from bench/gpu_zoo.py). Each round runs every bundle (``model_main --repeat 30``: its median, graphs
as the bundle's default) and every peer (median of 30 CUDA-event timings after 3 warm-ups), in that order; the
table gives, per implementation, the median and the minimum of its round medians and the ratio of each bundle's to
torch.compile's (median / median, min / min). Outputs are checked against the float64 module (limit 1e-2)."""
from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--dims", default="batch=32")
    ap.add_argument("--bundles", nargs="+", default=["fp16", "fp16b"], help="bundle tags (WORK/<model>_<tag>)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reduce-overhead", action="store_true", help="also torch.compile(mode='reduce-overhead')")
    ap.add_argument("--no-eager", action="store_true")
    ap.add_argument("--profile", type=int, default=0, metavar="TOP",
                    help="after the rounds: torch.compile's kernels (torch.profiler, 10 runs), the TOP by time, as "
                         "bench/torch_kernel_profile.py prints them")
    a = ap.parse_args(argv)
    import torch
    import gpu_table
    import gpu_zoo
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if hasattr(torch.backends, "mha"):
        torch.backends.mha.set_fastpath_enabled(False)
    dims = {k: int(v) for k, v in (kv.split("=") for kv in a.dims.split(","))}
    tag = "_".join(f"{k}{v}" for k, v in dims.items())
    base, _, _, _, mk = gpu_zoo.build(a.model)
    inputs = mk(dims, torch.Generator().manual_seed(zlib.crc32(tag.encode())))
    with torch.no_grad():
        ref = copy.deepcopy(base).double().cuda()(*[x.cuda().double() if x.is_floating_point() else x.cuda()
                                                     for x in inputs])
    refs = [r.cpu().numpy() for r in (ref if isinstance(ref, tuple) else (ref,))]
    feeds = [x.numpy() for x in inputs]
    m = copy.deepcopy(base).half().cuda()
    xs = [x.cuda().half() if x.is_floating_point() else x.cuda() for x in inputs]
    impls = [(f"sdk {b}", b) for b in a.bundles]
    peers = [] if a.no_eager else [("PyTorch eager fp16", m)]
    torch._dynamo.reset()
    peers.append(("torch.compile fp16", torch.compile(m)))
    if a.reduce_overhead:
        peers.append(("torch.compile reduce-overhead fp16", gpu_table._reduce_overhead(m)))
    errs, times = {}, {}
    with torch.no_grad():
        for label, fn in peers:  # compiled and checked before the rounds
            y = fn(*xs)
            torch.cuda.synchronize()
            errs[label] = gpu_table.rel_err([t.double().cpu().numpy() for t in (y if isinstance(y, tuple) else (y,))],
                                            refs)
        for r in range(a.rounds):
            for label, b in impls:
                ms, ys = gpu_table.run_bundle(a.work, a.model, b, tag, feeds)
                times.setdefault(label, []).append(ms)
                errs[label] = max(errs.get(label, 0.0), gpu_table.rel_err(ys, refs))
            for label, fn in peers:
                times.setdefault(label, []).append(gpu_table.torch_median(lambda: fn(*xs), gpu_table.REPEAT))
            print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in times.items()), flush=True)
    tc = times.get("torch.compile fp16")
    print(f"\n{a.model} {a.dims}: {a.rounds} interleaved rounds (each: every bundle's median of "
          f"{gpu_table.REPEAT} runs, then every peer's)\n")
    print("| implementation | median of rounds ms | min ms | vs torch.compile (median / min) | rel. error | rounds ms |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for label, v in times.items():
        ratio = f"{statistics.median(v) / statistics.median(tc):.3f} / {min(v) / min(tc):.3f}" if tc else ""
        print(f"| {label} | {statistics.median(v):.3f} | {min(v):.3f} | {ratio} | {errs[label]:.2e} | "
              f"{' '.join(f'{t:.3f}' for t in v)} |")
    if a.profile and tc:
        profile_peer(peers[-1][1] if not a.reduce_overhead else peers[-2][1], xs, a.profile)
    return 0


def profile_peer(fn, xs, top, runs=10):
    """torch.compile's kernels, summed by name over ``runs`` runs (bench/torch_kernel_profile.py's table)."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    from torch_kernel_profile import kernel_times, print_kernel_table
    with torch.no_grad(), profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(runs):
            fn(*xs)
        torch.cuda.synchronize()
    by, total = kernel_times(prof, runs)
    print(f"\ntorch.compile fp16: {sum(c for c, _ in by.values()) / runs:.0f} kernels and {total / 1e3:.3f} ms of "
          f"kernel time a run (torch.profiler, {runs} runs)")
    print_kernel_table(by, total, runs, top)

if __name__ == "__main__":
    sys.exit(main())
