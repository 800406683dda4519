#include "sdk_kernels_int8.h"

#include <math.h>
#include <string.h>

/* The inner products run on the DSP extension's dual 16-bit MAC (SMLAD) where the target
 * profile says it exists (-DSDK_HAVE_DSP) and the compiler targets it; plain C elsewhere. */
#if defined(SDK_HAVE_DSP) && defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define SDK_USE_SMLAD 1
#endif

static int32_t srdhm(int32_t a, int32_t b) {
  int64_t ab;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  return (int32_t)((ab + (ab >= 0 ? (INT64_C(1) << 30) : 1 - (INT64_C(1) << 30))) / (INT64_C(1) << 31));
}

static int32_t rounding_shift_right(int32_t x, int32_t e) {
  const int32_t mask = (int32_t)((UINT32_C(1) << e) - 1u);
  const int32_t rem = x & mask, threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (rem > threshold ? 1 : 0);
}

int32_t sdk_requantize(int32_t acc, int32_t mult, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  return rounding_shift_right(srdhm((int32_t)((uint32_t)acc << left), mult), right);
}

static int8_t clamp8(int32_t v, int32_t lo, int32_t hi) {
  return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}

void sdk_quantize_f32_s8(int64_t n, const float *x, float inv_scale, int32_t zp, int8_t *y) {
  for (int64_t i = 0; i < n; ++i) {
    float q = rintf(x[i] * inv_scale);
    q = q < -1000.0f ? -1000.0f : q > 1000.0f ? 1000.0f : q; /* also maps NaN below */
    y[i] = clamp8((int32_t)q + zp, -128, 127);
  }
}

void sdk_dequantize_s8_f32(int64_t n, const int8_t *x, float scale, int32_t zp, float *y) {
  for (int64_t i = 0; i < n; ++i) y[i] = (float)((int32_t)x[i] - zp) * scale;
}

static int32_t dot_s16_s8(const int16_t *a, const int8_t *w, int32_t n, int32_t acc) {
  int32_t i = 0;
#if defined(SDK_USE_SMLAD)
  for (; i + 4 <= n; i += 4) {
    uint32_t wv, a01, a23;
    memcpy(&wv, w + i, 4);
    memcpy(&a01, a + i, 4);
    memcpy(&a23, a + i + 2, 4);
    {
      const int16x2_t w02 = __sxtb16((int8x4_t)wv), w13 = __sxtb16((int8x4_t)((wv >> 8) | (wv << 24)));
      const int16x2_t a02 = (int16x2_t)((a01 & 0xFFFFu) | (a23 << 16));
      const int16x2_t a13 = (int16x2_t)((a01 >> 16) | (a23 & 0xFFFF0000u));
      acc = __smlad(a02, w02, acc);
      acc = __smlad(a13, w13, acc);
    }
  }
#endif
  for (; i < n; ++i) acc += (int32_t)a[i] * (int32_t)w[i];
  return acc;
}

