/* The implicit GEMM of the GPU runtime: model GEMMs and convolutions with fp32 storage (sdk_cuda_gemm_f32,
 * sdk_cuda_conv2d_f32) on CUDA cores, on 16-bit tensor cores through WMMA or, built with -DSDK_CUDA_IGEMM_WGMMA, on
 * Hopper wgmma. A translation unit of its own: its build options recompile this file only. */
#include "sdk_cuda_device.h"

using namespace nvcuda;

/* ---------------------------------------------------------------- implicit GEMM: model GEMMs and convolutions
 * One operand-source for both: a GEMM's strided A and B, or a convolution (NCHW) as Y[m, q] = W[m, k] Xcol[k, q]
 * with k = (c, kh, kw) and q = (n, oh, ow): A is the weight rows of one group, B the input gathered as im2col
 * columns on the fly (never materialised), the group is blockIdx.z. Tiles are loaded into registers one k slice
 * ahead of the compute (global loads in flight during the math), then stored to a second shared-memory buffer.
 * The epilogue runs on the tile: y = act(alpha * acc + beta * C + bias + R), as sdk_epilogue_f32 does. */
struct SdkConvGeo {
  int C, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, cin, cout, M;
};

/* Loads of a BM x BK slice of A and a BK x BN slice of B into registers (NA and NB floats per thread), in one of
 * these uniform modes (same registers, different element positions: a_pos / b_pos give an element's place):
 * - vectorised: 16-byte loads along the contiguous axis (A along k: a_cs == 1; B along n: b_cs == 1), when that
 *   axis and the other strides are multiples of 4 floats and the base is 16-byte aligned;
 * - scalar: element e = threadIdx.x + i * THREADS walks the contiguous axis fastest (coalesced): A along k when
 *   a_cs == 1 (else along m), B along n when b_cs == 1 or for a convolution (else along k);
 * - convolution, input channels a multiple of BK: k runs over (kh, kw, c) with c fastest, so one k slice has one
 *   (kh, kw) and a thread's B elements are its column's pixel in BK consecutive channels (one bounds check per
 *   slice, one multiply-add per element); the weights [M, cin, KH, KW] are read in that order. Otherwise the
 *   convolution decodes k = (c, kh, kw) per element. In the n-walk every thread keeps one column of B
 *   (THREADS % BN == 0), so a convolution decodes its (n, oh, ow) once. */
template <int BM, int BN, int BK, int THREADS, bool CONV>
struct IgemmSrc {
  static constexpr int NA = BM * BK / THREADS, NB = BK * BN / THREADS;
  static_assert(THREADS % BN == 0 && THREADS % BK == 0 && THREADS % BM == 0 && NA % 4 == 0 && NB % 4 == 0,
                "tile mapping");
  const float *A, *B;
  int64_t a_rs, a_cs, b_rs, b_cs;
  int M, N, K, m0, n0;
  bool a_k, b_n, a_vec, b_vec, fast;
  const float *xb; /* convolution: this thread's image and group, at channel 0 */
  int ih0, iw0, khw, hw;
  bool col_ok;
  SdkConvGeo g;

