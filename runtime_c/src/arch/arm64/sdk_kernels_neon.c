/* Library kernels for AArch64 + NEON: bundles for profiles with [cpu] neon (android-arm64, ios-arm64) compile this
 * file in place of sdk_kernels.c (the variant is declared in sdk/kernels/library.py). It includes the portable file,
 * renaming the kernels it replaces, and defines:
 * conv2d: dense and grouped k x k convolutions (any stride, pad, dilation) as im2col panels into a register-tiled
 *   GEMM: a block of KC rows x NC columns of the im2col matrix is packed on the stack (8-column sub-panels, zeros
 *   where a tap falls in the padding), then every 8 output channels x 8 columns of Y accumulate in 16 NEON
 *   registers over the block: per 4 k, 8 weight-row loads (4 k each), 8 panel loads, 64 FMLA by lane. 1x1
 *   stride-1 (pointwise) convolutions too: their panels are plain copies of 8 pixels of each channel plane.
 * epilogue (bias-free activations and residual adds after GEMM/conv, and inside the depthwise kernel): 4 lanes
 *   per step, exp as in sdk_math.h's sdk_expf, through the SDK_EPILOGUE_SIMD hook of the portable epilogue.
 * depthwise rows (3x3, 5x5, 7x7 at stride 1, and stride 2 on the parity-split plane): 2 output rows x 4 columns per
 *   step with FMLA, through the SDK_DW_ROWS_SIMD hook of the portable depthwise kernel (which pads the planes).
 * Without NEON (the bundle's CMake option SDK_NEON off, or another compiler target) every kernel is the portable
 * one. C99 + <arm_neon.h>, no malloc, no globals; the flat bundle folder holds sdk_kernels.c next to this file. */
#include "sdk_kernels.h"

#if defined(SDK_HAVE_NEON) && defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#include "sdk_math.h"

/* sdk_expf of 4 lanes, operation for operation (no fused multiply-adds: the portable C is built without
 * contraction), so the vector epilogue gives the scalar one's values bit for bit */
static inline float32x4_t n_expf(float32x4_t x) {
  const float32x4_t xc = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(88.72283f));
  const float32x4_t big = vdupq_n_f32(12582912.0f);
  const float32x4_t n = vsubq_f32(vaddq_f32(vmulq_f32(xc, vdupq_n_f32(1.44269504088896341f)), big), big);
  const float32x4_t r = vaddq_f32(vsubq_f32(xc, vmulq_f32(n, vdupq_n_f32(0.693359375f))),
                                  vmulq_f32(n, vdupq_n_f32(2.12194440e-4f)));
  float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
  p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(1.3981999507e-3f));
  p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(8.3334519073e-3f));
  p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(4.1665795894e-2f));
  p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(1.6666665459e-1f));
  p = vaddq_f32(vmulq_f32(p, r), vdupq_n_f32(5.0000001201e-1f));
  p = vaddq_f32(vaddq_f32(vmulq_f32(vmulq_f32(p, r), r), r), vdupq_n_f32(1.0f));
  const float32x4_t scale = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(126)), 23));
  p = vmulq_f32(vmulq_f32(p, scale), vdupq_n_f32(2.0f));
  p = vbslq_f32(vcgtq_f32(x, vdupq_n_f32(88.72283f)), vdupq_n_f32(INFINITY), p);
  p = vbslq_f32(vcltq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(0.0f), p);
  return vbslq_f32(vceqq_f32(x, x), p, x); /* NaN in, NaN out */
}

/* v < 0 ? 0 : (v > 1 ? 1 : v), NaN -> NaN as in sdk_clamp01 */
static inline float32x4_t n_clamp01(float32x4_t v) {
  const float32x4_t z = vdupq_n_f32(0.0f), o = vdupq_n_f32(1.0f);
  return vbslq_f32(vcltq_f32(v, z), z, vbslq_f32(vcgtq_f32(v, o), o, v));
}

