/* Winograd F(m x m, 3 x 3) convolution over a weight transformed at build time (sdk_winograd.h).
 * Per image: the image is copied channels-last with its zero border into scratch (Xt [Hp][Wp][Cp]), so a tile's
 * a x a inputs for WL channels are a x a vector loads. Per block of tiles: V_q = (B^T d B)_q ([a*a] x packed
 * [tb x Cp], vectorised over channels), O_q = V_q U_q for each position q ([a*a][tb][Mp]) with a register tile of
 * MR tiles x 16 output channels, then Y = A^T O A per tile (vectorised over output channels) with the epilogue.
 * A block's V and O stay in cache between the phases (tb is chosen at build time for that). */
#include <string.h>

#include "sdk_winograd.h"
#include "sdk_math.h"
#if defined(_OPENMP)
#include <omp.h>
#endif

#define NR SDK_WINO_NR
#define CB SDK_WINO_CB
#define TBU SDK_WINO_TB

#if defined(__GNUC__) && !defined(SDK_WINO_SCALAR)
/* vectors at the target's native width; MR tiles x NR channels of accumulators fit the register file
 * (AVX-512: 12 x 1 of 32, AVX: 6 x 2 of 16, NEON: 6 x 4 of 32, SSE / wasm SIMD: 3 x 4 of 16) */
#if defined(__AVX512F__)
#define WL 16
#define MR 12
#elif defined(__AVX__)
#define WL 8
#define MR 6
#elif defined(__aarch64__) || defined(__ARM_NEON)
#define WL 4
#define MR 6
#else
#define WL 4
#define MR 3
#endif
typedef float wino_v __attribute__((vector_size(4 * WL), aligned(4), may_alias));
typedef int32_t wino_vi __attribute__((vector_size(4 * WL), aligned(4), may_alias));
#define WV_LD(p) (*(const wino_v *)(const void *)(p))
#define WV_ST(p, v) (*(wino_v *)(void *)(p) = (v))
#define WV_SPLAT(x) ((x) - (wino_v){0}) /* x - 0 folds to a broadcast; 0 + x would not (-0 + 0 is +0) */
#define WV_RELU(v) ((wino_v)((wino_vi)(v) & (wino_vi)((v) > 0.0f)))
#define WINO_INLINE static inline __attribute__((always_inline))
#define WINO_NOINLINE __attribute__((noinline))
#if defined(__aarch64__) && defined(__ARM_NEON)
/* the phone profile builds without -ffp-contract=fast (strict C99 keeps a * b + c as two instructions): FMLA */
#include <arm_neon.h>
#define WV_FMA(c, a, b) ((wino_v)vfmaq_f32((float32x4_t)(c), (float32x4_t)(a), (float32x4_t)(b)))
#else
#define WV_FMA(c, a, b) ((c) + (a) * (b)) /* contracted to FMA where the profile allows (host: -ffp-contract=fast) */
#endif
#else
/* portable C: the same arithmetic on scalars */
#define WL 1
#define MR 2
typedef float wino_v;
#define WV_LD(p) (*(p))
#define WV_ST(p, v) (*(p) = (v))
#define WV_SPLAT(x) (x)
#define WV_RELU(v) ((v) > 0.0f ? (v) : 0.0f)
#define WV_FMA(c, a, b) ((c) + (a) * (b))
#define WINO_INLINE static inline
#define WINO_NOINLINE
#endif
#define NV (NR / WL)

/* Writing a tile's outputs back to the NCHW planes: the output transform leaves one vector per tile position with
 * the WL output channels in its lanes, and each channel's m x m outputs go to its own plane. Where the tile is whole
 * and the vectors have 4, 8 or 16 lanes (GCC 12+ / clang), a 4 x 4 transpose within each group of 4 lanes turns a
 * row's 4 position vectors into, per channel, its 4 outputs of that row (one 16-byte store each), and for 2 x 2 tiles
 * an interleave of a row's 2 position vectors gives each channel's 2 outputs (one 8-byte store). Before, each output
 * went through a stack buffer as a scalar load and store: 256 of each per 4 x 4 tile and 16 channels, ~40% of
 * SqueezeNet's 16 -> 64 channel 55 x 55 layer alone. Data movement only: the same floats either way. */
#if WL > 1 && defined(__GNUC__) && (defined(__clang__) || __GNUC__ >= 12)
#define WINO_ROWS_VEC 1
typedef float wino_f4 __attribute__((vector_size(16), aligned(4), may_alias));
typedef float wino_f2 __attribute__((vector_size(8), aligned(4), may_alias));
/* per 4-lane group g: unpack low (a0 b0 a1 b1) and high (a2 b2 a3 b3), and the low (a0 a1 b0 b1) and high
 * (a2 a3 b2 b3) halves of two vectors */
#define WINO_G(g, x, y, z, w) 4 * g + x, 4 * g + y, 4 * g + z, 4 * g + w
#if WL == 16
#define WINO_LANES(x, y, z, w) WINO_G(0, x, y, z, w), WINO_G(1, x, y, z, w), WINO_G(2, x, y, z, w), WINO_G(3, x, y, z, w)
#elif WL == 8
#define WINO_LANES(x, y, z, w) WINO_G(0, x, y, z, w), WINO_G(1, x, y, z, w)
#else
#define WINO_LANES(x, y, z, w) WINO_G(0, x, y, z, w)
#endif
#define WINO_UNPACKLO(a, b) __builtin_shufflevector(a, b, WINO_LANES(0, WL, 1, WL + 1))
#define WINO_UNPACKHI(a, b) __builtin_shufflevector(a, b, WINO_LANES(2, WL + 2, 3, WL + 3))
#define WINO_HALVESLO(a, b) __builtin_shufflevector(a, b, WINO_LANES(0, 1, WL, WL + 1))
#define WINO_HALVESHI(a, b) __builtin_shufflevector(a, b, WINO_LANES(2, 3, WL + 2, WL + 3))
typedef int32_t wino_i4 __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t wino_i2 __attribute__((vector_size(8), aligned(4), may_alias));

