/* Library kernels of the GPU runtime: tiled GEMMs (CUDA cores and tensor cores), direct convolution, pooling. */
#include <cuda_bf16.h>
#include <mma.h>
#include "sdk_cuda.h"

using namespace nvcuda;

static sdk_status launched(void) { return cudaGetLastError() == cudaSuccess ? SDK_OK : SDK_ERR_CUDA; }

/* ---------------------------------------------------------------- fp32 GEMM on CUDA cores
 * 64x64 output tile per block, 16-deep k slices staged in shared memory (cache_read), 4x4 outputs per thread held
 * in registers. Any strides (transposed operands), so loads are scalar. */
#define G32_T 64
#define G32_K 16
__global__ void __launch_bounds__(256) gemm_f32_kernel(int64_t M, int64_t N, int64_t K, float alpha,
    const float *__restrict__ A, int64_t a_bs, int64_t a_rs, int64_t a_cs, const float *__restrict__ B, int64_t b_bs,
    int64_t b_rs, int64_t b_cs, float beta, const float *__restrict__ C, int64_t c_rs, int64_t c_cs,
    float *__restrict__ Y) {
  __shared__ float As[G32_K][G32_T + 4], Bs[G32_K][G32_T + 4];
  A += blockIdx.z * a_bs;
  B += blockIdx.z * b_bs;
  Y += blockIdx.z * M * N;
  const int64_t m0 = (int64_t)blockIdx.y * G32_T, n0 = (int64_t)blockIdx.x * G32_T;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4] = {};
  for (int64_t k0 = 0; k0 < K; k0 += G32_K) {
    for (int e = threadIdx.x; e < G32_T * G32_K; e += 256) {
      const int r = e / G32_K, kk = e % G32_K; /* consecutive threads walk k: coalesced for row-major A */
      const int64_t gm = m0 + r, gk = k0 + kk;
      As[kk][r] = (gm < M && gk < K) ? A[gm * a_rs + gk * a_cs] : 0.0f;
      const int kb = e / G32_T, c = e % G32_T; /* consecutive threads walk n: coalesced for row-major B */
      const int64_t gn = n0 + c, gkb = k0 + kb;
      Bs[kb][c] = (gn < N && gkb < K) ? B[gkb * b_rs + gn * b_cs] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < G32_K; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t r = m0 + ty + 16 * i, c = n0 + tx + 16 * j;
      if (r < M && c < N) {
        float v = alpha * acc[i][j];
        if (C != NULL) v += beta * C[r * c_rs + c * c_cs]; /* fused bias epilogue */
        Y[r * N + c] = v;
      }
    }
}

/* ---------------------------------------------------------------- fp32 storage, 16-bit tensor cores
 * The mixed-precision GEMM of models built with --precision fp16|bf16: operands are converted to T while they are
 * staged in shared memory, the 64x64 tile is computed by 4 warps with 16x16x16 WMMA (mma.sync) and fp32
 * accumulators, and the epilogue (alpha, bias) runs in fp32. */
template <typename T> __device__ __forceinline__ T to_t(float x);
template <> __device__ __forceinline__ __half to_t<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 to_t<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

template <typename T>
__global__ void __launch_bounds__(128) gemm_tc_f32io_kernel(int64_t M, int64_t N, int64_t K, float alpha,
    const float *__restrict__ A, int64_t a_bs, int64_t a_rs, int64_t a_cs, const float *__restrict__ B, int64_t b_bs,
    int64_t b_rs, int64_t b_cs, float beta, const float *__restrict__ C, int64_t c_rs, int64_t c_cs,
    float *__restrict__ Y) {
  __shared__ __align__(32) T As[64][32 + 8];
  __shared__ __align__(32) T Bs[32][64 + 8];
  __shared__ __align__(32) float Cs[64][64 + 4];
  A += blockIdx.z * a_bs;
  B += blockIdx.z * b_bs;
  Y += blockIdx.z * M * N;
  const int64_t m0 = (int64_t)blockIdx.y * 64, n0 = (int64_t)blockIdx.x * 64;
  const int warp = threadIdx.x / 32, wm = warp / 2, wn = warp % 2;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  for (int64_t k0 = 0; k0 < K; k0 += 32) {
    for (int e = threadIdx.x; e < 64 * 32; e += 128) {
      const int r = e / 32, kk = e % 32;
      const int64_t gm = m0 + r, gk = k0 + kk;
      As[r][kk] = to_t<T>((gm < M && gk < K) ? A[gm * a_rs + gk * a_cs] : 0.0f);
      const int kb = e / 64, c = e % 64;
      const int64_t gn = n0 + c, gkb = k0 + kb;
      Bs[kb][c] = to_t<T>((gn < N && gkb < K) ? B[gkb * b_rs + gn * b_cs] : 0.0f);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < 32; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], &As[wm * 32 + i * 16][kk], 32 + 8);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &Bs[kk][wn * 32 + j * 16], 64 + 8);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&Cs[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], 64 + 4, wmma::mem_row_major);
  __syncthreads();
  for (int e = threadIdx.x; e < 64 * 64; e += 128) {
    const int r = e / 64, c = e % 64;
    const int64_t gr = m0 + r, gc = n0 + c;
    if (gr < M && gc < N) {
      float v = alpha * Cs[r][c];
      if (C != NULL) v += beta * C[gr * c_rs + gc * c_cs];
      Y[gr * N + gc] = v;
    }
  }
}

