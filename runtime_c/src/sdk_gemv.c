/* Small-M matrix products (M <= 8 rows: batch-1 GEMV, beams, a few rows) over a weight packed at build time
 * (sdk_gemv.h). The bound is reading the weight once: each panel streams front to back while its outputs stay in
 * vector registers, and each weight vector loaded feeds RB rows (the registers decide RB), with up to two k steps
 * per iteration into separate accumulators (enough independent multiply-add chains to keep loads, not latency,
 * the limit). The same kernels read a float16 packed weight (sdk_gemv_f16w_f32), converting each weight vector to
 * float32 as it is loaded (vcvtph2ps on x86 with AVX-512 or F16C, fcvtl on arm64, exact bit arithmetic elsewhere);
 * the sums are float32 either way. */
#include <string.h>

#include "sdk_gemv.h"
#include "sdk_half.h"
#include "sdk_math.h"
#if defined(_OPENMP)
#include <omp.h>
#endif

#define NR SDK_GEMV_NR
#define NT SDK_GEMV_NT

#if defined(__GNUC__) && !defined(SDK_GEMV_SCALAR)
/* GCC/clang vector extensions at the target's native width (a wider generic vector than the hardware's goes through
 * the stack on NEON / SSE): AVX-512 16 lanes, AVX 8, otherwise 4 (NEON, SSE, wasm SIMD; scalar code where none).
 * Loads are unaligned: the packed weight needs no alignment. KU: k steps per iteration, each into its own
 * accumulators (independent multiply-add chains; 1 at 4 lanes: 8 accumulators already, and SSE has 16 registers). */
#if defined(__AVX512F__)
#define GV_LANES 16
#elif defined(__AVX__)
#define GV_LANES 8
#else
#define GV_LANES 4
#endif
#define NV (NR / GV_LANES)
/* RB: rows sharing each weight load; KU(rb): k steps per iteration, each into its own accumulators. The
 * rb * KU * NV accumulators stay within ACC_MAX registers: 16 of AVX-512's and NEON's 32, 8 of AVX's 16 (room for
 * the loads and broadcasts); at 4 lanes on x86 (SSE: 16 registers) one row of 8 accumulators. */
#if GV_LANES == 16
#define RB 4
#elif GV_LANES == 8 || defined(__aarch64__)
#define RB 2
#else
#define RB 1
#endif
#if GV_LANES == 16 || defined(__aarch64__)
#define ACC_MAX 16
#else
#define ACC_MAX 8
#endif
#define KU(rb) ((rb) * NV * 2 <= ACC_MAX && GV_LANES != 4 ? 2 : 1)
typedef float sdk_gv __attribute__((vector_size(4 * GV_LANES), aligned(4), may_alias));
typedef float sdk_gv4 __attribute__((vector_size(16), aligned(4), may_alias));
#define GV_LD(p) (*(const sdk_gv *)(const void *)(p))
#define GV4_LD(p) (*(const sdk_gv4 *)(const void *)(p))

/* Float16 weight vectors as float32 lanes (every conversion is exact: each float16 is a float32): the hardware's
 * conversion where the build enables it, else bit arithmetic on the vectors: the magnitude's bits moved into
 * float32's fields and scaled by 2^112 (rebias 15 -> 127; a subnormal half becomes a float32 subnormal first, so
 * this needs subnormals not flushed to zero, the default everywhere sdk builds), exponent 31 (inf / NaN) set to
 * 255, the sign put back. */
#define GV_F16_BITS(VF, VU, VH, p)                                                                                \
  do {                                                                                                            \
    const VU u_ = __builtin_convertvector(*(const VH *)(const void *)(p), VU);                                    \
    const VF f_ = (VF)((u_ & 0x7fffu) << 13) * 0x1p112f;                                                          \
    const VU e_ = (VU)((u_ & 0x7c00u) == 0x7c00u) & 0x7f800000u;                                                 \
    out_ = (VF)((VU)f_ | e_ | ((u_ & 0x8000u) << 16));                                                            \
  } while (0)
