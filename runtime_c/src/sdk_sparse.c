/* Sparse-weight products (see sdk_sparse.h): Y = act(S X + bias + R) for a constant sparse S in CSR or BSR.
 * Work runs in tiles of T = SDK_SPARSE_TILE columns p: each row (block row) of S accumulates T-wide rows of X
 * in vector registers, then writes one tile of Y with the epilogue. Tiles are grouped in panels of PANEL
 * columns: X rows are read in place when p is contiguous (1x1 convolution, NCHW) and copied into the scratch
 * ([K][PANEL]) when it is strided (MatMul rows) or the panel is partial (zero-padded to whole tiles, so every
 * tile runs T wide).
 * Vectors: GCC/Clang vector extensions of the target's width (AVX-512: 16 floats, AVX: 8, SSE2 / NEON / wasm
 * SIMD128: 4), which compile to FMLA / VFMADD / f32x4 code without per-ISA intrinsics (gcc does not
 * auto-vectorise these sparse loops); other compilers and scalar FPUs (Cortex-M4) run the same loops on floats.
 * C99 (+ vector extensions where the compiler has them), no malloc, no globals. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sdk_kernel_defs.h" /* SDK_OMP, SDK_PAR_MIN_WORK, SDK_ACT_* */
#include "sdk_math.h"
#include "sdk_sparse.h"

#define T SDK_SPARSE_TILE
#define PANEL SDK_SPARSE_PANEL
#define SP_BR_MAX 16 /* BSR block rows the generic path holds */
#define SP_GROUP 16  /* output rows computed per tile before they are stored together */

#if defined(__GNUC__) && !defined(SDK_SPARSE_SCALAR) && (defined(__AVX512F__) || defined(__AVX__) || \
    defined(__SSE2__) || defined(__ARM_NEON) || defined(__wasm_simd128__))
#if defined(__AVX512F__)
#define SP_VL 16
#elif defined(__AVX__)
#define SP_VL 8
#else
#define SP_VL 4
#endif
typedef float sp_vf __attribute__((vector_size(SP_VL * 4)));
typedef float sp_vfu __attribute__((vector_size(SP_VL * 4), aligned(4), may_alias)); /* unaligned loads */
#else
#define SP_VL 1
typedef float sp_vf;
typedef float sp_vfu;
#endif
#define SP_NV (T / SP_VL) /* vectors per tile row */

static inline sp_vf sp_load(const float *p) { return *(const sp_vfu *)p; }
static const float sp_zeros[T] = {0.0f}; /* what accumulators start from */

static inline float sp_clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

static inline float sp_act(float v, int64_t act, float a, float b) {
  switch (act) {
    case SDK_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case SDK_ACT_CLIP: return v < a ? a : (v > b ? b : v);
    case SDK_ACT_HARDSIGMOID: return sp_clamp01(a * v + b);
    case SDK_ACT_HARDSWISH: return v * sp_clamp01(v * (1.0f / 6.0f) + 0.5f);
    case SDK_ACT_SIGMOID: return 1.0f / (1.0f + sdk_expf(-v));
    case SDK_ACT_SILU: return v / (1.0f + sdk_expf(-v));
    case SDK_ACT_LEAKYRELU: return v < 0.0f ? v * a : v;
    default: return v;
  }
}

/* A group of rows x n accumulated outputs: Y[r*y_os + t*y_ps] = act(stage[r][t] + bias[r] + R[r*y_os + t*y_ps]),
 * in the order that writes Y contiguously (MatMul outputs run along o: a row-by-row store would touch one cache
 * line per value, all in the same L1 set when the row length is a multiple of 1024 floats). */
