#include "sdk_kernels_int8.h"

#include <math.h>
#include <string.h>

/* The inner products run on the DSP extension's dual 16-bit MAC (SMLAD) where the target
 * profile says it exists (-DSDK_HAVE_DSP) and the compiler targets it; plain C elsewhere. */
#if defined(SDK_HAVE_DSP) && defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define SDK_USE_SMLAD 1
#endif

/* ARM64 (phones): NEON widening multiply-adds where the profile asks for NEON (-DSDK_HAVE_NEON); with
 * -DSDK_HAVE_DOTPROD and a compiler targeting ARMv8.2-A dotprod, SDOT on raw int8 data instead (4 MACs per lane),
 * the zero point taken out afterwards: sum (x - zp) * w = sum x * w - zp * sum w. */
#if defined(SDK_HAVE_NEON) && defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define SDK_USE_NEON 1
#if defined(SDK_HAVE_DOTPROD) && defined(__ARM_FEATURE_DOTPROD)
#define SDK_USE_SDOT 1
#endif
#endif

#if defined(SDK_USE_SDOT)
/* acc + sum_i (x[i] - zp) * w[i]; unsigned sums: the exact result fits int32, partial sums may wrap */
static int32_t dot_s8_zp(const int8_t *x, int32_t zp, const int8_t *w, int32_t n, int32_t acc) {
  int32x4_t s = vdupq_n_s32(0), sw = s;
  int32x2_t s2 = vdup_n_s32(0), sw2 = s2;
  int32_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const int8x16_t wv = vld1q_s8(w + i);
    s = vdotq_s32(s, vld1q_s8(x + i), wv);
    sw = vdotq_s32(sw, vdupq_n_s8(1), wv);
  }
  for (; i + 8 <= n; i += 8) {
    const int8x8_t wv = vld1_s8(w + i);
    s2 = vdot_s32(s2, vld1_s8(x + i), wv);
    sw2 = vdot_s32(sw2, vdup_n_s8(1), wv);
  }
  {
    uint32_t u = (uint32_t)acc + (uint32_t)(vaddvq_s32(s) + vaddv_s32(s2)) -
                 (uint32_t)zp * (uint32_t)(vaddvq_s32(sw) + vaddv_s32(sw2));
    for (; i < n; ++i) u += (uint32_t)(((int32_t)x[i] - zp) * (int32_t)w[i]);
    return (int32_t)u;
  }
}
#define SDK_COL_T int8_t /* im2col column: raw int8, x_zp in the padding */
#define SDK_COL(v) (v)
#define SDK_COL_PAD ((int8_t)x_zp)
#define SDK_DOT(col, w, n, acc) dot_s8_zp((const int8_t *)(col), x_zp, w, n, acc)
#else
#define SDK_COL_T int16_t /* im2col column: int16 with the zero point removed */
#define SDK_COL(v) ((int16_t)((int32_t)(v) - x_zp))
#define SDK_COL_PAD 0
#define SDK_DOT(col, w, n, acc) dot_s16_s8(col, w, n, acc)
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

/* inlined into the kernels (one per output element: a call costs a 32-bit core as much as the arithmetic) */
static inline int32_t requantize(int32_t acc, int32_t mult, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  return rounding_shift_right(srdhm((int32_t)((uint32_t)acc << left), mult), right);
}

int32_t sdk_requantize(int32_t acc, int32_t mult, int32_t shift) { return requantize(acc, mult, shift); }

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