typedef uint32_t sdk_gu __attribute__((vector_size(4 * GV_LANES)));
typedef uint16_t sdk_gh __attribute__((vector_size(2 * GV_LANES), aligned(2), may_alias));
typedef uint32_t sdk_gu4 __attribute__((vector_size(16)));
typedef uint16_t sdk_gh4 __attribute__((vector_size(8), aligned(2), may_alias));
#if defined(__aarch64__)
#include <arm_neon.h>
#elif defined(__AVX512F__) || defined(__F16C__)
#include <immintrin.h>
#endif
static inline __attribute__((always_inline)) sdk_gv gv_ld_f16(const uint16_t *p) {
#if GV_LANES == 16
  return (sdk_gv)_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
#elif GV_LANES == 8 && defined(__F16C__)
  return (sdk_gv)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
#elif GV_LANES == 4 && defined(__aarch64__)
  return (sdk_gv)vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
#else
  sdk_gv out_;
  GV_F16_BITS(sdk_gv, sdk_gu, sdk_gh, p);
  return out_;
#endif
}
static inline __attribute__((always_inline)) sdk_gv4 gv4_ld_f16(const uint16_t *p) {
#if defined(__F16C__)
  return (sdk_gv4)_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)(const void *)p));
#elif defined(__aarch64__)
  return (sdk_gv4)vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
#else
  sdk_gv4 out_;
  GV_F16_BITS(sdk_gv4, sdk_gu4, sdk_gh4, p);
  return out_;
#endif
}
/* element i of a packed weight, float32 (h = 0) or float16 (h = 1; a constant after inlining), as float32 lanes */
#define GV_LDW(h, w, i) ((h) ? gv_ld_f16((const uint16_t *)(w) + (i)) : GV_LD((const float *)(w) + (i)))
#define GV4_LDW(h, w, i) ((h) ? gv4_ld_f16((const uint16_t *)(w) + (i)) : GV4_LD((const float *)(w) + (i)))
/* Pins a loaded weight vector in a register: without it the compiler folds the load into each row's multiply-add,
 * and rb loads per vector instead of one make L1 bandwidth the limit. */
#if defined(__x86_64__) || defined(__i386__)
#define GV_PIN(v) __asm__("" : "+v"(v))
#elif defined(__aarch64__)
#define GV_PIN(v) __asm__("" : "+w"(v))
#else
#define GV_PIN(v) (void)0
#endif

/* acc[r * 32 + j] = sum_k x[r * x_rs + k * x_cs] * w[k * 32 + j], r < rb (rb and h constants after inlining: the
 * loops over r, u and v unroll and the accumulators live in registers); w float32 (h = 0) or float16 (h = 1) */
static inline __attribute__((always_inline)) void gemv_k32(const int rb, const int h, int64_t K,
                                                           const float *restrict x, int64_t x_rs, int64_t x_cs,
                                                           const void *restrict w, float *restrict acc) {
  enum { KM = 2 };
  const int ku = KU(rb);
  sdk_gv a[RB][KM][NV];
  for (int r = 0; r < rb; ++r)
    for (int u = 0; u < ku; ++u)
      for (int v = 0; v < NV; ++v) a[r][u][v] = (sdk_gv){0};
  int64_t k = 0, o = 0; /* o: the weight element at k */
  for (; k + ku <= K; k += ku, o += ku * NR)
    for (int u = 0; u < ku; ++u)
      for (int v = 0; v < NV; ++v) {
        sdk_gv wv = GV_LDW(h, w, o + u * NR + v * GV_LANES);
        if (rb > 1) GV_PIN(wv);
        for (int r = 0; r < rb; ++r) a[r][u][v] += x[r * x_rs + (k + u) * x_cs] * wv;
      }
  for (; k < K; ++k, o += NR)
    for (int v = 0; v < NV; ++v) {
      const sdk_gv wv = GV_LDW(h, w, o + v * GV_LANES);
      for (int r = 0; r < rb; ++r) a[r][0][v] += x[r * x_rs + k * x_cs] * wv;
    }
  for (int r = 0; r < rb; ++r)
    for (int v = 0; v < NV; ++v) {
      sdk_gv s = a[r][0][v];
      for (int u = 1; u < ku; ++u) s += a[r][u][v];
      for (int j = 0; j < GV_LANES; ++j) acc[r * NR + v * GV_LANES + j] = s[j];
    }
}