/* x / d for sigmoid / SiLU's d = 1 + exp(-v): sdk_math.h sdk_div1pf (GCC's vector operators on NEON types) */
static inline float32x4_t n_div1p(float32x4_t x, float32x4_t d) {
  float32x4_t q;
  SDK_VDIV1P(q, x, d, float32x4_t, int32x4_t);
  return q;
}

/* the activations of sdk_epilogue_f32 on 4 lanes, with the scalar code's comparisons and operation order */
static inline float32x4_t n_act(float32x4_t v, int64_t act, float32x4_t a, float32x4_t b) {
  switch (act) {
    case SDK_ACT_RELU: return vbslq_f32(vcgtq_f32(v, vdupq_n_f32(0.0f)), v, vdupq_n_f32(0.0f));
    case SDK_ACT_CLIP: return vbslq_f32(vcltq_f32(v, a), a, vbslq_f32(vcgtq_f32(v, b), b, v));
    case SDK_ACT_HARDSIGMOID: return n_clamp01(vaddq_f32(vmulq_f32(a, v), b));
    case SDK_ACT_HARDSWISH:
      return vmulq_f32(v, n_clamp01(vaddq_f32(vmulq_f32(v, vdupq_n_f32(1.0f / 6.0f)), vdupq_n_f32(0.5f))));
    case SDK_ACT_SIGMOID: return n_div1p(vdupq_n_f32(1.0f), vaddq_f32(vdupq_n_f32(1.0f), n_expf(vnegq_f32(v))));
    case SDK_ACT_SILU: return n_div1p(v, vaddq_f32(vdupq_n_f32(1.0f), n_expf(vnegq_f32(v))));
    case SDK_ACT_LEAKYRELU: return vbslq_f32(vcltq_f32(v, vdupq_n_f32(0.0f)), vmulq_f32(v, a), v);
    default: return v;
  }
}

/* sdk_epilogue_f32's vector body (the hook SDK_EPILOGUE_SIMD in sdk_kernels.c): 4 lanes at a time, the last
 * n % 4 elements through a padded vector; threads split large n (as the portable loop does) */
#define N_EPI_FOR(ACT, PRAGMA)                                                                       \
  do {                                                                                               \
    PRAGMA                                                                                           \
    for (int64_t q = 0; q < n / 4; ++q) {                                                            \
      float32x4_t v = vld1q_f32(Y + 4 * q);                                                          \
      if (R) v = vaddq_f32(v, vld1q_f32(R + 4 * q));                                                 \
      vst1q_f32(Y + 4 * q, n_act(v, ACT, va, vb));                                                   \
    }                                                                                                \
  } while (0)
#define N_EPI(ACT)                                                                                   \
  do {                                                                                               \
    if (n >= SDK_PAR_MIN_WORK)                                                                       \
      N_EPI_FOR(ACT, SDK_OMP(parallel for schedule(static)));                                        \
    else                                                                                             \
      N_EPI_FOR(ACT, );                                                                              \
    if (n % 4) {                                                                                     \
      const int64_t i = n - n % 4;                                                                   \
      float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};                                                         \
      for (int64_t j = i; j < n; ++j) t[j - i] = R ? Y[j] + R[j] : Y[j];                              \
      vst1q_f32(t, n_act(vld1q_f32(t), ACT, va, vb));                                                \
      for (int64_t j = i; j < n; ++j) Y[j] = t[j - i];                                               \
    }                                                                                                \
  } while (0)