#if !defined(SDK_USE_SDOT)
static int32_t dot_s16_s8(const int16_t *a, const int8_t *w, int32_t n, int32_t acc) {
  int32_t i = 0;
#if defined(SDK_USE_NEON)
  {
    int32x4_t s0 = vdupq_n_s32(0), s1 = s0;
    for (; i + 8 <= n; i += 8) {
      const int16x8_t av = vld1q_s16(a + i), wv = vmovl_s8(vld1_s8(w + i));
      s0 = vmlal_s16(s0, vget_low_s16(av), vget_low_s16(wv));
      s1 = vmlal_high_s16(s1, av, wv);
    }
    acc += vaddvq_s32(vaddq_s32(s0, s1));
  }
#endif
#if defined(SDK_USE_SMLAD)
  /* the column is interleaved (interleave_col): a[i..i+3] holds x0 x2 x1 x3, the pairs SXTB16 makes of w */
  for (; i + 4 <= n; i += 4) {
    uint32_t wv, a02, a13;
    memcpy(&wv, w + i, 4);
    memcpy(&a02, a + i, 4);
    memcpy(&a13, a + i + 2, 4);
    {
      const int16x2_t w02 = __sxtb16((int8x4_t)wv), w13 = __sxtb16((int8x4_t)((wv >> 8) | (wv << 24)));
      acc = __smlad((int16x2_t)a02, w02, acc);
      acc = __smlad((int16x2_t)a13, w13, acc);
    }
  }
#endif
  for (; i < n; ++i) acc += (int32_t)a[i] * (int32_t)w[i];
  return acc;
}
#endif

#if !defined(SDK_USE_SDOT)
/* SMLAD: each group of 4 column entries reordered x0 x1 x2 x3 -> x0 x2 x1 x3 once per column, so every dot
 * product against it (one per output channel) loads its pairs directly; other builds keep the natural order. */
static void interleave_col(int16_t *col, int32_t K) {
#if defined(SDK_USE_SMLAD)
  for (int32_t i = 0; i + 4 <= K; i += 4) {
    const int16_t t = col[i + 1];
    col[i + 1] = col[i + 2];
    col[i + 2] = t;
  }
#else
  (void)col;
  (void)K;
#endif
}
#endif

#if defined(SDK_USE_NEON)
/* Four output channels at once (rows w, w + K, w + 2K, w + 3K) against one column: the column is loaded once
 * per step for 4 rows; the four sums come back in one vector. */
static int32x4_t dot4(const SDK_COL_T *col, int32_t x_zp, const int8_t *w, int32_t K) {
  const int8_t *w1 = w + K, *w2 = w1 + K, *w3 = w2 + K;
  int32_t i = 0;
  int32x4_t sum;
#if defined(SDK_USE_SDOT)
  int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0, z0 = s0, z1 = s0, z2 = s0, z3 = s0;
  const int8x16_t zv = vdupq_n_s8((int8_t)x_zp);
  for (; i + 16 <= K; i += 16) {
    const int8x16_t x = vld1q_s8(col + i), a = vld1q_s8(w + i), b = vld1q_s8(w1 + i), c = vld1q_s8(w2 + i),
                    d = vld1q_s8(w3 + i);
    s0 = vdotq_s32(s0, x, a);
    z0 = vdotq_s32(z0, zv, a);
    s1 = vdotq_s32(s1, x, b);
    z1 = vdotq_s32(z1, zv, b);
    s2 = vdotq_s32(s2, x, c);
    z2 = vdotq_s32(z2, zv, c);
    s3 = vdotq_s32(s3, x, d);
    z3 = vdotq_s32(z3, zv, d);
  }
  if (i + 8 <= K) {
    const int8x8_t x = vld1_s8(col + i), z8 = vget_low_s8(zv), a = vld1_s8(w + i), b = vld1_s8(w1 + i),
                   c = vld1_s8(w2 + i), d = vld1_s8(w3 + i);
    const int32x2_t zero = vdup_n_s32(0);
    s0 = vaddq_s32(s0, vcombine_s32(vdot_s32(zero, x, a), zero));
    z0 = vaddq_s32(z0, vcombine_s32(vdot_s32(zero, z8, a), zero));
    s1 = vaddq_s32(s1, vcombine_s32(vdot_s32(zero, x, b), zero));
    z1 = vaddq_s32(z1, vcombine_s32(vdot_s32(zero, z8, b), zero));
    s2 = vaddq_s32(s2, vcombine_s32(vdot_s32(zero, x, c), zero));
    z2 = vaddq_s32(z2, vcombine_s32(vdot_s32(zero, z8, c), zero));
    s3 = vaddq_s32(s3, vcombine_s32(vdot_s32(zero, x, d), zero));
    z3 = vaddq_s32(z3, vcombine_s32(vdot_s32(zero, z8, d), zero));
    i += 8;
  }
  /* sum (x - zp) * w = sum x * w - sum zp * w; wrapping int32 lanes give the exact result */
  sum = vsubq_s32(vpaddq_s32(vpaddq_s32(s0, s1), vpaddq_s32(s2, s3)),
                  vpaddq_s32(vpaddq_s32(z0, z1), vpaddq_s32(z2, z3)));
#define SDK_COL_VAL(v) ((int32_t)(v) - x_zp)
#else
  int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
  (void)x_zp;
  for (; i + 8 <= K; i += 8) {
    const int16x8_t x = vld1q_s16(col + i), a = vmovl_s8(vld1_s8(w + i)), b = vmovl_s8(vld1_s8(w1 + i)),
                    c = vmovl_s8(vld1_s8(w2 + i)), d = vmovl_s8(vld1_s8(w3 + i));
    s0 = vmlal_high_s16(vmlal_s16(s0, vget_low_s16(x), vget_low_s16(a)), x, a);
    s1 = vmlal_high_s16(vmlal_s16(s1, vget_low_s16(x), vget_low_s16(b)), x, b);
    s2 = vmlal_high_s16(vmlal_s16(s2, vget_low_s16(x), vget_low_s16(c)), x, c);
    s3 = vmlal_high_s16(vmlal_s16(s3, vget_low_s16(x), vget_low_s16(d)), x, d);
  }
  sum = vpaddq_s32(vpaddq_s32(s0, s1), vpaddq_s32(s2, s3));
#define SDK_COL_VAL(v) ((int32_t)(v))
#endif
  if (i < K) {
    int32_t t[4] = {0, 0, 0, 0};
    for (; i < K; ++i) {
      const int32_t x = SDK_COL_VAL(col[i]);
      t[0] += x * w[i];
      t[1] += x * w1[i];
      t[2] += x * w2[i];
      t[3] += x * w3[i];
    }
    sum = vaddq_s32(sum, vld1q_s32(t));
  }
#undef SDK_COL_VAL
  return sum;
}