/* one channel's `cols` (1 .. 4) outputs of one tile row: s, plus that row of the residual where res is not NULL
 * (read only within the row: an edge tile's columns past the plane are never touched), then ReLU where relu, stored.
 * The same floats in the same order as the scalar path (bias, residual, activation) */
WINO_INLINE void wino_put4(wino_f4 s, float *dst, const float *res, const int relu, const int64_t cols) {
  if (res && cols == 4) {
    s += *(const wino_f4 *)(const void *)res;
  } else if (res) {
    for (int64_t j = 0; j < cols; ++j) s[j] += res[j];
  }
  if (relu) s = (wino_f4)((wino_i4)s & (wino_i4)(s > 0.0f));
  if (cols == 4) {
    *(wino_f4 *)(void *)dst = s;
  } else if (cols >= 2) {
    *(wino_f2 *)(void *)dst = __builtin_shufflevector(s, s, 0, 1);
    if (cols == 3) dst[2] = s[2];
  } else {
    dst[0] = s[0];
  }
}

/* the same for 2 x 2 tiles: s holds one channel's 2 outputs of a row, `cols` 1 or 2 of them go out */
WINO_INLINE void wino_put2(wino_f2 s, float *dst, const float *res, const int relu, const int64_t cols) {
  if (res && cols == 2) {
    s += *(const wino_f2 *)(const void *)res;
  } else if (res) {
    s[0] += res[0];
  }
  if (relu) s = (wino_f2)((wino_i2)s & (wino_i2)(s > 0.0f));
  if (cols == 2)
    *(wino_f2 *)(void *)dst = s;
  else
    dst[0] = s[0];
}

/* channel 4 g + c of vector w (a 4-float group): its outputs at dst + (4 g + c) * plane */
#define WINO_ST4(w, g, c, dst, res, plane, relu, cols)                                                        \
  wino_put4(__builtin_shufflevector(w, w, WINO_G(g, 0, 1, 2, 3)), (dst) + (4 * (g) + (c)) * (plane),         \
            (res) ? (res) + (4 * (g) + (c)) * (plane) : 0, relu, cols)
/* channels 4 g + c and 4 g + c + 1 of vector w (an unpacked pair of vectors): 2 outputs each */
#define WINO_ST2(w, g, c, dst, res, plane, relu, cols)                                                        \
  (wino_put2(__builtin_shufflevector(w, w, 4 * (g), 4 * (g) + 1), (dst) + (4 * (g) + (c)) * (plane),          \
             (res) ? (res) + (4 * (g) + (c)) * (plane) : 0, relu, cols),                                       \
   wino_put2(__builtin_shufflevector(w, w, 4 * (g) + 2, 4 * (g) + 3), (dst) + (4 * (g) + (c) + 1) * (plane),  \
             (res) ? (res) + (4 * (g) + (c) + 1) * (plane) : 0, relu, cols))
#if WL == 16
#define WINO_EACH_GROUP(F, ...) F(0, __VA_ARGS__); F(1, __VA_ARGS__); F(2, __VA_ARGS__); F(3, __VA_ARGS__)
#elif WL == 8
#define WINO_EACH_GROUP(F, ...) F(0, __VA_ARGS__); F(1, __VA_ARGS__)
#else
#define WINO_EACH_GROUP(F, ...) F(0, __VA_ARGS__)
#endif
#define WINO_ROW4_GROUP(g, w0, w1, w2, w3, ...)                                                     \
  (WINO_ST4(w0, g, 0, __VA_ARGS__), WINO_ST4(w1, g, 1, __VA_ARGS__), WINO_ST4(w2, g, 2, __VA_ARGS__), \
   WINO_ST4(w3, g, 3, __VA_ARGS__))
#define WINO_ROW2_GROUP(g, lo, hi, ...) (WINO_ST2(lo, g, 0, __VA_ARGS__), WINO_ST2(hi, g, 2, __VA_ARGS__))

/* one output row of a 4 x 4 tile: v[j] = column j's vector; channel k's first `cols` outputs to dst + k * plane
 * (plus res + k * plane's where res is not NULL, then ReLU where relu) */
WINO_INLINE void wino_row4(const wino_v *v, float *dst, const float *res, int64_t plane, const int relu,
                           const int64_t cols) {
  const wino_v t0 = WINO_UNPACKLO(v[0], v[1]), t1 = WINO_UNPACKHI(v[0], v[1]);
  const wino_v t2 = WINO_UNPACKLO(v[2], v[3]), t3 = WINO_UNPACKHI(v[2], v[3]);
  const wino_v w0 = WINO_HALVESLO(t0, t2), w1 = WINO_HALVESHI(t0, t2);
  const wino_v w2 = WINO_HALVESLO(t1, t3), w3 = WINO_HALVESHI(t1, t3);
  WINO_EACH_GROUP(WINO_ROW4_GROUP, w0, w1, w2, w3, dst, res, plane, relu, cols);
}

/* one output row of a 2 x 2 tile: v[0], v[1] = its two columns' vectors */
WINO_INLINE void wino_row2(const wino_v *v, float *dst, const float *res, int64_t plane, const int relu,
                           const int64_t cols) {
  const wino_v lo = WINO_UNPACKLO(v[0], v[1]), hi = WINO_UNPACKHI(v[0], v[1]);
  WINO_EACH_GROUP(WINO_ROW2_GROUP, lo, hi, dst, res, plane, relu, cols);
}
#else
#define WINO_ROWS_VEC 0
#endif

