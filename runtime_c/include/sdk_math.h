/* Branch-free math that compilers vectorise (libm's expf/erff/exp are
 * scalar calls). C99, header-only. Accuracy: sdk_expf ~2 ulp on its range,
 * sdk_erff ~3.5e-7 absolute, ~4e-6 relative on normal floats (a rational form),
 * sdk_exp_f64 ~2 ulp (double). */
#ifndef SDK_MATH_H
#define SDK_MATH_H

#include <math.h>
#include <stdint.h>

#include "sdk_kernel_defs.h" /* the SDK_ACT_* codes (sdk_actf) */

/* Always inlined where the compiler allows it: in a large translation unit (a model's generated kernels) gcc stops
 * inlining plain `static inline` functions once the unit has grown past its limits, and an element-wise loop that
 * calls sdk_erff out of line runs scalar (ConvNeXt-T's GELU kernels took 20x longer that way). */
#if defined(__GNUC__)
#define SDK_MATH_FN static inline __attribute__((always_inline))
#else
#define SDK_MATH_FN static inline
#endif

SDK_MATH_FN float sdk_expf(float x) {
  /* exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 (Cody-Waite split) */
  const float xc = x < -87.0f ? -87.0f : (x > 88.72283f ? 88.72283f : x);
  /* round to nearest with the 1.5*2^23 trick: floorf and memcpy keep gcc from vectorising */
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { int32_t i; float f; } scale; /* 2^(n-1): n may be 128 */
  scale.i = ((int32_t)n + 126) << 23;
  p = p * scale.f * 2.0f;
  p = x > 88.72283f ? INFINITY : p;
  p = x < -87.0f ? 0.0f : p;
  return x != x ? x : p;
}

/* exp(x) for x <= 0 or NaN (softmax's x - max): sdk_expf's polynomial without its overflow side, the scale 2^n
   built in one step (n >= -126 here). Over the [1182 x 197] scores of ViT-S's attention its loop ran 0.70x the time
   of sdk_expf's (AVX-512, one thread); same values but near the underflow end (x < -86), where sdk_expf's 2^(n-1)
   is subnormal. */
SDK_MATH_FN float sdk_expf_nonpos(float x) {
  const float xc = x < -87.0f ? -87.0f : x;
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { int32_t i; float f; } scale; /* 2^n */
  scale.i = ((int32_t)n + 127) << 23;
  p = p * scale.f;
  p = x < -87.0f ? 0.0f : p;
  return x != x ? x : p;
}

/* double exp (the beam search's log-sum-exp over the vocabulary: libm's exp per candidate was most of a beam
   step). Same scheme as sdk_expf: n = round(x / ln 2) by the 1.5*2^52 trick, whose low bits are then n itself,
   r = x - n ln 2 in two parts (|r| <= 0.35), e^r by its Taylor series to r^13 (truncation < 1e-17). */
SDK_MATH_FN double sdk_exp_f64(double x) {
  const double xc = x < -708.0 ? -708.0 : (x > 709.782712893384 ? 709.782712893384 : x);
  const double kd = xc * 1.4426950408889634074 + 6755399441055744.0;
  const double n = kd - 6755399441055744.0;
  const double r = (xc - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r * r + r + 1.0;
  union { double d; uint64_t u; } k, scale; /* kd's bits are 0x4338000000000000 + n; 2^(n-1) = (n + 1022) << 52 */
  k.d = kd;
  scale.u = (k.u + 1022u) << 52; /* 2^(n-1): n may be 1024 */
  p = p * scale.d * 2.0;
  p = x > 709.782712893384 ? INFINITY : p;
  p = x < -708.0 ? 0.0 : p;
  return x != x ? x : p;
}

SDK_MATH_FN float sdk_tanhf(float x) {
  /* |x| small: odd Taylor series (no cancellation); else 1 - 2/(exp(2|x|) + 1) */
  const float a = x < 0.0f ? -x : x, x2 = x * x;
  const float small = x * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * -0.053968254f)));
  const float e = sdk_expf(2.0f * a);
  float big = 1.0f - 2.0f / (e + 1.0f);
  big = x < 0.0f ? -big : big;
  return x != x ? x : (a < 0.0625f ? small : big);
}

