#include <math.h>
#include <string.h>

#include "sdk_kernels.h"
#include "sdk_math.h"
#if defined(_OPENMP)
#include <omp.h>
#endif

static inline float sdk_clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }


/* Register-tiled micro-kernel: an MR x NR tile of Y accumulates in locals
 * (compilers keep it in vector registers) over the whole K; B rows stream. */
#ifndef SDK_GEMM_MR /* a profile may tune the tile: 6x32 suits 16-32 vector registers of 8-16 lanes */
#define SDK_GEMM_MR 6
#endif
#ifndef SDK_GEMM_NR
#define SDK_GEMM_NR 32
#endif
#define MR SDK_GEMM_MR
#define NR SDK_GEMM_NR

static inline void gemm_tile(const int nr, int64_t K, const float *A, int64_t a_rs, int64_t a_cs, const float *B,
                             int64_t b_rs, float *Y, int64_t ldy) {
  float acc[MR][NR] = {{0.0f}}; /* nr <= NR columns: callers pass a constant, so each call site specialises */
  for (int64_t k = 0; k < K; ++k) {
    const float *b = B + k * b_rs;
    for (int r = 0; r < MR; ++r) {
      const float a = A[r * a_rs + k * a_cs];
      for (int j = 0; j < nr; ++j) acc[r][j] += a * b[j];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < nr; ++j) Y[r * ldy + j] = acc[r][j];
}

/* Edge tiles (rows < MR or cols < NR): plain loops, Y row by row. */
static void gemm_edge(int64_t rows, int64_t cols, int64_t K, const float *A, int64_t a_rs, int64_t a_cs,
                      const float *B, int64_t b_rs, float *Y, int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    float *restrict y = Y + r * ldy;
    for (int64_t j = 0; j < cols; ++j) y[j] = 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      const float *restrict b = B + k * b_rs;
      const float a = A[r * a_rs + k * a_cs];
      for (int64_t j = 0; j < cols; ++j) y[j] += a * b[j];
    }
  }
}

/* Rows [0, rows) (rows == MR: register tiles; fewer: the edge loops) x columns [j0, j1) of Y, j0 a multiple of NR:
 * the tiles a whole row takes in that range, so splitting the columns into blocks of whole tiles computes every
 * element the same way */
static void gemm_block(int64_t rows, int64_t j0, int64_t j1, int64_t N, int64_t K, const float *A, int64_t a_rs,
                       int64_t a_cs, const float *B, int64_t b_rs, float *Y) {
  int64_t j = j0;
  if (rows == MR) {
    for (; j + NR <= j1; j += NR) gemm_tile(NR, K, A, a_rs, a_cs, B + j, b_rs, Y + j, N);
    if (j1 - j >= NR / 2) { /* e.g. attention heads of 16 */
      gemm_tile(NR / 2, K, A, a_rs, a_cs, B + j, b_rs, Y + j, N);
      j += NR / 2;
    }
  }
  if (j < j1) gemm_edge(rows, j1 - j, K, A, a_rs, a_cs, B + j, b_rs, Y + j, N);
}

static void gemm_rowmajor_b(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs,
                            int64_t a_cs, const float *B, int64_t b_rs, float *Y) {
  /* tasks: row tiles x column blocks; few row tiles (a batch-1 product) split the columns as well */
  const int64_t row_tiles = (M + MR - 1) / MR, jc = row_tiles >= 8 ? N : 4 * NR;
  const int64_t col_blocks = N > 0 ? (N + jc - 1) / jc : 0;
  SDK_OMP(parallel for schedule(static) if(M * N * K >= SDK_PAR_MIN_WORK))
  for (int64_t t = 0; t < row_tiles * col_blocks; ++t) {
    const int64_t i0 = t / col_blocks * MR, j0 = t % col_blocks * jc;
    gemm_block(M - i0 < MR ? M - i0 : MR, j0, N - j0 < jc ? N : j0 + jc, N, K, A + i0 * a_rs, a_rs, a_cs, B, b_rs,
               Y + i0 * N);
  }
}

/* ARM64 NEON micro-kernels, used where the target profile asks for them (-DSDK_HAVE_NEON, e.g. android-arm64)
 * and the compiler targets AArch64 NEON; the plain C above stays the path everywhere else. */
#if defined(SDK_HAVE_NEON) && defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define SDK_USE_NEON 1

/* Y[i, j0:j0+16] for 4 rows (R == 4) or 1 row: a register tile of R x 16 accumulators over all of K, so Y is
 * written once; per k: 4 vector loads of B, R scalar loads of A, 4R fused multiply-adds (fmla by element). */
#define SDK_NEON_TILE16(R)                                                                                   \
  for (; j + 16 <= N; j += 16) {                                                                             \
    float32x4_t c[R][4];                                                                                     \
    const float *b = B + j;                                                                                  \
    for (int r = 0; r < R; ++r) c[r][0] = c[r][1] = c[r][2] = c[r][3] = vdupq_n_f32(0.0f);                   \
    for (int64_t k = 0; k < K; ++k, b += b_rs) {                                                             \
      const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12); \
      for (int r = 0; r < R; ++r) {                                                                          \
        const float a = ar[r][k * a_cs];                                                                     \
        c[r][0] = vfmaq_n_f32(c[r][0], b0, a);                                                               \
        c[r][1] = vfmaq_n_f32(c[r][1], b1, a);                                                               \
        c[r][2] = vfmaq_n_f32(c[r][2], b2, a);                                                               \
        c[r][3] = vfmaq_n_f32(c[r][3], b3, a);                                                               \
      }                                                                                                      \
    }                                                                                                        \
    for (int r = 0; r < R; ++r) {                                                                            \
      vst1q_f32(yr[r] + j, c[r][0]);                                                                         \
      vst1q_f32(yr[r] + j + 4, c[r][1]);                                                                     \
      vst1q_f32(yr[r] + j + 8, c[r][2]);                                                                     \
      vst1q_f32(yr[r] + j + 12, c[r][3]);                                                                    \
    }                                                                                                        \
  }                                                                                                          \
  for (; j + 4 <= N; j += 4) {                                                                               \
    float32x4_t c[R];                                                                                        \
    const float *b = B + j;                                                                                  \
    for (int r = 0; r < R; ++r) c[r] = vdupq_n_f32(0.0f);                                                    \
    for (int64_t k = 0; k < K; ++k, b += b_rs) {                                                             \
      const float32x4_t b0 = vld1q_f32(b);                                                                   \
      for (int r = 0; r < R; ++r) c[r] = vfmaq_n_f32(c[r], b0, ar[r][k * a_cs]);                             \
    }                                                                                                        \
    for (int r = 0; r < R; ++r) vst1q_f32(yr[r] + j, c[r]);                                                  \
  }                                                                                                          \
  for (; j < N; ++j)                                                                                         \
    for (int r = 0; r < R; ++r) {                                                                            \
      float acc = 0.0f;                                                                                      \
      for (int64_t k = 0; k < K; ++k) acc += ar[r][k * a_cs] * B[k * b_rs + j];                              \
      yr[r][j] = acc;                                                                                        \
    }

static void gemm_rowmajor_b_neon(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs,
                                 int64_t a_cs, const float *B, int64_t b_rs, float *Y) {
  const int64_t M4 = M - M % 4;
  SDK_OMP(parallel for schedule(static) if(M * N * K >= SDK_PAR_MIN_WORK)) /* row tiles: disjoint rows of Y */
  for (int64_t i0 = 0; i0 < M4; i0 += 4) {
    const float *ar[4] = {A + i0 * a_rs, A + (i0 + 1) * a_rs, A + (i0 + 2) * a_rs, A + (i0 + 3) * a_rs};
    float *yr[4] = {Y + i0 * N, Y + (i0 + 1) * N, Y + (i0 + 2) * N, Y + (i0 + 3) * N};
    int64_t j = 0;
    SDK_NEON_TILE16(4)
  }
  for (int64_t i0 = M4; i0 < M; ++i0) {
    const float *ar[1] = {A + i0 * a_rs};
    float *yr[1] = {Y + i0 * N};
    int64_t j = 0;
    SDK_NEON_TILE16(1)
  }
}

/* A row-major (a_cs == 1) times B transposed (b_rs == 1): dot products over contiguous k, 4 columns at once. */
static void gemm_dot_neon(int64_t M, int64_t N, int64_t K, const float *A, int64_t a_rs, const float *B,
                          int64_t b_cs, float *Y) {
  for (int64_t i = 0; i < M; ++i) {
    const float *a = A + i * a_rs;
    int64_t j = 0;
    for (; j + 4 <= N; j += 4) {
      const float *b0 = B + j * b_cs, *b1 = b0 + b_cs, *b2 = b1 + b_cs, *b3 = b2 + b_cs;
      float32x4_t c0 = vdupq_n_f32(0.0f), c1 = c0, c2 = c0, c3 = c0;
      int64_t k = 0;
      for (; k + 4 <= K; k += 4) {
        const float32x4_t av = vld1q_f32(a + k);
        c0 = vfmaq_f32(c0, av, vld1q_f32(b0 + k));
        c1 = vfmaq_f32(c1, av, vld1q_f32(b1 + k));
        c2 = vfmaq_f32(c2, av, vld1q_f32(b2 + k));
        c3 = vfmaq_f32(c3, av, vld1q_f32(b3 + k));
      }
      float s0 = vaddvq_f32(c0), s1 = vaddvq_f32(c1), s2 = vaddvq_f32(c2), s3 = vaddvq_f32(c3);
      for (; k < K; ++k) {
        s0 += a[k] * b0[k];
        s1 += a[k] * b1[k];
        s2 += a[k] * b2[k];
        s3 += a[k] * b3[k];
      }
      Y[i * N + j] = s0;
      Y[i * N + j + 1] = s1;
      Y[i * N + j + 2] = s2;
      Y[i * N + j + 3] = s3;
    }
    for (; j < N; ++j) {
      float acc = 0.0f;
      for (int64_t k = 0; k < K; ++k) acc += a[k] * B[j * b_cs + k];
      Y[i * N + j] = acc;
    }
  }
}
#endif

void sdk_gemm_f32(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs,
                  const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
                  float beta, const float *C, int64_t c_rs, int64_t c_cs, float *Y) {
  for (int64_t bt = 0; bt < batch; ++bt) {
    const float *Ab = A + bt * a_bs, *Bb = B + bt * b_bs;
    float *Yb = Y + bt * M * N;
    if (b_cs == 1) {
#if defined(SDK_USE_NEON)
      if (N >= 4)
        gemm_rowmajor_b_neon(M, N, K, Ab, a_rs, a_cs, Bb, b_rs, Yb);
      else
#endif
      gemm_rowmajor_b(M, N, K, Ab, a_rs, a_cs, Bb, b_rs, Yb);
#if defined(SDK_USE_NEON)
    } else if (a_cs == 1 && b_rs == 1) {
      gemm_dot_neon(M, N, K, Ab, a_rs, Bb, b_cs, Yb);
#endif
    } else {
      SDK_OMP(parallel for schedule(static) if(M * N * K >= SDK_PAR_MIN_WORK))
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          float acc = 0.0f;
          for (int64_t k = 0; k < K; ++k) acc += Ab[i * a_rs + k * a_cs] * Bb[k * b_rs + j * b_cs];
          Yb[i * N + j] = acc;
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

static int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

void sdk_conv2d_grad_weight_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                                int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                                int64_t DH, int64_t DW, int64_t groups, int64_t P, const float *X,
                                const float *dY, const float *acc, float beta, float *dW, float *scratch) {
  const int64_t cin = C / groups, cout = M / groups, K = cin * KH * KW, plane = OH * OW;
  float *col = scratch, *sum = scratch + P * K, *prod = sum + M * K;
  for (int64_t i = 0; i < M * K; ++i) sum[i] = 0.0f;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t p0 = 0; p0 < plane; p0 += P) {
        const int64_t np = plane - p0 < P ? plane - p0 : P;
        /* col[p, (c, kh, kw)]: the input tap of output position p0 + p, zero outside X */
        for (int64_t p = 0; p < np; ++p) {
          const int64_t oh = (p0 + p) / OW, ow = (p0 + p) % OW;
          float *row = col + p * K;
          for (int64_t c = 0; c < cin; ++c) {
            const float *xc = X + (n * C + g * cin + c) * H * W;
            for (int64_t kh = 0; kh < KH; ++kh) {
              const int64_t ih = oh * SH - PH + kh * DH;
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t iw = ow * SW - PW + kw * DW;
                *row++ = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xc[ih * W + iw] : 0.0f;
              }
            }
          }
        }
        /* prod[cout, K] = dY[n, group's channels, p0 : p0 + np] x col[np, K] */
        sdk_gemm_f32(1, cout, K, np, 1.0f, dY + (n * M + g * cout) * plane + p0, 0, plane, 1, col, 0, K, 1, 0.0f, 0,
                     0, 0, prod);
        {
          float *sg = sum + g * cout * K;
          for (int64_t i = 0; i < cout * K; ++i) sg[i] += prod[i];
        }
      }
  /* the gradient, then beta * acc added (as an unfolded momentum update would); acc[i] is read before dW[i] is
   * written, so acc may be dW */
  for (int64_t i = 0; i < M * K; ++i) dW[i] = acc ? sum[i] + beta * acc[i] : sum[i];
}

void sdk_conv2d_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                    int64_t DH, int64_t DW, int64_t groups,
                    const float *X, const float *Wt, const float *bias, float *Y) {
  const int64_t cin = C / groups, cout = M / groups, plane = OH * OW;
  if (KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0 && groups == 1) {
    /* pointwise: Y[n] = Wt[M,C] x X[n][C, H*W] */
    sdk_gemm_f32(N, M, plane, C, 1.0f, Wt, 0, C, 1, X, C * H * W, plane, 1, 0.0f, 0, 0, 0, Y);
    if (bias)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t m = 0; m < M; ++m) {
          float *y = Y + (n * M + m) * plane;
          for (int64_t p = 0; p < plane; ++p) y[p] += bias[m];
        }
    return;
  }
  /* tasks (split across threads): blocks of four output channels of one group, the last block of a group shorter */
  const int64_t blocks = (cout + 3) / 4;
  SDK_OMP(parallel for schedule(static) if(N * M * plane * cin * KH * KW >= SDK_PAR_MIN_WORK))
  for (int64_t t = 0; t < N * groups * blocks; ++t) {
    const int64_t n = t / (groups * blocks), group_end = (t / blocks % groups + 1) * cout;
    const int64_t m_first = group_end - cout + t % blocks * 4;
    const int64_t m_last = m_first + 4 < group_end ? m_first + 4 : group_end;
    for (int64_t m = m_first; m < m_last;) {
      /* four output channels of one group at once: each input load feeds 4 multiply-adds */
      const int64_t g = m / cout;
      const int64_t nm = (m + 4 <= (g + 1) * cout) ? 4 : 1;
      float *restrict y0 = Y + (n * M + m) * plane;
      float *restrict y1 = nm == 4 ? y0 + plane : y0;
      float *restrict y2 = nm == 4 ? y0 + 2 * plane : y0;
      float *restrict y3 = nm == 4 ? y0 + 3 * plane : y0;
      for (int64_t j = 0; j < nm; ++j) {
        const float b0 = bias ? bias[m + j] : 0.0f;
        for (int64_t p = 0; p < plane; ++p) y0[j * plane + p] = b0;
      }
      for (int64_t c = 0; c < cin; ++c) {
        const float *xc = X + (n * C + g * cin + c) * H * W;
        for (int64_t kh = 0; kh < KH; ++kh)
          for (int64_t kw = 0; kw < KW; ++kw) {
            const int64_t xoff = kw * DW - PW; /* input column = ow*SW + xoff */
            int64_t lo = ceil_div(-xoff, SW), hi = ceil_div(W - xoff, SW);
            const int64_t wi = ((m * cin + c) * KH + kh) * KW + kw, ws = cin * KH * KW;
            if (lo < 0) lo = 0;
            if (hi > OW) hi = OW;
            if (lo >= hi) continue;
            for (int64_t oh = 0; oh < OH; ++oh) {
              const int64_t ih = oh * SH - PH + kh * DH;
              const float *restrict xr = xc + ih * W;
              const int64_t r = oh * OW;
              if (ih < 0 || ih >= H) continue;
              if (nm == 4) {
                const float w0 = Wt[wi], w1 = Wt[wi + ws], w2 = Wt[wi + 2 * ws], w3 = Wt[wi + 3 * ws];
                int64_t ow = lo;
#if defined(SDK_USE_NEON)
                if (SW == 1) /* 4 output columns x 4 channels per step, FMLA by scalar */
                  for (; ow + 4 <= hi; ow += 4) {
                    const float32x4_t x = vld1q_f32(xr + ow + xoff);
                    vst1q_f32(y0 + r + ow, vfmaq_n_f32(vld1q_f32(y0 + r + ow), x, w0));
                    vst1q_f32(y1 + r + ow, vfmaq_n_f32(vld1q_f32(y1 + r + ow), x, w1));
                    vst1q_f32(y2 + r + ow, vfmaq_n_f32(vld1q_f32(y2 + r + ow), x, w2));
                    vst1q_f32(y3 + r + ow, vfmaq_n_f32(vld1q_f32(y3 + r + ow), x, w3));
                  }
#endif
                for (; ow < hi; ++ow) {
                  const float x = xr[ow * SW + xoff];
                  y0[r + ow] += w0 * x;
                  y1[r + ow] += w1 * x;
                  y2[r + ow] += w2 * x;
                  y3[r + ow] += w3 * x;
                }
              } else {
                const float w0 = Wt[wi];
                for (int64_t ow = lo; ow < hi; ++ow) y0[r + ow] += w0 * xr[ow * SW + xoff];
              }
            }
          }
      }
      m += nm;
    }
  }
}