/* a software prefetch into L2 where it was measured to pay (x86: the weight panels stream from memory); elsewhere
 * nothing (the phone profile counts instructions under qemu, Cortex-M has no cache) */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define WINO_PREFETCH(a) __builtin_prefetch((const void *)(a), 0, 2)
#else
#define WINO_PREFETCH(a) ((void)(a))
#endif

static inline int64_t wino_up(int64_t x, int64_t u) { return (x + u - 1) / u * u; }

/* ---- the image's layout channels-last, 16 channels x up to 16 columns at a time through registers: a 16 x 16
 * transpose in four rounds of two-vector shuffles (8, 4, 2, 1 lanes apart). Row c of the block is 16 columns of
 * channel c (src + c * ss), its columns j < n go to dst + j * ds as 16 channels. Short rows (n < 16) load with a
 * mask (AVX-512), so no float past the row is read. The scalar copy took ~2 % of SqueezeNet 1.1 (perf); data
 * movement only, the same floats ---- */
#if WL == 16 && defined(__AVX512F__) && (defined(__clang__) || __GNUC__ >= 12)
#include <immintrin.h>
#define WINO_TR16 1
#define WINO_TR(a, b, lo, hi) \
  { const wino_v t_ = __builtin_shufflevector(a, b, lo); b = __builtin_shufflevector(a, b, hi); a = t_; }
#define WINO_TR8L 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define WINO_TR8H 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define WINO_TR4L 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define WINO_TR4H 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define WINO_TR2L 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define WINO_TR2H 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define WINO_TR1L 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define WINO_TR1H 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
static void wino_tr16(const float *restrict src, int64_t ss, float *restrict dst, int64_t ds, int n) {
  wino_v r[16];
  if (n == 16) {
    for (int i = 0; i < 16; ++i) r[i] = WV_LD(src + i * ss);
  } else {
    const __mmask16 k = (__mmask16)((1u << n) - 1u);
    for (int i = 0; i < 16; ++i) r[i] = (wino_v)_mm512_maskz_loadu_ps(k, src + i * ss);
  }
  for (int i = 0; i < 8; ++i) WINO_TR(r[i], r[i + 8], WINO_TR8L, WINO_TR8H)
  for (int i = 0; i < 16; i += 8)
    for (int j = i; j < i + 4; ++j) WINO_TR(r[j], r[j + 4], WINO_TR4L, WINO_TR4H)
  for (int i = 0; i < 16; i += 4)
    for (int j = i; j < i + 2; ++j) WINO_TR(r[j], r[j + 2], WINO_TR2L, WINO_TR2H)
  for (int i = 0; i < 16; i += 2) WINO_TR(r[i], r[i + 1], WINO_TR1L, WINO_TR1H)
  for (int j = 0; j < n; ++j) WV_ST(dst + j * ds, r[j]);
}
#else
#define WINO_TR16 0
#endif

/* ---- 1-D transforms; s: the stride between the elements of a line, rs: between the results ---- */
/* B^T of F(4, 3) (points 0, +-1, +-2): 6 -> 6 */
WINO_INLINE void wino_in6(const wino_v *d, int s, wino_v *r, int rs) {
  const wino_v d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
  const wino_v t0 = d4 - 4.0f * d2, t1 = d3 - 4.0f * d1, t2 = d4 - d2, t3 = 2.0f * (d3 - d1);
  r[0] = 4.0f * d0 - 5.0f * d2 + d4;
  r[rs] = t0 + t1;
  r[2 * rs] = t0 - t1;
  r[3 * rs] = t2 + t3;
  r[4 * rs] = t2 - t3;
  r[5 * rs] = 4.0f * d1 - 5.0f * d3 + d5;
}
/* A^T of F(4, 3): 6 -> 4 */
WINO_INLINE void wino_out6(const wino_v *o, int s, wino_v *r, int rs) {
  const wino_v o1 = o[s], o2 = o[2 * s], o3 = o[3 * s], o4 = o[4 * s];
  const wino_v p12 = o1 + o2, m12 = o1 - o2, p34 = o3 + o4, m34 = o3 - o4;
  r[0] = o[0] + p12 + p34;
  r[rs] = m12 + 2.0f * m34;
  r[2 * rs] = p12 + 4.0f * p34;
  r[3 * rs] = m12 + 8.0f * m34 + o[5 * s];
}
/* B^T of F(2, 3): 4 -> 4 */
WINO_INLINE void wino_in4(const wino_v *d, int s, wino_v *r, int rs) {
  const wino_v d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s];
  r[0] = d0 - d2;
  r[rs] = d1 + d2;
  r[2 * rs] = d2 - d1;
  r[3 * rs] = d1 - d3;
}
/* A^T of F(2, 3): 4 -> 2 */
WINO_INLINE void wino_out4(const wino_v *o, int s, wino_v *r, int rs) {
  r[0] = o[0] + o[s] + o[2 * s];
  r[rs] = o[s] - o[2 * s] - o[3 * s];
}

typedef struct {
  int64_t C, H, W, M, OH, OW, PH, PW, m, tw, th, Hp, Wp, Cp, Mp, tbp;
  int xpad, ypad; /* SDK_WINO_X_PADDED, SDK_WINO_Y_PADDED */
  const float *U, *bias;
  int64_t act;
  float act_a, act_b;
} wino_geom;