/* sdk_requantize on four lanes (gemmlowp's NEON form: VQRDMULH is srdhm, the fixed-up VRSHL is the rounding
 * shift), then + y_zp and the clamp. Bit-exact with the scalar code. */
static int32x4_t requantize4(int32x4_t acc, int32x4_t mult, int32x4_t sh, int32_t y_zp, int32_t act_min,
                             int32_t act_max) {
  const int32x4_t zero = vdupq_n_s32(0);
  const int32x4_t right = vminq_s32(sh, zero); /* minus the right shift */
  int32x4_t x = vqrdmulhq_s32(vshlq_s32(acc, vmaxq_s32(sh, zero)), mult);
  x = vrshlq_s32(vqaddq_s32(x, vshrq_n_s32(vandq_s32(x, right), 31)), right);
  x = vaddq_s32(x, vdupq_n_s32(y_zp));
  return vminq_s32(vmaxq_s32(x, vdupq_n_s32(act_min)), vdupq_n_s32(act_max));
}

/* acc[0..3] (bias added here) -> y[0], y[stride], y[2 * stride], y[3 * stride] */
static void requantize4_store(int32x4_t acc, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                              int32_t y_zp, int32_t act_min, int32_t act_max, int8_t *y, int64_t stride) {
  int32_t v[4];
  if (bias) acc = vaddq_s32(acc, vld1q_s32(bias));
  vst1q_s32(v, requantize4(acc, vld1q_s32(mult), vld1q_s32(shift), y_zp, act_min, act_max));
  y[0] = (int8_t)v[0];
  y[stride] = (int8_t)v[1];
  y[2 * stride] = (int8_t)v[2];
  y[3 * stride] = (int8_t)v[3];
}

/* Depthwise (one input channel per output channel), stride 1: 8 output columns whose taps are all inside the
 * input row, y[0..7]; rows outside the input contribute zeros. 8 MACs per SMLAL pair. */
