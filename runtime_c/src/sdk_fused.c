/* Fused inverted-residual kernels (sdk_fused.h). MobileNetV2's projections (e.g. 144 -> 24 on 56 x 56) and the
 * depthwise layers before them are bound by moving data, not by multiply-adds: the depthwise result, the widest
 * tensor of the block, was written to memory and read back by the 1x1 GEMM. Here a band of BH output rows of the
 * depthwise convolution (all C channels) goes to a scratch slot that stays in cache and is multiplied by the
 * projection weights at once; the result, with bias, residual and activation, is stored once. */
#include <string.h>

#include "sdk_fused.h"
#include "sdk_math.h"
#if defined(_OPENMP)
#include <omp.h>
#endif

#if defined(__GNUC__) && !defined(SDK_FUSED_SCALAR) && \
    (defined(__AVX512F__) || defined(__AVX__) || defined(__SSE2__) || defined(__ARM_NEON) || defined(__wasm_simd128__))
#define FZ_VEC 1
#if defined(__AVX512F__)
typedef float fz_v __attribute__((vector_size(64)));
#elif defined(__AVX__)
typedef float fz_v __attribute__((vector_size(32)));
#else
typedef float fz_v __attribute__((vector_size(16)));
#endif
typedef int32_t fz_i __attribute__((vector_size(sizeof(fz_v))));
#define FZ_VL ((int64_t)(sizeof(fz_v) / sizeof(float)))
/* vector registers: 32 on AVX-512 and AArch64, 16 elsewhere (the register tiles below are sized from it) */
#if defined(__AVX512F__) || defined(__aarch64__)
#define FZ_REGS 32
#else
#define FZ_REGS 16
#endif
static inline fz_v fz_load(const float *p) { fz_v v; memcpy(&v, p, sizeof v); return v; }
static inline void fz_store(float *p, fz_v v) { memcpy(p, &v, sizeof v); }
/* x - 0 is x for every float (-0 too), so gcc emits a bare broadcast (one the multiply-adds can take from memory);
 * 0 + x is not x for -0: it kept a scalar add and a register broadcast per value (half the tile's FMA port time) */
static inline fz_v fz_splat(float x) { return x - (fz_v){0}; }
SDK_DEFINE_VACT_PL(fz_vact_pl, fz_v, fz_i) /* sdk_math.h */
SDK_DEFINE_VEXP_CORE(fz_vexp_core, fz_v) /* sdk_expf lane by lane (sdk_math.h) */
SDK_DEFINE_VEXPF(fz_vexp, fz_vexp_core, fz_v, fz_i)
/* the activations with a vector form here: the piecewise-linear ones, sigmoid and SiLU (EfficientNet's) */
static inline int fz_act_has(int64_t act) {
  return sdk_vact_pl_has(act) || act == SDK_ACT_SIGMOID || act == SDK_ACT_SILU;
}
static inline fz_v fz_div1p(fz_v x, fz_v d) { /* sdk_math.h sdk_div1pf */
  fz_v q;
  SDK_VDIV1P(q, x, d, fz_v, fz_i);
  return q;
}
static inline fz_v fz_vact(fz_v v, int64_t act, fz_v a, fz_v b) {
  switch (act) {
    case SDK_ACT_SIGMOID: return fz_div1p(fz_splat(1.0f), fz_splat(1.0f) + fz_vexp(-v));
    case SDK_ACT_SILU: return fz_div1p(v, fz_splat(1.0f) + fz_vexp(-v));
    default: return fz_vact_pl(v, act, a, b);
  }
}
#else
#define FZ_VEC 0
#endif

/* ------------------------------------------------------------------ depthwise rows into the scratch */
/* One output pixel's first n of C channels (C: the pixel stride of X, w and d) from taps kh in [kh0, kh1), kw in
 * [kw0, kw1); x: the input pixel of tap (0, 0) as an index (it may lie in the padding; only taps inside the image
 * are read) */
static void fz_dw_pixel(int64_t n, int64_t C, const float *restrict X, int64_t x, int64_t xr, const float *restrict w, int64_t KW,
                        int64_t kh0, int64_t kh1, int64_t kw0, int64_t kw1, const float *restrict bias, int64_t act,
                        float a, float b, float *restrict d) {
  int64_t c = 0;
#if FZ_VEC
  const int vec = fz_act_has(act);
  const fz_v va = fz_splat(a), vb = fz_splat(b);
  for (; c + 2 * FZ_VL <= n; c += 2 * FZ_VL) {
    fz_v a0 = bias ? fz_load(bias + c) : (fz_v){0}, a1 = bias ? fz_load(bias + c + FZ_VL) : (fz_v){0};
    for (int64_t kh = kh0; kh < kh1; ++kh)
      for (int64_t kw = kw0; kw < kw1; ++kw) {
        const float *wt = w + (kh * KW + kw) * C + c, *xt = X + (x + kh * xr + kw * C + c);
        a0 += fz_load(wt) * fz_load(xt);
        a1 += fz_load(wt + FZ_VL) * fz_load(xt + FZ_VL);
      }
    fz_store(d + c, vec ? fz_vact(a0, act, va, vb) : a0);
    fz_store(d + c + FZ_VL, vec ? fz_vact(a1, act, va, vb) : a1);
  }
  for (; c + FZ_VL <= n; c += FZ_VL) {
    fz_v a0 = bias ? fz_load(bias + c) : (fz_v){0};
    for (int64_t kh = kh0; kh < kh1; ++kh)
      for (int64_t kw = kw0; kw < kw1; ++kw) a0 += fz_load(w + (kh * KW + kw) * C + c) * fz_load(X + (x + kh * xr + kw * C + c));
    fz_store(d + c, vec ? fz_vact(a0, act, va, vb) : a0);
  }
  if (!vec)
    for (int64_t i = 0; i < c; ++i) d[i] = sdk_actf(d[i], act, a, b);
#endif
  for (; c < n; ++c) {
    float acc = bias ? bias[c] : 0.0f;
    for (int64_t kh = kh0; kh < kh1; ++kh)
      for (int64_t kw = kw0; kw < kw1; ++kw) acc += w[(kh * KW + kw) * C + c] * X[x + kh * xr + kw * C + c];
    d[c] = sdk_actf(acc, act, a, b);
  }
}