SDK_MATH_FN float sdk_erff(float x) {
  /* erf(x) = x P(x^2) / Q(x^2) on [-4, 4] (a rational minimax form, as Eigen's and XLA's float erf; beyond 4,
     erf is 1 in float): one division and twelve multiply-adds, no exp. Against the Abramowitz & Stegun form with
     sdk_expf it was 2.1x faster in a vectorised GELU loop (AVX-512), and it keeps its relative accuracy near 0
     (that form computed 1 - (1 - erf) there). |r| is clamped to 1: the quotient may round just above it. */
  const float a = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
  const float x2 = a * a;
  float p = x2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
  p = x2 * p + -2.10102402082508e-06f;
  p = x2 * p + -5.69250639462346e-05f;
  p = x2 * p + -7.34990630326855e-04f;
  p = x2 * p + -2.95459980854025e-03f;
  p = x2 * p + -1.60960333262415e-02f;
  float q = x2 * -1.45660718464996e-05f + -2.13374055278905e-04f;
  q = x2 * q + -1.68282697438203e-03f;
  q = x2 * q + -7.37332916720468e-03f;
  q = x2 * q + -1.42647390514189e-02f;
  const float r = a * p / q;
  return r > 1.0f ? 1.0f : (r < -1.0f ? -1.0f : r);
}

/* The exact GELU, x / 2 (1 + erf(x / sqrt 2)), as the Gelu op's lowering (sdk/ops/elementwise.py: a call of this) and
   the fused epilogues of GEMM / convolution kernels (SDK_ACT_GELU; sdk/tune/kernels.py _vgelu: the same operations
   lane by lane) compute it. sdk_erff's rational form folded into GELU: with h = x / 2 clamped to [-2 sqrt 2, 2 sqrt 2]
   (erf's [-4, 4]) and t = h^2, erf(x / sqrt 2) = h P(t) / Q(t) (sdk_erff's coefficients times sqrt 2 * 2^k and 2^k),
   so 1 + erf = (Q + h P) / Q = s / Q and GELU = x / 2 * (s / Q): 18 vector operations (one multiply-add for s, one
   divide) instead of sdk_erff's 21 with the products around it; the GEMM tiles with K = 96 spent ~25 % of their
   work in it (ConvNeXt-T, bench/RESULTS_zoo.md tx49 / tx50). At the clamp the quotient is just above 1: s <= -0
   (s and Q are negative; min with -0) makes 1 + erf exactly 0 below -4 sqrt 2 (-0 out, as x / 2 * 0), and there
   s rounds to 2 Q (x out exactly above 4 sqrt 2), with fused multiply-adds or without. A NaN stays NaN (the compares
   are false), GELU(-inf) is NaN as x / 2 * 0 was, -0 gives -0. Against float64 over every 97th float of [-10, 10]
   (host flags): below 0 the absolute error is 10-20 % smaller than the former form's (sdk_erff inside
   0.5 x (1 + r)) in every range, the cancellation of 1 + erf now inside one multiply-add; above 0 both are ~2-3.5
   ulps (tests/e2e/test_gelu_forms.py). */
SDK_MATH_FN float sdk_geluf(float x) {
  const float h = 0.5f * x;
  float a = h < -2.82842612f ? -2.82842612f : h;
  a = a > 2.82842612f ? 2.82842612f : a;
  const float t = a * a;
  float p = t * -2.467422355e-08f + 1.253867254e-06f;
  p = t * p + -4.754074689e-05f;
  p = t * p + -6.440336001e-04f;
  p = t * p + -4.157735035e-03f;
  p = t * p + -8.356870152e-03f;
  p = t * p + -2.276322804e-02f;
  float q = t * -2.330571442e-04f + -1.706992392e-03f;
  q = t * q + -6.731308065e-03f;
  q = t * q + -1.474665850e-02f;
  q = t * q + -1.426473912e-02f;
  float s = a * p + q;
  s = s > -0.0f ? -0.0f : s;
  return h * (s / q);
}
/* x / 2 (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), the Gelu op's lowering with approximate = "tanh", operation for
   operation (SDK_ACT_GELU_TANH) */
SDK_MATH_FN float sdk_gelu_tanhf(float x) {
  return 0.5f * x * (1.0f + sdk_tanhf(0.797884560802865356f * (x + 0.044715f * x * x * x)));
}

