/* Library kernels that generated code calls where a hand-written loop nest
 * beats a generic one (the Relax "call_lib" path). C99, no state, no malloc. */
#ifndef SDK_KERNELS_H
#define SDK_KERNELS_H

#include <stdint.h>

#include "sdk_kernel_defs.h" /* SDK_OMP, SDK_PAR_MIN_WORK, the SDK_ACT_* codes of fused epilogues */

/* Y[b,i,j] = alpha * sum_k A[b*a_bs + i*a_rs + k*a_cs] * B[b*b_bs + k*b_rs + j*b_cs]
 *          + beta * C[i*c_rs + j*c_cs]           (C may be NULL; Y is dense [batch,M,N]) */
void sdk_gemm_f32(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs,
                  const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
                  float beta, const float *C, int64_t c_rs, int64_t c_cs, float *Y);

/* The weight gradient of an NCHW convolution (groups, strides, pads (begin), dilations):
 * dW[m, c, kh, kw] = sum over n, oh, ow of dY[n, m, oh, ow] * X[n, group(m) * C/groups + c, oh*SH - PH + kh*DH,
 * ow*SW - PW + kw*DW] (taps outside X add nothing), plus beta * acc[m, c, kh, kw] when acc is not NULL (SGD's
 * momentum; acc may be dW itself: each element is read before it is written). As GEMMs: for each sample and
 * group, blocks of P output positions are gathered into an im2col panel col[P, K] (K = C/groups * KH * KW) and
 * sum_g[M/groups, K] += dY_g[M/groups, P] x col (sdk_gemm_f32 into prod, then added); scratch: col (P * K floats),
 * sum (M * K), prod (M/groups * K). */
void sdk_conv2d_grad_weight_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                                int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                                int64_t DH, int64_t DW, int64_t groups, int64_t P, const float *X,
                                const float *dY, const float *acc, float beta, float *dW, float *scratch);

/* NCHW convolution with groups, strides, pads (begin), dilations; bias may be NULL. */
void sdk_conv2d_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                    int64_t DH, int64_t DW, int64_t groups,
                    const float *X, const float *Wt, const float *bias, float *Y);

/* 2-D pooling, NCHW. mode 0: max; 1: average over the taps inside the input;
 * 2: average counting the explicit pads (count_include_pad). PH_END/PW_END: end pads. */
void sdk_pool2d_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t KH,
                    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW,
                    int64_t PH_END, int64_t PW_END, int64_t mode, const float *X, float *Y);

/* In place: Y[i] = act(Y[i] + R[i]) for i < n (R may be NULL). */
void sdk_epilogue_f32(int64_t n, float *Y, const float *R, int64_t act, float a, float b);

/* Softmax over the last axis: each of rows rows of cols floats, exp(x - max) * (1 / sum) (fp32 arithmetic).
 * Y may be X (in place: each element is read before it is written); otherwise the two must not overlap. */
void sdk_softmax_f32(int64_t rows, int64_t cols, const float *X, float *Y);

/* Attention, fused: for each batch b < B and head h < H, O[b, h] = softmax(scale * Q[b, h] K[b, h]^T + mask) V[b, h]
 * with Q [Sq, D], K [Sk, D], V [Sk, Dv], O [Sq, Dv] rows at the given strides (elements; the last axis is
 * contiguous): element (b, h, i, d) of Q is Q[b * q_bs + h * q_hs + i * q_rs + d], likewise K, V, O. mask: NULL or
 * an additive fp32 mask read at b * m_bs + h * m_hs + i * m_qs + j * m_ks (0 strides broadcast). causal: key j is
 * visible to query i only when j <= i + Sk - Sq. A row with no visible key is zeros. fp32 arithmetic. */
void sdk_attention_f32(int64_t B, int64_t H, int64_t Sq, int64_t Sk, int64_t D, int64_t Dv, float scale,
                       const float *Q, int64_t q_bs, int64_t q_hs, int64_t q_rs, const float *K, int64_t k_bs,
                       int64_t k_hs, int64_t k_rs, const float *V, int64_t v_bs, int64_t v_hs, int64_t v_rs,
                       const float *mask, int64_t m_bs, int64_t m_hs, int64_t m_qs, int64_t m_ks, int64_t causal,
                       float *O, int64_t o_bs, int64_t o_hs, int64_t o_rs);

