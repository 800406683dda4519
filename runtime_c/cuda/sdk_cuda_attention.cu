/* Fused attention on tensor cores (flash-attention style): O = softmax(scale * Q K^T + mask) V in one kernel.
 *
 * One block of 4 warps per (batch, head, block of BM query rows); each warp owns BM / 4 query rows (one or two m16
 * tiles). K and V stream through shared memory in tiles of 64 keys, two stages deep (cp.async for 16-bit inputs,
 * register staging with rounding for fp32 storage); S = Q K^T and O += P V are mma.sync m16n8k16 (fp16 or bf16
 * operands, fp32 accumulation) fed by ldmatrix from XOR-swizzled tiles (conflict-free); the softmax is online
 * (running row max and sum in fp32, exp2 on pre-scaled scores), so the [Sq, Sk] scores never reach memory. The P
 * tile goes from the S accumulators straight into the A fragments of the second product (same register layout).
 * Masks: an additive fp32 mask broadcast by strides (0 along broadcast axes: a key-padding mask [B, 1, 1, Sk] is
 * m_hs = m_qs = 0), and causal (key j visible to query i when j <= i + Sk - Sq). Rows whose keys are all masked
 * out (-inf) give zeros. Any Sq, Sk (the last tiles are bounds-checked); head size D = Dv = 64 or 128.
 * An opt-in Hopper kernel on wgmma (flash_attention_wgmma_kernel, tile configurations 4-8, 10-14, 20, 23, 25, built
 * with -DSDK_CUDA_WGMMA -DSDK_ATT_WGMMA) takes fp16 storage with aligned rows; targets/cuda-sm90.toml turns it on
 * (cfg 8 as cfg 0 since 2026-12-06, cfg 12 since 2026-12-07, whose D = 128 is cfg 5's kernel since gpu46, cfg 25
 * since gpu47: K, V and Q by TMA, interior tiles without tests), after H100 runs checked and timed it
 * (bench/RESULTS_gpu.md). */
#include <cuda_bf16.h>
#include <stdint.h>
#include <string.h>
#include <type_traits>
#include "sdk_cuda.h"
#include "sdk_cuda_device.h" /* TMA and mbarrier instructions, the tensor-map encoder */

namespace {

constexpr int ATT_WARPS = 4, ATT_THREADS = 32 * ATT_WARPS;
constexpr float LOG2E = 1.4426950408889634f;

/* Kernel options, a bit mask fixed at compile time (bench/attention_variants.py builds, checks and times each value):
 *  ATT_FFMA:   interior tiles fold the scale into the exponent's FFMA (the row max is taken on unscaled scores, so
 *              scale > 0 there; edge tiles and scale <= 0 are scaled and masked first);
 *  ATT_MMASUM: P's row sums come from one more mma per 16 keys against a fragment of ones (the tensor core adds the
 *              row, across the quad, from the rounded P that also meets V) instead of two FADDs a score;
 *  ATT_LAZY:   the running max moves only when some row of the warp grows by more than 2^LAZY_LOG2 (one warp
 *              vote a tile); otherwise O and the sums keep their scale and P <= 2^LAZY_LOG2 (fp16/bf16 range);
 *  ATT_STAGE:  16-bit, 16-byte aligned inputs stage with one row pointer a thread and immediate shared offsets;
 *  ATT_QSMEM:  Q's fragments are read from shared memory for each key tile instead of living in registers;
 *  ATT_MINB:   16 query rows a warp, 64-key tiles and D = 64 (cfg 1): registers capped for 4 resident blocks an SM. */
constexpr unsigned ATT_FFMA = 1, ATT_MMASUM = 2, ATT_LAZY = 4, ATT_STAGE = 8, ATT_QSMEM = 16, ATT_MINB = 32;
#ifndef SDK_ATT_OPT
/* FFMA + MMASUM + STAGE: correct on every check of bench/attention_variants.py and 7-21 % faster than 0 at
 * seq 2048 and 512 on the H200 (bench/RESULTS_gpu.md, 2026-12-05 14:01 UTC); LAZY gained nothing more there */
#define SDK_ATT_OPT 11u
#endif
constexpr unsigned OPT = SDK_ATT_OPT;
constexpr float LAZY_LOG2 = 8.0f;

struct AttParams {
  int B, H, Sq, Sk;
  float scale_log2; /* scale * log2(e): scores are kept in base 2 */
  const void *Q, *K, *V;
  void *O;
  const float *mask;
  int64_t q_bs, q_hs, q_rs, k_bs, k_hs, k_rs, v_bs, v_hs, v_rs, o_bs, o_hs, o_rs, m_bs, m_hs, m_qs, m_ks;
  int causal, vec; /* vec: every row start is 16-byte aligned (vector loads) */
};

/* byte offset of 16-byte chunk c of row r in a [rows][D] 16-bit tile: chunks XOR-swizzled by the row's low 3 bits, so
 * the 8 row addresses of one ldmatrix phase fall in 8 different bank groups */
template <int D> __device__ __forceinline__ unsigned swz(int r, int c) {
  return (unsigned)(r * D * 2 + ((c ^ (r & 7)) << 4));
}

__device__ __forceinline__ void cp16(unsigned s, const void *g, bool pred) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(g), "r"(pred ? 16 : 0));
}

template <typename TC> __device__ __forceinline__ uint32_t pack2(float a, float b) {
  if constexpr (std::is_same<TC, __half>::value) {
    __half2 h = __floats2half2_rn(a, b);
    return *reinterpret_cast<uint32_t *>(&h);
  } else {
    __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<uint32_t *>(&h);
  }
}

/* Stage rows [row0, row0 + ROWS) of one head's [S, D] operand into a swizzled tile (rows >= S: zeros).
 * TI: the stored element (float: rounded to TC here; TC itself: cp.async, the caller commits). */
template <typename TI, typename TC, int ROWS, int D>
__device__ __forceinline__ void stage(unsigned tile, const TI *base, int64_t rs, int row0, int S, bool vec) {
  constexpr int CH = D / 8; /* 16-byte chunks of a 16-bit row */
  static_assert(ROWS * CH % ATT_THREADS == 0, "whole chunks per thread");
  if constexpr (std::is_same<TI, TC>::value && (OPT & ATT_STAGE) != 0) {
    if (vec) { /* thread: chunk c of rows r0, r0 + RSTEP, ...; RSTEP is a multiple of 8, so the swizzle is r0's */
      constexpr int RSTEP = ATT_THREADS / CH;
      const int r0 = threadIdx.x / CH, c = threadIdx.x % CH;
      const TI *g = base + (int64_t)(row0 + r0) * rs + c * 8;
      const int64_t step = (int64_t)RSTEP * rs;
      const unsigned s = tile + swz<D>(r0, c);
      if (row0 + ROWS <= S) { /* a whole tile (uniform): no row checks */
#pragma unroll
        for (int i = 0; i < ROWS / RSTEP; ++i, g += step) cp16(s + (unsigned)(i * RSTEP * D * 2), g, true);
      } else {
#pragma unroll
        for (int i = 0; i < ROWS / RSTEP; ++i, g += step) {
          const bool in = row0 + r0 + i * RSTEP < S;
          cp16(s + (unsigned)(i * RSTEP * D * 2), in ? g : base, in);
        }
      }
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < ROWS * CH / ATT_THREADS; ++i) {
    const int e = threadIdx.x + i * ATT_THREADS, r = e / CH, c = e % CH, row = row0 + r;
    const bool in = row < S;
    const TI *g = base + (int64_t)(in ? row : 0) * rs + c * 8;
    const unsigned s = tile + swz<D>(r, c);
    if constexpr (std::is_same<TI, TC>::value) {
      if (vec) {
        cp16(s, g, in);
        continue;
      }
    }
    float v[8];
    if (!in) {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = 0.0f;
    } else if (std::is_same<TI, float>::value && vec) {
      const float4 a = __ldg(reinterpret_cast<const float4 *>(g)), b = __ldg(reinterpret_cast<const float4 *>(g) + 1);
      v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[i] = (float)g[i];
    }
    uint4 w;
    w.x = pack2<TC>(v[0], v[1]), w.y = pack2<TC>(v[2], v[3]), w.z = pack2<TC>(v[4], v[5]), w.w = pack2<TC>(v[6], v[7]);
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};\n" ::"r"(s), "r"(w.x), "r"(w.y), "r"(w.z), "r"(w.w));
  }
}