static int n_epilogue(int64_t n, float *restrict Y, const float *restrict R, int64_t act, float a, float b) {
  const float32x4_t va = vdupq_n_f32(a), vb = vdupq_n_f32(b);
  switch (act) { /* one loop per activation: the switch in n_act folds away */
    case SDK_ACT_RELU: N_EPI(SDK_ACT_RELU); return 1;
    case SDK_ACT_CLIP: N_EPI(SDK_ACT_CLIP); return 1;
    case SDK_ACT_HARDSIGMOID: N_EPI(SDK_ACT_HARDSIGMOID); return 1;
    case SDK_ACT_HARDSWISH: N_EPI(SDK_ACT_HARDSWISH); return 1;
    case SDK_ACT_SIGMOID: N_EPI(SDK_ACT_SIGMOID); return 1;
    case SDK_ACT_SILU: N_EPI(SDK_ACT_SILU); return 1;
    case SDK_ACT_LEAKYRELU: N_EPI(SDK_ACT_LEAKYRELU); return 1;
    case SDK_ACT_NONE: N_EPI(SDK_ACT_NONE); return 1;
    default: return 0;
  }
}
#undef N_EPI
#undef N_EPI_FOR
#define SDK_EPILOGUE_SIMD n_epilogue

/* Depthwise output rows from the padded plane (the portable kernel's row interface, SDK_DW_ROWS_SIMD hook): two
 * output rows x 4 columns per step with FMLA; the K + S input rows of a row pair are loaded once and feed both
 * rows where they overlap. S = 2 reads the plane split by column parity (tap kw of column ow: ow + kw%2 * ph +
 * kw/2), so every load is 4 contiguous columns. Tail columns: the same sums one column at a time. */
static inline void n_dw_rows(const int K, const int S, int64_t oh_n, int64_t ow_n, const float *restrict xp,
                             int64_t wp, int64_t ph, const float *restrict w, float b0, float *restrict y,
                             int64_t ldy) {
  float wk[49];
  int64_t co[7];
  for (int t = 0; t < K * K; ++t) wk[t] = w[t];
  for (int kw = 0; kw < K; ++kw) co[kw] = S == 1 ? kw : (kw & 1) * ph + (kw >> 1);
  int64_t oh = 0;
  for (; oh + 2 <= oh_n; oh += 2) {
    const float *xr = xp + oh * S * wp;
    float *y0 = y + oh * ldy, *y1 = y0 + ldy;
    int64_t ow = 0;
    for (; ow + 4 <= ow_n; ow += 4) {
      float32x4_t a0 = vdupq_n_f32(b0), a1 = a0;
#pragma GCC unroll 8
      for (int r = 0; r < K + S; ++r)
#pragma GCC unroll 8
        for (int kw = 0; kw < K; ++kw) {
          const float32x4_t x = vld1q_f32(xr + r * wp + co[kw] + ow);
          if (r < K) a0 = vfmaq_n_f32(a0, x, wk[r * K + kw]);
          if (r >= S) a1 = vfmaq_n_f32(a1, x, wk[(r - S) * K + kw]);
        }
      vst1q_f32(y0 + ow, a0);
      vst1q_f32(y1 + ow, a1);
    }
    for (; ow < ow_n; ++ow) {
      float s0 = b0, s1 = b0;
      for (int kh = 0; kh < K; ++kh)
        for (int kw = 0; kw < K; ++kw) {
          s0 += wk[kh * K + kw] * xr[kh * wp + co[kw] + ow];
          s1 += wk[kh * K + kw] * xr[(kh + S) * wp + co[kw] + ow];
        }
      y0[ow] = s0;
      y1[ow] = s1;
    }
  }
  for (; oh < oh_n; ++oh) {
    const float *xr = xp + oh * S * wp;
    float *y0 = y + oh * ldy;
    int64_t ow = 0;
    for (; ow + 4 <= ow_n; ow += 4) {
      float32x4_t a0 = vdupq_n_f32(b0);
#pragma GCC unroll 8
      for (int r = 0; r < K; ++r)
#pragma GCC unroll 8
        for (int kw = 0; kw < K; ++kw) a0 = vfmaq_n_f32(a0, vld1q_f32(xr + r * wp + co[kw] + ow), wk[r * K + kw]);
      vst1q_f32(y0 + ow, a0);
    }
    for (; ow < ow_n; ++ow) {
      float s0 = b0;
      for (int kh = 0; kh < K; ++kh)
        for (int kw = 0; kw < K; ++kw) s0 += wk[kh * K + kw] * xr[kh * wp + co[kw] + ow];
      y0[ow] = s0;
    }
  }
}
#define N_DW_ROWS(K, S, NAME)                                                                                  \
  static void NAME(int64_t oh_n, int64_t ow_n, const float *restrict xp, int64_t wp, int64_t ph,             \
                   const float *restrict w, float b0, float *restrict y, int64_t ldy) {                       \
    n_dw_rows(K, S, oh_n, ow_n, xp, wp, ph, w, b0, y, ldy);                                                  \
  }