/* acc[0..8) for a tail panel of 8 outputs: two 4-lane halves, two k steps per iteration */
static inline __attribute__((always_inline)) void gemv_k8(const int h, int64_t K, const float *restrict x,
                                                          int64_t x_cs, const void *restrict w, float *restrict acc) {
  sdk_gv4 a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};
  int64_t k = 0, o = 0;
  for (; k + 2 <= K; k += 2, o += 2 * NT) {
    const float x0 = x[k * x_cs], x1 = x[(k + 1) * x_cs];
    a0 += x0 * GV4_LDW(h, w, o);
    a1 += x0 * GV4_LDW(h, w, o + 4);
    b0 += x1 * GV4_LDW(h, w, o + NT);
    b1 += x1 * GV4_LDW(h, w, o + NT + 4);
  }
  if (k < K) {
    const float x0 = x[k * x_cs];
    a0 += x0 * GV4_LDW(h, w, o);
    a1 += x0 * GV4_LDW(h, w, o + 4);
  }
  a0 += b0;
  a1 += b1;
  for (int j = 0; j < 4; ++j) {
    acc[j] = a0[j];
    acc[4 + j] = a1[j];
  }
}

/* One row over GV_STREAMS full panels at once: each panel is its own stream through memory. A weight read from DRAM
 * (a classifier's 4-5 MB after the rest of the network pushed it out of the core's share of L3) came at ~9-14 GB/s
 * as one stream and ~14-25 GB/s as four (bench/gemv_streams.py); from L3 both read alike. Each panel's sums are
 * gemv_k32(1, ...)'s: even k into u = 0, odd k into u = 1, added at the end, so the same floats. Only at 16 lanes:
 * the 4 x 2 x NV accumulators (16) fit AVX-512's registers; with 8 or 4 lanes they would not (32, 64). */
#if !defined(SDK_GEMV_STREAMS) /* -DSDK_GEMV_STREAMS=1: panel after panel (A/B, tests) */
#define GV_STREAMS (GV_LANES == 16 ? 4 : 1)
#else
#define GV_STREAMS SDK_GEMV_STREAMS
#endif
#if GV_STREAMS > 1
static inline __attribute__((always_inline)) void gemv_k32_streams(const int h, int64_t K, const float *restrict x,
                                                                   int64_t x_cs, const void *restrict w,
                                                                   float *restrict acc) {
  sdk_gv a[GV_STREAMS][2][NV];
  for (int s = 0; s < GV_STREAMS; ++s)
    for (int u = 0; u < 2; ++u)
      for (int v = 0; v < NV; ++v) a[s][u][v] = (sdk_gv){0};
  const int64_t ps = NR * K; /* elements of a panel */
  int64_t k = 0, o = 0;
  for (; k + 2 <= K; k += 2, o += 2 * NR) {
    const float x0 = x[k * x_cs], x1 = x[(k + 1) * x_cs];
    for (int s = 0; s < GV_STREAMS; ++s)
      for (int v = 0; v < NV; ++v) {
        a[s][0][v] += x0 * GV_LDW(h, w, s * ps + o + v * GV_LANES);
        a[s][1][v] += x1 * GV_LDW(h, w, s * ps + o + NR + v * GV_LANES);
      }
  }
  for (; k < K; ++k, o += NR)
    for (int s = 0; s < GV_STREAMS; ++s)
      for (int v = 0; v < NV; ++v) a[s][0][v] += x[k * x_cs] * GV_LDW(h, w, s * ps + o + v * GV_LANES);
  for (int s = 0; s < GV_STREAMS; ++s)
    for (int v = 0; v < NV; ++v) {
      const sdk_gv t = a[s][0][v] + a[s][1][v];
      for (int j = 0; j < GV_LANES; ++j) acc[s * NR + v * GV_LANES + j] = t[j];
    }
}
#endif
#else
/* portable C: the same sums, one output column at a time per k (compilers may still vectorise the j loops) */
#define RB 1
static void gemv_kp(int P, const int h, int64_t K, const float *x, int64_t x_cs, const void *w, float *acc) {
  const float *wf = (const float *)w;
  const uint16_t *wh = (const uint16_t *)w;
  for (int j = 0; j < P; ++j) acc[j] = 0.0f;
  for (int64_t k = 0; k < K; ++k, wf += P, wh += P) {
    const float xk = x[k * x_cs];
    if (h)
      for (int j = 0; j < P; ++j) acc[j] += xk * sdk_f16_to_f32(wh[j]);
    else
      for (int j = 0; j < P; ++j) acc[j] += xk * wf[j];
  }
}
#define gemv_k32(rb, h, K, x, x_rs, x_cs, w, acc) ((void)(x_rs), gemv_kp(NR, h, K, x, x_cs, w, acc))
#define gemv_k8(h, K, x, x_cs, w, acc) gemv_kp(NT, h, K, x, x_cs, w, acc)
#define GV_STREAMS 1
#endif

