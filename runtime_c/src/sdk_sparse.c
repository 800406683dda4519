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
#if defined(_OPENMP)
#include <omp.h>
#endif
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
        Y[at] = act == SDK_ACT_NONE ? v : sdk_actf(v, act, a, b);
      }
  else
    for (r = 0; r < rows; ++r) {
      const float bb = bias ? bias[r] : 0.0f, *rr = R ? R + r * y_os : NULL;
      float *restrict y = Y + r * y_os;
      if (act == SDK_ACT_NONE && rr == NULL)
        for (t = 0; t < n; ++t) y[t * y_ps] = stage[r][t] + bb;
      else
        for (t = 0; t < n; ++t) y[t * y_ps] = sdk_actf(stage[r][t] + bb + (rr ? rr[t * y_ps] : 0.0f), act, a, b);
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

/* One call: the weight in its format and where the outputs go; the drivers below fill it and sp_drive runs it. */
struct sp_call {
  int64_t O, P, K;
  int64_t BR;                   /* BSR / hybrid block rows, ELL slice rows */
  int64_t NN, M;                /* N:M: values per group, group size */
  int ix;                       /* bytes of a column index: 1, 2, 4 */
  const int32_t *rowptr;        /* CSR / BSR / hybrid row pointers; ELL slice pointers */
  const void *cols;             /* column indices; N:M: the offset bytes */
  const float *vals;
  const int32_t *crowptr;       /* the hybrid's CSR remainder (NULL otherwise) */
  const void *ccols;
  const float *cvals;
  const float *bias, *R;
  int64_t act;
  float act_a, act_b;
  float *Y;
  int64_t y_os, y_ps;
  int64_t groups;               /* groups of output rows stored together (the unit of work of a thread) */
  int64_t work;                 /* multiply-adds per column: a panel of n columns splits when work * n is enough */
};

/* Computes group g of output rows for the panel xp (rows of stride ld, np columns); Y offset `at` is the panel's
 * first column in batch b. */
typedef void (*sp_group_fn)(const struct sp_call *c, const float *xp, int64_t ld, int64_t np, int64_t at, int64_t g);

/* Panels of PANEL columns: the X panel stays in cache while every row of S passes over it once (the weights are
 * read P / PANEL times); each row's indices and values stay in L1 across the panel's tiles. Where the profile
 * builds with OpenMP, a panel's groups split across threads once it does SDK_PAR_MIN_WORK multiply-adds; below
 * that (and on one thread) the groups run outside any parallel region (entering one costs about 0.5 us even when
 * its `if` is false, per panel). */
static void sp_drive(const struct sp_call *c, sp_group_fn group, int64_t batch, const float *X, int64_t x_bs,
                     int64_t x_ks, int64_t x_ps, const int64_t *conv, int64_t y_bs, float *scratch) {
  int64_t b, p0, g, ld;
  for (b = 0; b < batch; ++b)
    for (p0 = 0; p0 < c->P; p0 += PANEL) {
      const int64_t np = c->P - p0 < PANEL ? c->P - p0 : PANEL, at = b * y_bs + p0 * c->y_ps;
      const float *xp = conv ? sp_im2col(X + b * x_bs, conv, p0, np, scratch, &ld)
                             : sp_panel(X + b * x_bs + p0 * x_ps, c->K, x_ks, x_ps, np, scratch, &ld);
#if defined(_OPENMP)
      if (c->work * np >= SDK_PAR_MIN_WORK && c->groups > 1 && omp_get_max_threads() > 1) {
        SDK_OMP(parallel for schedule(static))
        for (g = 0; g < c->groups; ++g) group(c, xp, ld, np, at, g);
        continue;
      }
#endif
      for (g = 0; g < c->groups; ++g) group(c, xp, ld, np, at, g);
    }
}

/* the struct of a call with the parts every format has */
static struct sp_call sp_call_of(int64_t O, int64_t P, int64_t K, int ix, const int32_t *rowptr, const void *cols,
                                 const float *vals, const float *bias, const float *R, int64_t act, float act_a,
                                 float act_b, float *Y, int64_t y_os, int64_t y_ps) {
  struct sp_call c;
  memset(&c, 0, sizeof c);
  c.O = O, c.P = P, c.K = K, c.BR = 1, c.ix = ix, c.rowptr = rowptr, c.cols = cols, c.vals = vals;
  c.bias = bias, c.R = R, c.act = act, c.act_a = act_a, c.act_b = act_b, c.Y = Y, c.y_os = y_os, c.y_ps = y_ps;
  return c;
}

/* vacc += S[o, :] X[:, tile] over one CSR row (the index type is a constant in each expansion) */
#define SP_CSR_ROW(IX)                                                                                       \
  for (j = j0; j < j1; ++j) {                                                                                \
    const float w = vals[j], *restrict xr = xt + SP_COL(IX, cols, j) * ld;                                    \
    for (v = 0; v < SP_NV; ++v) vacc[v] += w * sp_load(xr + v * SP_VL);                                       \
  }

static void sp_csr_group(const struct sp_call *c, const float *xp, int64_t ld, int64_t np, int64_t at, int64_t g) {
  const int64_t o0 = g * SP_GROUP, rows = c->O - o0 < SP_GROUP ? c->O - o0 : SP_GROUP;
  const void *cols = c->cols;
  const float *vals = c->vals;
  int64_t p1, r, j;
  int v;
  for (p1 = 0; p1 < np; p1 += T) {
    const int64_t n = np - p1 < T ? np - p1 : T, y0 = at + o0 * c->y_os + p1 * c->y_ps;
    const float *restrict xt = xp + p1;
    float stage[SP_GROUP][T];
    for (r = 0; r < rows; ++r) {
      const int64_t j0 = c->rowptr[o0 + r], j1 = c->rowptr[o0 + r + 1];
      sp_vf vacc[SP_NV];
      for (v = 0; v < SP_NV; ++v) vacc[v] = sp_load(sp_zeros);
      if (c->ix == 1) { SP_CSR_ROW(1) }
      else if (c->ix == 2) { SP_CSR_ROW(2) }
      else { SP_CSR_ROW(4) }
      memcpy(stage[r], vacc, sizeof stage[r]);
    }
    sp_store(stage, rows, n, c->bias ? c->bias + o0 : NULL, c->R ? c->R + y0 : NULL, c->Y + y0, c->y_os, c->y_ps,
             c->act, c->act_a, c->act_b);
  }
}

static void sp_csr(int ix, int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                   const void *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
                   const int64_t *conv, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                   float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  struct sp_call c = sp_call_of(O, P, K, ix, rowptr, cols, vals, bias, R, act, act_a, act_b, Y, y_os, y_ps);
  c.groups = (O + SP_GROUP - 1) / SP_GROUP;
  c.work = rowptr[O];
  sp_drive(&c, sp_csr_group, batch, X, x_bs, x_ks, x_ps, conv, y_bs, scratch);
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

static void sp_bsr_group(const struct sp_call *c, const float *xp, int64_t ld, int64_t np, int64_t at, int64_t g) {
  const int64_t BR = c->BR, O = c->O, QB = (O + BR - 1) / BR, GQ = BR < SP_GROUP ? SP_GROUP / BR : 1;
  const int64_t q0 = g * GQ, o0 = q0 * BR, rows = O - o0 < GQ * BR ? O - o0 : GQ * BR;
  const void *cols = c->cols;
  const float *vals = c->vals;
  int64_t p1, q, j, r;
  int v;
  for (p1 = 0; p1 < np; p1 += T) { /* a partial tile reads the zero-padded copy: always T wide */
    const int64_t n = np - p1 < T ? np - p1 : T, y0 = at + o0 * c->y_os + p1 * c->y_ps;
    const float *restrict xt = xp + p1;
    float stage[SP_GROUP][T];
    for (q = q0; q < q0 + GQ && q < QB; ++q) {
      const int64_t j0 = c->rowptr[q], j1 = c->rowptr[q + 1], in = O - q * BR < BR ? O - q * BR : BR;
      sp_vf vacc[SP_BR_MAX][SP_NV];
      for (r = 0; r < BR; ++r)
        for (v = 0; v < SP_NV; ++v) vacc[r][v] = sp_load(sp_zeros);
      if (c->ix == 1) { SP_BSR_ROWS(1) }
      else if (c->ix == 2) { SP_BSR_ROWS(2) }
      else { SP_BSR_ROWS(4) }
      for (r = 0; r < in; ++r) memcpy(stage[(q - q0) * BR + r], vacc[r], sizeof stage[0]);
    }
    sp_store(stage, rows, n, c->bias ? c->bias + o0 : NULL, c->R ? c->R + y0 : NULL, c->Y + y0, c->y_os, c->y_ps,
             c->act, c->act_a, c->act_b);
  }
}

/* the groups of a format with BR-row blocks or slices: GQ of them per group of SP_GROUP rows */
static void sp_block_groups(struct sp_call *c) {
  const int64_t QB = (c->O + c->BR - 1) / c->BR, GQ = c->BR < SP_GROUP ? SP_GROUP / c->BR : 1;
  c->groups = (QB + GQ - 1) / GQ;
}

static void sp_bsr(int ix, int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                   const void *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
                   const int64_t *conv, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                   float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  struct sp_call c = sp_call_of(O, P, K, ix, rowptr, cols, vals, bias, R, act, act_a, act_b, Y, y_os, y_ps);
  if (BR < 1 || BR > SP_BR_MAX) return; /* the compiler emits 1 <= BR <= 16 only */
  c.BR = BR;
  sp_block_groups(&c);
  c.work = (int64_t)rowptr[(O + BR - 1) / BR] * BR;
  sp_drive(&c, sp_bsr_group, batch, X, x_bs, x_ks, x_ps, conv, y_bs, scratch);
}

/* Convolutions (sdk_sparse.h): the product over the im2col matrix, built panel by panel in the scratch */
#define SP_CONV_GEOMETRY                                                                                     \
  const int64_t g[12] = {C, H, W, OW, KH, KW, SH, SW, PH, PW, DH, DW}

/* N:M: row o has G = ceil(K / M) groups of N values (M <= 4); group g's byte idx[o*G + g] holds the N offsets in
 * the group, 2 bits each (value i at k = g*M + (idx >> 2i & 3)); a group with fewer non-zeros pads with zeros. */
static void sp_nm_group(const struct sp_call *c, const float *xp, int64_t ld, int64_t np, int64_t at, int64_t g) {
  const int64_t NN = c->NN, M = c->M, G = (c->K + M - 1) / M;
  const int64_t o0 = g * SP_GROUP, rows = c->O - o0 < SP_GROUP ? c->O - o0 : SP_GROUP;
  const uint8_t *idx = (const uint8_t *)c->cols;
  int64_t p1, r, k, i;
  int v;
  for (p1 = 0; p1 < np; p1 += T) {
    const int64_t n = np - p1 < T ? np - p1 : T, y0 = at + o0 * c->y_os + p1 * c->y_ps;
    const float *restrict xt = xp + p1;
    float stage[SP_GROUP][T];
    for (r = 0; r < rows; ++r) {
      const uint8_t *restrict gi = idx + (o0 + r) * G;
      const float *restrict w = c->vals + (o0 + r) * G * NN;
      sp_vf vacc[SP_NV];
      for (v = 0; v < SP_NV; ++v) vacc[v] = sp_load(sp_zeros);
      for (k = 0; k < G; ++k)
        for (i = 0; i < NN; ++i) {
          const float *restrict xr = xt + (k * M + (gi[k] >> (2 * i) & 3)) * ld;
          for (v = 0; v < SP_NV; ++v) vacc[v] += w[k * NN + i] * sp_load(xr + v * SP_VL);
        }
      memcpy(stage[r], vacc, sizeof stage[r]);
    }
    sp_store(stage, rows, n, c->bias ? c->bias + o0 : NULL, c->R ? c->R + y0 : NULL, c->Y + y0, c->y_os, c->y_ps,
             c->act, c->act_a, c->act_b);
  }
}

static void sp_nm(int64_t NN, int64_t M, int64_t batch, int64_t O, int64_t P, int64_t K, const uint8_t *idx,
                  const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps, const int64_t *conv,
                  const float *bias, const float *R, int64_t act, float act_a, float act_b, float *Y, int64_t y_bs,
                  int64_t y_os, int64_t y_ps, float *scratch) {
  struct sp_call c = sp_call_of(O, P, K, 1, NULL, idx, vals, bias, R, act, act_a, act_b, Y, y_os, y_ps);
  if (NN < 1 || NN > 4 || M < NN || M > 4) return; /* the compiler emits 1 <= N <= M <= 4 only */
  c.NN = NN, c.M = M;
  c.groups = (O + SP_GROUP - 1) / SP_GROUP;
  c.work = O * ((K + M - 1) / M) * NN;
  sp_drive(&c, sp_nm_group, batch, X, x_bs, x_ks, x_ps, conv, y_bs, scratch);
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

static void sp_sliced_group(const struct sp_call *c, const float *xp, int64_t ld, int64_t np, int64_t at,
                            int64_t g) {
  const int64_t BR = c->BR, O = c->O, QB = (O + BR - 1) / BR, GQ = BR < SP_GROUP ? SP_GROUP / BR : 1;
  const int64_t q0 = g * GQ, o0 = q0 * BR, rows = O - o0 < GQ * BR ? O - o0 : GQ * BR;
  const int hyb = c->crowptr != NULL;
  const int32_t *crowptr = c->crowptr;
  const void *cols = c->cols, *ccols = c->ccols;
  const float *vals = c->vals, *cvals = c->cvals;
  int64_t p1, q, j, r;
  int v;
  for (p1 = 0; p1 < np; p1 += T) {
    const int64_t n = np - p1 < T ? np - p1 : T, y0 = at + o0 * c->y_os + p1 * c->y_ps;
    const float *restrict xt = xp + p1;
    float stage[SP_GROUP][T];
    for (q = q0; q < q0 + GQ && q < QB; ++q) {
      const int64_t j0 = c->rowptr[q], j1 = c->rowptr[q + 1], in = O - q * BR < BR ? O - q * BR : BR;
      const int64_t w = (j1 - j0) / BR; /* ELL: the slice's width */
      sp_vf vacc[SP_BR_MAX][SP_NV];
      for (r = 0; r < BR; ++r)
        for (v = 0; v < SP_NV; ++v) vacc[r][v] = sp_load(sp_zeros);
      if (!hyb) {
        if (c->ix == 1) { SP_ELL_SLICES(1) }
        else if (c->ix == 2) { SP_ELL_SLICES(2) }
        else { SP_ELL_SLICES(4) }
      } else if (c->ix == 1) {
        SP_BSR_ROWS(1)
        SP_HYB_REST(1)
      } else if (c->ix == 2) {
        SP_BSR_ROWS(2)
        SP_HYB_REST(2)
      } else {
        SP_BSR_ROWS(4)
        SP_HYB_REST(4)
      }
      for (r = 0; r < in; ++r) memcpy(stage[(q - q0) * BR + r], vacc[r], sizeof stage[0]);
    }
    sp_store(stage, rows, n, c->bias ? c->bias + o0 : NULL, c->R ? c->R + y0 : NULL, c->Y + y0, c->y_os, c->y_ps,
             c->act, c->act_a, c->act_b);
  }
}

static void sp_sliced(int hyb, int ix, int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR,
                      const int32_t *rowptr, const void *cols, const float *vals, const int32_t *crowptr,
                      const void *ccols, const float *cvals, const float *X, int64_t x_bs, int64_t x_ks,
                      int64_t x_ps, const int64_t *conv, const float *bias, const float *R, int64_t act, float act_a,
                      float act_b, float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch) {
  struct sp_call c = sp_call_of(O, P, K, ix, rowptr, cols, vals, bias, R, act, act_a, act_b, Y, y_os, y_ps);
  if (BR < 1 || BR > SP_BR_MAX) return; /* the compiler emits 1 <= BR <= 16 only */
  c.BR = BR;
  if (hyb) c.crowptr = crowptr, c.ccols = ccols, c.cvals = cvals;
  sp_block_groups(&c);
  c.work = (int64_t)rowptr[(O + BR - 1) / BR] * (hyb ? BR : 1) + (hyb ? (int64_t)crowptr[O] : 0);
  sp_drive(&c, sp_sliced_group, batch, X, x_bs, x_ks, x_ps, conv, y_bs, scratch);
}

/* The entry points of sdk_sparse.h, one set per column-index type (SFX: its name suffix, IT: the C type, IB: its
 * bytes): CSR, BSR, sliced ELL and hybrid, each as a product (spmm) and as a convolution (spconv2d). */
#define SP_CONV_ARGS                                                                                         \
  int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH, int64_t KW,       \
      int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW
#define SP_MM_X const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps
#define SP_EPI const float *bias, const float *R, int64_t act, float act_a, float act_b
#define SP_MM_Y float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch
#define SP_MM_PASS X, x_bs, x_ks, x_ps, NULL, bias, R, act, act_a, act_b, Y, y_bs, y_os, y_ps, scratch
#define SP_CONV_PASS X, C * H * W, 0, 0, g, bias, R, act, act_a, act_b, Y, O * OH * OW, OH * OW, 1, scratch
#define SP_ENTRY_POINTS(SFX, IT, IB)                                                                         \
  void sdk_spmm_csr_f32_##SFX(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,         \
                              const IT *cols, const float *vals, SP_MM_X, SP_EPI, SP_MM_Y) {                 \
    sp_csr(IB, batch, O, P, K, rowptr, cols, vals, SP_MM_PASS);                                              \
  }                                                                                                          \
  void sdk_spmm_bsr_f32_##SFX(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR,                    \
                              const int32_t *rowptr, const IT *cols, const float *vals, SP_MM_X, SP_EPI,     \
                              SP_MM_Y) {                                                                     \
    sp_bsr(IB, batch, O, P, K, BR, rowptr, cols, vals, SP_MM_PASS);                                          \
  }                                                                                                          \
  void sdk_spmm_ell_f32_##SFX(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR,                    \
                              const int32_t *sliceptr, const IT *cols, const float *vals, SP_MM_X, SP_EPI,   \
                              SP_MM_Y) {                                                                     \
    sp_sliced(0, IB, batch, O, P, K, BR, sliceptr, cols, vals, NULL, NULL, NULL, SP_MM_PASS);                \
  }                                                                                                          \
  void sdk_spmm_hyb_f32_##SFX(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR,                    \
                              const int32_t *rowptr, const IT *cols, const float *vals,                      \
                              const int32_t *crowptr, const IT *ccols, const float *cvals, SP_MM_X, SP_EPI,  \
                              SP_MM_Y) {                                                                     \
    sp_sliced(1, IB, batch, O, P, K, BR, rowptr, cols, vals, crowptr, ccols, cvals, SP_MM_PASS);             \
  }                                                                                                          \
  void sdk_spconv2d_csr_f32_##SFX(SP_CONV_ARGS, const int32_t *rowptr, const IT *cols, const float *vals,    \
                                  const float *X, SP_EPI, float *Y, float *scratch) {                        \
    SP_CONV_GEOMETRY;                                                                                        \
    sp_csr(IB, N, O, OH * OW, C * KH * KW, rowptr, cols, vals, SP_CONV_PASS);                                \
  }                                                                                                          \
  void sdk_spconv2d_bsr_f32_##SFX(SP_CONV_ARGS, int64_t BR, const int32_t *rowptr, const IT *cols,           \
                                  const float *vals, const float *X, SP_EPI, float *Y, float *scratch) {     \
    SP_CONV_GEOMETRY;                                                                                        \
    sp_bsr(IB, N, O, OH * OW, C * KH * KW, BR, rowptr, cols, vals, SP_CONV_PASS);                            \
  }                                                                                                          \
  void sdk_spconv2d_ell_f32_##SFX(SP_CONV_ARGS, int64_t BR, const int32_t *sliceptr, const IT *cols,         \
                                  const float *vals, const float *X, SP_EPI, float *Y, float *scratch) {     \
    SP_CONV_GEOMETRY;                                                                                        \
    sp_sliced(0, IB, N, O, OH * OW, C * KH * KW, BR, sliceptr, cols, vals, NULL, NULL, NULL, SP_CONV_PASS);  \
  }                                                                                                          \
  void sdk_spconv2d_hyb_f32_##SFX(SP_CONV_ARGS, int64_t BR, const int32_t *rowptr, const IT *cols,           \
                                  const float *vals, const int32_t *crowptr, const IT *ccols,                \
                                  const float *cvals, const float *X, SP_EPI, float *Y, float *scratch) {    \
    SP_CONV_GEOMETRY;                                                                                        \
    sp_sliced(1, IB, N, O, OH * OW, C * KH * KW, BR, rowptr, cols, vals, crowptr, ccols, cvals,              \
              SP_CONV_PASS);                                                                                 \
  }

SP_ENTRY_POINTS(u8, uint8_t, 1)
SP_ENTRY_POINTS(u16, uint16_t, 2)
SP_ENTRY_POINTS(i32, int32_t, 4)

#undef SP_ENTRY_POINTS
#undef SP_CONV_PASS
#undef SP_MM_PASS
#undef SP_MM_Y
#undef SP_EPI
#undef SP_MM_X
#undef SP_CONV_ARGS

#undef SP_CONV_GEOMETRY
#undef T
#undef PANEL
