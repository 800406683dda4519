/* Batch-1 matrix-vector product over a weight packed at build time (sdk_gemv.h). The bound is reading the weight
 * once: each panel streams front to back while its outputs stay in vector registers, two k steps per iteration
 * into separate accumulators (enough independent multiply-add chains to keep loads, not latency, the limit). */
#include "sdk_gemv.h"
#include "sdk_math.h"
#if defined(_OPENMP)
#include <omp.h>
#endif

#define NR SDK_GEMV_NR
#define NT SDK_GEMV_NT

#if defined(__GNUC__) && !defined(SDK_GEMV_SCALAR)
/* GCC/clang vector extensions: AVX-512 / AVX2 / SSE, NEON or wasm SIMD, whatever the profile's flags enable
 * (unaligned loads: the packed weight needs no alignment) */
#if defined(__AVX512F__)
#define GV_LANES 16
#else
#define GV_LANES 8
#endif
typedef float sdk_gv __attribute__((vector_size(4 * GV_LANES), aligned(4), may_alias));
typedef float sdk_gv8 __attribute__((vector_size(32), aligned(4), may_alias));
#define GV_LD(p) (*(const sdk_gv *)(const void *)(p))
#define GV8_LD(p) (*(const sdk_gv8 *)(const void *)(p))
#define GV_SPLAT(x) ((sdk_gv){0} + (x))
#define GV8_SPLAT(x) ((sdk_gv8){0} + (x))

/* acc[0..32) = sum_k x[k * x_cs] * w[k * 32 + j] */
static void gemv_k32(int64_t K, const float *restrict x, int64_t x_cs, const float *restrict w, float *restrict acc) {
  sdk_gv a[NR / GV_LANES], b[NR / GV_LANES];
  for (int v = 0; v < NR / GV_LANES; ++v) a[v] = b[v] = GV_SPLAT(0.0f);
  int64_t k = 0;
  for (; k + 2 <= K; k += 2, w += 2 * NR) {
    const sdk_gv x0 = GV_SPLAT(x[k * x_cs]), x1 = GV_SPLAT(x[(k + 1) * x_cs]);
    for (int v = 0; v < NR / GV_LANES; ++v) {
      a[v] += x0 * GV_LD(w + v * GV_LANES);
      b[v] += x1 * GV_LD(w + NR + v * GV_LANES);
    }
  }
  if (k < K) {
    const sdk_gv x0 = GV_SPLAT(x[k * x_cs]);
    for (int v = 0; v < NR / GV_LANES; ++v) a[v] += x0 * GV_LD(w + v * GV_LANES);
  }
  for (int v = 0; v < NR / GV_LANES; ++v) {
    const sdk_gv s = a[v] + b[v];
    for (int j = 0; j < GV_LANES; ++j) acc[v * GV_LANES + j] = s[j];
  }
}

/* acc[0..8) for a tail panel of 8 outputs */
static void gemv_k8(int64_t K, const float *restrict x, int64_t x_cs, const float *restrict w, float *restrict acc) {
  sdk_gv8 a0 = GV8_SPLAT(0.0f), a1 = a0, a2 = a0, a3 = a0;
  int64_t k = 0;
  for (; k + 4 <= K; k += 4, w += 4 * NT) {
    a0 += GV8_SPLAT(x[k * x_cs]) * GV8_LD(w);
    a1 += GV8_SPLAT(x[(k + 1) * x_cs]) * GV8_LD(w + NT);
    a2 += GV8_SPLAT(x[(k + 2) * x_cs]) * GV8_LD(w + 2 * NT);
    a3 += GV8_SPLAT(x[(k + 3) * x_cs]) * GV8_LD(w + 3 * NT);
  }
  for (; k < K; ++k, w += NT) a0 += GV8_SPLAT(x[k * x_cs]) * GV8_LD(w);
  const sdk_gv8 s = (a0 + a1) + (a2 + a3);
  for (int j = 0; j < NT; ++j) acc[j] = s[j];
}
#else
/* portable C: the same sums, one output column at a time per k (compilers may still vectorise the j loops) */
static void gemv_kp(int P, int64_t K, const float *x, int64_t x_cs, const float *w, float *acc) {
  for (int j = 0; j < P; ++j) acc[j] = 0.0f;
  for (int64_t k = 0; k < K; ++k, w += P) {
    const float xk = x[k * x_cs];
    for (int j = 0; j < P; ++j) acc[j] += xk * w[j];
  }
}
#define gemv_k32(K, x, x_cs, w, acc) gemv_kp(NR, K, x, x_cs, w, acc)
#define gemv_k8(K, x, x_cs, w, acc) gemv_kp(NT, K, x, x_cs, w, acc)
#endif

