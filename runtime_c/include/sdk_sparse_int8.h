/* Sparse int8 products for quantized models (sdk/transform/sparsify.py rewrites sdk.QFC and 1x1 sdk.QConv with a
 * weight that is mostly zeros): CSR of int8 weights, the quantization of sdk_kernels_int8.h (per-output multiplier
 * and shift, zero points, clamp), bit-exact with the dense int8 kernels (integer sums do not depend on the order).
 *   acc[b, o, p] = bias[o] + sum_j vals[j] * (X[b*x_bs + cols[j]*x_ks + p*x_ps] - x_zp), rowptr[o] <= j < rowptr[o+1]
 *   Y[b*y_bs + o*y_os + p*y_ps] = clamp(requantize(acc, mult[o], shift[o]) + y_zp, act_min, act_max)
 * scratch: 2K int16 (two columns of X minus their zero point, as pairs). C99, no malloc, no globals. */
#ifndef SDK_SPARSE_INT8_H
#define SDK_SPARSE_INT8_H

#include <stdint.h>

void sdk_spmm_csr_s8_u8(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
    const uint8_t *cols, const int8_t *vals, const int8_t *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    int32_t x_zp, const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t y_zp,
    int32_t act_min, int32_t act_max, int8_t *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, int16_t *scratch);
void sdk_spmm_csr_s8_u16(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
    const uint16_t *cols, const int8_t *vals, const int8_t *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    int32_t x_zp, const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t y_zp,
    int32_t act_min, int32_t act_max, int8_t *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, int16_t *scratch);
void sdk_spmm_csr_s8_i32(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
    const int32_t *cols, const int8_t *vals, const int8_t *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    int32_t x_zp, const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t y_zp,
    int32_t act_min, int32_t act_max, int8_t *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, int16_t *scratch);

#endif
