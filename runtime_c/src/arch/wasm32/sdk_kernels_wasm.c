/* Library kernels for wasm32 + SIMD128: bundles for profiles with [simd] simd128 compile this file in place of
 * sdk_kernels.c (the variant is declared in sdk/kernels/library.py). It includes the portable file, renaming
 * the kernels it replaces (so kernels added there later still come along), and defines GEMM, conv and pooling
 * with wasm SIMD128 intrinsics:
 * GEMM: blocks of 256 rows x 32 columns of B packed on the stack as 8-column panels (whole cache lines of each B
 * row), every 4 rows of A through the block's panels with a 4x8 register-tile micro-kernel (4 rows: 8 accumulators
 * plus operands fit the 16 xmm registers V8 has on x86-64; 5 and 6 rows spilled or lost there). Conv (other than
 * 1x1 stride 1, which is the GEMM): im2col panels packed on the stack into the same micro-kernel. Pooling: 4 output
 * columns per vector over a padded plane. Epilogues (activations, residual
 * adds): 4 lanes per step through the SDK_EPILOGUE_SIMD hook of the portable sdk_epilogue_f32.
 * C99 + <wasm_simd128.h>, no malloc, no globals. Build with -msimd128, next to sdk_kernels.c (the bundle's
 * folder is flat) or with -I runtime_c/src. */
#include <wasm_simd128.h>

/* the header first (its guard keeps the renamed include below from declaring *_portable), so the kernels
 * defined in this file keep their declared prototypes */
#include "sdk_kernels.h"
#include "sdk_math.h"

/* sdk_expf of 4 lanes, operation for operation (wasm has no fused multiply-add), so the vector epilogue gives the
 * scalar one's values bit for bit; pmin/pmax (one x86 instruction each in V8) clamp, NaNs are put back at the end */
static inline v128_t w_expf(v128_t x) {
  const v128_t xc = wasm_f32x4_pmin(wasm_f32x4_splat(88.72283f), wasm_f32x4_pmax(wasm_f32x4_splat(-87.0f), x));
  const v128_t big = wasm_f32x4_splat(12582912.0f);
  const v128_t n = wasm_f32x4_sub(wasm_f32x4_add(wasm_f32x4_mul(xc, wasm_f32x4_splat(1.44269504088896341f)), big), big);
  const v128_t r = wasm_f32x4_add(wasm_f32x4_sub(xc, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f))),
                                  wasm_f32x4_mul(n, wasm_f32x4_splat(2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), r), wasm_f32x4_splat(1.0f));
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(126)), 23);
  p = wasm_f32x4_mul(wasm_f32x4_mul(p, scale), wasm_f32x4_splat(2.0f));
  p = wasm_v128_bitselect(wasm_f32x4_splat(INFINITY), p, wasm_f32x4_gt(x, wasm_f32x4_splat(88.72283f)));
  p = wasm_v128_bitselect(wasm_f32x4_splat(0.0f), p, wasm_f32x4_lt(x, wasm_f32x4_splat(-87.0f)));
  return wasm_v128_bitselect(p, x, wasm_f32x4_eq(x, x)); /* NaN in, NaN out */
}

/* v < 0 ? 0 : (v > 1 ? 1 : v), NaN -> NaN as in sdk_clamp01 */
static inline v128_t w_clamp01(v128_t v) {
  const v128_t z = wasm_f32x4_splat(0.0f), o = wasm_f32x4_splat(1.0f);
  return wasm_v128_bitselect(z, wasm_v128_bitselect(o, v, wasm_f32x4_gt(v, o)), wasm_f32x4_lt(v, z));
}

/* x / d for sigmoid / SiLU's d = 1 + exp(-v): sdk_math.h sdk_div1pf, on float lanes (v128_t's are int32) */
static inline v128_t w_div1p(v128_t x, v128_t d) {
  typedef float w_f4 __attribute__((vector_size(16)));
  w_f4 q;
  SDK_VDIV1P(q, (w_f4)x, (w_f4)d, w_f4, v128_t);
  return (v128_t)q;
}