#if FZ_VEC
#if defined(__GNUC__)
#define FZ_UNROLL _Pragma("GCC unroll 32")
#define FZ_INLINE __attribute__((always_inline))
#define FZ_NOINLINE __attribute__((noinline))
#else
#define FZ_INLINE
#define FZ_NOINLINE
#define FZ_UNROLL
#endif
/* interior pixels [ow0, ow1) of a row whose K x K taps are all inside the image: NV channel vectors at a time,
 * their K * K weights and bias in registers across the row's pixels (one load of input per tap and pixel) */
#define FZ_DW_INTERIOR(K, NV, NAME)                                                                              \
  static void NAME(int64_t C, int64_t ow0, int64_t ow1, const float *restrict X, int64_t x, int64_t xr, int64_t xs, \
                   const float *restrict w, const float *restrict bias, int64_t act, float a, float b,           \
                   float *restrict d) {                                                                          \
    const int vec = fz_act_has(act);                                                                        \
    const fz_v va = fz_splat(a), vb = fz_splat(b);                                                               \
    int64_t c = 0;                                                                                               \
    for (; c + (NV) * FZ_VL <= C; c += (NV) * FZ_VL) {                                                           \
      fz_v wv[(K) * (K)][NV], bv[NV];                                                                            \
      FZ_UNROLL for (int v = 0; v < (NV); ++v) {                                                                 \
        bv[v] = bias ? fz_load(bias + c + v * FZ_VL) : (fz_v){0};                                                \
        FZ_UNROLL for (int t = 0; t < (K) * (K); ++t) wv[t][v] = fz_load(w + t * C + c + v * FZ_VL);             \
      }                                                                                                          \
      for (int64_t ow = ow0; ow < ow1; ++ow) {                                                                   \
        const float *restrict xp = X + (x + ow * xs + c);                                                          \
        fz_v acc[NV];                                                                                            \
        FZ_UNROLL for (int v = 0; v < (NV); ++v) acc[v] = bv[v];                                                 \
        FZ_UNROLL for (int kh = 0; kh < (K); ++kh)                                                               \
          FZ_UNROLL for (int kw = 0; kw < (K); ++kw)                                                             \
            FZ_UNROLL for (int v = 0; v < (NV); ++v)                                                             \
              acc[v] += wv[kh * (K) + kw][v] * fz_load(xp + kh * xr + kw * C + v * FZ_VL);                       \
        FZ_UNROLL for (int v = 0; v < (NV); ++v)                                                                 \
          fz_store(d + ow * C + c + v * FZ_VL, vec ? fz_vact(acc[v], act, va, vb) : acc[v]);                     \
      }                                                                                                          \
    }                                                                                                            \
    if (c < C)                                                                                                   \
      for (int64_t ow = ow0; ow < ow1; ++ow)                                                                     \
        fz_dw_pixel(C - c, C, X, x + ow * xs + c, xr, w + c, (K), 0, (K), 0, (K), bias ? bias + c : 0, act, a, b,   \
                    d + ow * C + c);                                                                             \
    if (!vec)                                                                                                    \
      for (int64_t ow = ow0; ow < ow1; ++ow)                                                                     \
        for (int64_t i = 0; i < c; ++i) d[ow * C + i] = sdk_actf(d[ow * C + i], act, a, b);                      \
  }
FZ_DW_INTERIOR(3, 2, fz_dw_interior_k3)
FZ_DW_INTERIOR(5, 1, fz_dw_interior_k5)
#undef FZ_DW_INTERIOR
#endif

static int64_t fz_ceil_div(int64_t a, int64_t b) { return a <= 0 ? -((-a) / b) : (a + b - 1) / b; }