/* fp32 storage, 16-byte aligned rows (vec): rows [row0, row0 + ROWS) of K or V copied as they are (cp.async, rows
 * >= S zero-filled) into an fp32 tile [ROWS][D] (raw), so the next tile's global loads are in flight during this
 * tile's math instead of being waited for in registers before it; raw_convert then rounds it into the swizzled
 * 16-bit tile (shared memory to shared memory). */
template <int ROWS, int D>
__device__ __forceinline__ void raw_issue(unsigned raw, const float *base, int64_t rs, int row0, int S) {
  constexpr int CH = D / 4; /* 16-byte chunks of an fp32 row */
  static_assert(ROWS * CH % ATT_THREADS == 0, "whole chunks per thread");
#pragma unroll
  for (int i = 0; i < ROWS * CH / ATT_THREADS; ++i) {
    const int e = threadIdx.x + i * ATT_THREADS, r = e / CH, c = e % CH, row = row0 + r;
    const bool in = row < S;
    cp16(raw + (unsigned)(e * 16), base + (int64_t)(in ? row : 0) * rs + c * 4, in);
  }
}
template <typename TC, int ROWS, int D> __device__ __forceinline__ void raw_convert(unsigned tile, unsigned raw) {
  constexpr int CH = D / 8; /* 16-byte chunks of a 16-bit row: 8 floats each */
#pragma unroll
  for (int i = 0; i < ROWS * CH / ATT_THREADS; ++i) {
    const int e = threadIdx.x + i * ATT_THREADS, r = e / CH, c = e % CH;
    float v[8];
    asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];\n"
                 : "=f"(v[0]), "=f"(v[1]), "=f"(v[2]), "=f"(v[3]) : "r"(raw + (unsigned)(e * 32)));
    asm volatile("ld.shared.v4.f32 {%0, %1, %2, %3}, [%4];\n"
                 : "=f"(v[4]), "=f"(v[5]), "=f"(v[6]), "=f"(v[7]) : "r"(raw + (unsigned)(e * 32 + 16)));
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};\n" ::"r"(tile + swz<D>(r, c)), "r"(pack2<TC>(v[0], v[1])),
                 "r"(pack2<TC>(v[2], v[3])), "r"(pack2<TC>(v[4], v[5])), "r"(pack2<TC>(v[6], v[7])));
  }
}

__device__ __forceinline__ void ldsm4(uint32_t *r, unsigned a) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}
__device__ __forceinline__ void ldsm4t(uint32_t *r, unsigned a) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
}
template <typename TC> __device__ __forceinline__ void mma(float *c, const uint32_t *a, uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same<TC, __half>::value)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

template <typename TO> __device__ __forceinline__ void store2(TO *p, float a, float b) {
  if constexpr (std::is_same<TO, float>::value) {
    p[0] = a, p[1] = b;
  } else {
    *reinterpret_cast<uint32_t *>(p) = pack2<TO>(a, b);
  }
}

/* TI: the inputs' and output's element type in memory (float, __half, __nv_bfloat16); TC: the tensor-core operand
 * type; MT: m16 tiles per warp (BM = 64 * MT query rows a block); BN: keys a tile. */
template <int D, int MT, int BN> constexpr int min_blocks() {
  return (OPT & ATT_MINB) != 0 && D == 64 && MT == 1 && BN == 64 ? 4 : 1;
}

template <typename TI, typename TC, int D, int MT, int BN, bool RAW>
__global__ void __launch_bounds__(ATT_THREADS, min_blocks<D, MT, BN>()) flash_attention_kernel(const AttParams p) {
  constexpr int BM = 16 * MT * ATT_WARPS, NT = BN / 8, DT = D / 8;
  constexpr unsigned TILE = BN * D * 2; /* bytes of one K or V tile */
  extern __shared__ __align__(128) unsigned char smem[];
  const unsigned sbase = (unsigned)__cvta_generic_to_shared(smem);
  const unsigned sQ = sbase, sK = sQ + BM * D * 2, sV = sK + 2 * TILE; /* K, V: two stages each */
  const unsigned sRK = sV + 2 * TILE, sRV = sRK + 2 * TILE; /* raw: the next fp32 K and V tiles (BN * D * 4 bytes) */
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.y, b = bh / p.H, h = bh % p.H, q0 = blockIdx.x * BM;
  const TI *Q = static_cast<const TI *>(p.Q) + b * p.q_bs + h * p.q_hs;
  const TI *K = static_cast<const TI *>(p.K) + b * p.k_bs + h * p.k_hs;
  const TI *V = static_cast<const TI *>(p.V) + b * p.v_bs + h * p.v_hs;
  const float *M = p.mask ? p.mask + b * p.m_bs + h * p.m_hs : nullptr;
  const bool vec = p.vec != 0;
  constexpr bool raw = RAW; /* fp32 storage with vec: staged through the raw tiles (its own instantiation) */

  /* keys this block needs: all, or (causal) up to its last query's diagonal */
  int kend = p.Sk;
  if (p.causal) kend = min(p.Sk, max(0, q0 + BM + p.Sk - p.Sq));
  const int ntiles = (kend + BN - 1) / BN;

  stage<TI, TC, BM, D>(sQ, Q, p.q_rs, q0, p.Sq, vec);
  if constexpr (RAW) {
    if (ntiles > 0) { /* tile 0 into stage 0 through the raw tiles, tile 1's copies left in flight */
      raw_issue<BN, D>(sRK, reinterpret_cast<const float *>(K), p.k_rs, 0, p.Sk);
      raw_issue<BN, D>(sRV, reinterpret_cast<const float *>(V), p.v_rs, 0, p.Sk);
      asm volatile("cp.async.commit_group;\n" ::);
      asm volatile("cp.async.wait_group 0;\n" ::);
      __syncthreads();
      raw_convert<TC, BN, D>(sK, sRK);
      raw_convert<TC, BN, D>(sV, sRV);
      __syncthreads();
      if (ntiles > 1) {
        raw_issue<BN, D>(sRK, reinterpret_cast<const float *>(K), p.k_rs, BN, p.Sk);
        raw_issue<BN, D>(sRV, reinterpret_cast<const float *>(V), p.v_rs, BN, p.Sk);
      }
    }
  }
  if (!raw && ntiles > 0) {
    stage<TI, TC, BN, D>(sK, K, p.k_rs, 0, p.Sk, vec);
    stage<TI, TC, BN, D>(sV, V, p.v_rs, 0, p.Sk, vec);
  }
  asm volatile("cp.async.commit_group;\n" ::);

  /* l: row sums, rows g and g + 8 in l[mt][0] and l[mt][2] (ATT_MMASUM: an mma accumulator, whole rows; else each
   * thread's part, the quad's added at the end) */
  float o[MT][DT][4], m[MT][2], l[MT][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) o[mt][dt][0] = o[mt][dt][1] = o[mt][dt][2] = o[mt][dt][3] = 0.0f;
    m[mt][0] = m[mt][1] = -INFINITY;
    l[mt][0] = l[mt][1] = l[mt][2] = l[mt][3] = 0.0f;
  }
  constexpr bool QS = (OPT & ATT_QSMEM) != 0;
  uint32_t qf[MT][QS ? 1 : D / 16][4];
  const int wrow = warp * 16 * MT; /* the warp's first row in the block */

  for (int j = 0; j < ntiles; ++j) {
    const int st = j & 1;
    if (!raw) {
      if (j + 1 < ntiles) { /* the next tile streams in while this one is used */
        stage<TI, TC, BN, D>(sK + (st ^ 1) * TILE, K, p.k_rs, (j + 1) * BN, p.Sk, vec);
        stage<TI, TC, BN, D>(sV + (st ^ 1) * TILE, V, p.v_rs, (j + 1) * BN, p.Sk, vec);
        asm volatile("cp.async.commit_group;\n" ::);
        asm volatile("cp.async.wait_group 1;\n" ::);
      } else {
        asm volatile("cp.async.wait_group 0;\n" ::);
      }
      __syncthreads();
    } /* raw: stage st was converted and made visible at the end of the previous iteration (or before the loop) */
    if (!QS && j == 0) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk)
          ldsm4(qf[mt][QS ? 0 : kk], sQ + swz<D>(wrow + mt * 16 + (lane & 15), kk * 2 + (lane >> 4)));
    }
    const unsigned tk = sK + st * TILE, tv = sV + st * TILE;

    /* S = Q K^T: [16 * MT, BN] per warp */
    float s[MT][NT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) s[mt][nt][0] = s[mt][nt][1] = s[mt][nt][2] = s[mt][nt][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      if constexpr (QS) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) ldsm4(qf[mt][0], sQ + swz<D>(wrow + mt * 16 + (lane & 15), kk * 2 + (lane >> 4)));
      }
      const int qk = QS ? 0 : kk;
