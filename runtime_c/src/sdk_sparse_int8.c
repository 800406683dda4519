/* Sparse int8 products (see sdk_sparse_int8.h). Two columns of X at a time, minus their zero point, as pairs of
 * int16 in the scratch; each CSR row is a sparse dot product over them, four stored values per step in SMLAD pairs
 * (below); an odd last column runs alone with two accumulators.
 * The requantization is sdk_kernels_int8.c's (bit for bit), repeated here so this file builds on its own. */
#include <stdint.h>
#include <string.h>

#include "sdk_sparse_int8.h"

/* sdk_kernels_int8.c's srdhm with the division by 2^31 (rounding toward zero) as shifts: the same value, without a
 * 64-bit division call on 32-bit cores */
static int32_t sq_srdhm(int32_t a, int32_t b) {
  int64_t t;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  t = (int64_t)a * (int64_t)b;
  t += t >= 0 ? (INT64_C(1) << 30) : 1 - (INT64_C(1) << 30);
  return (int32_t)(t >= 0 ? t >> 31 : -((-t) >> 31));
}

static int32_t sq_rounding_shift_right(int32_t x, int32_t e) {
  const int32_t mask = (int32_t)((UINT32_C(1) << e) - 1u);
  const int32_t rem = x & mask, threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (rem > threshold ? 1 : 0);
}

static int32_t sq_requantize(int32_t acc, int32_t mult, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  return sq_rounding_shift_right(sq_srdhm((int32_t)((uint32_t)acc << left), mult), right);
}

static int8_t sq_clamp8(int32_t v, int32_t lo, int32_t hi) { return (int8_t)(v < lo ? lo : v > hi ? hi : v); }

/* Pairs of 16-bit values (the DSP extension's SMLAD: two multiply-adds in one instruction, where the profile says
 * the core has it and the compiler targets it; the same arithmetic in C elsewhere, so every target runs one
 * algorithm). Two columns p, p + 1 are gathered as one word per input k: (X[k, p] - x_zp) in the low half,
 * (X[k, p + 1] - x_zp) in the high half, so each stored weight and index is read once for two outputs, and four
 * stored values (one 32-bit load of int8 weights, split into (w0, w2) and (w1, w3) by SXTB16) go into four SMLADs
 * with their columns' halves paired by PKHBT / PKHTB. Integer sums: bit-exact with the one-column loop. */
#if defined(SDK_HAVE_DSP) && defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define SQ_SMLAD(x, y, acc) __smlad((int16x2_t)(x), (int16x2_t)(y), (acc))
#define SQ_SXTB16(v) ((uint32_t)__sxtb16((int8x4_t)(v)))
#else
static inline int32_t sq_smlad(uint32_t x, uint32_t y, int32_t acc) {
  return acc + (int32_t)(int16_t)(x & 0xFFFFu) * (int32_t)(int16_t)(y & 0xFFFFu) +
         (int32_t)(int16_t)(x >> 16) * (int32_t)(int16_t)(y >> 16);
}
static inline uint32_t sq_sxtb16(uint32_t v) { /* bytes 0 and 2, sign-extended to 16 bits each */
  return (uint32_t)(uint16_t)(int16_t)(int8_t)(uint8_t)(v & 0xFFu) |
         (uint32_t)(uint16_t)(int16_t)(int8_t)(uint8_t)((v >> 16) & 0xFFu) << 16;
}
#define SQ_SMLAD(x, y, acc) sq_smlad((x), (y), (acc))
#define SQ_SXTB16(v) sq_sxtb16(v)
#endif

/* One CSR row over the gathered column(s): 32-bit counters and pointer walks in the hot loop (int64 arithmetic is
 * several instructions on a 32-bit core). scratch: K int16 for one column, or K words (2K int16) for two. */