/* ---- the image channels-last with its zero border: Xt[ih + PH][iw + PW][c] = x[c][ih][iw], row `r` of Hp ---- */
static void wino_layout_row(const wino_geom *g, const float *x, int64_t r, float *Xt) {
  float *dst = Xt + r * g->Wp * g->Cp;
  const int64_t ih = r - g->PH, W = g->W, Cp = g->Cp;
  if (ih < 0 || ih >= g->H) {
    memset(dst, 0, sizeof(float) * g->Wp * Cp);
    return;
  }
  memset(dst, 0, sizeof(float) * g->PW * Cp);
  memset(dst + (g->PW + W) * Cp, 0, sizeof(float) * (g->Wp - g->PW - W) * Cp);
  dst += g->PW * Cp;
  const float *src = x + ih * W;
  for (int64_t w0 = 0; w0 < W; w0 += 16) { /* 16 columns of every channel: contiguous reads, cache-line writes */
    const int64_t n = W - w0 < 16 ? W - w0 : 16;
    int64_t c = 0;
#if WINO_TR16
    for (; c + 16 <= g->C; c += 16) wino_tr16(src + c * g->H * W + w0, g->H * W, dst + w0 * Cp + c, Cp, (int)n);
#endif
    for (; c < g->C; ++c)
      for (int64_t j = 0; j < n; ++j) dst[(w0 + j) * Cp + c] = src[c * g->H * W + w0 + j];
    if (Cp > g->C)
      for (int64_t j = 0; j < n; ++j) memset(dst + (w0 + j) * Cp + g->C, 0, sizeof(float) * (Cp - g->C));
  }
}

/* ---- the border of a padded Y (SDK_WINO_Y_PADDED), row `r` of Hp: zeros where no output lands (the next layer's
 * zero padding, and the rows / columns its tiles read past the plane) ---- */
static void wino_border_row(const wino_geom *g, int64_t r, float *y) {
  const int64_t Mp = g->Mp;
  float *dst = y + r * g->Wp * Mp;
  if (r == 0 || r > g->OH) {
    memset(dst, 0, sizeof(float) * g->Wp * Mp);
    return;
  }
  memset(dst, 0, sizeof(float) * Mp);
  memset(dst + (g->OW + 1) * Mp, 0, sizeof(float) * (g->Wp - g->OW - 1) * Mp);
}

/* Where a block's V and O live in scratch (a2 = (m + 2)^2 positions q; a group = MR tiles of the block).
 * V: per group, per position, the micro-kernel's packed [Cp / WL][MR][WL]: a group's a2 panels are adjacent, so a
 * tile's a2 stores in the input transform fall in one group's block (MR * Cp floats apart), not a2 blocks tbp * Cp
 * floats apart. O: per tile, per position, Mp output channels: the output transform's a2 loads of a tile are Mp
 * floats apart (one tile's block), where position-major O put them tbp * Mp floats apart (a2 different pages: the
 * largest stall of the output transform, sq45); the register tiles store their rows a2 * Mp apart instead.
 * SDK_WINO_POSITION_MAJOR=1 builds the earlier position-major layouts (for A/B); the same floats either way. */
#ifndef SDK_WINO_POSITION_MAJOR
#define SDK_WINO_POSITION_MAJOR 0
#endif
#if SDK_WINO_POSITION_MAJOR
#define WINO_V(g, grp, q, a2) (((q) * (g)->tbp + (grp) * MR) * (g)->Cp)
#define WINO_O(g, row, q, a2) (((q) * (g)->tbp + (row)) * (g)->Mp)
#else
#define WINO_V(g, grp, q, a2) (((grp) * (a2) + (q)) * MR * (g)->Cp)
#define WINO_O(g, row, q, a2) (((row) * (a2) + (q)) * (g)->Mp)
#endif

/* ---- input transform: tile t (of the image), channels c0 .. c0 + WL, into block row `row` of V ---- */
WINO_INLINE void wino_input(const wino_geom *g, const float *Xt, int64_t t, int64_t row, int64_t c0, float *V,
                            const int a) {
  const int64_t Cp = g->Cp, ws = g->Wp * Cp;
  wino_v d[36], u[36];
  const float *src = Xt + (t / g->tw * g->m * g->Wp + t % g->tw * g->m) * Cp + c0;
  for (int i = 0; i < a; ++i)
    for (int j = 0; j < a; ++j) d[i * a + j] = WV_LD(src + i * ws + j * Cp);
  if (a == 6) {
    for (int j = 0; j < 6; ++j) wino_in6(d + j, 6, u + j, 6);       /* columns */
    for (int i = 0; i < 6; ++i) wino_in6(u + i * 6, 1, d + i * 6, 1); /* rows */
  } else {
    for (int j = 0; j < 4; ++j) wino_in4(d + j, 4, u + j, 4);
    for (int i = 0; i < 4; ++i) wino_in4(u + i * 4, 1, d + i * 4, 1);
  }
  /* V_q is packed for the micro-kernel: groups of MR tiles, each [Cp / WL][MR][WL] (one pointer, MR broadcasts per
   * channel at constant offsets), so a tile's vector of WL channels is one store */
  float *dst = V + WINO_V(g, row / MR, 0, a * a) + (c0 / WL) * MR * WL + (row % MR) * WL;
  for (int q = 0; q < a * a; ++q) WV_ST(dst + WINO_V(g, 0, q, a * a), d[q]);
}

/* ---- O[r][j] = sum_c V[c / WL][r][c % WL] U[c][j], r < rows (<= MR), j < NR: the register tile. V's groups keep MR
 * rows (a group's missing tiles are neither transformed nor multiplied). pf: an address to prefetch into L2 every k,
 * advancing by pfs bytes (a share of the next weight panel; integers, so an address past the weight is never a
 * pointer). A row's sum runs over the channels in the same order for any `rows`: the same result in any group ---- */