#pragma unroll
      for (int np = 0; np < NT / 2; ++np) {
        uint32_t kb[4];
        ldsm4(kb, tk + swz<D>(np * 16 + (lane & 7) + ((lane >> 4) << 3), kk * 2 + ((lane >> 3) & 1)));
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma<TC>(s[mt][2 * np], qf[mt][qk], kb[0], kb[1]);
          mma<TC>(s[mt][2 * np + 1], qf[mt][qk], kb[2], kb[3]);
        }
      }
    }

    /* scale, masks, online softmax; P (rounded to TC) replaces S in the A-fragment layout */
    const int k0 = j * BN;
    bool edge = k0 + BN > p.Sk || M != nullptr || (p.causal && k0 + BN - 1 > q0 + p.Sk - p.Sq);
    if constexpr ((OPT & ATT_FFMA) != 0) edge = edge || !(p.scale_log2 > 0.0f);
    uint32_t pf[MT][BN / 16][4];
    /* sc: the factor still to apply to s in the exponent (ATT_FFMA on interior tiles; else s is scaled here) */
    const float sc = (OPT & ATT_FFMA) != 0 && !edge ? p.scale_log2 : 1.0f;
    if (edge && M && p.m_qs == 0 && !p.causal && k0 + BN <= p.Sk) {
      /* a whole tile under a mask that does not depend on the query row (a key-padding mask [B, 1, 1, Sk]): the
       * thread's 2 * NT mask values loaded once, not once a score (uniform branch) */
      float mk[NT][2];
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c) mk[nt][c] = LOG2E * __ldg(M + (int64_t)(k0 + nt * 8 + 2 * t + c) * p.m_ks);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) s[mt][nt][e] = fmaf(s[mt][nt][e], p.scale_log2, mk[nt][e & 1]);
    } else if (edge) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int qi = q0 + wrow + mt * 16 + g + (e >> 1) * 8, kj = k0 + nt * 8 + 2 * t + (e & 1);
            float x = s[mt][nt][e] * p.scale_log2;
            if (kj >= p.Sk || (p.causal && kj > qi + p.Sk - p.Sq))
              x = -INFINITY;
            else if (M && qi < p.Sq)
              x += LOG2E * __ldg(M + (int64_t)qi * p.m_qs + (int64_t)kj * p.m_ks);
            s[mt][nt][e] = x;
          }
    } else if constexpr ((OPT & ATT_FFMA) == 0) { /* interior tile: scale only (one uniform branch) */
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int e = 0; e < 4; ++e) s[mt][nt][e] *= p.scale_log2;
    }
    float mx[MT][2], base[MT][2]; /* the tile's row max (scaled), the exponent's offset */
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) { /* rows g and g + 8 of the m tile */
        float x = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) x = fmaxf(x, fmaxf(s[mt][nt][2 * hr], s[mt][nt][2 * hr + 1]));
        x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
        x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
        mx[mt][hr] = x * sc;
      }
    }
    bool rescale = true;
    if constexpr ((OPT & ATT_LAZY) != 0) {
      bool grow = false;
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) grow = grow || mx[mt][hr] > m[mt][hr] + LAZY_LOG2; /* -inf m: any finite x */
      rescale = __any_sync(0xffffffffu, grow);
    }
    if (rescale) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
          const float mnew = fmaxf(m[mt][hr], mx[mt][hr]);
          base[mt][hr] = mnew == -INFINITY ? 0.0f : mnew; /* every key so far masked: exp2(-inf) = 0 */
          const float alpha = ex2(m[mt][hr] - base[mt][hr]);
          m[mt][hr] = mnew;
          l[mt][2 * hr] *= alpha, l[mt][2 * hr + 1] *= alpha;
#pragma unroll
          for (int dt = 0; dt < DT; ++dt) o[mt][dt][2 * hr] *= alpha, o[mt][dt][2 * hr + 1] *= alpha;
        }
      }
    } else { /* ATT_LAZY: no row grew by more than 2^LAZY_LOG2, the old max stays the offset */
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) base[mt][hr] = m[mt][hr] == -INFINITY ? 0.0f : m[mt][hr];
    }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const float nb = -base[mt][hr];
        float sum = 0.0f;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const float a = ex2(fmaf(s[mt][nt][2 * hr], sc, nb)), c = ex2(fmaf(s[mt][nt][2 * hr + 1], sc, nb));
          if constexpr ((OPT & ATT_MMASUM) == 0) sum += a + c;
          pf[mt][nt >> 1][(nt & 1) * 2 + hr] = pack2<TC>(a, c);
        }
        if constexpr ((OPT & ATT_MMASUM) == 0) l[mt][2 * hr] += sum;
      }
    }

    /* O += P V */
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
#pragma unroll
      for (int dp = 0; dp < DT / 2; ++dp) {
        uint32_t vb[4];
        ldsm4t(vb, tv + swz<D>(kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), dp * 2 + (lane >> 4)));
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma<TC>(o[mt][2 * dp], pf[mt][kk], vb[0], vb[1]);
          mma<TC>(o[mt][2 * dp + 1], pf[mt][kk], vb[2], vb[3]);
        }
      }
      if constexpr ((OPT & ATT_MMASUM) != 0) {
        const uint32_t one = pack2<TC>(1.0f, 1.0f);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) mma<TC>(l[mt], pf[mt][kk], one, one);
      }
    }
    if constexpr (RAW) {
      { /* tile j + 1: its raw copies landed (every thread's), into the other stage; tile j + 2 issued */
        if (j + 1 < ntiles) {
          asm volatile("cp.async.wait_group 0;\n" ::);
          __syncthreads(); /* also: every warp is done with the other stage (tile j - 1) */
          raw_convert<TC, BN, D>(sK + (st ^ 1) * TILE, sRK);
          raw_convert<TC, BN, D>(sV + (st ^ 1) * TILE, sRV);
          __syncthreads(); /* the converted tile visible, the raw tiles free */
          if (j + 2 < ntiles) {
            raw_issue<BN, D>(sRK, reinterpret_cast<const float *>(K), p.k_rs, (j + 2) * BN, p.Sk);
            raw_issue<BN, D>(sRV, reinterpret_cast<const float *>(V), p.v_rs, (j + 2) * BN, p.Sk);
            asm volatile("cp.async.commit_group;\n" ::);
          }
        }
        continue;
      }
    }
    __syncthreads(); /* this stage is refilled by the next iteration's loads */
  }
  if (ntiles == 0) { /* causal with no visible key, or Sk == 0: Q still has to land before it is overwritten */
    asm volatile("cp.async.wait_group 0;\n" ::);
  }

  /* O / rowsum, written with the output strides */
  TI *O = static_cast<TI *>(p.O) + b * p.o_bs + h * p.o_hs;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      float sum = l[mt][2 * hr];
      if constexpr ((OPT & ATT_MMASUM) == 0) {
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      }
      const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
      const int qi = q0 + wrow + mt * 16 + g + hr * 8;
      if (qi >= p.Sq) continue;
      TI *row = O + (int64_t)qi * p.o_rs;
#pragma unroll
      for (int dt = 0; dt < DT; ++dt) store2<TI>(row + dt * 8 + 2 * t, o[mt][dt][2 * hr] * inv, o[mt][dt][2 * hr + 1] * inv);
    }
  }
}

template <typename TI, typename TC, int D, int MT, int BN, bool RAW>
sdk_status launch_k(cudaStream_t stream, const AttParams &p) {
  constexpr int BM = 16 * MT * ATT_WARPS;
  const int smem = (BM + 4 * BN) * D * 2 + (RAW ? 2 * BN * D * 4 : 0); /* + the raw fp32 K and V tiles */
  auto *k = flash_attention_kernel<TI, TC, D, MT, BN, RAW>;
  if (cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem) != cudaSuccess) return SDK_ERR_CUDA;
  dim3 grid((unsigned)((p.Sq + BM - 1) / BM), (unsigned)(p.B * p.H));
  k<<<grid, ATT_THREADS, smem, stream>>>(p);
  return cudaGetLastError() == cudaSuccess ? SDK_OK : SDK_ERR_CUDA;
}
template <typename TI, typename TC, int D, int MT, int BN> sdk_status launch(cudaStream_t stream, const AttParams &p) {
  if constexpr (std::is_same<TI, float>::value) {
    if (p.vec) return launch_k<TI, TC, D, MT, BN, true>(stream, p);
  }
  return launch_k<TI, TC, D, MT, BN, false>(stream, p);
}

