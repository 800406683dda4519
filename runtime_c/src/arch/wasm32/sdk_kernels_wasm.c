/* Library kernels for wasm32 + SIMD128: bundles for profiles with [simd] simd128 compile this file in place of
 * sdk_kernels.c (the variant is declared in sdk/kernels/library.py). It includes the portable file, renaming
 * the kernels it replaces (so kernels added there later still come along), and defines GEMM, conv and pooling
 * with wasm SIMD128 intrinsics:
 * GEMM: B packed into 8-column panels on the stack, a 4x8 register-tile
 * micro-kernel. Conv: each input channel copied into a padded plane on the
 * stack, 4 output channels x 8 columns accumulated in registers.
 * C99 + <wasm_simd128.h>, no malloc, no globals. Build with -msimd128, next to sdk_kernels.c (the bundle's
 * folder is flat) or with -I runtime_c/src. */
#include <wasm_simd128.h>

/* the header first (its guard keeps the renamed include below from declaring *_portable), so the kernels
 * defined in this file keep their declared prototypes */
#include "sdk_kernels.h"
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
#define W_PLANE_MAX 16384 /* floats of a padded conv input plane on the stack (64 KB) */

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

/* Y[rows, cols] (+)= A[rows, kc] * Bp[kc, W_NR] (rows ldb apart); rows <= W_MR, cols <= W_NR. */
static void w_micro_4x8(int64_t kc, const float *A, int64_t a_rs, int64_t a_cs, const float *Bp, int64_t ldb,
                        float *Y, int64_t ldy, int64_t rows, int64_t cols, int accumulate) {
  const float *a0 = A, *a1 = A + (rows > 1 ? a_rs : 0), *a2 = A + (rows > 2 ? 2 * a_rs : 0),
              *a3 = A + (rows > 3 ? 3 * a_rs : 0);
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int64_t k = 0; k < kc; ++k) {
    const v128_t b0 = wasm_v128_load(Bp + k * ldb), b1 = wasm_v128_load(Bp + k * ldb + 4);
    const int64_t ak = k * a_cs;
    v128_t x = wasm_f32x4_splat(a0[ak]);
    c00 = w_madd(c00, x, b0); c01 = w_madd(c01, x, b1);
    x = wasm_f32x4_splat(a1[ak]);
    c10 = w_madd(c10, x, b0); c11 = w_madd(c11, x, b1);
    x = wasm_f32x4_splat(a2[ak]);
    c20 = w_madd(c20, x, b0); c21 = w_madd(c21, x, b1);
    x = wasm_f32x4_splat(a3[ak]);
    c30 = w_madd(c30, x, b0); c31 = w_madd(c31, x, b1);
  }
  v128_t acc[W_MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
  for (int64_t r = 0; r < rows; ++r) {
    float *y = Y + r * ldy;
    if (cols == W_NR) {
      if (accumulate) {
        acc[r][0] = wasm_f32x4_add(acc[r][0], wasm_v128_load(y));
        acc[r][1] = wasm_f32x4_add(acc[r][1], wasm_v128_load(y + 4));
      }
      wasm_v128_store(y, acc[r][0]);
      wasm_v128_store(y + 4, acc[r][1]);
    } else {
      float t[W_NR];
      wasm_v128_store(t, acc[r][0]);
      wasm_v128_store(t + 4, acc[r][1]);
      for (int64_t j = 0; j < cols; ++j) y[j] = accumulate ? y[j] + t[j] : t[j];
    }
  }
}