/* taps k in [0, K) with lo <= base + k*D < hi */
static void tap_range(int64_t base, int64_t D, int64_t K, int64_t lo, int64_t hi, int64_t *k0, int64_t *k1) {
  int64_t a, b;
  if (D == 1) { /* the common case: no (slow) 64-bit division */
    a = lo - base;
    b = hi - base;
  } else {
    a = ceil_div(lo - base, D);
    b = ceil_div(hi - base, D);
  }
  *k0 = a < 0 ? 0 : a;
  *k1 = b > K ? K : b;
  if (*k1 < *k0) *k1 = *k0;
}

/* outputs whose whole K_ x K_ window (dilation 1, stride S_) lies inside the image, rows [r0, r1) x columns
 * [c0, c1): window, stride and mode are constants, so the window unrolls and the loop over ow vectorises */
typedef void (*pool_block_fn)(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t SH, int64_t PH,
                              int64_t PW, int64_t r0, int64_t r1, int64_t c0, int64_t c1, const float *X, float *Y);
/* one function per window, stride and mode (constants), so each is compiled for its case */
#define SDK_POOL_BLOCK(NAME, K_, S_, AVG)                                                                     \
  static void NAME(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t SH, int64_t PH, int64_t PW, \
                   int64_t r0, int64_t r1, int64_t c0, int64_t c1, const float *X, float *Y) {                  \
    SDK_OMP(parallel for schedule(static) if(NC * (r1 - r0) * (c1 - c0) * K_ * K_ >= SDK_PAR_MIN_WORK))          \
    for (int64_t nc = 0; nc < NC; ++nc)                                                                      \
      for (int64_t oh = r0; oh < r1; ++oh) {                                                                 \
        const float *restrict x0 = X + nc * H * W + (oh * SH - PH) * W - PW;                                \
        float *restrict yr = Y + (nc * OH + oh) * OW;                                                        \
        for (int64_t ow = c0; ow < c1; ++ow) {                                                               \
          const float *p = x0 + ow * S_;                                                                     \
          float m = AVG ? 0.0f : p[0];                                                                       \
          int nan = 0; /* NaN noted on the side: a plain max chain stays fast */                             \
          for (int kh = 0; kh < K_; ++kh)                                                                    \
            for (int kw = 0; kw < K_; ++kw) {                                                                \
              const float v = p[kh * W + kw];                                                                \
              if (AVG) {                                                                                     \
                m += v;                                                                                      \
              } else {                                                                                       \
                m = v > m ? v : m;                                                                           \
                nan |= v != v;                                                                               \
              }                                                                                              \
            }                                                                                                \
          yr[ow] = AVG ? m * (1.0f / (float)(K_ * K_)) : (nan ? NAN : m);                                    \
        }                                                                                                    \
      }                                                                                                      \
  }
SDK_POOL_BLOCK(pool_max2s1, 2, 1, 0)
SDK_POOL_BLOCK(pool_max2s2, 2, 2, 0)
SDK_POOL_BLOCK(pool_max3s1, 3, 1, 0)
SDK_POOL_BLOCK(pool_max3s2, 3, 2, 0)
SDK_POOL_BLOCK(pool_avg2s1, 2, 1, 1)
SDK_POOL_BLOCK(pool_avg2s2, 2, 2, 1)
SDK_POOL_BLOCK(pool_avg3s1, 3, 1, 1)
SDK_POOL_BLOCK(pool_avg3s2, 3, 2, 1)
#undef SDK_POOL_BLOCK

/* the block function of a 2x2 / 3x3 window with stride 1 / 2 */
static pool_block_fn pool_block_for(int64_t K, int64_t S, int avg) {
  if (avg) return K == 2 ? (S == 1 ? pool_avg2s1 : pool_avg2s2) : (S == 1 ? pool_avg3s1 : pool_avg3s2);
  return K == 2 ? (S == 1 ? pool_max2s1 : pool_max2s2) : (S == 1 ? pool_max3s1 : pool_max3s2);
}

#ifndef SDK_POOL_PAD_FLOATS /* stack floats for a padded copy of one plane; a profile may set it (host: 4096) */
#define SDK_POOL_PAD_FLOATS 0
#endif
#ifndef SDK_DW_PAD_FLOATS /* stack floats for a depthwise thread's own padded plane; a profile may set it (host) */
#define SDK_DW_PAD_FLOATS 0
#endif

#ifndef SDK_POOL_ROW_FLOATS /* stack floats for one row of column maxima (max pooling by rows); 0: off */
#define SDK_POOL_ROW_FLOATS 2048
#endif

/* the larger of a and b, NaN sticking (either one NaN: NaN), in a form compilers vectorise (compare + blend) */
static inline float pool_maxn(float a, float b) { return (b > a || b != b) ? b : a; }

#if SDK_POOL_ROW_FLOATS > 0
/* Vectors for max pooling by rows (GCC 12+ / clang: vector extensions and __builtin_shufflevector; else plain C, as
 * with -DSDK_POOL_SCALAR): blocks of L outputs of a row, L = 16 / 8 / 4 lanes (the widest the target has, narrower
 * ones for rows shorter than that); a row's last block overlaps the one before it (the same values again). */
#if defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 12) && !defined(SDK_POOL_SCALAR)
#define SDK_POOL_VEC 1
#if defined(__AVX512F__)
#include <immintrin.h>
#define SDK_POOL_LANES 16
#elif defined(__AVX__)
#define SDK_POOL_LANES 8
#else
#define SDK_POOL_LANES 4
#endif
#define SDK_POOL_EVEN4 0, 2, 4, 6
#define SDK_POOL_ODD4 1, 3, 5, 7
#define SDK_POOL_EVEN8 0, 2, 4, 6, 8, 10, 12, 14
#define SDK_POOL_ODD8 1, 3, 5, 7, 9, 11, 13, 15
#define SDK_POOL_EVEN16 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define SDK_POOL_ODD16 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
/* Per lane count L: pool_maxn on vectors (compare + select by bit masks); the maxima down `rows` rows (W apart) of
 * the L columns from r; the outputs [c0, c1) of one row (c1 - c0 >= L) of a KW = 2 or 3, SW = 1 or 2 window whose
 * columns all lie inside the row, x: the window's first row at column -PW. Each output's maxima are taken in the
 * scalar path's order (down the rows, then across the columns): the same floats. Stride 2 de-interleaves two
 * vectors of column maxima into their even and odd lanes; its third tap column (2o + 2) is the odd lanes of the
 * pair one column on, which ends at the window's last column (nothing past the row is read). */
#define SDK_POOL_TYPES_L(L)                                                                                    \
  typedef float pool_v##L __attribute__((vector_size(4 * L), aligned(4), may_alias));                        \
  typedef int32_t pool_i##L __attribute__((vector_size(4 * L)));
#define SDK_POOL_MAXN_L(L)                                                                                     \
  static inline pool_v##L pool_maxn##L(pool_v##L a, pool_v##L b) {                                           \
    const pool_i##L m = (b > a) | (b != b);                                                                  \
    return (pool_v##L)((m & (pool_i##L)b) | (~m & (pool_i##L)a));                                            \
  }
#define SDK_POOL_VEC_L(L)                                                                                      \
  static inline pool_v##L pool_down##L(const float *r, int64_t rows, int64_t W) {                            \
    pool_v##L m = *(const pool_v##L *)r;                                                                     \
    if (rows == 3) /* the common window, unrolled */                                                         \
      return pool_maxn##L(pool_maxn##L(m, *(const pool_v##L *)(r + W)), *(const pool_v##L *)(r + 2 * W));   \
    for (int64_t h = 1; h < rows; ++h) m = pool_maxn##L(m, *(const pool_v##L *)(r + h * W));                 \
    return m;                                                                                                \
  }                                                                                                          \
  static inline void pool_row##L(const float *x, int64_t rows, int64_t W, int64_t KW, int64_t SW, int64_t c0,  \
                                 int64_t c1, float *restrict y) {                                            \
    for (int64_t o = c0;; o += L) {                                                                          \
      if (o + L > c1) o = c1 - L;                                                                            \
      pool_v##L m;                                                                                           \
      if (SW == 1) {                                                                                         \
        m = pool_maxn##L(pool_down##L(x + o, rows, W), pool_down##L(x + o + 1, rows, W));                    \
        if (KW == 3) m = pool_maxn##L(m, pool_down##L(x + o + 2, rows, W));                                  \
      } else {                                                                                               \
        const pool_v##L a = pool_down##L(x + 2 * o, rows, W), b = pool_down##L(x + 2 * o + L, rows, W);      \
        m = pool_maxn##L(__builtin_shufflevector(a, b, SDK_POOL_EVEN##L),                                    \
                         __builtin_shufflevector(a, b, SDK_POOL_ODD##L));                                    \
        if (KW == 3) {                                                                                       \
          const pool_v##L c = pool_down##L(x + 2 * o + 1, rows, W);                                          \
          const pool_v##L d = pool_down##L(x + 2 * o + 1 + L, rows, W);                                      \
          m = pool_maxn##L(m, __builtin_shufflevector(c, d, SDK_POOL_ODD##L));                               \
        }                                                                                                    \
      }                                                                                                      \
      *(pool_v##L *)(y + o) = m;                                                                             \
      if (o + L >= c1) break;                                                                                \
    }                                                                                                        \
  }
SDK_POOL_TYPES_L(4)
SDK_POOL_MAXN_L(4)
SDK_POOL_VEC_L(4)
#if SDK_POOL_LANES >= 8
SDK_POOL_TYPES_L(8)
SDK_POOL_MAXN_L(8)
SDK_POOL_VEC_L(8)
#endif
#if SDK_POOL_LANES >= 16
SDK_POOL_TYPES_L(16)
#if defined(__AVX512F__)
/* AVX-512: vmaxps(b, a) is b > a ? b : a (a when either is NaN, and on equal zeros), then b where b is NaN: the same
 * result as the compare-and-select form, in three instructions of which one compare (the form above: two compares
 * into masks, both on the one port that takes them, an or of the masks and the masked move). ResNet-18's stem pool
 * and SqueezeNet's three pools are bound by these compares */
static inline pool_v16 pool_maxn16(pool_v16 a, pool_v16 b) {
  const __m512 bv = (__m512)b, r = _mm512_max_ps(bv, (__m512)a);
  return (pool_v16)_mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(bv, bv, _CMP_UNORD_Q), bv);
}
#else
SDK_POOL_MAXN_L(16)
#endif
SDK_POOL_VEC_L(16)
#if defined(__AVX512F__)
#define SDK_POOL_REGS16 1 /* pool_row16_regs */
/* Max pooling rows with the column maxima in registers (AVX-512): pool_cells16 takes the maxima down the window's
 * `rows` rows of the row-buffer cells [c, c + 16) (cell i: column i - PW; -inf outside the image, as the buffer's
 * frame: masked loads, an expanding load at the left edge), pool_row16_regs a row's outputs from them, 16 at a time
 * (the last block overlapping the one before it; a row of fewer than 16 outputs: one block, a masked store). The
 * buffer path stored the maxima (pool_down_row) and loaded them back at once at other offsets (stride 2: +1, +16,
 * +17): loads spanning two pending stores wait for both to retire (SqueezeNet's 27x27 -> 13x13 pool: 50 us against
 * onnxruntime's 17 us in NCHWc). The same taps in the same order as the buffer path: the same floats */
static inline pool_v16 pool_cells16(const float *x, int64_t rows, int64_t W, int64_t PW, int64_t c) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const int64_t col = c - PW;
  if (col >= W || col <= -16) return (pool_v16)ninf;
  pool_v16 m;
  if (col < 0) { /* lanes -col.. take columns 0.. */
    const int64_t n = W < 16 + col ? W : 16 + col;
    const __mmask16 k = (__mmask16)(((1u << n) - 1u) << -col);
    m = (pool_v16)_mm512_mask_expandloadu_ps(ninf, k, x);
    for (int64_t h = 1; h < rows; ++h) m = pool_maxn16(m, (pool_v16)_mm512_mask_expandloadu_ps(ninf, k, x + h * W));
  } else if (col + 16 > W) {
    const __mmask16 k = (__mmask16)((1u << (W - col)) - 1u);
    m = (pool_v16)_mm512_mask_loadu_ps(ninf, k, x + col);
    for (int64_t h = 1; h < rows; ++h) m = pool_maxn16(m, (pool_v16)_mm512_mask_loadu_ps(ninf, k, x + h * W + col));
  } else {
    m = pool_down16(x + col, rows, W);
  }
  return m;
}
static inline void pool_row16_regs(const float *x, int64_t rows, int64_t W, int64_t PW, int64_t KW, int64_t SW,
                                   int64_t OW, float *restrict y) {
  pool_v16 a = pool_cells16(x, rows, W, PW, 0), next;
  int64_t at = 0; /* the cell `a` starts at */
  for (int64_t o = 0;; o += 16) {
    if (o + 16 > OW && OW >= 16) o = OW - 16;
    const int64_t c = o * SW;
    if (c != at) a = pool_cells16(x, rows, W, PW, c);
    const pool_v16 b = pool_cells16(x, rows, W, PW, c + 16);
    pool_v16 m;
    if (SW == 1) { /* cells o + 1 and o + 2: a shifted by one and two lanes, b's first lanes after it */
      m = pool_maxn16(a, (pool_v16)_mm512_alignr_epi32((__m512i)b, (__m512i)a, 1));
      if (KW == 3) m = pool_maxn16(m, (pool_v16)_mm512_alignr_epi32((__m512i)b, (__m512i)a, 2));
      next = b;
    } else {
      next = OW >= 16 ? pool_cells16(x, rows, W, PW, c + 32) : b; /* cells 2o + 32..: the next block's a */
      m = pool_maxn16(__builtin_shufflevector(a, b, SDK_POOL_EVEN16), __builtin_shufflevector(a, b, SDK_POOL_ODD16));
      if (KW == 3) { /* cells 2o + 2: a and b's even lanes from the second, cell 2o + 32 (next's first) last */
        pool_v16 t = __builtin_shufflevector(a, b, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 31);
        if (OW >= 16) t = (pool_v16)_mm512_mask_broadcastss_ps((__m512)t, (__mmask16)0x8000, _mm512_castps512_ps128((__m512)next));
        m = pool_maxn16(m, t);
      }
    }
    if (OW < 16) { /* one block: lane 15 (cell 32 at stride 2) is never stored */
      _mm512_mask_storeu_ps(y, (__mmask16)((1u << OW) - 1u), (__m512)m);
      return;
    }
    *(pool_v16 *)(y + o) = m;
    if (o + 16 >= OW) return;
    a = next, at = c + 16 * SW;
  }
}
#endif
#endif
#undef SDK_POOL_VEC_L
#undef SDK_POOL_MAXN_L
#undef SDK_POOL_TYPES_L
#else
#define SDK_POOL_VEC 0
#endif

/* Max pooling by rows, dilation 1. Per output row: (1) the maxima down the window's rows that lie inside the image,
 * one per input column, into a row buffer framed by -inf: PW cells before the image's first column and, after its
 * last, as many as the last window reaches (padding, ceil mode); (2) each output's maximum across its KW cells of
 * that buffer. Padding then costs nothing and there are no edge cases: a -inf cell never wins (and a NaN still
 * sticks). Both passes take vectors of L = 16 / 8 / 4 lanes where a row has at least L cells (SDK_POOL_VEC; a row's
 * last block overlaps the one before it), windows of 2 or 3 columns at stride 1 or 2 in the second; otherwise plain
 * loops. Every output's maxima are taken in one order (down the rows, then across the columns, left to right), so
 * every path gives the same floats. The column maxima are taken once per output row: a 3x3 stride-1 window used to
 * take each column's maximum three times, and the two padded edge outputs of each row tap by tap (GoogLeNet's
 * 3x3/1 pad-1 pools on 28x28 to 7x7 planes were 2-6x onnxruntime's time). */