sdk_status sdk_cuda_gemm_f32(cudaStream_t stream, int precision, int64_t batch, int64_t M, int64_t N, int64_t K,
                             float alpha, const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs,
                             const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs, float beta,
                             const float *C, int64_t c_rs, int64_t c_cs, float *Y) {
  if (batch < 1 || M < 1 || N < 1) return SDK_OK;
  if (batch > 65535) return SDK_ERR_BAD_ARG;
  if (beta == 0.0f) C = NULL;
  const dim3 grid((unsigned)((N + 63) / 64), (unsigned)((M + 63) / 64), (unsigned)batch);
  if (precision == SDK_GEMM_F16)
    gemm_tc_f32io_kernel<__half><<<grid, 128, 0, stream>>>(M, N, K, alpha, A, a_bs, a_rs, a_cs, B, b_bs, b_rs,
                                                           b_cs, beta, C, c_rs, c_cs, Y);
  else if (precision == SDK_GEMM_BF16)
    gemm_tc_f32io_kernel<__nv_bfloat16><<<grid, 128, 0, stream>>>(M, N, K, alpha, A, a_bs, a_rs, a_cs, B, b_bs,
                                                                  b_rs, b_cs, beta, C, c_rs, c_cs, Y);
  else
    gemm_f32_kernel<<<grid, 256, 0, stream>>>(M, N, K, alpha, A, a_bs, a_rs, a_cs, B, b_bs, b_rs, b_cs, beta, C,
                                              c_rs, c_cs, Y);
  return launched();
}

/* ---------------------------------------------------------------- fp16 GEMM, tensor cores, cp.async pipeline
 * Block tile BM x BN, k slices of 32 in a STAGES-deep ring of shared memory filled with cp.async (16-byte copies,
 * zero-filled past the edges); each warp owns a WM x WN sub-tile of 16x16 fp32 accumulator fragments. */
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool pred) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  const int n = pred ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

template <int BM, int BN, int WM, int WN, int STAGES>
struct GemmF16Cfg {
  static constexpr int BK = 32, LDA = BK + 8, LDB = BN + 8, LDC = BN + 4;
  static constexpr int THREADS = (BM / WM) * (BN / WN) * 32;
  static constexpr int PIPE = STAGES * (BM * LDA + BK * LDB) * 2;
  static constexpr int SMEM = PIPE > BM * LDC * 4 ? PIPE : BM * LDC * 4;
};

