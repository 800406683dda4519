/* Small-M matrix-vector products (GEMV) with the weight packed at build time: the memory-bound case of a GEMM with
 * 1-8 rows (M <= 8: one token, the beams of a beam search) or a convolution with one output pixel per image (1x1
 * conv on a 1x1 plane, a fully connected layer). Each weight vector loaded feeds a block of rows.
 * C99 (GCC/clang vector extensions where available), no state, no malloc. */
#ifndef SDK_GEMV_H
#define SDK_GEMV_H

#include <stdint.h>

#include "sdk_kernel_defs.h" /* SDK_OMP, SDK_PAR_MIN_WORK, the SDK_ACT_* codes */

#define SDK_GEMV_NR 32 /* outputs per full panel (sdk/tune/gemv.py PANEL) */
#define SDK_GEMV_NT 8  /* outputs per tail panel (sdk/tune/gemv.py TAIL) */

/* Y[r, n] = act(sum_k X[r * x_rs + k * x_cs] * W[n, k] + bias[n * bias_s] + R[r * N + n]), r < rows, n < N
 * (bias, R may be NULL; Y dense [rows, N]). Wp is W [N, K] packed by sdk/tune/gemv.py pack_weight: N / 32 full
 * panels, then ceil((N % 32) / 8) tail panels of 8 (zero-padded); a panel of width P holds its K x P block
 * k-major (Wp[k * P + j] = W[n0 + j, k]), so the kernel streams the weight once, front to back, each x[k]
 * feeding P multiply-adds. Threads: panels split across them above SDK_PAR_MIN_WORK multiply-adds. */
void sdk_gemv_f32(int64_t rows, int64_t N, int64_t K, const float *X, int64_t x_rs, int64_t x_cs,
                  const float *Wp, const float *bias, int64_t bias_s, const float *R, int64_t act, float act_a,
                  float act_b, float *Y);

/* sdk_gemv_f32 over a float16 packed weight (sdk build --weights fp16, docs/generation.md): Wp holds the IEEE
 * binary16 bit patterns of W in the same panel order (half the bytes to read); each is converted to float32 as it
 * is loaded (exactly) and the sums, bias, residual and activation are float32, in sdk_gemv_f32's order, so Y is
 * sdk_gemv_f32's over the float32 values of those halves. */
void sdk_gemv_f16w_f32(int64_t rows, int64_t N, int64_t K, const float *X, int64_t x_rs, int64_t x_cs,
                       const uint16_t *Wp, const float *bias, int64_t bias_s, const float *R, int64_t act, float act_a,
                       float act_b, float *Y);

/* Y[t, m, n] = alpha * sum_k A[t * a_bs + m * a_rs + k * a_cs] * B[t * b_bs + k * b_rs + n * b_cs], t < batch,
 * m < M, n < N (Y dense [batch, M, N]): a few rows times an operand computed at run time (attention over a
 * key/value cache: scores = q K^T, then probabilities V, M = 1 per head), with no packing. Fast when B's rows
 * (b_cs == 1: each k's N values contiguous, y accumulates them) or its columns (b_rs == 1 and a_cs == 1: each n
 * a contiguous dot product over k) are contiguous; any strides are correct. */
void sdk_gemm_smallm_f32(int64_t batch, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t a_bs,
                         int64_t a_rs, int64_t a_cs, const float *B, int64_t b_bs, int64_t b_rs, int64_t b_cs,
                         float *Y);

/* Key/value cache append while generating (sdk/transform/kv_cache.py): the cache tensors are [B, H, cap, D] in
 * memory (row t of block (b, h) at ((b * H + h) * cap + t) * D; cap: the compiled max_len), P rows valid. Writes
 * present block (b, h): rows t < P from past block (parent[b], h) (parent NULL: b; a negative parent counts from
 * B, as ONNX Gather's index; clamped to 0..B-1), then row P = Xn[b * x_bs + h * x_hs + d], d < D. Blocks are written
 * last batch row first. present may be past itself (appending in place) when no block is read after it is
 * rewritten: every parent p = parent[b] is b, or its own parent (parent[p] == p: only its row P changes), or below
 * b (rewritten later); a block whose parent is itself then only gets row P, the others a copy of their parent's P
 * rows first. Otherwise (e.g. two beams swapped) present must be another buffer. */
void sdk_kv_append_f32(int64_t B, int64_t H, int64_t P, int64_t D, int64_t cap, const float *past,
                       const int64_t *parent, const float *Xn, int64_t x_bs, int64_t x_hs, float *present);

#endif
