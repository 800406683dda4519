/* Vector search over RVQ-family codes (index blobs written by sdk.vq).
 *
 * C99, no malloc, no mutable globals. The index is read in place from a caller's memory
 * blob (RAM or flash), which must stay valid and be 8-byte aligned. Search needs a scratch
 * buffer from the caller, sized by sdk_vq_scratch_size(). Every function returns a status.
 *
 * Version-3 files (sdk.vq's default) carry 8-bit codebooks: each query's lookup table is then an integer dot
 * product of int8 values times powers of two, exact, so its entries are the same in every build and on every target.
 *
 * Arithmetic is float by default (fast on Cortex-M4F); build with -DSDK_VQ_DOUBLE for double,
 * which matches the Python reference (sdk.vq.Index.search) bit for bit in ranking.
 */
#ifndef SDK_VQ_H
#define SDK_VQ_H

#include <stddef.h>
#include <stdint.h>

#include "sdk_status.h"

#ifdef SDK_VQ_DOUBLE
typedef double sdk_vq_real;
#else
typedef float sdk_vq_real;
#endif

#define SDK_VQ_VERSION 3u /* newest format read (3: 8-bit lookup tables); versions 1 and 2 are read too */
#define SDK_VQ_MAX_DEPTH 4u
#define SDK_VQ_MAX_TREES 8u
#define SDK_VQ_MAX_STAGES 64u
#define SDK_VQ_MAX_GROUP 64u /* queries per lookup-table group in sdk_vq_search_batch */

/* IVF: one level of k-means cells whose centroids are stored as codes (scored by ADC like items); its
 * items keep all their codes. */
enum { SDK_VQ_TREE_NONE = 0, SDK_VQ_TREE_ATREE = 1, SDK_VQ_TREE_ETREE = 2, SDK_VQ_TREE_IVF = 3 };

/* One level of a prefix tree: nodes {u32 code, u32 start, u32 count, f32 norm}, 16 bytes each.
 * All blob pointers are bytes and are read with memcpy (alignment- and aliasing-safe). */
typedef struct {
  const uint8_t *nodes;
  uint32_t count;
  uint32_t max_children; /* largest node count (children or items) at this level */
} sdk_vq_level;

typedef struct {
  uint32_t depth, n_rest;
  uint32_t key_stages[SDK_VQ_MAX_DEPTH];
  uint32_t rest_stages[SDK_VQ_MAX_STAGES];
  sdk_vq_level levels[SDK_VQ_MAX_DEPTH];
  const uint8_t *ids;    /* u32 item id per leaf-order position */
  const uint8_t *rest;   /* rest codes per leaf-order position, code_bytes each */
  const uint8_t *cells;  /* IVF: [levels[0].count][stages] centroid codes (key_stages[0] == stages); else NULL */
  uint32_t cells_in_order; /* IVF: node j's centroid codes are row j of cells (as sdk.vq writes them); set by open */
  const uint8_t *norms;  /* the items' norms in leaf order (norm_bytes each, = the index's norms[ids[pos]]) in a
                          * single tree of depth <= 3; NULL in forests and in files written before 2026-12-06 */
  uint32_t positions;    /* leaf-order positions: n, or more in an IVF tree whose items are also in a second cell
                          * (spilled; an item is then counted once in the top-k: both visits give the same distance) */
} sdk_vq_tree;

/* A view of a validated blob. Filled by sdk_vq_open(); holds pointers into the blob. */
typedef struct {
  uint32_t dim, stages, ksub, code_bytes, n, method, tree_kind, n_trees;
  const uint8_t *codebooks; /* f32 [stages][dim][ksub] (transposed for the lookup table) */
  const uint8_t *norms;     /* f32 [n] (norm_bytes 4) or u8 [n] (norm_bytes 1: norm_lo + norm_step * u8) */
  uint32_t norm_bytes;
  float norm_lo, norm_step;
  const uint8_t *codes;   /* [n][stages], code_bytes each */
  const uint8_t *lut8;    /* version 3: u8 [stages][(dim + 3) / 4][ksub][4] = int8 codebooks + 128; else NULL */
  const uint8_t *lut8_exp; /* version 3: i8 [stages][ksub], codeword j of stage m is lut8's ints * 2^lut8_exp */
  sdk_vq_tree trees[SDK_VQ_MAX_TREES];
} sdk_vq_index;

/* Search options. use_tree=0 scans every item (exhaustive ADC). With a tree: the nprobe best
 * level-0 nodes are kept; deeper internal levels keep their best nodes until those cover
 * `budget` items; leaves are visited until `budget` items were seen in each tree.
 * nprobe=0 or budget=0 mean unlimited.
 * margin > 0 (adaptive stop): the last level's leaves are visited best first, one at a time, and the
 * search stops before the first leaf whose score (its partial or centroid distance) exceeds the
 * k-th best distance found so far plus `margin` (squared-distance units; once k items are held),
 * or once `budget` items were seen. margin <= 0: off (the budget alone decides). */
typedef struct {
  uint32_t k;
  uint32_t use_tree;
  uint32_t nprobe;
  uint32_t budget;
  float margin;
} sdk_vq_params;

/* Validate a blob (magic, version, sizes, alignment, CRC32, every code and tree range) and
 * fill `idx`. Returns SDK_ERR_TRUNCATED, SDK_ERR_BAD_FORMAT or SDK_ERR_CHECKSUM on bad data. */
sdk_status sdk_vq_open(sdk_vq_index *idx, const void *blob, size_t size);

/* Bytes of scratch that sdk_vq_search() needs for these params (8-byte aligned buffer). */
sdk_status sdk_vq_scratch_size(const sdk_vq_index *idx, const sdk_vq_params *p, size_t *out_size);

/* k nearest items of one query (dim floats), ascending distance, ties by smaller id.
 * Writes *out_count <= k results to out_dist/out_ids (each of room k). */
sdk_status sdk_vq_search(const sdk_vq_index *idx, const float *query, const sdk_vq_params *p,
                         void *scratch, size_t scratch_size, float *out_dist, uint32_t *out_ids,
                         uint32_t *out_count);

/* Runs sdk_vq_search for nq queries (row-major); results row-major with room k per query;
 * unused slots get id 0xFFFFFFFF and distance +inf. With scratch of
 * sdk_vq_batch_scratch_size(group) bytes (group >= 2), the lookup tables of `group` queries
 * are computed together (each codebook block is read once for all of them): same results,
 * faster when the codebooks do not fit in cache. With sdk_vq_scratch_size() bytes, one at a time. */
sdk_status sdk_vq_search_batch(const sdk_vq_index *idx, const float *queries, uint32_t nq,
                               const sdk_vq_params *p, void *scratch, size_t scratch_size,
                               float *out_dist, uint32_t *out_ids);

/* Scratch bytes for sdk_vq_search_batch with lookup tables for `group` queries at a time
 * (1..SDK_VQ_MAX_GROUP; 1 gives sdk_vq_scratch_size()). */
sdk_status sdk_vq_batch_scratch_size(const sdk_vq_index *idx, const sdk_vq_params *p, uint32_t group,
                                     size_t *out_size);

/* CRC32 (zlib polynomial) of a byte range, as stored in the blob header. */
sdk_status sdk_vq_crc32(const void *data, size_t size, uint32_t *out_crc);

#endif