static void pool_down_row(const float *r, int64_t rows, int64_t W, float *restrict v) {
#if SDK_POOL_VEC
#define SDK_POOL_DOWN_BLOCKS(L)                                                                               \
  if (W >= L) {                                                                                              \
    for (int64_t o = 0;; o += L) {                                                                           \
      if (o + L > W) o = W - L;                                                                              \
      *(pool_v##L *)(v + o) = pool_down##L(r + o, rows, W);                                                  \
      if (o + L >= W) return;                                                                                \
    }                                                                                                        \
  }
#if SDK_POOL_LANES >= 16
  SDK_POOL_DOWN_BLOCKS(16)
#endif
#if SDK_POOL_LANES >= 8
  SDK_POOL_DOWN_BLOCKS(8)
#endif
  SDK_POOL_DOWN_BLOCKS(4)
#undef SDK_POOL_DOWN_BLOCKS
#endif
  for (int64_t w = 0; w < W; ++w) {
    float m = r[w];
    for (int64_t h = 1; h < rows; ++h) m = pool_maxn(m, r[h * W + w]);
    v[w] = m;
  }
}

static void pool_max_rows(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t KH, int64_t KW, int64_t SH,
                          int64_t SW, int64_t PH, int64_t PW, const float *X, float *Y) {
  const int64_t reach = (OW - 1) * SW + KW; /* buffer cells the row's windows cover */
  const int64_t cells = reach > PW + W ? reach : PW + W;
  const int vec = SDK_POOL_VEC && (KW == 2 || KW == 3) && (SW == 1 || SW == 2) && OW >= 4;
#if defined(SDK_POOL_REGS16)
  const int regs = vec; /* pool_row16_regs: no row buffer */
#endif
  SDK_OMP(parallel if(NC * OH * OW * KH * KW >= SDK_PAR_MIN_WORK))
  {
    float v[SDK_POOL_ROW_FLOATS];
    for (int64_t i = 0; i < PW; ++i) v[i] = -INFINITY;
    for (int64_t i = PW + W; i < cells; ++i) v[i] = -INFINITY;
    SDK_OMP(for schedule(static))
    for (int64_t nc = 0; nc < NC; ++nc)
      for (int64_t oh = 0; oh < OH; ++oh) {
        const float *x = X + nc * H * W;
        float *restrict yr = Y + (nc * OH + oh) * OW;
        int64_t h0 = oh * SH - PH, h1 = h0 + KH;
        h0 = h0 < 0 ? 0 : h0;
        h1 = h1 > H ? H : h1;
        if (h1 <= h0) { /* no row of the window inside the image (excess padding): the identity of max */
          for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = -INFINITY;
          continue;
        }
#if defined(SDK_POOL_REGS16)
        if (regs) {
          pool_row16_regs(x + h0 * W, h1 - h0, W, PW, KW, SW, OW, yr);
          continue;
        }
#endif
        pool_down_row(x + h0 * W, h1 - h0, W, v + PW);
        if (vec) {
#if SDK_POOL_VEC
#if SDK_POOL_LANES >= 16
          if (OW >= 16) pool_row16(v, 1, 0, KW, SW, 0, OW, yr);
          else
#endif
#if SDK_POOL_LANES >= 8
          if (OW >= 8) pool_row8(v, 1, 0, KW, SW, 0, OW, yr);
          else
#endif
            pool_row4(v, 1, 0, KW, SW, 0, OW, yr);
#endif
          continue;
        }
        for (int64_t ow = 0; ow < OW; ++ow) {
          const float *t = v + ow * SW;
          float m = t[0];
          for (int64_t kw = 1; kw < KW; ++kw) m = pool_maxn(m, t[kw]);
          yr[ow] = m;
        }
      }
  }
}
#endif

#if SDK_POOL_PAD_FLOATS > 0
/* Average pooling of "same" windows at stride 1 (OH = H, OW = W: pads PH + PH_END = KH - 1, PW + PW_END = KW - 1;
 * GoogLeNet- and Inception-style 3x3/1 pad-1 pools), dilation 1, planes of up to SDK_POOL_PAD_FLOATS floats, each
 * taken as one flat array: (1) the window's rows summed into a plane buffer, tap row kh adding the input shifted by
 * (kh - PH) rows over the one contiguous range of outputs it reaches; (2) the buffer's columns summed into Y the same
 * way, shifted by kw - PW, and divided by the window's size; (3) the outputs whose window is clipped by an edge
 * (columns: also the neighbouring rows' cells that step 2 added across a row's end) taken again one by one with their
 * own counts. Steps 1 and 2 are a few long vector loops per plane; per output row they were rows of 8 to 35 floats,
 * mostly vector tails (Inception-v3's 8x8 planes of 2048 channels: 1.36 ms in main's padded-copy path). */
static void pool_avg_same(int64_t NC, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t PH, int64_t PW,
                          int include_pad, const float *X, float *Y) {
  const int64_t HW = H * W;
  SDK_OMP(parallel if(NC * HW * KH * KW >= SDK_PAR_MIN_WORK))
  {
    float buf[SDK_POOL_PAD_FLOATS];
    SDK_OMP(for schedule(static))
    for (int64_t nc = 0; nc < NC; ++nc) {
      const float *restrict x = X + nc * HW;
      float *restrict y = Y + nc * HW;
      float *restrict v = buf;
      for (int64_t i = 0; i < HW; ++i) v[i] = x[i]; /* tap row PH: the output's own row */
      for (int64_t kh = 0; kh < KH; ++kh) {
        const int64_t d = (kh - PH) * W, i0 = d < 0 ? -d : 0, i1 = d > 0 ? HW - d : HW;
        if (kh == PH) continue;
        for (int64_t i = i0; i < i1; ++i) v[i] += x[i + d];
      }
      for (int64_t i = 0; i < HW; ++i) y[i] = v[i];
      for (int64_t kw = 0; kw < KW; ++kw) {
        const int64_t e = kw - PW, i0 = e < 0 ? -e : 0, i1 = e > 0 ? HW - e : HW;
        if (kw == PW) continue;
        for (int64_t i = i0; i < i1; ++i) y[i] += v[i + e];
      }
      const float full = (float)(KH * KW);
      for (int64_t i = 0; i < HW; ++i) y[i] /= full;
      /* clipped windows: columns [0, PW) and [W - (KW - 1 - PW), W) of every row; with the padding not counted also
       * every column of rows [0, PH) and [H - (KH - 1 - PH), H) */
      const int64_t cl = PW < W ? PW : W, cr = W - (KW - 1 - PW) > cl ? W - (KW - 1 - PW) : cl;
      const int64_t rt = PH < H ? PH : H, rb = H - (KH - 1 - PH) > rt ? H - (KH - 1 - PH) : rt;
      for (int64_t oh = 0; oh < H; ++oh) {
        int64_t k0, k1;
        tap_range(oh - PH, 1, KH, 0, H, &k0, &k1);
        const int all = !include_pad && (oh < rt || oh >= rb);
        for (int64_t ow = 0; ow < W; ++ow) {
          if (!all && ow == cl) ow = cr;
          if (ow >= W) break;
          int64_t w0, w1;
          tap_range(ow - PW, 1, KW, 0, W, &w0, &w1);
          float t = 0.0f;
          for (int64_t kw = w0; kw < w1; ++kw) t += v[oh * W + ow - PW + kw];
          y[oh * W + ow] = t / (float)(include_pad ? KH * KW : (k1 - k0) * (w1 - w0));
        }
      }
    }
  }
}
#endif

#if SDK_POOL_ROW_FLOATS > 0
/* Average pooling by rows, dilation 1, any window and stride. Per output row: (1) the sums down the window's rows
 * that lie inside the image, one per input column, into a row buffer framed by zeros (PW cells before the image's
 * first column and, after its last, as many as the last window reaches); (2) each output's sum across its KW cells of
 * that buffer, then divided by its count: the window's cells inside the padded image [-PH, H + PH_END) x [-PW,
 * W + PW_END) with count_include_pad (include_pad), else those inside the image; a row's count is (its rows) x
 * (its columns), KW columns between the edges. Both passes are loops over contiguous columns, so they vectorise, a
 * row's column sums are taken once (a 3x3 stride-1 window used to add every input three times), and the threads
 * split the planes with no per-plane copy or nested parallel region: Inception-v3's 3x3/1 pad-1 pools (35x35 to 8x8
 * planes of up to 2048 channels) were padded into a stack copy plane by plane, 6.2 ms of its 102 ms at one thread. */
static void pool_avg_rows(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t KH, int64_t KW, int64_t SH,
                          int64_t SW, int64_t PH, int64_t PW, int64_t PH_END, int64_t PW_END, int include_pad,
                          const float *X, float *Y) {
  const int64_t reach = (OW - 1) * SW + KW; /* buffer cells the row's windows cover */
  const int64_t cells = reach > PW + W ? reach : PW + W;
  /* outputs [c0, c1) of a row count all KW columns; the others are clipped by an edge */
  const int64_t clo = include_pad ? -PW : 0, chi = include_pad ? W + PW_END : W;
  int64_t c0 = ceil_div(clo + PW, SW), c1 = OW;
  while (c1 > c0 && (c1 - 1) * SW - PW + KW > chi) --c1;
  if (c0 > OW) c0 = OW;
  if (c1 < c0) c1 = c0;
  SDK_OMP(parallel if(NC * OH * OW * KH * KW >= SDK_PAR_MIN_WORK))
  {
    float v[SDK_POOL_ROW_FLOATS];
    for (int64_t i = 0; i < PW; ++i) v[i] = 0.0f;
    for (int64_t i = PW + W; i < cells; ++i) v[i] = 0.0f;
    SDK_OMP(for schedule(static))
    for (int64_t nc = 0; nc < NC; ++nc)
      for (int64_t oh = 0; oh < OH; ++oh) {
        const float *x = X + nc * H * W;
        float *restrict yr = Y + (nc * OH + oh) * OW;
        float *restrict vr = v + PW;
        int64_t h0 = oh * SH - PH, h1 = h0 + KH, k0, k1;
        tap_range(h0, 1, KH, include_pad ? -PH : 0, include_pad ? H + PH_END : H, &k0, &k1);
        const int64_t rows = k1 - k0;
        h0 = h0 < 0 ? 0 : h0;
        h1 = h1 > H ? H : h1;
        if (h1 <= h0) { /* no row of the window inside the image (excess padding): zero sums */
          for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = 0.0f;
          continue;
        }
        const float *restrict xr = x + h0 * W;
        for (int64_t w = 0; w < W; ++w) vr[w] = xr[w];
        for (int64_t h = 1; h < h1 - h0; ++h) {
          const float *restrict xh = xr + h * W;
          for (int64_t w = 0; w < W; ++w) vr[w] += xh[w];
        }
        if (SW == 1) {
          for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = v[ow];
          for (int64_t kw = 1; kw < KW; ++kw)
            for (int64_t ow = 0; ow < OW; ++ow) yr[ow] += v[ow + kw];
        } else {
          for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = v[ow * SW];
          for (int64_t kw = 1; kw < KW; ++kw)
            for (int64_t ow = 0; ow < OW; ++ow) yr[ow] += v[ow * SW + kw];
        }
        const float d = (float)(rows * KW > 0 ? rows * KW : 1);
        for (int64_t ow = c0; ow < c1; ++ow) yr[ow] /= d;
        for (int64_t ow = 0; ow < OW; ++ow) { /* the clipped columns: their own counts */
          if (ow == c0) ow = c1;
          if (ow >= OW) break;
          int64_t w0, w1;
          tap_range(ow * SW - PW, 1, KW, clo, chi, &w0, &w1);
          const int64_t cnt = rows * (w1 - w0);
          yr[ow] /= (float)(cnt > 0 ? cnt : 1);
        }
      }
  }
}
#endif

void sdk_pool2d_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t KH,
                    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW,
                    int64_t PH_END, int64_t PW_END, int64_t mode, const float *X, float *Y) {
#if SDK_POOL_ROW_FLOATS > 0
  /* every max pool with dilation 1 whose padded row fits the row buffer: by rows (pool_max_rows) */
  if (mode == 0 && DH == 1 && DW == 1 && KW > 1 && OH > 0 && OW > 0 && PW + W <= SDK_POOL_ROW_FLOATS &&
      (OW - 1) * SW + KW <= SDK_POOL_ROW_FLOATS) {
    pool_max_rows(N * C, H, W, OH, OW, KH, KW, SH, SW, PH, PW, X, Y);
    return;
  }
#if SDK_POOL_PAD_FLOATS > 0
  if (mode != 0 && DH == 1 && DW == 1 && SH == 1 && SW == 1 && OH == H && OW == W && PH + PH_END == KH - 1 &&
      PW + PW_END == KW - 1 && H * W <= SDK_POOL_PAD_FLOATS && H > 0 && W > 0) {
    pool_avg_same(N * C, H, W, KH, KW, PH, PW, mode == 2, X, Y);
    return;
  }
#endif
  /* the other average pools with dilation 1 that the window blocks below do not take (windows other than 2x2 / 3x3
   * at stride 1 / 2: tap by tap there) whose padded row fits the row buffer: by rows (pool_avg_rows; DenseNet's
   * 2x2/2 transition pools on 56x56 ran 138 us by rows against 62 us in the block) */
  if (mode != 0 && DH == 1 && DW == 1 && !(KH == KW && (KH == 2 || KH == 3) && SW == SH && (SW == 1 || SW == 2)) &&
      OH > 0 && OW > 0 && PW + W <= SDK_POOL_ROW_FLOATS &&
      (OW - 1) * SW + KW <= SDK_POOL_ROW_FLOATS) {
    pool_avg_rows(N * C, H, W, OH, OW, KH, KW, SH, SW, PH, PW, PH_END, PW_END, mode == 2, X, Y);
    return;
  }
#endif
  /* interior block [r0, r1) x [c0, c1): every tap inside the image (so also every padded tap) */
  int64_t c0 = ceil_div(PW, SW), c1 = OW, r0 = ceil_div(PH, SH), r1 = OH;
  while (c1 > c0 && (c1 - 1) * SW - PW + (KW - 1) * DW >= W) --c1;
  while (r1 > r0 && (r1 - 1) * SH - PH + (KH - 1) * DH >= H) --r1;
  if (c0 > OW) c0 = OW;
  if (r0 > OH) r0 = OH;
  if (c1 < c0) c1 = c0;
  if (r1 < r0) r1 = r0;
  const int fast = DH == 1 && DW == 1 && KH == KW && (KH == 2 || KH == 3) && SW == SH && (SW == 1 || SW == 2);
#if SDK_POOL_PAD_FLOATS > 0
  if (fast && (PH || PW || PH_END || PW_END)) {
    /* small padded planes: copy each plane into a padded stack buffer (pad value -inf / 0), so every output
     * is an interior one; averages then rescale by K*K / their tap count */
    int64_t Hp = (OH - 1) * SH + KH, Wp = (OW - 1) * SW + KW;
    Hp = Hp > PH + H ? Hp : PH + H;
    Wp = Wp > PW + W ? Wp : PW + W;
    if (Hp * Wp + OH * OW <= SDK_POOL_PAD_FLOATS) {
      /* threads split the planes, each with its own stack buffer (and its own copy of the scales) */
      SDK_OMP(parallel if(N * C * OH * OW * KH * KW >= SDK_PAR_MIN_WORK))
      {
        float buf[SDK_POOL_PAD_FLOATS];
        float *pad = buf, *scale = buf + Hp * Wp;
        const float init = mode == 0 ? -INFINITY : 0.0f;
        if (mode != 0)
          for (int64_t oh = 0; oh < OH; ++oh) {
            int64_t k0, k1;
            tap_range(oh * SH - PH, 1, KH, mode == 2 ? -PH : 0, mode == 2 ? H + PH_END : H, &k0, &k1);
            for (int64_t ow = 0; ow < OW; ++ow) {
              int64_t w0, w1;
              tap_range(ow * SW - PW, 1, KW, mode == 2 ? -PW : 0, mode == 2 ? W + PW_END : W, &w0, &w1);
              const int64_t cnt = (k1 - k0) * (w1 - w0);
              scale[oh * OW + ow] = (float)(KH * KW) / (float)(cnt > 0 ? cnt : 1);
            }
          }
        SDK_OMP(for schedule(static))
        for (int64_t nc = 0; nc < N * C; ++nc) {
          for (int64_t p = 0; p < Hp * Wp; ++p) pad[p] = init;
          for (int64_t h = 0; h < H; ++h) {
            const float *restrict xr = X + (nc * H + h) * W;
            float *restrict pr = pad + (PH + h) * Wp + PW;
            for (int64_t w = 0; w < W; ++w) pr[w] = xr[w];
          }
          float *y = Y + nc * OH * OW;
          const int avg = mode != 0;
          pool_block_for(KH, SW, avg)(1, Hp, Wp, OH, OW, SH, 0, 0, 0, OH, 0, OW, pad, y);
          if (avg)
            for (int64_t p = 0; p < OH * OW; ++p) y[p] *= scale[p];
        }
      }
      return;
    }
  }
#endif
  if (!fast) c0 = c1 = r0 = r1 = 0; /* no special block: the tap-by-tap loops do everything */
  if (fast && r0 == 0 && r1 == OH && c0 == 0 && c1 == OW) { /* every window inside the image */
    pool_block_for(KH, SW, mode != 0)(N * C, H, W, OH, OW, SH, PH, PW, 0, OH, 0, OW, X, Y);
    return;
  }
  /* the rest tap by tap over output rows: for tap column kw the outputs whose tap lies inside the row form
   * one range [a, b), so the inner loop is a plain (vectorisable) max/add over ow */
  const float init = mode == 0 ? -INFINITY : 0.0f;
  for (int64_t p = 0; p < N * C * OH * OW; ++p) Y[p] = init;
  for (int64_t kw = 0; kw < KW; ++kw) {
    int64_t a = ceil_div(PW - kw * DW, SW), b = ceil_div(W + PW - kw * DW, SW);
    a = a < 0 ? 0 : a > OW ? OW : a;
    b = b < a ? a : b > OW ? OW : b;
    for (int64_t nc = 0; nc < N * C; ++nc) {
      const float *x = X + nc * H * W;
      float *y = Y + nc * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int inner = oh >= r0 && oh < r1; /* then skip columns [c0, c1): the block does them */
        if (inner && c0 <= a && c1 >= b) continue;
        const int64_t h0 = oh * SH - PH;
        int64_t kh0, kh1;
        tap_range(h0, DH, KH, 0, H, &kh0, &kh1);
        float *restrict yr = y + oh * OW;
        for (int part = 0; part < (inner ? 2 : 1); ++part) {
          const int64_t pa = inner ? (part == 0 ? a : (c1 > a ? c1 : a)) : a;
          const int64_t pb = inner ? (part == 0 ? (c0 < b ? c0 : b) : b) : b;
          for (int64_t kh = kh0; kh < kh1; ++kh) {
            const float *restrict xr = x + (h0 + kh * DH) * W + kw * DW - PW;
            if (mode == 0 && SW == 1)
              for (int64_t ow = pa; ow < pb; ++ow) {
                const float v = xr[ow], c = yr[ow];
                yr[ow] = ((v > c) | (v != v)) ? v : c; /* NaN sticks */
              }
            else if (mode == 0)
              for (int64_t ow = pa; ow < pb; ++ow) {
                const float v = xr[ow * SW], c = yr[ow];
                yr[ow] = ((v > c) | (v != v)) ? v : c;
              }
            else if (SW == 1)
              for (int64_t ow = pa; ow < pb; ++ow) yr[ow] += xr[ow];
            else
              for (int64_t ow = pa; ow < pb; ++ow) yr[ow] += xr[ow * SW];
          }
        }
      }
    }
  }
  if (mode != 0) { /* average of the edge outputs: divide by their tap count */
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = oh * SH - PH;
      int64_t k0, k1;
      if (mode == 2)
        tap_range(h0, DH, KH, -PH, H + PH_END, &k0, &k1);
      else
        tap_range(h0, DH, KH, 0, H, &k0, &k1);
      for (int64_t ow = 0; ow < OW; ++ow) {
        if (oh >= r0 && oh < r1 && ow >= c0 && ow < c1) continue;
        int64_t w0, w1;
        if (mode == 2)
          tap_range(ow * SW - PW, DW, KW, -PW, W + PW_END, &w0, &w1);
        else
          tap_range(ow * SW - PW, DW, KW, 0, W, &w0, &w1);
        const int64_t cnt = (k1 - k0) * (w1 - w0);
        const float div = (float)(cnt > 0 ? cnt : 1);
        for (int64_t nc = 0; nc < N * C; ++nc) Y[(nc * OH + oh) * OW + ow] /= div;
      }
    }
  }
  if (!fast) return;
  pool_block_for(KH, SW, mode != 0)(N * C, H, W, OH, OW, SH, PH, PW, r0, r1, c0, c1, X, Y);
}