static void depthwise8(const int8_t *xc, int32_t H, int32_t W, int32_t KH, int32_t KW, int32_t ih0, int32_t iw0,
                       const int8_t *w, int32_t x_zp, int32_t bias, int32_t mult, int32_t shift, int32_t y_zp,
                       int32_t act_min, int32_t act_max, int8_t *y) {
  int32x4_t lo = vdupq_n_s32(bias), hi = lo;
  const int16x8_t zp = vdupq_n_s16((int16_t)x_zp);
  for (int32_t kh = 0; kh < KH; ++kh) {
    const int32_t ih = ih0 + kh;
    if (ih < 0 || ih >= H) continue;
    for (int32_t kw = 0; kw < KW; ++kw) {
      const int16x8_t x = vsubq_s16(vmovl_s8(vld1_s8(xc + ih * W + iw0 + kw)), zp);
      const int16_t wv = w[kh * KW + kw];
      lo = vmlal_n_s16(lo, vget_low_s16(x), wv);
      hi = vmlal_high_n_s16(hi, x, wv);
    }
  }
  {
    const int32x4_t m = vdupq_n_s32(mult), sh = vdupq_n_s32(shift);
    lo = requantize4(lo, m, sh, y_zp, act_min, act_max);
    hi = requantize4(hi, m, sh, y_zp, act_min, act_max);
    vst1_s8(y, vmovn_s16(vcombine_s16(vmovn_s32(lo), vmovn_s32(hi)))); /* already within int8 */
  }
}
#endif

#if !defined(SDK_USE_NEON)
/* Depthwise (one input and one output channel per group), one output plane without im2col: each output sums
 * (x - zp) * w over its taps inside the input (padding taps add (zp - zp) = 0), as the column path does, so the
 * result is the same integer. Interior outputs skip the bounds checks. */
static void depthwise_plane(const int8_t *xc, int32_t H, int32_t W, int32_t OH, int32_t OW, int32_t KH, int32_t KW,
                            int32_t SH, int32_t SW, int32_t PH, int32_t PW, const int8_t *w, int32_t x_zp,
                            int32_t bias, int32_t mult, int32_t shift, int32_t y_zp, int32_t act_min,
                            int32_t act_max, int8_t *y) {
  for (int32_t oh = 0; oh < OH; ++oh) {
    const int32_t ih0 = oh * SH - PH;
    const int32_t kh_lo = ih0 < 0 ? -ih0 : 0, kh_hi = ih0 + KH > H ? H - ih0 : KH;
    for (int32_t ow = 0; ow < OW; ++ow) {
      const int32_t iw0 = ow * SW - PW;
      const int32_t kw_lo = iw0 < 0 ? -iw0 : 0, kw_hi = iw0 + KW > W ? W - iw0 : KW;
      int32_t acc = bias;
      for (int32_t kh = kh_lo; kh < kh_hi; ++kh) {
        const int8_t *xr = xc + (ih0 + kh) * W + iw0, *wr = w + kh * KW;
        for (int32_t kw = kw_lo; kw < kw_hi; ++kw) acc += ((int32_t)xr[kw] - x_zp) * (int32_t)wr[kw];
      }
      y[oh * OW + ow] = clamp8(requantize(acc, mult, shift) + y_zp, act_min, act_max);
    }
  }
}
#endif

