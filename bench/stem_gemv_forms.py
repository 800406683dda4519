"""Two runtime kernels of the zoo's first and last layers, each against its previous form in the same program pair,
one thread (the thread's CPU clock), alternating builds, minimum and median per shape:

- **stem**: ``sdk_conv2d_stem_nhwc_f32`` (3-channel image, NCHW in, NHWC out) with its block form (P pixels x V
  channel vectors of sums in registers, the default) against the 4-pixel form (``-DSDK_STEM_ACC=0``), on the
  zoo's stem shapes; both outputs compared bit for bit.
- **gemv**: ``sdk_gemv_f32`` one row (a classifier) with four panels streamed side by side (the default) against
  panel after panel (``-DSDK_GEMV_STREAMS=1``), the weight cycled over 16 copies (``dram``: 16 x 4-5 MB, more
  than this core's share of L3, as in a whole network's run) or 3 (``l3``); outputs compared bit for bit.

    PYTHONPATH=$PWD python bench/stem_gemv_forms.py [--rounds 5] [--only stem|gemv]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sdk.resources import RUNTIME  # noqa: E402

FLAGS = ["-O3", "-march=native", "-std=c11", "-ffp-contract=fast", "--param=avoid-fma-max-bits=0"]

STEM = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "sdk_kernels.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
  const int C = atoi(argv[1]), H = atoi(argv[2]), M = atoi(argv[3]), K = atoi(argv[4]), S = atoi(argv[5]),
            P = atoi(argv[6]), act = atoi(argv[7]), reps = atoi(argv[8]);
  const int OH = (H + 2 * P - K) / S + 1, T = C * K * K;
  float *X = malloc(4 * (size_t)C * H * H), *Wt = malloc(4 * (size_t)T * M), *b = malloc(4 * (size_t)M),
        *Y = malloc(4 * (size_t)OH * OH * M);
  srand(7);
  for (int i = 0; i < C * H * H; ++i) X[i] = rand() / (float)RAND_MAX - 0.5f;
  for (int i = 0; i < T * M; ++i) Wt[i] = rand() / (float)RAND_MAX - 0.5f;
  for (int i = 0; i < M; ++i) b[i] = rand() / (float)RAND_MAX - 0.5f;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now();
    sdk_conv2d_stem_nhwc_f32(1, C, H, H, M, OH, OH, K, K, S, S, P, P, 1, 1, X, Wt, b, 0, act, 0.0f, 6.0f, Y);
    printf("%.3f\n", (now() - t0) * 1e6);
  }
  FILE *f = fopen(argv[9], "wb");
  fwrite(Y, 4, (size_t)OH * OH * M, f);
  fclose(f);
  return 0;
}
"""