N_DW_ROWS(3, 1, n_dw_k3s1)
N_DW_ROWS(3, 2, n_dw_k3s2p)
N_DW_ROWS(5, 1, n_dw_k5s1)
N_DW_ROWS(5, 2, n_dw_k5s2p)
N_DW_ROWS(7, 1, n_dw_k7s1)
N_DW_ROWS(7, 2, n_dw_k7s2p)
#undef N_DW_ROWS
typedef void (*n_dw_fn)(int64_t, int64_t, const float *restrict, int64_t, int64_t, const float *restrict, float,
                        float *restrict, int64_t);
/* stride 1, or stride 2 on the parity-split plane (narrow stride-2 rows keep the portable strided kernel) */
static n_dw_fn n_dw_rows_for(int64_t K, int64_t S, int split) {
  if (S == 2 && !split) return 0;
  switch (K) {
    case 3: return S == 1 ? n_dw_k3s1 : n_dw_k3s2p;
    case 5: return S == 1 ? n_dw_k5s1 : n_dw_k5s2p;
    case 7: return S == 1 ? n_dw_k7s1 : n_dw_k7s2p;
    default: return 0;
  }
}
#define SDK_DW_ROWS_SIMD n_dw_rows_for
#endif

#define sdk_conv2d_f32 sdk_conv2d_f32_portable
#include "sdk_kernels.c"
#undef sdk_conv2d_f32

#if defined(SDK_USE_NEON)

#define N_MR 8   /* output channels per register tile */
#define N_NR 8   /* output columns per register tile (two float32x4_t) */
#define N_KC 256 /* im2col rows per packed block */
#define N_NC 32  /* im2col columns per packed block: N_KC x N_NC floats = 32 KB of stack */
#define N_TAPS 49 /* kernels up to 7x7 get a per-tap offset table for the border columns */

/* where each of a sub-panel's 8 columns (output pixels p0 + j) reads its input window: top-left tap row and column
 * (may be negative: padding) */
typedef struct {
  int64_t ih[N_NR], iw[N_NR], off[N_NR], p0;
  int row;      /* 1: all 8 columns in one output row, windows inside the image horizontally: contiguous (stride 1)
                 * or every-other (stride 2) loads; 2: a 1x1 stride-1 unpadded conv, 8 whole columns: the 8 pixels
                 * from p0 on of each channel plane; 3: every window wholly inside the image (columns across output
                 * rows): each tap reads x[off[j] + tap offset], no bounds checks; 0 otherwise: tab */
  int32_t tab[N_TAPS][N_NR]; /* 0, kernels up to 7x7: each tap's column offsets, -1 in the padding */
} n_cols;