/* Sigmoid and SiLU divide by d = 1 + exp(-v) (>= 1, +inf or NaN): sdk_div1pf(x, d) is x / d for those d (sigmoid:
   x = 1, SiLU: x = v), the one definition the C paths use (the scalar and vector forms here, the runtime's kernels
   and arch variants, the generated C: sdk/transform/epilogue.py act_c and sdk/tune/kernels.py's tiles; the LLVM IR,
   sdk/codegen/llvm_kernels.py act_ir, and the Sigmoid op's tir divide as the default form does).
   SDK_SIGMOID_RECIP 1 (a compile switch, C only) multiplies by r ~ 1 / d instead, without a divide: an estimate
   from the bits of d (~5 %), one third-order step (~1.3e-4), one Newton step (~1.7e-8; <= 7.7e-8 relative with
   multiply-adds over every float in [1, 4)); d > 2^125 gives r = 0, so NaN stays NaN, sigmoid(-inf) is 0 and
   SiLU(-inf) NaN as with the division. It is off: on the AVX-512 Xeon the divide hides behind the exp's 512-bit
   multiply-adds, and the reciprocal's ~8 operations in its place made EfficientNet-B0's SiLU steps 1.04-1.17x slower (sum of
   steps 1.062; rcp14 + one Newton step: ~1.08x in a loop; bench/RESULTS_zoo.md). Where a divide is slow, measure. */
#ifndef SDK_SIGMOID_RECIP
#define SDK_SIGMOID_RECIP 0
#endif
SDK_MATH_FN float sdk_div1pf(float x, float d) {
#if SDK_SIGMOID_RECIP
  union { float f; int32_t i; } u;
  u.f = d;
  u.i = 0x7EF311C3 - u.i;
  float r = u.f, e = 1.0f - d * r;
  r = r + r * (e + e * e);
  e = 1.0f - d * r;
  r = r + r * e;
  return x * (d > 0x1p125f ? 0.0f : r);
#else
  return x / d;
#endif
}
SDK_MATH_FN float sdk_sigmoidf(float v) { return sdk_div1pf(1.0f, 1.0f + sdk_expf(-v)); }
SDK_MATH_FN float sdk_siluf(float v) { return sdk_div1pf(v, 1.0f + sdk_expf(-v)); }
/* sdk_div1pf lane by lane on vectors (GCC/clang vector extensions): q = x / d for the float vector type V with int32
   lanes I, the same operations in the same order. A statement macro on lvalues (a vector passed by value warns,
   -Wpsabi, in builds without the vector ISA: the generated tiles use it too). */
#if SDK_SIGMOID_RECIP
#define SDK_VDIV1P(q, x, d, V, I)                                                                                \
  do {                                                                                                           \
    const V d1p_ = (d);                                                                                          \
    V r1p_ = (V)(((I){0} + 0x7EF311C3) - (I)d1p_), e1p_ = 1.0f - d1p_ * r1p_;                                    \
    r1p_ = r1p_ + r1p_ * (e1p_ + e1p_ * e1p_);                                                                   \
    e1p_ = 1.0f - d1p_ * r1p_;                                                                                   \
    r1p_ = r1p_ + r1p_ * e1p_;                                                                                   \
    (q) = (x) * SDK_VACT_SEL_(V, I, d1p_ > ((V){0} + 0x1p125f), (V){0}, r1p_);                                   \
  } while (0)
#else
#define SDK_VDIV1P(q, x, d, V, I) \
  do {                            \
    (q) = (x) / (d);              \
  } while (0)
#endif

/* One fused-epilogue activation (the SDK_ACT_* codes) on one value, with the expressions of sdk_epilogue_f32
   (sdk_kernels.c SDK_ACT_CASES), for the kernels that apply it value by value (Winograd, sparse, fused blocks) */
SDK_MATH_FN float sdk_actf(float v, int64_t act, float a, float b) {
  switch (act) {
    case SDK_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case SDK_ACT_CLIP: return v < a ? a : (v > b ? b : v);
    case SDK_ACT_HARDSIGMOID: {
      const float t = a * v + b;
      return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    }
    case SDK_ACT_HARDSWISH: {
      const float t = v * (1.0f / 6.0f) + 0.5f;
      return v * (t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t));
    }
    case SDK_ACT_SIGMOID: return sdk_sigmoidf(v);
    case SDK_ACT_SILU: return sdk_siluf(v);
    case SDK_ACT_LEAKYRELU: return v < 0.0f ? v * a : v;
    case SDK_ACT_GELU: return sdk_geluf(v);
    case SDK_ACT_GELU_TANH: return sdk_gelu_tanhf(v);
    default: return v;
  }
}

/* The piecewise-linear activations on whole vectors (GCC/clang vector extensions), for kernels that apply the
   epilogue in registers (sdk_kernels.c's depthwise kernels, sdk_fused.c's blocks): lane by lane the comparisons and
   values of sdk_actf (NaN and -0 included), each select a bitwise blend of the lane mask. sdk_vact_pl_has(act): the
   codes it computes (SDK_ACT_NONE too); the others are returned unchanged, for the caller to handle.
   SDK_DEFINE_VACT_PL(name, V, I) defines `static inline V name(V v, int64_t act, V a, V b)` for the float vector
   type V and its int32 lane-mask type I (a, b: the activation's parameters, broadcast). */