static void sp_store(float stage[][T], int64_t rows, int64_t n, const float *bias, const float *R, float *Y,
                     int64_t y_os, int64_t y_ps, int64_t act, float a, float b) {
  int64_t r, t;
  if (y_os <= y_ps) /* outputs along o are contiguous: write across the rows */
    for (t = 0; t < n; ++t)
      for (r = 0; r < rows; ++r) {
        const int64_t at = r * y_os + t * y_ps;
        const float v = stage[r][t] + (bias ? bias[r] : 0.0f) + (R ? R[at] : 0.0f);
        Y[at] = act == SDK_ACT_NONE ? v : sp_act(v, act, a, b);
      }
  else
    for (r = 0; r < rows; ++r) {
      const float bb = bias ? bias[r] : 0.0f, *rr = R ? R + r * y_os : NULL;
      float *restrict y = Y + r * y_os;
      if (act == SDK_ACT_NONE && rr == NULL)
        for (t = 0; t < n; ++t) y[t * y_ps] = stage[r][t] + bb;
      else
        for (t = 0; t < n; ++t) y[t * y_ps] = sp_act(stage[r][t] + bb + (rr ? rr[t * y_ps] : 0.0f), act, a, b);
    }
}

/* The K rows of the panel of n <= PANEL columns of X starting at X: in place (row stride *ld) when the columns
 * are contiguous and the panel is full, else copied into scratch (row stride PANEL), zero-padded to whole tiles. */
static const float *sp_panel(const float *X, int64_t K, int64_t x_ks, int64_t x_ps, int64_t n, float *scratch,
                             int64_t *ld) {
  int64_t k, t;
  const int64_t padded = (n + T - 1) / T * T;
  if (x_ps == 1 && n == PANEL) {
    *ld = x_ks;
    return X;
  }
  if (x_ps > x_ks) /* MatMul rows: read each row of X contiguously */
    for (t = 0; t < n; ++t)
      for (k = 0; k < K; ++k) scratch[k * PANEL + t] = X[t * x_ps + k * x_ks];
  else
    for (k = 0; k < K; ++k)
      for (t = 0; t < n; ++t) scratch[k * PANEL + t] = X[t * x_ps + k * x_ks];
  for (k = 0; k < K; ++k)
    for (t = n; t < padded; ++t) scratch[k * PANEL + t] = 0.0f;
  *ld = PANEL;
  return scratch;
}

/* The panel of a convolution: rows k = (c, kh, kw) of the im2col matrix for output pixels p0 .. p0 + n - 1 (zero
 * outside the input and past n, to whole tiles), in scratch with row stride PANEL. g: C, H, W, OW, KH, KW, SH, SW,
 * PH, PW, DH, DW. */
static const float *sp_im2col(const float *X, const int64_t *g, int64_t p0, int64_t n, float *scratch, int64_t *ld) {
  const int64_t C = g[0], H = g[1], W = g[2], OW = g[3], KH = g[4], KW = g[5], SH = g[6], SW = g[7], PH = g[8],
                PW = g[9], DH = g[10], DW = g[11], padded = (n + T - 1) / T * T;
  int64_t ih0[PANEL], iw0[PANEL], c, kh, kw, t;
  for (t = 0; t < n; ++t) {
    ih0[t] = (p0 + t) / OW * SH - PH;
    iw0[t] = (p0 + t) % OW * SW - PW;
  }
  for (c = 0; c < C; ++c)
    for (kh = 0; kh < KH; ++kh)
      for (kw = 0; kw < KW; ++kw) {
        float *restrict row = scratch + ((c * KH + kh) * KW + kw) * PANEL;
        const float *xc = X + c * H * W;
        for (t = 0; t < n; ++t) {
          const int64_t ih = ih0[t] + kh * DH, iw = iw0[t] + kw * DW;
          row[t] = ih >= 0 && ih < H && iw >= 0 && iw < W ? xc[ih * W + iw] : 0.0f;
        }
        for (t = n; t < padded; ++t) row[t] = 0.0f;
      }
  *ld = PANEL;
  return scratch;
}

/* index types of the column indices, by their size in bytes */
#define SP_COL(ix, cols, j)                                                                                  \
  ((ix) == 1 ? (int64_t)((const uint8_t *)(cols))[j]                                                         \
             : (ix) == 2 ? (int64_t)((const uint16_t *)(cols))[j] : (int64_t)((const int32_t *)(cols))[j])