static void n_cols_of(int64_t p0, int64_t nc, int64_t OW, int64_t H, int64_t W, int64_t SH, int64_t SW, int64_t PH,
                      int64_t PW, int64_t KH, int64_t KW, int64_t DH, int64_t DW, int pointwise, n_cols *cl) {
  for (int64_t j = 0; j < N_NR; ++j) {
    const int64_t p = p0 + (j < nc ? j : nc - 1), oh = p / OW, ow = p % OW;
    cl->ih[j] = oh * SH - PH;
    cl->iw[j] = ow * SW - PW;
  }
  /* stride 2 loads 16 floats (vld2q x 2) from the first column's tap: the last one must be in the row too */
  const int64_t reach = SW == 1 ? 7 : 15;
  cl->row = nc == N_NR && (SW == 1 || SW == 2) && cl->ih[0] == cl->ih[N_NR - 1] && cl->iw[0] >= 0 &&
            cl->iw[0] + (KW - 1) * DW + reach < W;
  cl->p0 = p0;
  if (nc == N_NR && pointwise) cl->row = 2;
  if (!cl->row && nc == N_NR) {
    int inside = 1;
    for (int64_t j = 0; j < N_NR; ++j) {
      inside &= cl->ih[j] >= 0 && cl->ih[j] + (KH - 1) * DH < H && cl->iw[j] >= 0 && cl->iw[j] + (KW - 1) * DW < W;
      cl->off[j] = cl->ih[j] * W + cl->iw[j];
    }
    if (inside) cl->row = 3;
  }
  if (!cl->row && KH * KW <= N_TAPS) /* per tap, each column's offset in the channel plane, -1 in the padding */
    for (int64_t kh = 0, t = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw, ++t)
        for (int64_t j = 0; j < N_NR; ++j) {
          const int64_t ih = cl->ih[j] + kh * DH, iw = cl->iw[j] + kw * DW;
          cl->tab[t][j] = j < nc && ih >= 0 && ih < H && iw >= 0 && iw < W ? (int32_t)(ih * W + iw) : -1;
        }
}

/* Bp[kk * 8 + j] = im2col[k0 + kk][column j] for kk < kc, j < 8 (zeros outside the image and past nc columns);
 * x: the group's first input channel plane. */
static void n_pack(const float *x, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t SW, int64_t DH, int64_t DW,
                   int64_t k0, int64_t kc, int64_t nc, const n_cols *cl, float *restrict Bp) {
  int64_t c = k0 / (KH * KW), kh = k0 / KW % KH, kw = k0 % KW;
  for (int64_t kk = 0; kk < kc; ++kk) {
    const float *xc = x + c * H * W;
    float *restrict d = Bp + kk * N_NR;
    const int64_t dh = kh * DH, dw = kw * DW;
    if (cl->row == 2) {
      vst1q_f32(d, vld1q_f32(xc + cl->p0));
      vst1q_f32(d + 4, vld1q_f32(xc + cl->p0 + 4));
    } else if (cl->row == 3) {
      const float *s = xc + dh * W + dw;
      for (int64_t j = 0; j < N_NR; ++j) d[j] = s[cl->off[j]];
    } else if (cl->row) {
      const int64_t ih = cl->ih[0] + dh;
      if (ih < 0 || ih >= H) {
        vst1q_f32(d, vdupq_n_f32(0.0f));
        vst1q_f32(d + 4, vdupq_n_f32(0.0f));
      } else if (SW == 1) {
        const float *s = xc + ih * W + cl->iw[0] + dw;
        vst1q_f32(d, vld1q_f32(s));
        vst1q_f32(d + 4, vld1q_f32(s + 4));
      } else {
        const float *s = xc + ih * W + cl->iw[0] + dw;
        vst1q_f32(d, vld2q_f32(s).val[0]);
        vst1q_f32(d + 4, vld2q_f32(s + 8).val[0]);
      }
    } else if (KH * KW <= N_TAPS) {
      const int32_t *o = cl->tab[kh * KW + kw];
      for (int64_t j = 0; j < N_NR; ++j) d[j] = o[j] >= 0 ? xc[o[j]] : 0.0f;
    } else {
      for (int64_t j = 0; j < N_NR; ++j) {
        const int64_t ih = cl->ih[j] + dh, iw = cl->iw[j] + dw;
        d[j] = j < nc && ih >= 0 && ih < H && iw >= 0 && iw < W ? xc[ih * W + iw] : 0.0f;
      }
    }
    if (++kw == KW) {
      kw = 0;
      if (++kh == KH) {
        kh = 0;
        ++c;
      }
    }
  }
}