/* rb <= RB rows of a full panel (a constant rb per call of gemv_k32, so each is its own unrolled loop) */
static inline __attribute__((always_inline)) void gemv_rows32(int64_t rb, const int h, int64_t K, const float *x,
                                                              int64_t x_rs, int64_t x_cs, const void *w, float *acc) {
  switch (rb) {
#if RB >= 4
    case 4: gemv_k32(4, h, K, x, x_rs, x_cs, w, acc); return;
    case 3: gemv_k32(3, h, K, x, x_rs, x_cs, w, acc); return;
#endif
#if RB >= 2
    case 2: gemv_k32(2, h, K, x, x_rs, x_cs, w, acc); return;
#endif
    default: gemv_k32(1, h, K, x, x_rs, x_cs, w, acc); return;
  }
}

static inline float gemv_clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

/* y[j] = act(acc[j] + bias[j * bias_s] + R[j]), j < cnt: the GEMM/conv kernels' epilogue, in the same order; one
 * loop per case (no branch per element: each vectorises, which matters when K is short) */
#define GEMV_ACT_LOOP(expr)                                                                                       \
  for (int64_t j = 0; j < cnt; ++j) {                                                                             \
    const float v = acc[j];                                                                                       \
    y[j] = (expr);                                                                                                \
  }
static inline __attribute__((always_inline)) void gemv_store(int64_t cnt, float *restrict acc, const float *bias, int64_t bias_s, const float *R,
                       int64_t act, float a, float b, float *restrict y) {
  if (bias && bias_s == 1)
    for (int64_t j = 0; j < cnt; ++j) acc[j] += bias[j];
  else if (bias)
    for (int64_t j = 0; j < cnt; ++j) acc[j] += bias[j * bias_s];
  if (R)
    for (int64_t j = 0; j < cnt; ++j) acc[j] += R[j];
  switch (act) {
    case SDK_ACT_RELU: GEMV_ACT_LOOP(v > 0.0f ? v : 0.0f); break;
    case SDK_ACT_CLIP: GEMV_ACT_LOOP(v < a ? a : (v > b ? b : v)); break;
    case SDK_ACT_HARDSIGMOID: GEMV_ACT_LOOP(gemv_clamp01(a * v + b)); break;
    case SDK_ACT_HARDSWISH: GEMV_ACT_LOOP(v * gemv_clamp01(v * (1.0f / 6.0f) + 0.5f)); break;
    case SDK_ACT_SIGMOID: GEMV_ACT_LOOP(sdk_sigmoidf(v)); break;
    case SDK_ACT_SILU: GEMV_ACT_LOOP(sdk_siluf(v)); break;
    case SDK_ACT_LEAKYRELU: GEMV_ACT_LOOP(v < 0.0f ? v * a : v); break;
    case SDK_ACT_GELU: GEMV_ACT_LOOP(sdk_geluf(v)); break;
    case SDK_ACT_GELU_TANH: GEMV_ACT_LOOP(sdk_gelu_tanhf(v)); break;
    default: GEMV_ACT_LOOP(v); break;
  }
}
#undef GEMV_ACT_LOOP

/* panel p (full panels first, then the tail panels), every row of X; Wp float32 (h = 0) or float16 (h = 1) */
static inline __attribute__((always_inline)) void gemv_panel(const int h, int64_t p, int64_t rows, int64_t N,
                                                             int64_t K, const float *X, int64_t x_rs, int64_t x_cs,
                                                             const void *Wp, const float *bias, int64_t bias_s,
                                                             const float *R, int64_t act, float act_a, float act_b,
                                                             float *Y) {
  const int64_t nfull = N / NR;
  const int64_t n0 = p < nfull ? p * NR : nfull * NR + (p - nfull) * NT;
  const int64_t width = p < nfull ? NR : NT, cnt = N - n0 < width ? N - n0 : width;
  /* every panel before this one holds its width x K weights */
  const void *w = h ? (const void *)((const uint16_t *)Wp + n0 * K) : (const void *)((const float *)Wp + n0 * K);
  float acc[RB * NR];
  for (int64_t r = 0; r < rows;) {
    const int64_t rb = width == NR ? (rows - r < RB ? rows - r : RB) : 1; /* tail panels: one row at a time */
    if (width == NR)
      gemv_rows32(rb, h, K, X + r * x_rs, x_rs, x_cs, w, acc);
    else
      gemv_k8(h, K, X + r * x_rs, x_cs, w, acc);
    for (int64_t i = 0; i < rb; ++i, ++r)
      gemv_store(cnt, acc + i * NR, bias ? bias + n0 * bias_s : 0, bias_s, R ? R + r * N + n0 : 0, act, act_a,
                 act_b, Y + r * N + n0);
  }
}