void sdk_conv2d_s8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                   int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t groups,
                   const int8_t *X, int32_t x_zp, const int8_t *Wt, const int32_t *bias,
                   const int32_t *mult, const int32_t *shift, int32_t y_zp, int32_t act_min, int32_t act_max,
                   int8_t *Y, int16_t *scratch) {
  const int32_t cin = (int32_t)(C / groups), cout = (int32_t)(M / groups), K = cin * (int32_t)(KH * KW);
  /* 32-bit index arithmetic: MCU tensors are far below 2^31 elements */
  for (int32_t n = 0; n < (int32_t)N; ++n)
    for (int32_t g = 0; g < (int32_t)groups; ++g)
      for (int32_t oh = 0; oh < (int32_t)OH; ++oh)
        for (int32_t ow = 0; ow < (int32_t)OW; ++ow) {
          int16_t *col = scratch;
          for (int32_t c = 0; c < cin; ++c) {
            const int8_t *xc = X + ((int64_t)n * C + (int64_t)g * cin + c) * H * W;
            for (int32_t kh = 0; kh < (int32_t)KH; ++kh) {
              const int32_t ih = oh * (int32_t)SH - (int32_t)PH + kh;
              for (int32_t kw = 0; kw < (int32_t)KW; ++kw) {
                const int32_t iw = ow * (int32_t)SW - (int32_t)PW + kw;
                *col++ = (ih >= 0 && ih < (int32_t)H && iw >= 0 && iw < (int32_t)W)
                             ? (int16_t)((int32_t)xc[ih * (int32_t)W + iw] - x_zp) : 0;
              }
            }
          }
          for (int32_t m = 0; m < cout; ++m) {
            const int32_t oc = g * cout + m;
            int32_t acc = dot_s16_s8(scratch, Wt + (int64_t)oc * K, K, bias ? bias[oc] : 0);
            acc = sdk_requantize(acc, mult[oc], shift[oc]) + y_zp;
            Y[(((int64_t)n * M + oc) * OH + oh) * OW + ow] = clamp8(acc, act_min, act_max);
          }
        }
}

void sdk_fc_s8(int64_t M, int64_t N, int64_t K, const int8_t *X, int32_t x_zp, const int8_t *Wt,
               const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t y_zp, int32_t act_min,
               int32_t act_max, int8_t *Y, int16_t *scratch) {
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t k = 0; k < K; ++k) scratch[k] = (int16_t)((int32_t)X[m * K + k] - x_zp);
    for (int64_t j = 0; j < N; ++j) {
      int32_t acc = dot_s16_s8(scratch, Wt + j * K, (int32_t)K, bias ? bias[j] : 0);
      acc = sdk_requantize(acc, mult[j], shift[j]) + y_zp;
      Y[m * N + j] = clamp8(acc, act_min, act_max);
    }
  }
}

void sdk_maxpool2d_s8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t KH, int64_t KW,
                      int64_t SH, int64_t SW, int64_t PH, int64_t PW, const int8_t *X, int8_t *Y) {
  for (int64_t p = 0; p < N * C; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int32_t best = -128;
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw) {
            const int64_t ih = oh * SH - PH + kh, iw = ow * SW - PW + kw;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W && X[(p * H + ih) * W + iw] > best)
              best = X[(p * H + ih) * W + iw];
          }
        Y[(p * OH + oh) * OW + ow] = (int8_t)best;
      }
}

void sdk_avgpool2d_s8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t KH, int64_t KW,
                      int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t count_include_pad, int32_t zp,
                      const int8_t *X, int8_t *Y) {
  for (int64_t p = 0; p < N * C; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        int32_t sum = 0, count = 0, avg;
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw) {
            const int64_t ih = oh * SH - PH + kh, iw = ow * SW - PW + kw;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
              sum += (int32_t)X[(p * H + ih) * W + iw] - zp;
              count++;
            } else if (count_include_pad && ih < H + PH && iw < W + PW) {
              count++; /* a padded zero: (zp - zp) */
            }
          }
        /* round half away from zero, as TFLite */
        avg = sum >= 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
        Y[(p * OH + oh) * OW + ow] = clamp8(avg + zp, -128, 127);
      }
}

void sdk_add_s8(int64_t n, const int8_t *A, int32_t a_zp, int32_t a_mult, int32_t a_shift, const int8_t *B,
                int32_t b_zp, int32_t b_mult, int32_t b_shift, int32_t y_mult, int32_t y_shift, int32_t y_zp,
                int32_t act_min, int32_t act_max, int8_t *Y) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t a = sdk_requantize(((int32_t)A[i] - a_zp) * (1 << 20), a_mult, a_shift);
    const int32_t b = sdk_requantize(((int32_t)B[i] - b_zp) * (1 << 20), b_mult, b_shift);
    Y[i] = clamp8(sdk_requantize(a + b, y_mult, y_shift) + y_zp, act_min, act_max);
  }
}