/* the activations of sdk_epilogue_f32 on 4 lanes, with the scalar code's comparisons and operation order */
static inline v128_t w_act(v128_t v, int64_t act, v128_t a, v128_t b) {
  const v128_t z = wasm_f32x4_splat(0.0f), one = wasm_f32x4_splat(1.0f);
  switch (act) {
    case SDK_ACT_RELU: return wasm_v128_bitselect(v, z, wasm_f32x4_gt(v, z));
    case SDK_ACT_CLIP: return wasm_v128_bitselect(a, wasm_v128_bitselect(b, v, wasm_f32x4_gt(v, b)), wasm_f32x4_lt(v, a));
    case SDK_ACT_HARDSIGMOID: return w_clamp01(wasm_f32x4_add(wasm_f32x4_mul(a, v), b));
    case SDK_ACT_HARDSWISH:
      return wasm_f32x4_mul(v, w_clamp01(wasm_f32x4_add(wasm_f32x4_mul(v, wasm_f32x4_splat(1.0f / 6.0f)),
                                                         wasm_f32x4_splat(0.5f))));
    case SDK_ACT_SIGMOID: return w_div1p(one, wasm_f32x4_add(one, w_expf(wasm_f32x4_neg(v))));
    case SDK_ACT_SILU: return w_div1p(v, wasm_f32x4_add(one, w_expf(wasm_f32x4_neg(v))));
    case SDK_ACT_LEAKYRELU: return wasm_v128_bitselect(wasm_f32x4_mul(v, a), v, wasm_f32x4_lt(v, z));
    default: return v;
  }
}

/* sdk_epilogue_f32's vector body (the hook SDK_EPILOGUE_SIMD in sdk_kernels.c): 4 lanes at a time, the last
 * n % 4 elements through a padded vector */
#define W_EPI(ACT)                                                                                   \
  do {                                                                                               \
    int64_t i = 0;                                                                                   \
    for (; i + 4 <= n; i += 4) {                                                                     \
      v128_t v = wasm_v128_load(Y + i);                                                              \
      if (R) v = wasm_f32x4_add(v, wasm_v128_load(R + i));                                           \
      wasm_v128_store(Y + i, w_act(v, ACT, va, vb));                                                 \
    }                                                                                                \
    if (i < n) {                                                                                     \
      float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};                                                         \
      for (int64_t j = i; j < n; ++j) t[j - i] = R ? Y[j] + R[j] : Y[j];                              \
      wasm_v128_store(t, w_act(wasm_v128_load(t), ACT, va, vb));                                     \
      for (int64_t j = i; j < n; ++j) Y[j] = t[j - i];                                               \
    }                                                                                                \
  } while (0)
static int w_epilogue(int64_t n, float *restrict Y, const float *restrict R, int64_t act, float a, float b) {
  const v128_t va = wasm_f32x4_splat(a), vb = wasm_f32x4_splat(b);
  switch (act) { /* one loop per activation: the switch in w_act folds away */
    case SDK_ACT_RELU: W_EPI(SDK_ACT_RELU); return 1;
    case SDK_ACT_CLIP: W_EPI(SDK_ACT_CLIP); return 1;
    case SDK_ACT_HARDSIGMOID: W_EPI(SDK_ACT_HARDSIGMOID); return 1;
    case SDK_ACT_HARDSWISH: W_EPI(SDK_ACT_HARDSWISH); return 1;
    case SDK_ACT_SIGMOID: W_EPI(SDK_ACT_SIGMOID); return 1;
    case SDK_ACT_SILU: W_EPI(SDK_ACT_SILU); return 1;
    case SDK_ACT_LEAKYRELU: W_EPI(SDK_ACT_LEAKYRELU); return 1;
    case SDK_ACT_NONE: W_EPI(SDK_ACT_NONE); return 1;
    default: return 0;
  }
}
#undef W_EPI
#define SDK_EPILOGUE_SIMD w_epilogue
#define sdk_gemm_f32 sdk_gemm_f32_portable
#define sdk_conv2d_f32 sdk_conv2d_f32_portable
#define sdk_pool2d_f32 sdk_pool2d_f32_portable
#include "sdk_kernels.c"
#undef sdk_gemm_f32
#undef sdk_conv2d_f32
#undef sdk_pool2d_f32
#undef MR
#undef NR
#undef KC