/* vacc += S[o, :] X[:, tile] over one CSR row (the index type is a constant in each expansion) */
#define SP_CSR_ROW(IX)                                                                                       \
  for (j = j0; j < j1; ++j) {                                                                                \
    const float w = vals[j], *restrict xr = xt + SP_COL(IX, cols, j) * ld;                                    \
    for (v = 0; v < SP_NV; ++v) vacc[v] += w * sp_load(xr + v * SP_VL);                                       \
  }

/* Panels of PANEL columns: the X panel stays in cache while every row of S passes over it once (the weights are
 * read P / PANEL times); each row's indices and values stay in L1 across the panel's tiles. */
static void sp_csr(int ix, int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                   const void *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
                   const int64_t *conv, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                   float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  int64_t b, p0, p1, o0, r, j, ld;
  int v;
  for (b = 0; b < batch; ++b)
    for (p0 = 0; p0 < P; p0 += PANEL) {
      const int64_t np = P - p0 < PANEL ? P - p0 : PANEL;
      const float *restrict xp = conv ? sp_im2col(X + b * x_bs, conv, p0, np, scratch, &ld)
                                      : sp_panel(X + b * x_bs + p0 * x_ps, K, x_ks, x_ps, np, scratch, &ld);
      SDK_OMP(parallel for schedule(static) private(p1, r, j, v) if((int64_t)rowptr[O] * np >= SDK_PAR_MIN_WORK))
      for (o0 = 0; o0 < O; o0 += SP_GROUP) {
        const int64_t rows = O - o0 < SP_GROUP ? O - o0 : SP_GROUP;
        for (p1 = 0; p1 < np; p1 += T) {
          const int64_t n = np - p1 < T ? np - p1 : T, at = b * y_bs + o0 * y_os + (p0 + p1) * y_ps;
          const float *restrict xt = xp + p1;
          float stage[SP_GROUP][T];
          for (r = 0; r < rows; ++r) {
            const int64_t j0 = rowptr[o0 + r], j1 = rowptr[o0 + r + 1];
            sp_vf vacc[SP_NV];
            for (v = 0; v < SP_NV; ++v) vacc[v] = sp_load(sp_zeros);
            if (ix == 1) { SP_CSR_ROW(1) }
            else if (ix == 2) { SP_CSR_ROW(2) }
            else { SP_CSR_ROW(4) }
            memcpy(stage[r], vacc, sizeof stage[r]);
          }
          sp_store(stage, rows, n, bias ? bias + o0 : NULL, R ? R + at : NULL, Y + at, y_os, y_ps, act, act_a,
                   act_b);
        }
      }
    }
}

/* vacc[r] += S[q*BR + r, :] X[:, tile] over one BSR block row, NB rows per block (a constant where it can be) */
#define SP_BSR_ROW(IX, NB)                                                                                   \
  for (j = j0; j < j1; ++j) {                                                                                \
    const float *restrict xr = xt + SP_COL(IX, cols, j) * ld, *restrict w = vals + j * (NB);                  \
    sp_vf x[SP_NV];                                                                                          \
    for (v = 0; v < SP_NV; ++v) x[v] = sp_load(xr + v * SP_VL);                                             \
    for (r = 0; r < (NB); ++r)                                                                               \
      for (v = 0; v < SP_NV; ++v) vacc[r][v] += w[r] * x[v];                                                 \
  }
#define SP_BSR_ROWS(IX)                                                                                      \
  if (BR == 2) { SP_BSR_ROW(IX, 2) }                                                                         \
  else if (BR == 4) { SP_BSR_ROW(IX, 4) }                                                                    \
  else if (BR == 8) { SP_BSR_ROW(IX, 8) }                                                                    \
  else { SP_BSR_ROW(IX, BR) }