/* ---------------------------------------------------------------- Hopper wgmma kernel (opt-in: sm_90a with
 * -DSDK_CUDA_WGMMA -DSDK_ATT_WGMMA, which the cuda-sm90 profile sets; checked on an H100, bench/RESULTS_gpu.md)
 * 16-bit storage with 16-byte aligned rows (vec). A block of NWG warpgroups, each owning 64 query rows (BM = 64 NWG);
 * K and V tiles of BN keys stream through a STAGES-deep cp.async ring (all threads copy). S = Q K^T is one batch of
 * wgmma.m64nBNk16 per warpgroup with Q and K read from shared memory; O += P V is wgmma.m64nDk16 with P in registers
 * (the S accumulators rounded in place: the accumulator layout of 16 columns is the A-fragment layout) and V read
 * transposed from shared memory. Tiles are stored as 64-column blocks of 128-byte rows under the 128-byte swizzle
 * (16-byte chunk c of row r at chunk c ^ (r & 7)), the layout wgmma's descriptors read (as the GEMMs of
 * sdk_cuda_kernels.cu). PIPE: the product P V of tile j - 1 runs on the tensor cores while the softmax of tile j
 * runs (issued after S of tile j, waited for before O is rescaled), as FlashAttention-3 does within a warpgroup. The
 * softmax, masks and edge handling are those of flash_attention_kernel above (MT = 1 rows). Causal grids take the
 * query blocks with the most keys first. */
#if defined(SDK_CUDA_WGMMA) && defined(SDK_ATT_WGMMA)
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SDK_ATT_WGMMA_DEVICE 1
/* S = Q K^T: A (Q) and B (K) from shared memory, both K-major; D += A B */
__device__ __forceinline__ void att_wgmma_ss64(float *d, uint64_t da, uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
               "%32, %33, 1, 1, 1, 0, 0;\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
               : "l"(da), "l"(db));
}
__device__ __forceinline__ void att_wgmma_ss128(float *d, uint64_t da, uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
               "%64, %65, 1, 1, 1, 0, 0;\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
               : "l"(da), "l"(db));
}
/* the first k step of S: D = A B, write-only accumulators (no register of a previous S is an input) */
__device__ __forceinline__ void att_wgmma_ss64z(float *d, uint64_t da, uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
               "%32, %33, 0, 1, 1, 0, 0;\n"
               : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3]), "=f"(d[4]), "=f"(d[5]), "=f"(d[6]), "=f"(d[7]), "=f"(d[8]), "=f"(d[9]), "=f"(d[10]), "=f"(d[11]), "=f"(d[12]), "=f"(d[13]), "=f"(d[14]), "=f"(d[15]), "=f"(d[16]), "=f"(d[17]), "=f"(d[18]), "=f"(d[19]), "=f"(d[20]), "=f"(d[21]), "=f"(d[22]), "=f"(d[23]), "=f"(d[24]), "=f"(d[25]), "=f"(d[26]), "=f"(d[27]), "=f"(d[28]), "=f"(d[29]), "=f"(d[30]), "=f"(d[31])
               : "l"(da), "l"(db));
}
__device__ __forceinline__ void att_wgmma_ss128z(float *d, uint64_t da, uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
               "%64, %65, 0, 1, 1, 0, 0;\n"
               : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3]), "=f"(d[4]), "=f"(d[5]), "=f"(d[6]), "=f"(d[7]), "=f"(d[8]), "=f"(d[9]), "=f"(d[10]), "=f"(d[11]), "=f"(d[12]), "=f"(d[13]), "=f"(d[14]), "=f"(d[15]), "=f"(d[16]), "=f"(d[17]), "=f"(d[18]), "=f"(d[19]), "=f"(d[20]), "=f"(d[21]), "=f"(d[22]), "=f"(d[23]), "=f"(d[24]), "=f"(d[25]), "=f"(d[26]), "=f"(d[27]), "=f"(d[28]), "=f"(d[29]), "=f"(d[30]), "=f"(d[31]), "=f"(d[32]), "=f"(d[33]), "=f"(d[34]), "=f"(d[35]), "=f"(d[36]), "=f"(d[37]), "=f"(d[38]), "=f"(d[39]), "=f"(d[40]), "=f"(d[41]), "=f"(d[42]), "=f"(d[43]), "=f"(d[44]), "=f"(d[45]), "=f"(d[46]), "=f"(d[47]), "=f"(d[48]), "=f"(d[49]), "=f"(d[50]), "=f"(d[51]), "=f"(d[52]), "=f"(d[53]), "=f"(d[54]), "=f"(d[55]), "=f"(d[56]), "=f"(d[57]), "=f"(d[58]), "=f"(d[59]), "=f"(d[60]), "=f"(d[61]), "=f"(d[62]), "=f"(d[63])
               : "l"(da), "l"(db));
}
/* S for 80-key tiles (cfg 20) */
__device__ __forceinline__ void att_wgmma_ss80(float *d, uint64_t da, uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n80k16.f32.f16.f16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39}, "
               "%40, %41, 1, 1, 1, 0, 0;\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39])
               : "l"(da), "l"(db));
}
__device__ __forceinline__ void att_wgmma_ss80z(float *d, uint64_t da, uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n80k16.f32.f16.f16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39}, "
               "%40, %41, 0, 1, 1, 0, 0;\n"
               : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3]), "=f"(d[4]), "=f"(d[5]), "=f"(d[6]), "=f"(d[7]), "=f"(d[8]), "=f"(d[9]), "=f"(d[10]), "=f"(d[11]), "=f"(d[12]), "=f"(d[13]), "=f"(d[14]), "=f"(d[15]), "=f"(d[16]), "=f"(d[17]), "=f"(d[18]), "=f"(d[19]), "=f"(d[20]), "=f"(d[21]), "=f"(d[22]), "=f"(d[23]), "=f"(d[24]), "=f"(d[25]), "=f"(d[26]), "=f"(d[27]), "=f"(d[28]), "=f"(d[29]), "=f"(d[30]), "=f"(d[31]), "=f"(d[32]), "=f"(d[33]), "=f"(d[34]), "=f"(d[35]), "=f"(d[36]), "=f"(d[37]), "=f"(d[38]), "=f"(d[39])
               : "l"(da), "l"(db));
}
/* O += P V: A (P) from registers (the mma.m16n8k16 A-fragment layout), B (V) from shared memory N-major (imm-trans-b) */
__device__ __forceinline__ void att_wgmma_rs64(float *d, const uint32_t *a, uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
               "{%32, %33, %34, %35}, %36, 1, 1, 1, 1;\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}
__device__ __forceinline__ void att_wgmma_rs128(float *d, const uint32_t *a, uint64_t db) {
  asm volatile("wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 "
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
               "{%64, %65, %66, %67}, %68, 1, 1, 1, 1;\n"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db));
}
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
/* shared-memory matrix descriptor, 128-byte swizzle: start address, leading / stride byte offsets */
__device__ __forceinline__ uint64_t wdesc(unsigned addr, unsigned lbo, unsigned sbo) {
  return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) | ((uint64_t)(sbo >> 4) << 32) |
         ((uint64_t)1 << 62);
}
#endif

/* chunk c (16 bytes) of row r in a [ROWS][D] tile: 64-column blocks of ROWS x 128 bytes, 128-byte swizzle */
template <int ROWS> __device__ __forceinline__ unsigned wsw(int r, int c) {
  return (unsigned)((c >> 3) * (ROWS * 128) + r * 128 + (((c & 7) ^ (r & 7)) << 4));
}

/* rows [row0, row0 + ROWS) of one head's [S, D] 16-bit operand into the tile (rows >= S: zeros), cp.async */
template <int ROWS, int D, int THREADS>
__device__ __forceinline__ void wstage(unsigned tile, const __half *base, int64_t rs, int row0, int S) {
  constexpr int CH = D / 8, RSTEP = THREADS / CH, NP = (ROWS + RSTEP - 1) / RSTEP;
  static_assert(THREADS % CH == 0 && RSTEP % 8 == 0, "whole rows per pass, the swizzle of the first row kept");
  const int r0 = threadIdx.x / CH, c = threadIdx.x % CH;
  const __half *g = base + (int64_t)(row0 + r0) * rs + c * 8;
  const int64_t step = (int64_t)RSTEP * rs;
  const unsigned s = tile + wsw<ROWS>(r0, c); /* rows r0 + i RSTEP share r0's swizzle (RSTEP % 8 == 0) */
  const bool whole = row0 + ROWS <= S;
#pragma unroll
  for (int i = 0; i < NP; ++i, g += step) {
    if (ROWS % RSTEP != 0 && i == NP - 1 && r0 + i * RSTEP >= ROWS) break; /* a last partial pass */
    const bool in = whole || row0 + r0 + i * RSTEP < S;
    cp16(s + (unsigned)(i * RSTEP * 128), in ? g : base, in);
  }
}