#define W_MR 4      /* rows of Y per micro-tile */
#define W_NR 8      /* columns of Y per micro-tile: two f32x4 */
#define W_KC 256    /* depth of one packed B panel (8 KB of stack) */
#define W_PLANE_MAX 16384 /* floats of a padded pooling input plane on the stack (64 KB) */

static inline v128_t w_madd(v128_t acc, v128_t a, v128_t b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }

/* Bp[k*W_NR + j] = B[k*b_rs + j*b_cs] for j < nc, 0 beyond. */
static void w_pack_b(int64_t kc, int64_t nc, const float *B, int64_t b_rs, int64_t b_cs, float *Bp) {
  if (nc == W_NR && b_cs == 1) {
    for (int64_t k = 0; k < kc; ++k) {
      wasm_v128_store(Bp + k * W_NR, wasm_v128_load(B + k * b_rs));
      wasm_v128_store(Bp + k * W_NR + 4, wasm_v128_load(B + k * b_rs + 4));
    }
    return;
  }
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t j = 0; j < W_NR; ++j) Bp[k * W_NR + j] = j < nc ? B[k * b_rs + j * b_cs] : 0.0f;
}

/* Y[rows, cols] (+)= A[rows, kc] * Bp[kc, W_NR] (rows ldb apart); rows <= W_MR, cols <= W_NR; unless
 * accumulating, a non-NULL init[r] is row r's start value (a bias). 32-bit indices and pointer steps (wasm32: an
 * int64_t index costs i64 arithmetic and a wrap per address); the accumulator array is unrolled into registers. */
static void w_micro(int64_t kc, const float *A, int64_t a_rs, int64_t a_cs, const float *Bp, int64_t ldb,
                    float *Y, int64_t ldy, int64_t rows, int64_t cols, int accumulate, const float *init) {
  const float *a[W_MR];
  v128_t c[W_MR][2];
  for (int r = 0; r < W_MR; ++r) {
    const int rr = r < rows ? r : 0;
    a[r] = A + rr * (int)a_rs;
    c[r][0] = c[r][1] = wasm_f32x4_splat(init && !accumulate ? init[rr] : 0.0f);
  }
  const int n = (int)kc, ld = (int)ldb, acs = (int)a_cs;
  const float *bp = Bp;
  if (acs == 1) {
    for (int k = 0; k < n; ++k, bp += ld) {
      const v128_t b0 = wasm_v128_load(bp), b1 = wasm_v128_load(bp + 4);
      for (int r = 0; r < W_MR; ++r) {
        const v128_t x = wasm_v128_load32_splat(a[r] + k);
        c[r][0] = w_madd(c[r][0], x, b0);
        c[r][1] = w_madd(c[r][1], x, b1);
      }
    }
  } else {
    for (int k = 0, ak = 0; k < n; ++k, bp += ld, ak += acs) {
      const v128_t b0 = wasm_v128_load(bp), b1 = wasm_v128_load(bp + 4);
      for (int r = 0; r < W_MR; ++r) {
        const v128_t x = wasm_v128_load32_splat(a[r] + ak);
        c[r][0] = w_madd(c[r][0], x, b0);
        c[r][1] = w_madd(c[r][1], x, b1);
      }
    }
  }
  for (int r = 0; r < W_MR && r < rows; ++r) {
    float *y = Y + r * (int)ldy;
    if (cols == W_NR) {
      if (accumulate) {
        c[r][0] = wasm_f32x4_add(c[r][0], wasm_v128_load(y));
        c[r][1] = wasm_f32x4_add(c[r][1], wasm_v128_load(y + 4));
      }
      wasm_v128_store(y, c[r][0]);
      wasm_v128_store(y + 4, c[r][1]);
    } else {
      float t[W_NR];
      wasm_v128_store(t, c[r][0]);
      wasm_v128_store(t + 4, c[r][1]);
      for (int j = 0; j < (int)cols; ++j) y[j] = accumulate ? y[j] + t[j] : t[j];
    }
  }
}