/* ---------------------------------------------------------------- vectors of the widest kind (GCC/clang) */
/* GCC/clang vector extensions where the target has vector registers (one vector of the widest kind per chain);
 * -DSDK_DW_VEC=0 forces the one-output-at-a-time form (tests run it on the host) */
#ifndef SDK_DW_VEC
#if defined(__GNUC__) && (defined(__AVX512F__) || defined(__AVX__) || defined(__SSE2__) || defined(__ARM_NEON) || \
                          defined(__wasm_simd128__))
#define SDK_DW_VEC 1
#else
#define SDK_DW_VEC 0
#endif
#endif
#if SDK_DW_VEC
#if defined(__AVX512F__)
typedef float sdk_dwv __attribute__((vector_size(64)));
#elif defined(__AVX__)
typedef float sdk_dwv __attribute__((vector_size(32)));
#else
typedef float sdk_dwv __attribute__((vector_size(16)));
#endif
#define SDK_DW_VL ((int64_t)(sizeof(sdk_dwv) / sizeof(float)))
typedef int32_t sdk_dwi __attribute__((vector_size(sizeof(sdk_dwv)))); /* lane masks */
static inline sdk_dwv dw_vload(const float *p) { sdk_dwv v; memcpy(&v, p, sizeof v); return v; }
static inline void dw_vstore(float *p, sdk_dwv v) { memcpy(p, &v, sizeof v); }
#endif
#if SDK_DW_VEC
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
/* sdk_expf (sdk_math.h) lane by lane: the same operations in the same order, so the same floats */
static inline sdk_dwv sdk_v_sel(sdk_dwi m, sdk_dwv x, sdk_dwv y) { return (sdk_dwv)(((sdk_dwi)x & m) | ((sdk_dwi)y & ~m)); }
static inline sdk_dwv sdk_v_splat(float x) { return (sdk_dwv){0} + x; }
/* sdk_expf's reduction and polynomial on an already clamped x: *n = round(x / ln 2) and 1 + r + r^2 p(r) ~ exp(r),
 * r = x - n ln 2 (the caller scales it by 2^n); shared by sdk_v_expf, sdk_v_exp1pf and sdk_v_expf_nonpos */
#if defined(__AVX512F__)
static inline __m512 sdk_v512_exp_core(__m512 xc, __m512 *n_out) {
  const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(xc, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(12582912.0f)),
                                 _mm512_set1_ps(12582912.0f));
  const __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc));
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  *n_out = n;
  return _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
}
#else
SDK_DEFINE_VEXP_CORE(sdk_v_exp_core, sdk_dwv) /* sdk_math.h */
#endif
#if !defined(__AVX512F__)
SDK_DEFINE_VEXPF(sdk_v_expf_lanes, sdk_v_exp_core, sdk_dwv, sdk_dwi) /* sdk_math.h */
#endif
/* AVX-512 builds reach sdk_v_exp1pf's own vscalefps form instead; clang warns on an unused static inline in a .c */
#if defined(__GNUC__)
__attribute__((unused))
#endif
static inline sdk_dwv sdk_v_expf(sdk_dwv x) {
#if defined(__AVX512F__)
  /* the same operations as intrinsics: min/max clamps and masked moves in place of the bitwise selects (gcc keeps
   * those as compare + two masked xors), about 0.37 instead of 0.47 ns an element of SiLU on Zen 4 */
  const __m512 xv = (__m512)x;
  const __m512 xc = _mm512_min_ps(_mm512_max_ps(xv, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.72283f));
  __m512 n;
  __m512 p = sdk_v512_exp_core(xc, &n);
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(126)), 23);
  p = _mm512_mul_ps(_mm512_mul_ps(p, _mm512_castsi512_ps(e)), _mm512_set1_ps(2.0f));
  p = _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(xv, _mm512_set1_ps(88.72283f), _CMP_GT_OQ), _mm512_set1_ps(INFINITY));
  p = _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(xv, _mm512_set1_ps(-87.0f), _CMP_LT_OQ), _mm512_setzero_ps());
  return (sdk_dwv)_mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q), xv);
#else
  return sdk_v_expf_lanes(x);
#endif
}
/* 1 + exp(x), the denominator of sigmoid / SiLU: the same floats as 1.0f + sdk_expf(x). With AVX-512 in ~19 instead of
 * ~28 vector operations (as the generated tiles' SDK_VEXP1PF16, sdk/tune/kernels.py): sdk_expf's reduction and
 * polynomial, 2^n by one vscalefps (exact, as the two multiplies by 2^(n-1) and 2), and where |x| <= 87 in every lane
 * no clamps or selects (the identity there). Where sdk_expf's value differs (n = -126, x < -87: 0 there, ~1e-38 here)
 * it is below 2^-24 and 1 + e rounds to 1.0f either way; x > 88.72283 gives inf, NaN stays that NaN. */
static inline sdk_dwv sdk_v_exp1pf(sdk_dwv x) {
#if defined(__AVX512F__)
  const __m512 xv = (__m512)x;
  const int wide = _mm512_cmp_ps_mask(_mm512_abs_ps(xv), _mm512_set1_ps(87.0f), _CMP_NLE_UQ) != 0;
  const __m512 xc = wide ? _mm512_min_ps(_mm512_max_ps(xv, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.72283f)) : xv;
  __m512 n;
  __m512 p = sdk_v512_exp_core(xc, &n);
  p = _mm512_scalef_ps(p, n);
  if (__builtin_expect(wide, 0)) {
    p = _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(xv, _mm512_set1_ps(88.72283f), _CMP_GT_OQ), _mm512_set1_ps(INFINITY));
    p = _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q), xv);
  }
  return (sdk_dwv)_mm512_add_ps(p, _mm512_set1_ps(1.0f));
#else
  return sdk_v_splat(1.0f) + sdk_v_expf(x);
#endif
}
/* The activations with a vector form: lane by lane the same comparisons and values as the scalar epilogue (NaN and
 * -0 included): the piecewise-linear ones of sdk_math.h (SDK_DEFINE_VACT_PL, shared with sdk_fused.c) and sigmoid /
 * SiLU through sdk_v_exp1pf; sdk_v_act_has(act) says which codes (others: the scalar loop) */
static inline int sdk_v_act_has(int64_t act) {
  return sdk_vact_pl_has(act) || act == SDK_ACT_SIGMOID || act == SDK_ACT_SILU;
}
SDK_DEFINE_VACT_PL(sdk_v_act_pl, sdk_dwv, sdk_dwi)
static inline sdk_dwv sdk_v_div1p(sdk_dwv x, sdk_dwv d) { /* sdk_math.h sdk_div1pf */
  sdk_dwv q;
  SDK_VDIV1P(q, x, d, sdk_dwv, sdk_dwi);
  return q;
}
static inline sdk_dwv sdk_v_act(sdk_dwv v, int64_t act, sdk_dwv a, sdk_dwv b) {
  switch (act) {
    case SDK_ACT_SIGMOID: return sdk_v_div1p(sdk_v_splat(1.0f), sdk_v_exp1pf(-v));
    case SDK_ACT_SILU: return sdk_v_div1p(v, sdk_v_exp1pf(-v));
    default: return sdk_v_act_pl(v, act, a, b);
  }
}
#endif

/* ---------------------------------------------------------------- fused epilogues */
#define SDK_EPI_FOR(expr, PRAGMA)                                     \
  do {                                                                \
    if (R) {                                                          \
      PRAGMA                                                          \
      for (int64_t i = 0; i < n; ++i) {                               \
        const float v = Y[i] + R[i];                                  \
        Y[i] = (expr);                                                \
      }                                                               \
    } else {                                                          \
      PRAGMA                                                          \
      for (int64_t i = 0; i < n; ++i) {                               \
        const float v = Y[i];                                         \
        Y[i] = (expr);                                                \
      }                                                               \
    }                                                                 \
  } while (0)
/* small n (e.g. one channel's plane from the depthwise kernel) stays out of OpenMP: entering even a parallel
 * region whose if() is false costs about a microsecond, more than a 7x7 plane's epilogue */
/* The switch cases of the fused activations (sdk_kernels.h SDK_ACT_*), each applying LOOP(expression of v, a, b):
   one list for every epilogue that writes its own loop (the flat epilogue, the depthwise small-plane stores). */
#define SDK_ACT_CASES(LOOP)                                                                                    \
  case SDK_ACT_RELU: LOOP(v > 0.0f ? v : 0.0f); break;                                                         \
  case SDK_ACT_CLIP: LOOP(v < a ? a : (v > b ? b : v)); break;                                                 \
  case SDK_ACT_HARDSIGMOID: LOOP(sdk_clamp01(a * v + b)); break;                                               \
  case SDK_ACT_HARDSWISH: LOOP(v * sdk_clamp01(v * (1.0f / 6.0f) + 0.5f)); break;                              \
  case SDK_ACT_SIGMOID: LOOP(sdk_sigmoidf(v)); break;                                                          \
  case SDK_ACT_SILU: LOOP(sdk_siluf(v)); break;                                                                \
  case SDK_ACT_LEAKYRELU: LOOP(v < 0.0f ? v * a : v); break;                                                   \
  case SDK_ACT_GELU: LOOP(sdk_geluf(v)); break;                                                                \
  case SDK_ACT_GELU_TANH: LOOP(sdk_gelu_tanhf(v)); break;                                                      \
  default: LOOP(v); break

#define SDK_EPI_LOOP(expr)                                            \
  do {                                                                \
    if (n >= SDK_PAR_MIN_WORK)                                        \
      SDK_EPI_FOR(expr, SDK_OMP(parallel for schedule(static)));      \
    else                                                              \
      SDK_EPI_FOR(expr, );                                            \
  } while (0)

void sdk_epilogue_f32(int64_t n, float *restrict Y, const float *restrict R, int64_t act, float a, float b) {
#if defined(SDK_EPILOGUE_SIMD) /* an arch variant's vector epilogue: same values; 0: no path for act */
  if (SDK_EPILOGUE_SIMD(n, Y, R, act, a, b)) return;
#endif
  switch (act) {
    SDK_ACT_CASES(SDK_EPI_LOOP);
  }
}
#undef SDK_EPI_LOOP
#undef SDK_EPI_FOR

/* ---------------------------------------------------------------- row kernels (softmax, layer norm) */
/* Softmax over the last axis, a row at a time: the row's maximum, then y = exp(x - max) with the sum in the same
 * pass, then y *= 1 / sum (the row is still in L1). Rows of at least a vector: softmax_row_vec above. Else (and
 * without GCC/clang vectors) this form, whose reductions vectorise under OpenMP's simd;
 * rows split across threads from SDK_PAR_MIN_WORK elements, each row computed the same way on any thread count.
 * A row of at least SDK_SOFTMAX_W floats that is not a whole number of them (ViT's 197 keys: 12 x 16 + 5) takes its
 * last cols % W columns from one more W-wide step over the row's last W columns (a vector, where a scalar tail of
 * sdk_expf calls was a sixth of the row's time with AVX-512); the columns that step shares with the body are
 * computed and dropped (in place they read values already written, which nothing uses). */
#if SDK_DW_VEC
/* sdk_expf_nonpos (sdk_math.h) on a vector of the widest kind (softmax's x - max <= 0): its operations lane by lane */
static inline sdk_dwv sdk_v_expf_nonpos(sdk_dwv x) {
#if defined(__AVX512F__)
  const __m512 xv = (__m512)x;
  __m512 n;
  /* every lane in [-87, 0] (softmax's scores, in practice): 2^n (n >= -126) by one vscalefps, which rounds p 2^n as
   * the multiply by the normal float 2^n does (the same floats), no clamp or selects (ViT-S's [1182 x 197] softmax:
   * 96 -> 79 us, one thread, bench/softmax_ab.py) */
  if (__builtin_expect(!_mm512_cmp_ps_mask(xv, _mm512_set1_ps(-87.0f), _CMP_NGE_UQ), 1)) {
    const __m512 q = sdk_v512_exp_core(xv, &n);
    return (sdk_dwv)_mm512_scalef_ps(q, n);
  }
  const __m512 xc = _mm512_max_ps(xv, _mm512_set1_ps(-87.0f));
  __m512 p = sdk_v512_exp_core(xc, &n);
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
  p = _mm512_mul_ps(p, _mm512_castsi512_ps(e));
  p = _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(xv, _mm512_set1_ps(-87.0f), _CMP_LT_OQ), _mm512_setzero_ps());
  return (sdk_dwv)_mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q), xv);
#else
  const sdk_dwv xc = sdk_v_sel(x < sdk_v_splat(-87.0f), sdk_v_splat(-87.0f), x);
  sdk_dwv n;
  sdk_dwv p = sdk_v_exp_core(xc, &n);
  const sdk_dwi e = (__builtin_convertvector(n, sdk_dwi) + 127) << 23; /* 2^n, n >= -126 */
  p = p * (sdk_dwv)e;
  p = sdk_v_sel(x < sdk_v_splat(-87.0f), sdk_v_splat(0.0f), p);
  return sdk_v_sel(x != x, x, p);
#endif
}

/* Softmax rows in vectors of the widest kind (SDK_DW_VL lanes; auto-vectorised loops stayed 256-bit under gcc's
 * -march tuning of AVX-512 client cores, 0.78x the time over ViT-S's [1182 x 197] scores): the maximum and the sum in
 * VL lane accumulators, then summed across lanes in a fixed order; a ragged row's last cols % VL columns from one
 * more vector over its last VL columns (lanes it shares with the body dropped, as below). Rows shorter than a vector:
 * the scalar form below. */
/* The lanes' maximum (no lane is NaN: the maximum loop never takes one) and their sum in a fixed order: with AVX-512 a
 * tree of shuffles (gcc's _mm512_reduce_*_ps: 4 dependent steps instead of 16; the two serial chains of 16 scalar
 * operations a row took ViT-S's [1182 x 197] softmax from 96 to 114 us, one thread, bench/softmax_ab.py), else lane
 * after lane */
static inline float softmax_hmax(sdk_dwv v) {
#if defined(__AVX512F__)
  return _mm512_reduce_max_ps((__m512)v);
#else
  float m = -INFINITY;
  for (int64_t j = 0; j < SDK_DW_VL; ++j) m = v[j] > m ? v[j] : m;
  return m;
#endif
}
static inline float softmax_hsum(sdk_dwv v) {
#if defined(__AVX512F__)
  return _mm512_reduce_add_ps((__m512)v);
#else
  float s = 0.0f;
  for (int64_t j = 0; j < SDK_DW_VL; ++j) s += v[j];
  return s;
#endif
}
static void softmax_row_vec(int64_t cols, const float *x, float *y) {
  const int64_t VL = SDK_DW_VL, body = cols / VL * VL, t0 = cols - VL;
  sdk_dwi fresh; /* tail lanes past the body */
  for (int64_t j = 0; j < VL; ++j) fresh[j] = t0 + j >= body ? -1 : 0;
  sdk_dwv mv = sdk_v_splat(-INFINITY);
  for (int64_t c = 0; c < body; c += VL) {
    const sdk_dwv v = dw_vload(x + c);
    mv = sdk_v_sel(v > mv, v, mv);
  }
  if (body < cols) {
    const sdk_dwv v = dw_vload(x + t0);
    mv = sdk_v_sel(v > mv, v, mv);
  }
  const sdk_dwv ms = sdk_v_splat(softmax_hmax(mv));
  sdk_dwv sv = sdk_v_splat(0.0f);
  for (int64_t c = 0; c < body; c += VL) {
    const sdk_dwv e = sdk_v_expf_nonpos(dw_vload(x + c) - ms);
    dw_vstore(y + c, e);
    sv += e;
  }
  if (body < cols) { /* in place, the shared lanes read values already written: dropped */
    const sdk_dwv e = sdk_v_expf_nonpos(dw_vload(x + t0) - ms);
    dw_vstore(y + t0, sdk_v_sel(fresh, e, dw_vload(y + t0)));
    sv += sdk_v_sel(fresh, e, sdk_v_splat(0.0f));
  }
  const sdk_dwv inv = sdk_v_splat(1.0f / softmax_hsum(sv));
  for (int64_t c = 0; c < body; c += VL) dw_vstore(y + c, dw_vload(y + c) * inv);
  if (body < cols) {
    const sdk_dwv v = dw_vload(y + t0);
    dw_vstore(y + t0, sdk_v_sel(fresh, v * inv, v));
  }
}
#endif

