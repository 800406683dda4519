"""The C runtime's lookup-table kernel alone (issue 20): a query's table is 8 stages x 256 codewords x dim
multiply-adds, a (queries x dim) by (dim x 2048) matrix product. Times `lut_stage` of runtime_c/src/sdk_vq.c (the
kernel `sdk_vq_search_batch` runs, with the CPU dispatch it does) on random codebooks and queries, for groups of
queries computed together, in the exact build (multiply, then add: the same entries bit for bit as the baseline
kernel, checked here) and with -DSDK_VQ_LUT_FMA=1 (fused multiply-adds). Builds alternate round by round, the best
of the rounds is kept, by the thread's CPU clock; G/s is multiply-adds a second, next to the core's FMA peak.

    python3 bench/vq_lut_bench.py [--dims 384,48] [--groups 1,8,16,32,64] [--rounds 5] [--peak 88.6]

dim 48 keeps the 8 codebooks (393 KB) in L2; dim 384 (3.1 MB) does not on a 2 MB-L2 core.
"""
import argparse
import os
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "runtime_c"

DRIVER = r'''
#define _POSIX_C_SOURCE 199309L
#include "sdk_vq.c"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) { /* DIM GROUP REPS [OFFSET]: best seconds per query */
  const uint32_t M = 8, K = 256, D = (uint32_t)atoi(argv[1]), G = (uint32_t)atoi(argv[2]), reps = (uint32_t)atoi(argv[3]);
  const size_t off = argc > 4 ? (size_t)atoi(argv[4]) : 0; /* bytes past a 64-byte boundary of the codebooks */
  const uint32_t NQ = 64; /* queries per repetition, in groups of G */
  uint8_t *raw = malloc(4ull * M * K * D + 128);
  float *book = (float *)(void *)(raw + (64u - (uintptr_t)raw % 64u) + off), *q = malloc(4ull * NQ * D), *lut = malloc(4ull * NQ * M * K), *ref = malloc(4ull * NQ * M * K);
  sdk_vq_index idx;
  uint32_t r, m, g, same = 1;
  double best = 1e30;
  srand(1);
  for (size_t i = 0; i < (size_t)M * K * D; i++) book[i] = (float)rand() / RAND_MAX - 0.5f;
  for (size_t i = 0; i < (size_t)NQ * D; i++) q[i] = (float)rand() / RAND_MAX - 0.5f;
  memset(&idx, 0, sizeof idx);
  idx.ksub = K, idx.dim = D, idx.stages = M, idx.codebooks = (const uint8_t *)book;
  for (m = 0; m < M; m++) lut_stage_base(&idx, m, q, NQ, ref + (size_t)m * K, (size_t)M * K);
  for (r = 0; r < reps; r++) {
    double t0 = now(), t;
    for (g = 0; g < NQ; g += G)
      for (m = 0; m < M; m++)
        lut_stage(&idx, m, q + (size_t)g * D, NQ - g < G ? NQ - g : G, lut + (size_t)g * M * K + (size_t)m * K, (size_t)M * K);
    t = now() - t0;
    if (t < best) best = t;
  }
  same = memcmp(lut, ref, 4ull * NQ * M * K) == 0;
  printf("%.9g %u\n", best / NQ, same);
  return 0;
}
'''


def build(folder, fma):
    exe = folder / ("lut_fma" if fma else "lut_exact")
    src = folder / "driver.c"
    src.write_text(DRIVER)
    cmd = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", f"-I{RUNTIME / 'include'}", f"-I{RUNTIME / 'src'}",
           *(["-DSDK_VQ_LUT_FMA=1"] if fma else []), "-o", str(exe), str(src), str(RUNTIME / "src/sdk_status.c")]
    subprocess.run(cmd, check=True)
    return exe


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", default="384,48")
    ap.add_argument("--groups", default="1,8,16,32,64")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--peak", type=float, default=88.6, help="the core's FMA peak, G multiply-adds a second "
                    "(2 FMA ports x 16 floats x the clock)")
    a = ap.parse_args()
    dims, groups = [int(x) for x in a.dims.split(",")], [int(x) for x in a.groups.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        exes = {"exact": build(Path(tmp), False), "FMA": build(Path(tmp), True)}
        best, exact = {}, {}
        for _ in range(a.rounds):
            for d in dims:
                for g in groups:
                    for name, exe in exes.items():
                        reps = max(3, 30 * 48 // d)
                        out = subprocess.run([str(exe), str(d), str(g), str(reps)], capture_output=True, text=True,
                                             check=True).stdout.split()
                        key = (name, d, g)
                        best[key] = min(best.get(key, 1e30), float(out[0]))
                        exact[key] = out[1] == "1"
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; FMA peak {a.peak} G/s; best of {a.rounds}\n")
    print("| dim | group | exact: us a query | G/s | % of FMA peak | bit for bit the baseline's | "
          "FMA: us a query | G/s | % of FMA peak | FMA / exact |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d in dims:
        for g in groups:
            e, f = best[("exact", d, g)], best[("FMA", d, g)]
            macs = 8 * 256 * d
            print(f"| {d} | {g} | {e * 1e6:.1f} | {macs / e * 1e-9:.1f} | {100 * macs / e * 1e-9 / a.peak:.0f}% | "
                  f"{'yes' if exact[('exact', d, g)] else 'NO'} | {f * 1e6:.1f} | {macs / f * 1e-9:.1f} | "
                  f"{100 * macs / f * 1e-9 / a.peak:.0f}% | {e / f:.2f}x |")


if __name__ == "__main__":
    main()