/* output row oh of image Xn [H, W, C] into d [OW, C] */
static void fz_dw_row(int64_t H, int64_t W, int64_t C, int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW,
                      int64_t PH, int64_t PW, const float *restrict Xn, int64_t oh, const float *restrict w,
                      const float *restrict bias, int64_t act, float a, float b, float *restrict d) {
  const int64_t ih0 = oh * SH - PH;
  int64_t kh0 = ih0 < 0 ? -ih0 : 0, kh1 = H - ih0 < KH ? H - ih0 : KH;
  if (kh1 < kh0) kh1 = kh0;
  /* columns [owa, owb): every kw tap inside the image */
  int64_t owa = fz_ceil_div(PW, SW), owb = W - KW + PW >= 0 ? (W - KW + PW) / SW + 1 : 0;
  if (owa > OW) owa = OW;
  if (owb > OW) owb = OW;
  if (owb < owa) owb = owa;
  const int64_t xr = W * C, xs = SW * C, x0 = (ih0 * W - PW) * C; /* x0: tap (0, 0) of column 0 */
  int64_t ow = 0;
#if FZ_VEC
  if (kh0 == 0 && kh1 == KH && KH == KW && (KH == 3 || KH == 5) && owb > owa) {
    for (; ow < owa; ++ow) {
      const int64_t iw0 = ow * SW - PW, kw0 = iw0 < 0 ? -iw0 : 0, kw1 = W - iw0 < KW ? W - iw0 : KW;
      fz_dw_pixel(C, C, Xn, x0 + ow * xs, xr, w, KW, kh0, kh1, kw0, kw1 > kw0 ? kw1 : kw0, bias, act, a, b, d + ow * C);
    }
    if (KH == 3)
      fz_dw_interior_k3(C, owa, owb, Xn, x0, xr, xs, w, bias, act, a, b, d);
    else
      fz_dw_interior_k5(C, owa, owb, Xn, x0, xr, xs, w, bias, act, a, b, d);
    ow = owb;
  }
#endif
  for (; ow < OW; ++ow) {
    const int64_t iw0 = ow * SW - PW, kw0 = iw0 < 0 ? -iw0 : 0, kw1 = W - iw0 < KW ? W - iw0 : KW;
    fz_dw_pixel(C, C, Xn, x0 + ow * xs, xr, w, KW, kh0, kh1, kw0, kw1 > kw0 ? kw1 : kw0, bias, act, a, b, d + ow * C);
  }
}

/* ------------------------------------------------------------------ the projection of a band */
/* Y [P, M] = act(D [P, C] B [C, Mp] + bias + R), in chunks of FZ_PC pixels x one block of up to 4 vectors of
 * columns: the block's sums go to a tile T [FZ_PC, 4 vectors] in L1, k-block by k-block (the rows of B a k-block
 * reads, kc x the block's columns, stay in L1 while the chunk's register tiles run over them: B of a 960 -> 320
 * projection is 1.2 MB and was streamed from L2 once per 6 pixels), then one epilogue pass over T (bias, residual,
 * activation, the column tail) stores Y. The register tiles hold only sums (the epilogue was inlined 24 times a
 * tile). Against the form before (each tile streaming all of B, its epilogue inlined), the same floats: 960 -> 320
 * on 7 x 7 0.82 of the time, 576 -> 160 0.52, 576 -> 96 0.77; 56 x 56 x 144 -> 24 (its B already in L1) 1.00
 * (bench/RESULTS_zoo.md fuse44). */
#ifndef FZ_XK /* the most input channels an expansion runs as whole-K register tiles (fz_expand) */
#define FZ_XK 64
#endif
#ifndef FZ_KC_BYTES /* the bytes of B one k-block reads (half a 48 KiB L1) */
#define FZ_KC_BYTES 24576
#endif
#if FZ_VEC
#define FZ_PC 48 /* pixels a chunk: a multiple of every register tile's height */
#define FZ_TS (4 * FZ_VL) /* T's row stride */
/* RB pixels x NV vectors: T[r, v] (+)= sum over k in [0, kc) of D[r, k] B[k, v] */
#define FZ_TILE(RB, NV, NAME)                                                                                    \
  static void NAME(int64_t kc, int64_t C, int64_t Mp, const float *restrict D, const float *restrict B, int first, \
                   float *restrict T) {                                                                          \
    fz_v acc[RB][NV];                                                                                            \
    FZ_UNROLL for (int r = 0; r < (RB); ++r) FZ_UNROLL for (int v = 0; v < (NV); ++v)                           \
      acc[r][v] = first ? (fz_v){0} : fz_load(T + r * FZ_TS + v * FZ_VL);                                        \
    for (int64_t k = 0; k < kc; ++k) {                                                                           \
      fz_v bv[NV];                                                                                               \
      FZ_UNROLL for (int v = 0; v < (NV); ++v) bv[v] = fz_load(B + k * Mp + v * FZ_VL);                          \
      FZ_UNROLL for (int r = 0; r < (RB); ++r) {                                                                 \
        const fz_v x = fz_splat(D[r * C + k]);                                                                   \
        FZ_UNROLL for (int v = 0; v < (NV); ++v) acc[r][v] += x * bv[v];                                         \
      }                                                                                                          \
    }                                                                                                            \
    FZ_UNROLL for (int r = 0; r < (RB); ++r) FZ_UNROLL for (int v = 0; v < (NV); ++v)                           \
      fz_store(T + r * FZ_TS + v * FZ_VL, acc[r][v]);                                                            \
  }