  __device__ __forceinline__ void setup(const float *A_, int64_t a_rs_, int64_t a_cs_, const float *B_, int64_t b_rs_,
                                       int64_t b_cs_, int M_, int N_, int K_, const SdkConvGeo &g_, int z) {
    A = A_, B = B_, a_rs = a_rs_, a_cs = a_cs_, b_rs = b_rs_, b_cs = b_cs_, M = M_, N = N_, K = K_, g = g_;
    m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    a_k = a_cs == 1 || CONV;
    b_n = b_cs == 1 || CONV;
    a_vec = !CONV && a_cs == 1 && K % 4 == 0 && a_rs % 4 == 0 && ((uintptr_t)A & 15) == 0;
    b_vec = !CONV && b_cs == 1 && N % 4 == 0 && b_rs % 4 == 0 && ((uintptr_t)B & 15) == 0;
    fast = CONV && g.cin % BK == 0;
    if (CONV) {
      const int c = threadIdx.x % BN, q = n0 + c, ohw = g.OH * g.OW;
      col_ok = q < N;
      const int qq = col_ok ? q : 0, n = qq / ohw, p = qq % ohw;
      ih0 = (p / g.OW) * g.SH - g.PH;
      iw0 = (p % g.OW) * g.SW - g.PW;
      khw = g.KH * g.KW;
      hw = g.H * g.W;
      xb = B + ((int64_t)n * g.C + (int64_t)z * g.cin) * hw;
    }
  }
  __device__ __forceinline__ void a_pos(int i, int &r, int &c) const {
    if (a_vec) {
      const int e = threadIdx.x + (i / 4) * THREADS;
      r = e / (BK / 4), c = (e % (BK / 4)) * 4 + i % 4;
      return;
    }
    const int e = threadIdx.x + i * THREADS;
    if (a_k) r = e / BK, c = e % BK;
    else r = e % BM, c = e / BM;
  }
  __device__ __forceinline__ void b_pos(int i, int &r, int &c) const {
    if (b_vec) {
      const int e = threadIdx.x + (i / 4) * THREADS;
      r = e / (BN / 4), c = (e % (BN / 4)) * 4 + i % 4;
      return;
    }
    const int e = threadIdx.x + i * THREADS;
    if (b_n) r = e / BN, c = e % BN;
    else r = e % BK, c = e / BK;
  }
  __device__ __forceinline__ void load(int k0, float *ra, float *rb) const {
    if (a_vec) {
#pragma unroll
      for (int v = 0; v < NA / 4; ++v) {
        int r, c;
        a_pos(4 * v, r, c);
        const int m = m0 + r, k = k0 + c;
        const float4 x = (m < M && k < K) ? __ldg(reinterpret_cast<const float4 *>(A + m * a_rs + k))
                                          : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        ra[4 * v] = x.x, ra[4 * v + 1] = x.y, ra[4 * v + 2] = x.z, ra[4 * v + 3] = x.w;
      }
    } else if (CONV && fast) { /* weights [M, cin, KH, KW] at k = (kh, kw, c) */
      const int t = k0 / g.cin, c0 = k0 - t * g.cin;
      int r, c;
      a_pos(0, r, c);
      const float *w = A + (int64_t)(m0 + r) * K + (int64_t)(c0 + c) * khw + t;
#pragma unroll
      for (int i = 0; i < NA; ++i)
        ra[i] = (m0 + r + i * (THREADS / BK) < M) ? __ldg(w + (int64_t)i * (THREADS / BK) * K) : 0.0f;
    } else {
#pragma unroll
      for (int i = 0; i < NA; ++i) {
        int r, c;
        a_pos(i, r, c);
        const int m = m0 + r, k = k0 + c;
        ra[i] = (m < M && k < K) ? __ldg(A + m * a_rs + k * a_cs) : 0.0f;
      }
    }
    if (b_vec) {
#pragma unroll
      for (int v = 0; v < NB / 4; ++v) {
        int r, c;
        b_pos(4 * v, r, c);
        const int k = k0 + r, n = n0 + c;
        const float4 x = (n < N && k < K) ? __ldg(reinterpret_cast<const float4 *>(B + k * b_rs + n))
                                          : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        rb[4 * v] = x.x, rb[4 * v + 1] = x.y, rb[4 * v + 2] = x.z, rb[4 * v + 3] = x.w;
      }
    } else if (CONV && fast) {
      const int t = k0 / g.cin, c0 = k0 - t * g.cin, kh = t / g.KW, kw = t - kh * g.KW;
      const int ih = ih0 + kh * g.DH, iw = iw0 + kw * g.DW;
      const bool ok = col_ok && (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W;
      int r, c;
      b_pos(0, r, c);
      const float *x = xb + (int64_t)(c0 + r) * hw + ih * g.W + iw;
#pragma unroll
      for (int i = 0; i < NB; ++i) rb[i] = ok ? __ldg(x + (int64_t)i * (THREADS / BN) * hw) : 0.0f;
    } else {
#pragma unroll
      for (int i = 0; i < NB; ++i) {
        int r, c;
        b_pos(i, r, c);
        const int k = k0 + r;
        if (CONV) {
          float v = 0.0f;
          if (col_ok && k < K) {
            int ci = k, ih = ih0, iw = iw0;
            if (khw != 1) {
              ci = k / khw;
              const int t = k - ci * khw, kh = t / g.KW;
              ih += kh * g.DH;
              iw += (t - kh * g.KW) * g.DW;
            }
            if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) v = __ldg(xb + (int64_t)ci * hw + ih * g.W + iw);
          }
          rb[i] = v;
        } else {
          const int n = n0 + c;
          rb[i] = (n < N && k < K) ? __ldg(B + k * b_rs + n * b_cs) : 0.0f;
        }
      }
    }
  }
  /* The same elements as load(), copied by cp.async into fp32 tiles sa[BM][BK] and sb[BK][BN] (zero-filled past
   * the edges), so several k slices can be in flight without holding registers. */
  __device__ __forceinline__ void issue(int k0, float *sa, float *sb) const {
    if (a_vec) {
#pragma unroll 4
      for (int v = 0; v < NA / 4; ++v) {
        int r, c;
        a_pos(4 * v, r, c);
        const int m = m0 + r, k = k0 + c;
        const bool ok = m < M && k < K;
        cp_async16(sa + r * BK + c, ok ? A + m * a_rs + k : A, ok);
      }
    } else if (CONV && fast) {
      const int t = k0 / g.cin, c0 = k0 - t * g.cin;
      int r, c;
      a_pos(0, r, c);
      const float *w = A + (int64_t)(m0 + r) * K + (int64_t)(c0 + c) * khw + t;
#pragma unroll 4
      for (int i = 0; i < NA; ++i) {
        const bool ok = m0 + r + i * (THREADS / BK) < M;
        cp_async4(sa + (r + i * (THREADS / BK)) * BK + c, ok ? w + (int64_t)i * (THREADS / BK) * K : A, ok);
      }
    } else {
#pragma unroll 4
      for (int i = 0; i < NA; ++i) {
        int r, c;
        a_pos(i, r, c);
        const int m = m0 + r, k = k0 + c;
        const bool ok = m < M && k < K;
        cp_async4(sa + r * BK + c, ok ? A + m * a_rs + k * a_cs : A, ok);
      }
    }
    if (b_vec) {
#pragma unroll 4
      for (int v = 0; v < NB / 4; ++v) {
        int r, c;
        b_pos(4 * v, r, c);
        const int k = k0 + r, n = n0 + c;
        const bool ok = n < N && k < K;
        cp_async16(sb + r * BN + c, ok ? B + k * b_rs + n : B, ok);
      }
    } else if (CONV && fast) {
      const int t = k0 / g.cin, c0 = k0 - t * g.cin, kh = t / g.KW, kw = t - kh * g.KW;
      const int ih = ih0 + kh * g.DH, iw = iw0 + kw * g.DW;
      const bool ok = col_ok && (unsigned)ih < (unsigned)g.H && (unsigned)iw < (unsigned)g.W;
      int r, c;
      b_pos(0, r, c);
      const float *x = ok ? xb + (int64_t)(c0 + r) * hw + ih * g.W + iw : xb;
#pragma unroll 4
      for (int i = 0; i < NB; ++i)
        cp_async4(sb + (r + i * (THREADS / BN)) * BN + c, ok ? x + (int64_t)i * (THREADS / BN) * hw : xb, ok);
    } else {
#pragma unroll 4
      for (int i = 0; i < NB; ++i) {
        int r, c;
        b_pos(i, r, c);
        const int k = k0 + r;
        const float *src = B;
        bool ok = false;
        if (CONV) {
          if (col_ok && k < K) {
            int ci = k, ih = ih0, iw = iw0;
            if (khw != 1) {
              ci = k / khw;
              const int t = k - ci * khw, kh = t / g.KW;
              ih += kh * g.DH;
              iw += (t - kh * g.KW) * g.DW;
            }
            ok = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
            if (ok) src = xb + (int64_t)ci * hw + ih * g.W + iw;
          }
        } else {
          const int n = n0 + c;
          ok = n < N && k < K;
          if (ok) src = B + k * b_rs + n * b_cs;
        }
        cp_async4(sb + r * BN + c, src, ok);
      }
    }
  }
};

