/* Sparse-weight library kernels (sdk/transform/sparsify.py chooses the format, sdk/sparse/formats.py encodes it).
 * C99, no state, no malloc; the caller passes a scratch of K * SDK_SPARSE_PANEL floats.
 *
 * One product covers MatMul/Gemm with a constant weight and 1x1 Conv (NCHW):
 *   Y[b, o, p] = act(sum_k S[o, k] * X[b, k, p] + bias[o] + R[b, o, p])
 * with element (b, k, p) of X at X[b*x_bs + k*x_ks + p*x_ps] and (b, o, p) of Y and R at b*y_bs + o*y_os + p*y_ps.
 * A 1x1 convolution is o = output channel, k = input channel, p = pixel (x_ps = y_ps = 1); a MatMul
 * X[M, K] x W[K, N] is o = n, p = m (x_ks = 1, x_ps = K, y_os = 1, y_ps = N): the kernel packs tiles of X.
 * Work runs in tiles of SDK_SPARSE_TILE values of p, vectorised along p, grouped in panels of SDK_SPARSE_PANEL
 * (X copied into the scratch where p is strided); bias and R may be NULL; act is an
 * SDK_ACT_* code (sdk_kernels.h) with parameters act_a, act_b.
 *
 * CSR: S's row o holds vals[j], k = cols[j] for rowptr[o] <= j < rowptr[o + 1].
 * BSR: blocks of BR rows x 1 column: block row q (rows q*BR .. q*BR + BR - 1, the last one clipped at O) holds
 *      blocks rowptr[q] <= j < rowptr[q + 1] at k = cols[j], values vals[j*BR .. j*BR + BR - 1] (one per row).
 * N:M:  every group of M <= 4 consecutive k (G = ceil(K / M) groups per row) holds NN values: row o, group g has
 *      vals[(o*G + g)*NN + i] at k = g*M + (idx[o*G + g] >> 2i & 3) (2-bit offsets, one byte per group); a group
 *      with fewer non-zeros pads with zero values. No row pointers, no column indices: 2:4 stores 2.25 bytes per
 *      weight position instead of 4.
 * ELL (sliced): slices of BR rows (q: rows q*BR .. q*BR + BR - 1, the last one clipped at O), each as wide as its
 *      longest row (w = (sliceptr[q + 1] - sliceptr[q]) / BR); entry j of row r at e = sliceptr[q] + j*BR + r: value
 *      vals[e] at k = cols[e] (a shorter row pads with zero values at k = 0). Plain ELL is one width for all slices.
 * HYB: BSR blocks (rowptr, cols, vals as above) plus a CSR remainder (crowptr [O + 1], ccols, cvals) added to the
 *      same sums: the compiler stores a BR x 1 block in BSR when it holds at least half non-zeros, the rest in CSR.
 * Column indices come in the smallest type that holds K - 1: uint8_t (_u8), uint16_t (_u16) or int32_t (_i32). */
#ifndef SDK_SPARSE_H
#define SDK_SPARSE_H

#include <stdint.h>

#ifndef SDK_SPARSE_TILE
#define SDK_SPARSE_TILE 16 /* values of p per register tile: 4 NEON / wasm vectors, 2 AVX2, 1 AVX-512 */
#endif
#define SDK_SPARSE_PANEL (4 * SDK_SPARSE_TILE) /* values of p per panel: the weights are read P / PANEL times */

void sdk_spmm_csr_f32_u8(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                         const uint8_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                         int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                         float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch);
void sdk_spmm_csr_f32_u16(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                          const uint16_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch);
void sdk_spmm_csr_f32_i32(int64_t batch, int64_t O, int64_t P, int64_t K, const int32_t *rowptr,
                          const int32_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch);
void sdk_spmm_bsr_f32_u8(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                         const uint8_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                         int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                         float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch);
void sdk_spmm_bsr_f32_u16(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                          const uint16_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch);
void sdk_spmm_bsr_f32_i32(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
                          const int32_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks,
                          int64_t x_ps, const float *bias, const float *R, int64_t act, float act_a, float act_b,
                          float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch);
void sdk_spmm_nm_f32(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t NN, int64_t M, const uint8_t *idx,
                     const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps, const float *bias,
                     const float *R, int64_t act, float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os,
                     int64_t y_ps, float *scratch);

