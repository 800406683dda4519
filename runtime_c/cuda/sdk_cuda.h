/* GPU side of the runtime: device helpers for generated kernels and the library
 * kernels (GEMM, convolution, pooling) that generated code launches on a stream.
 * No allocation, no mutable globals; launch failures come back as SDK_ERR_CUDA. */
#ifndef SDK_CUDA_H
#define SDK_CUDA_H

#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <stdint.h>
extern "C" {
#include "sdk_runtime.h"
}

#define SDK_ERR_CUDA ((sdk_status)100) /* a CUDA call or kernel launch failed: see cudaGetLastError() */
#define SDK_CUDA_THREADS 256

/* Precision of the library GEMMs and convolutions: fp32 on CUDA cores, or fp16/bf16 tensor cores with fp32
 * accumulation (operands are rounded to 16 bits while they are staged in shared memory; storage stays fp32). */
enum { SDK_GEMM_F32 = 0, SDK_GEMM_F16 = 1, SDK_GEMM_BF16 = 2 };

static inline const char *sdk_cuda_status_str(sdk_status s) {
  return s == SDK_ERR_CUDA ? "CUDA error" : sdk_status_str(s);
}

/* Blocks of a grid-stride launch over n elements (at least 1, at most 2^20: each thread loops). */
static inline unsigned sdk_cuda_blocks(int64_t n) {
  int64_t b = (n + SDK_CUDA_THREADS - 1) / SDK_CUDA_THREADS;
  return (unsigned)(b < 1 ? 1 : (b > (1 << 20) ? (1 << 20) : b));
}

