/* Sparse int8 products (see sdk_sparse_int8.h). One column of X at a time, minus its zero point, in int16
 * scratch; each CSR row is a sparse dot product over it with two accumulators (Cortex-M4 runs MLA back to back).
 * The requantization is sdk_kernels_int8.c's (bit for bit), repeated here so this file builds on its own. */
#include <stdint.h>

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

/* One CSR row over the gathered column: 32-bit counters and pointer walks in the hot loop (int64 arithmetic is
 * several instructions on a 32-bit core). */
#define SQ_KERNEL(CT)                                                                                        \
  int64_t b, p, o;                                                                                           \
  for (b = 0; b < batch; ++b)                                                                                \
    for (p = 0; p < P; ++p) {                                                                                \
      const int8_t *x = X + b * x_bs + p * x_ps;                                                             \
      int8_t *y = Y + b * y_bs + p * y_ps;                                                                   \
      int32_t k;                                                                                             \
      for (k = 0; k < (int32_t)K; ++k, x += x_ks) scratch[k] = (int16_t)(*x - x_zp);                         \
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