#define N_LANE(l)                                                                                          \
  do {                                                                                                     \
    const float32x4_t b0 = vld1q_f32(b + (l) * N_NR), b1 = vld1q_f32(b + (l) * N_NR + 4);                  \
    c00 = vfmaq_laneq_f32(c00, b0, a0, l); c01 = vfmaq_laneq_f32(c01, b1, a0, l);                          \
    c10 = vfmaq_laneq_f32(c10, b0, a1, l); c11 = vfmaq_laneq_f32(c11, b1, a1, l);                          \
    c20 = vfmaq_laneq_f32(c20, b0, a2, l); c21 = vfmaq_laneq_f32(c21, b1, a2, l);                          \
    c30 = vfmaq_laneq_f32(c30, b0, a3, l); c31 = vfmaq_laneq_f32(c31, b1, a3, l);                          \
    c40 = vfmaq_laneq_f32(c40, b0, a4, l); c41 = vfmaq_laneq_f32(c41, b1, a4, l);                          \
    c50 = vfmaq_laneq_f32(c50, b0, a5, l); c51 = vfmaq_laneq_f32(c51, b1, a5, l);                          \
    c60 = vfmaq_laneq_f32(c60, b0, a6, l); c61 = vfmaq_laneq_f32(c61, b1, a6, l);                          \
    c70 = vfmaq_laneq_f32(c70, b0, a7, l); c71 = vfmaq_laneq_f32(c71, b1, a7, l);                          \
  } while (0)

/* Y[rows, cols] = (first ? bias : Y) + A[rows, kc] * Bp[kc, 8]: A's rows a_rs apart and contiguous in k, Y's
 * rows ldy apart; rows <= 8 (rows past it repeat the last row's weights and are not stored), cols <= 8. */
