/* Sparse-weight products (see sdk_sparse.h): Y = act(S X + bias + R) for a constant sparse S in CSR or BSR.
 * Work runs in tiles of T = SDK_SPARSE_TILE columns p: each row (block row) of S accumulates T-wide rows of X
 * in vector registers, then writes one tile of Y with the epilogue. X rows are read in place when p is
 * contiguous (1x1 convolution, NCHW) and copied into the scratch ([K][T]) when it is strided (MatMul rows) or
 * the tile is partial.
 * Vectors: GCC/Clang vector extensions of the target's width (AVX-512: 16 floats, AVX: 8, SSE2 / NEON / wasm
 * SIMD128: 4), which compile to FMLA / VFMADD / f32x4 code without per-ISA intrinsics (gcc does not
 * auto-vectorise these sparse loops); other compilers and scalar FPUs (Cortex-M4) run the same loops on floats.
 * C99 (+ vector extensions where the compiler has them), no malloc, no globals. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sdk_math.h"
#include "sdk_sparse.h"

/* The activation codes of sdk_kernels.h (a bundle that calls only sparse kernels does not have that header;
 * tests/unit/test_sparse_formats.py checks the two lists agree). */
#ifndef SDK_ACT_NONE
#define SDK_ACT_NONE 0
#define SDK_ACT_RELU 1
#define SDK_ACT_CLIP 2
#define SDK_ACT_HARDSIGMOID 3
#define SDK_ACT_HARDSWISH 4
#define SDK_ACT_SIGMOID 5
#define SDK_ACT_SILU 6
#define SDK_ACT_LEAKYRELU 7
#endif

#define T SDK_SPARSE_TILE
#define SP_BR_MAX 16 /* BSR block rows the generic path holds */

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

/* n accumulated values of one output row: Y[t*y_ps] = act(acc[t] + bias + R[t*y_ps]) */
static void sp_store(const float *acc, int64_t n, float bias, const float *R, float *Y, int64_t y_ps, int64_t act,
                     float a, float b) {
  int64_t t;
  if (act == SDK_ACT_NONE && R == NULL) {
    for (t = 0; t < n; ++t) Y[t * y_ps] = acc[t] + bias;
    return;
  }
  for (t = 0; t < n; ++t) Y[t * y_ps] = sp_act(acc[t] + bias + (R ? R[t * y_ps] : 0.0f), act, a, b);
}

/* The K rows of n columns of X starting at X: in place (row stride *ld) when they are contiguous and the tile is
 * full, else copied into scratch with row stride T. */
static const float *sp_tile(const float *X, int64_t K, int64_t x_ks, int64_t x_ps, int64_t n, float *scratch,
                            int64_t *ld) {
  int64_t k, t;
  if (x_ps == 1 && n == T) {
    *ld = x_ks;
    return X;
  }
  if (x_ps > x_ks) /* MatMul rows: read each row of X contiguously */
    for (t = 0; t < n; ++t)
      for (k = 0; k < K; ++k) scratch[k * T + t] = X[t * x_ps + k * x_ks];
  else
    for (k = 0; k < K; ++k)
      for (t = 0; t < n; ++t) scratch[k * T + t] = X[t * x_ps + k * x_ks];
  *ld = T;
  return scratch;
}

/* index types of the column indices, by their size in bytes */
#define SP_COL(ix, cols, j)                                                                                  \
  ((ix) == 1 ? (int64_t)((const uint8_t *)(cols))[j]                                                         \
             : (ix) == 2 ? (int64_t)((const uint16_t *)(cols))[j] : (int64_t)((const int32_t *)(cols))[j])

/* acc[t] += S[o, :] X[:, t] over one CSR row (the index type is a constant in each expansion) */
#define SP_CSR_ROW(IX)                                                                                       \
  do {                                                                                                       \
    if (n == T)                                                                                              \
      for (j = j0; j < j1; ++j) {                                                                            \
        const float w = vals[j], *restrict xr = xt + SP_COL(IX, cols, j) * ld;                                \
        for (v = 0; v < SP_NV; ++v) vacc[v] += w * sp_load(xr + v * SP_VL);                                   \
      }                                                                                                      \
    else                                                                                                     \
      for (j = j0; j < j1; ++j) {                                                                            \
        const float w = vals[j], *restrict xr = xt + SP_COL(IX, cols, j) * ld;                                \
        for (t = 0; t < n; ++t) acc[t] += w * xr[t];                                                         \
      }                                                                                                      \
  } while (0)

static void sp_csr(int ix, int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                   const void *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
                   const float *bias, const float *R, int64_t act, float act_a, float act_b, float *Y,
                   int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  int64_t b, p0, o, j, t, ld;
  int v;
  for (b = 0; b < batch; ++b)
    for (p0 = 0; p0 < P; p0 += T) {
      const int64_t n = P - p0 < T ? P - p0 : T;
      const float *restrict xt = sp_tile(X + b * x_bs + p0 * x_ps, K, x_ks, x_ps, n, scratch, &ld);
      for (o = 0; o < O; ++o) {
        float acc[T];
        sp_vf vacc[SP_NV];
        const int64_t j0 = rowptr[o], j1 = rowptr[o + 1], at = b * y_bs + o * y_os + p0 * y_ps;
        for (t = 0; t < T; ++t) acc[t] = 0.0f;
        for (v = 0; v < SP_NV; ++v) vacc[v] = sp_load(acc);
        if (ix == 1) SP_CSR_ROW(1);
        else if (ix == 2) SP_CSR_ROW(2);
        else SP_CSR_ROW(4);
        if (n == T) memcpy(acc, vacc, sizeof acc);
        sp_store(acc, n, bias ? bias[o] : 0.0f, R ? R + at : NULL, Y + at, y_ps, act, act_a, act_b);
      }
    }
}