template <int BM, int BN, int WM, int WN, int STAGES>
__global__ void __launch_bounds__(GemmF16Cfg<BM, BN, WM, WN, STAGES>::THREADS)
gemm_f16_kernel(int M, int N, int K, float alpha, const __half *__restrict__ A, const __half *__restrict__ B,
                __half *__restrict__ Y) {
  using Cfg = GemmF16Cfg<BM, BN, WM, WN, STAGES>;
  constexpr int BK = Cfg::BK, LDA = Cfg::LDA, LDB = Cfg::LDB, LDC = Cfg::LDC, T = Cfg::THREADS;
  constexpr int FM = WM / 16, FN = WN / 16;
  extern __shared__ __align__(128) unsigned char smem[];
  __half *As = reinterpret_cast<__half *>(smem);
  __half *Bs = As + STAGES * BM * LDA;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int warp = threadIdx.x / 32, wm = warp / (BN / WN), wn = warp % (BN / WN);
  const int KT = (K + BK - 1) / BK;

  auto load_tile = [&](int stage, int k0) {
    __half *as = As + stage * BM * LDA, *bs = Bs + stage * BK * LDB;
#pragma unroll
    for (int c = threadIdx.x; c < BM * BK / 8; c += T) {
      const int r = c / (BK / 8), kc = (c % (BK / 8)) * 8;
      const bool ok = m0 + r < M && k0 + kc < K;
      cp_async16(as + r * LDA + kc, ok ? A + (size_t)(m0 + r) * K + k0 + kc : A, ok);
    }
#pragma unroll
    for (int c = threadIdx.x; c < BK * BN / 8; c += T) {
      const int r = c / (BN / 8), nc = (c % (BN / 8)) * 8;
      const bool ok = k0 + r < K && n0 + nc < N;
      cp_async16(bs + r * LDB + nc, ok ? B + (size_t)(k0 + r) * N + n0 + nc : B, ok);
    }
  };

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < KT) load_tile(s, s * BK);
    cp_async_commit();
  }
  for (int kt = 0; kt < KT; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads(); /* tile kt landed for every thread; stage (kt-1)%STAGES is free again */
    const int nk = kt + STAGES - 1;
    if (nk < KT) load_tile(nk % STAGES, nk * BK);
    cp_async_commit();
    const __half *as = As + (kt % STAGES) * BM * LDA, *bs = Bs + (kt % STAGES) * BK * LDB;
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> fb[FN];
#pragma unroll
      for (int i = 0; i < FM; ++i) wmma::load_matrix_sync(fa[i], as + (wm * WM + i * 16) * LDA + kk, LDA);
#pragma unroll
      for (int j = 0; j < FN; ++j) wmma::load_matrix_sync(fb[j], bs + kk * LDB + wn * WN + j * 16, LDB);
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();
  float *Cs = reinterpret_cast<float *>(smem); /* the pipeline's memory is free: stage the tile for 16-byte stores */
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j)
      wmma::store_matrix_sync(Cs + (wm * WM + i * 16) * LDC + wn * WN + j * 16, acc[i][j], LDC, wmma::mem_row_major);
  __syncthreads();
  for (int c = threadIdx.x; c < BM * BN / 8; c += T) {
    const int r = c / (BN / 8), nc = (c % (BN / 8)) * 8;
    if (m0 + r < M && n0 + nc < N) {
      __align__(16) __half h[8];
#pragma unroll
      for (int q = 0; q < 8; ++q) h[q] = __float2half_rn(alpha * Cs[r * LDC + nc + q]);
      *reinterpret_cast<uint4 *>(Y + (size_t)(m0 + r) * N + n0 + nc) = *reinterpret_cast<const uint4 *>(h);
    }
  }
}

template <int BM, int BN, int WM, int WN, int STAGES>
static sdk_status launch_gemm_f16(cudaStream_t stream, int M, int N, int K, float alpha, const __half *A,
                                  const __half *B, __half *Y) {
  using Cfg = GemmF16Cfg<BM, BN, WM, WN, STAGES>;
  auto kern = gemm_f16_kernel<BM, BN, WM, WN, STAGES>;
  if (cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::SMEM) != cudaSuccess)
    return SDK_ERR_CUDA;
  const dim3 grid((unsigned)((N + BN - 1) / BN), (unsigned)((M + BM - 1) / BM));
  kern<<<grid, Cfg::THREADS, Cfg::SMEM, stream>>>(M, N, K, alpha, A, B, Y);
  return launched();
}

sdk_status sdk_cuda_gemm_f16_cfg(cudaStream_t stream, int cfg, int64_t M, int64_t N, int64_t K, float alpha,
                                 const __half *A, const __half *B, __half *Y) {
  if (M < 1 || N < 1 || K < 1) return SDK_OK;
  if (K % 8 || N % 8 || M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || ((uintptr_t)A | (uintptr_t)B | (uintptr_t)Y) % 16)
    return SDK_ERR_BAD_ARG;
  switch (cfg) {
    case 1: return launch_gemm_f16<128, 256, 64, 64, 3>(stream, (int)M, (int)N, (int)K, alpha, A, B, Y);
    case 2: return launch_gemm_f16<128, 128, 64, 64, 4>(stream, (int)M, (int)N, (int)K, alpha, A, B, Y);
    default: return launch_gemm_f16<128, 128, 64, 32, 4>(stream, (int)M, (int)N, (int)K, alpha, A, B, Y);
  }
}