/* GV_STREAMS panels from panel p (fewer at the end): one row over full panels as streams side by side
 * (gemv_k32_streams), otherwise panel after panel; Wp float32 (h = 0) or float16 (h = 1) */
static inline __attribute__((always_inline)) void gemv_unit(const int h, int64_t p, int64_t rows, int64_t N,
                                                            int64_t K, const float *X, int64_t x_rs, int64_t x_cs,
                                                            const void *Wp, const float *bias, int64_t bias_s,
                                                            const float *R, int64_t act, float act_a, float act_b,
                                                            float *Y) {
  const int64_t panels = N / NR + (N % NR + NT - 1) / NT;
#if GV_STREAMS > 1
  if (rows == 1 && p + GV_STREAMS <= N / NR) {
    const int64_t n0 = p * NR;
    float acc[GV_STREAMS * NR];
    const void *w = h ? (const void *)((const uint16_t *)Wp + n0 * K) : (const void *)((const float *)Wp + n0 * K);
    gemv_k32_streams(h, K, X, x_cs, w, acc);
    gemv_store(GV_STREAMS * NR, acc, bias ? bias + n0 * bias_s : 0, bias_s, R ? R + n0 : 0, act, act_a, act_b,
               Y + n0);
    return;
  }
#endif
  for (int64_t q = p; q < p + GV_STREAMS && q < panels; ++q)
    gemv_panel(h, q, rows, N, K, X, x_rs, x_cs, Wp, bias, bias_s, R, act, act_a, act_b, Y);
}

static void gemv_unit_f32(int64_t p, int64_t rows, int64_t N, int64_t K, const float *X, int64_t x_rs, int64_t x_cs,
                          const void *Wp, const float *bias, int64_t bias_s, const float *R, int64_t act,
                          float act_a, float act_b, float *Y) {
  gemv_unit(0, p, rows, N, K, X, x_rs, x_cs, Wp, bias, bias_s, R, act, act_a, act_b, Y);
}

static void gemv_unit_f16(int64_t p, int64_t rows, int64_t N, int64_t K, const float *X, int64_t x_rs, int64_t x_cs,
                          const void *Wp, const float *bias, int64_t bias_s, const float *R, int64_t act,
                          float act_a, float act_b, float *Y) {
  gemv_unit(1, p, rows, N, K, X, x_rs, x_cs, Wp, bias, bias_s, R, act, act_a, act_b, Y);
}

typedef void (*gemv_unit_fn)(int64_t, int64_t, int64_t, int64_t, const float *, int64_t, int64_t, const void *,
                             const float *, int64_t, const float *, int64_t, float, float, float *);

/* the panels in units of GV_STREAMS (threads: units split across them) */
static void gemv_run(gemv_unit_fn unit, int64_t rows, int64_t N, int64_t K, const float *X, int64_t x_rs,
                     int64_t x_cs, const void *Wp, const float *bias, int64_t bias_s, const float *R, int64_t act,
                     float act_a, float act_b, float *Y) {
  const int64_t panels = N / NR + (N % NR + NT - 1) / NT, units = (panels + GV_STREAMS - 1) / GV_STREAMS;
#if defined(_OPENMP)
  if (rows * N * K >= SDK_PAR_MIN_WORK && omp_get_max_threads() > 1) { /* below: no parallel region at all */
    SDK_OMP(parallel for schedule(static))
    for (int64_t u = 0; u < units; ++u)
      unit(u * GV_STREAMS, rows, N, K, X, x_rs, x_cs, Wp, bias, bias_s, R, act, act_a, act_b, Y);
    return;
  }
#endif
  for (int64_t u = 0; u < units; ++u)
    unit(u * GV_STREAMS, rows, N, K, X, x_rs, x_cs, Wp, bias, bias_s, R, act, act_a, act_b, Y);
}