/* register tiles: RB * NV sums + NV weight vectors + one broadcast within the register file */
#if FZ_REGS >= 32
FZ_TILE(12, 1, fz_tile_1)
FZ_TILE(12, 2, fz_tile_2)
FZ_TILE(8, 3, fz_tile_3)
FZ_TILE(6, 4, fz_tile_4)
enum { FZ_RB1 = 12, FZ_RB2 = 12, FZ_RB3 = 8, FZ_RB4 = 6 };
#else
FZ_TILE(8, 1, fz_tile_1)
FZ_TILE(6, 2, fz_tile_2)
FZ_TILE(4, 3, fz_tile_3)
FZ_TILE(3, 4, fz_tile_4)
enum { FZ_RB1 = 8, FZ_RB2 = 6, FZ_RB3 = 4, FZ_RB4 = 3 };
#endif
FZ_TILE(1, 1, fz_edge_1)
FZ_TILE(1, 2, fz_edge_2)
FZ_TILE(1, 3, fz_edge_3)
FZ_TILE(1, 4, fz_edge_4)
#undef FZ_TILE
typedef void (*fz_tile_fn)(int64_t, int64_t, int64_t, const float *, const float *, int, float *);
static const fz_tile_fn fz_tiles[4] = {fz_tile_1, fz_tile_2, fz_tile_3, fz_tile_4};
static const fz_tile_fn fz_edges[4] = {fz_edge_1, fz_edge_2, fz_edge_3, fz_edge_4};
static const int64_t fz_heights[4] = {FZ_RB1, FZ_RB2, FZ_RB3, FZ_RB4};

/* Y's columns [j, j + cols) of np pixels from T: + bias (padded to Mp: whole vectors), + R, act */
static void fz_epilogue(int64_t np, int64_t cols, int64_t M, const float *restrict T, const float *restrict bias,
                        const float *restrict R, int64_t act, float a, float b, float *restrict Y) {
  const fz_v va = fz_splat(a), vb = fz_splat(b);
  const int vec = fz_act_has(act);
  for (int64_t p = 0; p < np; ++p) {
    const float *t = T + p * FZ_TS;
    float *y = Y + p * M;
    const float *r = R ? R + p * M : 0;
    int64_t c = 0;
    for (; c + FZ_VL <= cols; c += FZ_VL) {
      fz_v v = fz_load(t + c);
      if (bias) v += fz_load(bias + c);
      if (r) v += fz_load(r + c);
      fz_store(y + c, vec ? fz_vact(v, act, va, vb) : v);
      if (!vec)
        for (int64_t i = c; i < c + FZ_VL; ++i) y[i] = sdk_actf(y[i], act, a, b);
    }
    for (; c < cols; ++c) {
      float v = t[c] + (bias ? bias[c] : 0.0f);
      y[c] = sdk_actf(r ? v + r[c] : v, act, a, b);
    }
  }
}
#endif

static void fz_project(int64_t P, int64_t C, int64_t M, int64_t Mp, const float *restrict D, const float *restrict B,
                       const float *restrict bias, const float *restrict R, int64_t act, float a, float b,
                       float *restrict Y) {
#if FZ_VEC
  float T[FZ_PC * FZ_TS];
  const int64_t nv = (M + FZ_VL - 1) / FZ_VL;
  for (int64_t p0 = 0; p0 < P; p0 += FZ_PC) {
    const int64_t np = P - p0 < FZ_PC ? P - p0 : FZ_PC;
    for (int64_t v = 0; v < nv;) {
      const int64_t w = nv - v >= 4 ? 4 : nv - v, h = fz_heights[w - 1], j = v * FZ_VL;
      int64_t kc = FZ_KC_BYTES / (w * FZ_VL * (int64_t)sizeof(float));
      if (kc < 16) kc = 16;
      for (int64_t k0 = 0; k0 < C; k0 += kc) {
        const int64_t kn = C - k0 < kc ? C - k0 : kc;
        int64_t q = 0;
        for (; q + h <= np; q += h)
          fz_tiles[w - 1](kn, C, Mp, D + (p0 + q) * C + k0, B + k0 * Mp + j, k0 == 0, T + q * FZ_TS);
        for (; q < np; ++q)
          fz_edges[w - 1](kn, C, Mp, D + (p0 + q) * C + k0, B + k0 * Mp + j, k0 == 0, T + q * FZ_TS);
      }
      fz_epilogue(np, (M - j < w * FZ_VL ? M - j : w * FZ_VL), M, T, bias ? bias + j : 0, R ? R + p0 * M + j : 0,
                  act, a, b, Y + p0 * M + j);
      v += w;
    }
  }
#else
  for (int64_t p = 0; p < P; ++p)
    for (int64_t m = 0; m < M; ++m) {
      float acc = 0.0f;
      for (int64_t k = 0; k < C; ++k) acc += D[p * C + k] * B[k * Mp + m];
      if (bias) acc += bias[m];
      if (R) acc += R[p * M + m];
      Y[p * M + m] = sdk_actf(acc, act, a, b);
    }
#endif
}