/* acc[r][t] += S[q*BR + r, :] X[:, t] over one BSR block row, BR rows per block (a constant where it can be) */
#define SP_BSR_ROW(IX, NB)                                                                                   \
  do {                                                                                                       \
    for (j = j0; j < j1; ++j) {                                                                              \
      const float *restrict xr = xt + SP_COL(IX, cols, j) * ld, *restrict w = vals + j * (NB);                \
      sp_vf x[SP_NV];                                                                                        \
      for (v = 0; v < SP_NV; ++v) x[v] = sp_load(xr + v * SP_VL);                                           \
      for (r = 0; r < (NB); ++r)                                                                             \
        for (v = 0; v < SP_NV; ++v) vacc[r][v] += w[r] * x[v];                                               \
    }                                                                                                        \
  } while (0)
#define SP_BSR_ROWS(IX)                                                                                      \
  do {                                                                                                       \
    if (BR == 2) SP_BSR_ROW(IX, 2);                                                                          \
    else if (BR == 4) SP_BSR_ROW(IX, 4);                                                                     \
    else if (BR == 8) SP_BSR_ROW(IX, 8);                                                                     \
    else SP_BSR_ROW(IX, BR);                                                                                 \
  } while (0)

static void sp_bsr(int ix, int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                   const void *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
                   const float *bias, const float *R, int64_t act, float act_a, float act_b, float *Y,
                   int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  int64_t b, p0, q, j, r, t, ld;
  int v;
  const int64_t QB = (O + BR - 1) / BR;
  if (BR < 1 || BR > SP_BR_MAX) return; /* the compiler emits 1 <= BR <= 16 only */
  for (b = 0; b < batch; ++b)
    for (p0 = 0; p0 < P; p0 += T) {
      const int64_t n = P - p0 < T ? P - p0 : T;
      /* a partial tile is copied (zero-padded) so the block loop always runs T wide */
      const float *restrict xt = sp_tile(X + b * x_bs + p0 * x_ps, K, x_ks, x_ps, n, scratch, &ld);
      if (n < T)
        for (j = 0; j < K; ++j)
          for (t = n; t < T; ++t) scratch[j * T + t] = 0.0f;
      for (q = 0; q < QB; ++q) {
        float acc[T];
        sp_vf vacc[SP_BR_MAX][SP_NV];
        const int64_t j0 = rowptr[q], j1 = rowptr[q + 1], rows = O - q * BR < BR ? O - q * BR : BR;
        for (t = 0; t < T; ++t) acc[t] = 0.0f;
        for (r = 0; r < BR; ++r)
          for (v = 0; v < SP_NV; ++v) vacc[r][v] = sp_load(acc);
        if (ix == 1) SP_BSR_ROWS(1);
        else if (ix == 2) SP_BSR_ROWS(2);
        else SP_BSR_ROWS(4);
        for (r = 0; r < rows; ++r) {
          const int64_t o = q * BR + r, at = b * y_bs + o * y_os + p0 * y_ps;
          memcpy(acc, vacc[r], sizeof acc);
          sp_store(acc, n, bias ? bias[o] : 0.0f, R ? R + at : NULL, Y + at, y_ps, act, act_a, act_b);
        }
      }
    }
}

void sdk_spmm_csr_f32_u8(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                         const uint8_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                         int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                         float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_csr(1, batch, O, P, K, rowptr, cols, vals, X, x_bs, x_ks, x_ps, bias, R, act, act_a, act_b, Y, y_bs, y_os,
         y_ps, scratch);
}

void sdk_spmm_csr_f32_u16(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                          const uint16_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_csr(2, batch, O, P, K, rowptr, cols, vals, X, x_bs, x_ks, x_ps, bias, R, act, act_a, act_b, Y, y_bs, y_os,
         y_ps, scratch);
}

void sdk_spmm_csr_f32_i32(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                          const int32_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_csr(4, batch, O, P, K, rowptr, cols, vals, X, x_bs, x_ks, x_ps, bias, R, act, act_a, act_b, Y, y_bs, y_os,
         y_ps, scratch);
}

void sdk_spmm_bsr_f32_u8(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                         const uint8_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                         int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                         float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_bsr(1, batch, O, P, K, BR, rowptr, cols, vals, X, x_bs, x_ks, x_ps, bias, R, act, act_a, act_b, Y, y_bs,
         y_os, y_ps, scratch);
}

void sdk_spmm_bsr_f32_u16(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                          const uint16_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_bsr(2, batch, O, P, K, BR, rowptr, cols, vals, X, x_bs, x_ks, x_ps, bias, R, act, act_a, act_b, Y, y_bs,
         y_os, y_ps, scratch);
}

void sdk_spmm_bsr_f32_i32(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                          const int32_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  sp_bsr(4, batch, O, P, K, BR, rowptr, cols, vals, X, x_bs, x_ks, x_ps, bias, R, act, act_a, act_b, Y, y_bs,
         y_os, y_ps, scratch);
}

#undef T