void sdk_conv2d_s8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                   int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t groups,
                   const int8_t *X, int32_t x_zp, const int8_t *Wt, const int32_t *bias,
                   const int32_t *mult, const int32_t *shift, int32_t y_zp, int32_t act_min, int32_t act_max,
                   int8_t *Y, int16_t *scratch) {
  const int32_t cin = (int32_t)(C / groups), cout = (int32_t)(M / groups), K = cin * (int32_t)(KH * KW);
  /* 32-bit index arithmetic: MCU tensors are far below 2^31 elements */
#if defined(SDK_USE_NEON)
  /* depthwise, stride 1: output columns [dw_lo, dw_hi) have every horizontal tap inside the input */
  const int depthwise = cin == 1 && cout == 1 && SW == 1;
  const int32_t dw_lo = (int32_t)PW, dw_hi = (int32_t)(W + PW - KW + 1);
#endif
#if !defined(SDK_USE_NEON)
  if (cin == 1 && cout == 1) {
    for (int32_t n = 0; n < (int32_t)N; ++n)
      for (int32_t g = 0; g < (int32_t)groups; ++g)
        depthwise_plane(X + ((int64_t)n * C + g) * H * W, (int32_t)H, (int32_t)W, (int32_t)OH, (int32_t)OW,
                        (int32_t)KH, (int32_t)KW, (int32_t)SH, (int32_t)SW, (int32_t)PH, (int32_t)PW,
                        Wt + (int64_t)g * K, x_zp, bias ? bias[g] : 0, mult[g], shift[g], y_zp, act_min, act_max,
                        Y + ((int64_t)n * M + g) * OH * OW);
    return;
  }
#endif
  for (int32_t n = 0; n < (int32_t)N; ++n)
    for (int32_t g = 0; g < (int32_t)groups; ++g)
      for (int32_t oh = 0; oh < (int32_t)OH; ++oh)
        for (int32_t ow = 0; ow < (int32_t)OW; ++ow) {
#if defined(SDK_USE_NEON)
          if (depthwise && ow >= dw_lo && ow + 8 <= dw_hi) {
            depthwise8(X + ((int64_t)n * C + g) * H * W, (int32_t)H, (int32_t)W, (int32_t)KH, (int32_t)KW,
                       oh * (int32_t)SH - (int32_t)PH, ow - (int32_t)PW, Wt + (int64_t)g * K, x_zp, bias ? bias[g] : 0,
                       mult[g], shift[g], y_zp, act_min, act_max, Y + (((int64_t)n * M + g) * OH + oh) * OW + ow);
            ow += 7;
            continue;
          }
#endif
          SDK_COL_T *col = (SDK_COL_T *)(void *)scratch;
          {
            /* every tap inside the input: the column without bounds checks */
            const int32_t ih0 = oh * (int32_t)SH - (int32_t)PH, iw0 = ow * (int32_t)SW - (int32_t)PW;
            if (ih0 >= 0 && ih0 + (int32_t)KH <= (int32_t)H && iw0 >= 0 && iw0 + (int32_t)KW <= (int32_t)W) {
              const int8_t *xs = X + ((int64_t)n * C + (int64_t)g * cin) * H * W + ih0 * (int32_t)W + iw0;
              for (int32_t c = 0; c < cin; ++c, xs += H * W)
                for (int32_t kh = 0; kh < (int32_t)KH; ++kh)
                  for (int32_t kw = 0; kw < (int32_t)KW; ++kw) *col++ = SDK_COL(xs[kh * (int32_t)W + kw]);
              goto column_done;
            }
          }
          {
            /* a border output: padding taps, then the span of each kernel row inside the input */
            const int32_t iw0 = ow * (int32_t)SW - (int32_t)PW;
            const int32_t kw_lo = iw0 < 0 ? -iw0 : 0, kw_hi = iw0 + (int32_t)KW > (int32_t)W ? (int32_t)W - iw0 : (int32_t)KW;
            for (int32_t c = 0; c < cin; ++c) {
              const int8_t *xc = X + ((int64_t)n * C + (int64_t)g * cin + c) * H * W;
              for (int32_t kh = 0; kh < (int32_t)KH; ++kh, col += KW) {
                const int32_t ih = oh * (int32_t)SH - (int32_t)PH + kh;
                for (int32_t kw = 0; kw < (int32_t)KW; ++kw) col[kw] = SDK_COL_PAD;
                if (ih < 0 || ih >= (int32_t)H) continue;
                for (int32_t kw = kw_lo; kw < kw_hi; ++kw) col[kw] = SDK_COL(xc[ih * (int32_t)W + iw0 + kw]);
              }
            }
          }
        column_done:;
#if !defined(SDK_USE_SDOT)
          interleave_col(scratch, K);
#endif
          int32_t m = 0;
#if defined(SDK_USE_NEON)
          for (; m + 4 <= cout; m += 4) {
            const int32_t oc = g * cout + m;
            requantize4_store(dot4((const SDK_COL_T *)(const void *)scratch, x_zp, Wt + (int64_t)oc * K, K),
                              bias ? bias + oc : NULL, mult + oc, shift + oc, y_zp, act_min, act_max,
                              Y + (((int64_t)n * M + oc) * OH + oh) * OW + ow, OH * OW);
          }
#endif
          for (; m < cout; ++m) {
            const int32_t oc = g * cout + m;
            int32_t acc = SDK_DOT(scratch, Wt + (int64_t)oc * K, K, bias ? bias[oc] : 0);
            acc = requantize(acc, mult[oc], shift[oc]) + y_zp;
            Y[(((int64_t)n * M + oc) * OH + oh) * OW + ow] = clamp8(acc, act_min, act_max);
          }
        }
}