/* LAZY: the running row max moves only when some row of the warp would grow by more than 2^LAZY_LOG2 (one warp vote
 * a tile); otherwise the rows keep their max, O and the sums their scale (no rescale), and P <= 2^LAZY_LOG2 */
/* TMA kernels: Q, K and V as 4-D tensor maps [B][H][S][D] (strides from AttParams), boxes of 64 columns x BM (Q) or
 * BN (K, V) rows with the 128-byte swizzle: a box lands as one 64-column block of the wsw layout */
struct AttMaps {
  CUtensorMap q, k, v;
};

/* TMA: K and V tiles (and Q) arrive by bulk tensor copies that thread 0 issues, completing on one mbarrier a stage
 * (rows past S zero-filled by the copy engine), instead of every thread's cp.async (~90 of the ~400 instructions a
 * warp issued a 64-key tile, SASS of cfg 12); SPLIT: the leading tiles that need no mask, bounds or causal test
 * (all of them but the last, unmasked and non-causal) run a loop of their own with those tests compiled out (the
 * per-tile checks and the mask's staging were ~35 instructions a warp a tile, re-evaluated every tile) */
template <int D, int BN, int NWG, int STAGES, bool PIPE, int MINB, bool LAZY, bool TMA, bool SPLIT>
__global__ void __launch_bounds__(128 * NWG, MINB) flash_attention_wgmma_kernel(const AttParams p,
                                                                                const __grid_constant__ AttMaps tm) {
#ifdef SDK_ATT_WGMMA_DEVICE
  constexpr int BM = 64 * NWG, THREADS = 128 * NWG, NT = BN / 8, DT = D / 8;
  constexpr int PF = PIPE ? STAGES - 2 : STAGES - 1; /* tiles in flight ahead of the one in use */
  static_assert(PF >= 1, "stages");
  static_assert(!(SPLIT && PIPE), "SPLIT: the loop without PIPE");
  constexpr unsigned TILE = BN * D * 2;
  extern __shared__ __align__(128) unsigned char smem[];
  const unsigned sbase = (unsigned)__cvta_generic_to_shared(smem);
  const unsigned sQ = (sbase + 1023u) & ~1023u; /* the swizzle atom: 1 KB */
  const unsigned sK = sQ + BM * D * 2, sV = sK + STAGES * TILE, sM = sV + STAGES * TILE;
  /* TMA: the stages' mbarriers, then Q's (after the mask stages) */
  uint64_t *bars = reinterpret_cast<uint64_t *>(smem + (sM + STAGES * BN * 4 - sbase));
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int wg = NWG == 1 ? 0 : warp >> 2; /* one warpgroup: Q's descriptor stays in uniform registers */
  const int bh = blockIdx.y, b = bh / p.H, h = bh % p.H;
  const int qb = p.causal ? (int)(gridDim.x - 1 - blockIdx.x) : (int)blockIdx.x; /* causal: longest rows first */
  const int q0 = qb * BM;
  const __half *Q = static_cast<const __half *>(p.Q) + b * p.q_bs + h * p.q_hs;
  const __half *K = static_cast<const __half *>(p.K) + b * p.k_bs + h * p.k_hs;
  const __half *V = static_cast<const __half *>(p.V) + b * p.v_bs + h * p.v_hs;
  const float *M = p.mask ? p.mask + b * p.m_bs + h * p.m_hs : nullptr;
  /* a key-padding mask (one value a key, contiguous, 16-byte aligned) travels with each whole K tile: BN floats a
   * stage, copied by cp.async in the tile's commit group, so the softmax reads it from shared memory instead of
   * waiting on global loads after S is done */
  const bool msm = M && p.m_qs == 0 && p.m_ks == 1 && !p.causal && ((uintptr_t)M & 15) == 0;
  auto mstage = [&](int stage, int k0) {
    if (msm && k0 + BN <= p.Sk && (int)threadIdx.x < BN / 4)
      cp16(sM + (unsigned)(stage * BN * 4 + threadIdx.x * 16), M + k0 + threadIdx.x * 4, true);
  };

  int kend = p.Sk;
  if (p.causal) kend = min(p.Sk, max(0, q0 + BM + p.Sk - p.Sq));
  const int ntiles = (kend + BN - 1) / BN;

  auto gen = [&](unsigned a) { return static_cast<void *>(smem + (a - sbase)); };
  auto tma_tile = [&](int i, int stage) { /* thread 0: tile i's K and V boxes into stage, on its mbarrier */
    mbar_expect_tx(bars + stage, 2 * TILE);
#pragma unroll
    for (int cb = 0; cb < D / 64; ++cb) {
      tma_load_4d(gen(sK + stage * TILE + cb * BN * 128), &tm.k, cb * 64, i * BN, h, b, bars + stage);
      tma_load_4d(gen(sV + stage * TILE + cb * BN * 128), &tm.v, cb * 64, i * BN, h, b, bars + stage);
    }
  };
  if constexpr (TMA) {
    if (threadIdx.x == 0) {
      for (int i = 0; i <= STAGES; ++i) mbar_init(bars + i, 1);
      fence_proxy_async();
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      mbar_expect_tx(bars + STAGES, BM * D * 2);
#pragma unroll
      for (int cb = 0; cb < D / 64; ++cb) tma_load_4d(gen(sQ + cb * BM * 128), &tm.q, cb * 64, q0, h, b, bars + STAGES);
      for (int i = 0; i < PF && i < ntiles; ++i) tma_tile(i, i);
    }
  } else {
    wstage<BM, D, THREADS>(sQ, Q, p.q_rs, q0, p.Sq);
  }
#pragma unroll
  for (int i = 0; i < PF; ++i) { /* one commit group a tile (empty past the end), Q with tile 0 */
    if (i < ntiles) {
      if constexpr (!TMA) {
        wstage<BN, D, THREADS>(sK + i * TILE, K, p.k_rs, i * BN, p.Sk);
        wstage<BN, D, THREADS>(sV + i * TILE, V, p.v_rs, i * BN, p.Sk);
      }
      mstage(i, i * BN);
    }
    asm volatile("cp.async.commit_group;\n" ::);
  }
  if constexpr (TMA) mbar_wait(bars + STAGES, 0);

  float o[D / 2], s[BN / 2], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, alpha[2];
  uint32_t pp[BN / 16][4]; /* P of a tile (PIPE: of the previous tile, still read by its P V product) */
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.0f;
  const int wrow = warp * 16; /* the warp's first row in the block */
  const uint64_t dQ = wdesc(sQ + wg * 64 * 128, 16, 1024);

  /* tile j landed and visible; tile j + PF issued into the stage freed last. inter (SPLIT, std::true_type): no mask,
   * so no cp.async group to wait for or commit */
  auto next_tile = [&](int j, auto inter) {
    if constexpr (TMA) {
      if constexpr (!decltype(inter)::value) /* tile j's mask values (msm) */
        asm volatile("cp.async.wait_group %0;\n" ::"n"(PF - 1));
      __syncthreads(); /* every warp done with the stage refilled below (its P V waited for); the mask visible */
      if (j + PF < ntiles) {
        const int sn = (j + PF) % STAGES;
        if (threadIdx.x == 0) tma_tile(j + PF, sn);
        if constexpr (!decltype(inter)::value) mstage(sn, (j + PF) * BN);
      }
      if constexpr (!decltype(inter)::value) asm volatile("cp.async.commit_group;\n" ::);
      mbar_wait(bars + j % STAGES, (unsigned)(j / STAGES) & 1u);
      return;
    }
    asm volatile("cp.async.wait_group %0;\n" ::"n"(PF - 1)); /* this thread's copies of tile j (and Q) */
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); /* visible to the tensor cores' reads */
    __syncthreads(); /* every thread's copies; the stage refilled below is read by no product in flight */
    if (j + PF < ntiles) {
      const int sn = (j + PF) % STAGES;
      wstage<BN, D, THREADS>(sK + sn * TILE, K, p.k_rs, (j + PF) * BN, p.Sk);
      wstage<BN, D, THREADS>(sV + sn * TILE, V, p.v_rs, (j + PF) * BN, p.Sk);
      mstage(sn, (j + PF) * BN);
    }
    asm volatile("cp.async.commit_group;\n" ::);
  };
  auto qk = [&](int stage) { /* S = Q K^T of the tile in stage (one commit group; the fence covers what follows) */
    wg_fence();
    const uint64_t dK = wdesc(sK + stage * TILE, 16, 1024);
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const unsigned qa = (kk >> 2) * (BM * 128) + (kk & 3) * 32, ka = (kk >> 2) * (BN * 128) + (kk & 3) * 32;
      if (kk == 0) {
        if constexpr (BN == 64) att_wgmma_ss64z(s, dQ + (qa >> 4), dK + (ka >> 4));
        else if constexpr (BN == 80) att_wgmma_ss80z(s, dQ + (qa >> 4), dK + (ka >> 4));
        else att_wgmma_ss128z(s, dQ + (qa >> 4), dK + (ka >> 4));
      } else {
        if constexpr (BN == 64) att_wgmma_ss64(s, dQ + (qa >> 4), dK + (ka >> 4));
        else if constexpr (BN == 80) att_wgmma_ss80(s, dQ + (qa >> 4), dK + (ka >> 4));
        else att_wgmma_ss128(s, dQ + (qa >> 4), dK + (ka >> 4));
      }
    }
    wg_commit();
  };
  auto pv = [&](const uint32_t (*pf)[4], int stage) { /* O += P V of the tile in stage (one commit group) */
    const uint64_t dV = wdesc(sV + stage * TILE, BN * 128, 1024);
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      if constexpr (D == 64) att_wgmma_rs64(o, pf[kk], dV + ((kk * 16 * 128) >> 4));
      else att_wgmma_rs128(o, pf[kk], dV + ((kk * 16 * 128) >> 4));
    }
    wg_commit();
  };
  auto s_ready = [&]() {
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) asm volatile("" : "+f"(s[i])::"memory");
  };
  auto o_ready = [&]() {
#pragma unroll
    for (int i = 0; i < D / 2; ++i) asm volatile("" : "+f"(o[i])::"memory");
  };
  auto rescale = [&]() {
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
      o[dt * 4] *= alpha[0], o[dt * 4 + 1] *= alpha[0], o[dt * 4 + 2] *= alpha[1], o[dt * 4 + 3] *= alpha[1];
  };
  /* scale, masks, online softmax of tile j's S (as flash_attention_kernel): P into pc, alpha and the sums updated */
  /* inter (SPLIT, std::true_type): a tile known to be interior (no mask, every key in bounds and visible, scale > 0) */
  auto softmax = [&](int j, uint32_t (*pc)[4], auto inter) {
    const int k0 = j * BN;
    const bool edge = !decltype(inter)::value && (k0 + BN > p.Sk || M != nullptr || !(p.scale_log2 > 0.0f) ||
                                                  (p.causal && k0 + BN - 1 > q0 + p.Sk - p.Sq));
    const float sc = edge ? 1.0f : p.scale_log2; /* interior tiles: the scale folded into the exponent's FFMA */
    float x[BN / 2];
    if (edge && M && p.m_qs == 0 && !p.causal && k0 + BN <= p.Sk) { /* key-padding mask, whole tile */
      float mk[NT][2];
      if (msm) { /* the tile's mask values from shared memory (mstage) */
        const float *sm = reinterpret_cast<const float *>(smem + (sM - (unsigned)__cvta_generic_to_shared(smem))) +
                          (j % STAGES) * BN + 2 * t;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) {
          const float2 v = *reinterpret_cast<const float2 *>(sm + nt * 8);
          mk[nt][0] = LOG2E * v.x, mk[nt][1] = LOG2E * v.y;
        }
      } else {
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
          for (int c = 0; c < 2; ++c) mk[nt][c] = LOG2E * __ldg(M + (int64_t)(k0 + nt * 8 + 2 * t + c) * p.m_ks);
      }
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) x[nt * 4 + e] = fmaf(s[nt * 4 + e], p.scale_log2, mk[nt][e & 1]);
    } else if (edge) {
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int qi = q0 + wrow + g + (e >> 1) * 8, kj = k0 + nt * 8 + 2 * t + (e & 1);
          float y = s[nt * 4 + e] * p.scale_log2;
          if (kj >= p.Sk || (p.causal && kj > qi + p.Sk - p.Sq))
            y = -INFINITY;
          else if (M && qi < p.Sq)
            y += LOG2E * __ldg(M + (int64_t)qi * p.m_qs + (int64_t)kj * p.m_ks);
          x[nt * 4 + e] = y;
        }
    } else {
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) x[i] = s[i];
    }
    float nb[2], mx[2];
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      mx[hr] = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) mx[hr] = fmaxf(mx[hr], fmaxf(x[nt * 4 + 2 * hr], x[nt * 4 + 2 * hr + 1]));
      mx[hr] = fmaxf(mx[hr], __shfl_xor_sync(0xffffffffu, mx[hr], 1));
      mx[hr] = fmaxf(mx[hr], __shfl_xor_sync(0xffffffffu, mx[hr], 2));
    }
    /* LAZY: every row of the warp within 2^LAZY_LOG2 of its max so far (or still all masked): keep the scale */
    const bool keep = LAZY && __all_sync(0xffffffffu, mx[0] * sc <= m[0] + LAZY_LOG2 && mx[1] * sc <= m[1] + LAZY_LOG2);
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const float mnew = keep ? m[hr] : fmaxf(m[hr], mx[hr] * sc);
      const float base = mnew == -INFINITY ? 0.0f : mnew; /* every key so far masked: exp2(-inf) = 0 */
      alpha[hr] = keep ? 1.0f : ex2(m[hr] - base);
      m[hr] = mnew;
      nb[hr] = -base;
    }
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      float sum = 0.0f;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const float a = ex2(fmaf(x[nt * 4 + 2 * hr], sc, nb[hr])), c = ex2(fmaf(x[nt * 4 + 2 * hr + 1], sc, nb[hr]));
        sum += a + c;
        pc[nt >> 1][(nt & 1) * 2 + hr] = pack2<__half>(a, c);
      }
      l[hr] = l[hr] * alpha[hr] + sum;
    }
    return !keep; /* O to rescale by alpha */
  };

  if constexpr (PIPE) {
    /* P alternates between pp and pq (no register copies: ptxas serializes the wgmmas when the A fragments of one in
     * flight are defined by moves) */
    uint32_t pq[BN / 16][4];
    auto step = [&](int j, uint32_t (*pin)[4], uint32_t (*pout)[4]) { /* pin: P of tile j - 1; pout: P of tile j */
      next_tile(j, std::false_type());
      qk(j % STAGES);
      pv(pin, (j - 1) % STAGES); /* the previous tile's P V runs during this tile's softmax */
      wg_wait<1>();
      s_ready();
      const bool moved = softmax(j, pout, std::false_type());
      wg_wait<0>(); /* O complete up to tile j - 1, pin free */
      o_ready();
#pragma unroll
      for (int i = 0; i < BN / 16; ++i)
        asm volatile("" : "+r"(pin[i][0]), "+r"(pin[i][1]), "+r"(pin[i][2]), "+r"(pin[i][3])::"memory");
      if (moved) rescale();
    };
    if (ntiles > 0) {
      next_tile(0, std::false_type());
      qk(0);
      wg_wait<0>();
      s_ready();
      softmax(0, pp, std::false_type()); /* O is still zero: no rescale */
      for (int j = 1; j < ntiles; j += 2) {
        step(j, pp, pq);
        if (j + 1 < ntiles) step(j + 1, pq, pp);
      }
      if ((ntiles - 1) & 1) {
        wg_fence();
        pv(pq, (ntiles - 1) % STAGES);
        wg_wait<0>();
      } else {
        wg_fence();
        pv(pp, (ntiles - 1) % STAGES);
        wg_wait<0>();
      }
      o_ready();
    }
  } else {
    auto tile = [&](int j, auto inter) {
      next_tile(j, inter);
      qk(j % STAGES);
      wg_wait<0>();
      s_ready();
      if (softmax(j, pp, inter)) rescale();
      wg_fence();
      pv(pp, j % STAGES);
      wg_wait<0>();
      o_ready();
    };
    int j = 0;
    if constexpr (SPLIT) {
      /* interior tiles lead: k0 + BN <= Sk, and (causal) k0 + BN <= d, the keys the block's first row sees */
      const int d = q0 + p.Sk - p.Sq + 1;
      const int jint = M != nullptr || !(p.scale_log2 > 0.0f) ? 0 : min(p.Sk / BN, p.causal ? max(0, d) / BN : ntiles);
      for (; j < jint; ++j) tile(j, std::true_type());
    }
    for (; j < ntiles; ++j) tile(j, std::false_type());
  }
  asm volatile("cp.async.wait_group 0;\n" ::); /* nothing left in flight (Q when no key tile ran) */

  __half *O = static_cast<__half *>(p.O) + b * p.o_bs + h * p.o_hs;
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    float sum = l[hr];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    const int qi = q0 + wrow + g + hr * 8;
    if (qi >= p.Sq) continue;
    __half *row = O + (int64_t)qi * p.o_rs;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) store2<__half>(row + dt * 8 + 2 * t, o[dt * 4 + 2 * hr] * inv, o[dt * 4 + 2 * hr + 1] * inv);
  }