#define SDK_SOFTMAX_W 16
void sdk_softmax_f32(int64_t rows, int64_t cols, const float *X, float *Y) { /* Y may be X: see the header */
  const int64_t W = SDK_SOFTMAX_W, body = cols >= W && cols % W ? cols / W * W : cols, t0 = cols - W;
  SDK_OMP(parallel for schedule(static) if(rows * cols >= SDK_PAR_MIN_WORK))
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = X + r * cols;
    float *y = Y + r * cols;
#if SDK_DW_VEC
    if (cols >= SDK_DW_VL) {
      softmax_row_vec(cols, x, y);
      continue;
    }
#endif
    float m = -INFINITY, s = 0.0f;
    SDK_OMP(simd reduction(max:m))
    for (int64_t c = 0; c < body; ++c) m = x[c] > m ? x[c] : m;
    if (body < cols) {
      SDK_OMP(simd reduction(max:m))
      for (int64_t j = 0; j < SDK_SOFTMAX_W; ++j) m = x[t0 + j] > m ? x[t0 + j] : m;
    }
    SDK_OMP(simd reduction(+:s))
    for (int64_t c = 0; c < body; ++c) {
      const float e = sdk_expf_nonpos(x[c] - m);
      y[c] = e;
      s += e;
    }
    if (body < cols) {
      float e[SDK_SOFTMAX_W];
      SDK_OMP(simd)
      for (int64_t j = 0; j < SDK_SOFTMAX_W; ++j) e[j] = sdk_expf_nonpos(x[t0 + j] - m);
      for (int64_t c = body; c < cols; ++c) {
        y[c] = e[c - t0];
        s += e[c - t0];
      }
    }
    const float inv = 1.0f / s;
    SDK_OMP(simd)
    for (int64_t c = 0; c < cols; ++c) y[c] *= inv;
  }
}
#undef SDK_SOFTMAX_W

/* Online softmax over the keys (one pass: running max, sum and weighted V rows kept in O's row). */
void sdk_attention_f32(int64_t B, int64_t H, int64_t Sq, int64_t Sk, int64_t D, int64_t Dv, float scale,
                       const float *restrict Q, int64_t q_bs, int64_t q_hs, int64_t q_rs, const float *restrict K,
                       int64_t k_bs, int64_t k_hs, int64_t k_rs, const float *restrict V, int64_t v_bs, int64_t v_hs,
                       int64_t v_rs, const float *restrict mask, int64_t m_bs, int64_t m_hs, int64_t m_qs,
                       int64_t m_ks, int64_t causal, float *restrict O, int64_t o_bs, int64_t o_hs, int64_t o_rs) {
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        const float *q = Q + b * q_bs + h * q_hs + i * q_rs;
        float *o = O + b * o_bs + h * o_hs + i * o_rs;
        const int64_t kend = causal ? (i + Sk - Sq + 1 < Sk ? i + Sk - Sq + 1 : Sk) : Sk;
        float m = -INFINITY, l = 0.0f;
        for (int64_t d = 0; d < Dv; ++d) o[d] = 0.0f;
        for (int64_t j = 0; j < kend; ++j) {
          const float *k = K + b * k_bs + h * k_hs + j * k_rs, *v = V + b * v_bs + h * v_hs + j * v_rs;
          float s = 0.0f;
          for (int64_t d = 0; d < D; ++d) s += q[d] * k[d];
          s *= scale;
          if (mask) s += mask[b * m_bs + h * m_hs + i * m_qs + j * m_ks];
          if (s == -INFINITY) continue;
          if (s > m) { /* a new maximum: rescale what was summed so far */
            const float a = sdk_expf(m - s);
            l *= a;
            for (int64_t d = 0; d < Dv; ++d) o[d] *= a;
            m = s;
          }
          const float p = sdk_expf(s - m);
          l += p;
          for (int64_t d = 0; d < Dv; ++d) o[d] += p * v[d];
        }
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        for (int64_t d = 0; d < Dv; ++d) o[d] *= inv;
      }
}

#if SDK_DW_VEC
/* nr (1 or 4) rows of cols floats, row stride cols, in vectors of the widest kind: each row's sum, then its squared
 * deviations, in one lane accumulator (vector after vector), summed across lanes in a fixed order, a ragged row's last
 * cols % VL columns as scalars after them; then the row normalised. A row's floats are the same whether it runs with
 * three others or alone. Four rows at a time: their four reduction chains and the two cross-lane sums, the divide
 * and the square root of each row overlap (one row at a time ran ConvNeXt-T's [3136 x 96] no faster than the
 * generated form's three passes over the tensor: each row's chain of dependent steps was the time). */
static inline void layernorm_rows_vec(int nr, int64_t cols, const float *x, const float *scale, const float *bias,
                                      float eps, float *y) {
  const int64_t VL = SDK_DW_VL, body = cols / VL * VL;
  sdk_dwv a[4];
  float mean[4], inv[4];
  for (int i = 0; i < nr; ++i) a[i] = sdk_v_splat(0.0f);
  for (int64_t c = 0; c < body; c += VL)
    for (int i = 0; i < nr; ++i) a[i] += dw_vload(x + i * cols + c);
  for (int i = 0; i < nr; ++i) {
    float s = softmax_hsum(a[i]);
    for (int64_t c = body; c < cols; ++c) s += x[i * cols + c];
    mean[i] = s / (float)cols;
    a[i] = sdk_v_splat(0.0f);
  }
  for (int64_t c = 0; c < body; c += VL)
    for (int i = 0; i < nr; ++i) {
      const sdk_dwv d = dw_vload(x + i * cols + c) - sdk_v_splat(mean[i]);
      a[i] += d * d;
    }
  for (int i = 0; i < nr; ++i) {
    float q = softmax_hsum(a[i]);
    for (int64_t c = body; c < cols; ++c) q += (x[i * cols + c] - mean[i]) * (x[i * cols + c] - mean[i]);
    inv[i] = 1.0f / sqrtf(q / (float)cols + eps);
  }
  for (int i = 0; i < nr; ++i) {
    const float *xr = x + i * cols;
    float *yr = y + i * cols;
    const sdk_dwv mv = sdk_v_splat(mean[i]), iv = sdk_v_splat(inv[i]);
    if (bias)
      for (int64_t c = 0; c < body; c += VL)
        dw_vstore(yr + c, (dw_vload(xr + c) - mv) * iv * dw_vload(scale + c) + dw_vload(bias + c));
    else
      for (int64_t c = 0; c < body; c += VL) dw_vstore(yr + c, (dw_vload(xr + c) - mv) * iv * dw_vload(scale + c));
    for (int64_t c = body; c < cols; ++c) yr[c] = (xr[c] - mean[i]) * inv[i] * scale[c] + (bias ? bias[c] : 0.0f);
  }
}
#endif

void sdk_layernorm_f32(int64_t rows, int64_t cols, const float *X, const float *scale, const float *bias, float eps,
                       float *Y) { /* Y may be X: see the header */
#if SDK_DW_VEC
  if (cols >= SDK_DW_VL) {
    const int64_t groups = (rows + 3) / 4;
    SDK_OMP(parallel for schedule(static) if(rows * cols >= SDK_PAR_MIN_WORK))
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t r = g * 4;
      if (r + 4 <= rows)
        layernorm_rows_vec(4, cols, X + r * cols, scale, bias, eps, Y + r * cols);
      else
        for (int64_t i = r; i < rows; ++i) layernorm_rows_vec(1, cols, X + i * cols, scale, bias, eps, Y + i * cols);
    }
    return;
  }
#endif
  SDK_OMP(parallel for schedule(static) if(rows * cols >= SDK_PAR_MIN_WORK))
  for (int64_t r = 0; r < rows; ++r) {
    const float *x = X + r * cols;
    float *y = Y + r * cols;
    float mean = 0.0f, var = 0.0f;
    for (int64_t c = 0; c < cols; ++c) mean += x[c];
    mean /= (float)cols;
    for (int64_t c = 0; c < cols; ++c) var += (x[c] - mean) * (x[c] - mean);
    const float inv = 1.0f / sqrtf(var / (float)cols + eps);
    for (int64_t c = 0; c < cols; ++c) y[c] = (x[c] - mean) * inv * scale[c] + (bias ? bias[c] : 0.0f);
  }
}

/* ---------------------------------------------------------------- depthwise convolution */
/* Output rows from a zero-padded plane (row stride wp): K x K taps with stride S are constants, so the taps
 * unroll, the weights stay in registers across rows and the loop over columns vectorises (each output's sum
 * keeps the tap order: no reassociation). At stride 2 the plane's rows are stored split by column parity (even
 * columns, then the odd ones from offset ph): tap kw of output column ow reads column ow + kw / 2 of phase kw % 2,
 * so every load is contiguous in ow (no strided gathers). */
/* full unrolling of the constant-trip tap loops, so the column loop around them vectorises (GCC and clang); 3 x 3
 * taps unroll without it (and run slower with it on narrow planes) */
#if defined(__GNUC__)
#define SDK_UNROLL _Pragma("GCC unroll 64")
#else
#define SDK_UNROLL
#endif
#define SDK_DW_COL(S, P, ow, kw) ((P) ? (ow) + ((kw) & 1) * ph + ((kw) >> 1) : (ow) * (S) + (kw))
#define SDK_DW_ROWS(K, S, P, NAME, U)                                                                                    \
  static void NAME(           int64_t oh_n, int64_t ow_n, const float *restrict xp, int64_t wp, int64_t ph, \
                                 const float *restrict w, float b0, float *restrict y, int64_t ldy) {          \
    float wk[K * K];                                                                                         \
    int64_t oh = 0;                                                                                          \
    (void)ph;                                                                                                \
    for (int t = 0; t < K * K; ++t) wk[t] = w[t];                                                            \
    for (; oh + 2 <= oh_n; oh += 2) { /* two output rows: two independent FMA chains per column */           \
      const float *restrict xr = xp + oh * S * wp;                                                           \
      float *restrict y0 = y + oh * ldy, *restrict y1 = y0 + ldy;                                            \
      for (int64_t ow = 0; ow < ow_n; ++ow) {                                                                \
        float a0 = b0, a1 = b0;                                                                              \
        U for (int kh = 0; kh < K; ++kh)                                                                     \
          U for (int kw = 0; kw < K; ++kw) {                                                                 \
            a0 += wk[kh * K + kw] * xr[kh * wp + SDK_DW_COL(S, P, ow, kw)];                                    \
            a1 += wk[kh * K + kw] * xr[(kh + S) * wp + SDK_DW_COL(S, P, ow, kw)];                              \
          }                                                                                                  \
        y0[ow] = a0;                                                                                         \
        y1[ow] = a1;                                                                                         \
      }                                                                                                      \
    }                                                                                                        \
    for (; oh < oh_n; ++oh) {                                                                                \
      const float *restrict xr = xp + oh * S * wp;                                                           \
      float *restrict yr = y + oh * ldy;                                                                     \
      for (int64_t ow = 0; ow < ow_n; ++ow) {                                                                \
        float acc = b0;                                                                                      \
        U for (int kh = 0; kh < K; ++kh)                                                                     \
          U for (int kw = 0; kw < K; ++kw) acc += wk[kh * K + kw] * xr[kh * wp + SDK_DW_COL(S, P, ow, kw)]; \
        yr[ow] = acc;                                                                                        \
      }                                                                                                      \
    }                                                                                                        \
  }
SDK_DW_ROWS(3, 1, 0, dw_rows_k3s1, )
SDK_DW_ROWS(3, 2, 0, dw_rows_k3s2, )
SDK_DW_ROWS(3, 2, 1, dw_rows_k3s2p, )
SDK_DW_ROWS(5, 1, 0, dw_rows_k5s1, SDK_UNROLL)
SDK_DW_ROWS(5, 2, 0, dw_rows_k5s2, SDK_UNROLL)
SDK_DW_ROWS(5, 2, 1, dw_rows_k5s2p, SDK_UNROLL)
SDK_DW_ROWS(7, 1, 0, dw_rows_k7s1, SDK_UNROLL)
SDK_DW_ROWS(7, 2, 0, dw_rows_k7s2, SDK_UNROLL)
SDK_DW_ROWS(7, 2, 1, dw_rows_k7s2p, SDK_UNROLL)
#undef SDK_DW_COL
#undef SDK_UNROLL
#undef SDK_DW_ROWS
/* The one-long-row ("flat") form for narrow planes: output q of a plane stored with row pitch wq reads the padded
 * input at q + OFF(kh, kw), contiguous in q for every tap. Stride 1: the padded plane itself (pitch Wp). Stride 2:
 * the padded plane split into four phase planes by (row parity, column parity), each hq x wq (wq = ceil(Wp / 2)),
 * one after another pl = hq * wq floats apart: tap (kh, kw) reads phase (kh & 1, kw & 1) at row oh + kh / 2, column
 * ow + kw / 2. Outputs go four vectors at a time, four independent FMA chains held in registers (one chain per
 * vector waited on the FMA latency K * K times), then one vector at a time; a last partial vector is recomputed
 * ending at n, overlapping outputs already stored (the same values again). Each output still sums b0 then the taps
 * in order, as the other forms do. Targets without vector registers run one output at a time. */
#define SDK_DW_OFF1(kh, kw) ((kh) * wq + (kw))
#define SDK_DW_OFF2(kh, kw) ((((kh) & 1) * 2 + ((kw) & 1)) * pl + ((kh) >> 1) * wq + ((kw) >> 1))
#define SDK_DW_FLAT_ONE(K, OFF, q0)                                                                           \
  do {                                                                                                     \
    float acc = b0;                                                                                        \
    U for (int kh = 0; kh < (K); ++kh)                                                                     \
      U for (int kw = 0; kw < (K); ++kw) acc += wk[kh * (K) + kw] * xp[OFF(kh, kw) + (q0)];                  \
    y[q0] = acc;                                                                                           \
  } while (0)
#if SDK_DW_VEC
/* NV vectors of outputs from q0: NV independent FMA chains, the accumulators in registers */
#define SDK_DW_FLAT_VEC(K, OFF, NV, q0)                                                                       \
  do {                                                                                                     \
    sdk_dwv acc[NV];                                                                                       \
    for (int v = 0; v < (NV); ++v) acc[v] = (sdk_dwv){0} + b0;                                             \
    U for (int kh = 0; kh < (K); ++kh)                                                                     \
      U for (int kw = 0; kw < (K); ++kw) {                                                                 \
        const float wv = wk[kh * (K) + kw], *xs = xp + OFF(kh, kw) + (q0);                                 \
        for (int v = 0; v < (NV); ++v) acc[v] += wv * dw_vload(xs + v * SDK_DW_VL);                        \
      }                                                                                                    \
    for (int v = 0; v < (NV); ++v) dw_vstore(y + (q0) + v * SDK_DW_VL, acc[v]);                            \
  } while (0)
#define SDK_DW_FLAT_BODY(K, OFF)                                                                              \
  for (; q + 4 * SDK_DW_VL <= n; q += 4 * SDK_DW_VL) SDK_DW_FLAT_VEC(K, OFF, 4, q);                        \
  for (; q + SDK_DW_VL <= n; q += SDK_DW_VL) SDK_DW_FLAT_VEC(K, OFF, 1, q);                                \
  if (q < n && n >= SDK_DW_VL) /* the rest as one vector ending at n (storing some outputs again) */       \
    SDK_DW_FLAT_VEC(K, OFF, 1, n - SDK_DW_VL);                                                             \
  else                                                                                                     \
    for (; q < n; ++q) SDK_DW_FLAT_ONE(K, OFF, q);
#else
#define SDK_DW_FLAT_BODY(K, OFF) for (; q < n; ++q) SDK_DW_FLAT_ONE(K, OFF, q);
#endif
#define SDK_DW_FLAT(K, OFF, NAME)                                                                             \
  static void NAME(int64_t n, const float *restrict xp, int64_t wq, int64_t pl, const float *restrict w,      \
                   float b0, float *restrict y) {                                                            \
    float wk[K * K];                                                                                         \
    int64_t q = 0;                                                                                           \
    (void)pl;                                                                                                \
    for (int t = 0; t < K * K; ++t) wk[t] = w[t];                                                            \
    SDK_DW_FLAT_BODY(K, OFF)                                                                                 \
  }
#define U
SDK_DW_FLAT(3, SDK_DW_OFF1, dw_flat_k3s1)
SDK_DW_FLAT(3, SDK_DW_OFF2, dw_flat_k3s2)
#undef U
#if defined(__GNUC__)
#define U _Pragma("GCC unroll 64")
#else
#define U
#endif
SDK_DW_FLAT(5, SDK_DW_OFF1, dw_flat_k5s1)
SDK_DW_FLAT(5, SDK_DW_OFF2, dw_flat_k5s2)
SDK_DW_FLAT(7, SDK_DW_OFF1, dw_flat_k7s1)
SDK_DW_FLAT(7, SDK_DW_OFF2, dw_flat_k7s2)
#undef U
#undef SDK_DW_FLAT
#undef SDK_DW_FLAT_BODY
#undef SDK_DW_FLAT_ONE
#undef SDK_DW_FLAT_VEC
#undef SDK_DW_OFF1
#undef SDK_DW_OFF2
typedef void (*dw_flat_fn)(int64_t, const float *restrict, int64_t, int64_t, const float *restrict, float,
                           float *restrict);

static dw_flat_fn dw_flat_for(int64_t K, int64_t S) {
  switch (K) {
    case 3: return S == 1 ? dw_flat_k3s1 : dw_flat_k3s2;
    case 5: return S == 1 ? dw_flat_k5s1 : dw_flat_k5s2;
    case 7: return S == 1 ? dw_flat_k7s1 : dw_flat_k7s2;
    default: return 0;
  }
}

/* n floats from s to d (distinct buffers) in 8-float moves, the last one overlapping: short rows (7, 14, 28)
 * cost a few vector moves instead of a scalar loop; fixed-size memcpy compiles to plain loads and stores */