void sdk_dwpw_nhwc_f32(int64_t N, int64_t H, int64_t W, int64_t C, int64_t OH, int64_t OW, int64_t KH, int64_t KW,
                       int64_t SH, int64_t SW, int64_t PH, int64_t PW, const float *X, const float *Wd,
                       const float *bd, int64_t dw_act, float dw_a, float dw_b, int64_t M, int64_t Mp,
                       const float *B, const float *bp, int64_t BH, int64_t slots, const float *R, int64_t act,
                       float act_a, float act_b, float *Y, float *scratch) {
  const int64_t rows = N * OH, nb = (rows + BH - 1) / BH;
  int64_t nt = slots < nb ? slots : nb;
#if defined(_OPENMP)
  if (nt > omp_get_max_threads()) nt = omp_get_max_threads();
#endif
  const int par = nt > 1 && rows * OW * C * (KH * KW + M) >= SDK_PAR_MIN_WORK;
  if (!par) nt = 1;
  /* task t: bands [nb t / nt, nb (t + 1) / nt) in scratch slot t (tasks, not threads, own the slots) */
  SDK_OMP(parallel for schedule(static) num_threads((int)nt) if(par))
  for (int64_t t = 0; t < nt; ++t) {
    float *d = scratch + t * BH * OW * C;
    for (int64_t bi = nb * t / nt; bi < nb * (t + 1) / nt; ++bi) {
      const int64_t r0 = bi * BH, r1 = r0 + BH < rows ? r0 + BH : rows;
      for (int64_t r = r0; r < r1; ++r)
        fz_dw_row(H, W, C, OW, KH, KW, SH, SW, PH, PW, X + r / OH * H * W * C, r % OH, Wd, bd, dw_act, dw_a, dw_b,
                  d + (r - r0) * OW * C);
      fz_project((r1 - r0) * OW, C, M, Mp, d, B, bp, R ? R + r0 * OW * M : 0, act, act_a, act_b, Y + r0 * OW * M);
    }
  }
}

/* ------------------------------------------------------------------ the expansion of a band */
/* Y [P, C] = act(X [P, K] B [K, Cp] + bias) for a small K (an expansion: 16-40 input channels): each register
 * tile (RB pixels x NV vectors of columns) runs over all of K at once, adds the bias and applies an activation with
 * a vector form in registers, and stores Y directly (fz_project's k-blocks and L1 tile pay off for the projections'
 * long K, not here: there they cost 1.1-1.3x on the expansions). The sums over k in order, then + bias, act: the
 * same floats as fz_project. */
#if FZ_VEC
#define FZ_XTILE(RB, NV, NAME)                                                                                   \
  static inline FZ_INLINE void NAME(int64_t K, int64_t C, int64_t Cp, const float *restrict X, const float *restrict B,            \
                   const float *restrict bias, int64_t act, float a, float b, int64_t j, float *restrict Y) {     \
    fz_v acc[RB][NV];                                                                                            \
    FZ_UNROLL for (int r = 0; r < (RB); ++r) FZ_UNROLL for (int v = 0; v < (NV); ++v) acc[r][v] = (fz_v){0};    \
    for (int64_t k = 0; k < K; ++k) {                                                                            \
      fz_v bv[NV];                                                                                               \
      FZ_UNROLL for (int v = 0; v < (NV); ++v) bv[v] = fz_load(B + k * Cp + j + v * FZ_VL);                     \
      FZ_UNROLL for (int r = 0; r < (RB); ++r) {                                                                 \
        const fz_v x = fz_splat(X[r * K + k]);                                                                   \
        FZ_UNROLL for (int v = 0; v < (NV); ++v) acc[r][v] += x * bv[v];                                         \
      }                                                                                                          \
    }                                                                                                            \
    const int vec = fz_act_has(act);                                                                        \
    const fz_v va = fz_splat(a), vb = fz_splat(b);                                                               \
    FZ_UNROLL for (int v = 0; v < (NV); ++v) {                                                                   \
      const fz_v bb = bias ? fz_load(bias + j + v * FZ_VL) : (fz_v){0};                                          \
      const int64_t c = j + v * FZ_VL, n = C - c < FZ_VL ? C - c : FZ_VL;                                        \
      FZ_UNROLL for (int r = 0; r < (RB); ++r) {                                                                 \
        fz_v y = acc[r][v] + bb;                                                                                 \
        if (vec) y = fz_vact(y, act, va, vb);                                                                    \
        if (n == FZ_VL) {                                                                                        \
          fz_store(Y + r * C + c, y);                                                                            \
        } else {                                                                                                 \
          float t[FZ_VL];                                                                                        \
          fz_store(t, y);                                                                                        \
          memcpy(Y + r * C + c, t, (size_t)n * sizeof(float));                                                   \
        }                                                                                                        \
        if (!vec)                                                                                                \
          for (int64_t i = 0; i < n; ++i) Y[r * C + c + i] = sdk_actf(Y[r * C + c + i], act, a, b);              \
      }                                                                                                          \
    }                                                                                                            \
  }
#if FZ_REGS >= 32
FZ_XTILE(12, 2, fz_xtile_2)
FZ_XTILE(8, 3, fz_xtile_3)
enum { FZ_XRB2 = 12, FZ_XRB3 = 8 };
#else
FZ_XTILE(6, 2, fz_xtile_2)
FZ_XTILE(4, 3, fz_xtile_3)
enum { FZ_XRB2 = 6, FZ_XRB3 = 4 };
#endif
FZ_XTILE(8, 1, fz_xtile_1)
FZ_XTILE(1, 1, fz_xedge_1)
FZ_XTILE(1, 2, fz_xedge_2)
FZ_XTILE(1, 3, fz_xedge_3)
#undef FZ_XTILE
static const int64_t fz_xheights[3] = {8, FZ_XRB2, FZ_XRB3};

