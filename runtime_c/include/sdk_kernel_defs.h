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

#endif