/* Output element (row m, column q) of block z: its offset in Y (and R), and what the epilogue adds to alpha * acc
 * (beta * C or the bias, plus R). Callers load the addends of a batch of outputs first and then store the batch
 * (igemm_put): the compiler cannot move a load of C/R above a store to Y (they may alias), so an element at a time
 * waits out one global-load latency per output (measured: 4-5x the tile's math on BERT's GEMMs). */
template <bool CONV>
__device__ __forceinline__ float igemm_addend(int m, int q, int z, int M, int N, const SdkConvGeo &g, const SdkEpi &e,
                                              int64_t &off) {
  float v = 0.0f;
  if (CONV) {
    const int ohw = g.OH * g.OW, n = q / ohw, p = q - n * ohw, ch = z * g.cout + m;
    off = ((int64_t)n * g.M + ch) * ohw + p;
    if (e.bias) v = e.bias[ch];
  } else {
    off = (int64_t)z * M * N + (int64_t)m * N + q;
    if (e.C) v = e.beta * e.C[(int64_t)m * e.c_rs + (int64_t)q * e.c_cs];
  }
  if (e.R) v += e.R[off];
  return v;
}
template <int ACT> /* see sdk_with_act */
__device__ __forceinline__ void igemm_put(float acc, float add, int64_t off, const SdkEpi &e, float *Y) {
  Y[off] = sdk_act_of<ACT>(e.alpha * acc + add, e.act, e.act_a, e.act_b);
}

/* fp32 on CUDA cores: 64 x 64 tile, 16-deep k slices, 4 x 4 outputs per thread. */
template <bool CONV>
__global__ void __launch_bounds__(256) igemm_f32_kernel(int M, int N, int K, const float *__restrict__ A,
    int64_t a_bs, int64_t a_rs, int64_t a_cs, const float *__restrict__ B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
    SdkConvGeo g, SdkEpi e, float *__restrict__ Y) {
  constexpr int BM = 64, BN = 64, BK = 16;
  using Src = IgemmSrc<BM, BN, BK, 256, CONV>;
  __shared__ float As[2][BK][BM + 4], Bs[2][BK][BN + 4];
  const int z = blockIdx.z;
  Src s;
  s.setup(A + z * a_bs, a_rs, a_cs, B + (CONV ? 0 : z * b_bs), b_rs, b_cs, M, N, K, g, z);
  float ra[Src::NA], rb[Src::NB];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16, KT = (K + BK - 1) / BK;
  float acc[4][4] = {};
  auto stash = [&](int buf) {
#pragma unroll
    for (int i = 0; i < Src::NA; ++i) { int r, c; s.a_pos(i, r, c); As[buf][c][r] = ra[i]; }
#pragma unroll
    for (int i = 0; i < Src::NB; ++i) { int r, c; s.b_pos(i, r, c); Bs[buf][r][c] = rb[i]; }
  };
  s.load(0, ra, rb);
  stash(0);
  __syncthreads();
  for (int kt = 0; kt < KT; ++kt) {
    const int buf = kt & 1;
    if (kt + 1 < KT) s.load((kt + 1) * BK, ra, rb);
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[buf][kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[buf][kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    if (kt + 1 < KT) stash(buf ^ 1);
    __syncthreads();
  }
  float add[4][4] = {};
  int64_t off[4][4] = {};
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int m = s.m0 + ty + 16 * i, q = s.n0 + tx + 16 * j;
      if (m < M && q < N) add[i][j] = igemm_addend<CONV>(m, q, z, M, N, g, e, off[i][j]);
    }
  sdk_with_act(e.act, [&](auto act_c) {
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (s.m0 + ty + 16 * i < M && s.n0 + tx + 16 * j < N)
          igemm_put<decltype(act_c)::value>(acc[i][j], add[i][j], off[i][j], e, Y);
  });
}

/* The tensor-core implicit GEMMs' epilogue: a warp passes each of its 4 x 2 accumulator fragments (16 x 16, the
 * warp's 64 x 32 tile at (m0, n0)) through its scratch S (16 rows of LDS floats) and stores it with the fused
 * epilogue (igemm_addend, igemm_put; the activation a compile-time constant). */
template <bool CONV, int LDS>
__device__ __forceinline__ void igemm_tc_epilogue(wmma::fragment<wmma::accumulator, 16, 16, 16, float> (&acc)[4][2],
                                                  float *S, int m0, int n0, int M, int N, int z, const SdkConvGeo &g,
                                                  const SdkEpi &e, float *__restrict__ Y) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(S, acc[i][j], LDS, wmma::mem_row_major);
      __syncwarp();
      float add[8] = {};
      int64_t off[8] = {};
#pragma unroll
      for (int t = 0; t < 8; ++t) {
        const int el = lane + 32 * t, rr = el / 16, cc = el % 16;
        const int m = m0 + i * 16 + rr, q = n0 + j * 16 + cc;
        if (m < M && q < N) add[t] = igemm_addend<CONV>(m, q, z, M, N, g, e, off[t]);
      }
      sdk_with_act(e.act, [&](auto act_c) {
#pragma unroll
        for (int t = 0; t < 8; ++t) {
          const int el = lane + 32 * t, rr = el / 16, cc = el % 16;
          if (m0 + i * 16 + rr < M && n0 + j * 16 + cc < N)
            igemm_put<decltype(act_c)::value>(S[rr * LDS + cc], add[t], off[t], e, Y);
        }
      });
      __syncwarp();
    }
}

