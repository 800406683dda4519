/* Driver of bench/vq_search_ab.py: exhaustive ADC and a tree search over the same queries, alternately, in one
 * process, by the thread's CPU clock (best of ROUNDS each); prints both times a query and a checksum of the tree
 * search's ids (equal checksums: the same results). Lookup tables 32 queries at a time (sdk_vq_search_batch).
 *
 *   vq_ab_driver FLAT.svq TREE.svq QUERIES.f32 NQ BUDGET MARGIN ROUNDS [ONLY]   (ONLY 1: exhaustive, 2: tree)
 */
#define _POSIX_C_SOURCE 200112L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdk_vq.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  void *b;
  if (!f) {
    perror(path);
    exit(1);
  }
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  if (posix_memalign(&b, 64, (*n + 63) / 64 * 64) || fread(b, 1, *n, f) != *n) exit(1);
  fclose(f);
  return b;
}

int main(int argc, char **argv) {
  size_t nf, nt, nqb, sf, st;
  sdk_vq_index fi, ti;
  sdk_vq_params pf = {10, 0, 0, 0, 0.0f}, pt = {10, 1, 0, 0, 0.0f};
  void *fb, *tb, *sfb, *stb;
  float *q, *od;
  uint32_t *oi, nq, rounds, r, i;
  int only;
  double bf = 1e30, bt = 1e30;
  uint64_t cs = 0;
  if (argc < 8) return fprintf(stderr, "usage: %s FLAT TREE QUERIES NQ BUDGET MARGIN ROUNDS [ONLY]\n", argv[0]), 2;
  fb = slurp(argv[1], &nf), tb = slurp(argv[2], &nt), q = slurp(argv[3], &nqb);
  nq = (uint32_t)atoi(argv[4]), pt.budget = (uint32_t)atoi(argv[5]), pt.margin = (float)atof(argv[6]);
  rounds = (uint32_t)atoi(argv[7]), only = argc > 8 ? atoi(argv[8]) : 0;
  if (sdk_vq_open(&fi, fb, nf) != SDK_OK || sdk_vq_open(&ti, tb, nt) != SDK_OK) return fprintf(stderr, "bad index\n"), 1;
  if (nqb < (size_t)nq * fi.dim * 4u) return fprintf(stderr, "too few queries\n"), 1;
  sdk_vq_batch_scratch_size(&fi, &pf, 32, &sf);
  sdk_vq_batch_scratch_size(&ti, &pt, 32, &st);
  od = malloc((size_t)nq * 10 * sizeof(float)), oi = malloc((size_t)nq * 10 * sizeof(uint32_t));
  if (!od || !oi || posix_memalign(&sfb, 64, sf) || posix_memalign(&stb, 64, st)) return 1;
  for (r = 0; r < rounds; r++) {
    double t0 = now(), t1, t2;
    if (only != 2) sdk_vq_search_batch(&fi, q, nq, &pf, sfb, sf, od, oi);
    t1 = now();
    if (only != 1) sdk_vq_search_batch(&ti, q, nq, &pt, stb, st, od, oi);
    t2 = now();
    if (t1 - t0 < bf) bf = t1 - t0;
    if (t2 - t1 < bt) bt = t2 - t1;
  }
  for (i = 0; i < nq * 10u; i++) cs = cs * 31u + oi[i];
  printf("exhaustive_us %.2f tree_us %.2f ids %016llx\n", 1e6 * bf / nq, 1e6 * bt / nq, (unsigned long long)cs);
  return 0;
}