#define SQ_KERNEL(CT)                                                                                        \
  int64_t b, p, o;                                                                                           \
  uint32_t *s2 = (uint32_t *)(void *)scratch;                                                                \
  for (b = 0; b < batch; ++b)                                                                                \
    for (p = 0; p < P; p += 2) {                                                                             \
      const int8_t *x = X + b * x_bs + p * x_ps;                                                             \
      int8_t *y = Y + b * y_bs + p * y_ps;                                                                   \
      int32_t k;                                                                                             \
      if (p + 1 < P) { /* two columns */                                                                     \
        for (k = 0; k < (int32_t)K; ++k, x += x_ks)                                                          \
          s2[k] = (uint32_t)(uint16_t)(int16_t)(x[0] - x_zp) | (uint32_t)(uint16_t)(int16_t)(x[x_ps] - x_zp) << 16; \
        for (o = 0; o < O; ++o, y += y_os) {                                                                 \
          const CT *c = cols + rowptr[o];                                                                    \
          const int8_t *w = vals + rowptr[o];                                                                \
          int32_t n = rowptr[o + 1] - rowptr[o], a0 = bias ? bias[o] : 0, a1 = a0;                           \
          for (; n >= 4; n -= 4, c += 4, w += 4) {                                                           \
            uint32_t wv;                                                                                     \
            memcpy(&wv, w, 4);                                                                               \
            {                                                                                                \
              const uint32_t w02 = SQ_SXTB16(wv), w13 = SQ_SXTB16((wv >> 8) | (wv << 24));                   \
              const uint32_t x0 = s2[c[0]], x1 = s2[c[1]], x2 = s2[c[2]], x3 = s2[c[3]];                     \
              a0 = SQ_SMLAD((x0 & 0xFFFFu) | (x2 << 16), w02, a0);                                           \
              a0 = SQ_SMLAD((x1 & 0xFFFFu) | (x3 << 16), w13, a0);                                           \
              a1 = SQ_SMLAD((x0 >> 16) | (x2 & 0xFFFF0000u), w02, a1);                                       \
              a1 = SQ_SMLAD((x1 >> 16) | (x3 & 0xFFFF0000u), w13, a1);                                       \
            }                                                                                                \
          }                                                                                                  \
          for (; n; --n, ++c, ++w) {                                                                         \
            const uint32_t xv = s2[c[0]];                                                                    \
            a0 += (int32_t)w[0] * (int32_t)(int16_t)(xv & 0xFFFFu);                                          \
            a1 += (int32_t)w[0] * (int32_t)(int16_t)(xv >> 16);                                              \
          }                                                                                                  \
          y[0] = sq_clamp8(sq_requantize(a0, mult[o], shift[o]) + y_zp, act_min, act_max);                   \
          y[y_ps] = sq_clamp8(sq_requantize(a1, mult[o], shift[o]) + y_zp, act_min, act_max);                \
        }                                                                                                    \
        continue;                                                                                            \
      }                                                                                                      \
      for (k = 0; k < (int32_t)K; ++k, x += x_ks) scratch[k] = (int16_t)(*x - x_zp); /* the last column */  \
      for (o = 0; o < O; ++o, y += y_os) {                                                                   \
        const CT *c = cols + rowptr[o];                                                                      \
        const int8_t *w = vals + rowptr[o];                                                                  \
        int32_t n = rowptr[o + 1] - rowptr[o], acc = bias ? bias[o] : 0, acc2 = 0;                           \
        for (; n >= 2; n -= 2, c += 2, w += 2) { /* two independent sums: MACs overlap on in-order cores */  \
          acc += (int32_t)w[0] * scratch[c[0]];                                                              \
          acc2 += (int32_t)w[1] * scratch[c[1]];                                                             \
        }                                                                                                    \
        if (n) acc += (int32_t)w[0] * scratch[c[0]];                                                         \
        *y = sq_clamp8(sq_requantize(acc + acc2, mult[o], shift[o]) + y_zp, act_min, act_max);               \
      }                                                                                                      \
    }

void sdk_spmm_csr_s8_u8(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
    const uint8_t *cols, const int8_t *vals, const int8_t *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    int32_t x_zp, const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t y_zp,
    int32_t act_min, int32_t act_max, int8_t *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, int16_t *scratch) {
  SQ_KERNEL(uint8_t)
}

void sdk_spmm_csr_s8_u16(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
    const uint16_t *cols, const int8_t *vals, const int8_t *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    int32_t x_zp, const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t y_zp,
    int32_t act_min, int32_t act_max, int8_t *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, int16_t *scratch) {
  SQ_KERNEL(uint16_t)
}

void sdk_spmm_csr_s8_i32(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
    const int32_t *cols, const int8_t *vals, const int8_t *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    int32_t x_zp, const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t y_zp,
    int32_t act_min, int32_t act_max, int8_t *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, int16_t *scratch) {
  SQ_KERNEL(int32_t)
}

#undef SQ_KERNEL