/* fz_expand's loops, inlined into one copy per activation (``act`` a constant there) */
static inline FZ_INLINE void fz_expand_run(int64_t P, int64_t K, int64_t C, int64_t Cp, const float *restrict X,
                                           const float *restrict B, const float *restrict bias, int64_t act, float a,
                                           float b, float *restrict Y) {
  const int64_t nv = (C + FZ_VL - 1) / FZ_VL;
  /* column blocks of 3 vectors (2 where 3 do not divide the vectors and 2 do), then what is left */
  const int64_t wb = nv % 3 == 0 || nv % 2 ? 3 : 2;
  for (int64_t p0 = 0; p0 < P; p0 += FZ_PC) {
    const int64_t np = P - p0 < FZ_PC ? P - p0 : FZ_PC;
    for (int64_t v = 0; v < nv;) {
      const int64_t w = nv - v >= wb ? wb : nv - v, h = fz_xheights[w - 1], j = v * FZ_VL;
      const float *x = X + p0 * K;
      float *y = Y + p0 * C;
      int64_t q = 0;
      if (w == 3) {
        for (; q + h <= np; q += h) fz_xtile_3(K, C, Cp, x + q * K, B, bias, act, a, b, j, y + q * C);
        for (; q < np; ++q) fz_xedge_3(K, C, Cp, x + q * K, B, bias, act, a, b, j, y + q * C);
      } else if (w == 2) {
        for (; q + h <= np; q += h) fz_xtile_2(K, C, Cp, x + q * K, B, bias, act, a, b, j, y + q * C);
        for (; q < np; ++q) fz_xedge_2(K, C, Cp, x + q * K, B, bias, act, a, b, j, y + q * C);
      } else {
        for (; q + h <= np; q += h) fz_xtile_1(K, C, Cp, x + q * K, B, bias, act, a, b, j, y + q * C);
        for (; q < np; ++q) fz_xedge_1(K, C, Cp, x + q * K, B, bias, act, a, b, j, y + q * C);
      }
      v += w;
    }
  }
}
#endif

#if FZ_VEC
/* a copy of the loops for each of the activations MobileNetV2 / V3 and EfficientNet expand with (``act`` a constant
 * in each: its vector form inlined in the tiles, no switch per vector; 24 -> 144 + ReLU6 on 56 x 56 in bands in L2
 * 139 -> 132 us, 16 -> 96 on 112 x 112 291 -> 270), each its own function (in one, gcc spilled the tiles' sums: 2x
 * the time), the other activations in one generic copy */
#define FZ_EXPAND_FOR(ACT, NAME)                                                                                 \
  static FZ_NOINLINE void NAME(int64_t P, int64_t K, int64_t C, int64_t Cp, const float *restrict X,             \
                               const float *restrict B, const float *restrict bias, int64_t act, float a, float b, \
                               float *restrict Y) {                                                             \
    (void)act;                                                                                                   \
    fz_expand_run(P, K, C, Cp, X, B, bias, (ACT), a, b, Y);                                                     \
  }
FZ_EXPAND_FOR(SDK_ACT_CLIP, fz_expand_clip)
FZ_EXPAND_FOR(SDK_ACT_HARDSWISH, fz_expand_hardswish)
FZ_EXPAND_FOR(SDK_ACT_SILU, fz_expand_silu)
FZ_EXPAND_FOR(act, fz_expand_any)
#undef FZ_EXPAND_FOR
#endif

static void fz_expand(int64_t P, int64_t K, int64_t C, int64_t Cp, const float *restrict X, const float *restrict B,
                      const float *restrict bias, int64_t act, float a, float b, float *restrict Y) {
#if FZ_VEC
  if (K <= FZ_XK) {
    switch (act) {
      case SDK_ACT_CLIP: fz_expand_clip(P, K, C, Cp, X, B, bias, act, a, b, Y); return;
      case SDK_ACT_HARDSWISH: fz_expand_hardswish(P, K, C, Cp, X, B, bias, act, a, b, Y); return;
      case SDK_ACT_SILU: fz_expand_silu(P, K, C, Cp, X, B, bias, act, a, b, Y); return;
      default: fz_expand_any(P, K, C, Cp, X, B, bias, act, a, b, Y); return;
    }
  }
#endif
  fz_project(P, K, C, Cp, X, B, bias, 0, act, a, b, Y);
}

/* ------------------------------------------------------------------ depthwise strips on a band */
/* The depthwise rows of a band in the expansion's slot at stride 1 and 5 x 5, in the form of sdk_kernels.c's
 * dws_plane (the unfused depthwise there): one channel vector at a time down the band, two output rows at a time,
 * each in strips of FZ_SP = 7 pixels (a last partial strip recomputed ending at the row's end): 14 independent sums,
 * each of the pair's S + K input rows loaded once as (P - 1) * S + K vectors that feed both rows, a kernel row's K
 * weights loaded once for the P pixels (3 x 3: all 9 in registers). The per-row form (fz_dw_row: one pixel's
 * K * K dependent multiply-adds a chain, each input loaded once per tap and pixel) made the fused call lose to the
 * unfused strips (MobileNetV2 features_3, 3x3/1: 1.03x the pair; EfficientNet-B0 features_3, 5x5/2: 1.37x). Unlike
 * dws_plane, the residual and the activation apply in registers (the call owns Y; the floats are fz_dw_row's + R,
 * then act, as the per-row path's epilogue loop). Padding rows are skipped, padding columns loaded from the nearest
 * image column and masked to zero (acc + w * 0 = acc). Each output sums the bias then the taps in (kh, kw) order. */