WINO_INLINE void wino_ukr(int64_t Cp, const float *restrict v, const float *restrict u, float *restrict o,
                          int64_t ldo, uintptr_t pf, uintptr_t pfs, const int rows) {
  wino_v acc[MR][NV];
  for (int r = 0; r < rows; ++r)
    for (int q = 0; q < NV; ++q) acc[r][q] = WV_SPLAT(0.0f);
  for (int64_t cb = 0; cb < Cp; cb += WL, v += MR * WL)
    for (int l = 0; l < WL; ++l, u += NR, pf += pfs) {
      WINO_PREFETCH(pf);
      wino_v b[NV];
      for (int q = 0; q < NV; ++q) b[q] = WV_LD(u + q * WL);
      for (int r = 0; r < rows; ++r) {
        const wino_v ar = WV_SPLAT(v[r * WL + l]);
        for (int q = 0; q < NV; ++q) acc[r][q] = WV_FMA(acc[r][q], ar, b[q]);
      }
    }
  for (int r = 0; r < rows; ++r)
    for (int q = 0; q < NV; ++q) WV_ST(o + r * ldo + q * WL, acc[r][q]);
}

/* the last, partial group of a block: one register tile of exactly its rows (1 .. MR - 1) */
static void wino_ukr_part(int64_t Cp, const float *restrict v, const float *restrict u, float *restrict o,
                          int64_t ldo, uintptr_t pf, uintptr_t pfs, int64_t rows) {
#define WINO_PART(n) case n: wino_ukr(Cp, v, u, o, ldo, pf, pfs, n); return;
  switch (rows) {
    WINO_PART(1)
#if MR > 2
    WINO_PART(2)
#endif
#if MR > 3
    WINO_PART(3)
#endif
#if MR > 4
    WINO_PART(4)
#endif
#if MR > 5
    WINO_PART(5)
#endif
#if MR > 6
    WINO_PART(6)
#endif
#if MR > 7
    WINO_PART(7)
#endif
#if MR > 8
    WINO_PART(8)
#endif
#if MR > 9
    WINO_PART(9)
#endif
#if MR > 10
    WINO_PART(10)
#endif
#if MR > 11
    WINO_PART(11)
#endif
#if MR > 12
#error "wino_ukr_part: add cases up to MR - 1"
#endif
    default: wino_ukr(Cp, v, u, o, ldo, pf, pfs, MR); return;
  }
#undef WINO_PART
}

#if WL == 16 && MR == 12
/* AVX-512: two adjacent panels at once (u and u + Cp * NR: 32 output channels, 24 accumulators), so each broadcast of
 * V feeds two FMAs: the one-panel tile issued 13 loads (12 broadcasts, one vector) per 12 FMAs and was bound by the
 * load ports. The same sums in the same order as two one-panel tiles: the same floats */
#define WINO_PAIR 1
static void wino_ukr2(int64_t Cp, const float *restrict v, const float *restrict u, float *restrict o, int64_t ldo,
                      uintptr_t pf, uintptr_t pfs) {
  const float *restrict u1 = u + Cp * NR;
  wino_v acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = WV_SPLAT(0.0f);
  for (int64_t cb = 0; cb < Cp; cb += WL, v += MR * WL)
    for (int l = 0; l < WL; ++l, u += NR, u1 += NR, pf += pfs) {
      WINO_PREFETCH(pf);
      if (pfs > 64) WINO_PREFETCH(pf + 64); /* a block of one register tile: two panels' lines per step */
      const wino_v b0 = WV_LD(u), b1 = WV_LD(u1);
      for (int r = 0; r < MR; ++r) {
        const wino_v ar = WV_SPLAT(v[r * WL + l]);
        acc[r][0] = WV_FMA(acc[r][0], ar, b0);
        acc[r][1] = WV_FMA(acc[r][1], ar, b1);
      }
    }
  for (int r = 0; r < MR; ++r) {
    WV_ST(o + r * ldo, acc[r][0]);
    WV_ST(o + r * ldo + WL, acc[r][1]);
  }
}
#else
#define WINO_PAIR 0
#endif

/* panels per register tile: two where the pair tile exists and the transformed weight U stays in L2 (at most
 * SDK_WINO_PAIR_MAX_U bytes); a larger U streams from memory panel after panel with the prefetch of wino_panel, and
 * the pairs were slower there (ResNet-18's 128- and 256-channel layers, 2.4 and 4.2 MB: 1.05-1.10x) */
#ifndef SDK_WINO_PAIR_MAX_U
#define SDK_WINO_PAIR_MAX_U (1 << 20)
#endif
static inline int wino_np(const wino_geom *g) {
  return WINO_PAIR && (g->m + 2) * (g->m + 2) * g->Cp * g->Mp * (int64_t)sizeof(float) <= SDK_WINO_PAIR_MAX_U ? 2 : 1;
}

/* the padded layout (SDK_WINO_Y_PADDED) of wino_output: a position's WL channels are one vector store (every group of
 * Mp, so the channels past M are written too: 0 + 0 through the activation). Its own function, not inlined: inside
 * wino_output it cost the other layouts' tiles ~2 % more guest instructions on the phone (qemu-aarch64 counts) */
static WINO_NOINLINE void wino_output_padded(const wino_geom *g, const wino_v *r, wino_v bv, const float *R, float *y,
                                             int64_t oh0, int64_t ow0, int64_t k0, int64_t rows, int64_t cols,
                                             int64_t lanes, int64_t base) {
  const int64_t m = g->m, plane = g->OH * g->OW, OW = g->OW;
  float *dst = y + ((oh0 + 1) * g->Wp + ow0 + 1) * g->Mp + k0;
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      wino_v v = r[i * m + j] + bv;
      if (R || (g->act != SDK_ACT_NONE && g->act != SDK_ACT_RELU)) { /* per element, in the kernels' order */
        float t[WL];
        WV_ST(t, v);
        for (int64_t l = 0; l < WL; ++l) {
          if (R && l < lanes) t[l] += R[base + l * plane + i * OW + j];
          t[l] = sdk_actf(t[l], g->act, g->act_a, g->act_b);
        }
        v = WV_LD(t);
      } else if (g->act == SDK_ACT_RELU) {
        v = WV_RELU(v);
      }
      WV_ST(dst + (i * g->Wp + j) * g->Mp, v);
    }
}

