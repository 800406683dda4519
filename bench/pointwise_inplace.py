"""Pointwise convolutions with B (the image) packed into panels against read in place, per workload, isolated: the
host's gcc measurer (``sdk/backends/host/measure.py``: the build's kernel source with the fused ReLU / residual, checked
against the runtime's library convolution) times the default schedule and the same schedule with ``pack_b`` flipped,
in alternating batches, one thread; minimum of ``--rounds`` batches. SqueezeNet's squeezes and expands, and shapes
of ShuffleNetV2 / RegNetY / MobileNetV2 around the rule's bounds (``GemmSpace.default``: in place at <= 6 row tiles
and K >= 64).

    PYTHONPATH=$PWD python bench/pointwise_inplace.py [--rounds 3]
"""
import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

from sdk.backends.host.measure import Measurer  # noqa: E402
from sdk.targets import load_target  # noqa: E402
from sdk.tune.space import GemmSpace, target_facts  # noqa: E402
from sdk.tune.workload import Workload  # noqa: E402

# (K = input channels, M = output channels, plane side, residual)
SHAPES = [(64, 16, 55, 0), (128, 16, 55, 0), (128, 32, 27, 0), (256, 32, 27, 0), (256, 48, 13, 0), (384, 48, 13, 0),
          (384, 64, 13, 0), (512, 64, 13, 0), (16, 64, 55, 0), (32, 128, 27, 0), (48, 192, 13, 0), (64, 256, 13, 0),
          (58, 58, 28, 0), (24, 58, 56, 0), (32, 48, 112, 0), (48, 48, 56, 1), (192, 32, 28, 1), (96, 24, 56, 0)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    tgt = load_target("host")
    facts = target_facts(tgt)
    m = Measurer(tgt, repeat=7, budget_s=0.004)
    print(f"load {os.getloadavg()[0]:.1f}\n")
    print("| workload | default | packed us | in place us | in place / packed |")
    print("|---|---|---:|---:|---:|")
    for K, M, H, R in SHAPES:
        d = dict(C=K, DH=1, DW=1, H=H, KH=1, KW=1, M=M, N=1, OH=H, OW=H, PH=0, PW=0, SH=1, SW=1, W=H, groups=1,
                 has_bias=1)
        wl = Workload("conv2d", tuple(sorted(d.items())), ("relu", 0.0, 0.0, R))
        sp = GemmSpace(wl, facts)
        s0 = sp.default()
        if s0.get("trans"):
            continue
        s1 = dict(s0, pack_b=not s0["pack_b"])
        c = sp.candidates(s1)["nc"]
        s1["nc"] = min(c, key=lambda v: abs(v - 1024)) if s1["pack_b"] else max(c)
        t = [min(x) for x in zip(*(m.measure(wl, [s0, s1]) for _ in range(a.rounds)))]
        packed, inplace = (t[0], t[1]) if s0["pack_b"] else (t[1], t[0])
        print(f"| {wl} {H}x{H} | {'packed' if s0['pack_b'] else 'in place'} | {packed * 1e6:.1f} | "
              f"{inplace * 1e6:.1f} | {inplace / packed:.3f} |", flush=True)
    if m.errors:
        raise SystemExit("wrong results: " + "; ".join(m.errors[:3]))
    print(f"\nload {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