static void sp_bsr(int ix, int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                   const void *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
                   const int64_t *conv, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                   float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  int64_t b, p0, p1, q0, q, j, r, ld;
  int v;
  const int64_t QB = (O + BR - 1) / BR, GQ = BR < SP_GROUP ? SP_GROUP / BR : 1; /* block rows per group */
  if (BR < 1 || BR > SP_BR_MAX) return; /* the compiler emits 1 <= BR <= 16 only */
  for (b = 0; b < batch; ++b)
    for (p0 = 0; p0 < P; p0 += PANEL) {
      const int64_t np = P - p0 < PANEL ? P - p0 : PANEL;
      const float *restrict xp = conv ? sp_im2col(X + b * x_bs, conv, p0, np, scratch, &ld)
                                      : sp_panel(X + b * x_bs + p0 * x_ps, K, x_ks, x_ps, np, scratch, &ld);
      SDK_OMP(parallel for schedule(static) private(p1, q, j, r, v)
              if((int64_t)rowptr[QB] * BR * np >= SDK_PAR_MIN_WORK))
      for (q0 = 0; q0 < QB; q0 += GQ) {
        const int64_t o0 = q0 * BR, rows = O - o0 < GQ * BR ? O - o0 : GQ * BR;
        for (p1 = 0; p1 < np; p1 += T) { /* a partial tile reads the zero-padded copy: always T wide */
          const int64_t n = np - p1 < T ? np - p1 : T, at = b * y_bs + o0 * y_os + (p0 + p1) * y_ps;
          const float *restrict xt = xp + p1;
          float stage[SP_GROUP][T];
          for (q = q0; q < q0 + GQ && q < QB; ++q) {
            const int64_t j0 = rowptr[q], j1 = rowptr[q + 1], in = O - q * BR < BR ? O - q * BR : BR;
            sp_vf vacc[SP_BR_MAX][SP_NV];
            for (r = 0; r < BR; ++r)
              for (v = 0; v < SP_NV; ++v) vacc[r][v] = sp_load(sp_zeros);
            if (ix == 1) { SP_BSR_ROWS(1) }
            else if (ix == 2) { SP_BSR_ROWS(2) }
            else { SP_BSR_ROWS(4) }
            for (r = 0; r < in; ++r) memcpy(stage[(q - q0) * BR + r], vacc[r], sizeof stage[0]);
          }
          sp_store(stage, rows, n, bias ? bias + o0 : NULL, R ? R + at : NULL, Y + at, y_os, y_ps, act, act_a,
                   act_b);
        }
      }
    }
}

void sdk_spmm_csr_f32_u8(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                         const uint8_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                         int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                         float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_csr(1, batch, O, P, K, rowptr, cols, vals, X, x_bs, x_ks, x_ps, NULL, bias, R, act, act_a, act_b, Y, y_bs, y_os,
         y_ps, scratch);
}

void sdk_spmm_csr_f32_u16(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                          const uint16_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_csr(2, batch, O, P, K, rowptr, cols, vals, X, x_bs, x_ks, x_ps, NULL, bias, R, act, act_a, act_b, Y, y_bs, y_os,
         y_ps, scratch);
}

void sdk_spmm_csr_f32_i32(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                          const int32_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_csr(4, batch, O, P, K, rowptr, cols, vals, X, x_bs, x_ks, x_ps, NULL, bias, R, act, act_a, act_b, Y, y_bs, y_os,
         y_ps, scratch);
}

void sdk_spmm_bsr_f32_u8(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                         const uint8_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                         int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                         float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_bsr(1, batch, O, P, K, BR, rowptr, cols, vals, X, x_bs, x_ks, x_ps, NULL, bias, R, act, act_a, act_b, Y, y_bs,
         y_os, y_ps, scratch);
}

void sdk_spmm_bsr_f32_u16(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                          const uint16_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_bsr(2, batch, O, P, K, BR, rowptr, cols, vals, X, x_bs, x_ks, x_ps, NULL, bias, R, act, act_a, act_b, Y, y_bs,
         y_os, y_ps, scratch);
}

void sdk_spmm_bsr_f32_i32(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                          const int32_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_bsr(4, batch, O, P, K, BR, rowptr, cols, vals, X, x_bs, x_ks, x_ps, NULL, bias, R, act, act_a, act_b, Y, y_bs,
         y_os, y_ps, scratch);
}

/* Convolutions (sdk_sparse.h): the product over the im2col matrix, built panel by panel in the scratch */
#define SP_CONV_GEOMETRY                                                                                     \
  const int64_t g[12] = {C, H, W, OW, KH, KW, SH, SW, PH, PW, DH, DW}

