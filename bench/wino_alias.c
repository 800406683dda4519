/* bench/wino_alias.c (rs47): does a Winograd layer slow down when its X, R, Y and scratch start at the same offset within
 * a 4 KiB page? Build: gcc -O3 -march=native -std=c11 -ffp-contract=fast -Iruntime_c/include bench/wino_alias.c
 * runtime_c/src/sdk_winograd.c -o /tmp/wino_alias; run: /tmp/wino_alias C HW m tb residual reps (bench/RESULTS_zoo.md, rs47) */
/* 4 KiB aliasing check: one Winograd layer, its X / R / Y / scratch at page-aligned offsets (as the arena stacks
 * whole-page tensors) or skewed by 17 cache lines each; the two placements alternate call by call, thread CPU clock */
#define _POSIX_C_SOURCE 200112L
#define _ISOC11_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sdk_winograd.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s C HW m tb residual reps\n", argv[0]);
    return 1;
  }
  const long C = atol(argv[1]), HW = atol(argv[2]), m = atol(argv[3]), tb = atol(argv[4]), res = atol(argv[5]), reps = atol(argv[6]);
  const long Cp = (C + 15) / 16 * 16, a = m + 2, t = (HW + m - 1) / m, Hp = t * m + 2;
  const long tbp = (tb + 11) / 12 * 12, scr = a * a * tbp * 2 * Cp + Hp * Hp * Cp + 16, n = C * HW * HW;
  const long ub = a * a * Cp * Cp;
  float *U = aligned_alloc(4096, ub * 4), *bias = aligned_alloc(64, C * 4);
  float *mem = aligned_alloc(4096, (3 * n + scr + 65536) * 4);
  srand(1);
  for (long i = 0; i < ub; ++i) U[i] = (float)rand() / RAND_MAX - 0.5f;
  for (long i = 0; i < C; ++i) bias[i] = 0.1f;
  double best[2] = {1e9, 1e9}, *ts[2] = {malloc(reps * 8), malloc(reps * 8)};
  const long page = 1024; /* floats */
  for (long r = 0; r < reps; ++r)
    for (int k = 0; k < 2; ++k) {
      const long sk = k ? 272 : 0; /* 1088 bytes */
      const long xo = 0, yo = (n + page - 1) / page * page + sk, ro = yo + (n + page - 1) / page * page + sk,
                 so = ro + (n + page - 1) / page * page + sk;
      if (r == 0) for (long i = 0; i < n; ++i) mem[xo + i] = mem[ro + i] = (float)(i % 7) - 3.0f;
      double t0 = now();
      sdk_winograd_f32(1, C, HW, HW, C, HW, HW, 1, 1, m, tb, mem + xo, U, bias, res ? mem + ro : NULL, 1, 0, 0, 0,
                       mem + yo, mem + so);
      double dt = now() - t0;
      ts[k][r] = dt;
      if (dt < best[k]) best[k] = dt;
    }
  qsort(ts[0], reps, 8, cmp); qsort(ts[1], reps, 8, cmp);
  printf("C %ld HW %ld m %ld tb %ld res %ld: page-aligned min %.1f med %.1f us, skewed min %.1f med %.1f us, skewed/aligned %.3f min %.3f med\n",
         C, HW, m, tb, res, 1e6 * best[0], 1e6 * ts[0][reps / 2], 1e6 * best[1], 1e6 * ts[1][reps / 2], best[1] / best[0], ts[1][reps / 2] / ts[0][reps / 2]);
  return 0;
}
