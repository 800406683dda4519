"""Max pooling, two source trees in one run: ``sdk_pool2d_f32`` of each tree's runtime_c (built with the host
profile's flags) on SqueezeNet's pools after a Concat (3x3/2 on 256 x 27x27 and 128 x 55x55, or ``--shapes``), one
thread, the fastest of ``--trials`` calls per round, rounds alternating A and B; inputs random with (``--nan``) one
NaN every 997 floats; ``--cold`` writes 4 MiB between calls (the input read from beyond L2, as in the model).
Outputs must be bit-equal.

    python bench/pool_ab.py --a /work/main --b $PWD [--rounds 8] [--shapes 256x27x27x3x2] [--cold] [--nan]
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import tree_kernel_ab as tka  # noqa: E402

HARNESS = tka.harness(r"""
  const int C = atoi(argv[1]), H = atoi(argv[2]), W = atoi(argv[3]), K = atoi(argv[4]), S = atoi(argv[5]);
  const int trials = atoi(argv[6]), cold = atoi(argv[7]), nan = atoi(argv[8]);
  const int OH = (H - K + S - 1) / S + 1, OW = (W - K + S - 1) / S + 1; /* ceil mode */
  const size_t n = (size_t)C * H * W, no = (size_t)C * OH * OW, big = (size_t)1 << 20;
  float *x = aligned_alloc(64, n * 4 + 64), *y = aligned_alloc(64, no * 4 + 64), *junk = aligned_alloc(64, big * 4);
  for (size_t i = 0; i < n; ++i) x[i] = uniform();
  if (nan)
    for (size_t i = 0; i < n; i += 997) x[i] = NAN;
""", "    sdk_pool2d_f32(1, C, H, W, OH, OW, K, K, S, S, 0, 0, 1, 1, 0, 0, 0, x, y);", "no",
    before="    if (cold) memset(junk, t & 255, big * 4);")


def main():
    ap = tka.parser(__doc__, 8, 200, "256x27x27x3x2,128x55x55x3x2,64x111x111x3x2", "CxHxWxKxS,...")
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--nan", action="store_true")
    a = ap.parse_args()

    def row(shape, exe, d):
        C, H, W, K, S = shape.split("x")
        best = tka.alternate(exe, [C, H, W, K, S, a.trials, int(a.cold), int(a.nan)], d, a.rounds)
        ya, yb = (np.fromfile(d / f"y_{k}.bin", np.uint32) for k in ("a", "b"))
        same = "bit-equal" if np.array_equal(ya, yb) else f"{int(np.sum(ya != yb))} differ"
        return f"| {C} x {H}x{W}, {K}/{S} | {best['a']:.1f} | {best['b']:.1f} | {best['b'] / best['a']:.3f} | {same} |"
    tka.table(a, HARNESS, "| C x H x W, k/s | A us | B us | B/A | outputs |\n|---|---:|---:|---:|---|", row,
              extra=f"; cold {int(a.cold)}, NaN {int(a.nan)}")


if __name__ == "__main__":
    main()