/* ---- output transform of tile t (block row `row`), output channels k0 .. k0 + WL, with the epilogue: bias and
 * ReLU on the vectors; a residual or another activation per element, in the GEMM/conv kernels' order ---- */
WINO_INLINE void wino_output(const wino_geom *g, const float *O, int64_t t, int64_t row, int64_t k0,
                             const float *R, float *y, const int a) {
  const int m = a - 2;
  const int64_t oh0 = t / g->tw * m, ow0 = t % g->tw * m, plane = g->OH * g->OW, OW = g->OW;
  const int64_t ps = WINO_O(g, 0, 1, a * a), lanes = g->M - k0 < WL ? g->M - k0 : WL;
  const float *src = O + WINO_O(g, row, 0, a * a) + k0;
  wino_v o[36], u[24], r[16];
  float buf[16 * WL], bb[WL];
  for (int q = 0; q < a * a; ++q) o[q] = WV_LD(src + q * ps);
  if (a == 6) {
    for (int j = 0; j < 6; ++j) wino_out6(o + j, 6, u + j, 6);       /* columns: 4 x 6 */
    for (int i = 0; i < 4; ++i) wino_out6(u + i * 6, 1, r + i * 4, 1); /* rows: 4 x 4 */
  } else {
    for (int j = 0; j < 4; ++j) wino_out4(o + j, 4, u + j, 4);
    for (int i = 0; i < 2; ++i) wino_out4(u + i * 4, 1, r + i * 2, 1);
  }
  /* the bias of a whole group as one vector load: written lane by lane and read back as a vector, it could not be
   * forwarded from the store buffer and the load waited for the stores to retire on every tile (perf: ~10 % of
   * SqueezeNet's 4x4-tile layers on that load) */
  wino_v bv = WV_SPLAT(0.0f);
  if (g->bias && lanes == WL) {
    bv = WV_LD(g->bias + k0);
  } else if (g->bias) {
    for (int l = 0; l < WL; ++l) bb[l] = l < lanes ? g->bias[k0 + l] : 0.0f;
    bv = WV_LD(bb);
  }
  const int relu = g->act == SDK_ACT_RELU && !R;
  const int64_t rows = g->OH - oh0 < m ? g->OH - oh0 : m, cols = OW - ow0 < m ? OW - ow0 : m;
  const int64_t base = k0 * plane + oh0 * OW + ow0;
  if (g->ypad) {
    wino_output_padded(g, r, bv, R, y, oh0, ow0, k0, rows, cols, lanes, base);
    return;
  }
#if WINO_ROWS_VEC
  if (lanes == WL && (R ? g->act == SDK_ACT_RELU || g->act == SDK_ACT_NONE
                         : (relu || g->act == SDK_ACT_NONE) && rows == m && cols == m)) {
    /* a tile of WL channels with bias, then a residual, then ReLU or nothing: transposed in registers, a row at a
     * time. Without a residual the ReLU goes on the WL-lane vectors; with one, after the residual's row is added
     * (per channel and row, on 4 floats; edge tiles store only their rows and columns inside the plane: ~0.9x of
     * the scalar path on ResNet-18's residual layers, kernel alone). Edge tiles without a residual keep the scalar
     * path (the register form measured 1.02x there: SqueezeNet's 27 x 27 and 13 x 13 layers) */
    wino_v v[16];
    for (int q = 0; q < m * m; ++q) {
      v[q] = r[q] + bv;
      if (relu) v[q] = WV_RELU(v[q]);
    }
    if (!R && rows == m && cols == m) {
      for (int i = 0; i < m; ++i) { /* whole tiles without a residual, as before: the constants folded */
        if (a == 6)
          wino_row4(v + 4 * i, y + base + i * OW, 0, plane, 0, 4);
        else
          wino_row2(v + 2 * i, y + base + i * OW, 0, plane, 0, 2);
      }
      return;
    }
    const int rl = R && g->act == SDK_ACT_RELU;
    for (int64_t i = 0; i < rows; ++i) {
      const float *res = R ? R + base + i * OW : 0;
      if (a == 6 && cols == 4) /* whole rows: the width a constant */
        wino_row4(v + 4 * i, y + base + i * OW, res, plane, rl, 4);
      else if (a == 6)
        wino_row4(v + 4 * i, y + base + i * OW, res, plane, rl, cols);
      else if (cols == 2)
        wino_row2(v + 2 * i, y + base + i * OW, res, plane, rl, 2);
      else
        wino_row2(v + 2 * i, y + base + i * OW, res, plane, rl, cols);
    }
    return;
  }
#endif
  for (int q = 0; q < m * m; ++q) {
    const wino_v v = r[q] + bv;
    if (relu)
      WV_ST(buf + q * WL, WV_RELU(v));
    else
      WV_ST(buf + q * WL, v);
  }
  /* a residual, then the activation (unless applied on the vectors above): each in a loop of its own (a switch
   * per element kept the compiler from vectorising and cost ~10 ns an element: a ResNet block's 56 x 56 x 64 sum
   * took longer than its convolution) */
  if (R)
    for (int64_t l = 0; l < lanes; ++l)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) buf[(i * m + j) * WL + l] += R[base + l * plane + i * OW + j];
  const int64_t n = m * m * WL;
  switch (relu ? SDK_ACT_NONE : g->act) {
    case SDK_ACT_NONE: break;
    case SDK_ACT_RELU: for (int64_t e = 0; e < n; ++e) buf[e] = buf[e] > 0.0f ? buf[e] : 0.0f; break;
    default: for (int64_t e = 0; e < n; ++e) buf[e] = sdk_actf(buf[e], g->act, g->act_a, g->act_b); break;
  }
  for (int64_t l = 0; l < lanes; ++l)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) y[base + l * plane + i * OW + j] = buf[(i * m + j) * WL + l];
}