/* 16-bit tensor cores (T = __half or __nv_bfloat16), fp32 storage and accumulation: 128 x 128 tile, 32-deep k
 * slices, 8 warps of 64 x 32 (16x16x16 mma.sync through WMMA); operands are rounded to T when staged. */
template <typename T, bool CONV>
__global__ void __launch_bounds__(256) igemm_tc_kernel(int M, int N, int K, const float *__restrict__ A,
    int64_t a_bs, int64_t a_rs, int64_t a_cs, const float *__restrict__ B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
    SdkConvGeo g, SdkEpi e, float *__restrict__ Y) {
  constexpr int BM = 128, BN = 128, BK = 32, LDA = BK + 8, LDB = BN + 8, LDS = 20;
  using Src = IgemmSrc<BM, BN, BK, 256, CONV>;
  __shared__ __align__(128) T As[2][BM][LDA];
  __shared__ __align__(128) T Bs[2][BK][LDB];
  const int z = blockIdx.z;
  Src s;
  s.setup(A + z * a_bs, a_rs, a_cs, B + (CONV ? 0 : z * b_bs), b_rs, b_cs, M, N, K, g, z);
  float ra[Src::NA], rb[Src::NB];
  const int warp = threadIdx.x / 32, wm = warp / 4, wn = warp % 4, KT = (K + BK - 1) / BK;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  auto stash = [&](int buf) { /* vectorised loads: four consecutive halves in one 8-byte store */
    if (s.a_vec) {
#pragma unroll
      for (int i = 0; i < Src::NA; i += 4) { int r, c; s.a_pos(i, r, c); store4(&As[buf][r][c], ra + i); }
    } else {
#pragma unroll
      for (int i = 0; i < Src::NA; ++i) { int r, c; s.a_pos(i, r, c); As[buf][r][c] = to_t<T>(ra[i]); }
    }
    if (s.b_vec) {
#pragma unroll
      for (int i = 0; i < Src::NB; i += 4) { int r, c; s.b_pos(i, r, c); store4(&Bs[buf][r][c], rb + i); }
    } else {
#pragma unroll
      for (int i = 0; i < Src::NB; ++i) { int r, c; s.b_pos(i, r, c); Bs[buf][r][c] = to_t<T>(rb[i]); }
    }
  };
  s.load(0, ra, rb);
  stash(0);
  __syncthreads();
  for (int kt = 0; kt < KT; ++kt) {
    const int buf = kt & 1;
    if (kt + 1 < KT) s.load((kt + 1) * BK, ra, rb);
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb[2];
#pragma unroll
      for (int i = 0; i < 4; ++i) wmma::load_matrix_sync(fa[i], &As[buf][wm * 64 + i * 16][kk], LDA);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], &Bs[buf][kk][wn * 32 + j * 16], LDB);
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    if (kt + 1 < KT) stash(buf ^ 1);
    __syncthreads();
  }
  /* epilogue: each warp passes its fragments through a 16 x 16 scratch (in As, free now) */
  float *S = reinterpret_cast<float *>(&As[0][0][0]) + warp * 16 * LDS;
  igemm_tc_epilogue<CONV, LDS>(acc, S, s.m0 + wm * 64, s.n0 + wn * 32, M, N, z, g, e, Y);
}

/* The same tile on tensor cores, fed by cp.async: STAGES fp32 k slices in flight in shared memory (no registers
 * held), each converted to T in one pass (16-byte reads, 8-byte writes) into the tiles the warps' WMMA reads.
 * Dynamic shared memory: STAGES * 32 KB of fp32 slices + the two T tiles. Opt-in (SDK_CUDA_IGEMM_STAGES below):
 * not yet run on a GPU. */