#define W_GNC 32 /* columns of B packed per block (4 panels of 8): W_KC x W_GNC floats = 32 KB of stack */

/* B's rows are read W_GNC columns at a time (whole cache lines; 8-column strips of a wide row-major B touch one
 * page per k, which defeats the prefetcher), and A's rows stay in L1 across the block's panels */
void sdk_gemm_f32(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs,
                  const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
                  float beta, const float *C, int64_t c_rs, int64_t c_cs, float *Y) {
  float Bp[W_KC * W_GNC] __attribute__((aligned(16)));
  const int in_place = b_cs == 1 && M <= 4 * W_MR; /* few rows: B's rows are read in place, not packed */
  for (int64_t bt = 0; bt < batch; ++bt) {
    const float *Ab = A + bt * a_bs, *Bb = B + bt * b_bs;
    float *Yb = Y + bt * M * N;
    if (K == 0)
      for (int64_t i = 0; i < M * N; ++i) Yb[i] = 0.0f;
    for (int64_t j0 = 0; j0 < N; j0 += W_GNC) {
      const int64_t nb = N - j0 < W_GNC ? N - j0 : W_GNC, panels = (nb + W_NR - 1) / W_NR;
      for (int64_t k0 = 0; k0 < K; k0 += W_KC) {
        const int64_t kc = K - k0 < W_KC ? K - k0 : W_KC;
        const float *blk = Bb + k0 * b_rs + j0 * b_cs;
        if (!in_place) {
          if (b_cs == 1 && nb == W_GNC) {
            for (int k = 0; k < (int)kc; ++k) {
              const float *s = blk + k * (int)b_rs;
              for (int p = 0; p < W_GNC / W_NR; ++p) {
                wasm_v128_store(Bp + (p * (int)kc + k) * W_NR, wasm_v128_load(s + p * W_NR));
                wasm_v128_store(Bp + (p * (int)kc + k) * W_NR + 4, wasm_v128_load(s + p * W_NR + 4));
              }
            }
          } else {
            for (int64_t p = 0; p < panels; ++p)
              w_pack_b(kc, nb - p * W_NR < W_NR ? nb - p * W_NR : W_NR, blk + p * W_NR * b_cs, b_rs, b_cs,
                       Bp + p * kc * W_NR);
          }
        }
        for (int64_t i0 = 0; i0 < M; i0 += W_MR)
          for (int64_t p = 0; p < panels; ++p) {
            const int64_t nc = nb - p * W_NR < W_NR ? nb - p * W_NR : W_NR;
            float *yt = Yb + i0 * N + j0 + p * W_NR;
            const float *at = Ab + i0 * a_rs + k0 * a_cs;
            const int64_t rows = M - i0 < W_MR ? M - i0 : W_MR;
            if (!in_place)
              w_micro(kc, at, a_rs, a_cs, Bp + p * kc * W_NR, W_NR, yt, N, rows, nc, k0 > 0, 0);
            else if (nc == W_NR)
              w_micro(kc, at, a_rs, a_cs, blk + p * W_NR, b_rs, yt, N, rows, nc, k0 > 0, 0);
            else { /* the last columns of an unpacked B: padded into the first panel's place */
              w_pack_b(kc, nc, blk + p * W_NR, b_rs, b_cs, Bp);
              w_micro(kc, at, a_rs, a_cs, Bp, W_NR, yt, N, rows, nc, k0 > 0, 0);
            }
          }
      }
    }
    if (alpha != 1.0f || (C != 0 && beta != 0.0f)) {
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          float v = alpha * Yb[i * N + j];
          if (C != 0 && beta != 0.0f) v += beta * C[i * c_rs + j * c_cs];
          Yb[i * N + j] = v;
        }
    }
  }
}