static inline void dw_copy_row(float *d, const float *s, int64_t n) {
  if (n >= 8) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) memcpy(d + i, s + i, 8 * sizeof(float));
    if (i < n) memcpy(d + n - 8, s + n - 8, 8 * sizeof(float));
  } else if (n >= 4) {
    memcpy(d, s, 4 * sizeof(float));
    memcpy(d + n - 4, s + n - 4, 4 * sizeof(float));
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = s[i];
  }
}

typedef void (*dw_rows_fn)(int64_t, int64_t, const float *restrict, int64_t, int64_t, const float *restrict,
                           float, float *restrict, int64_t);

/* the row kernel for K x K taps at stride S (1 or 2; split: the stride-2 plane stored by column parity) */
static dw_rows_fn dw_rows_for(int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t DH, int64_t DW, int split) {
  if (KH != KW || SH != SW || DH != 1 || DW != 1 || (SW != 1 && SW != 2)) return 0;
#if defined(SDK_DW_ROWS_SIMD) /* an arch variant's row kernel for (K, S, split); 0: none */
  {
    const dw_rows_fn f = SDK_DW_ROWS_SIMD(KH, SW, split);
    if (f) return f;
  }
#endif
  switch (KH) {
    case 3: return SW == 1 ? dw_rows_k3s1 : (split ? dw_rows_k3s2p : dw_rows_k3s2);
    case 5: return SW == 1 ? dw_rows_k5s1 : (split ? dw_rows_k5s2p : dw_rows_k5s2);
    case 7: return SW == 1 ? dw_rows_k7s1 : (split ? dw_rows_k7s2p : dw_rows_k7s2);
    default: return 0;
  }
}

/* the padded plane's interior rows [r0, r1) x columns [c0, c1) from the input plane xc (rows of W), each padded
 * row r stored as its even columns at pad + (r / 2) * pair + (r % 2) * odd, then its odd ones from offset ph there.
 * The stride-2 row layout: pair = 2 wp, odd = wp (rows one after another); the four phase planes of the narrow
 * form: pair = wq, odd = 2 pl, ph = pl (even rows in the first two planes, odd rows in the last two) */
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
static void dw_fill_split(float *pad, int64_t pair, int64_t odd, int64_t ph, const float *xc, int64_t W, int64_t PH,
                          int64_t PW, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  /* padded column c = 2 j + p goes to d[p ph + j]: pairs (2 j, 2 j + 1) inside [c0, c1) in one loop, which
   * vectorises as a de-interleave, then the odd first and even last column when the range has them */
  const int64_t ja = (c0 + 1) / 2, jb = c1 / 2;
#if defined(__AVX512F__)
  /* 16 pairs a step: two (masked) loads, the even and the odd lanes by one two-source permute each, masked stores.
   * The generic loop's vector form only starts past its alias and length checks: ShuffleNetV2's 14-wide rows (7
   * pairs) spent ~70 % of their depthwise layer here. The same floats (a copy); masked lanes are not read. */
  const __m512i sel0 = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i sel1 = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
#endif
  for (int64_t r = r0; r < r1; ++r) {
    const float *restrict src = xc + (r - PH) * W - PW;
    float *restrict d0 = pad + (r >> 1) * pair + (r & 1) * odd, *restrict d1 = d0 + ph;
#if defined(__AVX512F__)
    for (int64_t j = ja; j < jb; j += 16) {
      const int64_t n = jb - j < 16 ? jb - j : 16; /* pairs: source floats [2 j, 2 j + 2 n) */
      const __mmask16 m = (__mmask16)((1u << n) - 1u);
      const __mmask16 lo = (__mmask16)(n >= 8 ? 0xffffu : (1u << (2 * n)) - 1u);
      const __mmask16 hi = (__mmask16)(n > 8 ? (1u << (2 * n - 16)) - 1u : 0u);
      const __m512 a = _mm512_maskz_loadu_ps(lo, src + 2 * j), b = _mm512_maskz_loadu_ps(hi, src + 2 * j + 16);
      _mm512_mask_storeu_ps(d0 + j, m, _mm512_permutex2var_ps(a, sel0, b));
      _mm512_mask_storeu_ps(d1 + j, m, _mm512_permutex2var_ps(a, sel1, b));
    }
#else
    for (int64_t j = ja; j < jb; ++j) {
      d0[j] = src[2 * j];
      d1[j] = src[2 * j + 1];
    }
#endif
    if (c0 & 1) d1[ja - 1] = src[c0];
    if ((c1 & 1) && c1 - 1 >= c0) d0[jb] = src[c1 - 1];
  }
}

/* ---------------------------------------------------------------- depthwise convolution, NHWC */
/* One output pixel's C channels from the taps kh in [kh0, kh1), kw in [kw0, kw1): x + o is tap (0, 0)'s input
 * pixel (o may point into the padding: only the taps inside the image are read; a padded tap adds 0 * w), xr / xc
 * the distance between taps along rows / columns, w the [KH * KW, C] tap-major weights. Channels run in vectors,
 * each vector's accumulator in a register, every tap one contiguous load of input and weight; the sum is the bias
 * then the taps in order, as the NCHW kernel's. Constant tap bounds (the interior, K = 3, 5, 7) unroll. */
static inline void dwn_pixel(int64_t C, const float *restrict x, int64_t o, int64_t xr, int64_t xc, const float *restrict w,
                             int64_t KW, int64_t kh0, int64_t kh1, int64_t kw0, int64_t kw1,
                             const float *restrict bias, float *restrict y) {
  int64_t c = 0;
#if SDK_DW_VEC
  /* four channel vectors at a time: four independent sums (one sum's chain of K * K dependent multiply-adds was
   * latency-bound: 7 x 7 taps on a 7 x 7 plane, all but one column border pixels, ran at a seventh of the FMA rate) */
  for (; c + 4 * SDK_DW_VL <= C; c += 4 * SDK_DW_VL) {
    sdk_dwv a0, a1, a2, a3;
    if (bias) {
      a0 = dw_vload(bias + c), a1 = dw_vload(bias + c + SDK_DW_VL);
      a2 = dw_vload(bias + c + 2 * SDK_DW_VL), a3 = dw_vload(bias + c + 3 * SDK_DW_VL);
    } else {
      a0 = a1 = a2 = a3 = (sdk_dwv){0};
    }
    for (int64_t kh = kh0; kh < kh1; ++kh)
      for (int64_t kw = kw0; kw < kw1; ++kw) {
        const float *wt = w + (kh * KW + kw) * C + c, *xt = x + o + kh * xr + kw * xc + c;
        a0 += dw_vload(wt) * dw_vload(xt);
        a1 += dw_vload(wt + SDK_DW_VL) * dw_vload(xt + SDK_DW_VL);
        a2 += dw_vload(wt + 2 * SDK_DW_VL) * dw_vload(xt + 2 * SDK_DW_VL);
        a3 += dw_vload(wt + 3 * SDK_DW_VL) * dw_vload(xt + 3 * SDK_DW_VL);
      }
    dw_vstore(y + c, a0);
    dw_vstore(y + c + SDK_DW_VL, a1);
    dw_vstore(y + c + 2 * SDK_DW_VL, a2);
    dw_vstore(y + c + 3 * SDK_DW_VL, a3);
  }
  for (; c + SDK_DW_VL <= C; c += SDK_DW_VL) {
    sdk_dwv acc = bias ? dw_vload(bias + c) : (sdk_dwv){0};
    for (int64_t kh = kh0; kh < kh1; ++kh)
      for (int64_t kw = kw0; kw < kw1; ++kw)
        acc += dw_vload(w + (kh * KW + kw) * C + c) * dw_vload(x + o + kh * xr + kw * xc + c);
    dw_vstore(y + c, acc);
  }
#endif
  for (; c < C; ++c) {
    float acc = bias ? bias[c] : 0.0f;
    for (int64_t kh = kh0; kh < kh1; ++kh)
      for (int64_t kw = kw0; kw < kw1; ++kw) acc += w[(kh * KW + kw) * C + c] * x[o + kh * xr + kw * xc + c];
    y[c] = acc;
  }
}

/* interior pixels [ow0, ow1) of one output row with all K x K taps inside the image (K a constant): channel vector
 * by channel vector, its K * K weights and bias held in registers across the row's pixels (one load of input per tap
 * and pixel); the remaining channels (fewer than a vector) as dwn_pixel does */
/* full unrolling of the constant-trip loops over taps and pixels, so that their vectors stay in registers */
#if defined(__GNUC__)
#define SDK_DWN_UNROLL _Pragma("GCC unroll 16")
#else
#define SDK_DWN_UNROLL
#endif
#if SDK_DW_VEC
#define SDK_DWN_INTERIOR(K, NAME)                                                                               \
  static void NAME(int64_t C, int64_t ow0, int64_t ow1, const float *restrict x, int64_t o, int64_t xr, int64_t xc, \
                   int64_t xs, const float *restrict w, const float *restrict bias, float *restrict y) {      \
    int64_t c = 0;                                                                                           \
    if (K == 3) /* two vectors of channels at a time: two independent sums per pixel, 18 weights in registers */ \
      for (; c + 2 * SDK_DW_VL <= C; c += 2 * SDK_DW_VL) {                                                   \
        sdk_dwv wa[K * K], wb[K * K];                                                                        \
        const sdk_dwv ba = bias ? dw_vload(bias + c) : (sdk_dwv){0};                                         \
        const sdk_dwv bb = bias ? dw_vload(bias + c + SDK_DW_VL) : (sdk_dwv){0};                             \
        for (int t = 0; t < K * K; ++t) {                                                                    \
          wa[t] = dw_vload(w + t * C + c);                                                                   \
          wb[t] = dw_vload(w + t * C + c + SDK_DW_VL);                                                       \
        }                                                                                                    \
        for (int64_t ow = ow0; ow < ow1; ++ow) {                                                             \
          const float *restrict xp = x + o + ow * xs + c;                                                    \
          sdk_dwv a0 = ba, a1 = bb;                                                                          \
          for (int kh = 0; kh < K; ++kh)                                                                     \
            for (int kw = 0; kw < K; ++kw) {                                                                 \
              a0 += wa[kh * K + kw] * dw_vload(xp + kh * xr + kw * xc);                                      \
              a1 += wb[kh * K + kw] * dw_vload(xp + kh * xr + kw * xc + SDK_DW_VL);                          \
            }                                                                                                \
          dw_vstore(y + ow * C + c, a0);                                                                     \
          dw_vstore(y + ow * C + c + SDK_DW_VL, a1);                                                         \
        }                                                                                                    \
      }                                                                                                      \
    for (; c + SDK_DW_VL <= C; c += SDK_DW_VL) {                                                             \
      sdk_dwv wv[K * K];                                                                                     \
      const sdk_dwv b = bias ? dw_vload(bias + c) : (sdk_dwv){0};                                            \
      for (int t = 0; t < K * K; ++t) wv[t] = dw_vload(w + t * C + c);                                       \
      int64_t ow = ow0;                                                                                      \
      /* 5 x 5 and 7 x 7 at stride 1 (taps and pixels a column apart): eight pixels at a time, eight independent \
       * sums (one pixel's chain of K * K dependent multiply-adds is latency-bound), each kernel row's K + 7     \
       * input vectors loaded once for the eight pixels' taps */                                               \
      if (K > 3 && xs == xc)                                                                                 \
        for (; ow + 8 <= ow1; ow += 8) {                                                                     \
          sdk_dwv a[8];                                                                                      \
          SDK_DWN_UNROLL for (int p = 0; p < 8; ++p) a[p] = b;                                               \
          for (int kh = 0; kh < K; ++kh) {                                                                   \
            const float *restrict q = x + o + ow * xs + kh * xr + c;                                         \
            sdk_dwv in[K + 7];                                                                               \
            SDK_DWN_UNROLL for (int j = 0; j < K + 7; ++j) in[j] = dw_vload(q + j * xc);                     \
            SDK_DWN_UNROLL for (int kw = 0; kw < K; ++kw) {                                                  \
              const sdk_dwv wt = wv[kh * K + kw];                                                            \
              SDK_DWN_UNROLL for (int p = 0; p < 8; ++p) a[p] += wt * in[p + kw];                            \
            }                                                                                                \
          }                                                                                                  \
          SDK_DWN_UNROLL for (int p = 0; p < 8; ++p) dw_vstore(y + (ow + p) * C + c, a[p]);                  \
        }                                                                                                    \
      for (; ow < ow1; ++ow) {                                                                               \
        const float *restrict xp = x + o + ow * xs + c;                                                      \
        sdk_dwv acc = b;                                                                                     \
        for (int kh = 0; kh < K; ++kh)                                                                       \
          for (int kw = 0; kw < K; ++kw) acc += wv[kh * K + kw] * dw_vload(xp + kh * xr + kw * xc);          \
        dw_vstore(y + ow * C + c, acc);                                                                      \
      }                                                                                                      \
    }                                                                                                        \
    if (c < C)                                                                                               \
      for (int64_t ow = ow0; ow < ow1; ++ow) {                                                               \
        for (int64_t cc = c; cc < C; ++cc) {                                                                 \
          float acc = bias ? bias[cc] : 0.0f;                                                                \
          for (int kh = 0; kh < K; ++kh)                                                                     \
            for (int kw = 0; kw < K; ++kw) acc += w[(kh * K + kw) * C + cc] * x[o + ow * xs + kh * xr + kw * xc + cc]; \
          y[ow * C + cc] = acc;                                                                              \
        }                                                                                                    \
      }                                                                                                      \
  }
#else
#define SDK_DWN_INTERIOR(K, NAME)                                                                               \
  static void NAME(int64_t C, int64_t ow0, int64_t ow1, const float *restrict x, int64_t o, int64_t xr, int64_t xc, \
                   int64_t xs, const float *restrict w, const float *restrict bias, float *restrict y) {      \
    for (int64_t ow = ow0; ow < ow1; ++ow) dwn_pixel(C, x, o + ow * xs, xr, xc, w, K, 0, K, 0, K, bias, y + ow * C); \
  }
#endif
SDK_DWN_INTERIOR(3, dwn_interior_k3)
SDK_DWN_INTERIOR(5, dwn_interior_k5)
SDK_DWN_INTERIOR(7, dwn_interior_k7)
#undef SDK_DWN_INTERIOR
#undef SDK_DWN_UNROLL

static int64_t dwn_ceil_div(int64_t a, int64_t b) { return a <= 0 ? -((-a) / b) : (a + b - 1) / b; }

/* Planes in channel-vector columns (dws_plane: 5 x 5 at stride 1 or 2, 3 x 3 and 7 x 7 at stride 1 at any width;
 * dilation 1, at least one vector of channels, at most K / 2 padding columns a side: MobileNet's and EfficientNet's
 * 112 x 112 to 7 x 7 layers). dwn_interior's order (a row of all C channels, then the next row) reads each
 * input row K times from L2 once K rows of C channels outgrow L1 (14 x 14 x 576: 3 rows are 97 KB), runs one chain of
 * K * K dependent multiply-adds per pixel and vector (latency-bound), and takes border pixels (2 of 14 rows, 2 of 14
 * columns) one at a time through dwn_pixel. Here channel vectors run down a band of output rows (3 x 3: one vector
 * of a group of SDK_DWS_CB at a time, its 9 weights in registers; 5 x 5: the group's vectors one after another at
 * each strip), so the input rows stay in L1 between the rows that read them; two output rows at a time, each in
 * strips of SDK_DWS_P = 7 pixels (7-, 14- and 28-wide rows split evenly; a last partial strip is recomputed ending
 * at the row's end, storing some pixels again with the same values): 14 independent sums per vector, each of the
 * pair's S + K input rows loaded once as (P - 1) * S + K vectors that feed both rows, the K weights of a kernel row
 * loaded once for the P pixels. Padding rows are skipped; a padding column is loaded from the nearest image column
 * and masked to zero (acc + w * 0 = acc), so every strip runs the same branch-free code. Each output sums the bias
 * then the taps in (kh, kw) order, as dwn_pixel does (the same floats as the other forms and the in-process engine's
 * IR kernel). Activations with a vector form (sdk_v_act: ReLU, Clip, HardSwish, SiLU, sigmoid...) without a residual
 * apply to the sums in registers before the store; other epilogues run on each stored vector while it is in L1 (for
 * ReLU6 that pass took up to as long as the 3 x 3 sums; SiLU's scalar loop twice the 3 x 3 sums).
 * Rows wider than SDK_DWS_TW = 28 pixels run in column tiles of that width down the band: the S + K input rows of a
 * tile stay in L1 (a 112-wide row pair's 4 input rows of 32 channels are 57 KB with both cache lines of each pixel,
 * more than a 32 KB L1). A channel count that is not a multiple of
 * the vector ends with one vector overlapping the one before it, run by the same task after it (recomputed from X,
 * so the epilogue is not applied twice). */
#define SDK_DWS_P 7
#ifndef SDK_DWS_TW
#define SDK_DWS_TW 28
#endif
#ifndef SDK_DWS_K3_GROUP /* 0: dws_k3s1 for every channel count (A/B) */
#define SDK_DWS_K3_GROUP 1
#endif
#ifndef SDK_DWS_GROUP_BYTES /* about half of a core's L2 (2 MB on the Xeon it was measured on) */
#define SDK_DWS_GROUP_BYTES (1 << 20)
#endif
#ifndef SDK_DWS_CB
#define SDK_DWS_CB 4
#endif
#if SDK_DW_VEC
#if defined(__GNUC__)
#define SDK_DWS_UNROLL _Pragma("GCC unroll 32")
#else
#define SDK_DWS_UNROLL
#endif
/* sdk_epilogue_f32 on one vector of channels (the same expressions, so the same values) */
#define SDK_DWS_EPI_FOR(expr)                                                                                  \
  do {                                                                                                       \
    if (r) {                                                                                                 \
      for (int i = 0; i < SDK_DW_VL; ++i) {                                                                  \
        const float v = y[i] + r[i];                                                                         \
        y[i] = (expr);                                                                                       \
      }                                                                                                      \
    } else {                                                                                                 \
      for (int i = 0; i < SDK_DW_VL; ++i) {                                                                  \
        const float v = y[i];                                                                                \
        y[i] = (expr);                                                                                       \
      }                                                                                                      \
    }                                                                                                        \
  } while (0)