template <typename T, bool CONV, int STAGES>
__global__ void __launch_bounds__(256) igemm_tc_async_kernel(int M, int N, int K, const float *__restrict__ A,
    int64_t a_bs, int64_t a_rs, int64_t a_cs, const float *__restrict__ B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
    SdkConvGeo g, SdkEpi e, float *__restrict__ Y) {
  constexpr int BM = 128, BN = 128, BK = 32, LDA = BK + 8, LDB = BN + 8, LDS = 20;
  using Src = IgemmSrc<BM, BN, BK, 256, CONV>;
  extern __shared__ __align__(128) unsigned char smem_dyn[];
  float *F = reinterpret_cast<float *>(smem_dyn); /* [STAGES][BM*BK + BK*BN] */
  T(*As)[LDA] = reinterpret_cast<T(*)[LDA]>(F + STAGES * (BM * BK + BK * BN));
  T(*Bs)[LDB] = reinterpret_cast<T(*)[LDB]>(&As[BM][0]);
  const int z = blockIdx.z;
  Src s;
  s.setup(A + z * a_bs, a_rs, a_cs, B + (CONV ? 0 : z * b_bs), b_rs, b_cs, M, N, K, g, z);
  const int warp = threadIdx.x / 32, wm = warp / 4, wn = warp % 4, KT = (K + BK - 1) / BK;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
#pragma unroll
  for (int st = 0; st < STAGES - 1; ++st) {
    if (st < KT) s.issue(st * BK, F + st * (BM * BK + BK * BN), F + st * (BM * BK + BK * BN) + BM * BK);
    cp_async_commit();
  }
  for (int kt = 0; kt < KT; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads(); /* slice kt landed (every thread's copies); the previous MMAs are done with As/Bs */
    const int nk = kt + STAGES - 1;
    if (nk < KT) s.issue(nk * BK, F + (nk % STAGES) * (BM * BK + BK * BN), F + (nk % STAGES) * (BM * BK + BK * BN) + BM * BK);
    cp_async_commit();
    const float *fa = F + (kt % STAGES) * (BM * BK + BK * BN), *fb = fa + BM * BK;
#pragma unroll
    for (int i = 0; i < BM * BK / 4 / 256; ++i) {
      const int v = threadIdx.x + i * 256, r = v / (BK / 4), c = (v % (BK / 4)) * 4;
      const float4 x = *reinterpret_cast<const float4 *>(fa + r * BK + c);
      const float q[4] = {x.x, x.y, x.z, x.w};
      store4(&As[r][c], q);
    }
#pragma unroll
    for (int i = 0; i < BK * BN / 4 / 256; ++i) {
      const int v = threadIdx.x + i * 256, r = v / (BN / 4), c = (v % (BN / 4)) * 4;
      const float4 x = *reinterpret_cast<const float4 *>(fb + r * BN + c);
      const float q[4] = {x.x, x.y, x.z, x.w};
      store4(&Bs[r][c], q);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa16[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb16[2];
#pragma unroll
      for (int i = 0; i < 4; ++i) wmma::load_matrix_sync(fa16[i], &As[wm * 64 + i * 16][kk], LDA);
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb16[j], &Bs[kk][wn * 32 + j * 16], LDB);
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa16[i], fb16[j], acc[i][j]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();
  float *S = reinterpret_cast<float *>(&As[0][0]) + warp * 16 * LDS; /* epilogue scratch: As (10 KB) is free now */
  igemm_tc_epilogue<CONV, LDS>(acc, S, s.m0 + wm * 64, s.n0 + wn * 32, M, N, z, g, e, Y);
}

/* SDK_CUDA_IGEMM_STAGES > 1: the tensor-core implicit GEMM is the cp.async kernel with that many k slices in flight
 * (compiled and compile-tested, not yet run on a GPU: opt-in until bench/gpu.py has checked it there); 0 (default):
 * the register-prefetch kernel (checked on an H200, bench/RESULTS_gpu.md). */
#ifndef SDK_CUDA_IGEMM_STAGES
#define SDK_CUDA_IGEMM_STAGES 0
#endif
#ifdef SDK_CUDA_IGEMM_WGMMA /* the implicit GEMM on wgmma instead (igemm_wgmma_kernel, below) */
template <typename T, bool CONV>
static void launch_tc_wgmma(dim3 grid, cudaStream_t stream, int m, int n, int k, const float *A, int64_t a_bs,
                            int64_t a_rs, int64_t a_cs, const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
                            const SdkConvGeo &g, const SdkEpi &e, float *Y);
#endif
template <typename T, bool CONV>
static void launch_tc(dim3 grid, cudaStream_t stream, int m, int n, int k, const float *A, int64_t a_bs,
                      int64_t a_rs, int64_t a_cs, const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
                      const SdkConvGeo &g, const SdkEpi &e, float *Y) {
#if defined(SDK_CUDA_IGEMM_WGMMA)
  launch_tc_wgmma<T, CONV>(grid, stream, m, n, k, A, a_bs, a_rs, a_cs, B, b_bs, b_rs, b_cs, g, e, Y);
#elif SDK_CUDA_IGEMM_STAGES > 1
  constexpr int S = SDK_CUDA_IGEMM_STAGES;
  constexpr size_t smem = (size_t)S * (128 * 32 + 32 * 128) * 4 + (128 * 40 + 32 * 136) * sizeof(T);
  if (cudaFuncSetAttribute(igemm_tc_async_kernel<T, CONV, S>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           (int)smem) != cudaSuccess)
    return; /* the launch below is not made: igemm_launch reports the error */
  igemm_tc_async_kernel<T, CONV, S><<<grid, 256, smem, stream>>>(m, n, k, A, a_bs, a_rs, a_cs, B, b_bs, b_rs, b_cs,
                                                                   g, e, Y);
#else
  igemm_tc_kernel<T, CONV><<<grid, 256, 0, stream>>>(m, n, k, A, a_bs, a_rs, a_cs, B, b_bs, b_rs, b_cs, g, e, Y);
#endif
}

static sdk_status igemm_launch(cudaStream_t stream, int precision, bool conv, int64_t batch, int64_t M, int64_t N,
                               int64_t K, const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs, const float *B,
                               int64_t b_bs, int64_t b_rs, int64_t b_cs, const SdkConvGeo &g, const SdkEpi &e,
                               float *Y) {
  if (batch < 1 || M < 1 || N < 1) return SDK_OK;
  const int64_t bm = precision == SDK_GEMM_F32 ? 64 : 128, bn = bm;
  if (batch > 65535 || M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || (M + bm - 1) / bm > 65535)
    return SDK_ERR_BAD_ARG;
  const dim3 grid((unsigned)((N + bn - 1) / bn), (unsigned)((M + bm - 1) / bm), (unsigned)batch);
  const int m = (int)M, n = (int)N, k = (int)K;
  const float *P[2] = {A, B};
  const int64_t S[6] = {a_bs, a_rs, a_cs, b_bs, b_rs, b_cs};
  if (precision == SDK_GEMM_F16 || precision == SDK_GEMM_BF16) {
    const bool h = precision == SDK_GEMM_F16;
    if (conv) (h ? launch_tc<__half, true> : launch_tc<__nv_bfloat16, true>)(grid, stream, m, n, k, P[0], S[0], S[1],
                                                                            S[2], P[1], S[3], S[4], S[5], g, e, Y);
    else (h ? launch_tc<__half, false> : launch_tc<__nv_bfloat16, false>)(grid, stream, m, n, k, P[0], S[0], S[1],
                                                                         S[2], P[1], S[3], S[4], S[5], g, e, Y);
  } else {
    (conv ? igemm_f32_kernel<true> : igemm_f32_kernel<false>)
        <<<grid, 256, 0, stream>>>(m, n, k, P[0], S[0], S[1], S[2], P[1], S[3], S[4], S[5], g, e, Y);
  }
  return launched();
}

sdk_status sdk_cuda_gemm_f32(cudaStream_t stream, int precision, int64_t batch, int64_t M, int64_t N, int64_t K,
                             float alpha, const float *A, int64_t a_bs, int64_t a_rs, int64_t a_cs,
                             const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs, float beta,
                             const float *C, int64_t c_rs, int64_t c_cs, float *Y, const float *R, int64_t act,
                             float act_a, float act_b) {
  const SdkConvGeo g = {};
  const SdkEpi e = {alpha, beta, beta == 0.0f ? NULL : C, c_rs, c_cs, NULL, R, (int)act, act_a, act_b, NULL};
  return igemm_launch(stream, precision, false, batch, M, N, K, A, a_bs, a_rs, a_cs, B, b_bs, b_rs, b_cs, g, e, Y);
}

/* ---------------------------------------------------------------- implicit GEMM on Hopper wgmma (opt-in)
 * The implicit GEMM above (fp32 storage, any strides, convolutions, epilogue) with the products on wgmma instead
 * of WMMA: a 128 x 128 block tile, 64-deep k slices, two warpgroups of 64 x 128 (m64n128k16, fp32 accumulators in
 * registers). Each slice is loaded into registers (IgemmSrc, as igemm_tc_kernel), rounded to T and stored into one
 * of two shared tiles in the 128-byte-swizzled layouts wgmma descriptors read (A K-major: 128 rows of 64 k; B
 * N-major: two boxes of 64 k x 64 n, read transposed), while the wgmma batch of the previous slice runs on the other
 * tile. Edges are zero-filled when loaded and masked when stored, so any M, N, K. Needs sm_90a (-arch=sm_90a
 * -DSDK_CUDA_WGMMA); built with SDK_CUDA_IGEMM_WGMMA it replaces igemm_tc_kernel (launch_tc). */
#ifdef SDK_CUDA_IGEMM_WGMMA
#ifndef SDK_CUDA_WGMMA
#error "SDK_CUDA_IGEMM_WGMMA needs -arch=sm_90a -DSDK_CUDA_WGMMA"
#endif
#ifdef SDK_WGMMA_DEVICE
#define SDK_WGMMA_N128_TB(NAME, TY)                                                                                   \
  __device__ __forceinline__ void NAME(float *d, uint64_t da, uint64_t db) {                                         \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                                        \
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " "                                        \
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, "    \
                 "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, " \
                 "%41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, " \
                 "%61, %62, %63}, %64, %65, p, 1, 1, 0, 1;\n}\n"                                                       \
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),   \
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),          \
                   "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),        \
                   "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),        \
                   "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),        \
                   "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]),        \
                   "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]),        \
                   "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),        \
                   "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])         \
                 : "l"(da), "l"(db), "r"(1));                                                                        \
  }