/* Layer normalisation over the last axis: (x - mean) / sqrt(var + eps) * scale[c] + bias[c] for each of rows rows
 * of cols floats (two-pass mean and variance, fp32); bias may be NULL. Y may be X (in place: a row is read whole
 * before it is written); otherwise the two must not overlap. */
void sdk_layernorm_f32(int64_t rows, int64_t cols, const float *X, const float *scale, const float *bias, float eps,
                       float *Y);

/* Depthwise NCHW convolution: groups == C, output channel m reads input channel m / (M / C); bias may be NULL.
 * Y = act(conv + bias + R) (R: NULL or a tensor shaped like Y). pad: scratch of pad_floats >= Hp * Wp floats,
 * Hp = (OH - 1) * SH + (KH - 1) * DH + 1, Wp = (OW - 1) * SW + (KW - 1) * DW + 1 (a zero-padded plane);
 * with (Hp + OH) * Wp floats, narrow stride-1 planes run as one long row (sdk/ops/nn.py gives that to OW < 32). */
/* Depthwise convolution (channel multiplier 1) on NHWC tensors: X [N, H, W, C], Wt [KH * KW, C] (tap-major),
 * bias [C] or NULL, Y [N, OH, OW, C]; epilogue y = act(acc + bias + R), R NHWC like Y or NULL. Made by the layout
 * pass (sdk/transform/layout.py). */
void sdk_dwconv2d_nhwc_f32(int64_t N, int64_t H, int64_t W, int64_t C, int64_t OH, int64_t OW, int64_t KH,
                           int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW,
                           const float *X, const float *Wt, const float *bias, const float *R, int64_t act,
                           float act_a, float act_b, float *Y);
/* Y [N, C] = the mean of X [N, HW, C] over HW (global average pooling of an NHWC tensor). Made by the layout pass. */
void sdk_gap_nhwc_f32(int64_t N, int64_t HW, int64_t C, const float *X, float *Y);
/* A dense convolution with at most 64 taps per output (C * KH * KW: a network's first layer) from NCHW X to NHWC
 * Y [N, OH, OW, M]; Wt [C * KH * KW, M]; epilogue as sdk_dwconv2d_nhwc_f32's. Made by the layout pass. */
void sdk_conv2d_stem_nhwc_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                              int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH,
                              int64_t DW, const float *X, const float *Wt, const float *bias, const float *R,
                              int64_t act, float act_a, float act_b, float *Y);
/* Y = act(depthwise KH x KW conv of E (stride SH / SW, padding PH / PW at the top / left, dilation 1, taps
 * Wd [KH * KW, M], bias bd) + R) [N, OH, OW, M], where E = s_act(the stem convolution of NCHW X [N, C, H, W] with
 * Ws [C * SKH * SKW, M], bias bs, stride SSH / SSW, padding SPH / SPW, dilation 1) [N, EH, EW, M], as
 * sdk_conv2d_stem_nhwc_f32 then sdk_dwconv2d_nhwc_f32 compute them (the same floats). E is never stored whole: the
 * stem rows of BH output rows at a time go to a scratch slot of ((BH - 1) * SH + KH) * EW * M floats (scratch holds
 * `slots` of them; up to that many threads take contiguous ranges of bands). bs, bd, R may be NULL. */
void sdk_stemdw_nhwc_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t EH, int64_t EW, int64_t SKH,
                         int64_t SKW, int64_t SSH, int64_t SSW, int64_t SPH, int64_t SPW, const float *X,
                         const float *Ws, const float *bs, int64_t s_act, float s_a, float s_b, int64_t OH,
                         int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                         const float *Wd, const float *bd, int64_t BH, int64_t slots, const float *R, int64_t act,
                         float act_a, float act_b, float *Y, float *scratch);
void sdk_dwconv2d_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                      int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                      int64_t DH, int64_t DW, const float *X, const float *Wt, const float *bias,
                      const float *R, int64_t act, float act_a, float act_b, float *Y, float *pad,
                      int64_t pad_floats);

#endif