static inline void dws_epilogue(float *restrict y, const float *restrict r, int64_t act, float a, float b) {
#if defined(SDK_EPILOGUE_SIMD)
  if (SDK_EPILOGUE_SIMD(SDK_DW_VL, y, r, act, a, b)) return;
#endif
  switch (act) {
    SDK_ACT_CASES(SDK_DWS_EPI_FOR);
  }
}
#undef SDK_DWS_EPI_FOR
#undef SDK_ACT_CASES
/* output rows [r0, r1) (of N * OH) of the channel vector at c, two rows of one image at a time where the band has
 * them: 2 x P independent sums (one row's P chains of K * K dependent multiply-adds leave the FMA units waiting on
 * their latency), and each of the S + K input rows of the pair loaded once for both */
#define SDK_DWS_BAND(K, S, VO, NAME)                                                                               \
  static void NAME(int64_t c0, int64_t nv, int64_t r0, int64_t r1, int64_t H, int64_t W, int64_t C, int64_t OH, \
                   int64_t OW, int64_t PH, int64_t PW, const float *restrict X, const float *restrict w,      \
                   const float *restrict bias, const float *restrict R, int64_t act, float act_a, float act_b,   \
                   float *restrict Y) {                                                                      \
    enum { P = SDK_DWS_P, NI = (SDK_DWS_P - 1) * (S) + (K), NRW = (S) + (K), E = (K) / 2 };                \
    /* the activations with a vector form (sdk_v_act), without a residual: in registers before the store; the     \
     * others after it */                                                                                    \
    const int64_t reg = !R && sdk_v_act_has(act) ? act : SDK_ACT_NONE;                                       \
    const int epi = (act != SDK_ACT_NONE || R) && reg == SDK_ACT_NONE;                                       \
    const sdk_dwv va = (sdk_dwv){0} + act_a, vb = (sdk_dwv){0} + act_b;                                      \
    /* 3 x 3: one vector down the band at a time, its 9 weights in registers; 5 x 5 (25 weights): the group's \
     * vectors one after another at each strip, which keeps the group's cache lines of a pixel together */    \
    for (int64_t v = 0; v < ((VO) ? nv : 1); ++v) {                                                      \
    const int64_t ca = (VO) ? c0 + v * SDK_DW_VL : c0, cb = (VO) ? ca + SDK_DW_VL : c0 + nv * SDK_DW_VL; \
    sdk_dwv wr[9];                                                                                           \
    if (VO) SDK_DWS_UNROLL for (int t = 0; t < 9; ++t) wr[t] = dw_vload(w + t * C + ca);               \
    for (int64_t t0 = 0; t0 < OW; t0 += SDK_DWS_TW)                                                          \
    for (int64_t row = r0; row < r1;) {                                                                      \
      const int64_t n = row / OH, oh = row % OH, ih0 = oh * (S) - PH;                                        \
      const int two = row + 1 < r1 && oh + 1 < OH; /* the second row: the next one of the same image */     \
      for (int64_t s = t0; s < OW && s < t0 + SDK_DWS_TW; s += P)                                            \
      for (int64_t c = ca; c < cb; c += SDK_DW_VL) {                                                         \
        const sdk_dwv b = bias ? dw_vload(bias + c) : (sdk_dwv){0};                                          \
        const int64_t ow0 = s + P <= OW ? s : OW - P, iw0 = ow0 * (S) - PW;                                  \
        SDK_DW_STRIP_SUMS(sdk_dwv, sdk_dwi, dw_vload, SDK_DWS_UNROLL, K, S, VO, ((n * H + ih0) * W + iw0) * C + c) \
        const int64_t yo = (row * OW + ow0) * C + c;                                                         \
        SDK_DWS_UNROLL for (int p = 0; p < P; ++p) dw_vstore(Y + yo + p * C, sdk_v_act(a0[p], reg, va, vb));   \
        if (two)                                                                                             \
          SDK_DWS_UNROLL for (int p = 0; p < P; ++p) dw_vstore(Y + yo + (OW + p) * C, sdk_v_act(a1[p], reg, va, vb)); \
        if (epi)                                                                                             \
          for (int p = 0; p < (two ? 2 * P : P); ++p) { /* P pixels of the first row, then of the second */  \
            const int64_t q = yo + (p < P ? p : OW + p - P) * C;                                             \
            dws_epilogue(Y + q, R ? R + q : 0, act, act_a, act_b);                                           \
          }                                                                                                  \
      }                                                                                                      \
      row += two ? 2 : 1;                                                                                    \
    }                                                                                                        \
    }                                                                                                        \
  }
SDK_DWS_BAND(3, 1, 1, dws_k3s1)
SDK_DWS_BAND(3, 1, 0, dws_k3s1g)
SDK_DWS_BAND(3, 2, 1, dws_k3s2)
SDK_DWS_BAND(5, 1, 0, dws_k5s1)
SDK_DWS_BAND(5, 2, 0, dws_k5s2)
SDK_DWS_BAND(7, 1, 0, dws_k7s1)
#undef SDK_DWS_BAND
#undef SDK_DWS_UNROLL
typedef void (*dws_fn)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, const float *, const float *, const float *, const float *, int64_t, float, float,
                       float *);

/* the channel-vector form, when it applies (1: done) */
static int dws_plane(int64_t N, int64_t H, int64_t W, int64_t C, int64_t OH, int64_t OW, int64_t K, int64_t S,
                     int64_t PH, int64_t PW, const float *X, const float *Wt, const float *bias, const float *R,
                     int64_t act, float act_a, float act_b, float *Y) {
  if (C < SDK_DW_VL || OW < SDK_DWS_P || PW > K / 2) return 0; /* padding columns: at most K / 2 a side */
  /* tasks: channel vectors (the last one also runs the overlapping tail vector) x bands of rows, at least 8
   * tasks where the rows allow (2 threads get 4 each; 112 x 112 x 32 has 2 vectors) */
  const int64_t CV = C / SDK_DW_VL, rows = N * OH, G = (CV + SDK_DWS_CB - 1) / SDK_DWS_CB;
  /* 3 x 3, stride 1, every channel of a pixel in one group (C of 2 to SDK_DWS_CB vectors) and an input plane of at
   * least SDK_DWS_GROUP_BYTES: the group's vectors one after another at each strip (dws_k3s1g, weights loaded per
   * strip), so each pixel's cache lines are read and written together. 112 x 112 x 32 (1.6 MB planes, in + out
   * more than a 2 MB L2): 105-107 instead of 130-135 us on one core of a Xeon with AVX-512 (one vector down the
   * plane at a time reads half of each pixel's 128 bytes a pass). Planes that stay in L2 keep one vector down the
   * band (9 weights in registers), which ran faster there: 56 x 56 x 48 24 against 27 us, 28 x 28 x 58 10 against
   * 12 us, 56 x 56 x 144 (3 groups) 143 against 166 us (bench/RESULTS_zoo.md) */
  const int grp = SDK_DWS_K3_GROUP && G == 1 && CV > 1 && H * W * C * (int64_t)sizeof(float) >= SDK_DWS_GROUP_BYTES;
  const dws_fn f = K == 3 ? (S == 1 ? (grp ? dws_k3s1g : dws_k3s1) : dws_k3s2)
                                : K == 5 ? (S == 1 ? dws_k5s1 : dws_k5s2) : dws_k7s1;
  int64_t bands = (8 + G - 1) / G;
  if (bands > rows) bands = rows;
  const int par = N * OH * OW * C * K * K >= SDK_PAR_MIN_WORK;
  (void)par;
  SDK_OMP(parallel for schedule(static) if(par))
  for (int64_t t = 0; t < G * bands; ++t) {
    const int64_t g = t / bands, bd = t % bands, r0 = rows * bd / bands, r1 = rows * (bd + 1) / bands;
    const int64_t v0 = g * SDK_DWS_CB, nv = CV - v0 < SDK_DWS_CB ? CV - v0 : SDK_DWS_CB;
    f(v0 * SDK_DW_VL, nv, r0, r1, H, W, C, OH, OW, PH, PW, X, Wt, bias, R, act, act_a, act_b, Y);
    if (g == G - 1 && C % SDK_DW_VL)
      f(C - SDK_DW_VL, 1, r0, r1, H, W, C, OH, OW, PH, PW, X, Wt, bias, R, act, act_a, act_b, Y);
  }
  return 1;
}
#endif

void sdk_dwconv2d_nhwc_f32(int64_t N, int64_t H, int64_t W, int64_t C, int64_t OH, int64_t OW, int64_t KH,
                           int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW,
                           const float *X, const float *Wt, const float *bias, const float *R, int64_t act,
                           float act_a, float act_b, float *Y) {
  /* output columns [owa, owb) have every kw tap inside the image: ow * SW - PW >= 0 and
   * ow * SW - PW + (KW - 1) * DW <= W - 1 */
  int64_t owa = dwn_ceil_div(PW, SW), owb = (W - 1 + PW - (KW - 1) * DW) / SW + 1;
  if (W - 1 + PW - (KW - 1) * DW < 0) owb = 0;
  if (owa > OW) owa = OW;
  if (owb > OW) owb = OW;
  if (owb < owa) owb = owa;
  const int64_t xr = W * C * DH, xc = C * DW, xs = SW * C;
  const int square = KH == KW && (KH == 3 || KH == 5 || KH == 7);
#if SDK_DW_VEC
  /* 5 x 5 at stride 1 and 2, 3 x 3 at stride 1 (3 x 3 at stride 2 ran slower in this form: bench/RESULTS_zoo.md),
   * 7 x 7 at stride 1 (ConvNeXt-T's 56 x 56 x 96 to 7 x 7 x 768 layers: 0.81, 0.52, 0.47, 0.41 of the time of the
   * interior blocks + border pixels one at a time, which run every pixel of a 7 x 7 plane as one chain of dependent
   * multiply-adds; one thread, AVX-512, bench/dw7_ab.py) */
  if (KH == KW && (KH == 5 || ((KH == 3 || KH == 7) && SW == 1)) && SH == SW && (SW == 1 || SW == 2) && DH == 1 &&
      DW == 1 && dws_plane(N, H, W, C, OH, OW, KH, SW, PH, PW, X, Wt, bias, R, act, act_a, act_b, Y))
    return;
#endif
  const int par = N * OH * OW * C * KH * KW >= SDK_PAR_MIN_WORK;
  (void)par;
  SDK_OMP(parallel for schedule(static) if(par))
  for (int64_t r = 0; r < N * OH; ++r) {
    const int64_t n = r / OH, oh = r % OH, ih0 = oh * SH - PH;
    /* taps kh with 0 <= ih0 + kh * DH <= H - 1 */
    int64_t kh0 = ih0 < 0 ? dwn_ceil_div(-ih0, DH) : 0, kh1 = ih0 > H - 1 ? 0 : (H - 1 - ih0) / DH + 1;
    if (kh1 > KH) kh1 = KH;
    if (kh0 > kh1) kh0 = kh1;
    const int64_t o = ((n * H + ih0) * W - PW) * C; /* X + o: the input pixel of tap (0, 0) of column 0 */
    float *yr = Y + r * OW * C;
    int64_t ow = 0;
    for (; ow < OW; ++ow) {
      if (ow == owa && kh0 == 0 && kh1 == KH && square) { /* the row's interior, unrolled taps */
        switch (KH) {
          case 3: dwn_interior_k3(C, owa, owb, X, o, xr, xc, xs, Wt, bias, yr); break;
          case 5: dwn_interior_k5(C, owa, owb, X, o, xr, xc, xs, Wt, bias, yr); break;
          default: dwn_interior_k7(C, owa, owb, X, o, xr, xc, xs, Wt, bias, yr); break;
        }
        ow = owb;
        if (ow >= OW) break;
      }
      const int64_t iw0 = ow * SW - PW;
      int64_t kw0 = iw0 < 0 ? dwn_ceil_div(-iw0, DW) : 0, kw1 = iw0 > W - 1 ? 0 : (W - 1 - iw0) / DW + 1;
      if (kw1 > KW) kw1 = KW;
      if (kw0 > kw1) kw0 = kw1;
      dwn_pixel(C, X, o + ow * xs, xr, xc, Wt, KW, kh0, kh1, kw0, kw1, bias, yr + ow * C);
    }
    if (act != SDK_ACT_NONE || R) sdk_epilogue_f32(OW * C, yr, R ? R + r * OW * C : 0, act, act_a, act_b);
  }
}

/* ---------------------------------------------------------------- a network's first convolution, NCHW -> NHWC */
/* Global average pooling of an NHWC tensor [N, HW, C] into [N, C]: pixel after pixel, each a contiguous row of
 * channels added to the C sums (a vector loop), then each sum divided by HW. Reducing the same tensor through its
 * NCHW view would walk each channel with a stride of C floats. Made by the layout pass. */
void sdk_gap_nhwc_f32(int64_t N, int64_t HW, int64_t C, const float *X, float *Y) {
  for (int64_t n = 0; n < N; ++n) {
    float *restrict y = Y + n * C;
    for (int64_t c = 0; c < C; ++c) y[c] = 0.0f;
    int64_t p = 0;
    for (; p + 4 <= HW; p += 4) { /* four pixels a pass: a quarter of the dependent updates of y */
      const float *restrict x = X + (n * HW + p) * C;
      for (int64_t c = 0; c < C; ++c) y[c] += (x[c] + x[C + c]) + (x[2 * C + c] + x[3 * C + c]);
    }
    for (; p < HW; ++p) {
      const float *restrict x = X + (n * HW + p) * C;
      for (int64_t c = 0; c < C; ++c) y[c] += x[c];
    }
    for (int64_t c = 0; c < C; ++c) y[c] /= (float)HW;
  }
}

/* A dense convolution with few taps per output (C * KH * KW <= SDK_STEM_TAPS: a stem on 1-4 image channels) from an
 * NCHW input to an NHWC output: four output pixels at a time, their patches gathered into registers-sized arrays
 * (zero outside the image), then each vector of output channels sums bias + patch[t] * W[t] over the taps t in
 * (c, kh, kw) order, each weight vector loaded once for the four pixels. Wt: [C * KH * KW, M]. */
#define SDK_STEM_TAPS 64
#if SDK_DW_VEC
/* Accumulators of one stem block (P pixels x V channel vectors, each an independent multiply-add chain): enough
 * chains to cover the multiply-add latency on both ports (4 pixels x 1 vector left half of them waiting), within the
 * vector registers with room for the V weight vectors and a broadcast: 16 of AVX-512's / NEON's 32, 8 of 16 elsewhere.
 * -DSDK_STEM_ACC=0: the 4-pixel x 1-vector form only (A/B). */
#ifndef SDK_STEM_ACC
#if defined(__AVX512F__) || defined(__aarch64__)
#define SDK_STEM_ACC 16
#else
#define SDK_STEM_ACC 8
#endif
#endif
#if defined(__GNUC__)
#define STEM_UNROLL _Pragma("GCC unroll 32")
#else
#define STEM_UNROLL
#endif
/* y[p * M + m + v * VL] = act(bias + sum over taps (ck, kw) in that order of x(p) * W), p < P, v < V: P output
 * pixels of a row whose taps all lie in the image (rows[ck] + iw0: the first pixel's first tap, pixels SW apart),
 * V vectors of channels from m; each weight vector loaded once for the P pixels, each input broadcast once for the V
 * vectors. Each sum is one chain in tap order, as the 4-pixel form's, so the same floats. */
static inline __attribute__((always_inline)) void stem_block(const int P, const int V, int64_t CK, int64_t KW,
                                                             int64_t DW, int64_t SW, int64_t M, int64_t m,
                                                             const float *const *rows, int64_t iw0, const float *Wt,
                                                             const float *bias, int64_t reg, sdk_dwv va, sdk_dwv vb,
                                                             float *y) {
  sdk_dwv a[16][4];
  STEM_UNROLL for (int v = 0; v < V; ++v) {
    const sdk_dwv b = bias ? dw_vload(bias + m + v * SDK_DW_VL) : (sdk_dwv){0};
    STEM_UNROLL for (int p = 0; p < P; ++p) a[p][v] = b;
  }
  const float *wp = Wt + m;
  for (int64_t ck = 0; ck < CK; ++ck)
    for (int64_t kw = 0; kw < KW; ++kw, wp += M) {
      const float *x = rows[ck] + iw0 + kw * DW;
      sdk_dwv w[4];
      STEM_UNROLL for (int v = 0; v < V; ++v) w[v] = dw_vload(wp + v * SDK_DW_VL);
      STEM_UNROLL for (int p = 0; p < P; ++p) {
        const float xs = x[p * SW];
        STEM_UNROLL for (int v = 0; v < V; ++v) a[p][v] += xs * w[v];
      }
    }
  STEM_UNROLL for (int p = 0; p < P; ++p)
    STEM_UNROLL for (int v = 0; v < V; ++v) dw_vstore(y + p * M + m + v * SDK_DW_VL, sdk_v_act(a[p][v], reg, va, vb));
}
#define STEM_BLOCK_FN(P, V)                                                                                      \
  static void stem_block_##P##x##V(int64_t CK, int64_t KW, int64_t DW, int64_t SW, int64_t M, int64_t m,        \
                                   const float *const *rows, int64_t iw0, const float *Wt, const float *bias,   \
                                   int64_t reg, sdk_dwv va, sdk_dwv vb, float *y) {                             \
    stem_block(P, V, CK, KW, DW, SW, M, m, rows, iw0, Wt, bias, reg, va, vb, y);                                \
  }
