"""How close a decoder step's weight products are to the core's cache bandwidth: the bound of batch-1 decoding.

    python bench/gemv_bound.py [MODEL.onnx] [--rows 1 4] [--trials 300]

Compiles MODEL (default ``/tmp/bench_gpt_step.ts.onnx``, the 3.7 M-parameter GPT-2-style step of bench/generate.py:
``/work/torchenv/bin/python tests/models/generate/make_tiny_gpt.py /tmp --bench``) for generation, takes its
``sdk_gemv_f32`` calls (N x K of each weight, in step order), and times in one C program (the host profile's flags,
one thread), over one buffer holding all those weights back to back (as the bundle's weights are):

- **stream**: one pass reading the whole buffer with vector loads and adds (nothing else): the rate one core reads
  data that does not fit its L2 (here: from L3), the bound for any kernel that reads every weight once per token;
- **gemv**: the step's ``sdk_gemv_f32`` calls in order, at each row count (1: greedy, 4: 4 beams);
- **stream, half the bytes** and **gemv f16**: the same with the weights as float16 (``sdk_gemv_f16w_f32``, what
  ``--weights fp16`` stores): the bound is then reading half the bytes.

Minimum over ``--trials`` passes (the least disturbed one: a shared machine's other load only adds time). Prints
microseconds and GB/s (weight bytes / time) per pass and per matrix."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HARNESS = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "sdk_gemv.h"
typedef float vf __attribute__((vector_size(64), aligned(4), may_alias));
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static float stream(const float *p, size_t n) {
  vf a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
  for (size_t i = 0; i + 64 <= n; i += 64) {
    a0 += *(const vf *)(p + i); a1 += *(const vf *)(p + i + 16);
    a2 += *(const vf *)(p + i + 32); a3 += *(const vf *)(p + i + 48);
  }
  a0 += a1 + a2 + a3;
  float s = 0; for (int j = 0; j < 16; ++j) s += a0[j]; return s;
}
static const long long NK[][2] = {SHAPES};
int main(int argc, char **argv) {
  const int nm = (int)(sizeof(NK) / sizeof(NK[0])), trials = atoi(argv[1]);
  size_t tot = 0;
  for (int i = 0; i < nm; ++i) tot += (size_t)(NK[i][0] * NK[i][1]);
  float *w = malloc(tot * sizeof(float)), *x = malloc(8 * 8192 * sizeof(float)), *y = malloc(8 * 8192 * sizeof(float));
  uint16_t *h = malloc(tot * sizeof(uint16_t));
  for (size_t i = 0; i < tot; ++i) w[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
  for (size_t i = 0; i < tot; ++i) h[i] = (uint16_t)(0x3000u + (i * 2654435761u) % 0x0c00u);
  for (int i = 0; i < 8 * 8192; ++i) x[i] = 1e-3f * (float)(i % 977);
  volatile float sink = 0;
  double best = 1e30;
  for (int t = 0; t < trials; ++t) { double t0 = now(); sink += stream(w, tot); double d = now() - t0; if (d < best) best = d; }
  printf("stream %zu %.3f\n", tot * 4, best * 1e6);
  best = 1e30;
  for (int t = 0; t < trials; ++t) { double t0 = now(); sink += stream(w, tot / 2); double d = now() - t0; if (d < best) best = d; }
  printf("stream16 %zu %.3f\n", tot * 2, best * 1e6);
  for (int a = 2; a < 2 * argc - 2; ++a) {
    const int half = a >= argc, rows = atoi(argv[half ? a - argc + 2 : a]);
    double *per = malloc(sizeof(double) * nm), all = 1e30;
    for (int i = 0; i < nm; ++i) per[i] = 1e30;
    for (int t = 0; t < trials; ++t) {
      const float *p = w;
      const uint16_t *q = h;
      double t0 = now();
      for (int i = 0; i < nm; ++i) {
        double a0 = now();
        if (half)
          sdk_gemv_f16w_f32(rows, NK[i][0], NK[i][1], x, NK[i][1], 1, q, 0, 0, 0, 0, 0.0f, 0.0f, y);
        else
          sdk_gemv_f32(rows, NK[i][0], NK[i][1], x, NK[i][1], 1, p, 0, 0, 0, 0, 0.0f, 0.0f, y);
        double d = now() - a0;
        if (d < per[i]) per[i] = d;
        p += NK[i][0] * NK[i][1];
        q += NK[i][0] * NK[i][1];
      }
      double d = now() - t0;
      if (d < all) all = d;
    }
    printf("%s %d %.3f", half ? "gemv16" : "gemv", rows, all * 1e6);
    for (int i = 0; i < nm; ++i) printf(" %.3f", per[i] * 1e6);
    printf("\n");
    free(per);
  }
  return (int)(sink * 0.0f);
}
"""


