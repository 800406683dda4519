/* What every library kernel file shares (sdk_kernels.c, sdk_sparse.c, the scheduled kernels of <name>_tuned.h):
 * the thread macro and the activation codes of fused epilogues. Every bundle ships this header
 * (sdk/backends/project.py), so a bundle that calls only sparse kernels builds without sdk_kernels.h. */
#ifndef SDK_KERNEL_DEFS_H
#define SDK_KERNEL_DEFS_H

/* Threads: where the profile builds with OpenMP (-fopenmp: host, android-arm64-mt) the kernels split their output
 * rows, channels or GEMM tiles across threads once a call does SDK_PAR_MIN_WORK multiply-adds (or elements); each
 * output element is computed exactly as on one thread. Elsewhere (MCU, wasm) SDK_OMP is nothing: plain loops. */
#ifndef SDK_OMP
#if defined(_OPENMP)
#define SDK_PRAGMA_(x) _Pragma(#x)
#define SDK_OMP(x) SDK_PRAGMA_(omp x)
#else
#define SDK_OMP(x)
#endif
#endif
#ifndef SDK_PAR_MIN_WORK /* same value as sdk/codegen/parallel.py MIN_WORK */
#define SDK_PAR_MIN_WORK 131072
#endif

/* Fused epilogues: activation codes (the `act` argument of the kernels); a, b are its parameters
 * (sdk/transform/epilogue.py ACT_CODE). */
#define SDK_ACT_NONE 0
#define SDK_ACT_RELU 1        /* max(v, 0) */
#define SDK_ACT_CLIP 2        /* min(max(v, a), b) (ReLU6: a = 0, b = 6) */
#define SDK_ACT_HARDSIGMOID 3 /* max(0, min(1, a v + b)) */
#define SDK_ACT_HARDSWISH 4   /* v max(0, min(1, v / 6 + 1 / 2)) */
#define SDK_ACT_SIGMOID 5     /* 1 / (1 + exp(-v)) */
#define SDK_ACT_SILU 6        /* v / (1 + exp(-v)) */
#define SDK_ACT_LEAKYRELU 7   /* v < 0 ? a v : v */
/* GELU (sdk_math.h sdk_geluf, sdk_gelu_tanhf): the fuser folds a Gelu into a GEMM / convolution where the profile's
 * [lower] epilogue_gelu is on (host, CUDA) */
#define SDK_ACT_GELU 8        /* v (1 + erf(v / sqrt 2)) / 2 */
#define SDK_ACT_GELU_TANH 9   /* v (1 + tanh(sqrt(2 / pi) (v + 0.044715 v^3))) / 2 */

/* The sums of one strip of a depthwise convolution over an NHWC image (sdk_kernels.c's channel-vector bands and
 * sdk_fused.c's expansion + depthwise bands): P output pixels of a row, and of the next row where `two`, for the
 * channel vector at c; K x K taps at stride S. V / VI: the float and lane-mask vector types, LOAD an unaligned vector
 * load, UNROLL the loops' unroll pragma, VO: the 9 taps of a 3 x 3 are in registers (wr), O: the offset in X of
 * tap (0, 0) of the strip's first pixel (declared as o after jlo, jhi: that order keeps both callers' objects
 * byte-identical to the hand-repeated code). In scope: the enum constants P, NI = (P - 1) S + K, NRW = S + K,
 * E = K / 2; X, H, W, C, w ([K K][C] taps), wr, b (the bias vector), ih0, iw0, two. Declares the sums a0[P]
 * (first row), a1[P]. The first and last E columns may be padding: loaded from the nearest image column, then
 * masked. */
#define SDK_DW_STRIP_SUMS(V, VI, LOAD, UNROLL, K, S, VO, O)                                                  \
  const int64_t jlo = iw0 < 0 ? -iw0 : 0, jhi = W - iw0 < NI ? W - iw0 : NI;                                 \
  const int64_t o = O; /* X + o: tap (0, 0) of the strip's first pixel */                                    \
  VI mk[2 * E];                                                                                              \
  int64_t jc[2 * E];                                                                                         \
  UNROLL for (int e = 0; e < 2 * E; ++e) {                                                                   \
    const int64_t j = e < E ? e : NI - 2 * E + e;                                                            \
    mk[e] = (VI){0} + (j >= jlo && j < jhi ? -1 : 0);                                                        \
    jc[e] = j < jlo ? jlo : (j >= jhi ? jhi - 1 : j);                                                        \
  }                                                                                                          \
  V a0[P], a1[P];                                                                                            \
  UNROLL for (int p = 0; p < P; ++p) a0[p] = a1[p] = b;                                                      \
  UNROLL for (int i = 0; i < NRW; ++i) { /* input row ih0 + i: kernel row i of the first output row, i - S of  \
                                            the second */                                                    \
    if (ih0 + i < 0 || ih0 + i >= H || (i >= (K) && !two)) continue;                                         \
    V in[NI];                                                                                                \
    UNROLL for (int j = 0; j < NI; ++j) {                                                                    \
      if (j < E || j >= NI - E) {                                                                            \
        const int e = j < E ? j : j - (NI - 2 * E);                                                          \
        in[j] = (V)((VI)LOAD(X + (o + (i * W + jc[e]) * C)) & mk[e]);                                        \
      } else {                                                                                               \
        in[j] = LOAD(X + (o + (i * W + j) * C));                                                             \
      }                                                                                                      \
    }                                                                                                        \
    if (i < (K))                                                                                             \
      UNROLL for (int kw = 0; kw < (K); ++kw) {                                                              \
        const V wk = (VO) ? wr[(i * (K) + kw) % 9] : LOAD(w + (i * (K) + kw) * C + c);                       \
        UNROLL for (int p = 0; p < P; ++p) a0[p] += wk * in[p * (S) + kw];                                   \
      }                                                                                                      \
    if (i >= (S))                                                                                            \
      UNROLL for (int kw = 0; kw < (K); ++kw) {                                                              \
        const int t = (i - (S)) * (K) + kw;                                                                  \
        const V wk = (VO) ? wr[t % 9] : LOAD(w + t * C + c);                                                 \
        UNROLL for (int p = 0; p < P; ++p) a1[p] += wk * in[p * (S) + kw];                                   \
      }                                                                                                      \
  }

#endif
