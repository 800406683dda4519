"""The zoo's first two layers (the stem convolution and the depthwise convolution after it) as the two runtime calls
(``sdk_conv2d_stem_nhwc_f32`` then ``sdk_dwconv2d_nhwc_f32``, the stem's whole result in memory) against the fused
band-by-band call (``sdk_stemdw_nhwc_f32``, bands of ``--band-bytes`` of stem rows), in one program, one thread
(the thread's CPU clock), the two forms alternating call by call; ``warm``: back to back, ``cold``: a 32 MB buffer
written before each call (as the peer's run between two of ours in the zoo's paired rounds evicts the arena's
lines). Minimum and median per shape; the two outputs compared bit for bit.

    PYTHONPATH=$PWD python bench/stem_dw_forms.py [--reps 40] [--band-bytes 131072]
"""
import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from sdk.resources import RUNTIME  # noqa: E402

FLAGS = ["-O3", "-march=native", "-std=c11", "-ffp-contract=fast", "--param=avoid-fma-max-bits=0", "-fopenmp",
         "-DSDK_DW_PAD_FLOATS=32768", "-DSDK_DWS_GROUP_BYTES=1048576"]

PROG = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sdk_kernels.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
  const int64_t M = atoi(argv[1]), S = atoi(argv[2]), sact = atoi(argv[3]), dact = atoi(argv[4]), reps = atoi(argv[5]);
  const int64_t band_bytes = atoll(argv[6]), cold = atoi(argv[7]);
  const int64_t C = 3, H = 224, SK = 3, SS = 2, K = 3, EH = 112, EW = 112, OH = (EH + 2 - K) / S + 1, OW = OH;
  const int64_t row = EW * M * 4, slots = 2;
  int64_t BH = (band_bytes / row - K) / S + 1;
  if (BH < 1) BH = 1;
  if (BH > OH) BH = OH;
  while (BH > 1 && 2 * slots * ((BH - 1) * S + K) > EH) --BH;
  float *X = malloc(4 * C * H * H), *Ws = malloc(4 * C * 9 * M), *bs = malloc(4 * M), *Wd = malloc(4 * 9 * M),
        *bd = malloc(4 * M), *E = malloc(4 * EH * EW * M), *Y0 = malloc(4 * OH * OW * M), *Y1 = malloc(4 * OH * OW * M),
        *sc = malloc(4 * slots * ((BH - 1) * S + K) * EW * M);
  const size_t big = 32u << 20;
  char *ev = malloc(big);
  srand(7);
  for (int64_t i = 0; i < C * H * H; ++i) X[i] = rand() / (float)RAND_MAX - 0.5f;
  for (int64_t i = 0; i < C * 9 * M; ++i) Ws[i] = (rand() / (float)RAND_MAX - 0.5f) * 0.3f;
  for (int64_t i = 0; i < M; ++i) bs[i] = rand() / (float)RAND_MAX - 0.5f, bd[i] = rand() / (float)RAND_MAX - 0.5f;
  for (int64_t i = 0; i < 9 * M; ++i) Wd[i] = rand() / (float)RAND_MAX - 0.5f;
  double *t0 = malloc(sizeof(double) * reps), *t1 = malloc(sizeof(double) * reps);
  for (int64_t r = 0; r < reps; ++r) {
    if (cold) memset(ev, (int)r, big);
    double a = now();
    sdk_conv2d_stem_nhwc_f32(1, C, H, H, M, EH, EW, SK, SK, SS, SS, 1, 1, 1, 1, X, Ws, bs, 0, sact, 0.0f, 6.0f, E);
    sdk_dwconv2d_nhwc_f32(1, EH, EW, M, OH, OW, K, K, S, S, 1, 1, 1, 1, E, Wd, bd, 0, dact, 0.0f, 6.0f, Y0);
    t0[r] = now() - a;
    if (cold) memset(ev, (int)r + 1, big);
    a = now();
    sdk_stemdw_nhwc_f32(1, C, H, H, M, EH, EW, SK, SK, SS, SS, 1, 1, X, Ws, bs, sact, 0.0f, 6.0f, OH, OW, K, K, S, S,
                        1, 1, Wd, bd, BH, slots, 0, dact, 0.0f, 6.0f, Y1, sc);
    t1[r] = now() - a;
  }
  qsort(t0, reps, sizeof(double), cmp);
  qsort(t1, reps, sizeof(double), cmp);
  printf("%ld %.1f %.1f %.1f %.1f %d %d\n", (long)BH, t0[0] * 1e6, t0[reps / 2] * 1e6, t1[0] * 1e6, t1[reps / 2] * 1e6,
         memcmp(Y0, Y1, 4 * OH * OW * M) == 0, (int)ev[12345]);
  return 0;
}
"""

# name, M, depthwise stride, stem activation, depthwise activation (sdk_kernel_defs.h codes)
SHAPES = [("MobileNetV2 3->32 ReLU6, dw 3x3/1 ReLU6", 32, 1, 2, 2),
          ("EfficientNet-B0 3->32 SiLU, dw 3x3/1 SiLU", 32, 1, 6, 6),
          ("MobileNetV3-S 3->16 HardSwish, dw 3x3/2 ReLU", 16, 2, 4, 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--band-bytes", default="131072", help="comma-separated: one column per value")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        exe = Path(td) / "stem_dw"
        src = Path(td) / "stem_dw.c"
        src.write_text(PROG)
        subprocess.run(["gcc", *FLAGS, "-I", str(RUNTIME / "include"), str(src), str(RUNTIME / "src" / "sdk_kernels.c"),
                        str(RUNTIME / "src" / "sdk_status.c"), "-lm", "-o", str(exe)], check=True)
        print("| shape | cache | band bytes (rows) | pair min / median us | fused min / median us | fused/pair min | "
              "fused/pair median | same floats |")
        print("|---|---|---|---:|---:|---:|---:|---|")
        for name, M, S, sact, dact in SHAPES:
            for cold in (0, 1):
                for bb in a.band_bytes.split(","):
                    out = subprocess.run([str(exe), str(M), str(S), str(sact), str(dact), str(a.reps), bb, str(cold)],
                                         env={"OMP_NUM_THREADS": "1"}, capture_output=True, text=True, check=True)
                    bh, p0, p1, f0, f1, same, _ = out.stdout.split()
                    print(f"| {name} | {'cold' if cold else 'warm'} | {bb} ({bh}) | {float(p0):.1f} / {float(p1):.1f} | "
                          f"{float(f0):.1f} / {float(f1):.1f} | {float(f0) / float(p0):.3f} | "
                          f"{float(f1) / float(p1):.3f} | {'yes' if same == '1' else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
