/* Probe (not shipped; issue 20 lever 2): the lookup table <q, c_m,j> computed with AVX-512 BF16 (vdpbf16ps) against
 * the C runtime's float table, same run, same codebooks and queries. Built and run by bench/vq_lut_bf16.py:
 *
 *   vq_lut_bf16_probe ONE_ITEM_INDEX.svq QUERIES.f32 NQ ROUNDS
 *
 * The runtime's time is sdk_vq_search_batch (32 queries a group) over an index of one item: the table plus a
 * one-item scan. The bf16 kernel rounds each query and codeword to bf16 (nearest even) and keeps the codebooks as
 * pairs of dimensions per codeword ([stages][dim/2][ksub][2]), 2 queries x 128 codewords per pass. It also checks
 * that a portable emulation gives the same bits (each pair: the odd product added, then the even one, each add
 * rounded to float: the products of two bf16 values are exact in float), the form a fallback for targets without
 * the instruction (and the Python reference) would take. Needs dim even, ksub a multiple of 128. */
#define _POSIX_C_SOURCE 200112L
#include <immintrin.h>
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
static uint16_t to_bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
static float from_bf16(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float x;
  memcpy(&x, &u, 4);
  return x;
}
static void *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  void *b;
  if (!f) { perror(path); exit(1); }
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  if (posix_memalign(&b, 64, (*n + 63) / 64 * 64) || fread(b, 1, *n, f) != *n) exit(1);
  fclose(f);
  return b;
}

/* lut[g][m][j] for G queries (qb: bf16 [G][D]) from book [S][D/2][K][2] */
static void lut_bf16(const uint16_t *book, const uint16_t *qb, uint32_t G, uint32_t S, uint32_t D, uint32_t K,
                     float *lut) {
  uint32_t m, j, g, d, i;
  for (m = 0; m < S; m++)
    for (j = 0; j < K; j += 128)
      for (g = 0; g < G; g += 2) {
        const uint32_t g1 = g + 1 < G ? g + 1 : g;
        __m512 a[8], c[8];
        const uint16_t *b = book + (size_t)m * D * K + 2u * j;
        for (i = 0; i < 8; i++) a[i] = c[i] = _mm512_setzero_ps();
        for (d = 0; d < D / 2; d++) {
          uint32_t w0, w1;
          __m512bh q0, q1;
          memcpy(&w0, qb + (size_t)g * D + 2 * d, 4);
          memcpy(&w1, qb + (size_t)g1 * D + 2 * d, 4);
          q0 = (__m512bh)_mm512_set1_epi32((int)w0);
          q1 = (__m512bh)_mm512_set1_epi32((int)w1);
          for (i = 0; i < 8; i++) {
            __m512bh x = (__m512bh)_mm512_loadu_si512(b + (size_t)d * 2 * K + 32 * i);
            a[i] = _mm512_dpbf16_ps(a[i], x, q0);
            c[i] = _mm512_dpbf16_ps(c[i], x, q1);
          }
        }
        for (i = 0; i < 8; i++) {
          _mm512_storeu_ps(lut + ((size_t)g * S + m) * K + j + 16 * i, a[i]);
          _mm512_storeu_ps(lut + ((size_t)g1 * S + m) * K + j + 16 * i, c[i]);
        }
      }
}

int main(int argc, char **argv) {
  size_t nb, nqb, ss;
  sdk_vq_index idx;
  sdk_vq_params p = {10, 0, 0, 0, 0.0f};
  void *blob, *scratch;
  float *q, *lut, *od;
  uint16_t *book, *qb;
  uint32_t *oi, nq, S, D, K, G = 32, m, d, j, g, r, rounds, same = 0, total = 0;
  double t_rt = 1e30, t_bf = 1e30, err = 0, mag = 0;
  if (argc != 5) return fprintf(stderr, "usage: %s ONE_ITEM_INDEX.svq QUERIES.f32 NQ ROUNDS\n", argv[0]), 2;
  blob = slurp(argv[1], &nb);
  q = slurp(argv[2], &nqb);
  nq = (uint32_t)atoi(argv[3]);
  rounds = (uint32_t)atoi(argv[4]);
  if (sdk_vq_open(&idx, blob, nb) != SDK_OK) return fprintf(stderr, "bad index\n"), 1;
  S = idx.stages, D = idx.dim, K = idx.ksub;
  if (D % 2 || K % 128 || nq % G || nqb < (size_t)nq * D * 4) return fprintf(stderr, "unsupported shape\n"), 1;
  sdk_vq_batch_scratch_size(&idx, &p, G, &ss);
  if (posix_memalign(&scratch, 64, ss) || posix_memalign((void **)&lut, 64, (size_t)G * S * K * 4) ||
      posix_memalign((void **)&book, 64, (size_t)S * D * K * 2) || posix_memalign((void **)&qb, 64, (size_t)nq * D * 2))
    return 1;
  od = malloc((size_t)nq * 10 * 4), oi = malloc((size_t)nq * 10 * 4);
  for (m = 0; m < S; m++)
    for (d = 0; d < D; d++)
      for (j = 0; j < K; j++) {
        float x;
        memcpy(&x, idx.codebooks + 4 * (((size_t)m * D + d) * K + j), 4);
        book[(((size_t)m * (D / 2) + d / 2) * K + j) * 2 + (d & 1)] = to_bf16(x);
      }
  for (j = 0; j < nq * D; j++) qb[j] = to_bf16(q[j]);
  for (r = 0; r < rounds; r++) { /* alternately, best of each */
    double t0 = now(), t1, t2;
    sdk_vq_search_batch(&idx, q, nq, &p, scratch, ss, od, oi);
    t1 = now();
    for (g = 0; g < nq; g += G) lut_bf16(book, qb + (size_t)g * D, G, S, D, K, lut);
    t2 = now();
    if (t1 - t0 < t_rt) t_rt = t1 - t0;
    if (t2 - t1 < t_bf) t_bf = t2 - t1;
  }
  lut_bf16(book, qb, G, S, D, K, lut); /* the first group: check against the emulation and the float table */
  for (g = 0; g < G; g++)
    for (m = 0; m < S; m++)
      for (j = 0; j < K; j++) {
        float acc = 0;
        double exact = 0;
        for (d = 0; d < D; d += 2) {
          const uint16_t *c = book + (((size_t)m * (D / 2) + d / 2) * K + j) * 2;
          volatile float t = acc + from_bf16(qb[(size_t)g * D + d + 1]) * from_bf16(c[1]);
          float c0, cd;
          acc = t + from_bf16(qb[(size_t)g * D + d]) * from_bf16(c[0]);
          memcpy(&c0, idx.codebooks + 4 * (((size_t)m * D + d) * K + j), 4);
          memcpy(&cd, idx.codebooks + 4 * (((size_t)m * D + d + 1) * K + j), 4);
          exact += (double)q[(size_t)g * D + d] * c0 + (double)q[(size_t)g * D + d + 1] * cd;
        }
        same += acc == lut[((size_t)g * S + m) * K + j];
        total++;
        if (lut[((size_t)g * S + m) * K + j] - exact > err) err = lut[((size_t)g * S + m) * K + j] - exact;
        if (exact - lut[((size_t)g * S + m) * K + j] > err) err = exact - lut[((size_t)g * S + m) * K + j];
        if (exact > mag) mag = exact;
        if (-exact > mag) mag = -exact;
      }
  printf("runtime_float_us %.2f bf16_us %.2f emulation_same %u/%u max_abs_err %.3g max_abs_entry %.3g\n",
         1e6 * t_rt / nq, 1e6 * t_bf / nq, same, total, err, mag);
  return 0;
}