sdk_status sdk_cuda_gemm_f16(cudaStream_t stream, int64_t M, int64_t N, int64_t K, float alpha, const __half *A,
                             const __half *B, __half *Y) {
  return sdk_cuda_gemm_f16_cfg(stream, 0, M, N, K, alpha, A, B, Y);
}

/* ---------------------------------------------------------------- convolution and pooling: one thread per output */
__global__ void conv2d_f32_kernel(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                                  int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH,
                                  int64_t DW, int64_t groups, const float *__restrict__ X,
                                  const float *__restrict__ Wt, const float *__restrict__ bias, float *__restrict__ Y) {
  const int64_t total = N * M * OH * OW, cin = C / groups, cout = M / groups;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t ow = t % OW, oh = (t / OW) % OH, m = (t / (OW * OH)) % M, n = t / (OW * OH * M);
    const int64_t g = m / cout;
    float acc = bias ? bias[m] : 0.0f;
    for (int64_t c = 0; c < cin; ++c) {
      const float *x = X + (n * C + g * cin + c) * H * W;
      const float *w = Wt + (m * cin + c) * KH * KW;
      for (int64_t kh = 0; kh < KH; ++kh) {
        const int64_t ih = oh * SH - PH + kh * DH;
        if (ih < 0 || ih >= H) continue;
        for (int64_t kw = 0; kw < KW; ++kw) {
          const int64_t iw = ow * SW - PW + kw * DW;
          if (iw >= 0 && iw < W) acc = fmaf(x[ih * W + iw], w[kh * KW + kw], acc);
        }
      }
    }
    Y[t] = acc;
  }
}

sdk_status sdk_cuda_conv2d_f32(cudaStream_t stream, int64_t N, int64_t C, int64_t H, int64_t W, int64_t M,
                               int64_t OH, int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH,
                               int64_t PW, int64_t DH, int64_t DW, int64_t groups, const float *X, const float *Wt,
                               const float *bias, float *Y) {
  conv2d_f32_kernel<<<sdk_cuda_blocks(N * M * OH * OW), SDK_CUDA_THREADS, 0, stream>>>(
      N, C, H, W, M, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, groups, X, Wt, bias, Y);
  return launched();
}

__global__ void pool2d_f32_kernel(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t KH,
                                  int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH, int64_t DW,
                                  int64_t PH_END, int64_t PW_END, int64_t mode, const float *__restrict__ X,
                                  float *__restrict__ Y) {
  const int64_t total = N * C * OH * OW;
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < total; t += (int64_t)gridDim.x * blockDim.x) {
    const int64_t ow = t % OW, oh = (t / OW) % OH, nc = t / (OW * OH);
    const float *x = X + nc * H * W;
    float acc = mode == 0 ? -INFINITY : 0.0f;
    int64_t inside = 0, padded = 0;
    bool nan = false;
    for (int64_t kh = 0; kh < KH; ++kh) {
      const int64_t ih = oh * SH - PH + kh * DH;
      for (int64_t kw = 0; kw < KW; ++kw) {
        const int64_t iw = ow * SW - PW + kw * DW;
        padded += ih >= -PH && ih < H + PH_END && iw >= -PW && iw < W + PW_END;
        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
        const float v = x[ih * W + iw];
        ++inside;
        if (mode == 0) {
          nan |= v != v;
          acc = v > acc ? v : acc;
        } else {
          acc += v;
        }
      }
    }
    if (mode == 0) {
      Y[t] = nan ? NAN : acc;
    } else {
      const int64_t cnt = mode == 2 ? padded : inside;
      Y[t] = acc / (float)(cnt > 0 ? cnt : 1);
    }
  }
}

sdk_status sdk_cuda_pool2d_f32(cudaStream_t stream, int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                               int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW,
                               int64_t DH, int64_t DW, int64_t PH_END, int64_t PW_END, int64_t mode, const float *X,
                               float *Y) {
  pool2d_f32_kernel<<<sdk_cuda_blocks(N * C * OH * OW), SDK_CUDA_THREADS, 0, stream>>>(
      N, C, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, PH_END, PW_END, mode, X, Y);
  return launched();
}