#else
  (void)p, (void)tm;
  __trap(); /* built without sm_90a: never launched (SDK_CUDA_WGMMA means an sm_90a build) */
#endif
}

/* one head's operand [B][H][S][D] (element strides rs, hs, bs) as a TMA map with boxes of 64 columns x rows; false when
 * the encoder is missing or refuses it (the caller then stages with cp.async) */
static bool att_map(CUtensorMap *map, const void *base, int64_t B, int64_t H, int64_t S, int64_t D, int64_t rs,
                    int64_t hs, int64_t bs, int rows) {
  const sdk_encode_tiled_fn fn = sdk_encode_tiled();
  if (fn == NULL || S < 1) return false;
  /* a size-1 axis is never stepped along (its own stride may be 0 or odd): the packed one, as if [B][H][S][rs] */
  const int64_t hs1 = H == 1 ? S * rs : hs, st[3] = {rs, hs1, B == 1 ? H * hs1 : bs};
  cuuint64_t strides[3];
  for (int i = 0; i < 3; ++i) {
    if (st[i] <= 0 || st[i] % 8 != 0 || st[i] >= ((int64_t)1 << 38)) return false; /* 16-byte multiples < 2^40 */
    strides[i] = (cuuint64_t)st[i] * 2;
  }
  const cuuint64_t dims[4] = {(cuuint64_t)D, (cuuint64_t)S, (cuuint64_t)H, (cuuint64_t)B};
  const cuuint32_t box[4] = {64, (cuuint32_t)rows, 1, 1}, estr[4] = {1, 1, 1, 1};
  return fn(map, CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4, const_cast<void *>(base), dims, strides, box, estr,
            CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

template <int D, int BN, int NWG, int STAGES, bool PIPE, int MINB = 1, bool LAZY = false, bool TMA = false,
          bool SPLIT = false>
sdk_status launch_wg(cudaStream_t stream, const AttParams &p) {
  constexpr int BM = 64 * NWG;
  AttMaps tm;
  memset(&tm, 0, sizeof tm);
  if constexpr (TMA) {
    if (!att_map(&tm.q, p.Q, p.B, p.H, p.Sq, D, p.q_rs, p.q_hs, p.q_bs, BM) ||
        !att_map(&tm.k, p.K, p.B, p.H, p.Sk, D, p.k_rs, p.k_hs, p.k_bs, BN) ||
        !att_map(&tm.v, p.V, p.B, p.H, p.Sk, D, p.v_rs, p.v_hs, p.v_bs, BN))
      return launch_wg<D, BN, NWG, STAGES, PIPE, MINB, LAZY>(stream, p); /* cp.async staging, no SPLIT */
  }
  /* Q, the K and V stages, a key-padding mask's stages (BN floats each), TMA's mbarriers, room to align to the 1 KB
   * swizzle atom */
  const int smem = (BM + 2 * STAGES * BN) * D * 2 + STAGES * BN * 4 + (TMA ? 8 * (STAGES + 1) : 0) + 1024;
  auto *k = flash_attention_wgmma_kernel<D, BN, NWG, STAGES, PIPE, MINB, LAZY, TMA, SPLIT>;
  if (cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, smem) != cudaSuccess) return SDK_ERR_CUDA;
  dim3 grid((unsigned)((p.Sq + BM - 1) / BM), (unsigned)(p.B * p.H));
  k<<<grid, 128 * NWG, smem, stream>>>(p, tm);
  return cudaGetLastError() == cudaSuccess ? SDK_OK : SDK_ERR_CUDA;
}
#endif /* SDK_CUDA_WGMMA && SDK_ATT_WGMMA */

/* cfg (bench/attention_gpu.py and bench/attention_variants.py time them; 0 is the default). The mma.sync kernel:
 * for D = 64, 1: 16 query rows a warp, 64-key tiles; 2: 16 rows, 128-key tiles; 3: 32 rows, 64 keys; D = 128: 16
 * rows, 64 keys. The wgmma kernel (built with SDK_CUDA_WGMMA and SDK_ATT_WGMMA; 16-bit storage, 16-byte aligned
 * rows; else cfg 3), (keys a tile, warpgroups, stages, PIPE) for D = 64 / D = 128: 4: (128, 2, 3, yes) / same; 5:
 * (128, 2, 2, no) / same; 6: (64, 2, 3, yes) / same; 7: (64, 3, 4, yes) / same; 8: (64, 2, 2, no, two blocks an SM)
 * / same; 10 (D = 64): (128, one warpgroup of 64 rows, 2, no, three blocks an SM: no block waits on another's
 * barrier, and a 64-row grid fills the SMs more evenly) / as 8; 11: 10 at D = 64 when cfg 8's grid of 128-row
 * blocks is more than one wave of two blocks an SM, else 8 (H200, bench/RESULTS_gpu.md gpu43: cfg 10 took 0.94 /
 * 0.90 of cfg 8's time at B 8 H 12 S 512, 0.94 / 0.95 at B 4 H 16 S 2048, 0.90 / 0.85 causal at B 1, 1.03 at B 1
 * H 16 S 2048, whose 256 blocks are one wave; 11 is not the profile's default until a BERT model run checks it);
 * 12 (D = 64): (64, one warpgroup of 64 rows, 2, no, four blocks an SM: 128 registers, no block waits on another's
 * barrier) / as 5 (cfg 8's kernel at D = 128 is capped at 128 registers for two blocks an SM and spills 236 bytes;
 * cfg 5's 128-key tiles at one block an SM, 236 registers, no spills, took 0.81 / 0.83 of its time at B 1 / B 4 H 16
 * S 2048 D 128: H100, bench/RESULTS_gpu.md gpu46); 13: 12 with the lazy row max (LAZY) / 8 with it; 14: 8 with it
 * (H100, gpu45: cfg 12 took 0.95 of cfg 8's time at B 8 H 12 S 512 and on BERT's call, 0.89 causal, 1.00 at B 1 H
 * 16 S 2048); 20 (D = 64): 12 with 80-key tiles (the tile's fixed work - staging, row max shuffles, O rescale,
 * product waits - over 25 % more keys; 128 registers, no spills; 2048 keys are 25 tiles and an edge tile) / as 12;
 * 23: 12 / 5 with TMA and SPLIT (K, V and Q by bulk tensor copies on mbarriers; the interior tiles' loop without the
 * mask, bounds and causal tests: ~270 instructions a warp a 64-key tile against cfg 12's ~410; 120 / 224
 * registers, no spills); 25: 23 without a mask, 12 / 5 with one (H100, bench/RESULTS_gpu.md gpu47, batched: 23
 * took 0.83 / 0.81-0.83 of 12's time at B 1 / B 4 H 16 S 2048 D 64, 0.87 / 0.85-0.86 at D 128, 0.82-0.85 causal at
 * D 64, 0.88 at B 8 H 12 S 512; BERT's masked call 1-2 % slower than 12, hence 25).
 * 0: SDK_ATT_WG_DEFAULT (0 here: the mma.sync kernel's cfg 3; the cuda-sm90 profile sets 25). */
#ifndef SDK_ATT_WG_DEFAULT
#define SDK_ATT_WG_DEFAULT 0
#endif
#if defined(SDK_CUDA_WGMMA) && defined(SDK_ATT_WGMMA)
static int att_sm_count(void) {
  int dev = 0, n = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || n < 1)
    return 1;
  return n;
}
#endif
template <typename TI, typename TC> sdk_status dispatch(cudaStream_t stream, int64_t D, int cfg, const AttParams &p) {
#if defined(SDK_CUDA_WGMMA) && defined(SDK_ATT_WGMMA)
  if constexpr (std::is_same<TI, __half>::value) {
    if (cfg == 0) cfg = SDK_ATT_WG_DEFAULT;
    if (cfg == 11) /* 10 at D = 64 past one wave of 8's 128-row blocks (two an SM), else 8 (see above) */
      cfg = D == 64 && (int64_t)p.B * p.H * ((p.Sq + 127) / 128) > 2 * att_sm_count() ? 10 : 8;
    if ((cfg == 23 || cfg == 25) && p.vec) { /* 12 / 5 with TMA and SPLIT; 25: only without a mask */
      if (cfg == 25 && p.mask != nullptr) cfg = 12;
      else if (D == 128) return launch_wg<128, 128, 2, 2, false, 1, false, true, true>(stream, p);
      else return launch_wg<64, 64, 1, 2, false, 4, false, true, true>(stream, p);
    }
    if (cfg == 20 && p.vec) { /* 12 with 80-key tiles at D = 64 (opt-in) */
      if (D == 128) return launch_wg<128, 128, 2, 2, false>(stream, p);
      return launch_wg<64, 80, 1, 2, false, 4>(stream, p);
    }
    if (cfg >= 12 && cfg <= 14 && p.vec) {
      if (D == 128) {
        if (cfg == 12) return launch_wg<128, 128, 2, 2, false>(stream, p); /* cfg 5's kernel */
        return launch_wg<128, 64, 2, 2, false, 2, true>(stream, p);
      }
      if (cfg == 12) return launch_wg<64, 64, 1, 2, false, 4>(stream, p);
      if (cfg == 13) return launch_wg<64, 64, 1, 2, false, 4, true>(stream, p);
      return launch_wg<64, 64, 2, 2, false, 2, true>(stream, p);
    }
    if (cfg >= 4 && cfg <= 10 && p.vec) { /* (9: as 8) */
      if (D == 128) {
        if (cfg == 4) return launch_wg<128, 128, 2, 3, true>(stream, p);
        if (cfg == 5) return launch_wg<128, 128, 2, 2, false>(stream, p);
        if (cfg == 6) return launch_wg<128, 64, 2, 3, true>(stream, p);
        if (cfg == 7) return launch_wg<128, 64, 3, 4, true>(stream, p);
        return launch_wg<128, 64, 2, 2, false, 2>(stream, p);
      }
      if (cfg == 4) return launch_wg<64, 128, 2, 3, true>(stream, p);
      if (cfg == 5) return launch_wg<64, 128, 2, 2, false>(stream, p);
      if (cfg == 6) return launch_wg<64, 64, 2, 3, true>(stream, p);
      if (cfg == 7) return launch_wg<64, 64, 3, 4, true>(stream, p);
      if (cfg == 10) return launch_wg<64, 128, 1, 2, false, 3>(stream, p);
      return launch_wg<64, 64, 2, 2, false, 2>(stream, p);
    }
  }
#endif
  if (D == 128) return launch<TI, TC, 128, 1, 64>(stream, p);
  if (cfg == 1) return launch<TI, TC, 64, 1, 64>(stream, p);
  if (cfg == 2) return launch<TI, TC, 64, 1, 128>(stream, p);
  return launch<TI, TC, 64, 2, 64>(stream, p);
}