SDK_WGMMA_N128_TB(wgmma_n128_tb_f16, "f16")
SDK_WGMMA_N128_TB(wgmma_n128_tb_bf16, "bf16")
#undef SDK_WGMMA_N128_TB
template <typename T> __device__ __forceinline__ void wgmma_n128_tb(float *d, uint64_t da, uint64_t db) {
  if constexpr (std::is_same<T, __half>::value) wgmma_n128_tb_f16(d, da, db);
  else wgmma_n128_tb_bf16(d, da, db);
}
#endif

constexpr int IGW_BM = 128, IGW_BN = 128, IGW_BK = 64;
constexpr int IGW_F32 = (IGW_BM + IGW_BN) * IGW_BK * 4; /* bytes of one fp32 slice (cp.async lands it) */
constexpr int IGW_TILE = (IGW_BM + IGW_BN) * IGW_BK * 2; /* bytes of one 16-bit tile (wgmma reads it) */
constexpr int IGW_SMEM = 2 * IGW_F32 + 2 * IGW_TILE + 1024; /* + room to align to the 1024-byte swizzle atom */

/* byte offsets in a tile: A element (m, k) (K-major rows of 128 bytes), B element (k, n) (N-major, 64-wide n boxes);
 * the 16-byte chunk index is XORed with the row's low 3 bits (the 128-byte swizzle) */