/* Convolutions, NCHW, group 1, any kernel, stride, padding (begin: PH, PW) and dilation: the same product with
 * S[O, C*KH*KW] (the weight [O, C, KH, KW] as a matrix) over the im2col matrix of X, which the kernel builds panel
 * by panel in the scratch (K = C*KH*KW rows of SDK_SPARSE_PANEL floats); Y is [N, O, OH, OW]. */
void sdk_spconv2d_csr_f32_u8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, const int32_t *rowptr,
    const uint8_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch);
void sdk_spconv2d_csr_f32_u16(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, const int32_t *rowptr,
    const uint16_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch);
void sdk_spconv2d_csr_f32_i32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, const int32_t *rowptr,
    const int32_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch);
void sdk_spconv2d_bsr_f32_u8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr,
    const uint8_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch);
void sdk_spconv2d_bsr_f32_u16(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr,
    const uint16_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch);
void sdk_spconv2d_bsr_f32_i32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr,
    const int32_t *cols, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch);

void sdk_spconv2d_nm_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW, int64_t KH,
    int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t NN, int64_t M,
    const uint8_t *idx, const float *vals, const float *X, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, float *scratch);

/* Sliced ELL and hybrid (BSR + CSR remainder): MatMul / 1x1 Conv and convolutions, as above */
void sdk_spmm_ell_f32_u8(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *sliceptr,
    const uint8_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    const float *bias, const float *R, int64_t act, float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os,
    int64_t y_ps, float *scratch);
void sdk_spmm_hyb_f32_u8(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
    const uint8_t *cols, const float *vals, const int32_t *crowptr, const uint8_t *ccols, const float *cvals,
    const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch);
void sdk_spconv2d_ell_f32_u8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *sliceptr, const uint8_t *cols, const float *vals, const float *X, const float *bias,
    const float *R, int64_t act, float act_a, float act_b, float *Y, float *scratch);
void sdk_spconv2d_hyb_f32_u8(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr, const uint8_t *cols, const float *vals, const int32_t *crowptr, const uint8_t *ccols,
    const float *cvals, const float *X, const float *bias, const float *R, int64_t act, float act_a, float act_b,
    float *Y, float *scratch);
void sdk_spmm_ell_f32_u16(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *sliceptr,
    const uint16_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    const float *bias, const float *R, int64_t act, float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os,
    int64_t y_ps, float *scratch);
void sdk_spmm_hyb_f32_u16(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
    const uint16_t *cols, const float *vals, const int32_t *crowptr, const uint16_t *ccols, const float *cvals,
    const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch);
void sdk_spconv2d_ell_f32_u16(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *sliceptr, const uint16_t *cols, const float *vals, const float *X, const float *bias,
    const float *R, int64_t act, float act_a, float act_b, float *Y, float *scratch);
void sdk_spconv2d_hyb_f32_u16(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr, const uint16_t *cols, const float *vals, const int32_t *crowptr, const uint16_t *ccols,
    const float *cvals, const float *X, const float *bias, const float *R, int64_t act, float act_a, float act_b,
    float *Y, float *scratch);
void sdk_spmm_ell_f32_i32(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *sliceptr,
    const int32_t *cols, const float *vals, const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps,
    const float *bias, const float *R, int64_t act, float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os,
    int64_t y_ps, float *scratch);
void sdk_spmm_hyb_f32_i32(int64_t batch, int64_t O, int64_t P, int64_t K, int64_t BR, const int32_t *rowptr,
    const int32_t *cols, const float *vals, const int32_t *crowptr, const int32_t *ccols, const float *cvals,
    const float *X, int64_t x_bs, int64_t x_ks, int64_t x_ps, const float *bias, const float *R, int64_t act,
    float act_a, float act_b, float *Y, int64_t y_bs, int64_t y_os, int64_t y_ps, float *scratch);
void sdk_spconv2d_ell_f32_i32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *sliceptr, const int32_t *cols, const float *vals, const float *X, const float *bias,
    const float *R, int64_t act, float act_a, float act_b, float *Y, float *scratch);
void sdk_spconv2d_hyb_f32_i32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t OH, int64_t OW,
    int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t BR,
    const int32_t *rowptr, const int32_t *cols, const float *vals, const int32_t *crowptr, const int32_t *ccols,
    const float *cvals, const float *X, const float *bias, const float *R, int64_t act, float act_a, float act_b,
    float *Y, float *scratch);

#endif