static void n_micro_8x8(int64_t kc, const float *A, int64_t a_rs, const float *Bp, float *Y, int64_t ldy,
                        int64_t rows, int64_t cols, int first, const float *bias) {
  const float *ar[N_MR];
  float *yr[N_MR];
  float32x4_t init[N_MR][2];
  for (int64_t r = 0; r < N_MR; ++r) {
    const int64_t rr = r < rows ? r : rows - 1;
    ar[r] = A + rr * a_rs;
    yr[r] = Y + rr * ldy;
    if (first) {
      init[r][0] = init[r][1] = vdupq_n_f32(bias ? bias[rr] : 0.0f);
    } else if (cols == N_NR) {
      init[r][0] = vld1q_f32(yr[r]);
      init[r][1] = vld1q_f32(yr[r] + 4);
    } else {
      float t[N_NR] = {0.0f};
      for (int64_t j = 0; j < cols; ++j) t[j] = yr[r][j];
      init[r][0] = vld1q_f32(t);
      init[r][1] = vld1q_f32(t + 4);
    }
  }
  float32x4_t c00 = init[0][0], c01 = init[0][1], c10 = init[1][0], c11 = init[1][1], c20 = init[2][0],
              c21 = init[2][1], c30 = init[3][0], c31 = init[3][1], c40 = init[4][0], c41 = init[4][1],
              c50 = init[5][0], c51 = init[5][1], c60 = init[6][0], c61 = init[6][1], c70 = init[7][0],
              c71 = init[7][1];
  const float *a_0 = ar[0], *a_1 = ar[1], *a_2 = ar[2], *a_3 = ar[3], *a_4 = ar[4], *a_5 = ar[5], *a_6 = ar[6],
              *a_7 = ar[7];
  const float *b = Bp;
  int64_t k = 0;
  for (; k + 4 <= kc; k += 4, b += 4 * N_NR) {
    const float32x4_t a0 = vld1q_f32(a_0 + k), a1 = vld1q_f32(a_1 + k), a2 = vld1q_f32(a_2 + k),
                      a3 = vld1q_f32(a_3 + k), a4 = vld1q_f32(a_4 + k), a5 = vld1q_f32(a_5 + k),
                      a6 = vld1q_f32(a_6 + k), a7 = vld1q_f32(a_7 + k);
    N_LANE(0);
    N_LANE(1);
    N_LANE(2);
    N_LANE(3);
  }
  for (; k < kc; ++k, b += N_NR) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
    c00 = vfmaq_n_f32(c00, b0, a_0[k]); c01 = vfmaq_n_f32(c01, b1, a_0[k]);
    c10 = vfmaq_n_f32(c10, b0, a_1[k]); c11 = vfmaq_n_f32(c11, b1, a_1[k]);
    c20 = vfmaq_n_f32(c20, b0, a_2[k]); c21 = vfmaq_n_f32(c21, b1, a_2[k]);
    c30 = vfmaq_n_f32(c30, b0, a_3[k]); c31 = vfmaq_n_f32(c31, b1, a_3[k]);
    c40 = vfmaq_n_f32(c40, b0, a_4[k]); c41 = vfmaq_n_f32(c41, b1, a_4[k]);
    c50 = vfmaq_n_f32(c50, b0, a_5[k]); c51 = vfmaq_n_f32(c51, b1, a_5[k]);
    c60 = vfmaq_n_f32(c60, b0, a_6[k]); c61 = vfmaq_n_f32(c61, b1, a_6[k]);
    c70 = vfmaq_n_f32(c70, b0, a_7[k]); c71 = vfmaq_n_f32(c71, b1, a_7[k]);
  }
  const float32x4_t out[N_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                                    {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
  for (int64_t r = 0; r < rows; ++r) {
    if (cols == N_NR) {
      vst1q_f32(yr[r], out[r][0]);
      vst1q_f32(yr[r] + 4, out[r][1]);
    } else {
      float t[N_NR];
      vst1q_f32(t, out[r][0]);
      vst1q_f32(t + 4, out[r][1]);
      for (int64_t j = 0; j < cols; ++j) yr[r][j] = t[j];
    }
  }
}
#undef N_LANE

/* y[m] = bias[m] + sum_k A[m, k] x[k] for m < M (A's rows K long): a 1x1 conv on one pixel (squeeze-excite FCs),
 * 4 rows at once, 4 k per FMLA, horizontal sums at the end */
static void n_gemv(int64_t M, int64_t K, const float *A, const float *x, const float *bias, float *y) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) {
    const float *a0 = A + m * K, *a1 = a0 + K, *a2 = a1 + K, *a3 = a2 + K;
    float32x4_t c0 = vdupq_n_f32(0.0f), c1 = c0, c2 = c0, c3 = c0;
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
      const float32x4_t xv = vld1q_f32(x + k);
      c0 = vfmaq_f32(c0, vld1q_f32(a0 + k), xv);
      c1 = vfmaq_f32(c1, vld1q_f32(a1 + k), xv);
      c2 = vfmaq_f32(c2, vld1q_f32(a2 + k), xv);
      c3 = vfmaq_f32(c3, vld1q_f32(a3 + k), xv);
    }
    float s0 = vaddvq_f32(c0), s1 = vaddvq_f32(c1), s2 = vaddvq_f32(c2), s3 = vaddvq_f32(c3);
    for (; k < K; ++k) {
      s0 += a0[k] * x[k];
      s1 += a1[k] * x[k];
      s2 += a2[k] * x[k];
      s3 += a3[k] * x[k];
    }
    y[m] = s0 + (bias ? bias[m] : 0.0f);
    y[m + 1] = s1 + (bias ? bias[m + 1] : 0.0f);
    y[m + 2] = s2 + (bias ? bias[m + 2] : 0.0f);
    y[m + 3] = s3 + (bias ? bias[m + 3] : 0.0f);
  }
  for (; m < M; ++m) {
    float32x4_t c = vdupq_n_f32(0.0f);
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) c = vfmaq_f32(c, vld1q_f32(A + m * K + k), vld1q_f32(x + k));
    float s = vaddvq_f32(c);
    for (; k < K; ++k) s += A[m * K + k] * x[k];
    y[m] = s + (bias ? bias[m] : 0.0f);
  }
}