GEMV = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "sdk_gemv.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
  const long N = atol(argv[1]), K = atol(argv[2]), copies = atol(argv[3]), reps = atol(argv[4]);
  const long pw = (N / 32 * 32 + (N % 32 + 7) / 8 * 8) * K;
  float *W = malloc(sizeof(float) * pw * copies), *x = malloc(4 * K), *b = malloc(4 * N), *y = malloc(4 * N);
  srand(3);
  for (long i = 0; i < pw * copies; ++i) W[i] = rand() / (float)RAND_MAX - 0.5f;
  for (long i = 0; i < K; ++i) x[i] = rand() / (float)RAND_MAX;
  for (long i = 0; i < N; ++i) b[i] = 0.1f;
  for (long r = 0; r < reps + 1; ++r)
    for (long c = 0; c < copies; ++c) {
      const double t0 = now();
      sdk_gemv_f32(1, N, K, x, K, 1, W + c * pw, b, 1, 0, 1, 0.0f, 0.0f, y);
      if (r) printf("%.3f\n", (now() - t0) * 1e6); /* the first pass brings the copies into memory */
    }
  FILE *f = fopen(argv[5], "wb");
  fwrite(y, 4, N, f);
  fclose(f);
  return 0;
}
"""

# name, C, H, M, K, S, P, act (sdk_kernel_defs.h codes)
STEMS = [("MobileNetV2 3->32 3x3/2 ReLU6", 3, 224, 32, 3, 2, 1, 2),
         ("EfficientNet-B0 3->32 3x3/2 SiLU", 3, 224, 32, 3, 2, 1, 6),
         ("MobileNetV3-S 3->16 3x3/2 HardSwish", 3, 224, 16, 3, 2, 1, 4),
         ("SqueezeNet 1.1 3->64 3x3/2 ReLU", 3, 224, 64, 3, 2, 0, 1),
         ("RegNetY-400MF 3->32 3x3/2 ReLU", 3, 224, 32, 3, 2, 1, 1),
         ("ConvNeXt-T 3->96 4x4/4", 3, 224, 96, 4, 4, 0, 0)]
# name, N, K
HEADS = [("MobileNetV2 / EfficientNet-B0 classifier", 1000, 1280), ("MobileNetV3-S classifier.3", 1000, 1024),
         ("MobileNetV3-S classifier.0", 1024, 576)]


def _build(d: Path, name: str, src: str, kernel: str, define: str) -> dict:
    (d / f"{name}.c").write_text(src)
    exes = {}
    for side, extra in (("new", []), ("old", [define])):
        exe = d / f"{name}_{side}"
        subprocess.run(["gcc", *FLAGS, *extra, f"-I{RUNTIME / 'include'}", str(d / f"{name}.c"),
                        str(RUNTIME / "src" / kernel), str(RUNTIME / "src" / "sdk_status.c"), "-o", str(exe), "-lm"],
                       check=True)
        exes[side] = exe
    return exes


def _times(exe, args, out) -> list:
    r = subprocess.run([str(exe), *map(str, args), str(out)], check=True, capture_output=True, text=True)
    return [float(v) for v in r.stdout.split()]


def _table(title, rows, rounds, run):
    print(f"\n{title}\n")
    print("| shape | old min us | new min us | new/old (min) | old median | new median | new/old (median) | "
          "same floats |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        t = {"old": [], "new": []}
        same = True
        for r in range(rounds):
            outs = {}
            for side in (("old", "new") if r % 2 == 0 else ("new", "old")):
                t[side] += run(side, row, outs)
            same = same and outs["old"] == outs["new"]
        mo, mn = min(t["old"]), min(t["new"])
        do, dn = statistics.median(t["old"]), statistics.median(t["new"])
        print(f"| {row[0]} | {mo:.1f} | {mn:.1f} | {mn / mo:.3f} | {do:.1f} | {dn:.1f} | {dn / do:.3f} | "
              f"{'yes' if same else 'NO'} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", choices=["stem", "gemv"])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="stem_gemv_") as tmp:
        d = Path(tmp)
        if a.only != "gemv":
            ex = _build(d, "stem", STEM, "sdk_kernels.c", "-DSDK_STEM_ACC=0")

            def stem(side, row, outs):
                o = d / f"stem_{side}.bin"
                ts = _times(ex[side], [*row[1:], 20], o)
                outs[side] = o.read_bytes()
                return ts
            _table("stem: block form (new) vs 4-pixel form (old, -DSDK_STEM_ACC=0), us per call", STEMS, a.rounds,
                   stem)
        if a.only != "stem":
            ex = _build(d, "gemv", GEMV, "sdk_gemv.c", "-DSDK_GEMV_STREAMS=1")
            rows = [(f"{n} [{k}x{nn}], {state}", nn, k, copies) for n, nn, k in HEADS
                    for state, copies in (("dram", 16), ("l3", 3))]

            def gemv(side, row, outs):
                o = d / f"gemv_{side}.bin"
                ts = _times(ex[side], [row[1], row[2], row[3], 48 // row[3]], o)
                outs[side] = o.read_bytes()
                return ts
            _table("gemv, one row: four panels streamed at once (new) vs panel after panel (old, "
                   "-DSDK_GEMV_STREAMS=1), us per call", rows, a.rounds, gemv)


if __name__ == "__main__":
    main()