void sdk_gemv_f32(int64_t rows, int64_t N, int64_t K, const float *X, int64_t x_rs, int64_t x_cs, const float *Wp,
                  const float *bias, int64_t bias_s, const float *R, int64_t act, float act_a, float act_b,
                  float *Y) {
  gemv_run(gemv_unit_f32, rows, N, K, X, x_rs, x_cs, Wp, bias, bias_s, R, act, act_a, act_b, Y);
}

void sdk_gemv_f16w_f32(int64_t rows, int64_t N, int64_t K, const float *X, int64_t x_rs, int64_t x_cs,
                       const uint16_t *Wp, const float *bias, int64_t bias_s, const float *R, int64_t act, float act_a,
                       float act_b, float *Y) {
  gemv_run(gemv_unit_f16, rows, N, K, X, x_rs, x_cs, Wp, bias, bias_s, R, act, act_a, act_b, Y);
}

/* ---- sdk_gemm_smallm_f32: a few rows times a run-time operand (sdk_gemv.h) ---- */

/* y[n] = alpha * sum_k a[k * a_cs] * b[k * b_rs + n], n < N: B's rows contiguous (probabilities times V). Blocks
 * of 4 vectors of outputs accumulate in registers over all of k (4 independent multiply-add chains). */
static void smallm_rows(int64_t N, int64_t K, const float *a, int64_t a_cs, const float *b, int64_t b_rs,
                        float alpha, float *y) {
  int64_t n = 0;
#if defined(__GNUC__) && !defined(SDK_GEMV_SCALAR)
  for (; n + 4 * GV_LANES <= N; n += 4 * GV_LANES) {
    sdk_gv c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
    const float *bk = b + n;
    for (int64_t k = 0; k < K; ++k, bk += b_rs) {
      const float ak = a[k * a_cs];
      c0 += ak * GV_LD(bk);
      c1 += ak * GV_LD(bk + GV_LANES);
      c2 += ak * GV_LD(bk + 2 * GV_LANES);
      c3 += ak * GV_LD(bk + 3 * GV_LANES);
    }
    *(sdk_gv *)(void *)(y + n) = alpha * c0;
    *(sdk_gv *)(void *)(y + n + GV_LANES) = alpha * c1;
    *(sdk_gv *)(void *)(y + n + 2 * GV_LANES) = alpha * c2;
    *(sdk_gv *)(void *)(y + n + 3 * GV_LANES) = alpha * c3;
  }
  for (; n + GV_LANES <= N; n += GV_LANES) {
    sdk_gv c0 = {0};
    const float *bk = b + n;
    for (int64_t k = 0; k < K; ++k, bk += b_rs) c0 += a[k * a_cs] * GV_LD(bk);
    *(sdk_gv *)(void *)(y + n) = alpha * c0;
  }
#endif
  for (; n < N; ++n) {
    float s = 0.0f;
    for (int64_t k = 0; k < K; ++k) s += a[k * a_cs] * b[k * b_rs + n];
    y[n] = alpha * s;
  }
}

#if defined(__GNUC__) && !defined(SDK_GEMV_SCALAR)
#if defined(__clang__) || __GNUC__ >= 12 /* __builtin_shufflevector */
#define SMALLM_SHUFFLE 1
typedef float sdk_gv8 __attribute__((vector_size(32)));
/* v's lanes folded to 4 (halves added) */
static inline __attribute__((always_inline)) sdk_gv4 smallm_fold4(sdk_gv v) {
#if GV_LANES == 16
  const sdk_gv8 h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                    __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  return __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
#elif GV_LANES == 8
  return __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
#else
  return v;
#endif
}
/* [sum of s0's lanes, s1's, s2's, s3's]: each folded to 4 lanes, then a 4 x 4 transpose-add (a few shuffles for
 * four sums instead of four chains of GV_LANES dependent scalar adds) */
static inline __attribute__((always_inline)) sdk_gv4 smallm_hsum4(sdk_gv s0, sdk_gv s1, sdk_gv s2, sdk_gv s3) {
  const sdk_gv4 a = smallm_fold4(s0), b = smallm_fold4(s1), c = smallm_fold4(s2), d = smallm_fold4(s3);
  const sdk_gv4 p = __builtin_shufflevector(a, b, 0, 4, 1, 5) + __builtin_shufflevector(a, b, 2, 6, 3, 7);
  const sdk_gv4 q = __builtin_shufflevector(c, d, 0, 4, 1, 5) + __builtin_shufflevector(c, d, 2, 6, 3, 7);
  return __builtin_shufflevector(p, q, 0, 1, 4, 5) + __builtin_shufflevector(p, q, 2, 3, 6, 7);
}
#else
static inline float smallm_hsum(sdk_gv v) {
  float s = 0.0f;
  for (int j = 0; j < GV_LANES; ++j) s += v[j];
  return s;
}
#endif
#endif