/* xp[Hp][Wp] = X plane shifted by (PH, PW), `fill` outside the input. */
static void w_pad_plane(const float *x, int64_t H, int64_t W, int64_t PH, int64_t PW, int64_t Hp, int64_t Wp,
                        float fill, float *xp) {
  const int64_t c0 = PW < Wp ? PW : Wp, c1 = PW + W < Wp ? PW + W : Wp; /* columns [c0, c1) come from x */
  for (int64_t r = 0; r < Hp; ++r) {
    const int64_t ih = r - PH;
    float *row = xp + r * Wp;
    if (ih < 0 || ih >= H || c1 <= c0) {
      for (int64_t q = 0; q < Wp; ++q) row[q] = fill;
      continue;
    }
    for (int64_t q = 0; q < c0; ++q) row[q] = fill;
    for (int64_t q = c0; q < c1; ++q) row[q] = x[ih * W + q - PW];
    for (int64_t q = c1; q < Wp; ++q) row[q] = fill;
  }
}

/* Y[n][m][:] += bias[m] */
static void w_add_bias(int64_t N, int64_t M, int64_t plane, const float *bias, float *Y) {
  if (!bias) return;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      float *y = Y + (n * M + m) * plane;
      const v128_t b = wasm_f32x4_splat(bias[m]);
      int64_t p = 0;
      for (; p + 4 <= plane; p += 4) wasm_v128_store(y + p, wasm_f32x4_add(wasm_v128_load(y + p), b));
      for (; p < plane; ++p) y[p] += bias[m];
    }
}

/* Convolutions other than 1x1 stride 1: im2col panels into the GEMM micro-kernel. A block of W_CKC rows x W_CNC
 * columns of the im2col matrix (K = C/groups * KH * KW rows, one column per output pixel) is packed on the stack as
 * 8-column sub-panels (zeros where a tap falls in the padding), then every 4 output channels x 8 columns of Y
 * accumulate in registers over the block (w_micro, weights read in place: rows of K). */
#define W_CKC 256 /* im2col rows per packed block */
#define W_CNC 32  /* im2col columns per packed block: W_CKC x W_CNC floats = 32 KB of stack */
#define W_TAPS 49 /* kernels up to 7x7 get a per-tap offset table for the border columns */

/* where each of a sub-panel's 8 columns (output pixels p0 + j) reads its input window: top-left tap row and
 * column (negative in the padding); row: all 8 columns in one output row with their windows inside the image
 * horizontally, so each tap's 8 values are whole-vector loads (stride 1 or 2) */
typedef struct {
  int64_t ih[W_NR], iw[W_NR], off[W_NR];
  int row; /* 2: every window wholly inside the image (columns across output rows): x[off[j] + tap offset];
            * 0: tab */
  int32_t tab[W_TAPS][W_NR]; /* 0, kernels up to 7x7: each tap's column offsets, -1 in the padding */
} w_cols;

static void w_cols_of(int64_t p0, int64_t nc, int64_t OW, int64_t H, int64_t W, int64_t SH, int64_t SW, int64_t PH,
                      int64_t PW, int64_t KH, int64_t KW, int64_t DH, int64_t DW, w_cols *cl) {
  for (int64_t j = 0; j < W_NR; ++j) {
    const int64_t p = p0 + (j < nc ? j : nc - 1), oh = p / OW, ow = p % OW;
    cl->ih[j] = oh * SH - PH;
    cl->iw[j] = ow * SW - PW;
  }
  const int64_t reach = SW == 1 ? 7 : 15; /* stride 2 loads 16 floats from the first column's tap */
  cl->row = nc == W_NR && (SW == 1 || SW == 2) && cl->ih[0] == cl->ih[W_NR - 1] && cl->iw[0] >= 0 &&
            cl->iw[0] + (KW - 1) * DW + reach < W;
  if (!cl->row && nc == W_NR) {
    int inside = 1;
    for (int64_t j = 0; j < W_NR; ++j) {
      inside &= cl->ih[j] >= 0 && cl->ih[j] + (KH - 1) * DH < H && cl->iw[j] >= 0 && cl->iw[j] + (KW - 1) * DW < W;
      cl->off[j] = cl->ih[j] * W + cl->iw[j];
    }
    if (inside) cl->row = 2;
  }
  if (!cl->row && KH * KW <= W_TAPS) /* per tap, each column's offset in the channel plane, -1 in the padding */
    for (int64_t kh = 0, t = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw, ++t)
        for (int64_t j = 0; j < W_NR; ++j) {
          const int64_t ih = cl->ih[j] + kh * DH, iw = cl->iw[j] + kw * DW;
          cl->tab[t][j] = j < nc && ih >= 0 && ih < H && iw >= 0 && iw < W ? (int32_t)(ih * W + iw) : -1;
        }
}