__device__ __forceinline__ unsigned igw_a(int m, int k) {
  return (unsigned)(m * 128 + ((((k >> 3) ^ m) & 7) << 4) + (k & 7) * 2);
}
__device__ __forceinline__ unsigned igw_b(int k, int n) {
  return (unsigned)(IGW_BM * 128 + (n >> 6) * 8192 + k * 128 + (((((n & 63) >> 3) ^ k) & 7) << 4) + (n & 7) * 2);
}

template <typename T, bool CONV>
__global__ void __launch_bounds__(256) igemm_wgmma_kernel(int M, int N, int K, const float *__restrict__ A,
    int64_t a_bs, int64_t a_rs, int64_t a_cs, const float *__restrict__ B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
    SdkConvGeo g, SdkEpi e, float *__restrict__ Y) {
#ifdef SDK_WGMMA_DEVICE
  constexpr int BM = IGW_BM, BN = IGW_BN, BK = IGW_BK;
  using Src = IgemmSrc<BM, BN, BK, 256, CONV>;
  extern __shared__ unsigned char smem_raw[];
  unsigned char *tiles = (unsigned char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
  float *F = reinterpret_cast<float *>(tiles + 2 * IGW_TILE); /* two fp32 slices: [BM][BK] then [BK][BN] */
  const int z = blockIdx.z, wg = threadIdx.x / 128, KT = (K + BK - 1) / BK;
  Src s;
  s.setup(A + z * a_bs, a_rs, a_cs, B + (CONV ? 0 : z * b_bs), b_rs, b_cs, M, N, K, g, z);
  auto issue = [&](int kt) {
    float *f = F + (kt & 1) * (IGW_F32 / 4);
    s.issue(kt * BK, f, f + BM * BK);
  };
  auto convert = [&](int kt) { /* fp32 slice kt -> 16-bit tile kt % 2: 16-byte reads, 8-byte swizzled writes */
    const float *fa = F + (kt & 1) * (IGW_F32 / 4), *fb = fa + BM * BK;
    unsigned char *t = tiles + (kt & 1) * IGW_TILE;
#pragma unroll
    for (int i = 0; i < BM * BK / 4 / 256; ++i) {
      const int v = threadIdx.x + i * 256, r = v / (BK / 4), c = (v % (BK / 4)) * 4;
      const float4 x = *reinterpret_cast<const float4 *>(fa + r * BK + c);
      const float q[4] = {x.x, x.y, x.z, x.w};
      store4(reinterpret_cast<T *>(t + igw_a(r, c)), q);
    }
#pragma unroll
    for (int i = 0; i < BK * BN / 4 / 256; ++i) {
      const int v = threadIdx.x + i * 256, r = v / (BN / 4), c = (v % (BN / 4)) * 4;
      const float4 x = *reinterpret_cast<const float4 *>(fb + r * BN + c);
      const float q[4] = {x.x, x.y, x.z, x.w};
      store4(reinterpret_cast<T *>(t + igw_b(r, c)), q);
    }
  };
  float d[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) d[i] = 0.0f;
  issue(0);
  cp_async_commit();
  if (KT > 1) issue(1);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads(); /* slice 0 landed (every thread's copies) */
  convert(0);
  fence_proxy_async(); /* the generic-proxy stores of the tile, visible to wgmma's async proxy */
  __syncthreads();
  for (int kt = 0; kt < KT; ++kt) {
    const unsigned char *t = tiles + (kt & 1) * IGW_TILE, *sa = t + wg * 64 * 128, *sb = t + BM * 128;
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk)
      wgmma_n128_tb<T>(d, sw128_desc(sa + kk * 32), sw128_desc_lbo(sb + kk * 16 * 128, 8192, 1024));
    wgmma_commit();
    if (kt + 2 < KT) issue(kt + 2); /* into fp32 slice kt % 2, converted before the last barrier */
    cp_async_commit();
    if (kt + 1 < KT) {
      cp_async_wait<1>();
      __syncthreads(); /* slice kt + 1 landed */
      convert(kt + 1); /* into the other tile: its products (slice kt - 1) were waited for last iteration */
      fence_proxy_async();
    }
    wgmma_wait<0>();
    __syncthreads();
  }
  cp_async_wait<0>();
#pragma unroll
  for (int i = 0; i < 64; ++i) asm volatile("" : "+f"(d[i])::"memory");
  /* accumulator layout of m64nNk16: per 16 columns, rows r and r + 8, columns c, c + 1, c + 8, c + 9 */
  const int warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
  const int row = s.m0 + wg * 64 + warp * 16 + lane / 4;
#pragma unroll
  for (int c16 = 0; c16 < 8; ++c16) {
    const int col = s.n0 + c16 * 16 + 2 * (lane % 4);
    float add[8] = {};
    int64_t off[8] = {};
#pragma unroll
    for (int q = 0; q < 8; ++q) {
      const int m = row + ((q >> 1) & 1) * 8, n = col + (q & 1) + (q >> 2) * 8;
      if (m < M && n < N) add[q] = igemm_addend<CONV>(m, n, z, M, N, g, e, off[q]);
    }
    sdk_with_act(e.act, [&](auto act_c) {
#pragma unroll
      for (int q = 0; q < 8; ++q)
        if (row + ((q >> 1) & 1) * 8 < M && col + (q & 1) + (q >> 2) * 8 < N)
          igemm_put<decltype(act_c)::value>(d[c16 * 8 + q], add[q], off[q], e, Y);
    });
  }
#else
  (void)M, (void)N, (void)K, (void)A, (void)a_bs, (void)a_rs, (void)a_cs, (void)B, (void)b_bs, (void)b_rs,
      (void)b_cs, (void)g, (void)e, (void)Y;
  __trap(); /* built without sm_90a features: never run silently */
#endif
}