def gemv_shapes(model_path):
    """(N, K) of each sdk_gemv_f32 call of the model compiled for generation (batch 4, max_len 64)."""
    import sdk
    b = sdk.compile(str(model_path), dims={"batch": 4, "max_len": 64}, generate=True, name="bound")
    out = []
    for s in b.program.steps:
        if getattr(s, "fn", None) == "sdk_gemv_f32":
            out.append((int(s.arg("N")), int(s.arg("K"))))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="/tmp/bench_gpt_step.ts.onnx")
    ap.add_argument("--rows", nargs="*", type=int, default=[1, 4])
    ap.add_argument("--trials", type=int, default=300)
    a = ap.parse_args()
    from sdk.resources import RUNTIME
    from sdk.targets import load_target
    shapes = gemv_shapes(a.model)
    flags = [f for f in load_target("host").cflags if f != "-fopenmp"]
    with tempfile.TemporaryDirectory() as td:
        src = Path(td) / "bound.c"
        src.write_text(HARNESS.replace("SHAPES", ", ".join(f"{{{n}, {k}}}" for n, k in shapes)))
        exe = Path(td) / "bound"
        subprocess.run(["gcc", *flags, "-I", str(RUNTIME / "include"), str(src), str(RUNTIME / "src" / "sdk_gemv.c"),
                        "-o", str(exe), "-lm"], check=True)
        lines = subprocess.run([str(exe), str(a.trials)] + [str(r) for r in a.rows], capture_output=True, text=True,
                               check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout.splitlines()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    nbytes, us = int(lines[0].split()[1]), float(lines[0].split()[2])
    us16 = float(lines[1].split()[2])
    print(f"{a.model}: {len(shapes)} weight products, {nbytes / 1e6:.2f} MB of float32 weights; min of {a.trials} "
          f"passes, one thread; {load}")
    print("| pass | us | GB/s | vs stream |")
    print("|---|---|---|---|")
    print(f"| stream (read every weight once) | {us:.1f} | {nbytes / us / 1e3:.1f} | 1.00 |")
    print(f"| stream, half the bytes (float16 weights) | {us16:.1f} | {nbytes / 2 / us16 / 1e3:.1f} | "
          f"{us / us16:.2f} |")
    for line in lines[2:]:
        parts = line.split()
        half, rows, t = parts[0] == "gemv16", int(parts[1]), float(parts[2])
        name = "sdk_gemv_f16w_f32 (float16 weights)" if half else "sdk_gemv_f32"
        print(f"| {name}, {rows} row{'s' if rows > 1 else ''}, the step's {len(shapes)} products | {t:.1f} | "
              f"{nbytes / (2 if half else 1) / t / 1e3:.1f} | {us / t:.2f} |")
        per = {}
        for (n, k), ti in zip(shapes, map(float, parts[3:])):
            per.setdefault((n, k), []).append(ti)
        print("  per weight (min us, GB/s): " + "; ".join(
            f"{n}x{k}: {min(v):.1f} ({n * k * (2 if half else 4) / min(v) / 1e3:.1f})" for (n, k), v in per.items()))


if __name__ == "__main__":
    main()