bool aligned16(const void *ptr, int64_t row_stride, int64_t bs, int64_t hs, int esize) {
  const int64_t m = 16 / esize;
  return ((uintptr_t)ptr & 15) == 0 && row_stride % m == 0 && bs % m == 0 && hs % m == 0;
}

template <typename TI>
sdk_status attention(cudaStream_t stream, int precision, int cfg, int64_t B, int64_t H, int64_t Sq, int64_t Sk, int64_t D,
                     int64_t Dv, float scale, const TI *Q, int64_t q_bs, int64_t q_hs, int64_t q_rs, const TI *K,
                     int64_t k_bs, int64_t k_hs, int64_t k_rs, const TI *V, int64_t v_bs, int64_t v_hs, int64_t v_rs,
                     const float *mask, int64_t m_bs, int64_t m_hs, int64_t m_qs, int64_t m_ks, int64_t causal, TI *O,
                     int64_t o_bs, int64_t o_hs, int64_t o_rs) {
  if (D != Dv || (D != 64 && D != 128) || B < 1 || H < 1 || Sq < 0 || Sk < 0 || B * H > 65535 || Sq >= (1LL << 31) ||
      Sk >= (1LL << 31) || (precision != SDK_GEMM_F16 && precision != SDK_GEMM_BF16))
    return SDK_ERR_BAD_ARG;
  if (Sq == 0) return SDK_OK;
  AttParams p;
  p.B = (int)B, p.H = (int)H, p.Sq = (int)Sq, p.Sk = (int)Sk, p.scale_log2 = scale * LOG2E;
  p.Q = Q, p.K = K, p.V = V, p.O = O, p.mask = mask;
  p.q_bs = q_bs, p.q_hs = q_hs, p.q_rs = q_rs, p.k_bs = k_bs, p.k_hs = k_hs, p.k_rs = k_rs;
  p.v_bs = v_bs, p.v_hs = v_hs, p.v_rs = v_rs, p.o_bs = o_bs, p.o_hs = o_hs, p.o_rs = o_rs;
  p.m_bs = m_bs, p.m_hs = m_hs, p.m_qs = m_qs, p.m_ks = m_ks, p.causal = causal != 0;
  const int es = (int)sizeof(TI);
  p.vec = aligned16(Q, q_rs, q_bs, q_hs, es) && aligned16(K, k_rs, k_bs, k_hs, es) && aligned16(V, v_rs, v_bs, v_hs, es);
  if constexpr (std::is_same<TI, float>::value) { /* fp32 storage: either 16-bit operand type */
    if (precision == SDK_GEMM_BF16) return dispatch<float, __nv_bfloat16>(stream, D, cfg, p);
  }
  return dispatch<TI, __half>(stream, D, cfg, p);
}

} /* namespace */