static inline float gemv_clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

/* y[j] = act(acc[j] + bias[j * bias_s] + R[j]), j < cnt: the GEMM/conv kernels' epilogue, in the same order; one
 * loop per case (no branch per element: each vectorises, which matters when K is short) */
#define GEMV_ACT_LOOP(expr)                                                                                       \
  for (int64_t j = 0; j < cnt; ++j) {                                                                             \
    const float v = acc[j];                                                                                       \
    y[j] = (expr);                                                                                                \
  }
static void gemv_store(int64_t cnt, float *restrict acc, const float *bias, int64_t bias_s, const float *R,
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
    case SDK_ACT_SIGMOID: GEMV_ACT_LOOP(1.0f / (1.0f + sdk_expf(-v))); break;
    case SDK_ACT_SILU: GEMV_ACT_LOOP(v / (1.0f + sdk_expf(-v))); break;
    case SDK_ACT_LEAKYRELU: GEMV_ACT_LOOP(v < 0.0f ? v * a : v); break;
    default: GEMV_ACT_LOOP(v); break;
  }
}
#undef GEMV_ACT_LOOP

/* panel p (full panels first, then the tail panels), every row of X */
static void gemv_panel(int64_t p, int64_t rows, int64_t N, int64_t K, const float *X, int64_t x_rs, int64_t x_cs,
                       const float *Wp, const float *bias, int64_t bias_s, const float *R, int64_t act, float act_a,
                       float act_b, float *Y) {
  const int64_t nfull = N / NR;
  const int64_t n0 = p < nfull ? p * NR : nfull * NR + (p - nfull) * NT;
  const int64_t width = p < nfull ? NR : NT, cnt = N - n0 < width ? N - n0 : width;
  const float *w = Wp + n0 * K; /* every panel before this one holds its width x K floats */
  float acc[NR];
  for (int64_t r = 0; r < rows; ++r) {
    if (width == NR)
      gemv_k32(K, X + r * x_rs, x_cs, w, acc);
    else
      gemv_k8(K, X + r * x_rs, x_cs, w, acc);
    gemv_store(cnt, acc, bias ? bias + n0 * bias_s : 0, bias_s, R ? R + r * N + n0 : 0, act, act_a, act_b,
               Y + r * N + n0);
  }
}

void sdk_gemv_f32(int64_t rows, int64_t N, int64_t K, const float *X, int64_t x_rs, int64_t x_cs, const float *Wp,
                  const float *bias, int64_t bias_s, const float *R, int64_t act, float act_a, float act_b,
                  float *Y) {
  const int64_t panels = N / NR + (N % NR + NT - 1) / NT;
#if defined(_OPENMP)
  if (rows * N * K >= SDK_PAR_MIN_WORK && omp_get_max_threads() > 1) { /* below: no parallel region at all */
    SDK_OMP(parallel for schedule(static))
    for (int64_t p = 0; p < panels; ++p)
      gemv_panel(p, rows, N, K, X, x_rs, x_cs, Wp, bias, bias_s, R, act, act_a, act_b, Y);
    return;
  }
#endif
  for (int64_t p = 0; p < panels; ++p)
    gemv_panel(p, rows, N, K, X, x_rs, x_cs, Wp, bias, bias_s, R, act, act_a, act_b, Y);
}