/* ---- the register tiles of panel p at position q read it from L2 (the first also from memory: a 4x4-tile layer's
 * transformed weight is 4x the original, 9.4 MB for 256 -> 256 channels, read once per image with a few tiles of
 * reuse); each tile prefetches 1 / tiles of the next panel (the weight is stored panel after panel), so that panel
 * is in L2 when its first tile starts. ResNet-18, one thread: 35.1 -> 31.4 ms median (bench/RESULTS_zoo.md) ---- */
static inline void wino_panel(const wino_geom *g, const float *V, float *O, int64_t q, int64_t p, int64_t r0,
                              int64_t rows, int np) {
  const int64_t panels = g->Mp / NR, a2 = (g->m + 2) * (g->m + 2), tiles = (rows + MR - 1) / MR;
  const float *u = g->U + (q * panels + p) * g->Cp * NR;
  const uintptr_t next = (uintptr_t)(u + (q * panels + p + np < a2 * panels ? np * g->Cp * NR : 0));
  const uintptr_t pfs = (uintptr_t)((np * NR + tiles - 1) / tiles) * sizeof(float);
  for (int64_t i = r0; i < r0 + rows; i += MR) {
    const float *v = V + WINO_V(g, i / MR, q, a2);
    float *o = O + WINO_O(g, i, q, a2) + p * NR;
    const int64_t ldo = WINO_O(g, 1, 0, a2);
    const uintptr_t pf = next + (uintptr_t)((i - r0) / MR * g->Cp) * pfs;
#if WINO_PAIR
    if (np == 2 && r0 + rows - i >= MR) {
      wino_ukr2(g->Cp, v, u, o, ldo, pf, pfs);
      continue;
    }
#endif
    for (int k = 0; k < np; ++k) {
      if (r0 + rows - i >= MR)
        wino_ukr(g->Cp, v, u + k * g->Cp * NR, o + k * NR, ldo, pf, pfs, MR);
      else
        wino_ukr_part(g->Cp, v, u + k * g->Cp * NR, o + k * NR, ldo, pf, pfs, r0 + rows - i);
    }
  }
}

/* groups of WL output channels the output transform writes: those with channels below M, or with a padded Y every
 * group of Mp (its channels past M too) */
static inline int64_t wino_kgs(const wino_geom *g) { return g->ypad ? g->Mp / WL : (g->M + WL - 1) / WL; }

/* ---- the three phases on block rows [r0, r0 + nt) of V and O for tiles t0 .. t0 + nt (r0: a whole group) ---- */
WINO_INLINE void wino_block(const wino_geom *g, const float *Xt, const float *R, float *y, float *V, float *O,
                            int64_t t0, int64_t nt, int64_t r0, const int a) {
  const int64_t a2 = a * a, cgs = g->Cp / WL, panels = g->Mp / NR, kgs = wino_kgs(g);
  const int np = wino_np(g);
  for (int64_t i = 0; i < nt; ++i)
    for (int64_t cg = 0; cg < cgs; ++cg) wino_input(g, Xt, t0 + i, r0 + i, cg * WL, V, a);
  for (int64_t q = 0; q < a2; ++q)
    for (int64_t p = 0; p < panels; p += np) wino_panel(g, V, O, q, p, r0, nt, panels - p < np ? 1 : np);
  for (int64_t i = 0; i < nt; ++i)
    for (int64_t kg = 0; kg < kgs; ++kg) wino_output(g, O, t0 + i, r0 + i, kg * WL, R, y, a);
}

/* tiles t_begin.. of the laid-out image in blocks of the block size, the threads (of an enclosing parallel region)
 * splitting each phase of each block, a barrier after each */
WINO_INLINE void wino_blocks(const wino_geom *g, const float *Xt, const float *R, float *y, float *V, float *O,
                             const int64_t t_begin, const int a) {
  const int64_t T = g->th * g->tw, a2 = a * a, cgs = g->Cp / WL, panels = g->Mp / NR, kgs = wino_kgs(g);
  const int np = wino_np(g);
  for (int64_t t0 = t_begin; t0 < T; t0 += g->tbp) {
    const int64_t nt = T - t0 < g->tbp ? T - t0 : g->tbp;
    SDK_OMP(for collapse(2) schedule(static))
    for (int64_t i = 0; i < nt; ++i)
      for (int64_t cg = 0; cg < cgs; ++cg) wino_input(g, Xt, t0 + i, i, cg * WL, V, a);
    SDK_OMP(for collapse(2) schedule(static))
    for (int64_t q = 0; q < a2; ++q)
      for (int64_t pp = 0; pp < (panels + np - 1) / np; ++pp)
        wino_panel(g, V, O, q, pp * np, 0, nt, panels - pp * np < np ? 1 : np);
    SDK_OMP(for collapse(2) schedule(static) nowait)
    for (int64_t i = 0; i < nt; ++i)
      for (int64_t kg = 0; kg < kgs; ++kg) wino_output(g, O, t0 + i, i, kg * WL, R, y, a);
    /* its barrier (O is rewritten by the next block's products) is the next block's input-phase barrier, which no
     * thread passes before every thread has finished this loop */
  }
}

/* one image, tile size a - 2. The threads of an enclosing parallel region (one thread without one) lay the image
 * out together (omp for: one barrier). Where the tile block has a register tile's rows for every thread, each
 * thread then takes a contiguous share of the image's tiles and runs the three phases on them through its own rows
 * of V and O: no barrier between phases or blocks, and a thread's V and O stay in its own core's cache. Else (a
 * block of fewer register tiles than threads, or a transformed weight too large to read whole per block and thread)
 * the threads split each phase of each block, a barrier after each. Every output is computed as on one thread
 * either way. */
