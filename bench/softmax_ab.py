"""Softmax rows, two source trees in one run: ``sdk_softmax_f32`` of each tree's runtime_c (built with the host
profile's flags) on ViT-S's attention scores ([6 x 197] rows of 197, or ``--shapes``), one thread, the fastest of
``--trials`` calls per round, rounds alternating A and B; the largest relative difference of B's outputs from A's.

    python bench/softmax_ab.py --a /work/main --b $PWD [--rounds 4] [--shapes 1182x197,768x768]
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
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "sdk_kernels.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
  (void)argc;
  const int rows = atoi(argv[1]), cols = atoi(argv[2]), trials = atoi(argv[3]);
  const size_t n = (size_t)rows * cols;
  float *x = aligned_alloc(64, n * 4 + 64), *y = aligned_alloc(64, n * 4 + 64);
  srand(1);
  for (size_t i = 0; i < n; ++i) x[i] = (rand() / (float)RAND_MAX - 0.5f) * 16.0f;
  double best = 1e9;
  for (int t = 0; t < trials; ++t) {
    const double t0 = now();
    sdk_softmax_f32(rows, cols, x, y);
    const double dt = now() - t0;
    if (dt < best) best = dt;
  }
  FILE *f = fopen(argv[4], "wb");
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
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--shapes", default="1182x197", help="ROWSxCOLS,...")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        d = Path(t)
        exe = {k: tka.build(tree, d, k, HARNESS) for k, tree in (("a", a.a), ("b", a.b))}
        print(f"load {os.getloadavg()[0]:.1f}; A = {a.a}, B = {a.b}; {a.rounds} alternating rounds, min of "
              f"{a.trials} calls each\n\n| rows x cols | A us | B us | B/A | max rel diff |\n|---|---:|---:|---:|---:|")
        for shape in a.shapes.split(","):
            rows, cols = shape.split("x")
            best = tka.alternate(exe, [rows, cols, a.trials], d, a.rounds)
            ya, yb = (np.fromfile(d / f"y_{k}.bin", np.float32).astype(np.float64) for k in ("a", "b"))
            rel = float(np.max(np.abs(ya - yb) / np.maximum(np.abs(ya), 1e-30)))
            print(f"| {rows} x {cols} | {best['a']:.1f} | {best['b']:.1f} | {best['b'] / best['a']:.3f} | {rel:.1e} |")
        print(f"\nload {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
