"""Max pooling, two source trees in one run: ``sdk_pool2d_f32`` of each tree's runtime_c (built with the host
profile's flags) on SqueezeNet's pools after a Concat (3x3/2 on 256 x 27x27 and 128 x 55x55, or ``--shapes``), one
thread, the fastest of ``--trials`` calls per round, rounds alternating A and B; inputs random with (``--nan``) one
NaN every 997 floats; ``--cold`` writes 4 MiB between calls (the input read from beyond L2, as in the model).
Outputs must be bit-equal.

    python bench/pool_ab.py --a /work/main --b $PWD [--rounds 8] [--shapes 256x27x27x3x2] [--cold] [--nan]
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import tree_kernel_ab as tka  # noqa: E402

HARNESS = r"""
#define _POSIX_C_SOURCE 199309L
#define _ISOC11_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sdk_kernels.h"
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}
int main(int argc, char **argv) {
  (void)argc;
  const int C = atoi(argv[1]), H = atoi(argv[2]), W = atoi(argv[3]), K = atoi(argv[4]), S = atoi(argv[5]);
  const int trials = atoi(argv[6]), cold = atoi(argv[7]), nan = atoi(argv[8]);
  const int OH = (H - K + S - 1) / S + 1, OW = (W - K + S - 1) / S + 1; /* ceil mode */
  const size_t n = (size_t)C * H * W, no = (size_t)C * OH * OW, big = (size_t)1 << 20;
  float *x = aligned_alloc(64, n * 4 + 64), *y = aligned_alloc(64, no * 4 + 64), *junk = aligned_alloc(64, big * 4);
  srand(1);
  for (size_t i = 0; i < n; ++i) x[i] = rand() / (float)RAND_MAX - 0.5f;
  if (nan)
    for (size_t i = 0; i < n; i += 997) x[i] = NAN;
  double best = 1e9;
  for (int t = 0; t < trials; ++t) {
    if (cold) memset(junk, t & 255, big * 4);
    const double t0 = now();
    sdk_pool2d_f32(1, C, H, W, OH, OW, K, K, S, S, 0, 0, 1, 1, 0, 0, 0, x, y);
    const double dt = now() - t0;
    if (dt < best) best = dt;
  }
  FILE *f = fopen(argv[9], "wb");
  if (!f || fwrite(y, 4, no, f) != no) return 1;
  fclose(f);
  printf("%.2f\n", best * 1e6);
  return 0;
}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--shapes", default="256x27x27x3x2,128x55x55x3x2,64x111x111x3x2", help="CxHxWxKxS,...")
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--nan", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        d = Path(t)
        exe = {k: tka.build(tree, d, k, HARNESS) for k, tree in (("a", a.a), ("b", a.b))}
        print(f"load {os.getloadavg()[0]:.1f}; A = {a.a}, B = {a.b}; {a.rounds} alternating rounds, min of "
              f"{a.trials} calls each; cold {int(a.cold)}, NaN {int(a.nan)}\n\n"
              "| C x H x W, k/s | A us | B us | B/A | outputs |\n|---|---:|---:|---:|---|")
        for shape in a.shapes.split(","):
            C, H, W, K, S = shape.split("x")
            best = tka.alternate(exe, [C, H, W, K, S, a.trials, int(a.cold), int(a.nan)], d, a.rounds)
            ya, yb = (np.fromfile(d / f"y_{k}.bin", np.uint32) for k in ("a", "b"))
            same = "bit-equal" if np.array_equal(ya, yb) else f"{int(np.sum(ya != yb))} differ"
            print(f"| {C} x {H}x{W}, {K}/{S} | {best['a']:.1f} | {best['b']:.1f} | {best['b'] / best['a']:.3f} "
                  f"| {same} |")
        print(f"\nload {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