void sdk_spconv2d_csr_f32_u8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, const int32_t *rowptr,
    const uint8_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_csr(1, N, O, OH * OW, C * KH * KW, rowptr, cols, vals, X, C * H * W, 0, 0, g, bias, R, act,
         act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

void sdk_spconv2d_csr_f32_u16(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, const int32_t *rowptr,
    const uint16_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_csr(2, N, O, OH * OW, C * KH * KW, rowptr, cols, vals, X, C * H * W, 0, 0, g, bias, R, act,
         act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

void sdk_spconv2d_csr_f32_i32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, const int32_t *rowptr,
    const int32_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_csr(4, N, O, OH * OW, C * KH * KW, rowptr, cols, vals, X, C * H * W, 0, 0, g, bias, R, act,
         act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

void sdk_spconv2d_bsr_f32_u8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr,
    const uint8_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_bsr(1, N, O, OH * OW, C * KH * KW, BR, rowptr, cols, vals, X, C * H * W, 0, 0, g, bias, R, act,
         act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

void sdk_spconv2d_bsr_f32_u16(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr,
    const uint16_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_bsr(2, N, O, OH * OW, C * KH * KW, BR, rowptr, cols, vals, X, C * H * W, 0, 0, g, bias, R, act,
         act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

void sdk_spconv2d_bsr_f32_i32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr,
    const int32_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_bsr(4, N, O, OH * OW, C * KH * KW, BR, rowptr, cols, vals, X, C * H * W, 0, 0, g, bias, R, act,
         act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

/* N:M: row o has G = ceil(K / M) groups of N values (M <= 4); group g's byte idx[o*G + g] holds the N offsets in
 * the group, 2 bits each (value i at k = g*M + (idx >> 2i & 3)); a group with fewer non-zeros pads with zeros. */
static void sp_nm(int64_t NN, int64_t M, int64_t batch, int64_t O, int64_t P, int64_t K, const uint8_t *idx,
                  const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps, const int64_t *conv,
                  const float *bias, const float *R, int64_t act, float act_a, float act_b, float *Y, int64_t y_bs,
                  int64_t y_os, int64_t y_ps, float *scratch) {
  int64_t b, p0, p1, o0, r, g, i, ld;
  int v;
  const int64_t G = (K + M - 1) / M;
  if (NN < 1 || NN > 4 || M < NN || M > 4) return; /* the compiler emits 1 <= N <= M <= 4 only */
  for (b = 0; b < batch; ++b)
    for (p0 = 0; p0 < P; p0 += PANEL) {
      const int64_t np = P - p0 < PANEL ? P - p0 : PANEL;
      const float *restrict xp = conv ? sp_im2col(X + b * x_bs, conv, p0, np, scratch, &ld)
                                      : sp_panel(X + b * x_bs + p0 * x_ps, K, x_ks, x_ps, np, scratch, &ld);
      SDK_OMP(parallel for schedule(static) private(p1, r, g, i, v) if(O * G * NN * np >= SDK_PAR_MIN_WORK))
      for (o0 = 0; o0 < O; o0 += SP_GROUP) {
        const int64_t rows = O - o0 < SP_GROUP ? O - o0 : SP_GROUP;
        for (p1 = 0; p1 < np; p1 += T) {
          const int64_t n = np - p1 < T ? np - p1 : T, at = b * y_bs + o0 * y_os + (p0 + p1) * y_ps;
          const float *restrict xt = xp + p1;
          float stage[SP_GROUP][T];
          for (r = 0; r < rows; ++r) {
            const uint8_t *restrict gi = idx + (o0 + r) * G;
            const float *restrict w = vals + (o0 + r) * G * NN;
            sp_vf vacc[SP_NV];
            for (v = 0; v < SP_NV; ++v) vacc[v] = sp_load(sp_zeros);
            for (g = 0; g < G; ++g)
              for (i = 0; i < NN; ++i) {
                const float *restrict xr = xt + (g * M + (gi[g] >> (2 * i) & 3)) * ld;
                for (v = 0; v < SP_NV; ++v) vacc[v] += w[g * NN + i] * sp_load(xr + v * SP_VL);
              }
            memcpy(stage[r], vacc, sizeof stage[r]);
          }
          sp_store(stage, rows, n, bias ? bias + o0 : NULL, R ? R + at : NULL, Y + at, y_os, y_ps, act, act_a,
                   act_b);
        }
      }
    }
}

void sdk_spmm_nm_f32(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t NN, int64_t M, const uint8_t *idx,
                     const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps, const float *bias,
                     const float *R, int64_t act, float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os,
                     int64_t y_ps, float *scratch) {
  sp_nm(NN, M, batch, O, P, K, idx, vals, X, x_bs, x_ks, x_ps, NULL, bias, R, act, act_a, act_b, Y, y_bs, y_os, y_ps,
        scratch);
}

void sdk_spconv2d_nm_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t NN, int64_t M,
    const uint8_t *idx, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_nm(NN, M, N, O, OH * OW, C * KH * KW, idx, vals, X, C * H * W, 0, 0, g, bias, R, act, act_a, act_b, Y,
        O * OH * OW, OH * OW, 1, scratch);
}

/* Sliced ELL and hybrid (sdk_sparse.h): both walk groups of BR rows (a slice, a block row) with BR x T
 * accumulators, so one group's rows are stored together as in sp_bsr.
 * ELL: the slice's BR rows advance in lockstep over its width w (entries interleaved: entry j of row r at
 *      sliceptr[q] + j*BR + r), BR independent FMA chains with no per-row bounds; padding entries are zeros.
 * HYB: the block row's BR x 1 blocks (rowptr/cols/vals, as BSR), then each row's CSR remainder
 *      (crowptr/ccols/cvals) into the same accumulators: one pass over X, one epilogue. */
#define SP_ELL_SLICE(IX, NB)                                                                                 \
  for (j = 0; j < w; ++j) {                                                                                  \
    const int64_t e = j0 + j * (NB);                                                                         \
    for (r = 0; r < (NB); ++r) {                                                                             \
      const float wv = vals[e + r], *restrict xr = xt + SP_COL(IX, cols, e + r) * ld;                        \
      for (v = 0; v < SP_NV; ++v) vacc[r][v] += wv * sp_load(xr + v * SP_VL);                               \
    }                                                                                                        \
  }
#define SP_ELL_SLICES(IX)                                                                                    \
  if (BR == 2) { SP_ELL_SLICE(IX, 2) }                                                                       \
  else if (BR == 4) { SP_ELL_SLICE(IX, 4) }                                                                  \
  else if (BR == 8) { SP_ELL_SLICE(IX, 8) }                                                                  \
  else { SP_ELL_SLICE(IX, BR) }
#define SP_HYB_REST(IX)                                                                                      \
  for (r = 0; r < in; ++r)                                                                                   \
    for (j = crowptr[q * BR + r]; j < crowptr[q * BR + r + 1]; ++j) {                                        \
      const float wv = cvals[j], *restrict xr = xt + SP_COL(IX, ccols, j) * ld;                              \
      for (v = 0; v < SP_NV; ++v) vacc[r][v] += wv * sp_load(xr + v * SP_VL);                                \
    }

static void sp_sliced(int hyb, int ix, int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR,
                      const int32_t *rowptr, const void *cols, const float *vals, const int32_t *crowptr,
                      const void *ccols, const float *cvals, const float *X, int64_t x_bs, int64_t x_ks,
                      int64_t x_ps, const int64_t *conv, const float *bias, const float *R, int64_t act, float act_a,
                      float act_b, float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  int64_t b, p0, p1, q0, q, j, r, ld;
  int v;
  const int64_t QB = (O + BR - 1) / BR, GQ = BR < SP_GROUP ? SP_GROUP / BR : 1; /* slices per group */
  if (BR < 1 || BR > SP_BR_MAX) return; /* the compiler emits 1 <= BR <= 16 only */
  for (b = 0; b < batch; ++b)
    for (p0 = 0; p0 < P; p0 += PANEL) {
      const int64_t np = P - p0 < PANEL ? P - p0 : PANEL;
      const int64_t work = ((int64_t)rowptr[QB] * (hyb ? BR : 1) + (hyb ? (int64_t)crowptr[O] : 0)) * np;
      (void)work; /* read by the OpenMP clause only */
      const float *restrict xp = conv ? sp_im2col(X + b * x_bs, conv, p0, np, scratch, &ld)
                                      : sp_panel(X + b * x_bs + p0 * x_ps, K, x_ks, x_ps, np, scratch, &ld);
      SDK_OMP(parallel for schedule(static) private(p1, q, j, r, v) if(work >= SDK_PAR_MIN_WORK))
      for (q0 = 0; q0 < QB; q0 += GQ) {
        const int64_t o0 = q0 * BR, rows = O - o0 < GQ * BR ? O - o0 : GQ * BR;
        for (p1 = 0; p1 < np; p1 += T) {
          const int64_t n = np - p1 < T ? np - p1 : T, at = b * y_bs + o0 * y_os + (p0 + p1) * y_ps;
          const float *restrict xt = xp + p1;
          float stage[SP_GROUP][T];
          for (q = q0; q < q0 + GQ && q < QB; ++q) {
            const int64_t j0 = rowptr[q], j1 = rowptr[q + 1], in = O - q * BR < BR ? O - q * BR : BR;
            const int64_t w = (j1 - j0) / BR; /* ELL: the slice's width */
            sp_vf vacc[SP_BR_MAX][SP_NV];
            for (r = 0; r < BR; ++r)
              for (v = 0; v < SP_NV; ++v) vacc[r][v] = sp_load(sp_zeros);
            if (!hyb) {
              if (ix == 1) { SP_ELL_SLICES(1) }
              else if (ix == 2) { SP_ELL_SLICES(2) }
              else { SP_ELL_SLICES(4) }
            } else if (ix == 1) {
              SP_BSR_ROWS(1)
              SP_HYB_REST(1)
            } else if (ix == 2) {
              SP_BSR_ROWS(2)
              SP_HYB_REST(2)
            } else {
              SP_BSR_ROWS(4)
              SP_HYB_REST(4)
            }
            for (r = 0; r < in; ++r) memcpy(stage[(q - q0) * BR + r], vacc[r], sizeof stage[0]);
          }
          sp_store(stage, rows, n, bias ? bias + o0 : NULL, R ? R + at : NULL, Y + at, y_os, y_ps, act, act_a,
                   act_b);
        }
      }
    }
}

void sdk_spmm_ell_f32_u8(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *sliceptr,
    const uint8_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    const float *bias, const float *R, int64_t act, float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os,
    int64_t y_ps, float *scratch) {
  sp_sliced(0, 1, batch, O, P, K, BR, sliceptr, cols, vals, NULL, NULL, NULL, X, x_bs, x_ks, x_ps, NULL, bias, R, act,
            act_a, act_b, Y, y_bs, y_os, y_ps, scratch);
}

void sdk_spmm_hyb_f32_u8(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
    const uint8_t *cols, const float *vals, const int32_t *crowptr, const uint8_t *ccols, const float *cvals,
    const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_sliced(1, 1, batch, O, P, K, BR, rowptr, cols, vals, crowptr, ccols, cvals, X, x_bs, x_ks, x_ps, NULL, bias, R,
            act, act_a, act_b, Y, y_bs, y_os, y_ps, scratch);
}

void sdk_spconv2d_ell_f32_u8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *sliceptr, const uint8_t *cols, const float *vals, const float *X, const float *bias,
    const float *R, int64_t act, float act_a, float act_b, float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_sliced(0, 1, N, O, OH * OW, C * KH * KW, BR, sliceptr, cols, vals, NULL, NULL, NULL, X, C * H * W, 0, 0, g, bias,
            R, act, act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

void sdk_spconv2d_hyb_f32_u8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr, const uint8_t *cols, const float *vals, const int32_t *crowptr, const uint8_t *ccols,
    const float *cvals, const float *X, const float *bias, const float *R, int64_t act, float act_a, float act_b,
    float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_sliced(1, 1, N, O, OH * OW, C * KH * KW, BR, rowptr, cols, vals, crowptr, ccols, cvals, X, C * H * W, 0, 0, g,
            bias, R, act, act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

void sdk_spmm_ell_f32_u16(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *sliceptr,
    const uint16_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    const float *bias, const float *R, int64_t act, float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os,
    int64_t y_ps, float *scratch) {
  sp_sliced(0, 2, batch, O, P, K, BR, sliceptr, cols, vals, NULL, NULL, NULL, X, x_bs, x_ks, x_ps, NULL, bias, R, act,
            act_a, act_b, Y, y_bs, y_os, y_ps, scratch);
}

void sdk_spmm_hyb_f32_u16(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
    const uint16_t *cols, const float *vals, const int32_t *crowptr, const uint16_t *ccols, const float *cvals,
    const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_sliced(1, 2, batch, O, P, K, BR, rowptr, cols, vals, crowptr, ccols, cvals, X, x_bs, x_ks, x_ps, NULL, bias, R,
            act, act_a, act_b, Y, y_bs, y_os, y_ps, scratch);
}

void sdk_spconv2d_ell_f32_u16(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *sliceptr, const uint16_t *cols, const float *vals, const float *X, const float *bias,
    const float *R, int64_t act, float act_a, float act_b, float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_sliced(0, 2, N, O, OH * OW, C * KH * KW, BR, sliceptr, cols, vals, NULL, NULL, NULL, X, C * H * W, 0, 0, g, bias,
            R, act, act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

void sdk_spconv2d_hyb_f32_u16(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr, const uint16_t *cols, const float *vals, const int32_t *crowptr, const uint16_t *ccols,
    const float *cvals, const float *X, const float *bias, const float *R, int64_t act, float act_a, float act_b,
    float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_sliced(1, 2, N, O, OH * OW, C * KH * KW, BR, rowptr, cols, vals, crowptr, ccols, cvals, X, C * H * W, 0, 0, g,
            bias, R, act, act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

void sdk_spmm_ell_f32_i32(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *sliceptr,
    const int32_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    const float *bias, const float *R, int64_t act, float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os,
    int64_t y_ps, float *scratch) {
  sp_sliced(0, 4, batch, O, P, K, BR, sliceptr, cols, vals, NULL, NULL, NULL, X, x_bs, x_ks, x_ps, NULL, bias, R, act,
            act_a, act_b, Y, y_bs, y_os, y_ps, scratch);
}

void sdk_spmm_hyb_f32_i32(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
    const int32_t *cols, const float *vals, const int32_t *crowptr, const int32_t *ccols, const float *cvals,
    const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_sliced(1, 4, batch, O, P, K, BR, rowptr, cols, vals, crowptr, ccols, cvals, X, x_bs, x_ks, x_ps, NULL, bias, R,
            act, act_a, act_b, Y, y_bs, y_os, y_ps, scratch);
}

void sdk_spconv2d_ell_f32_i32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *sliceptr, const int32_t *cols, const float *vals, const float *X, const float *bias,
    const float *R, int64_t act, float act_a, float act_b, float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_sliced(0, 4, N, O, OH * OW, C * KH * KW, BR, sliceptr, cols, vals, NULL, NULL, NULL, X, C * H * W, 0, 0, g, bias,
            R, act, act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

void sdk_spconv2d_hyb_f32_i32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr, const int32_t *cols, const float *vals, const int32_t *crowptr, const int32_t *ccols,
    const float *cvals, const float *X, const float *bias, const float *R, int64_t act, float act_a, float act_b,
    float *Y, float *scratch) {
  SP_CONV_GEOMETRY;
  sp_sliced(1, 4, N, O, OH * OW, C * KH * KW, BR, rowptr, cols, vals, crowptr, ccols, cvals, X, C * H * W, 0, 0, g,
            bias, R, act, act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch);
}

#undef SP_CONV_GEOMETRY
#undef T
#undef PANEL
