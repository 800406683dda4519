/* float16 and bfloat16 storage: conversions to and from float32, rounding to nearest even
 * (as onnxruntime and numpy do). Generated code keeps 16-bit values in memory and computes in
 * float32. C99, header-only, no libm. */
#ifndef SDK_HALF_H
#define SDK_HALF_H

#include <stdint.h>

typedef union { uint32_t u; float f; } sdk_f32_bits;

/* always inlined where the compiler allows it (see sdk_math.h: a large unit stops plain inlining) */
#if defined(__GNUC__)
#define SDK_HALF_FN static inline __attribute__((always_inline))
#else
#define SDK_HALF_FN static inline
#endif
SDK_HALF_FN float sdk_f16_to_f32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  sdk_f32_bits b;
  if (exp == 0) { /* zero or subnormal: mant * 2^-24, exact in float32 */
    b.f = (float)mant * 5.9604644775390625e-8f;
    b.u |= sign;
  } else if (exp == 31) { /* inf or NaN (payload kept) */
    b.u = sign | 0x7f800000u | (mant << 13);
  } else {
    b.u = sign | ((exp + 112u) << 23) | (mant << 13);
  }
  return b.f;
}

SDK_HALF_FN uint16_t sdk_f32_to_f16(float f) {
  sdk_f32_bits b;
  b.f = f;
  const uint32_t sign = (b.u >> 16) & 0x8000u, ax = b.u & 0x7fffffffu;
  if (ax >= 0x7f800000u) /* inf, or NaN made quiet */
    return (uint16_t)(sign | (ax > 0x7f800000u ? 0x7e00u | ((ax >> 13) & 0x3ffu) : 0x7c00u));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 rounds to inf */
  if (ax < 0x38800000u) { /* below 2^-14: a subnormal half (or zero) */
    if (ax < 0x33000000u) return (uint16_t)sign; /* below 2^-25 rounds to zero */
    const uint32_t shift = 126u - (ax >> 23), m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (q & 1u))) ++q;
    return (uint16_t)(sign | q);
  }
  const uint32_t r = ax - 0x38000000u; /* rebias 127 -> 15 */
  return (uint16_t)(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
}

SDK_HALF_FN float sdk_bf16_to_f32(uint16_t h) {
  sdk_f32_bits b;
  b.u = (uint32_t)h << 16;
  return b.f;
}

SDK_HALF_FN uint16_t sdk_f32_to_bf16(float f) {
  sdk_f32_bits b;
  b.f = f;
  if ((b.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((b.u >> 16) | 0x40u); /* quiet NaN */
  return (uint16_t)((b.u + 0x7fffu + ((b.u >> 16) & 1u)) >> 16);
}

/* A float32 value rounded to the nearest float16 / bfloat16 (a Cast inside a fused expression). */
SDK_HALF_FN float sdk_f16_round(float f) { return sdk_f16_to_f32(sdk_f32_to_f16(f)); }
SDK_HALF_FN float sdk_bf16_round(float f) { return sdk_bf16_to_f32(sdk_f32_to_bf16(f)); }

#endif