WINO_INLINE void wino_image(const wino_geom *g, const float *x, const float *R, float *y, float *Xs, float *V,
                            float *O, const int a) {
  const float *Xt = g->xpad ? x : Xs; /* a padded X is the channels-last image already */
  SDK_OMP(for schedule(static))
  for (int64_t r = 0; r < g->Hp; ++r) {
    if (!g->xpad) wino_layout_row(g, x, r, Xs);
    if (g->ypad) wino_border_row(g, r, y);
  }
  int64_t nth = 1, tid = 0;
#if defined(_OPENMP)
  nth = omp_get_num_threads(), tid = omp_get_thread_num();
#endif
  const int64_t T = g->th * g->tw, G = g->tbp / MR;
  if (G >= nth && (nth == 1 || a * a * g->Cp * g->Mp * (int64_t)sizeof(float) <= SDK_WINO_SHARE_MAX_U)) {
    /* an equal share of the tiles (not of whole register tiles: 49 tiles are 4 full groups and one tile) through an
     * equal share of the block's groups (G = 3 on 2 threads: 1 and 2, the second for the larger share: 24 tiles in 2
     * blocks and 25 in 2, where a group each made 2 and 3 blocks; every block reads the whole transformed weight),
     * in blocks as equal as whole tiles allow */
    const int64_t g0 = G * tid / nth, sub = (G * (tid + 1) / nth - g0) * MR;
    int64_t ta = T * tid / nth, n = T * (tid + 1) / nth - ta, rest = 0;
    if (nth > 1 && G % nth == 0 && T > nth * sub && T % (nth * sub) < nth * MR) {
      /* equal blocks that the tiles overflow by less than a register tile per thread (13x13 in 2x2 tiles: 49
       * tiles, blocks of 24 per thread): equal shares would give one thread a second block for one tile (24 and
       * 13 + 12 tiles: 3 register tiles and two reads of the transformed weight against 2 and one; 140 against
       * 198 us in SqueezeNet's 64 -> 256 layers). The threads take whole blocks, then split the last few tiles'
       * phases below, each over half the weight's panels. */
      rest = T % (nth * sub), n = (T - rest) / nth, ta = n * tid;
    }
    /* the share's blocks in whole register tiles, as equal as whole groups allow, so only the last block ends in a
     * partial group (equal blocks of tiles put one in every block: 196 tiles in blocks of 39 or 40 took 5 partial
     * register tiles a position and panel instead of one, ~8 % of a 56 x 56 layer's time in wino_ukr_part) */
    const int64_t nb = (n + sub - 1) / sub, ng = (n + MR - 1) / MR;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t s = MR * (ng * b / nb), e = MR * (ng * (b + 1) / nb) < n ? MR * (ng * (b + 1) / nb) : n;
      wino_block(g, Xt, R, y, V, O, ta + s, e - s, g0 * MR, a);
    }
    if (rest == 0) return;
    SDK_OMP(barrier) /* the shared block below rewrites every thread's rows of V and O */
    wino_blocks(g, Xt, R, y, V, O, T - rest, a);
    return;
  }
  wino_blocks(g, Xt, R, y, V, O, 0, a);
}

static void wino_image4(const wino_geom *g, const float *x, const float *R, float *y, float *Xt, float *V, float *O) {
  wino_image(g, x, R, y, Xt, V, O, 6);
}

static void wino_image2(const wino_geom *g, const float *x, const float *R, float *y, float *Xt, float *V, float *O) {
  wino_image(g, x, R, y, Xt, V, O, 4);
}

void sdk_winograd_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW, int64_t PH,
                      int64_t PW, int64_t m, int64_t tb, const float *X, const float *U, const float *bias,
                      const float *R, int64_t act, float act_a, float act_b, int64_t layout, float *Y,
                      float *scratch) {
  wino_geom g;
  g.C = C, g.H = H, g.W = W, g.M = M, g.OH = OH, g.OW = OW, g.PH = PH, g.PW = PW;
  g.m = m == 2 ? 2 : 4, g.tw = (OW + g.m - 1) / g.m, g.th = (OH + g.m - 1) / g.m;
  g.Hp = g.th * g.m + 2, g.Wp = g.tw * g.m + 2;
  g.Cp = wino_up(C, CB), g.Mp = wino_up(M, NR), g.tbp = wino_up(tb > 0 ? tb : TBU, TBU);
  g.U = U, g.bias = bias, g.act = act, g.act_a = act_a, g.act_b = act_b;
  g.xpad = (layout & SDK_WINO_X_PADDED) != 0, g.ypad = (layout & SDK_WINO_Y_PADDED) != 0;
  const int64_t xs = g.xpad ? g.Hp * g.Wp * g.Cp : C * H * W, ys = g.ypad ? g.Hp * g.Wp * g.Mp : M * OH * OW;
  const int64_t a2 = (g.m + 2) * (g.m + 2);
  float *V = (float *)(void *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  float *O = V + a2 * g.tbp * g.Cp, *Xt = O + a2 * g.tbp * g.Mp;
  void (*image)(const wino_geom *, const float *, const float *, float *, float *, float *, float *) =
      g.m == 4 ? wino_image4 : wino_image2;
  for (int64_t n = 0; n < N; ++n) {
    const float *x = X + n * xs, *r = R ? R + n * M * OH * OW : 0;
    float *y = Y + n * ys;
#if defined(_OPENMP)
    if (a2 * g.th * g.tw * C * M >= SDK_PAR_MIN_WORK && omp_get_max_threads() > 1) {
      SDK_OMP(parallel)
      image(&g, x, r, y, Xt, V, O);
      continue;
    }
#endif
    image(&g, x, r, y, Xt, V, O);
  }
}