sdk_status sdk_cuda_attention_f32(cudaStream_t stream, int precision, int64_t B, int64_t H, int64_t Sq, int64_t Sk,
                                  int64_t D, int64_t Dv, float scale, const float *Q, int64_t q_bs, int64_t q_hs,
                                  int64_t q_rs, const float *K, int64_t k_bs, int64_t k_hs, int64_t k_rs,
                                  const float *V, int64_t v_bs, int64_t v_hs, int64_t v_rs, const float *mask,
                                  int64_t m_bs, int64_t m_hs, int64_t m_qs, int64_t m_ks, int64_t causal, float *O,
                                  int64_t o_bs, int64_t o_hs, int64_t o_rs) {
  return attention<float>(stream, precision, 0, B, H, Sq, Sk, D, Dv, scale, Q, q_bs, q_hs, q_rs, K, k_bs, k_hs, k_rs, V,
                          v_bs, v_hs, v_rs, mask, m_bs, m_hs, m_qs, m_ks, causal, O, o_bs, o_hs, o_rs);
}

sdk_status sdk_cuda_attention_f16_cfg(cudaStream_t stream, int cfg, int64_t B, int64_t H, int64_t Sq, int64_t Sk,
                                      int64_t D, float scale, const __half *Q, int64_t q_bs, int64_t q_hs, int64_t q_rs,
                                      const __half *K, int64_t k_bs, int64_t k_hs, int64_t k_rs, const __half *V,
                                      int64_t v_bs, int64_t v_hs, int64_t v_rs, const float *mask, int64_t m_bs,
                                      int64_t m_hs, int64_t m_qs, int64_t m_ks, int64_t causal, __half *O,
                                      int64_t o_bs, int64_t o_hs, int64_t o_rs) {
  return attention<__half>(stream, SDK_GEMM_F16, cfg, B, H, Sq, Sk, D, D, scale, Q, q_bs, q_hs, q_rs, K, k_bs, k_hs,
                           k_rs, V, v_bs, v_hs, v_rs, mask, m_bs, m_hs, m_qs, m_ks, causal, O, o_bs, o_hs, o_rs);
}

sdk_status sdk_cuda_attention_f16(cudaStream_t stream, int64_t B, int64_t H, int64_t Sq, int64_t Sk, int64_t D,
                                  float scale, const __half *Q, int64_t q_bs, int64_t q_hs, int64_t q_rs,
                                  const __half *K, int64_t k_bs, int64_t k_hs, int64_t k_rs, const __half *V,
                                  int64_t v_bs, int64_t v_hs, int64_t v_rs, const float *mask, int64_t m_bs,
                                  int64_t m_hs, int64_t m_qs, int64_t m_ks, int64_t causal, __half *O, int64_t o_bs,
                                  int64_t o_hs, int64_t o_rs) {
  return sdk_cuda_attention_f16_cfg(stream, 0, B, H, Sq, Sk, D, scale, Q, q_bs, q_hs, q_rs, K, k_bs, k_hs, k_rs, V,
                                    v_bs, v_hs, v_rs, mask, m_bs, m_hs, m_qs, m_ks, causal, O, o_bs, o_hs, o_rs);
}