template <typename T, bool CONV>
static void launch_tc_wgmma(dim3 grid, cudaStream_t stream, int m, int n, int k, const float *A, int64_t a_bs,
                            int64_t a_rs, int64_t a_cs, const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
                            const SdkConvGeo &g, const SdkEpi &e, float *Y) {
  if (cudaFuncSetAttribute(igemm_wgmma_kernel<T, CONV>, cudaFuncAttributeMaxDynamicSharedMemorySize, IGW_SMEM) !=
      cudaSuccess)
    return; /* the launch is not made: igemm_launch reports the error */
  igemm_wgmma_kernel<T, CONV><<<grid, 256, IGW_SMEM, stream>>>(m, n, k, A, a_bs, a_rs, a_cs, B, b_bs, b_rs, b_cs, g,
                                                                e, Y);
}
#endif /* SDK_CUDA_IGEMM_WGMMA */

/* ---------------------------------------------------------------- convolution and pooling
 * Convolutions with at least 8 output channels per group: the implicit GEMM above (tensor cores at fp16/bf16);
 * narrower ones (depthwise): one thread per output. Both apply the epilogue. */
__global__ void conv2d_f32_kernel(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW,
                                  int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH,
                                  int64_t DW, int64_t groups, const float *__restrict__ X,
                                  const float *__restrict__ Wt, const float *__restrict__ bias, float *__restrict__ Y,
                                  const float *__restrict__ R, int act, float act_a, float act_b) {
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
    if (R) acc += R[t];
    Y[t] = sdk_cuda_act(acc, act, act_a, act_b);
  }
}

sdk_status sdk_cuda_conv2d_f32(cudaStream_t stream, int precision, int64_t N, int64_t C, int64_t H, int64_t W,
                               int64_t M, int64_t OH, int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW,
                               int64_t PH, int64_t PW, int64_t DH, int64_t DW, int64_t groups, const float *X,
                               const float *Wt, const float *bias, float *Y, const float *R, int64_t act,
                               float act_a, float act_b) {
  if (N < 1 || M < 1 || OH < 1 || OW < 1) return SDK_OK;
  if (groups < 1 || C % groups || M % groups) return SDK_ERR_BAD_ARG;
  const int64_t cin = C / groups, cout = M / groups, K = cin * KH * KW, cols = N * OH * OW;
  const bool fits = C * H * W * N < INT32_MAX && M * OH * OW * N < INT32_MAX && groups <= 65535;
  if (cout >= 8 && fits) {
    const SdkConvGeo g = {(int)C, (int)H, (int)W, (int)OH, (int)OW, (int)KH, (int)KW, (int)SH, (int)SW, (int)PH,
                          (int)PW, (int)DH, (int)DW, (int)cin, (int)cout, (int)M};
    const SdkEpi e = {1.0f, 0.0f, NULL, 0, 0, bias, R, (int)act, act_a, act_b, NULL};
    return igemm_launch(stream, precision, true, groups, cout, cols, K, Wt, cout * K, K, 1, X, 0, 0, 0, g, e, Y);
  }
  conv2d_f32_kernel<<<sdk_cuda_blocks(N * M * OH * OW), SDK_CUDA_THREADS, 0, stream>>>(
      N, C, H, W, M, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, groups, X, Wt, bias, Y, R, (int)act, act_a, act_b);
  return launched();
}