/* y[n] = alpha * sum_k a[k] * b[n * b_cs + k], n < N: each n a contiguous dot product over k (scores = q K^T with
 * K stored [n, k]); four n at a time share each load of a. */
static void smallm_dots(int64_t N, int64_t K, const float *a, const float *b, int64_t b_cs, float alpha, float *y) {
  int64_t n = 0;
#if defined(__GNUC__) && !defined(SDK_GEMV_SCALAR)
  const int64_t kv = K / GV_LANES * GV_LANES;
  for (; n + 4 <= N; n += 4) {
    const float *b0 = b + n * b_cs, *b1 = b0 + b_cs, *b2 = b1 + b_cs, *b3 = b2 + b_cs;
    sdk_gv s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    for (int64_t k = 0; k < kv; k += GV_LANES) {
      const sdk_gv av = GV_LD(a + k);
      s0 += av * GV_LD(b0 + k);
      s1 += av * GV_LD(b1 + k);
      s2 += av * GV_LD(b2 + k);
      s3 += av * GV_LD(b3 + k);
    }
#if defined(SMALLM_SHUFFLE)
    const sdk_gv4 t = smallm_hsum4(s0, s1, s2, s3);
    float t0 = t[0], t1 = t[1], t2 = t[2], t3 = t[3];
#else
    float t0 = smallm_hsum(s0), t1 = smallm_hsum(s1), t2 = smallm_hsum(s2), t3 = smallm_hsum(s3);
#endif
    for (int64_t k = kv; k < K; ++k) {
      t0 += a[k] * b0[k];
      t1 += a[k] * b1[k];
      t2 += a[k] * b2[k];
      t3 += a[k] * b3[k];
    }
    y[n] = alpha * t0;
    y[n + 1] = alpha * t1;
    y[n + 2] = alpha * t2;
    y[n + 3] = alpha * t3;
  }
#endif
  for (; n < N; ++n) {
    const float *bn = b + n * b_cs;
    float s = 0.0f;
    for (int64_t k = 0; k < K; ++k) s += a[k] * bn[k];
    y[n] = alpha * s;
  }
}

void sdk_gemm_smallm_f32(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t a_bs,
                         int64_t a_rs, int64_t a_cs, const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
                         float *Y) {
  for (int64_t t = 0; t < batch; ++t)
    for (int64_t m = 0; m < M; ++m) {
      const float *a = A + t * a_bs + m * a_rs, *b = B + t * b_bs;
      float *y = Y + (t * M + m) * N;
      if (b_cs == 1)
        smallm_rows(N, K, a, a_cs, b, b_rs, alpha, y);
      else if (b_rs == 1 && a_cs == 1)
        smallm_dots(N, K, a, b, b_cs, alpha, y);
      else
        for (int64_t n = 0; n < N; ++n) {
          float s = 0.0f;
          for (int64_t k = 0; k < K; ++k) s += a[k * a_cs] * b[k * b_rs + n * b_cs];
          y[n] = alpha * s;
        }
    }
}

/* ---- sdk_kv_append_f32: the key/value cache grown by one row in place (sdk_gemv.h) ---- */
void sdk_kv_append_f32(int64_t B, int64_t H, int64_t P, int64_t D, int64_t cap, const float *past,
                       const int64_t *parent, const float *Xn, int64_t x_bs, int64_t x_hs, float *present) {
  for (int64_t b = B - 1; b >= 0; --b) { /* last block first: in place, a block read by a later one is still old */
    int64_t src = parent ? (parent[b] < 0 ? parent[b] + B : parent[b]) : b;
    src = src < 0 ? 0 : (src > B - 1 ? B - 1 : src);
    for (int64_t h = 0; h < H; ++h) {
      float *dst = present + (b * H + h) * cap * D;
      const float *from = past + (src * H + h) * cap * D, *x = Xn + b * x_bs + h * x_hs;
      if (from != dst) /* a reordered beam, or a copy into the other buffer: its P rows are contiguous */
        memmove(dst, from, sizeof(float) * (size_t)(P * D));
      for (int64_t d = 0; d < D; ++d) dst[P * D + d] = x[d];
    }
  }
}
