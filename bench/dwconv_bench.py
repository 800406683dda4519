"""Depthwise 3x3 convolution microbenchmark against this CPU's bounds (issue 15).

    python bench/dwconv_bench.py [--reps 3]

Times the runtime kernels ``sdk_dwconv2d_nhwc_f32`` (channels-last: the one the models run, inside the layout
pass's NHWC regions) and ``sdk_dwconv2d_f32`` (NCHW) (runtime_c/src/sdk_kernels.c, built with the host profile's
flags) on 1x32x112x112 and 1x576x14x14 (3x3, stride 1, pad 1, bias), the fastest of 400 short trials of ``--reps``
calls (short trials, so that a loaded machine still gives some uninterrupted ones), and
prints it next to two bounds measured on the same machine in the same program. Input and output are 64-byte aligned,
as the arena's slots are (targets/host.toml [memory] align): malloc's 16-byte offset split every 64-byte vector
across two cache lines (576x14x14 NHWC: 26.5 instead of 17-18 us on the AVX-512 Xeon). One thread by default
(``--threads``), as the bounds are one core's:
- FMA bound: the layer's multiply-adds (C*OH*OW*9) at the peak FMA rate of one core, measured by a loop of
  independent vector FMAs (GCC vector extensions, the profile's flags);
- memory bound: the layer's compulsory traffic (input + output + weights, float32) at the bandwidth of a
  streaming kernel ``y[i] = a * x[i] + b`` over buffers of the same size (so the same cache level).
The bound is the larger of the two; ``% of bound`` = bound / measured time.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ((32, 112, 112), (576, 14, 14))

HARNESS = r"""
#define _POSIX_C_SOURCE 199309L
#define _ISOC11_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "sdk_kernels.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
typedef float vf __attribute__((vector_size(VBYTES)));
/* peak FMA rate: 12 independent accumulator vectors (covers FMA latency x throughput) */
static double fma_rate(void) {
  vf acc[12], m, a;
  for (int i = 0; i < 12; ++i) acc[i] = (vf){0} + (float)i;
  m = (vf){0} + 0.999999f; a = (vf){0} + 1e-7f;
  const long iters = 100000; /* ~0.1 ms a trial: many short trials, the fastest kept */
  double best = 1e30;
  for (int rep = 0; rep < 2000; ++rep) {
    double t0 = now();
    for (long k = 0; k < iters; ++k)
      for (int i = 0; i < 12; ++i) { acc[i] = acc[i] * m + a; }
    double t = now() - t0;
    if (t < best) best = t;
  }
  float s = 0; for (int i = 0; i < 12; ++i) s += acc[i][0];
  if (s == 12345.f) printf("#\n");
  return 12.0 * iters * (VBYTES / 4) / best;
}
static void stream(long n, const float *restrict x, float *restrict y) {
  for (long i = 0; i < n; ++i) y[i] = 1.0001f * x[i] + 0.5f;
}
int main(int argc, char **argv) {
  int reps = atoi(argv[1]);
  double fr = fma_rate();
  printf("fma_per_s %.4g\n", fr);
  static const int shapes[][3] = SHAPES;
  for (int s = 0; s < (int)(sizeof(shapes) / sizeof(shapes[0])); ++s) {
    const long C = shapes[s][0], H = shapes[s][1], W = shapes[s][2], n = C * H * W;
    float *x = aligned_alloc(64, (n * 4 + 63) / 64 * 64), *y = aligned_alloc(64, (n * 4 + 63) / 64 * 64), *w = malloc(C * 9 * 4), *b = malloc(C * 4);
    float *pad = malloc(((H + 2) + H) * (W + 2) * 4);
    for (long i = 0; i < n; ++i) x[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    for (long i = 0; i < C * 9; ++i) w[i] = (float)((i * 31) % 17) / 17.0f - 0.5f;
    for (long i = 0; i < C; ++i) b[i] = 0.01f * i;
    double best = 1e30, best_n = 1e30, best_s = 1e30;
    for (int rep = 0; rep < 400; ++rep) { /* many short trials, the fastest kept: robust on a shared machine */
      double t0 = now();
      for (int r = 0; r < reps; ++r)
        sdk_dwconv2d_f32(1, C, H, W, C, H, W, 3, 3, 1, 1, 1, 1, 1, 1, x, w, b, NULL, 0, 0.f, 0.f, y, pad,
                         ((H + 2) + H) * (W + 2));
      double t = (now() - t0) / reps;
      if (t < best) best = t;
      t0 = now();
      for (int r = 0; r < reps; ++r) /* the same numbers read as NHWC ([H, W, C]; weights [9, C]) */
        sdk_dwconv2d_nhwc_f32(1, H, W, C, H, W, 3, 3, 1, 1, 1, 1, 1, 1, x, w, b, NULL, 0, 0.f, 0.f, y);
      t = (now() - t0) / reps;
      if (t < best_n) best_n = t;
      t0 = now();
      for (int r = 0; r < reps; ++r) { stream(n, x, y); __asm__ volatile("" ::: "memory"); }
      t = (now() - t0) / reps;
      if (t < best_s) best_s = t;
    }
    double bytes = 4.0 * (2 * n + C * 10), fmas = 9.0 * n;
    printf("shape %ldx%ldx%ld sdk_us %.3f nhwc_us %.3f stream_us %.3f bytes %.0f fmas %.0f\n", C, H, W, 1e6 * best,
           1e6 * best_n, 1e6 * best_s, bytes, fmas);
    free(x); free(y); free(w); free(b); free(pad);
  }
  return 0;
}
"""


def host_flags():
    from sdk.targets import load_target
    t = load_target("host")
    return t.cc, [f for f in t.cflags if not f.startswith("-W")]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="calls per timed trial (400 trials, the fastest kept)")
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the kernels (the bounds are one core's)")
    ap.add_argument("--cflags", default="", help="extra compiler flags (e.g. -DSDK_DWS_TW=14 to try a variant)")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    cc, flags = host_flags()
    flags = [*flags, *shlex.split(a.cflags)]
    vbytes = 64 if "avx512f" in Path("/proc/cpuinfo").read_text() else 32
    shapes = "{" + ", ".join("{%d, %d, %d}" % s for s in SHAPES) + "}"
    with tempfile.TemporaryDirectory() as td:
        src, exe = Path(td) / "dw.c", Path(td) / "dw"
        src.write_text(HARNESS.replace("VBYTES", str(vbytes)).replace("SHAPES", shapes))
        cmd = [cc, *flags, f"-I{ROOT / 'runtime_c' / 'include'}", str(src), str(ROOT / "runtime_c" / "src" / "sdk_kernels.c"),
               "-o", str(exe), "-lm"]
        subprocess.run(cmd, check=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
        out = subprocess.run([str(exe), str(a.reps)], capture_output=True, text=True, check=True, env=env).stdout
    print(f"build: {shlex.join([cc, *flags])}; vector {vbytes * 8} bits; {a.threads} thread(s); "
          f"load {os.getloadavg()[0]:.1f}")
    lines = out.splitlines()
    fr = float(lines[0].split()[1])
    print(f"peak FMA rate (one core, measured): {fr / 1e9:.1f} G FMA/s\n")
    print("| layer | kernel | sdk us | FMA bound us | memory bound us (stream) | bound us | % of bound |")
    print("|---|---|---|---|---|---|---|")
    for ln in lines[1:]:
        f = ln.split()
        d = dict(zip(f[::2], f[1::2]))
        stream_us, fmas = float(d["stream_us"]), float(d["fmas"])
        fma_us = 1e6 * fmas / fr
        bound = max(fma_us, stream_us)
        for kernel, key in (("NHWC (models)", "nhwc_us"), ("NCHW", "sdk_us")):
            us = float(d[key])
            print(f"| dw3x3 s1 {d['shape']} | {kernel} | {us:.1f} | {fma_us:.1f} | {stream_us:.1f} | {bound:.1f} | "
                  f"{100 * bound / us:.0f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