#if SDK_STEM_ACC >= 16
STEM_BLOCK_FN(8, 1)
STEM_BLOCK_FN(8, 2)
STEM_BLOCK_FN(4, 4)
#elif SDK_STEM_ACC >= 8
STEM_BLOCK_FN(8, 1)
STEM_BLOCK_FN(4, 2)
STEM_BLOCK_FN(2, 4)
#endif
typedef void (*stem_block_fn)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, const float *const *, int64_t,
                              const float *, const float *, int64_t, sdk_dwv, sdk_dwv, float *);
/* the block form for M / VL channel vectors: the widest V in {4, 2, 1} dividing them, the most pixels its
 * accumulators allow (*P); NULL where SDK_STEM_ACC leaves only the 4-pixel form */
static stem_block_fn stem_block_for(int64_t nv, int *P, int *V) {
#if SDK_STEM_ACC >= 16
  if (nv % 4 == 0) return *P = 4, *V = 4, stem_block_4x4;
  if (nv % 2 == 0) return *P = 8, *V = 2, stem_block_8x2;
  return *P = 8, *V = 1, stem_block_8x1;
#elif SDK_STEM_ACC >= 8
  if (nv % 4 == 0) return *P = 2, *V = 4, stem_block_2x4;
  if (nv % 2 == 0) return *P = 4, *V = 2, stem_block_4x2;
  return *P = 8, *V = 1, stem_block_8x1;
#else
  (void)nv;
  *P = *V = 0;
  return 0;
#endif
}
#endif
void sdk_conv2d_stem_nhwc_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                              int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH,
                              int64_t DW, const float *X, const float *Wt, const float *bias, const float *R,
                              int64_t act, float act_a, float act_b, float *Y) {
  const int64_t T = C * KH * KW;
  const int par = N * OH * OW * M * T >= SDK_PAR_MIN_WORK;
  (void)par;
  if (T > SDK_STEM_TAPS) return; /* the compiler only emits it for fewer taps */
  /* output columns [owa, owb) have every kw tap inside the image */
  int64_t owa = (PW + SW - 1) / SW, owb = W - 1 + PW - (KW - 1) * DW < 0 ? 0 : (W - 1 + PW - (KW - 1) * DW) / SW + 1;
  if (owa > OW) owa = OW;
  if (owb > OW) owb = OW;
#if SDK_DW_VEC
  /* every channel in vectors and an activation with a vector form, no residual: applied to the sums in registers
   * (the row's epilogue pass ran SiLU at about twice the cost of EfficientNet-B0's 3 x 3 stem sums) */
  const int64_t reg = !R && M % SDK_DW_VL == 0 && act != SDK_ACT_NONE && sdk_v_act_has(act) ? act : SDK_ACT_NONE;
  const sdk_dwv va = sdk_v_splat(act_a), vb = sdk_v_splat(act_b);
  int bp = 0, bv = 0; /* the block form's pixels and channel vectors (none where M is not whole vectors) */
  const stem_block_fn blk = M % SDK_DW_VL == 0 ? stem_block_for(M / SDK_DW_VL, &bp, &bv) : 0;
#else
  const int64_t reg = SDK_ACT_NONE;
#endif
  SDK_OMP(parallel for schedule(static) if(par))
  for (int64_t r = 0; r < N * OH; ++r) {
    const int64_t n = r / OH, oh = r % OH;
    float p[4][SDK_STEM_TAPS];
    const float *rows[SDK_STEM_TAPS]; /* each (c, kh) tap row's input row, or NULL in the padding */
    for (int64_t c = 0; c < C; ++c)
      for (int64_t kh = 0; kh < KH; ++kh) {
        const int64_t ih = oh * SH - PH + kh * DH;
        rows[c * KH + kh] = ih >= 0 && ih < H ? X + ((n * C + c) * H + ih) * W : 0;
      }
    int full = 1; /* every tap row inside the image */
    for (int64_t ck = 0; ck < C * KH; ++ck) full = full && rows[ck] != 0;
    float *yr = Y + r * OW * M;
    for (int64_t ow = 0; ow < OW;) {
#if SDK_DW_VEC
      /* blocks of bp pixels with every tap in the image: the block form over all the channel vectors */
      if (blk && full && ow >= owa && ow + bp <= owb) {
        for (int64_t m = 0; m < M; m += bv * SDK_DW_VL)
          blk(C * KH, KW, DW, SW, M, m, rows, ow * SW - PW, Wt, bias, reg, va, vb, yr + ow * M);
        ow += bp;
        continue;
      }
#endif
      const int64_t q = OW - ow < 4 ? OW - ow : 4;
      const int inside = ow >= owa && ow + 4 <= owb; /* four pixels with every column tap in the image */
#if SDK_DW_VEC
      if (inside && full && M % SDK_DW_VL == 0) { /* the taps read in place: broadcast loads, no gathered patch */
        const int64_t iw0 = ow * SW - PW;
        for (int64_t m = 0; m < M; m += SDK_DW_VL) {
          const sdk_dwv b = bias ? dw_vload(bias + m) : (sdk_dwv){0};
          sdk_dwv a0 = b, a1 = b, a2 = b, a3 = b;
          const float *wp = Wt + m;
          for (int64_t ck = 0; ck < C * KH; ++ck)
            for (int64_t kw = 0; kw < KW; ++kw, wp += M) {
              const sdk_dwv wv = dw_vload(wp);
              const float *x = rows[ck] + iw0 + kw * DW;
              a0 += x[0] * wv;
              a1 += x[SW] * wv;
              a2 += x[2 * SW] * wv;
              a3 += x[3 * SW] * wv;
            }
          dw_vstore(yr + ow * M + m, sdk_v_act(a0, reg, va, vb));
          dw_vstore(yr + (ow + 1) * M + m, sdk_v_act(a1, reg, va, vb));
          dw_vstore(yr + (ow + 2) * M + m, sdk_v_act(a2, reg, va, vb));
          dw_vstore(yr + (ow + 3) * M + m, sdk_v_act(a3, reg, va, vb));
        }
        ow += 4;
        continue;
      }
#endif
      for (int64_t j = 0; j < 4; ++j) {
        const int64_t iw0 = (ow + j) * SW - PW;
        for (int64_t ck = 0; ck < C * KH; ++ck) {
          const float *xr = rows[ck];
          float *pt = p[j] + ck * KW;
          if (xr && inside)
            for (int64_t kw = 0; kw < KW; ++kw) pt[kw] = xr[iw0 + kw * DW];
          else
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t iw = iw0 + kw * DW;
              pt[kw] = xr && j < q && iw >= 0 && iw < W ? xr[iw] : 0.0f;
            }
        }
      }
      int64_t m = 0;
#if SDK_DW_VEC
      for (; m + SDK_DW_VL <= M; m += SDK_DW_VL) {
        const sdk_dwv b = bias ? dw_vload(bias + m) : (sdk_dwv){0};
        sdk_dwv a0 = b, a1 = b, a2 = b, a3 = b;
        for (int64_t t = 0; t < T; ++t) {
          const sdk_dwv wv = dw_vload(Wt + t * M + m);
          a0 += p[0][t] * wv;
          a1 += p[1][t] * wv;
          a2 += p[2][t] * wv;
          a3 += p[3][t] * wv;
        }
        dw_vstore(yr + ow * M + m, sdk_v_act(a0, reg, va, vb));
        if (q > 1) dw_vstore(yr + (ow + 1) * M + m, sdk_v_act(a1, reg, va, vb));
        if (q > 2) dw_vstore(yr + (ow + 2) * M + m, sdk_v_act(a2, reg, va, vb));
        if (q > 3) dw_vstore(yr + (ow + 3) * M + m, sdk_v_act(a3, reg, va, vb));
      }
#endif
      /* the other channels (all of them without vectors): the sums in yr with the taps in the outer loop, so that
       * each is one chain of multiply-adds in tap order, as the vectors' are (a reduction loop over the taps lets
       * the compiler vectorise its products and add them in order: other roundings, and the in-process engine's
       * IR kernel, sdk/codegen/llvm_runtime.py, gives the same floats as this one) */
      if (m < M) {
        for (int64_t j = 0; j < q; ++j)
          for (int64_t mm = m; mm < M; ++mm) yr[(ow + j) * M + mm] = bias ? bias[mm] : 0.0f;
        for (int64_t t = 0; t < T; ++t)
          for (int64_t j = 0; j < q; ++j)
            for (int64_t mm = m; mm < M; ++mm) yr[(ow + j) * M + mm] += p[j][t] * Wt[t * M + mm];
      }
      ow += 4;
    }
    if ((act != SDK_ACT_NONE && reg == SDK_ACT_NONE) || R)
      sdk_epilogue_f32(OW * M, yr, R ? R + r * OW * M : 0, act, act_a, act_b);
  }
}

/* A network's first convolution (the stem above) and the depthwise convolution that reads its result, band by band
 * (sdk/transform/fuse_dw_project.py fuse_stem_dw): the stem rows a band of BH depthwise output rows needs go to a
 * scratch slot (sdk_conv2d_stem_nhwc_f32 on those rows: the stem's taps shifted by the band's first row) and the
 * depthwise reads them there as a sub-image while they are in L2 (sdk_dwconv2d_nhwc_f32: the strips at stride 1,
 * rows at stride 2), so the stem's result (MobileNetV2 / EfficientNet-B0: 112 x 112 x 32, 1.6 MB) never goes to
 * memory whole. A task runs a contiguous range of bands in its own slot; the stem rows two neighbouring bands share
 * (KH - SH of them) move to the slot's start instead of being computed again. Same floats as the two calls. */
void sdk_stemdw_nhwc_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t EH, int64_t EW, int64_t SKH,
                         int64_t SKW, int64_t SSH, int64_t SSW, int64_t SPH, int64_t SPW, const float *X,
                         const float *Ws, const float *bs, int64_t s_act, float s_a, float s_b, int64_t OH,
                         int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                         const float *Wd, const float *bd, int64_t BH, int64_t slots, const float *R, int64_t act,
                         float act_a, float act_b, float *Y, float *scratch) {
  const int64_t rows = N * OH, nb = (rows + BH - 1) / BH, SR = (BH - 1) * SH + KH, row = EW * M;
  int64_t nt = slots < nb ? slots : nb;
#if defined(_OPENMP)
  if (nt > omp_get_max_threads()) nt = omp_get_max_threads();
#endif
  const int par = nt > 1 && N * EH * EW * M * C * SKH * SKW + rows * OW * M * KH * KW >= SDK_PAR_MIN_WORK;
  (void)par;
  if (!par) nt = 1;
  SDK_OMP(parallel for schedule(static) num_threads((int)nt) if(par))
  for (int64_t t = 0; t < nt; ++t) {
    float *e = scratch + t * SR * row;
    int64_t hn = -1, hs = 0, he = 0; /* the slot holds stem rows [hs, he) of image hn */
    for (int64_t bi = nb * t / nt; bi < nb * (t + 1) / nt; ++bi) {
      const int64_t r0 = bi * BH, r1 = r0 + BH < rows ? r0 + BH : rows;
      for (int64_t r = r0; r < r1;) {
        /* depthwise output rows [oh0, oh1) of one image n, reading stem rows [is, ie) */
        const int64_t n = r / OH, oh0 = r % OH, q = (n + 1) * OH < r1 ? (n + 1) * OH : r1, oh1 = oh0 + (q - r);
        int64_t is = oh0 * SH - PH, ie = (oh1 - 1) * SH - PH + KH;
        if (is < 0) is = 0;
        if (ie > EH) ie = EH;
        if (ie < is) ie = is;
        int64_t from = is;
        if (hn == n && hs <= is && is < he) {
          if (hs < is) memmove(e, e + (is - hs) * row, (size_t)((he - is) * row) * sizeof(float));
          from = he;
        }
        if (ie > from)
          sdk_conv2d_stem_nhwc_f32(1, C, H, W, M, ie - from, EW, SKH, SKW, SSH, SSW, SPH - from * SSH, SPW, 1, 1,
                                   X + n * C * H * W, Ws, bs, 0, s_act, s_a, s_b, e + (from - is) * row);
        hn = n, hs = is, he = ie > from ? ie : from;
        const int64_t o = (n * OH + oh0) * OW * M;
        sdk_dwconv2d_nhwc_f32(1, ie - is, EW, M, oh1 - oh0, OW, KH, KW, SH, SW, PH + is - oh0 * SH, PW, 1, 1, e, Wd,
                              bd, R ? R + o : 0, act, act_a, act_b, Y + o);
        r = q;
      }
    }
  }
}

void sdk_dwconv2d_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                      int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                      int64_t DH, int64_t DW, const float *X, const float *Wt, const float *bias,
                      const float *R, int64_t act, float act_a, float act_b, float *Y, float *pad,
                      int64_t pad_floats) {
  const int64_t mult = M / C, Hp = (OH - 1) * SH + (KH - 1) * DH + 1, Wp = (OW - 1) * SW + (KW - 1) * DW + 1;
  const int64_t plane = OH * OW;
  /* stride 2 with rows of at least 16 outputs: the padded rows split by column parity, each half ph = ceil(Wp / 2)
   * wide (Hp * 2 ph floats of scratch); narrower rows keep the strided loads (the split copy would cost more) */
  /* narrow planes (rows under 32 outputs, more than one row) at stride 1 or 2: the one-long-row form (outputs at
   * q = oh * wq + ow, then compacted; at stride 2 from the four phase planes) */
  const dw_flat_fn fl = KH == KW && SH == SW && DH == 1 && DW == 1 && OW < 32 && OH > 1 ? dw_flat_for(KH, SW) : 0;
  const int64_t hq = (Hp + 1) / 2, wq2 = (Wp + 1) / 2, pl = hq * wq2;
  const int quad = fl != 0 && SW == 2 && 4 * pl + (OH - 1) * wq2 + OW <= pad_floats;
  const int flat = fl != 0 && SW == 1 && Hp * Wp + (OH - 1) * Wp + OW <= pad_floats;
  const int64_t wq = quad ? wq2 : Wp, nq = (OH - 1) * wq + OW;
  /* other stride-2 planes with rows of at least 16 outputs: the padded rows split by column parity, each half
   * ph = ceil(Wp / 2) wide (Hp * 2 ph floats of scratch); narrower rows keep the strided loads */
  const int64_t ph = (Wp + 1) / 2;
  const int split = !quad && SW == 2 && OW >= 16 && Hp * 2 * ph <= pad_floats;
  const dw_rows_fn rows = dw_rows_for(KH, KW, SH, SW, DH, DW, split);
  const int use_split = split && rows != 0;
  const int64_t wp = use_split ? 2 * ph : Wp;
  /* padded rows [r0, r1) and columns [c0, c1) hold the image; the zero border is the same for every plane */
  const int64_t r0 = PH < Hp ? PH : Hp, c0 = PW < Wp ? PW : Wp;
  const int64_t r1 = PH + H < Hp ? PH + H : Hp, c1 = PW + W < Wp ? PW + W : Wp;
  const int64_t plane_floats = quad ? 4 * pl : Hp * wp;
  /* threads split the input channels; each needs its own padded plane: the caller's pad (the plan's scratch)
   * serves one thread, the others use a stack copy of SDK_DW_PAD_FLOATS floats (a profile fact; 0: one thread) */
  const int64_t pad_need = plane_floats + (flat || quad ? nq : 0);
  const int par = pad_need <= SDK_DW_PAD_FLOATS && N * M * plane * KH * KW >= SDK_PAR_MIN_WORK;
  (void)par;
  SDK_OMP(parallel if(par))
  {
#if SDK_DW_PAD_FLOATS > 0 && defined(_OPENMP)
    float own[SDK_DW_PAD_FLOATS];
    float *const pd = par && omp_get_thread_num() > 0 ? own : pad;
#else
    float *const pd = pad;
#endif
    float *const tmp = pd + plane_floats;
    for (int64_t i = 0; i < plane_floats; ++i) pd[i] = 0.0f;
    SDK_OMP(for schedule(static))
    for (int64_t nc = 0; nc < N * C; ++nc) {
      const int64_t n = nc / C, c = nc % C;
      const float *xc = X + nc * H * W;
      /* the input plane into the padded one's interior (each output channel of it reuses it) */
      if (quad)
        dw_fill_split(pd, wq, 2 * pl, pl, xc, W, PH, PW, r0, r1, c0, c1);
      else if (use_split)
        dw_fill_split(pd, 2 * wp, wp, ph, xc, W, PH, PW, r0, r1, c0, c1);
      else
        for (int64_t r = r0; r < r1; ++r) dw_copy_row(pd + r * Wp + c0, xc + (r - PH) * W + (c0 - PW), c1 - c0);
      for (int64_t m = c * mult; m < (c + 1) * mult; ++m) {
        const float *w = Wt + m * KH * KW;
        const float b0 = bias ? bias[m] : 0.0f;
        float *y = Y + (n * M + m) * plane;
        if (flat || quad) {
          fl(nq, pd, wq, pl, w, b0, tmp);
          for (int64_t oh = 0; oh < OH; ++oh) dw_copy_row(y + oh * OW, tmp + oh * wq, OW);
        } else if (rows) {
          rows(OH, OW, pd, wp, ph, w, b0, y, OW);
        } else {
          for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
              float acc = b0;
              for (int64_t kh = 0; kh < KH; ++kh)
                for (int64_t kw = 0; kw < KW; ++kw)
                  acc += w[kh * KW + kw] * pd[(oh * SH + kh * DH) * Wp + ow * SW + kw * DW];
              y[oh * OW + ow] = acc;
            }
        }
        if (act != SDK_ACT_NONE || R) sdk_epilogue_f32(plane, y, R ? R + (n * M + m) * plane : 0, act, act_a, act_b);
      }
    }
  }
}