SDK_MATH_FN int sdk_vact_pl_has(int64_t act) {
  return act == SDK_ACT_NONE || act == SDK_ACT_RELU || act == SDK_ACT_CLIP || act == SDK_ACT_HARDSIGMOID ||
         act == SDK_ACT_HARDSWISH || act == SDK_ACT_LEAKYRELU;
}
#define SDK_VACT_SEL_(V, I, m, x, y) ((V)(((I)(x) & (m)) | ((I)(y) & ~(m))))
#define SDK_DEFINE_VACT_PL(name, V, I)                                                                           \
  static inline V name(V v, int64_t act, V a, V b) {                                                           \
    const V z = (V){0}, one = z + 1.0f;                                                                        \
    switch (act) {                                                                                             \
      case SDK_ACT_RELU: return SDK_VACT_SEL_(V, I, v > z, v, z);                                              \
      case SDK_ACT_CLIP: return SDK_VACT_SEL_(V, I, v < a, a, SDK_VACT_SEL_(V, I, v > b, b, v));               \
      case SDK_ACT_HARDSIGMOID: {                                                                              \
        const V t = a * v + b;                                                                                 \
        return SDK_VACT_SEL_(V, I, t < z, z, SDK_VACT_SEL_(V, I, t > one, one, t));                            \
      }                                                                                                        \
      case SDK_ACT_HARDSWISH: {                                                                                \
        const V t = v * (1.0f / 6.0f) + 0.5f;                                                                  \
        return v * SDK_VACT_SEL_(V, I, t < z, z, SDK_VACT_SEL_(V, I, t > one, one, t));                        \
      }                                                                                                        \
      case SDK_ACT_LEAKYRELU: return SDK_VACT_SEL_(V, I, v < z, v * a, v);                                     \
      default: return v;                                                                                       \
    }                                                                                                          \
  }

/* sdk_expf lane by lane on vectors (GCC/clang vector extensions), the same operations in the same order, so the same
   floats: SDK_DEFINE_VEXP_CORE(core, V) defines `static inline V core(V xc, V *n)`, the reduction and polynomial on an
   already clamped xc (*n = round(xc / ln 2); returns 1 + r + r^2 p(r) ~ exp(r), the caller scales it by 2^n), and
   SDK_DEFINE_VEXPF(name, core, V, I) `static inline V name(V x)`, the whole sdk_expf with that core (I: the int32
   lane-mask type of V). sdk_kernels.c's portable vector kernels and sdk_fused.c's blocks both take them from here. */
#define SDK_DEFINE_VEXP_CORE(core, V)                                                                            \
  static inline V core(V xc, V *n_out) {                                                                         \
    const V n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;                                        \
    const V r = xc - n * 0.693359375f + n * 2.12194440e-4f;                                                     \
    V p = (V){0} + 1.9875691500e-4f;                                                                             \
    p = p * r + 1.3981999507e-3f;                                                                                \
    p = p * r + 8.3334519073e-3f;                                                                                \
    p = p * r + 4.1665795894e-2f;                                                                                \
    p = p * r + 1.6666665459e-1f;                                                                                \
    p = p * r + 5.0000001201e-1f;                                                                                \
    *n_out = n;                                                                                                  \
    return p * r * r + r + 1.0f;                                                                                 \
  }
#define SDK_DEFINE_VEXPF(name, core, V, I)                                                                       \
  static inline V name(V x) {                                                                                    \
    const V lo = (V){0} + -87.0f, hi = (V){0} + 88.72283f;                                                       \
    V xc = SDK_VACT_SEL_(V, I, x < lo, lo, x);                                                                   \
    xc = SDK_VACT_SEL_(V, I, xc > hi, hi, xc);                                                                   \
    V n;                                                                                                         \
    V p = core(xc, &n);                                                                                          \
    const I e = (__builtin_convertvector(n, I) + 126) << 23; /* 2^(n-1): n may be 128 */                         \
    p = p * (V)e * 2.0f;                                                                                         \
    p = SDK_VACT_SEL_(V, I, x > hi, (V){0} + INFINITY, p);                                                       \
    p = SDK_VACT_SEL_(V, I, x < lo, (V){0}, p);                                                                  \
    return SDK_VACT_SEL_(V, I, x != x, x, p);                                                                    \
  }

#endif