void sdk_fc_s8(int64_t M, int64_t N, int64_t K, const int8_t *X, int32_t x_zp, const int8_t *Wt,
               const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t y_zp, int32_t act_min,
               int32_t act_max, int8_t *Y, int16_t *scratch) {
  for (int64_t m = 0; m < M; ++m) {
    SDK_COL_T *col = (SDK_COL_T *)(void *)scratch;
    for (int64_t k = 0; k < K; ++k) col[k] = SDK_COL(X[m * K + k]);
#if !defined(SDK_USE_SDOT)
    interleave_col(scratch, (int32_t)K);
#endif
    int64_t j = 0;
#if defined(SDK_USE_NEON)
    for (; j + 4 <= N; j += 4)
      requantize4_store(dot4(col, x_zp, Wt + j * K, (int32_t)K), bias ? bias + j : NULL, mult + j, shift + j, y_zp,
                        act_min, act_max, Y + m * N + j, 1);
#endif
    for (; j < N; ++j) {
      int32_t acc = SDK_DOT(scratch, Wt + j * K, (int32_t)K, bias ? bias[j] : 0);
      acc = requantize(acc, mult[j], shift[j]) + y_zp;
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
  /* 32-bit index arithmetic (MCU tensors are far below 2^31 elements; int64 costs a 32-bit core dearly) */
  const int32_t h = (int32_t)H, w = (int32_t)W, kh_n = (int32_t)KH, kw_n = (int32_t)KW;
  for (int32_t p = 0; p < (int32_t)(N * C); ++p)
    for (int32_t oh = 0; oh < (int32_t)OH; ++oh)
      for (int32_t ow = 0; ow < (int32_t)OW; ++ow) {
        const int32_t ih0 = oh * (int32_t)SH - (int32_t)PH, iw0 = ow * (int32_t)SW - (int32_t)PW;
        const int8_t *xp = X + (int64_t)p * H * W;
        int32_t sum = 0, count = 0, avg;
        if (ih0 >= 0 && iw0 >= 0 && ih0 + kh_n <= h && iw0 + kw_n <= w) {
          /* every tap inside (a global pool): sum (x - zp) = sum x - zp * taps, no bounds checks */
          for (int32_t kh = 0; kh < kh_n; ++kh) {
            const int8_t *row = xp + (ih0 + kh) * w + iw0;
            for (int32_t kw = 0; kw < kw_n; ++kw) sum += row[kw];
          }
          count = kh_n * kw_n;
          sum -= zp * count;
        } else {
          for (int32_t kh = 0; kh < kh_n; ++kh)
            for (int32_t kw = 0; kw < kw_n; ++kw) {
              const int32_t ih = ih0 + kh, iw = iw0 + kw;
              if (ih >= 0 && ih < h && iw >= 0 && iw < w) {
                sum += (int32_t)xp[ih * w + iw] - zp;
                count++;
              } else if (count_include_pad && ih < h + (int32_t)PH && iw < w + (int32_t)PW) {
                count++; /* a padded zero: (zp - zp) */
              }
            }
        }
        /* round half away from zero, as TFLite */
        avg = sum >= 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
        Y[(p * (int32_t)OH + oh) * (int32_t)OW + ow] = clamp8(avg + zp, -128, 127);
      }
}

void sdk_add_s8(int64_t n, const int8_t *A, int32_t a_zp, int32_t a_mult, int32_t a_shift, const int8_t *B,
                int32_t b_zp, int32_t b_mult, int32_t b_shift, int32_t y_mult, int32_t y_shift, int32_t y_zp,
                int32_t act_min, int32_t act_max, int8_t *Y) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t a = requantize(((int32_t)A[i] - a_zp) * (1 << 20), a_mult, a_shift);
    const int32_t b = requantize(((int32_t)B[i] - b_zp) * (1 << 20), b_mult, b_shift);
    Y[i] = clamp8(requantize(a + b, y_mult, y_shift) + y_zp, act_min, act_max);
  }
}
