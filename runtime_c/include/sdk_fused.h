/* Fused inverted-residual kernels (sdk/transform/fuse_dw_project.py): a depthwise convolution and the pointwise
 * projection that reads its result, computed band by band so the wide intermediate never goes to memory.
 * C99 (GCC/clang vector extensions where available), no state, no malloc: the scratch comes from the arena plan. */
#ifndef SDK_FUSED_H
#define SDK_FUSED_H

#include <stdint.h>

#include "sdk_kernel_defs.h" /* SDK_OMP, SDK_PAR_MIN_WORK, the SDK_ACT_* codes */

#define SDK_DWPW_PAD 16 /* the packed projection weight's columns are padded to a multiple of this (sdk/ops/fused.py) */

/* Y[n, oh, ow, m] = act(sum_c D[n, oh, ow, c] * B[c, m] + bp[m] + R[n, oh, ow, m]), where
 * D = dw_act(depthwise KH x KW conv of X [N, H, W, C] (stride SH / SW, padding PH / PW at the top / left, dilation 1)
 *            with taps Wd [KH * KW, C] and bias bd[c]) is the depthwise result [N, OH, OW, C].
 * B is packed [C, Mp] (Mp: M rounded up to SDK_DWPW_PAD, zero columns), bp [Mp] (bd, bp, R may be NULL).
 * D is never stored whole: BH output rows (of all C channels) at a time go to a scratch slot of BH * OW * C floats
 * and are multiplied by B at once, while they are in cache. `slots` scratch slots (scratch holds slots * BH * OW * C
 * floats): up to that many threads take contiguous ranges of bands, each with its own slot. The sums: the depthwise
 * one the bias then the taps in (kh, kw) order; the projection's over c in order, then + bias, + R, act. */
void sdk_dwpw_nhwc_f32(int64_t N, int64_t H, int64_t W, int64_t C, int64_t OH, int64_t OW, int64_t KH, int64_t KW,
                       int64_t SH, int64_t SW, int64_t PH, int64_t PW, const float *X, const float *Wd,
                       const float *bd, int64_t dw_act, float dw_a, float dw_b, int64_t M, int64_t Mp,
                       const float *B, const float *bp, int64_t BH, int64_t slots, const float *R, int64_t act,
                       float act_a, float act_b, float *Y, float *scratch);

/* Y[n, oh, ow, c] = act(depthwise KH x KW conv of E (stride SH / SW, padding PH / PW at the top / left, dilation 1,
 * taps Wd [KH * KW, C], bias bd[c]) + R[n, oh, ow, c]), where E = e_act(X B + be) [N, H, W, C] is the expansion
 * (1x1 convolution) of X [N, H, W, K], B packed [K, Cp] (Cp: C rounded up to SDK_DWPW_PAD, zero columns), be [Cp].
 * E is never stored whole: the expanded rows of BH output rows at a time go to a scratch slot of
 * ((BH - 1) * SH + KH) * W * C floats (scratch holds `slots` of them; up to that many threads take contiguous ranges
 * of bands). The sums: the expansion's over k in order, then + be, e_act; the depthwise one the bias then the taps
 * in (kh, kw) order. bd, be, R may be NULL. */
void sdk_pwdw_nhwc_f32(int64_t N, int64_t H, int64_t W, int64_t K, int64_t C, int64_t Cp, const float *X,
                       const float *B, const float *be, int64_t e_act, float e_a, float e_b, int64_t OH, int64_t OW,
                       int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, const float *Wd,
                       const float *bd, int64_t BH, int64_t slots, const float *R, int64_t act, float act_a,
                       float act_b, float *Y, float *scratch);

#endif