void sdk_gemm_f32(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs,
                  const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
                  float beta, const float *C, int64_t c_rs, int64_t c_cs, float *Y) {
  float Bp[W_KC * W_NR] __attribute__((aligned(16)));
  for (int64_t bt = 0; bt < batch; ++bt) {
    const float *Ab = A + bt * a_bs, *Bb = B + bt * b_bs;
    float *Yb = Y + bt * M * N;
    if (K == 0)
      for (int64_t i = 0; i < M * N; ++i) Yb[i] = 0.0f;
    for (int64_t j0 = 0; j0 < N; j0 += W_NR) {
      const int64_t nc = N - j0 < W_NR ? N - j0 : W_NR;
      for (int64_t k0 = 0; k0 < K; k0 += W_KC) {
        const int64_t kc = K - k0 < W_KC ? K - k0 : W_KC;
        const float *panel = Bb + k0 * b_rs + j0 * b_cs;
        int64_t ldb = b_rs;
        if (nc < W_NR || b_cs != 1 || M > 4 * W_MR) { /* pack unless B's rows are read in place, few times */
          w_pack_b(kc, nc, panel, b_rs, b_cs, Bp);
          panel = Bp;
          ldb = W_NR;
        }
        for (int64_t i0 = 0; i0 < M; i0 += W_MR)
          w_micro_4x8(kc, Ab + i0 * a_rs + k0 * a_cs, a_rs, a_cs, panel, ldb, Yb + i0 * N + j0, N,
                      M - i0 < W_MR ? M - i0 : W_MR, nc, k0 > 0);
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

/* Portable direct convolution for the cases the padded-plane path does not take. */
static void w_conv_direct(int64_t n, int64_t m, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                        int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH,
                        int64_t DW, int64_t groups, const float *X, const float *Wt, const float *bias, float *Y) {
  const int64_t cin = C / groups, cout = M / groups, plane = OH * OW, g = m / cout;
  float *y = Y + (n * M + m) * plane;
  const float b0 = bias ? bias[m] : 0.0f;
  for (int64_t p = 0; p < plane; ++p) y[p] = b0;
  for (int64_t c = 0; c < cin; ++c) {
    const float *xc = X + (n * C + g * cin + c) * H * W;
    for (int64_t kh = 0; kh < KH; ++kh)
      for (int64_t kw = 0; kw < KW; ++kw) {
        const float w = Wt[((m * cin + c) * KH + kh) * KW + kw];
        const int64_t xoff = kw * DW - PW;
        int64_t lo = ceil_div(-xoff, SW), hi = ceil_div(W - xoff, SW);
        if (lo < 0) lo = 0;
        if (hi > OW) hi = OW;
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t ih = oh * SH - PH + kh * DH;
          if (ih < 0 || ih >= H) continue;
          for (int64_t ow = lo; ow < hi; ++ow) y[oh * OW + ow] += w * xc[ih * W + ow * SW + xoff];
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

/* 8 input columns starting at p with stride SW, as two vectors. */
static inline void w_load8(const float *p, int64_t SW, v128_t *lo, v128_t *hi) {
  if (SW == 1) {
    *lo = wasm_v128_load(p);
    *hi = wasm_v128_load(p + 4);
  } else if (SW == 2) {
    const v128_t q0 = wasm_v128_load(p), q1 = wasm_v128_load(p + 4), q2 = wasm_v128_load(p + 8),
                 q3 = wasm_v128_load(p + 12);
    *lo = wasm_i32x4_shuffle(q0, q1, 0, 2, 4, 6);
    *hi = wasm_i32x4_shuffle(q2, q3, 0, 2, 4, 6);
  } else {
    *lo = wasm_f32x4_make(p[0], p[SW], p[2 * SW], p[3 * SW]);
    *hi = wasm_f32x4_make(p[4 * SW], p[5 * SW], p[6 * SW], p[7 * SW]);
  }
}

void sdk_conv2d_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                    int64_t DH, int64_t DW, int64_t groups,
                    const float *X, const float *Wt, const float *bias, float *Y) {
  const int64_t cin = C / groups, cout = M / groups, plane = OH * OW;
  if (KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0 && groups == 1) {
    sdk_gemm_f32(N, M, plane, C, 1.0f, Wt, 0, C, 1, X, C * H * W, plane, 1, 0.0f, 0, 0, 0, Y);
    w_add_bias(N, M, plane, bias, Y);
    return;
  }
  const int64_t K = cin * KH * KW;
  if ((SW != 1 || OW < W_NR) && K * plane <= W_PLANE_MAX) {
    /* strided or narrow outputs waste lanes of the direct kernel: im2col into the stack, then GEMM per group */
    float col[W_PLANE_MAX] __attribute__((aligned(16)));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t g = 0; g < groups; ++g) {
        for (int64_t c = 0; c < cin; ++c) {
          const float *xc = X + (n * C + g * cin + c) * H * W;
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              float *dst = col + ((c * KH + kh) * KW + kw) * plane;
              for (int64_t oh = 0; oh < OH; ++oh) {
                const int64_t ih = oh * SH - PH + kh * DH;
                for (int64_t ow = 0; ow < OW; ++ow) {
                  const int64_t iw = ow * SW - PW + kw * DW;
                  dst[oh * OW + ow] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xc[ih * W + iw] : 0.0f;
                }
              }
            }
        }
        sdk_gemm_f32(1, cout, plane, K, 1.0f, Wt + g * cout * K, 0, K, 1, col, 0, plane, 1, 0.0f, 0, 0, 0,
                     Y + (n * M + g * cout) * plane);
      }
    w_add_bias(N, M, plane, bias, Y);
    return;
  }
  /* padded plane: rows -PH .. (OH-1)*SH - PH + (KH-1)*DH, columns wide enough for whole 8-column tiles */
  const int64_t OWr = (OW + W_NR - 1) / W_NR * W_NR;
  const int64_t Hp = (OH - 1) * SH + (KH - 1) * DH + 1;
  const int64_t Wp = (OWr - 1) * SW + (KW - 1) * DW + 1 + 8;
  if (Hp * Wp > W_PLANE_MAX) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m = 0; m < M; ++m)
        w_conv_direct(n, m, C, H, W, M, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, groups, X, Wt, bias, Y);
    return;
  }
  float xp[W_PLANE_MAX] __attribute__((aligned(16)));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t c = 0; c < cin; ++c) {
        const float *xc = X + (n * C + g * cin + c) * H * W;
        w_pad_plane(xc, H, W, PH, PW, Hp, Wp, 0.0f, xp);
        for (int64_t m0 = 0; m0 < cout; m0 += W_MR) {
          const int64_t mc = cout - m0 < W_MR ? cout - m0 : W_MR;
          const float *w[W_MR];
          float *y[W_MR];
          v128_t bv[W_MR];
          for (int64_t r = 0; r < W_MR; ++r) {
            const int64_t m = g * cout + m0 + (r < mc ? r : mc - 1);
            w[r] = Wt + (m * cin + c) * KH * KW;
            y[r] = Y + (n * M + m) * plane;
            bv[r] = wasm_f32x4_splat(bias ? bias[m] : 0.0f);
          }
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OWr; ow += W_NR) {
              v128_t a00, a01, a10, a11, a20, a21, a30, a31;
              const int64_t cols = OW - ow < W_NR ? OW - ow : W_NR;
              if (c == 0) {
                a00 = a01 = bv[0]; a10 = a11 = bv[1]; a20 = a21 = bv[2]; a30 = a31 = bv[3];
              } else if (cols == W_NR) { /* rows past mc alias row mc-1: same weights, same values */
                const int64_t o = oh * OW + ow;
                a00 = wasm_v128_load(y[0] + o); a01 = wasm_v128_load(y[0] + o + 4);
                a10 = wasm_v128_load(y[1] + o); a11 = wasm_v128_load(y[1] + o + 4);
                a20 = wasm_v128_load(y[2] + o); a21 = wasm_v128_load(y[2] + o + 4);
                a30 = wasm_v128_load(y[3] + o); a31 = wasm_v128_load(y[3] + o + 4);
              } else {
                float t[W_MR][W_NR] __attribute__((aligned(16)));
                for (int64_t r = 0; r < W_MR; ++r)
                  for (int64_t j = 0; j < W_NR; ++j) t[r][j] = j < cols ? y[r][oh * OW + ow + j] : 0.0f;
                a00 = wasm_v128_load(t[0]); a01 = wasm_v128_load(t[0] + 4);
                a10 = wasm_v128_load(t[1]); a11 = wasm_v128_load(t[1] + 4);
                a20 = wasm_v128_load(t[2]); a21 = wasm_v128_load(t[2] + 4);
                a30 = wasm_v128_load(t[3]); a31 = wasm_v128_load(t[3] + 4);
              }
              for (int64_t kh = 0; kh < KH; ++kh) {
                const float *row = xp + (oh * SH + kh * DH) * Wp + ow * SW;
                for (int64_t kw = 0; kw < KW; ++kw) {
                  v128_t x0, x1;
                  w_load8(row + kw * DW, SW, &x0, &x1);
                  const int64_t t = kh * KW + kw;
                  v128_t s = wasm_f32x4_splat(w[0][t]);
                  a00 = w_madd(a00, s, x0); a01 = w_madd(a01, s, x1);
                  s = wasm_f32x4_splat(w[1][t]);
                  a10 = w_madd(a10, s, x0); a11 = w_madd(a11, s, x1);
                  s = wasm_f32x4_splat(w[2][t]);
                  a20 = w_madd(a20, s, x0); a21 = w_madd(a21, s, x1);
                  s = wasm_f32x4_splat(w[3][t]);
                  a30 = w_madd(a30, s, x0); a31 = w_madd(a31, s, x1);
                }
              }
              if (cols == W_NR) {
                const int64_t o = oh * OW + ow;
                wasm_v128_store(y[3] + o, a30); wasm_v128_store(y[3] + o + 4, a31);
                wasm_v128_store(y[2] + o, a20); wasm_v128_store(y[2] + o + 4, a21);
                wasm_v128_store(y[1] + o, a10); wasm_v128_store(y[1] + o + 4, a11);
                wasm_v128_store(y[0] + o, a00); wasm_v128_store(y[0] + o + 4, a01);
              } else {
                float t[W_MR][W_NR] __attribute__((aligned(16)));
                wasm_v128_store(t[0], a00); wasm_v128_store(t[0] + 4, a01);
                wasm_v128_store(t[1], a10); wasm_v128_store(t[1] + 4, a11);
                wasm_v128_store(t[2], a20); wasm_v128_store(t[2] + 4, a21);
                wasm_v128_store(t[3], a30); wasm_v128_store(t[3] + 4, a31);
                for (int64_t r = 0; r < mc; ++r)
                  for (int64_t j = 0; j < cols; ++j) y[r][oh * OW + ow + j] = t[r][j];
              }
            }
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