void sdk_conv2d_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                    int64_t DH, int64_t DW, int64_t groups,
                    const float *X, const float *Wt, const float *bias, float *Y) {
  if (KH == 1 && KW == 1 && H == 1 && W == 1 && OH == 1 && OW == 1 && PH == 0 && PW == 0) {
    /* one pixel: a matrix-vector product per image and group (an 8-column panel would be 7/8 padding) */
    const int64_t cin = C / groups, cout = M / groups;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t g = 0; g < groups; ++g)
        n_gemv(cout, cin, Wt + g * cout * cin, X + n * C + g * cin, bias ? bias + g * cout : 0,
               Y + n * M + g * cout);
    return;
  }
  const int64_t cin = C / groups, cout = M / groups, K = cin * KH * KW, P = OH * OW;
  const int pointwise = KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0 && OH == H && OW == W;
  const int64_t blocks = (P + N_NC - 1) / N_NC;
  /* tasks: column blocks of one image and group; each packs its own panels (on its thread's stack) */
  SDK_OMP(parallel for schedule(static) if(N * M * P * K >= SDK_PAR_MIN_WORK))
  for (int64_t t = 0; t < N * groups * blocks; ++t) {
    float Bp[N_KC * N_NC] __attribute__((aligned(16)));
    n_cols cl[N_NC / N_NR];
    const int64_t n = t / (groups * blocks), g = t / blocks % groups, q0 = t % blocks * N_NC;
    const int64_t qn = P - q0 < N_NC ? P - q0 : N_NC, subs = (qn + N_NR - 1) / N_NR;
    const float *x = X + (n * C + g * cin) * H * W, *A = Wt + g * cout * K;
    float *y = Y + (n * M + g * cout) * P + q0;
    for (int64_t s = 0; s < subs; ++s) {
      const int64_t nc = qn - s * N_NR < N_NR ? qn - s * N_NR : N_NR;
      n_cols_of(q0 + s * N_NR, nc, OW, H, W, SH, SW, PH, PW, KH, KW, DH, DW, pointwise, &cl[s]);
    }
    for (int64_t k0 = 0; k0 < K; k0 += N_KC) {
      const int64_t kc = K - k0 < N_KC ? K - k0 : N_KC;
      for (int64_t s = 0; s < subs; ++s) {
        const int64_t nc = qn - s * N_NR < N_NR ? qn - s * N_NR : N_NR;
        n_pack(x, H, W, KH, KW, SW, DH, DW, k0, kc, nc, &cl[s], Bp + s * N_KC * N_NR);
      }
      for (int64_t m0 = 0; m0 < cout; m0 += N_MR)
        for (int64_t s = 0; s < subs; ++s) {
          const int64_t nc = qn - s * N_NR < N_NR ? qn - s * N_NR : N_NR;
          n_micro_8x8(kc, A + m0 * K + k0, K, Bp + s * N_KC * N_NR, y + m0 * P + s * N_NR, P,
                      cout - m0 < N_MR ? cout - m0 : N_MR, nc, k0 == 0, bias ? bias + g * cout + m0 : 0);
        }
    }
  }
}

#else /* no NEON: the portable kernel */

void sdk_conv2d_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                    int64_t DH, int64_t DW, int64_t groups,
                    const float *X, const float *Wt, const float *bias, float *Y) {
  sdk_conv2d_f32_portable(N, C, H, W, M, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, groups, X, Wt, bias, Y);
}

#endif