__device__ __forceinline__ int64_t sdk_dimin(int64_t a, int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ int64_t sdk_dimax(int64_t a, int64_t b) { return a > b ? a : b; }

/* Same contract as sdk_gemm_f32 (sdk_kernels.h), enqueued on stream; precision: SDK_GEMM_*; then the epilogue
 * Y = act(Y + R) (R: NULL or shaped like Y; act: SDK_ACT_* of sdk_kernels.h, 0 for none, GELU's 8 and 9 included) on
 * the tile. An implicit GEMM with 32-bit tile indexing (M, N, K < 2^31; batch <= 65535). */
sdk_status sdk_cuda_gemm_f32(cudaStream_t stream, int precision, int64_t batch, int64_t M, int64_t N, int64_t K,
                             float alpha, const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs,
                             const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs, float beta,
                             const float *C, int64_t c_rs, int64_t c_cs, float *Y, const float *R, int64_t act,
                             float act_a, float act_b);

/* Y[M,N] = alpha * A[M,K] B[K,N], all row-major fp16, fp32 accumulation on tensor cores. Built with
 * -arch=sm_90a -DSDK_CUDA_WGMMA and M % 128 == 0, N % 256 == 0, K % 64 == 0: Hopper wgmma fed by TMA; otherwise
 * mma.sync through WMMA with a multi-stage cp.async pipeline. Needs K % 8 == 0, N % 8 == 0, 16-byte aligned pointers. */
sdk_status sdk_cuda_gemm_f16(cudaStream_t stream, int64_t M, int64_t N, int64_t K, float alpha,
                             const __half *A, const __half *B, __half *Y);
/* The same with a configuration picked by number (0: the default above; WMMA: 1: 128x128 tile, 8 warps of 64x32,
 * 4 stages; 2: 128x256, 8 warps of 64x64, 3 stages; 3: 128x128, 4 warps of 64x64): bench/gpu.py times them all. */
sdk_status sdk_cuda_gemm_f16_cfg(cudaStream_t stream, int cfg, int64_t M, int64_t N, int64_t K, float alpha,
                                 const __half *A, const __half *B, __half *Y);

/* Y[M,N] = alpha * A[M,K] Bt[N,K]^T (B given transposed, as nn.Linear weights are), fp16, fp32 accumulation.
 * Built with -arch=sm_90a -DSDK_CUDA_WGMMA and M % 128 == 0, N % 128 == 0, K % 64 == 0: Hopper wgmma kernel;
 * otherwise the WMMA kernel. cfg (bench/gpu.py): 0: wgmma+TMA 128x256 tile (default), 1: wgmma+cp.async 128x256,
 * 2: wgmma+TMA 128x128, 3: wgmma+cp.async 128x128, 4: WMMA. */
sdk_status sdk_cuda_gemm_f16_nt(cudaStream_t stream, int64_t M, int64_t N, int64_t K, float alpha,
                                const __half *A, const __half *Bt, __half *Y);
sdk_status sdk_cuda_gemm_f16_nt_cfg(cudaStream_t stream, int cfg, int64_t M, int64_t N, int64_t K, float alpha,
                                    const __half *A, const __half *Bt, __half *Y);

/* A model GEMM of an fp16 build whose B is a weight (sdk/backends/cuda/linear.py): Y = act(alpha * A B + beta * C + R)
 * as sdk_cuda_gemm_f32 with B given as fp16 Wt [N, K] (transposed at build time, K contiguous, 16-byte aligned)
 * and shared by the batch. convert != 0: A (fp32, strides as sdk_cuda_gemm_f32) is first rounded into scratch
 * (fp16 [batch * M, K], 16-byte aligned); convert == 0: scratch already holds this A (the previous call's). Built
 * with -arch=sm_90a -DSDK_CUDA_WGMMA: Hopper wgmma fed by TMA (any M, N; K % 8 == 0), else a plain kernel.
 * _cfg (bench/igemm_gpu.py): 0: the default (a persistent warp-specialised kernel, 128 x 192 or 128 x 128 tiles by the
 * SM count, or 4 under the erf GELU), 1: 128 x 256, 2: 128 x 128, 3: the plain kernel, 4: 128 x 128 with two blocks
 * an SM, 5 / 6: the persistent kernel at 128 x 128 / 128 x 192. */
sdk_status sdk_cuda_linear_f16(cudaStream_t stream, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                               const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs, const __half *Wt,
                               __half *scratch, int64_t convert, float beta, const float *C, int64_t c_rs,
                               int64_t c_cs, float *Y, const float *R, int64_t act, float act_a, float act_b);
sdk_status sdk_cuda_linear_f16_cfg(cudaStream_t stream, int cfg, int64_t batch, int64_t M, int64_t N, int64_t K,
                                   float alpha, const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs,
                                   const __half *Wt, __half *scratch, int64_t convert, float beta, const float *C,
                                   int64_t c_rs, int64_t c_cs, float *Y, const float *R, int64_t act, float act_a,
                                   float act_b);
/* The same with the output Y written as fp16 (16-byte aligned; [batch * M, N]): the scratch A of the next
 * sdk_cuda_linear_f16 call when that GEMM is the output's only reader (a transformer's FFN-1 with its GELU, whose
 * FFN-2 then runs with convert == 0 on Y). The epilogue still computes in fp32 and rounds once. */
sdk_status sdk_cuda_linear_f16_h(cudaStream_t stream, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                                 const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs, const __half *Wt,
                                 __half *scratch, int64_t convert, float beta, const float *C, int64_t c_rs,
                                 int64_t c_cs, __half *Y, const float *R, int64_t act, float act_a, float act_b);
/* The same with the residual R stored as fp16 too ([batch * M, N], 4-byte aligned for the vector path; or NULL): a
 * transformer's output projection / FFN 2 on the fp16 residual stream, whose sum only the LayerNorm after it reads
 * (sdk_cuda_layernorm_f16). */
sdk_status sdk_cuda_linear_f16_hr(cudaStream_t stream, int64_t batch, int64_t M, int64_t N, int64_t K, float alpha,
                                  const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs, const __half *Wt,
                                  __half *scratch, int64_t convert, float beta, const float *C, int64_t c_rs,
                                  int64_t c_cs, __half *Y, const __half *R, int64_t act, float act_a, float act_b);

/* Same contract as sdk_conv2d_f32 (NCHW; Wt [M, C/groups, KH, KW]), then the epilogue as above. Groups of at least
 * 8 output channels: an implicit GEMM (the input gathered as im2col columns in the tile loader, never stored) on
 * 16-bit tensor cores for precision SDK_GEMM_F16/BF16, CUDA cores for SDK_GEMM_F32; narrower (depthwise) groups:
 * one thread per output. */
sdk_status sdk_cuda_conv2d_f32(cudaStream_t stream, int precision, int64_t N, int64_t C, int64_t H, int64_t W,
                               int64_t M, int64_t OH, int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW,
                               int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t groups, const float *X,
                               const float *Wt, const float *bias, float *Y, const float *R, int64_t act,
                               float act_a, float act_b);

/* fp16 builds of convolution networks (sdk/backends/cuda/nhwc.py): a convolution (groups 1) on fp16 NHWC input X
 * [N, H, W, C] (C % 8 == 0, 16-byte aligned) with fp16 weights Wt [M, KH, KW, C] (M % 8 == 0): Y = act(conv + bias
 * + R), fp32 accumulation and epilogue; Y is fp16 NHWC [N, OH, OW, M] when y_half, else fp32 NCHW; R (or NULL) is
 * fp16 NHWC when r_half, else fp32 NCHW. Built with -arch=sm_90a -DSDK_CUDA_WGMMA: an implicit GEMM on Hopper wgmma
 * (im2col tiles gathered by 16-byte cp.async), else a plain kernel. _cfg (bench/igemm_gpu.py): 0: the default tile
 * choice, 1: 128 x 128 tiles, 2: 128 x 64, 3: the plain kernel, 4: 128 x 128 two blocks an SM, 5: 128 x 256; one
 * warpgroup a block: 6: 64 x 64, 7: 64 x 128 (three blocks an SM). */
sdk_status sdk_cuda_conv2d_nhwc_f16(cudaStream_t stream, int64_t N, int64_t C, int64_t H, int64_t W, int64_t M,
                                    int64_t OH, int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH,
                                    int64_t PW, int64_t DH, int64_t DW, const __half *X, const __half *Wt,
                                    const float *bias, void *Y, int64_t y_half, const void *R, int64_t r_half,
                                    int64_t act, float act_a, float act_b);
sdk_status sdk_cuda_conv2d_nhwc_f16_cfg(cudaStream_t stream, int cfg, int64_t N, int64_t C, int64_t H, int64_t W,
                                        int64_t M, int64_t OH, int64_t OW, int64_t KH, int64_t KW, int64_t SH,
                                        int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW, const __half *X,
                                        const __half *Wt, const float *bias, void *Y, int64_t y_half, const void *R,
                                        int64_t r_half, int64_t act, float act_a, float act_b);
/* fp32 NCHW X [N, C, HW] -> fp16 NHWC Y [N, HW, Cp] (Cp >= C, Cp % 8 == 0; channels past C are zero). */
sdk_status sdk_cuda_nchw_to_nhwc_f16(cudaStream_t stream, int64_t N, int64_t C, int64_t HW, int64_t Cp, const float *X,
                                     __half *Y);
/* Max pooling (as sdk_pool2d_f32 mode 0, symmetric padding) on fp16 NHWC [N, H, W, C], C % 8 == 0. */
sdk_status sdk_cuda_maxpool_nhwc_f16(cudaStream_t stream, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                                     int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH,
                                     int64_t PW, int64_t DH, int64_t DW, const __half *X, __half *Y);

/* Same contract as sdk_epilogue_f32: Y = act(Y + R), 128-bit accesses where aligned. */
sdk_status sdk_cuda_epilogue_f32(cudaStream_t stream, int64_t n, float *Y, const float *R, int64_t act, float a,
                                 float b);

/* Same contracts as sdk_softmax_f32 / sdk_layernorm_f32 (last axis): a warp per row, 16-byte accesses where
 * aligned; rows, cols < 2^31. */
sdk_status sdk_cuda_softmax_f32(cudaStream_t stream, int64_t rows, int64_t cols, const float *X, float *Y);
sdk_status sdk_cuda_layernorm_f32(cudaStream_t stream, int64_t rows, int64_t cols, const float *X, const float *scale,
                                  const float *bias, float eps, float *Y);
/* The same, also writing Y rounded to fp16 into Yh ([rows, cols], 8-byte aligned for the vector path): the scratch A
 * of the fp16-weight GEMM after it (sdk/backends/cuda/linear.py), which then does not convert; or, with Y NULL, only
 * that fp16 copy (the fp16 residual stream: no reader needs the fp32 output). */
sdk_status sdk_cuda_layernorm_f32_h(cudaStream_t stream, int64_t rows, int64_t cols, const float *X, const float *scale,
                                    const float *bias, float eps, float *Y, __half *Yh);
/* The same over an fp16 X ([rows, cols], 8-byte aligned for the vector path; statistics in fp32): the sum an
 * sdk_cuda_linear_f16_h / _hr GEMM wrote on the fp16 residual stream. Y or Yh may be NULL, not both. */
sdk_status sdk_cuda_layernorm_f16(cudaStream_t stream, int64_t rows, int64_t cols, const __half *X, const float *scale,
                                  const float *bias, float eps, float *Y, __half *Yh);

/* Same contract as sdk_attention_f32 (sdk_kernels.h): O = softmax(scale * Q K^T + mask, causal) V per (batch, head),
 * fused (flash-attention style, sdk_cuda_attention.cu): precision SDK_GEMM_F16 or SDK_GEMM_BF16 (tensor-core
 * operands, fp32 accumulation and softmax; storage stays fp32); D == Dv, 64 or 128; B * H <= 65535. */
sdk_status sdk_cuda_attention_f32(cudaStream_t stream, int precision, int64_t B, int64_t H, int64_t Sq, int64_t Sk,
                                  int64_t D, int64_t Dv, float scale, const float *Q, int64_t q_bs, int64_t q_hs,
                                  int64_t q_rs, const float *K, int64_t k_bs, int64_t k_hs, int64_t k_rs,
                                  const float *V, int64_t v_bs, int64_t v_hs, int64_t v_rs, const float *mask,
                                  int64_t m_bs, int64_t m_hs, int64_t m_qs, int64_t m_ks, int64_t causal, float *O,
                                  int64_t o_bs, int64_t o_hs, int64_t o_rs);
/* The same on fp16 storage (Q, K, V, O in half; the mask stays fp32): bench/attention_gpu.py times it; _cfg picks
 * a tile configuration by number (sdk_cuda_attention.cu; 0: the default). */
sdk_status sdk_cuda_attention_f16_cfg(cudaStream_t stream, int cfg, int64_t B, int64_t H, int64_t Sq, int64_t Sk,
                                      int64_t D, float scale, const __half *Q, int64_t q_bs, int64_t q_hs, int64_t q_rs,
                                      const __half *K, int64_t k_bs, int64_t k_hs, int64_t k_rs, const __half *V,
                                      int64_t v_bs, int64_t v_hs, int64_t v_rs, const float *mask, int64_t m_bs,
                                      int64_t m_hs, int64_t m_qs, int64_t m_ks, int64_t causal, __half *O,
                                      int64_t o_bs, int64_t o_hs, int64_t o_rs);
sdk_status sdk_cuda_attention_f16(cudaStream_t stream, int64_t B, int64_t H, int64_t Sq, int64_t Sk, int64_t D,
                                  float scale, const __half *Q, int64_t q_bs, int64_t q_hs, int64_t q_rs,
                                  const __half *K, int64_t k_bs, int64_t k_hs, int64_t k_rs, const __half *V,
                                  int64_t v_bs, int64_t v_hs, int64_t v_rs, const float *mask, int64_t m_bs,
                                  int64_t m_hs, int64_t m_qs, int64_t m_ks, int64_t causal, __half *O, int64_t o_bs,
                                  int64_t o_hs, int64_t o_rs);

sdk_status sdk_cuda_pool2d_f32(cudaStream_t stream, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                               int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                               int64_t DH, int64_t DW, int64_t PH_END, int64_t PW_END, int64_t mode, const float *X,
                               float *Y);

#endif
