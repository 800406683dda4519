/* Winograd convolution F(m x m, 3 x 3), m = 2 or 4: a 3x3, stride-1, dilation-1, one-group convolution as
 * (m + 2)^2 independent matrix products over transformed tiles, 36 / 16 = 2.25 (m = 4) or 16 / 4 = 4 (m = 2)
 * multiplies per output and input channel instead of 9 (Lavin & Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016). C99 (GCC/clang vector extensions where available), no state, no malloc. */
#ifndef SDK_WINOGRAD_H
#define SDK_WINOGRAD_H

#include <stdint.h>

#include "sdk_kernel_defs.h" /* SDK_OMP, SDK_PAR_MIN_WORK, the SDK_ACT_* codes */

#define SDK_WINO_NR 16 /* output channels per packed weight panel (sdk/tune/winograd.py PANEL) */
#define SDK_WINO_CB 16 /* input channels are padded to a multiple of this (sdk/tune/winograd.py CHANNELS) */
#define SDK_WINO_TB 12 /* tile blocks are a multiple of this many tiles (sdk/tune/winograd.py BLOCK) */
#ifndef SDK_WINO_SHARE_MAX_U
/* threads take shares of the tiles (each reads all of U, the transformed weight, per block) where U has at most
 * this many bytes; with a larger U they split each block's phases (each reads its part of U) */
#define SDK_WINO_SHARE_MAX_U (1 << 20)
#endif

/* Y[n, k, oh, ow] = act(sum_{c, i, j} X[n, c, oh - PH + i, ow - PW + j] * Wt[k, c, i, j] + bias[k] + R[n, k, oh, ow])
 * (X zero outside the image; bias, R may be NULL; OH, OW any: the end padding is what OH, OW imply).
 * U is the weight transformed and packed by sdk/tune/winograd.py pack_weight: for each of the a*a positions
 * (a = m + 2) the matrix U_p[c, k] = (G Wt[k, c] G^T)_p, as ceil(M / 16) panels of Cp x 16 floats (Cp: C rounded up
 * to 16; zero rows and columns past C, M). Tiles of m x m outputs go through in blocks of `tb` (a multiple of 12):
 * input transform (V = B^T d B, vectorised over channels), a*a products [tb x Cp] x [Cp x 16 per panel] with the
 * register-tiled micro-kernel, output transform (A^T M A, vectorised over output channels) and the epilogue
 * while the block is in cache. scratch: a*a * tb * (Cp + Mp) + Hp * Wp * Cp + 16 floats (Mp: M rounded up to 16; Hp, Wp: the tiles' padded
 * input, ceil(OH / m) * m + 2 by ceil(OW / m) * m + 2, where the image is copied channels-last; without the
 * Hp * Wp * Cp where X is padded). Threads (above
 * SDK_PAR_MIN_WORK multiply-adds): each takes an equal share of the tiles through its share of the block's rows, or
 * (small blocks, large weights) each phase's loop is split across them; results are the same on any thread count. */
#define SDK_WINO_X_PADDED 1 /* layout: X is already in the padded layout below (then PH = PW = 1) */
#define SDK_WINO_Y_PADDED 2 /* layout: Y goes out in the padded layout below */
/* The padded layout (sdk/tune/winograd.py chain_layouts): per image [Hp][Wp][c rounded up to 16] floats, Hp =
 * ceil(OH / m) * m + 2, Wp = ceil(OW / m) * m + 2, element [h + 1][w + 1][k] = the tensor's [k, h, w], zeros on the
 * border and past the plane; the channels past c are finite and multiply zero rows of the next layer's U. It is
 * the channels-last copy this kernel makes of its input, so a Winograd layer whose output only Winograd layers of
 * the same plane and tile read writes it there (position vectors, no transpose to planes) and they read it in place
 * (no copy). R (NCHW) with a padded Y is added element by element (correct, not fast: chain_layouts avoids it). */
void sdk_winograd_f32(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH, int64_t OW, int64_t PH,
                      int64_t PW, int64_t m, int64_t tb, const float *X, const float *U, const float *bias,
                      const float *R, int64_t act, float act_a, float act_b, int64_t layout, float *Y,
                      float *scratch);

#endif