#define FZ_SP 7
#ifndef FZ_SCB /* channel vectors a 5 x 5 strip runs one after another */
#define FZ_SCB 4
#endif
#ifndef FZ_STW /* the strip rows run in column tiles of this many pixels down the band (their input rows in L1) */
#define FZ_STW 28
#endif
#if FZ_VEC
/* channel vectors [c0, c0 + nv FZ_VL): 3 x 3 one vector down the band at a time, its 9 weights in registers; 5 x 5
 * (25 weights) the nv vectors one after another at each strip (a pixel's neighbouring cache lines together: 0.8 of
 * the vector-outer order's time on 28 x 28 x 240) */
#define FZ_DW_STRIP(K, S, NAME)                                                                                  \
  static void NAME(int64_t c0, int64_t nv, int64_t oh0, int64_t oh1, int64_t H, int64_t W, int64_t C, int64_t OW, \
                   int64_t PH, int64_t PW, const float *restrict X, const float *restrict w,                     \
                   const float *restrict bias, const float *restrict R, int64_t act, float act_a, float act_b,  \
                   float *restrict Y) {                                                                          \
    enum { P = FZ_SP, NI = (FZ_SP - 1) * (S) + (K), NRW = (S) + (K), E = (K) / 2, VO = (K) == 3 };               \
    const int vec = fz_act_has(act);                                                                             \
    const fz_v va = fz_splat(act_a), vb = fz_splat(act_b);                                                       \
    for (int64_t v = 0; v < (VO ? nv : 1); ++v) {                                                                \
      const int64_t ca = VO ? c0 + v * FZ_VL : c0, cb = VO ? ca + FZ_VL : c0 + nv * FZ_VL;                       \
      fz_v wr[9]; /* 3 x 3: the taps in registers (5 x 5: loaded a kernel row at a time) */                      \
      if (VO) FZ_UNROLL for (int t = 0; t < 9; ++t) wr[t] = fz_load(w + t * C + ca);                             \
      for (int64_t t0 = 0; t0 < OW; t0 += FZ_STW)                                                                \
        for (int64_t oh = oh0; oh < oh1;) {                                                                      \
          const int64_t ih0 = oh * (S) - PH;                                                                     \
          const int two = oh + 1 < oh1;                                                                          \
          for (int64_t s = t0; s < OW && s < t0 + FZ_STW; s += P)                                                \
            for (int64_t c = ca; c < cb; c += FZ_VL) {                                                           \
              const fz_v b = bias ? fz_load(bias + c) : (fz_v){0};                                               \
              const int64_t ow0 = s + P <= OW ? s : OW - P, iw0 = ow0 * (S) - PW;                                \
              SDK_DW_STRIP_SUMS(fz_v, fz_i, fz_load, FZ_UNROLL, K, S, VO, (ih0 * W + iw0) * C + c)               \
              for (int r = 0; r < 1 + two; ++r) {                                                                \
                const int64_t yo = ((oh + r) * OW + ow0) * C + c;                                                \
                FZ_UNROLL for (int p = 0; p < P; ++p) {                                                          \
                  fz_v y = r ? a1[p] : a0[p];                                                                    \
                  if (R) y += fz_load(R + yo + p * C);                                                           \
                  fz_store(Y + yo + p * C, vec ? fz_vact(y, act, va, vb) : y);                                   \
                }                                                                                                \
                if (!vec)                                                                                        \
                  for (int p = 0; p < P; ++p)                                                                    \
                    for (int64_t i = 0; i < FZ_VL; ++i)                                                          \
                      Y[yo + p * C + i] = sdk_actf(Y[yo + p * C + i], act, act_a, act_b);                        \
              }                                                                                                  \
            }                                                                                                    \
          oh += two ? 2 : 1;                                                                                     \
        }                                                                                                        \
    }                                                                                                            \
  }
FZ_DW_STRIP(3, 1, fz_strip_k3s1)
FZ_DW_STRIP(3, 2, fz_strip_k3s2)
FZ_DW_STRIP(5, 1, fz_strip_k5s1)
FZ_DW_STRIP(5, 2, fz_strip_k5s2)
#undef FZ_DW_STRIP
#endif
#ifndef FZ_STRIP_K3S2 /* 1: 3 x 3 stride-2 bands in strips too (A/B; the per-row form is the default there) */
#define FZ_STRIP_K3S2 0
#endif

/* output rows [oh0, oh1) of the image X [H, W, C] (a band of it: rows outside [0, H) are padding) into Y and R (the
 * image's [OH, OW, C]) in strips, all channels (a last partial vector overlapping the one before it, recomputed
 * from X): 1 where the form applies (at least a vector of channels and a strip of pixels, padding columns at most
 * K / 2 a side), else 0 */