/* Bp[kk * 8 + j] = im2col[k0 + kk][column j] for kk < kc, j < 8 (zeros outside the image and past nc columns);
 * x: the group's first input channel plane */
static void w_pack_im2col(const float *x, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t SW, int64_t DH,
                          int64_t DW, int64_t k0, int64_t kc, int64_t nc, const w_cols *cl, float *restrict Bp) {
  int64_t c = k0 / (KH * KW), kh = k0 / KW % KH, kw = k0 % KW;
  for (int64_t kk = 0; kk < kc; ++kk) {
    const float *xc = x + c * H * W;
    float *restrict d = Bp + kk * W_NR;
    const int64_t dh = kh * DH, dw = kw * DW;
    if (cl->row == 2) {
      const float *s = xc + dh * W + dw;
      wasm_v128_store(d, wasm_f32x4_make(s[cl->off[0]], s[cl->off[1]], s[cl->off[2]], s[cl->off[3]]));
      wasm_v128_store(d + 4, wasm_f32x4_make(s[cl->off[4]], s[cl->off[5]], s[cl->off[6]], s[cl->off[7]]));
    } else if (cl->row) {
      const int64_t ih = cl->ih[0] + dh;
      const float *s = xc + ih * W + cl->iw[0] + dw;
      if (ih < 0 || ih >= H) {
        wasm_v128_store(d, wasm_f32x4_splat(0.0f));
        wasm_v128_store(d + 4, wasm_f32x4_splat(0.0f));
      } else if (SW == 1) {
        wasm_v128_store(d, wasm_v128_load(s));
        wasm_v128_store(d + 4, wasm_v128_load(s + 4));
      } else {
        wasm_v128_store(d, wasm_i32x4_shuffle(wasm_v128_load(s), wasm_v128_load(s + 4), 0, 2, 4, 6));
        wasm_v128_store(d + 4, wasm_i32x4_shuffle(wasm_v128_load(s + 8), wasm_v128_load(s + 12), 0, 2, 4, 6));
      }
    } else if (KH * KW <= W_TAPS) {
      const int32_t *o = cl->tab[kh * KW + kw];
      for (int64_t j = 0; j < W_NR; ++j) d[j] = o[j] >= 0 ? xc[o[j]] : 0.0f;
    } else {
      for (int64_t j = 0; j < W_NR; ++j) {
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

void sdk_conv2d_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                    int64_t DH, int64_t DW, int64_t groups,
                    const float *X, const float *Wt, const float *bias, float *Y) {
  const int64_t cin = C / groups, cout = M / groups, P = OH * OW, K = cin * KH * KW;
  if (KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0 && groups == 1) {
    sdk_gemm_f32(N, M, P, C, 1.0f, Wt, 0, C, 1, X, C * H * W, P, 1, 0.0f, 0, 0, 0, Y);
    w_add_bias(N, M, P, bias, Y);
    return;
  }
  float Bp[W_CKC * W_CNC] __attribute__((aligned(16)));
  w_cols cl[W_CNC / W_NR];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g) {
      const float *x = X + (n * C + g * cin) * H * W, *A = Wt + g * cout * K;
      const float *b = bias ? bias + g * cout : 0;
      float *y = Y + (n * M + g * cout) * P;
      for (int64_t q0 = 0; q0 < P; q0 += W_CNC) {
        const int64_t qn = P - q0 < W_CNC ? P - q0 : W_CNC, subs = (qn + W_NR - 1) / W_NR;
        for (int64_t s = 0; s < subs; ++s)
          w_cols_of(q0 + s * W_NR, qn - s * W_NR < W_NR ? qn - s * W_NR : W_NR, OW, H, W, SH, SW, PH, PW, KH, KW, DH,
                    DW, &cl[s]);
        for (int64_t k0 = 0; k0 < K; k0 += W_CKC) {
          const int64_t kc = K - k0 < W_CKC ? K - k0 : W_CKC;
          for (int64_t s = 0; s < subs; ++s)
            w_pack_im2col(x, H, W, KH, KW, SW, DH, DW, k0, kc, qn - s * W_NR < W_NR ? qn - s * W_NR : W_NR,
                          &cl[s], Bp + s * W_CKC * W_NR);
          for (int64_t m0 = 0; m0 < cout; m0 += W_MR)
            for (int64_t s = 0; s < subs; ++s)
              w_micro(kc, A + m0 * K + k0, K, 1, Bp + s * W_CKC * W_NR, W_NR, y + m0 * P + q0 + s * W_NR, P,
                          cout - m0 < W_MR ? cout - m0 : W_MR, qn - s * W_NR < W_NR ? qn - s * W_NR : W_NR,
                          k0 > 0, b ? b + m0 : 0);
        }
      }
    }
}

/* Taps k in [0, K) with lo <= base + k*D < hi. */
static int64_t w_tap_count(int64_t base, int64_t D, int64_t K, int64_t lo, int64_t hi) {
  int64_t n = 0;
  for (int64_t k = 0; k < K; ++k) n += (base + k * D >= lo && base + k * D < hi);
  return n;
}

#define W_POOL_MAX_OUT 1024 /* output rows/columns whose tap counts fit on the stack */

/* Max pool (mode 0) and average pool (mode 1: pads not counted, mode 2: pads counted)
 * on a padded plane: -inf (max) or 0 (average) around the input, 4 output columns per f32x4.
 * A NaN among the taps gives NaN, as in the portable kernel. */
void sdk_pool2d_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t KH,
                    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW,
                    int64_t PH_END, int64_t PW_END, int64_t mode, const float *X, float *Y) {
  const int64_t OWr = (OW + 3) / 4 * 4;
  const int64_t Hp = (OH - 1) * SH + (KH - 1) * DH + 1;
  const int64_t Wp = (OWr - 1) * SW + (KW - 1) * DW + 1 + 8;
  if (Hp * Wp > W_PLANE_MAX || OH > W_POOL_MAX_OUT || OWr > W_POOL_MAX_OUT) {
    sdk_pool2d_f32_portable(N, C, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, PH_END, PW_END, mode, X, Y);
    return;
  }
  if (mode == 0 && PH == 0 && PW == 0 && PH_END == 0 && PW_END == 0 && (OH - 1) * SH + (KH - 1) * DH < H &&
      (OW - 1) * SW + (KW - 1) * DW < W) {
    /* unpadded max pool: vector tiles straight from the input rows where the loads stay inside a row */
    for (int64_t nc = 0; nc < N * C; ++nc) {
      const float *x = X + nc * H * W;
      float *y = Y + nc * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        for (int64_t ow0 = 0; ow0 < OW; ow0 += 4) {
          const int64_t ow = ow0 + 4 <= OW || OW < 4 ? ow0 : OW - 4; /* last tile overlaps the previous one */
          if (ow + 4 > OW) { /* fewer than 4 columns in all */
            for (int64_t j = ow; j < OW; ++j) {
              float acc = -INFINITY;
              int nan = 0;
              for (int64_t kh = 0; kh < KH; ++kh)
                for (int64_t kw = 0; kw < KW; ++kw) {
                  const float v = x[(oh * SH + kh * DH) * W + j * SW + kw * DW];
                  nan |= v != v;
                  acc = v > acc ? v : acc;
                }
              y[oh * OW + j] = nan ? NAN : acc;
            }
            break;
          }
          /* whole-vector loads only where they stay inside the row; else gather the 4 columns */
          const int fast = SW <= 2 && ow * SW + (KW - 1) * DW + 4 * SW <= W;
          v128_t acc = wasm_f32x4_splat(-INFINITY), nan = wasm_i32x4_splat(0);
          for (int64_t kh = 0; kh < KH; ++kh) {
            const float *row = x + (oh * SH + kh * DH) * W + ow * SW;
            for (int64_t kw = 0; kw < KW; ++kw) {
              const float *p = row + kw * DW;
              v128_t v;
              if (fast && SW == 1) v = wasm_v128_load(p);
              else if (fast) v = wasm_i32x4_shuffle(wasm_v128_load(p), wasm_v128_load(p + 4), 0, 2, 4, 6);
              else v = wasm_f32x4_make(p[0], p[SW], p[2 * SW], p[3 * SW]);
              /* pmax is one maxps; NaNs are noted on the side (f32x4.max costs ~8 x86 instructions in V8) */
              acc = wasm_f32x4_pmax(acc, v);
              nan = wasm_v128_or(nan, wasm_f32x4_ne(v, v));
            }
          }
          wasm_v128_store(y + oh * OW + ow, wasm_v128_bitselect(wasm_f32x4_splat(NAN), acc, nan));
        }
      }
    }
    return;
  }
  float xp[W_PLANE_MAX] __attribute__((aligned(16)));
  float rows[W_POOL_MAX_OUT], cols[W_POOL_MAX_OUT] __attribute__((aligned(16)));
  const float fill = mode == 0 ? -INFINITY : 0.0f;
  if (mode != 0) {
    const int64_t hlo = mode == 2 ? -PH : 0, hhi = mode == 2 ? H + PH_END : H;
    const int64_t wlo = mode == 2 ? -PW : 0, whi = mode == 2 ? W + PW_END : W;
    for (int64_t oh = 0; oh < OH; ++oh) rows[oh] = (float)w_tap_count(oh * SH - PH, DH, KH, hlo, hhi);
    for (int64_t ow = 0; ow < OWr; ++ow) {
      const int64_t c = ow < OW ? w_tap_count(ow * SW - PW, DW, KW, wlo, whi) : 1;
      cols[ow] = (float)c;
    }
  }
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const float *x = X + nc * H * W;
    float *y = Y + nc * OH * OW;
    w_pad_plane(x, H, W, PH, PW, Hp, Wp, fill, xp);
    for (int64_t oh = 0; oh < OH; ++oh) {
      const v128_t rc = wasm_f32x4_splat(rows[oh]);
      for (int64_t ow = 0; ow < OWr; ow += 4) {
        v128_t acc = wasm_f32x4_splat(fill), nan = wasm_i32x4_splat(0);
        for (int64_t kh = 0; kh < KH; ++kh) {
          const float *row = xp + (oh * SH + kh * DH) * Wp + ow * SW;
          for (int64_t kw = 0; kw < KW; ++kw) {
            const float *p = row + kw * DW;
            v128_t v;
            if (SW == 1) v = wasm_v128_load(p);
            else if (SW == 2) v = wasm_i32x4_shuffle(wasm_v128_load(p), wasm_v128_load(p + 4), 0, 2, 4, 6);
            else v = wasm_f32x4_make(p[0], p[SW], p[2 * SW], p[3 * SW]);
            if (mode == 0) {
              acc = wasm_f32x4_pmax(acc, v);
              nan = wasm_v128_or(nan, wasm_f32x4_ne(v, v));
            } else {
              acc = wasm_f32x4_add(acc, v);
            }
          }
        }
        if (mode == 0) acc = wasm_v128_bitselect(wasm_f32x4_splat(NAN), acc, nan);
        if (mode != 0) {
          v128_t cnt = wasm_f32x4_mul(rc, wasm_v128_load(cols + ow));
          cnt = wasm_f32x4_max(cnt, wasm_f32x4_splat(1.0f));
          acc = wasm_f32x4_div(acc, cnt);
        }
        if (ow + 4 <= OW) {
          wasm_v128_store(y + oh * OW + ow, acc);
        } else {
          float t[4] __attribute__((aligned(16)));
          wasm_v128_store(t, acc);
          for (int64_t j = 0; ow + j < OW; ++j) y[oh * OW + ow + j] = t[j];
        }
      }
    }
  }
}
