"""Winograd convolution, two source trees in one run: ``sdk_winograd_f32`` of each tree's runtime_c (built with the
host profile's flags, one thread) on SqueezeNet's and ResNet-18's 3x3 layers (or ``--shapes``) in each layout
(0: NCHW in and out; 2: Y in the padded channels-last layout; 3: X and Y padded, sdk/tune/winograd.py chain_layouts),
ReLU, with or without a residual; the fastest of ``--trials`` calls per round, rounds alternating A and B (the minima
over rounds, and the median over rounds of B / A); the outputs of A and B compared byte for byte. The transformed
weights are random floats (the kernel's work does not depend on them).

    python bench/wino_ab.py --a /work/main --b $PWD [--rounds 8] [--shapes 16x55x64x4x0x0,64x56x64x4x1x0]
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import tree_kernel_ab as tka  # noqa: E402

HARNESS = tka.harness(r"""
  const long C = atol(argv[1]), H = atol(argv[2]), M = atol(argv[3]), m = atol(argv[4]), resid = atol(argv[5]);
  const long layout = atol(argv[6]), trials = atol(argv[7]), tb = 48;
  const long Cp = (C + 15) / 16 * 16, Mp = (M + 15) / 16 * 16, P = (H + m - 1) / m * m + 2, a = m + 2;
  const size_t sx = layout & SDK_WINO_X_PADDED ? (size_t)P * P * Cp : (size_t)C * H * H;
  const size_t n = layout & SDK_WINO_Y_PADDED ? (size_t)P * P * Mp : (size_t)M * H * H, su = (size_t)a * a * Cp * Mp;
  const size_t ss = (size_t)a * a * tb * (Cp + Mp) + (size_t)P * P * Cp + 16;
  float *x = aligned_alloc(64, sx * 4 + 64), *y = aligned_alloc(64, n * 4 + 64), *r = aligned_alloc(64, n * 4 + 64);
  float *u = aligned_alloc(64, su * 4 + 64), *b = aligned_alloc(64, M * 4 + 64), *s = aligned_alloc(64, ss * 4 + 64);
  for (size_t i = 0; i < sx; ++i) x[i] = uniform();
  for (size_t i = 0; i < n; ++i) r[i] = uniform();
  for (size_t i = 0; i < su; ++i) u[i] = uniform();
  for (long i = 0; i < M; ++i) b[i] = uniform();
""", "    sdk_winograd_f32(1, C, H, H, M, H, H, 1, 1, m, tb, x, u, b, resid ? r : NULL, SDK_ACT_RELU, 0.f, 0.f, "
     "layout, y, s);", "n",
                      header="sdk_winograd.h")


def main():
    a = tka.parser(__doc__, 8, 100, "16x55x64x4x0x0,64x13x256x4x0x0,64x56x64x4x1x0,64x56x64x4x0x2,64x56x64x4x1x3",
                   "CxHxMxTILExRESIDUALxLAYOUT, square planes, pad 1").parse_args()

    def row(shape, exe, d):
        C, H, M, m, res, lay = shape.split("x")
        runs = [tka.alternate(exe, [C, H, M, m, res, lay, a.trials], d, 1) for _ in range(a.rounds)]
        best = {k: min(r[k] for r in runs) for k in exe}
        ratio = float(np.median([r["b"] / r["a"] for r in runs]))
        same = (d / "y_a.bin").read_bytes() == (d / "y_b.bin").read_bytes()
        return (f"| {C} -> {M}, {H}x{H}, F({m}x{m}) | {'yes' if res == '1' else 'no'} | {lay} | {best['a']:.1f} | "
                f"{best['b']:.1f} | {best['b'] / best['a']:.3f} | {ratio:.3f} | {'yes' if same else 'NO'} |")
    tka.table(a, HARNESS, "| layer | residual | layout | A us (min) | B us (min) | B/A of minima | B/A median of "
              "rounds | same bytes |\n|---|---|---:|---:|---:|---:|---:|---|", row, sources=("sdk_winograd.c",))


if __name__ == "__main__":
    main()