static int fz_dw_strips(int64_t oh0, int64_t oh1, int64_t H, int64_t W, int64_t C, int64_t OW, int64_t K,
                        int64_t S, int64_t PH, int64_t PW, const float *X, const float *w, const float *bias,
                        const float *R, int64_t act, float a, float b, float *Y) {
#if FZ_VEC
  if (!((K == 3 && (S == 1 || FZ_STRIP_K3S2)) || K == 5) || S > 2 || C < FZ_VL || OW < FZ_SP || PW > K / 2 ||
      (OW - 1) * S - PW + K - W > K / 2)
    return 0;
  typedef void (*fz_strip_fn)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                              int64_t, const float *, const float *, const float *, const float *, int64_t, float,
                              float, float *);
  const fz_strip_fn f = K == 3 ? (S == 1 ? fz_strip_k3s1 : fz_strip_k3s2) : (S == 1 ? fz_strip_k5s1 : fz_strip_k5s2);
  const int64_t cv = C / FZ_VL;
  for (int64_t v = 0; v < cv; v += FZ_SCB) /* groups of FZ_SCB vectors */
    f(v * FZ_VL, cv - v < FZ_SCB ? cv - v : FZ_SCB, oh0, oh1, H, W, C, OW, PH, PW, X, w, bias, R, act, a, b, Y);
  if (C % FZ_VL) f(C - FZ_VL, 1, oh0, oh1, H, W, C, OW, PH, PW, X, w, bias, R, act, a, b, Y);
  return 1;
#else
  (void)oh0, (void)oh1, (void)H, (void)W, (void)C, (void)OW, (void)K, (void)S, (void)PH, (void)PW, (void)X, (void)w;
  (void)bias, (void)R, (void)act, (void)a, (void)b, (void)Y;
  return 0;
#endif
}

/* ------------------------------------------------------------------ expansion + depthwise */
/* An inverted-residual block's expansion (1x1, K -> C channels, e.g. 16 -> 96 on 112 x 112: a 4.8 MB result) and
 * the depthwise convolution that reads it: the expanded rows a band of BH output rows needs go to a scratch slot
 * (fz_expand) and the depthwise rows read them there while they are in L2 (on the slot as a sub-image: in strips,
 * fz_dw_strips, at stride 1 and 5 x 5; row by row, fz_dw_row, for 3 x 3 stride 2 and rows narrower than a strip),
 * instead of the whole expanded tensor going to memory and coming back. A task runs a contiguous range of bands in
 * its own slot; the expanded rows two neighbouring bands share (KH - SH of them) move to the slot's start instead
 * of being computed again. */
void sdk_pwdw_nhwc_f32(int64_t N, int64_t H, int64_t W, int64_t K, int64_t C, int64_t Cp, const float *X,
                       const float *B, const float *be, int64_t e_act, float e_a, float e_b, int64_t OH, int64_t OW,
                       int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, const float *Wd,
                       const float *bd, int64_t BH, int64_t slots, const float *R, int64_t act, float act_a,
                       float act_b, float *Y, float *scratch) {
  const int64_t rows = N * OH, nb = (rows + BH - 1) / BH, EH = (BH - 1) * SH + KH, row = W * C;
  int64_t nt = slots < nb ? slots : nb;
#if defined(_OPENMP)
  if (nt > omp_get_max_threads()) nt = omp_get_max_threads();
#endif
  const int par = nt > 1 && rows * OW * C * KH * KW + N * H * W * C * K >= SDK_PAR_MIN_WORK;
  if (!par) nt = 1;
  /* the depthwise activation in fz_dw_row where no residual comes before it */
  const int64_t dact = R ? SDK_ACT_NONE : act;
  SDK_OMP(parallel for schedule(static) num_threads((int)nt) if(par))
  for (int64_t t = 0; t < nt; ++t) {
    float *e = scratch + t * EH * row;
    int64_t hn = -1, hs = 0, he = 0; /* the slot holds expanded rows [hs, he) of image hn */
    for (int64_t bi = nb * t / nt; bi < nb * (t + 1) / nt; ++bi) {
      const int64_t r0 = bi * BH, r1 = r0 + BH < rows ? r0 + BH : rows;
      for (int64_t r = r0; r < r1;) {
        /* output rows [r, q) of one image n */
        const int64_t n = r / OH, oh0 = r % OH, q = (n + 1) * OH < r1 ? (n + 1) * OH : r1, oh1 = oh0 + (q - r);
        int64_t is = oh0 * SH - PH, ie = (oh1 - 1) * SH - PH + KH;
        if (is < 0) is = 0;
        if (ie > H) ie = H;
        if (ie < is) ie = is;
        /* keep the rows the last band expanded that this one reads too */
        int64_t from = is;
        if (hn == n && hs <= is && is < he) {
          if (hs < is) memmove(e, e + (is - hs) * row, (size_t)((he - is) * row) * sizeof(float));
          from = he;
        }
        if (ie > from)
          fz_expand((ie - from) * W, K, C, Cp, X + ((n * H + from) * W) * K, B, be, e_act, e_a, e_b,
                    e + (from - is) * row);
        hn = n, hs = is, he = ie > from ? ie : from;
        if (KH == KW && SH == SW &&
            fz_dw_strips(oh0, oh1, ie - is, W, C, OW, KH, SH, PH + is, PW, e, Wd, bd, R ? R + n * OH * OW * C : 0,
                         act, act_a, act_b, Y + n * OH * OW * C)) {
          r = q;
          continue;
        }
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          float *y = Y + ((n * OH + oh) * OW) * C;
          fz_dw_row(ie - is, W, C, OW, KH, KW, SH, SW, PH + is, PW, e, oh, Wd, bd, dact, act_a, act_b, y);
          if (R) {
            const float *rr = R + ((n * OH + oh) * OW) * C;
            for (int64_t i = 0; i < OW * C; ++i) y[i] = sdk_actf(y[i] + rr[i], act, act_a, act_b);
          }
        }
        r = q;
      }
    }
  }
}
