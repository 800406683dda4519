"""Channels-last depthwise convolution, two source trees in one run: ``sdk_dwconv2d_nhwc_f32`` of each tree's
runtime_c (built with the host profile's flags) on ConvNeXt-T's 7 x 7 stride-1 layers (or ``--shapes``), one thread,
the fastest of ``--trials`` calls per round, rounds alternating A and B; the outputs of A and B compared byte for byte.

    python bench/dw7_ab.py --a /work/main --b $PWD [--rounds 4] [--shapes 96x56x7,192x28x7]
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import tree_kernel_ab as tka  # noqa: E402

HARNESS = r"""
#define _POSIX_C_SOURCE 199309L
#define _ISOC11_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "sdk_kernels.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
  (void)argc;
  const int C = atoi(argv[1]), H = atoi(argv[2]), K = atoi(argv[3]), trials = atoi(argv[4]), P = K / 2;
  const size_t n = (size_t)H * H * C;
  float *x = aligned_alloc(64, n * 4 + 64), *y = aligned_alloc(64, n * 4 + 64);
  float *w = aligned_alloc(64, (size_t)K * K * C * 4 + 64), *b = aligned_alloc(64, (size_t)C * 4 + 64);
  srand(1);
  for (size_t i = 0; i < n; ++i) x[i] = rand() / (float)RAND_MAX - 0.5f;
  for (int i = 0; i < K * K * C; ++i) w[i] = rand() / (float)RAND_MAX - 0.5f;
  for (int i = 0; i < C; ++i) b[i] = rand() / (float)RAND_MAX;
  double best = 1e9;
  for (int t = 0; t < trials; ++t) {
    const double t0 = now();
    sdk_dwconv2d_nhwc_f32(1, H, H, C, H, H, K, K, 1, 1, P, P, 1, 1, x, w, b, NULL, 0, 0.0f, 0.0f, y);
    const double dt = now() - t0;
    if (dt < best) best = dt;
  }
  FILE *f = fopen(argv[5], "wb");
  if (!f || fwrite(y, 4, n, f) != n) return 1;
  fclose(f);
  printf("%.2f\n", best * 1e6);
  return 0;
}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--shapes", default="96x56x7,192x28x7,384x14x7,768x7x7", help="CxHxK, square planes, pad K/2")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        d = Path(t)
        exe = {k: tka.build(tree, d, k, HARNESS) for k, tree in (("a", a.a), ("b", a.b))}
        print(f"load {os.getloadavg()[0]:.1f}; A = {a.a}, B = {a.b}; {a.rounds} alternating rounds, min of "
              f"{a.trials} calls each\n\n| C x H x W, K | A us | B us | B/A | same bytes |\n|---|---:|---:|---:|---|")
        for shape in a.shapes.split(","):
            C, H, K = shape.split("x")
            best = tka.alternate(exe, [C, H, K, a.trials], d, a.rounds)
            same = (d / "y_a.bin").read_bytes() == (d / "y_b.bin").read_bytes()
            print(f"| {C} x {H} x {H}, {K}x{K} | {best['a']:.1f} | {best['b']:.1f} | {best['b'] / best['a']:.3f} | "
                  f"{'yes' if same else 'NO'} |")
        print(f"\nload {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
