"""Softmax rows, two source trees in one run: ``sdk_softmax_f32`` of each tree's runtime_c (built with the host
profile's flags) on ViT-S's attention scores ([6 x 197] rows of 197, or ``--shapes``), one thread, the fastest of
``--trials`` calls per round, rounds alternating A and B; the largest relative difference of B's outputs from A's.

    python bench/softmax_ab.py --a /work/main --b $PWD [--rounds 4] [--shapes 1182x197,768x768]
"""
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import tree_kernel_ab as tka  # noqa: E402

HARNESS = tka.harness(r"""
  const int rows = atoi(argv[1]), cols = atoi(argv[2]), trials = atoi(argv[3]);
  const size_t n = (size_t)rows * cols;
  float *x = aligned_alloc(64, n * 4 + 64), *y = aligned_alloc(64, n * 4 + 64);
  for (size_t i = 0; i < n; ++i) x[i] = uniform() * 16.0f;
""", "    sdk_softmax_f32(rows, cols, x, y);", "n")


def main():
    a = tka.parser(__doc__, 4, 200, "1182x197", "ROWSxCOLS,...").parse_args()

    def row(shape, exe, d):
        rows, cols = shape.split("x")
        best = tka.alternate(exe, [rows, cols, a.trials], d, a.rounds)
        ya, yb = (np.fromfile(d / f"y_{k}.bin", np.float32).astype(np.float64) for k in ("a", "b"))
        rel = float(np.max(np.abs(ya - yb) / np.maximum(np.abs(ya), 1e-30)))
        return f"| {rows} x {cols} | {best['a']:.1f} | {best['b']:.1f} | {best['b'] / best['a']:.3f} | {rel:.1e} |"
    tka.table(a, HARNESS, "| rows x cols | A us | B us | B/A | max rel diff |\n|---|---:|---:|---:|---:|", row)


if __name__ == "__main__":
    main()
