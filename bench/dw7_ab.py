"""Channels-last depthwise convolution, two source trees in one run: ``sdk_dwconv2d_nhwc_f32`` of each tree's
runtime_c (built with the host profile's flags) on ConvNeXt-T's 7 x 7 stride-1 layers (or ``--shapes``), one thread,
the fastest of ``--trials`` calls per round, rounds alternating A and B; the outputs of A and B compared byte for byte.

    python bench/dw7_ab.py --a /work/main --b $PWD [--rounds 4] [--shapes 96x56x7,192x28x7]
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import tree_kernel_ab as tka  # noqa: E402

HARNESS = tka.harness(r"""
  const int C = atoi(argv[1]), H = atoi(argv[2]), K = atoi(argv[3]), trials = atoi(argv[4]), P = K / 2;
  const size_t n = (size_t)H * H * C;
  float *x = aligned_alloc(64, n * 4 + 64), *y = aligned_alloc(64, n * 4 + 64);
  float *w = aligned_alloc(64, (size_t)K * K * C * 4 + 64), *b = aligned_alloc(64, (size_t)C * 4 + 64);
  for (size_t i = 0; i < n; ++i) x[i] = uniform();
  for (int i = 0; i < K * K * C; ++i) w[i] = uniform();
  for (int i = 0; i < C; ++i) b[i] = rand() / (float)RAND_MAX;
""", "    sdk_dwconv2d_nhwc_f32(1, H, H, C, H, H, K, K, 1, 1, P, P, 1, 1, x, w, b, NULL, 0, 0.0f, 0.0f, y);", "n")


def main():
    a = tka.parser(__doc__, 4, 300, "96x56x7,192x28x7,384x14x7,768x7x7", "CxHxK, square planes, pad K/2").parse_args()

    def row(shape, exe, d):
        C, H, K = shape.split("x")
        best = tka.alternate(exe, [C, H, K, a.trials], d, a.rounds)
        same = (d / "y_a.bin").read_bytes() == (d / "y_b.bin").read_bytes()
        return (f"| {C} x {H} x {H}, {K}x{K} | {best['a']:.1f} | {best['b']:.1f} | {best['b'] / best['a']:.3f} | "
                f"{'yes' if same else 'NO'} |")
    tka.table(a, HARNESS, "| C x H x W, K | A us | B us | B/A | same bytes |\n|---|---:|---:|---:|---|", row)


if __name__ == "__main__":
    main()
