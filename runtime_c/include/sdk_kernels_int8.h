/* int8 kernels of quantized models (TFLite / CMSIS-NN arithmetic): per-tensor
 * asymmetric int8 activations (scale, zero point), per-channel symmetric int8
 * weights, int32 bias, requantization by an int32 multiplier (Q31) and a shift.
 * C99, no state, no malloc; scratch memory comes from the caller's arena. */
#ifndef SDK_KERNELS_INT8_H
#define SDK_KERNELS_INT8_H

#include <stdint.h>

/* round(acc * mult * 2^(shift - 31)) with TFLite's rounding (saturating doubling high multiply,
 * then rounding right shift) */
int32_t sdk_requantize(int32_t acc, int32_t mult, int32_t shift);

/* y = clamp(rint(x * inv_scale) + zp, -128, 127); y = (x - zp) * scale */
void sdk_quantize_f32_s8(int64_t n, const float *x, float inv_scale, int32_t zp, int8_t *y);
void sdk_dequantize_s8_f32(int64_t n, const int8_t *x, float scale, int32_t zp, float *y);

/* NCHW convolution (groups; depthwise when groups == C). W: [M, C/groups, KH, KW] int8; bias int32 [M]
 * or NULL; mult/shift per output channel; output clamped to [act_min, act_max].
 * scratch: C/groups*KH*KW + 4 int16 (one im2col column, zero point removed). */
void sdk_conv2d_s8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                   int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t groups,
                   const int8_t *X, int32_t x_zp, const int8_t *Wt, const int32_t *bias,
                   const int32_t *mult, const int32_t *shift, int32_t y_zp, int32_t act_min, int32_t act_max,
                   int8_t *Y, int16_t *scratch);

/* Y[m, n] = requant(sum_k (X[m, k] - x_zp) * W[n, k] + bias[n]); scratch: K + 4 int16 */
void sdk_fc_s8(int64_t M, int64_t N, int64_t K, const int8_t *X, int32_t x_zp, const int8_t *Wt,
               const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t y_zp, int32_t act_min,
               int32_t act_max, int8_t *Y, int16_t *scratch);

/* pooling keeps the input's scale and zero point */
void sdk_maxpool2d_s8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t KH, int64_t KW,
                      int64_t SH, int64_t SW, int64_t PH, int64_t PW, const int8_t *X, int8_t *Y);
void sdk_avgpool2d_s8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t KH, int64_t KW,
                      int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t count_include_pad, int32_t zp,
                      const int8_t *X, int8_t *Y);

/* Y = requant((A - a_zp) * 2^20 * ma + (B - b_zp) * 2^20 * mb) + y_zp, same shapes */
void sdk_add_s8(int64_t n, const int8_t *A, int32_t a_zp, int32_t a_mult, int32_t a_shift, const int8_t *B,
                int32_t b_zp, int32_t b_mult, int32_t b_shift, int32_t y_mult, int32_t y_shift, int32_t y_zp,
                int32_t act_min, int32_t act_max, int8_t *Y);

#endif
