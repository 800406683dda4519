/* Vector search over RVQ-family codes: blob validation, ADC top-k, prefix-tree traversal.
 * C99, no malloc, no mutable globals; layout of the blob in docs/vq.md. */
#include "sdk_vq.h"

#include <string.h>

#define HEADER_BYTES 64u    /* version 1; version 2 adds 4 words: norm_bytes, norm_lo, norm_step, 0 */
#define HEADER_BYTES_V2 80u
#define HEADER_BYTES_V3 96u /* version 3: norm_bytes 4 or 1, then words 20, 21: the 8-bit codebooks' offsets, 0, 0 */
#define LUT8_E_MIN (-100)
#define LUT8_E_MAX 100
#define TREE_HDR_BYTES 64u
#define NODE_BYTES 16u

typedef sdk_vq_real real;

/* Kept out of its caller: gcc -O3 inlined leaves_fused into search_tree once leaves_best_first grew, and the
 * two-level A-Tree's search (a 65,536-leaf frontier) ran 15% slower (2026-12-06) */
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

/* Blob loads: memcpy keeps them legal for any alignment and element type (compiles to a load). */
static uint32_t ld_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static real ld_f32(const uint8_t *p) {
  float v;
  memcpy(&v, p, 4);
  return (real)v;
}
/* The per-item ADC term ||decoded item||^2: float32, or 8 bits on the index's uniform grid. */
static real norm_at(const sdk_vq_index *idx, const uint8_t *norms, size_t i) {
  if (idx->norm_bytes == 1u) return (real)idx->norm_lo + (real)idx->norm_step * (real)norms[i];
  return ld_f32(norms + 4u * i);
}
static real item_norm(const sdk_vq_index *idx, uint32_t i) { return norm_at(idx, idx->norms, i); }
static uint32_t ld_code(const uint8_t *codes, uint32_t code_bytes, size_t i) {
  uint16_t v;
  if (code_bytes == 1u) return codes[i];
  memcpy(&v, codes + 2u * i, 2);
  return v;
}

static const uint32_t crc_nibble[16] = {
    0x00000000U, 0x1DB71064U, 0x3B6E20C8U, 0x26D930ACU, 0x76DC4190U, 0x6B6B51F4U,
    0x4DB26158U, 0x5005713CU, 0xEDB88320U, 0xF00F9344U, 0xD6D6A3E8U, 0xCB61B38CU,
    0x9B64C2B0U, 0x86D3D2D4U, 0xA00AE278U, 0xBDBDF21CU};

sdk_status sdk_vq_crc32(const void *data, size_t size, uint32_t *out_crc) {
  const uint8_t *p = (const uint8_t *)data;
  uint32_t crc = 0xFFFFFFFFU;
  size_t i;
  if ((!data && size) || !out_crc) return SDK_ERR_NULL_ARG;
  for (i = 0; i < size; i++) {
    crc ^= p[i];
    crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    crc = (crc >> 4) ^ crc_nibble[crc & 15u];
  }
  *out_crc = ~crc;
  return SDK_OK;
}

/* A section [off, off + bytes) must be 8-aligned, after the header and inside the blob. */
static int section_ok(uint32_t off, uint64_t bytes, uint32_t total, uint32_t header) {
  return off % 8u == 0u && off >= header && (uint64_t)off + bytes <= (uint64_t)total;
}

static sdk_status codes_ok(const uint8_t *codes, uint32_t code_bytes, uint64_t count, uint32_t ksub) {
  uint64_t i;
  for (i = 0; i < count; i++)
    if (ld_code(codes, code_bytes, (size_t)i) >= ksub) return SDK_ERR_BAD_FORMAT;
  return SDK_OK;
}

/* NaN or Inf in a codebook or norm would turn every distance that touches it into NaN, which then
 * compares as neither better nor worse and can surface as a top hit: rejected when the blob is opened. */
static int floats_finite(const uint8_t *p, uint64_t count) {
  uint64_t i;
  for (i = 0; i < count; i++)
    if ((ld_u32(p + 4u * i) & 0x7F800000u) == 0x7F800000u) return 0;
  return 1;
}

static sdk_status open_tree(sdk_vq_index *idx, sdk_vq_tree *t, const uint8_t *b, const uint8_t *h,
                            uint32_t total, uint32_t header) {
  uint32_t l, j, m, r;
  uint32_t depth = ld_u32(h), n_rest = ld_u32(h + 4);
  uint32_t ids_off = ld_u32(h + 56), rest_off = ld_u32(h + 60);
  const int ivf = idx->tree_kind == SDK_VQ_TREE_IVF;
  /* a spilled IVF tree's positions (word 4; 0: n) */
  const uint32_t positions = (ivf && ld_u32(h + 16) != 0u) ? ld_u32(h + 16) : idx->n;
  if (positions < idx->n) return SDK_ERR_BAD_FORMAT;
  t->positions = positions;
  if (ivf ? (depth != 1u || n_rest != idx->stages || ld_u32(h + 8) != idx->stages)
          : (depth < 1u || depth > SDK_VQ_MAX_DEPTH || depth > idx->stages || n_rest != idx->stages - depth))
    return SDK_ERR_BAD_FORMAT;
  t->depth = depth;
  t->n_rest = n_rest;
  for (l = 0; l < depth; l++) {
    t->key_stages[l] = ld_u32(h + 8 + 4 * l);
    if (t->key_stages[l] >= idx->stages + (uint32_t)ivf) return SDK_ERR_BAD_FORMAT;
    for (j = 0; j < l; j++)
      if (t->key_stages[j] == t->key_stages[l]) return SDK_ERR_BAD_FORMAT;
  }
  for (m = 0, r = 0; m < idx->stages; m++) {
    int is_key = 0;
    for (l = 0; l < depth; l++) is_key |= t->key_stages[l] == m;
    if (!is_key) t->rest_stages[r++] = m;
  }
  for (l = 0; l < depth; l++) {
    sdk_vq_level *lv = &t->levels[l];
    uint32_t off = ld_u32(h + 40 + 4 * l);
    uint64_t below = (l + 1u == depth) ? positions : ld_u32(h + 24 + 4 * (l + 1u));
    uint64_t run = 0;
    lv->count = ld_u32(h + 24 + 4 * l);
    lv->max_children = 0;
    if (!section_ok(off, (uint64_t)lv->count * NODE_BYTES, total, header)) return SDK_ERR_TRUNCATED;
    lv->nodes = b + off;
    /* children (items at the leaf level) of consecutive nodes must tile [0, below) */
    for (j = 0; j < lv->count; j++) {
      const uint8_t *nd = lv->nodes + (size_t)j * NODE_BYTES;
      uint32_t cnt = ld_u32(nd + 8);
      if (ld_u32(nd) >= (ivf ? lv->count : idx->ksub) || ld_u32(nd + 4) != run || cnt == 0u ||
          !floats_finite(nd + 12, 1))
        return SDK_ERR_BAD_FORMAT;
      run += cnt;
      if (cnt > lv->max_children) lv->max_children = cnt;
    }
    if (run != below) return SDK_ERR_BAD_FORMAT;
  }
  if ((idx->n == 0u) != (t->levels[0].count == 0u)) return SDK_ERR_BAD_FORMAT;
  if (!section_ok(ids_off, (uint64_t)positions * 4u, total, header) ||
      !section_ok(rest_off, (uint64_t)positions * n_rest * idx->code_bytes, total, header))
    return SDK_ERR_TRUNCATED;
  t->ids = b + ids_off;
  t->rest = b + rest_off;
  for (j = 0; j < positions; j++)
    if (ld_u32(t->ids + 4u * j) >= idx->n) return SDK_ERR_BAD_FORMAT;
  t->cells = NULL;
  t->cells_in_order = 0u;
  if (ivf) { /* the cell centroids' codes */
    const uint64_t count = (uint64_t)t->levels[0].count * idx->stages;
    sdk_status st;
    if (!section_ok(ld_u32(h + 12), count * idx->code_bytes, total, header)) return SDK_ERR_TRUNCATED;
    t->cells = b + ld_u32(h + 12);
    st = codes_ok(t->cells, idx->code_bytes, count, idx->ksub);
    if (st != SDK_OK) return st;
    t->cells_in_order = 1u;
    for (j = 0; j < t->levels[0].count; j++) t->cells_in_order &= ld_u32(t->levels[0].nodes + (size_t)j * NODE_BYTES) == j;
  }
  /* a single tree of depth <= 3: the items' norms in leaf order (word 5; 0 in files written before them, and in
   * forests): each must be the index's norm of the item at that position, byte for byte, so that the tree's
   * distances stay exhaustive ADC's */
  t->norms = NULL;
  if (depth <= 3u && ld_u32(h + 20) != 0u) {
    const uint32_t nb = idx->norm_bytes;
    if (idx->n_trees != 1u) return SDK_ERR_BAD_FORMAT;
    if (!section_ok(ld_u32(h + 20), (uint64_t)positions * nb, total, header)) return SDK_ERR_TRUNCATED;
    t->norms = b + ld_u32(h + 20);
    for (j = 0; j < positions; j++)
      if (memcmp(t->norms + (size_t)j * nb, idx->norms + (size_t)ld_u32(t->ids + 4u * j) * nb, nb) != 0)
        return SDK_ERR_BAD_FORMAT;
  }
  return codes_ok(t->rest, idx->code_bytes, (uint64_t)positions * n_rest, idx->ksub);
}

sdk_status sdk_vq_open(sdk_vq_index *idx, const void *blob, size_t size) {
  const uint8_t *b = (const uint8_t *)blob;
  const uint32_t one = 1u;
  uint32_t total, crc, t, version, header;
  sdk_status st;
  if (!idx || !blob) return SDK_ERR_NULL_ARG;
  if ((uintptr_t)b % 8u != 0u) return SDK_ERR_BAD_ARG;
  if (size < HEADER_BYTES) return SDK_ERR_TRUNCATED;
  if (memcmp(b, "SDVQ", 4) != 0) return SDK_ERR_BAD_FORMAT;
  if (*(const uint8_t *)&one != 1u) return SDK_ERR_BAD_FORMAT; /* blob is little-endian */
  version = ld_u32(b + 4);
  if (version < 1u || version > 3u) return SDK_ERR_BAD_FORMAT;
  header = version == 1u ? HEADER_BYTES : version == 2u ? HEADER_BYTES_V2 : HEADER_BYTES_V3;
  total = ld_u32(b + 8);
  if ((uint64_t)total > (uint64_t)size) return SDK_ERR_TRUNCATED;
  if (total < header || total % 8u != 0u) return SDK_ERR_BAD_FORMAT;
  st = sdk_vq_crc32(b + 16, total - 16u, &crc);
  if (st != SDK_OK) return st;
  if (crc != ld_u32(b + 12)) return SDK_ERR_CHECKSUM;
  memset(idx, 0, sizeof(*idx));
  idx->dim = ld_u32(b + 16);
  idx->stages = ld_u32(b + 20);
  idx->ksub = ld_u32(b + 24);
  idx->code_bytes = ld_u32(b + 28);
  idx->n = ld_u32(b + 32);
  idx->method = ld_u32(b + 36);
  idx->tree_kind = ld_u32(b + 40);
  idx->n_trees = ld_u32(b + 44);
  idx->norm_bytes = 4u;
  if (version >= 2u) {
    idx->norm_bytes = ld_u32(b + 64);
    if ((idx->norm_bytes != 1u && (version == 2u || idx->norm_bytes != 4u)) || !floats_finite(b + 68, 2))
      return SDK_ERR_BAD_FORMAT;
    idx->norm_lo = (float)ld_f32(b + 68);
    idx->norm_step = (float)ld_f32(b + 72);
    if (!(idx->norm_step >= 0.0f)) return SDK_ERR_BAD_FORMAT;
  }
  if (idx->dim < 1u || idx->stages < 1u || idx->stages > SDK_VQ_MAX_STAGES || idx->ksub < 2u ||
      idx->ksub > 65536u || idx->code_bytes != (idx->ksub <= 256u ? 1u : 2u) || idx->method > 2u ||
      idx->tree_kind > 3u || idx->n_trees > SDK_VQ_MAX_TREES ||
      (idx->tree_kind == SDK_VQ_TREE_NONE) != (idx->n_trees == 0u) ||
      (idx->tree_kind == SDK_VQ_TREE_IVF && idx->n_trees != 1u))
    return SDK_ERR_BAD_FORMAT;
  if (!section_ok(ld_u32(b + 48), (uint64_t)idx->stages * idx->ksub * idx->dim * 4u, total, header) ||
      !section_ok(ld_u32(b + 52), (uint64_t)idx->n * idx->norm_bytes, total, header) ||
      !section_ok(ld_u32(b + 56), (uint64_t)idx->n * idx->stages * idx->code_bytes, total, header))
    return SDK_ERR_TRUNCATED;
  idx->codebooks = b + ld_u32(b + 48);
  idx->norms = b + ld_u32(b + 52);
  idx->codes = b + ld_u32(b + 56);
  if (!floats_finite(idx->codebooks, (uint64_t)idx->stages * idx->ksub * idx->dim) ||
      (idx->norm_bytes == 4u && !floats_finite(idx->norms, idx->n)))
    return SDK_ERR_BAD_FORMAT;
  st = codes_ok(idx->codes, idx->code_bytes, (uint64_t)idx->n * idx->stages, idx->ksub);
  if (st != SDK_OK) return st;
  if (version == 3u) {
    const uint64_t books = (uint64_t)idx->stages * ((idx->dim + 3u) / 4u) * idx->ksub * 4u;
    const uint64_t words = (uint64_t)idx->stages * idx->ksub;
    uint64_t i;
    if (idx->dim > 65536u || ld_u32(b + 88) != 0u || ld_u32(b + 92) != 0u) return SDK_ERR_BAD_FORMAT;
    if (!section_ok(ld_u32(b + 80), books, total, header) || !section_ok(ld_u32(b + 84), words, total, header))
      return SDK_ERR_TRUNCATED;
    idx->lut8 = b + ld_u32(b + 80);
    idx->lut8_exp = b + ld_u32(b + 84);
    for (i = 0; i < words; i++) {
      const int e = (int)(int8_t)idx->lut8_exp[i];
      if (e < LUT8_E_MIN || e > LUT8_E_MAX) return SDK_ERR_BAD_FORMAT;
    }
  }
  if (idx->n_trees) {
    uint32_t toff = ld_u32(b + 60);
    if (!section_ok(toff, (uint64_t)idx->n_trees * TREE_HDR_BYTES, total, header)) return SDK_ERR_TRUNCATED;
    for (t = 0; t < idx->n_trees; t++) {
      st = open_tree(idx, &idx->trees[t], b, b + toff + t * TREE_HDR_BYTES, total, header);
      if (st != SDK_OK) return st;
    }
  }
  return SDK_OK;
}

/* ---- scratch layout ---------------------------------------------------------------------- */
typedef struct {
  real *lut;                       /* [stages][ksub] <q, c> */
  uint8_t *q8;                     /* 8-bit tables: the query's exponent (i32), then its int8 values [4 ceil(dim/4)] */
  real *score[2], *prefix[2];      /* two frontiers: partial distance, path lookup sum, */
  uint32_t *node[2], *weight[2];   /* node index, items below the node */
  real *top_d;                     /* [k] current best, ascending */
  uint32_t *top_i;
  uint32_t *seen;                  /* bitmap [n] (forests only) */
  uint32_t dedup;                  /* a spilled tree is searched: an id already in the top-k is not pushed again */
  uint32_t *bins;                  /* [SELECT_BINS] weights per score bin (tree search) */
  uint8_t *bin_at;                 /* [frontier] each entry's bin in the binned selection */
  uint8_t *bt;                     /* SDK_VQ_BOUND8: the query's 8-bit lower-bound tables [8][256] (bound8_prepare) */
  uint32_t bound_on;               /* bt and the fields below hold for the query in v->lut */
  real b_sum, b_inv, b_mag;        /* sum of the stages' smallest terms, 1 / the tables' step, the slack's scale */
} scratch_view;

#define SELECT_BINS 256u

/* Exact pruning of 8-stage, 256-codeword scans by 8-bit lower-bound tables (AVX-512 VBMI builds: -march=native on a
 * CPU with it, the host profile): see bound8_prepare. -DSDK_VQ_BOUND8=0 turns it off (the plain scan); results are
 * the same either way. */
#ifndef SDK_VQ_BOUND8
#if !defined(SDK_VQ_DOUBLE) && defined(__AVX512VBMI__) && defined(__AVX512BW__) && defined(__AVX512F__) && \
    defined(__GNUC__) && !defined(__OPTIMIZE_SIZE__)
#define SDK_VQ_BOUND8 1
#else
#define SDK_VQ_BOUND8 0
#endif
#endif
#define BOUND8_BYTES (8u * 256u)

/* Whether a search with these params scans runs of 8-stage codes the bound tables apply to: exhaustive ADC, or a
 * single IVF tree (all 8 stages are rest stages) with its leaf-order norms. */
static int bound8_applies(const sdk_vq_index *idx, const sdk_vq_params *p) {
  if (!SDK_VQ_BOUND8 || idx->code_bytes != 1u || idx->ksub != 256u || idx->stages != 8u) return 0;
  if (!p->use_tree || idx->n_trees == 0u) return 1;
  return idx->n_trees == 1u && idx->trees[0].n_rest == 8u && idx->trees[0].norms != NULL;
}

static size_t align8(uint64_t x) { return (size_t)((x + 7u) & ~(uint64_t)7u); }

/* Largest frontier of any tree for this nprobe; 0 if tree search is not used. */
static uint64_t frontier_cap(const sdk_vq_index *idx, const sdk_vq_params *p) {
  uint64_t cap = 0, np = p->nprobe ? p->nprobe : 0xFFFFFFFFu, bud = p->budget ? p->budget : 0xFFFFFFFFu;
  uint32_t t, l;
  if (!p->use_tree) return 0;
  for (t = 0; t < idx->n_trees; t++) {
    const sdk_vq_tree *tr = &idx->trees[t];
    uint64_t w = tr->levels[0].count;
    if (w > cap) cap = w;
    for (l = 0; l + 1u < tr->depth; l++) {
      uint64_t lim = l == 0u ? np : bud; /* a kept node below level 0 covers >= 1 item */
      uint64_t keep = lim < w ? lim : w, next = keep * tr->levels[l].max_children;
      w = next < tr->levels[l + 1].count ? next : tr->levels[l + 1].count;
      if (w > cap) cap = w;
    }
  }
  return cap;
}

/* Bytes of one query's int8 copy for the 8-bit tables (0 without them). */
static uint64_t q8_bytes(const sdk_vq_index *idx) {
  return idx->lut8 ? ((8u + 4u * (uint64_t)((idx->dim + 3u) / 4u)) + 7u) & ~(uint64_t)7u : 0u;
}

static uint64_t scratch_bytes(const sdk_vq_index *idx, const sdk_vq_params *p, scratch_view *v,
                              uint8_t *base) {
  uint64_t off = 0, cap = frontier_cap(idx, p);
  int f;
#define CARVE(ptr, type, count)                                   \
  do {                                                            \
    if (base) ptr = (type *)(void *)(base + off);                 \
    off += align8((uint64_t)(count) * sizeof(type));              \
  } while (0)
  CARVE(v->lut, real, (uint64_t)idx->stages * idx->ksub);
  CARVE(v->q8, uint8_t, q8_bytes(idx));
  for (f = 0; f < 2; f++) {
    CARVE(v->score[f], real, cap);
    CARVE(v->prefix[f], real, cap);
    CARVE(v->node[f], uint32_t, cap);
    CARVE(v->weight[f], uint32_t, cap);
  }
  CARVE(v->top_d, real, p->k);
  CARVE(v->top_i, uint32_t, p->k);
  CARVE(v->seen, uint32_t, (p->use_tree && idx->n_trees > 1u) ? (idx->n + 31u) / 32u : 0u);
  CARVE(v->bins, uint32_t, p->use_tree ? SELECT_BINS : 0u);
  CARVE(v->bin_at, uint8_t, cap);
  CARVE(v->bt, uint8_t, bound8_applies(idx, p) ? BOUND8_BYTES : 0u);
#undef CARVE
  return off;
}

sdk_status sdk_vq_scratch_size(const sdk_vq_index *idx, const sdk_vq_params *p, size_t *out_size) {
  scratch_view v;
  uint64_t bytes;
  if (!idx || !p || !out_size) return SDK_ERR_NULL_ARG;
  if (p->k < 1u || p->margin != p->margin) return SDK_ERR_BAD_ARG; /* a NaN margin: neither on nor off */
  bytes = scratch_bytes(idx, p, &v, NULL);
  if (bytes > (uint64_t)(size_t)-1) return SDK_ERR_BAD_ARG;
  *out_size = (size_t)bytes;
  return SDK_OK;
}

/* ---- top-k and frontier heap ------------------------------------------------------------- */
static int better(real d, uint32_t id, real d2, uint32_t id2) { return d < d2 || (d == d2 && id < id2); }

static void top_push(scratch_view *v, uint32_t k, uint32_t *count, real d, uint32_t id) {
  uint32_t pos;
  if (d != d) return; /* NaN (a NaN query, or finite data whose distance overflows): never a hit */
  if (*count == k && !better(d, id, v->top_d[k - 1u], v->top_i[k - 1u])) return;
  if (v->dedup)
    for (pos = 0; pos < *count; pos++)
      if (v->top_i[pos] == id) return; /* its second cell's visit: the same distance */
  pos = *count < k ? (*count)++ : k - 1u;
  while (pos > 0u && better(d, id, v->top_d[pos - 1u], v->top_i[pos - 1u])) {
    v->top_d[pos] = v->top_d[pos - 1u];
    v->top_i[pos] = v->top_i[pos - 1u];
    pos--;
  }
  v->top_d[pos] = d;
  v->top_i[pos] = id;
}

typedef struct {
  real *score, *prefix;
  uint32_t *node, *weight;
} frontier;

/* Frontier entries are ordered by (score, node index); node indices are unique. */
static int fr_less(const frontier *f, uint32_t a, uint32_t b) {
  return better(f->score[a], f->node[a], f->score[b], f->node[b]);
}
static void fr_swap(const frontier *f, uint32_t a, uint32_t b) {
  real s = f->score[a], p = f->prefix[a];
  uint32_t n = f->node[a], w = f->weight[a];
  f->score[a] = f->score[b], f->prefix[a] = f->prefix[b], f->node[a] = f->node[b], f->weight[a] = f->weight[b];
  f->score[b] = s, f->prefix[b] = p, f->node[b] = n, f->weight[b] = w;
}

/* Weighted selection (quickselect, expected O(w)): reorders the frontier so that its first
 * entries are the shortest prefix, in (score, node) order, whose weights reach `limit` (every
 * entry whose predecessors weigh less than `limit`); returns how many. Their order is unspecified,
 * which does not matter: the set alone decides the search result. */
static uint32_t fr_select(const frontier *f, uint32_t w, uint64_t limit) {
  uint32_t lo = 0, hi = w;
  uint64_t need = limit;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2u, store = lo, i;
    uint64_t left = 0;
    /* median of three as pivot, moved to hi-1 */
    if (fr_less(f, hi - 1u, lo)) fr_swap(f, hi - 1u, lo);
    if (fr_less(f, mid, lo)) fr_swap(f, mid, lo);
    if (fr_less(f, hi - 1u, mid)) fr_swap(f, hi - 1u, mid);
    fr_swap(f, mid, hi - 1u);
    for (i = lo; i + 1u < hi; i++) {
      if (fr_less(f, i, hi - 1u)) {
        left += f->weight[i];
        fr_swap(f, i, store++);
      }
    }
    fr_swap(f, store, hi - 1u);
    if (left >= need) {
      hi = store;
    } else if (left + f->weight[store] >= need) {
      return store + 1u;
    } else {
      need -= left + f->weight[store];
      lo = store + 1u;
    }
  }
  return lo;
}

/* Same result as fr_select (the same set first, unspecified order) in a few linear passes:
 * weights are summed per score bin (bins are monotone in the score; lo and hi bound the scores),
 * every entry of the bins
 * before the one where the running weight reaches `limit` is kept, and fr_select decides only
 * among the entries of that bin. */
/* The bin of a score; a NaN score (distance overflow on extreme but finite data) goes to the last bin,
 * and no out-of-range float reaches the integer conversion (undefined behaviour in C). */
static uint32_t bin_of(real score, real lo, real scale) {
  real x = (score - lo) * scale;
  if (!(x < (real)SELECT_BINS)) return SELECT_BINS - 1u;
  if (!(x > (real)0)) return 0u;
  return (uint32_t)x;
}
/* The same bin written as selects, for a loop of its own that then vectorises (slower than bin_of in a scalar
 * loop with other work). */
static uint32_t bin_of_select(real score, real lo, real scale) {
  real x = (score - lo) * scale;
  x = x < (real)SELECT_BINS ? x : (real)(SELECT_BINS - 1u); /* >= SELECT_BINS and NaN: the last bin */
  x = x > (real)0 ? x : (real)0;
  return (uint32_t)x;
}

static uint32_t fr_select_binned(const frontier *f, uint32_t w, uint64_t limit, uint32_t *bins, uint8_t *bin_at,
                                 real lo, real hi) {
  real scale;
  uint64_t run = 0;
  uint32_t i, b, cut, front = 0, mid;
  frontier rest;
  if (w <= 64u) return fr_select(f, w, limit);
  if (!(hi - lo > (real)1e-30)) return fr_select(f, w, limit); /* keeps the scale finite */
  scale = (real)(SELECT_BINS - 1u) / (hi - lo);
  memset(bins, 0, SELECT_BINS * sizeof(uint32_t));
#define BIN_OF(j) bin_of(f->score[(j)], lo, scale)
  for (i = 0; i < w; i++) { /* each entry's bin once; the passes below read it */
    bin_at[i] = (uint8_t)BIN_OF(i);
    bins[bin_at[i]] += f->weight[i];
  }
  for (cut = 0; cut < SELECT_BINS; cut++) {
    if (run + bins[cut] >= limit) break;
    run += bins[cut];
  }
  if (cut == SELECT_BINS) return w; /* all weights together stay below the limit */
  for (i = 0; i < w; i++) /* entries of bins before `cut` to the front */
    if (bin_at[i] < cut) {
      const uint8_t b8 = bin_at[i];
      bin_at[i] = bin_at[front], bin_at[front] = b8;
      fr_swap(f, i, front++);
    }
  for (i = mid = front; i < w; i++) /* then those of bin `cut` */
    if (bin_at[i] == cut) {
      const uint8_t b8 = bin_at[i];
      bin_at[i] = bin_at[mid], bin_at[mid] = b8;
      fr_swap(f, i, mid++);
    }
#undef BIN_OF
  rest.score = f->score + front, rest.prefix = f->prefix + front;
  rest.node = f->node + front, rest.weight = f->weight + front;
  b = fr_select(&rest, mid - front, limit - run);
  return front + b;
}

/* ---- search ------------------------------------------------------------------------------ */
static real node_norm(const sdk_vq_level *lv, uint32_t j) { return ld_f32(lv->nodes + (size_t)j * NODE_BYTES + 12u); }
static uint32_t node_word(const sdk_vq_level *lv, uint32_t j, uint32_t w) {
  return ld_u32(lv->nodes + (size_t)j * NODE_BYTES + 4u * w);
}

/* ---- ADC scoring of items with 8-bit codes ------------------------------------------------
 * An item's sum is start + row[0][c[0]] + row[1][c[1]] + ..., added in stage order (the order of
 * the Python reference). The loops below are written out for 5 to 8 stages (exhaustive search
 * with the default 8 stages; an A-Tree's or an E-Tree's 6 or 5 rest stages), so that each
 * stage's table row stays in a register and a stage costs a byte load and an add. */
#define ADC_ROWS_MAX 8u
/* The written-out loops cost ~3 KB of code (Cortex-M4, -Os: 8.9 KB instead of 5.8 KB): builds for size
 * (-Os) keep only the plain loop unless -DSDK_VQ_UNROLL_ADC=1. */
#ifndef SDK_VQ_UNROLL_ADC
#ifdef __OPTIMIZE_SIZE__
#define SDK_VQ_UNROLL_ADC 0
#else
#define SDK_VQ_UNROLL_ADC 1
#endif
#endif
#define ADC_ADD(j) acc += r##j[c[j]]
#define ADC_5 ADC_ADD(0); ADC_ADD(1); ADC_ADD(2); ADC_ADD(3); ADC_ADD(4)
#define ADC_6 ADC_5; ADC_ADD(5)
#define ADC_7 ADC_6; ADC_ADD(6)
#define ADC_8 ADC_7; ADC_ADD(7)
#define ADC_ANY for (j = 0; j < n_st; j++) acc += row[j][c[j]]
/* The same sums when the rows are those of consecutive stages of a 256-codeword table (exhaustive search: stages
 * 0-7; an A-Tree's rest stages 1-7 or 2-7): one row pointer, each stage's row at a constant offset from it. With
 * a pointer per row, x86-64 builds ran out of registers and reloaded them from the stack for every item. */
#define ADCC_ADD(j) acc += r0[256u * (j) + c[j]]
#define ADCC_5 ADCC_ADD(0); ADCC_ADD(1); ADCC_ADD(2); ADCC_ADD(3); ADCC_ADD(4)
#define ADCC_6 ADCC_5; ADCC_ADD(5)
#define ADCC_7 ADCC_6; ADCC_ADD(6)
#define ADCC_8 ADCC_7; ADCC_ADD(7)

/* The scan loop LOOP(BODY) with BODY the stage sum for n_st stages: unrolled for 5-8 stages (rows one block
 * apart: ADCC_*, else ADC_*) where SDK_VQ_UNROLL_ADC, ADC_ANY otherwise. Needs idx, row, n_st, r0..r7, j. */
#if SDK_VQ_UNROLL_ADC
#define ADC_UNROLLED_CASES(LOOP)                                                                                  \
  case 108: LOOP(ADCC_8) break;                                                                                   \
  case 107: LOOP(ADCC_7) break;                                                                                   \
  case 106: LOOP(ADCC_6) break;                                                                                   \
  case 105: LOOP(ADCC_5) break;                                                                                   \
  case 8: LOOP(ADC_8) break;                                                                                      \
  case 7: LOOP(ADC_7) break;                                                                                      \
  case 6: LOOP(ADC_6) break;                                                                                      \
  case 5: LOOP(ADC_5) break;
#else
#define ADC_UNROLLED_CASES(LOOP)
#endif
#define ADC_DISPATCH(LOOP)                                                                                        \
  switch (rows_consecutive(idx, row, n_st) ? n_st + 100u : n_st) {                                                \
    ADC_UNROLLED_CASES(LOOP)                                                                                      \
    default: LOOP(ADC_ANY) break;                                                                                 \
  }

/* An item's norm in the scan loops: the index's fields in locals (NORM_LOCALS), read once per call, not once per
 * item (the compiler cannot keep them in registers across the top-k's stores, which might alias the index). */
#define NORM_LOCALS                                                                                             \
  const int norm8 = idx->norm_bytes == 1u;                                                                    \
  const real norm_lo = (real)idx->norm_lo, norm_step = (real)idx->norm_step;                                  \
  const uint8_t *const all_norms = idx->norms
#define NORM_AT(norms, i) (norm8 ? norm_lo + norm_step * (real)(norms)[i] : ld_f32((norms) + 4u * (size_t)(i)))
/* Scores the items at positions [pos, end) of `codes` (rows of `stride` bytes; item id = the u32
 * at ids + 4 pos, or pos when ids is NULL), each sum starting at `start`, into the top-k; each item's norm is the
 * index's norm of its id. */
#define ADC_LOOP(BODY)                                                      \
  for (; pos < end; pos++) {                                                \
    const uint8_t *c = codes + (size_t)pos * stride;                        \
    real acc = start, d;                                                    \
    uint32_t id;                                                            \
    BODY;                                                                   \
    id = ids ? ld_u32(ids + 4u * (size_t)pos) : pos;                        \
    d = qn - 2 * acc + NORM_AT(all_norms, id);                              \
    if (d > bound) continue; /* the common case */                          \
    top_push(v, k, count, d, id);                                           \
    bound = top_bound(v, k, *count);                                        \
  }
/* The same with each item's norm at norms[pos] (norm_bytes each: a single tree's leaf-order norms), the id loaded
 * only for an item that may enter the top-k. In the IVF search, reading
 * the norms in visiting order and no id per item took ~10% off the query time on the MiniLM passages (2026-12-06). */
#define ADC_LOOP_POS(BODY)                                                  \
  for (; pos < end; pos++) {                                                \
    const uint8_t *c = codes + (size_t)pos * stride;                        \
    real acc = start, d;                                                    \
    uint32_t id;                                                            \
    BODY;                                                                   \
    d = qn - 2 * acc + NORM_AT(norms, pos);                                 \
    if (d > bound) continue; /* the common case */                          \
    id = ids ? ld_u32(ids + 4u * (size_t)pos) : pos;                        \
    top_push(v, k, count, d, id);                                           \
    bound = top_bound(v, k, *count);                                        \
  }

/* The distance above which a candidate cannot enter the top-k: the k-th best's, +inf until there
 * are k (a candidate equal to it still may, by a smaller id: top_push decides). */
static real top_bound(const scratch_view *v, uint32_t k, uint32_t count) {
  return count == k ? v->top_d[k - 1u] : (real)1e30 * (real)1e30;
}

/* Whether row j is row 0 + 256 j for every j < n_st (256-codeword stages, consecutive): the ADCC loops apply. */
static int rows_consecutive(const sdk_vq_index *idx, const real *const *row, uint32_t n_st) {
  uint32_t j;
  if (idx->ksub != 256u) return 0;
  for (j = 1; j < n_st; j++)
    if (row[j] != row[0] + 256u * j) return 0;
  return 1;
}

/* ---- one run of items, in a small function per stage count and norm kind ------------------------------------
 * Scores the items at positions [pos, end) of rows of N codes whose table rows are those of consecutive 256-codeword
 * stages (the ADCC sums), each sum starting at `start`, each item's norm at norms[pos] and its id at ids[pos] (the
 * position where ids is NULL), into the top-k: the arithmetic of ADC_LOOP_POS. Exhaustive ADC runs it once over all
 * items, the tree searches once per leaf. Written out inside the large traversal functions, the loop's pointers
 * and the norm kind lived on the stack (three loads an item, ~20 around each leaf) and an IVF leaf of ~20 items
 * cost ~34 ns more than the same items in one run; a leaf now costs what its items do plus a call (2026-12-06). */
typedef struct {
  const uint8_t *codes, *norms, *ids;
  const real *r0;
  real qn, norm_lo, norm_step;
  scratch_view *v;
  uint32_t k, *count;
} adc_run;
typedef void (*adc_run_fn)(const adc_run *a, uint32_t pos, uint32_t end, real start);

/* The norm at position pos of a run's norms: 8-bit (norm8: norm_lo + norm_step * byte) or float32, NORM_AT's
 * expression. (A function in the scan loops of ADC_LOOP changed their register allocation: they keep the macro.) */
static inline real run_norm(const uint8_t *norms, uint32_t pos, int norm8, real norm_lo, real norm_step) {
  return norm8 ? norm_lo + norm_step * (real)norms[pos] : ld_f32(norms + 4u * (size_t)pos);
}

#define ADC_RUN_FN(NAME, N, NORM8)                                                                                \
  static NOINLINE void NAME(const adc_run *a, uint32_t pos, uint32_t end, real start) {                          \
    const uint8_t *c = a->codes + (size_t)pos * (N);                                                            \
    const uint8_t *const norms = a->norms, *const ids = a->ids;                                                 \
    const real *const r0 = a->r0;                                                                               \
    const real qn = a->qn, norm_lo = a->norm_lo, norm_step = a->norm_step;                                      \
    scratch_view *const v = a->v;                                                                               \
    uint32_t *const count = a->count;                                                                           \
    const uint32_t k = a->k;                                                                                    \
    real bound = top_bound(v, k, *count);                                                                       \
    for (; pos < end; pos++, c += (N)) {                                                                        \
      real acc = start, d;                                                                                      \
      ADCC_##N;                                                                                                 \
      d = qn - 2 * acc + run_norm(norms, pos, NORM8, norm_lo, norm_step);                                        \
      if (d > bound) continue; /* the common case */                                                            \
      top_push(v, k, count, d, ids ? ld_u32(ids + 4u * (size_t)pos) : pos);                                     \
      bound = top_bound(v, k, *count);                                                                          \
    }                                                                                                           \
  }
#if SDK_VQ_UNROLL_ADC
ADC_RUN_FN(adc_run5_f32, 5, 0)
ADC_RUN_FN(adc_run6_f32, 6, 0)
ADC_RUN_FN(adc_run7_f32, 7, 0)
ADC_RUN_FN(adc_run8_f32, 8, 0)
ADC_RUN_FN(adc_run5_u8, 5, 1)
ADC_RUN_FN(adc_run6_u8, 6, 1)
ADC_RUN_FN(adc_run7_u8, 7, 1)
ADC_RUN_FN(adc_run8_u8, 8, 1)
#endif
#undef ADC_RUN_FN

/* ---- exact pruning by 8-bit lower-bound tables (SDK_VQ_BOUND8) -------------------------------------------------
 * An item's ADC distance is qn + norm + sum_m t_m[c_m] with t_m = -2 <q, c_m,j> (the table's entries, doubled
 * exactly). Per query, each stage's terms are put on one grid of step D = (sum over stages of max t_m - min t_m) /
 * 255 from below: b_m[j] = floor((t_m[j] - min t_m) / D) (<= 255), so qn + norm + sum_m min t_m + D * S <= the
 * distance, S = sum_m b_m[c_m] (saturating u8 adds: a smaller S is still a bound). A run of items is scanned 64 at a
 * time: the 64 items' codes are transposed into stage-major bytes in registers (vpermb, then an 8 x 8 transpose of
 * 64-bit words), each stage's 256-entry table is looked up with two vpermi2b and a blend, and an item goes on to the
 * plain float sum only where S <= (bound - qn - sum min t - norm) / D, bound being the k-th best distance so far: the
 * others would fail the scan's own `d > bound` test. The test's slack covers float rounding: the sums' and the
 * threshold's errors are below 42 * 2^-24 * (|bound| + qn + 2 sum_m max |<q, c>| + 2 |start|), the slack is 2^-16
 * times that scale, and 2^-16 * |norm| more; the grid's floor is taken 1/1024 low. So an item is dropped only if the
 * plain scan would drop it, the survivors are scored by the plain scan's expression in its order, and the top-k,
 * the adaptive stop and every result are the same as without the tables (tests/e2e/test_vq_bound8.py). On the MiniLM
 * word pieces (29,028 items) 0.8% of the items reach the float sum in exhaustive ADC, 2% of a spilled IVF tree's. */
#if SDK_VQ_BOUND8 && SDK_VQ_UNROLL_ADC /* its short runs and survivors take the written-out loops' arithmetic */
#include <immintrin.h>
#define BOUND8_SLACK ((real)1 / (real)65536)
#ifndef BOUND8_MIN_RUN
#define BOUND8_MIN_RUN 32u /* shorter runs (a small IVF cell) take the plain loop */
#endif

/* The tables of the query whose lookup table is v->lut (8 x 256); v->bound_on = 0 where they would not be finite. */
static void bound8_prepare(scratch_view *v, real qn) {
  const real *lut = v->lut;
  real tmin[8], sum_min = 0, range = 0, mag = 0, inv;
  uint32_t m, j;
  v->bound_on = 0u;
  for (m = 0; m < 8u; m++) {
    __m512 lo = _mm512_set1_ps(-2 * lut[m * 256u]), hi = lo, big = _mm512_setzero_ps();
    for (j = 0; j < 256u; j += 16u) {
      const __m512 x = _mm512_loadu_ps(lut + m * 256u + j);
      const __m512 t = _mm512_add_ps(x, x); /* 2 <q, c> exactly; the term is its negation */
      lo = _mm512_min_ps(lo, _mm512_sub_ps(_mm512_setzero_ps(), t));
      hi = _mm512_max_ps(hi, _mm512_sub_ps(_mm512_setzero_ps(), t));
      big = _mm512_max_ps(big, _mm512_abs_ps(x));
    }
    tmin[m] = _mm512_reduce_min_ps(lo);
    range += _mm512_reduce_max_ps(hi) - tmin[m];
    sum_min += tmin[m];
    mag += _mm512_reduce_max_ps(big);
  }
  inv = (real)255 / range;
  /* finite and positive (NaN fails every test): otherwise the plain scan */
  if (!(range > 0 && range < (real)1e30 && inv < (real)1e30 && mag < (real)1e30 && sum_min > (real)-1e30 &&
        qn >= 0 && qn < (real)1e30))
    return;
  for (m = 0; m < 8u; m++) {
    const __m512 vmin = _mm512_set1_ps(tmin[m]), vinv = _mm512_set1_ps(inv), off = _mm512_set1_ps((real)1 / 1024);
    const __m512 zero = _mm512_setzero_ps(), top = _mm512_set1_ps(255);
    for (j = 0; j < 256u; j += 16u) {
      const __m512 x = _mm512_loadu_ps(lut + m * 256u + j);
      const __m512 t = _mm512_sub_ps(zero, _mm512_add_ps(x, x));
      __m512 g = _mm512_sub_ps(_mm512_mul_ps(_mm512_sub_ps(t, vmin), vinv), off);
      g = _mm512_min_ps(_mm512_max_ps(g, zero), top);
      _mm_storeu_si128((__m128i *)(void *)(v->bt + m * 256u + j), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(g)));
    }
  }
  v->b_sum = sum_min, v->b_inv = inv, v->b_mag = qn + 4 * mag;
  v->bound_on = 1u;
}

/* The distance of the item at position `at` of an 8-code run: ADC_RUN_FN's expressions and order (ADCC_8 from
 * `start`, then qn - 2 acc + its norm). */
static inline real adc8_dist(const adc_run *a, uint32_t at, real start, int norm8) {
  const real *const r0 = a->r0;
  const uint8_t *const c = a->codes + (size_t)at * 8u;
  real acc = start;
  ADCC_8;
  return a->qn - 2 * acc + run_norm(a->norms, at, norm8, a->norm_lo, a->norm_step);
}

/* A block of nl <= 64 items scored while fewer than k are held (the first leaf of a tree search): every item's
 * distance first (the plain scan's expression and order), then only the items fewer than k of the block's own
 * items beat (strictly) go on to the top-k, in position order: any other has k better items in this block alone,
 * so it would leave the top-k again. Same top-k as pushing every item; ~10 pushes instead of ~30 (k + k ln(nl / k)
 * for random order), each an insertion with branches that mispredict: the first IVF cell of a sift-like query cost
 * 3,400 ticks of the 2.6 GHz counter for ~80 items, a later cell ~460 (bench/vq_phase_profile.py, 2026-12-07). */
static void first_block(const adc_run *a, uint32_t pos, uint32_t nl, real start, int norm8) {
  const uint8_t *const ids = a->ids;
  scratch_view *const v = a->v;
  uint32_t *const count = a->count;
  const uint32_t k = a->k;
  real dd[64], bound;
  __m512 dv[4];
  uint32_t i, g;
  for (i = 0; i < nl; i++) dd[i] = adc8_dist(a, pos + i, start, norm8);
  for (; i < 64u; i++) dd[i] = (real)1e30 * (real)1e30; /* +inf: beats nothing */
  for (g = 0; g < 4u; g++) dv[g] = _mm512_loadu_ps(dd + 16u * g);
  bound = top_bound(v, k, *count);
  for (i = 0; i < nl; i++) {
    const __m512 x = _mm512_set1_ps(dd[i]);
    uint32_t beaten = 0;
    if (nl > k) {
      for (g = 0; g < 4u; g++) beaten += (uint32_t)__builtin_popcount(_mm512_cmp_ps_mask(dv[g], x, _CMP_LT_OQ));
      if (beaten >= k) continue;
    }
    if (dd[i] > bound) continue;
    top_push(v, k, count, dd[i], ids ? ld_u32(ids + 4u * (size_t)(pos + i)) : pos + i);
    bound = top_bound(v, k, *count);
  }
}

/* adc_run8_f32 / adc_run8_u8 (ADC_RUN_FN's loop, same results) with the 8-bit bound in front of the float sums. */
static inline void adc_run8_bound(const adc_run *a, uint32_t pos, uint32_t end, real start, int norm8) {
  static const uint8_t to_stage_major[64] = {0, 8,  16, 24, 32, 40, 48, 56, 1, 9,  17, 25, 33, 41, 49, 57,
                                             2, 10, 18, 26, 34, 42, 50, 58, 3, 11, 19, 27, 35, 43, 51, 59,
                                             4, 12, 20, 28, 36, 44, 52, 60, 5, 13, 21, 29, 37, 45, 53, 61,
                                             6, 14, 22, 30, 38, 46, 54, 62, 7, 15, 23, 31, 39, 47, 55, 63};
  const uint8_t *const codes = a->codes, *const norms = a->norms, *const ids = a->ids;
  const real qn = a->qn, norm_lo = a->norm_lo, norm_step = a->norm_step;
  scratch_view *const v = a->v;
  uint32_t *const count = a->count;
  const uint32_t k = a->k;
  const real base = qn - 2 * start + v->b_sum, mag = v->b_mag + 2 * (start < 0 ? -start : start);
  const __m512i sm = _mm512_loadu_si512((const void *)to_stage_major);
  const __m512i p1a = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), p1b = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  const __m512i p2a = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11), p2b = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
  const __m512i p3a = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11), p3b = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
  const __m512 vinv = _mm512_set1_ps(v->b_inv), nslack = _mm512_set1_ps(BOUND8_SLACK);
  real bound = top_bound(v, k, *count);
  if (end - pos < BOUND8_MIN_RUN) { /* most of a block would be padding: the plain loop */
    (norm8 ? adc_run8_u8 : adc_run8_f32)(a, pos, end, start);
    return;
  }
  while (pos < end) {
    const uint32_t nl = end - pos < 64u ? end - pos : 64u;
    const uint8_t *c = codes + (size_t)pos * 8u;
    __m512i z[8], u[8], w[8], s = _mm512_setzero_si512();
    __m512 vb;
    uint64_t keep = 0;
    uint32_t g, m;
    if (!(bound < (real)1e30)) { /* fewer than k held (a tree's first leaf): no tables; see first_block */
      first_block(a, pos, nl, start, norm8);
      bound = top_bound(v, k, *count);
      pos += nl;
      continue;
    }
    for (g = 0; g < 8u; g++) { /* items 8g..8g+7, each zmm stage-major: 64-bit word m = their stage-m codes */
      const uint32_t have = nl > 8u * g ? (nl - 8u * g < 8u ? nl - 8u * g : 8u) : 0u;
      const __mmask64 bytes = have == 8u ? ~(__mmask64)0 : (((__mmask64)1 << (8u * have)) - 1u);
      z[g] = _mm512_permutexvar_epi8(sm, _mm512_maskz_loadu_epi8(bytes, c + 64u * g));
    }
    for (g = 0; g < 8u; g += 2u) { /* 8 x 8 transpose of 64-bit words: w[m] = stage m of items 0..63 */
      u[g] = _mm512_permutex2var_epi64(z[g], p1a, z[g + 1u]);
      u[g + 1u] = _mm512_permutex2var_epi64(z[g], p1b, z[g + 1u]);
    }
    for (g = 0; g < 2u; g++) {
      w[4u * g] = _mm512_permutex2var_epi64(u[4u * g], p2a, u[4u * g + 2u]);
      w[4u * g + 1u] = _mm512_permutex2var_epi64(u[4u * g], p2b, u[4u * g + 2u]);
      w[4u * g + 2u] = _mm512_permutex2var_epi64(u[4u * g + 1u], p2a, u[4u * g + 3u]);
      w[4u * g + 3u] = _mm512_permutex2var_epi64(u[4u * g + 1u], p2b, u[4u * g + 3u]);
    }
    for (g = 0; g < 4u; g++) {
      u[2u * g] = _mm512_permutex2var_epi64(w[g], p3a, w[4u + g]);
      u[2u * g + 1u] = _mm512_permutex2var_epi64(w[g], p3b, w[4u + g]);
    }
    for (m = 0; m < 8u; m++) { /* S += b_m[code]: entries 0-127 and 128-255, picked by the code's top bit */
      const uint8_t *t = v->bt + 256u * m;
      const __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512((const void *)t), u[m],
                                                  _mm512_loadu_si512((const void *)(t + 64)));
      const __m512i hi = _mm512_permutex2var_epi8(_mm512_loadu_si512((const void *)(t + 128)), u[m],
                                                  _mm512_loadu_si512((const void *)(t + 192)));
      s = _mm512_adds_epu8(s, _mm512_mask_blend_epi8(_mm512_movepi8_mask(u[m]), lo, hi));
    }
    /* keep where S <= (bound + slack - base - norm + 2^-16 |norm|) / D */
    vb = _mm512_set1_ps(bound + BOUND8_SLACK * ((bound < 0 ? -bound : bound) + mag) - base);
    for (g = 0; g < 4u; g++) {
      const __mmask16 lanes = nl >= 16u * g + 16u ? (__mmask16)0xFFFFu
                              : nl <= 16u * g   ? (__mmask16)0u
                                                : (__mmask16)((1u << (nl - 16u * g)) - 1u);
      __m512 nv, sf;
      __m128i sb;
      if (norm8) {
        const __m128i n8 = _mm_maskz_loadu_epi8(lanes, norms + pos + 16u * g);
        nv = _mm512_add_ps(_mm512_set1_ps(norm_lo),
                           _mm512_mul_ps(_mm512_set1_ps(norm_step), _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(n8))));
      } else {
        nv = _mm512_maskz_loadu_ps(lanes, norms + 4u * ((size_t)pos + 16u * g));
      }
      nv = _mm512_sub_ps(nv, _mm512_mul_ps(_mm512_abs_ps(nv), nslack));
      sb = g == 0u ? _mm512_extracti32x4_epi32(s, 0) : g == 1u ? _mm512_extracti32x4_epi32(s, 1)
           : g == 2u ? _mm512_extracti32x4_epi32(s, 2) : _mm512_extracti32x4_epi32(s, 3);
      sf = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(sb));
      keep |= (uint64_t)_mm512_mask_cmp_ps_mask(lanes, sf, _mm512_mul_ps(_mm512_sub_ps(vb, nv), vinv), _CMP_LE_OQ)
              << (16u * g);
    }
    while (keep) { /* the plain scan's arithmetic for the items left, in position order */
      const uint32_t at = pos + (uint32_t)__builtin_ctzll(keep);
      const real d = adc8_dist(a, at, start, norm8);
      keep &= keep - 1u;
      if (d > bound) continue;
      top_push(v, k, count, d, ids ? ld_u32(ids + 4u * (size_t)at) : at);
      bound = top_bound(v, k, *count);
    }
    pos += nl;
  }
}
static NOINLINE void adc_run8b_f32(const adc_run *a, uint32_t pos, uint32_t end, real start) {
  adc_run8_bound(a, pos, end, start, 0);
}
static NOINLINE void adc_run8b_u8(const adc_run *a, uint32_t pos, uint32_t end, real start) {
  adc_run8_bound(a, pos, end, start, 1);
}
#undef BOUND8_SLACK
#endif

/* The run function for rows `row` of n_st stages with `stride`-byte code rows, or NULL (the written-out loops
 * below then apply): 8-bit codes, 5 to 8 consecutive 256-codeword stages, rows of exactly those codes. */
static adc_run_fn run_fn(const sdk_vq_index *idx, const scratch_view *v, const real *const *row, uint32_t n_st,
                         size_t stride) {
#if SDK_VQ_UNROLL_ADC
  static const adc_run_fn fns[2][4] = {{adc_run5_f32, adc_run6_f32, adc_run7_f32, adc_run8_f32},
                                       {adc_run5_u8, adc_run6_u8, adc_run7_u8, adc_run8_u8}};
  if (idx->code_bytes == 1u && n_st >= 5u && n_st <= 8u && stride == n_st && rows_consecutive(idx, row, n_st)) {
#if SDK_VQ_BOUND8
    if (v->bound_on && n_st == 8u && row[0] == v->lut) return idx->norm_bytes == 1u ? adc_run8b_u8 : adc_run8b_f32;
#endif
    return fns[idx->norm_bytes == 1u][n_st - 5u];
  }
#else
  (void)idx, (void)row, (void)n_st, (void)stride;
#endif
  (void)v;
  return NULL;
}

static void run_init(adc_run *a, const sdk_vq_index *idx, scratch_view *v, uint32_t k, uint32_t *count, real qn,
                     const real *r0, const uint8_t *codes, const uint8_t *ids, const uint8_t *norms) {
  a->codes = codes, a->norms = norms, a->ids = ids, a->r0 = r0;
  a->qn = qn, a->norm_lo = (real)idx->norm_lo, a->norm_step = (real)idx->norm_step;
  a->v = v, a->k = k, a->count = count;
}

static void adc_items(const sdk_vq_index *idx, scratch_view *v, uint32_t k, uint32_t *count, real qn,
                      const real *const *row, uint32_t n_st, const uint8_t *codes, size_t stride,
                      const uint8_t *ids, const uint8_t *norms, uint32_t pos, uint32_t end, real start) {
  const real *r0 = row[0], *r1 = row[1], *r2 = row[2], *r3 = row[3];
  const real *r4 = row[4], *r5 = row[5], *r6 = row[6], *r7 = row[7];
  real bound = top_bound(v, k, *count);
  NORM_LOCALS;
  uint32_t j;
  const adc_run_fn fn = (norms || !ids) ? run_fn(idx, v, row, n_st, stride) : NULL;
  if (fn) { /* the position's norm: leaf-order norms, or the index's where position = id */
    adc_run a;
    run_init(&a, idx, v, k, count, qn, r0, codes, ids, norms ? norms : idx->norms);
    fn(&a, pos, end, start);
    return;
  }
  if (norms) {
    ADC_DISPATCH(ADC_LOOP_POS)
  } else {
    ADC_DISPATCH(ADC_LOOP)
  }
  (void)r0, (void)r1, (void)r2, (void)r3, (void)r4, (void)r5, (void)r6, (void)r7, (void)j;
}

/* adc_items over n leaves of tree level lv: leaf i is nodes[i] with key-stage sum prefix[i], or,
 * with nodes NULL, node first + i with sum base + leaf_lut[its code] (the children of one node).
 * The per-leaf work is a few loads: the leaves of an A-Tree hold one or two items each. */
#define LEAF_LOOP(BODY)                                                                          \
  for (i = 0; i < n; i++) {                                                                      \
    const uint32_t node = nodes ? nodes[i] : first + i;                                          \
    const real start = nodes ? prefix[i] : base + leaf_lut[ld_u32(lv->nodes + (size_t)node * NODE_BYTES)]; \
    uint32_t pos = ld_u32(lv->nodes + (size_t)node * NODE_BYTES + 4u);                           \
    const uint32_t end = pos + ld_u32(lv->nodes + (size_t)node * NODE_BYTES + 8u);               \
    ADC_LOOP(BODY)                                                                               \
  }
#define LEAF_LOOP_POS(BODY)                                                                      \
  for (i = 0; i < n; i++) {                                                                      \
    const uint32_t node = nodes ? nodes[i] : first + i;                                          \
    const real start = nodes ? prefix[i] : base + leaf_lut[ld_u32(lv->nodes + (size_t)node * NODE_BYTES)]; \
    uint32_t pos = ld_u32(lv->nodes + (size_t)node * NODE_BYTES + 4u);                           \
    const uint32_t end = pos + ld_u32(lv->nodes + (size_t)node * NODE_BYTES + 8u);               \
    ADC_LOOP_POS(BODY)                                                                           \
  }
static void adc_leaves(const sdk_vq_index *idx, const sdk_vq_tree *t, scratch_view *v, uint32_t k, uint32_t *count,
                       real qn, const real *const *row, const sdk_vq_level *lv, const uint32_t *nodes,
                       const real *prefix, uint32_t n, uint32_t first, real base, const real *leaf_lut) {
  const real *r0 = row[0], *r1 = row[1], *r2 = row[2], *r3 = row[3];
  const real *r4 = row[4], *r5 = row[5], *r6 = row[6], *r7 = row[7];
  const uint8_t *codes = t->rest, *ids = t->ids, *norms = t->norms;
  const size_t stride = t->n_rest;
  const uint32_t n_st = t->n_rest;
  real bound = top_bound(v, k, *count);
  NORM_LOCALS;
  uint32_t i, j;
#if SDK_VQ_BOUND8 && SDK_VQ_UNROLL_ADC
  if (norms && v->bound_on && n_st == 8u && r0 == v->lut && stride == 8u) { /* the bound tables: a run per leaf */
    const adc_run_fn fn = run_fn(idx, v, row, n_st, stride);
    adc_run a;
    run_init(&a, idx, v, k, count, qn, r0, codes, ids, norms);
    for (i = 0; i < n; i++) {
      const uint32_t node = nodes ? nodes[i] : first + i;
      const real start = nodes ? prefix[i] : base + leaf_lut[ld_u32(lv->nodes + (size_t)node * NODE_BYTES)];
      const uint32_t pos = ld_u32(lv->nodes + (size_t)node * NODE_BYTES + 4u);
      fn(&a, pos, pos + ld_u32(lv->nodes + (size_t)node * NODE_BYTES + 8u), start);
    }
    (void)bound, (void)norm8, (void)norm_lo, (void)norm_step, (void)all_norms;
    return;
  }
#endif
  if (norms) {
    ADC_DISPATCH(LEAF_LOOP_POS)
  } else {
    ADC_DISPATCH(LEAF_LOOP)
  }
  (void)r0, (void)r1, (void)r2, (void)r3, (void)r4, (void)r5, (void)r6, (void)r7, (void)j;
}

/* Table rows of the stages `stages[0..n)` (8-bit codes; n <= SDK_VQ_MAX_STAGES); entries past n
 * up to ADC_ROWS_MAX repeat row 0 (read by nothing, but defined). */
static void adc_rows(const real *lut, uint32_t K, const uint32_t *stages, uint32_t n, const real **row) {
  uint32_t j;
  for (j = 0; j < n; j++) row[j] = lut + (size_t)stages[j] * K;
  for (; j < ADC_ROWS_MAX; j++) row[j] = lut;
}

/* Items below node j of level l: its leaves, hence its items, are contiguous. */
static uint32_t subtree_items(const sdk_vq_tree *t, uint32_t l, uint32_t j) {
  uint32_t lo = j, hi = j;
  for (; l + 1u < t->depth; l++) {
    lo = node_word(&t->levels[l], lo, 1);
    hi = node_word(&t->levels[l], hi, 1) + node_word(&t->levels[l], hi, 2) - 1u;
  }
  return node_word(&t->levels[l], hi, 1) + node_word(&t->levels[l], hi, 2) - node_word(&t->levels[l], lo, 1);
}

/* Scores the items at leaf-order positions [pos, end) of tree t, whose key-stage sum is `prefix`.
 * row: the table rows of t's rest stages (adc_rows), used for 8-bit codes in a single tree. */
static void score_leaf(const sdk_vq_index *idx, const sdk_vq_tree *t, const sdk_vq_params *p, scratch_view *v,
                       real qn, uint32_t *count, const real *const *row, uint32_t pos, uint32_t end, real prefix) {
  const uint32_t K = idx->ksub;
  uint32_t r;
  if (idx->code_bytes == 1u && idx->n_trees == 1u) { /* the common case: the leaf's items at once */
    adc_items(idx, v, p->k, count, qn, row, t->n_rest, t->rest, t->n_rest, t->ids, t->norms, pos, end, prefix);
    return;
  }
  for (; pos < end; pos++) {
    uint32_t id = ld_u32(t->ids + 4u * (size_t)pos);
    const size_t at = (size_t)pos * t->n_rest;
    real acc = prefix;
    if (idx->n_trees > 1u) {
      if (v->seen[id / 32u] >> (id % 32u) & 1u) continue;
      v->seen[id / 32u] |= 1u << (id % 32u);
    }
    if (idx->code_bytes == 1u) { /* the common 8-bit case: plain byte loads */
      const uint8_t *c = t->rest + at;
      for (r = 0; r < t->n_rest; r++) acc += v->lut[(size_t)t->rest_stages[r] * K + c[r]];
    } else {
      for (r = 0; r < t->n_rest; r++) acc += v->lut[(size_t)t->rest_stages[r] * K + ld_code(t->rest, 2u, at + r)];
    }
    acc = qn - 2 * acc + item_norm(idx, id);
    if (*count == p->k && !better(acc, id, v->top_d[p->k - 1u], v->top_i[p->k - 1u])) continue;
    top_push(v, p->k, count, acc, id);
  }
}

/* Scores every item below node j of level l (path sum `prefix`), children in order, each child's
 * path sum being its parent's plus its own table entry (the traversal's arithmetic). */
static void score_below(const sdk_vq_index *idx, const sdk_vq_tree *t, const sdk_vq_params *p, scratch_view *v,
                        real qn, uint32_t *count, const real *const *row, uint32_t l, uint32_t j, real prefix) {
  const sdk_vq_level *lv = &t->levels[l];
  uint32_t c = node_word(lv, j, 1), end = c + node_word(lv, j, 2);
  if (l + 1u == t->depth) {
    score_leaf(idx, t, p, v, qn, count, row, c, end, prefix);
    return;
  }
  {
    const sdk_vq_level *next = &t->levels[l + 1u];
    const real *lut = v->lut + (size_t)t->key_stages[l + 1u] * idx->ksub;
    if (l + 2u == t->depth && idx->code_bytes == 1u && idx->n_trees == 1u) { /* j's children are leaves */
      adc_leaves(idx, t, v, p->k, count, qn, row, next, NULL, NULL, end - c, c, prefix, lut);
      return;
    }
    for (; c < end; c++) score_below(idx, t, p, v, qn, count, row, l + 1u, c, prefix + lut[node_word(next, c, 0)]);
  }
}

/* The last expansion (children of the kept nodes are leaves) fused with the leaf selection, for
 * 8-bit codes in a single tree: the same leaves as writing the whole frontier and running
 * fr_select_binned on it (same scores, same range and bins, same cut; fr_select decides inside the
 * cut bin, whose result does not depend on the entries' order), then the same items scored, in
 * another order (the top-k does not depend on it). Three passes over the children instead of
 * writing four arrays and swapping entries: scores and leaf sizes; bins; then the leaves of the bins
 * before the cut are listed (node, path sum recomputed by the same expression) and those of the
 * cut bin are written as a small frontier at the end of the arrays. Returns 0 without scoring
 * when the frontier is small or its score range is degenerate (fr_select_binned would use
 * fr_select alone): the caller then takes the general path. */
static NOINLINE int leaves_fused(const sdk_vq_index *idx, const sdk_vq_tree *t, scratch_view *v, uint32_t k, real qn,
                        uint32_t *count, const real *const *row, const frontier *cur, uint32_t keep,
                        const sdk_vq_level *lv, const sdk_vq_level *next, const real *lut, uint64_t budget,
                        const frontier *out) {
  uint32_t s, c, end, i, nw = 0, front = 0, back, cut, sel;
  uint64_t run = 0;
  real lo = 0, hi = 0, scale;
  frontier rest;
  for (s = 0; s < keep; s++) nw += node_word(lv, cur->node[s], 2);
  if (nw <= 64u) return 0;
  for (s = 0, i = 0; s < keep; s++) { /* pass 1: each leaf's score (the traversal's expression) and size */
    const real base = cur->prefix[s];
    for (c = node_word(lv, cur->node[s], 1), end = c + node_word(lv, cur->node[s], 2); c < end; c++, i++) {
      const real pre = base + lut[node_word(next, c, 0)];
      const real sc = qn - 2 * pre + node_norm(next, c);
      out->score[i] = sc;
      out->weight[i] = node_word(next, c, 2);
      if (i == 0u) lo = hi = sc;
      if (sc < lo) lo = sc;
      if (sc > hi) hi = sc;
    }
  }
  if (!(hi - lo > (real)1e-30)) return 0;
  scale = (real)(SELECT_BINS - 1u) / (hi - lo);
  memset(v->bins, 0, SELECT_BINS * sizeof(uint32_t));
  for (i = 0; i < nw; i++) { /* pass 2: weights per score bin */
    v->bin_at[i] = (uint8_t)bin_of(out->score[i], lo, scale);
    v->bins[v->bin_at[i]] += out->weight[i];
  }
  for (cut = 0; cut < SELECT_BINS; cut++) {
    if (run + v->bins[cut] >= budget) break;
    run += v->bins[cut];
  }
  back = nw;
  for (s = 0, i = 0; s < keep; s++) { /* pass 3: reads only bin_at; writes below index i or at the end */
    const real base = cur->prefix[s];
    for (c = node_word(lv, cur->node[s], 1), end = c + node_word(lv, cur->node[s], 2); c < end; c++, i++) {
      const uint32_t b = v->bin_at[i];
      const real pre = base + lut[node_word(next, c, 0)];
      /* written at `front` always and kept when b < cut: no branch on b < cut, which a share of the leaves near
       * budget / leaves passes in no predictable order (front <= i, and < back unless this is the last leaf and
       * goes to the cut bin, whose entry is then written over it just below) */
      out->node[front] = c;
      out->prefix[front] = pre;
      front += b < cut;
      if (b == cut) {
        back--;
        out->score[back] = qn - 2 * pre + node_norm(next, c);
        out->prefix[back] = pre;
        out->node[back] = c;
        out->weight[back] = node_word(next, c, 2);
      }
    }
  }
  rest.score = out->score + back, rest.prefix = out->prefix + back;
  rest.node = out->node + back, rest.weight = out->weight + back;
  sel = cut < SELECT_BINS ? fr_select(&rest, nw - back, budget - run) : 0u;
  adc_leaves(idx, t, v, k, count, qn, row, next, out->node, out->prefix, front, 0, 0, NULL);
  adc_leaves(idx, t, v, k, count, qn, row, next, rest.node, rest.prefix, sel, 0, 0, NULL);
  return 1;
}

/* IVF: out[j] = the ADC sum of cell j's centroid codes (its node's code is its row in t->cells), stage by stage
 * in order, as an item's. row: the table rows of all stages (adc_rows; t's rest stages are all of them). Where node
 * j's row is j (t->cells_in_order: every file sdk.vq writes), the rows are read in order without the node's code: its
 * load was on each cell's address path (1,024 cells: 20.6 -> 19.7 us a query, 2026-12-06). */
#define CELL_LOOP(BODY)                                              \
  for (i = 0; i < n; i++) {                                          \
    const uint8_t *c = t->cells + (size_t)node_word(lv, i, 0) * M;   \
    real acc = 0;                                                    \
    BODY;                                                            \
    out[i] = acc;                                                    \
  }
#define CELL_LOOP_SEQ(BODY)                                          \
  for (i = 0; i < n; i++) {                                          \
    const uint8_t *c = t->cells + (size_t)i * M;                     \
    real acc = 0;                                                    \
    BODY;                                                            \
    out[i] = acc;                                                    \
  }
static NOINLINE void cell_sums(const sdk_vq_index *idx, const sdk_vq_tree *t, const real *lut, const real *const *row,
                      real *out) {
  const sdk_vq_level *lv = &t->levels[0];
  const uint32_t n = lv->count, M = idx->stages, n_st = M;
  uint32_t i, j, m; /* j: ADC_ANY's stage index */
  if (idx->code_bytes == 1u) {
    const real *r0 = row[0], *r1 = row[1], *r2 = row[2], *r3 = row[3];
    const real *r4 = row[4], *r5 = row[5], *r6 = row[6], *r7 = row[7];
    if (t->cells_in_order) {
      ADC_DISPATCH(CELL_LOOP_SEQ)
    } else {
      ADC_DISPATCH(CELL_LOOP)
    }
    (void)r0, (void)r1, (void)r2, (void)r3, (void)r4, (void)r5, (void)r6, (void)r7, (void)j;
    return;
  }
  for (i = 0; i < n; i++) {
    const size_t at = (size_t)node_word(lv, i, 0) * M;
    real acc = 0;
    for (m = 0; m < M; m++) acc += lut[(size_t)m * idx->ksub + ld_code(t->cells, 2u, at + m)];
    out[i] = acc;
  }
}
#undef CELL_LOOP
#undef CELL_LOOP_SEQ

/* IVF level 0 (cells in file order, 8 stages of 256 codewords, 8-bit codes), AVX-512: each cell's score
 * qn - 2 (the ADC sum of its centroid's codes, stage by stage from 0) + its norm, prefix 0, node j, weight its item
 * count, 16 cells at a time: the sums' 8 terms by gathers (the codes of 16 cells are two 64-byte loads, a stage's 16
 * indices a shift and a mask of them), the norms and counts picked out of the node records by permutes. The same
 * float operations in the same order as cell_sums and the scalar loops after it (a lane per cell), so the same
 * scores bit for bit. Returns 0 (nothing written) where it does not apply. The scalar passes cost 3,400 ticks of an
 * 8,100-tick sift-like query (512 cells: 16 byte and float loads a cell, then four strided passes over the nodes;
 * bench/vq_phase_profile.py, 2026-12-07 tree49). */
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__OPTIMIZE_SIZE__) && !defined(SDK_VQ_DOUBLE)
#include <immintrin.h>
static NOINLINE int ivf_level0(const sdk_vq_index *idx, const sdk_vq_tree *t, const real *lut, real qn,
                               const frontier *f) {
  const sdk_vq_level *lv = &t->levels[0];
  const uint32_t w = lv->count;
  const __m512i pick = _mm512_setr_epi32(3, 7, 11, 15, 19, 23, 27, 31, 3, 7, 11, 15, 19, 23, 27, 31);
  const __m512i pick_count = _mm512_sub_epi32(pick, _mm512_set1_epi32(1));
  const __m512i step = _mm512_set1_epi32(16);
  const __m512 vqn = _mm512_set1_ps(qn);
  __m512i node = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  uint32_t j;
  if (idx->code_bytes != 1u || idx->stages != 8u || idx->ksub != 256u || !t->cells_in_order || t->depth != 1u)
    return 0;
  for (j = 0; j < w; j++) { /* the sums, in stage order from 0 */
    const uint8_t *c = t->cells + (size_t)j * 8u;
    real acc = 0;
    acc += lut[c[0]];
    acc += lut[256u + c[1]];
    acc += lut[512u + c[2]];
    acc += lut[768u + c[3]];
    acc += lut[1024u + c[4]];
    acc += lut[1280u + c[5]];
    acc += lut[1536u + c[6]];
    acc += lut[1792u + c[7]];
    f->prefix[j] = acc;
  }
  for (j = 0; j + 16u <= w; j += 16u) {
    const uint8_t *nd = lv->nodes + (size_t)j * NODE_BYTES;
    const __m512i n0 = _mm512_loadu_si512((const void *)nd), n1 = _mm512_loadu_si512((const void *)(nd + 64));
    const __m512i n2 = _mm512_loadu_si512((const void *)(nd + 128)), n3 = _mm512_loadu_si512((const void *)(nd + 192));
    const __m512 acc = _mm512_loadu_ps(f->prefix + j);
    const __m512 norm = _mm512_castsi512_ps(_mm512_shuffle_i32x4(_mm512_permutex2var_epi32(n0, pick, n1),
                                                                 _mm512_permutex2var_epi32(n2, pick, n3), 0x44));
    const __m512i cnt = _mm512_shuffle_i32x4(_mm512_permutex2var_epi32(n0, pick_count, n1),
                                             _mm512_permutex2var_epi32(n2, pick_count, n3), 0x44);
    _mm512_storeu_ps(f->score + j, _mm512_add_ps(_mm512_sub_ps(vqn, _mm512_add_ps(acc, acc)), norm));
    _mm512_storeu_ps(f->prefix + j, _mm512_setzero_ps());
    _mm512_storeu_si512((void *)(f->node + j), node);
    _mm512_storeu_si512((void *)(f->weight + j), cnt);
    node = _mm512_add_epi32(node, step);
  }
  for (; j < w; j++) {
    f->score[j] = qn - 2 * f->prefix[j] + node_norm(lv, j);
    f->prefix[j] = 0;
    f->node[j] = j;
    f->weight[j] = node_word(lv, j, 2);
  }
  return 1;
}
#else
static int ivf_level0(const sdk_vq_index *idx, const sdk_vq_tree *t, const real *lut, real qn, const frontier *f) {
  (void)idx, (void)t, (void)lut, (void)qn, (void)f;
  return 0;
}
#endif

/* Adaptive stop (p->margin > 0): the leaves of the frontier `cur` (w entries, scores in [lo, hi]) visited one by
 * one in (score, node) order, stopping before the first leaf whose score exceeds the k-th best distance found so
 * far plus the margin (once k are held), or once `budget` items were seen. Best-first order without sorting the
 * whole frontier: the entries' indices are bucketed by score bin (counting sort into `order`), and only the bins
 * reached are sorted (insertion sort; a bin holds a few entries). The visit runs inside one ADC_DISPATCH for the
 * whole query (BF_VISIT), not one per leaf: an IVF leaf holds ~30 items, and the per-leaf setup of adc_leaves (row
 * pointers, the consecutive-rows test, the dispatch) was a tenth of a query visiting 6,000 of 58,626 items in ~200
 * leaves (synthetic codes, Intel AVX-512 core: 56 -> 52 us; bench/RESULTS_vq.md, 2026-12-06). */
/* Software prefetch of a leaf's first code and norm lines, BF_AHEAD leaves before it is scored: the table of a
 * group of queries streams the codebooks (3 MB at 8 x 256 x 384) through the caches between two searches, and the
 * best-first visit's leaves lie scattered, so without it each leaf's first lines missed the caches (no hardware
 * prefetcher follows that order). A hint: no fault, no change to any result. */
#ifndef SDK_VQ_PREFETCH
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__aarch64__))
#define SDK_VQ_PREFETCH 1
#else
#define SDK_VQ_PREFETCH 0
#endif
#endif
#ifndef BF_AHEAD
#define BF_AHEAD 2u
#endif
static void bf_prefetch(const sdk_vq_tree *t, const sdk_vq_level *lv, uint32_t node, uint32_t nb) {
#if SDK_VQ_PREFETCH
  const uint32_t pos = ld_u32(lv->nodes + (size_t)node * NODE_BYTES + 4u);
  const uint8_t *c = t->rest + (size_t)pos * t->n_rest;
  __builtin_prefetch(c), __builtin_prefetch(c + 64), __builtin_prefetch(c + 128), __builtin_prefetch(c + 192);
  if (t->norms) {
    const uint8_t *n = t->norms + (size_t)pos * nb;
    __builtin_prefetch(n), __builtin_prefetch(n + 64);
  }
#else
  (void)t, (void)lv, (void)node, (void)nb;
#endif
}
/* The best-first order is built a few bins at a time, as the visit reaches them: bf_chunk puts the entries of bins
 * [b0, b1) (bin_at) at order[at...] in bin order (by index within a bin) and sets v->bins[b] to where bin b ends, the
 * values a counting sort of all w entries gives (the visit then sorts each bin by (score, node) as it reaches it).
 * The visit stops after a few cells (sift-like: ~10 of 512, MiniLM word pieces ~120 of 510): a counting sort of
 * every entry (a weight, a bin and a scatter each) was 1,900 ticks of an 8,100-tick sift-like query before its first
 * item (bench/vq_phase_profile.py, 2026-12-07 tree49). Chunks of 2, 2, 4, 8, ... bins; with AVX-512 BW a chunk's
 * entries are found 64 bins at a time, else (one chunk of all bins) by a scalar pass, as before. */
#if defined(__AVX512BW__) && defined(__AVX512F__) && defined(__GNUC__) && !defined(__OPTIMIZE_SIZE__)
#define BF_CHUNKED 1
#include <immintrin.h>
static uint32_t bf_next_chunk(uint32_t b) { return b < 2u ? 2u : 2u * b < SELECT_BINS ? 2u * b : SELECT_BINS; }
#else
#define BF_CHUNKED 0
static uint32_t bf_next_chunk(uint32_t b) { return (void)b, SELECT_BINS; }
#endif
static uint32_t bf_chunk(scratch_view *v, uint32_t w, uint32_t b0, uint32_t b1, uint32_t *order, uint32_t at,
                         uint32_t *tmp) {
  const uint8_t *bin_at = v->bin_at;
  uint32_t *bins = v->bins;
  uint32_t i, b, n = 0, run = at;
#if BF_CHUNKED
  const __m512i vlo = _mm512_set1_epi8((char)b0), vhi = _mm512_set1_epi8((char)(b1 - 1u));
  for (i = 0; i < w; i += 64u) {
    const __mmask64 lanes = w - i >= 64u ? ~(__mmask64)0 : (((__mmask64)1 << (w - i)) - 1u);
    const __m512i x = _mm512_maskz_loadu_epi8(lanes, bin_at + i);
    uint64_t m = (uint64_t)(_mm512_mask_cmpge_epu8_mask(lanes, x, vlo) & _mm512_mask_cmple_epu8_mask(lanes, x, vhi));
    while (m) {
      tmp[n++] = i + (uint32_t)__builtin_ctzll(m);
      m &= m - 1u;
    }
  }
#else
  for (i = 0; i < w; i++)
    if (bin_at[i] >= b0 && bin_at[i] < b1) tmp[n++] = i;
#endif
  for (b = b0; b < b1; b++) bins[b] = 0;
  for (i = 0; i < n; i++) bins[bin_at[tmp[i]]]++;
  for (b = b0; b < b1; b++) { /* bins[b]: where bin b starts */
    const uint32_t c = bins[b];
    bins[b] = run;
    run += c;
  }
  for (i = 0; i < n; i++) order[bins[bin_at[tmp[i]]]++] = tmp[i]; /* then bins[b] is where bin b ends */
  return run;
}
#define BF_VISIT(ITEMS, BODY)                                                                                   \
  for (b = 0, from = 0, filled = 0; b < SELECT_BINS; b++, from = to) {                                         \
    if (b == chunk) { /* the next bins' entries, in bin order (bf_chunk): bins [b, chunk) */                     \
      chunk = bf_next_chunk(b);                                                                                  \
      filled = bf_chunk(v, w, b, chunk, order, filled, tmp);                                                     \
    }                                                                                                            \
    to = v->bins[b]; /* where bin b ends */                                                                      \
    for (i = from + 1u; i < to; i++) { /* insertion sort of the bin by (score, node) */                          \
      const uint32_t x = order[i];                                                                               \
      uint32_t s = i;                                                                                            \
      for (; s > from && better(cur->score[x], cur->node[x], cur->score[order[s - 1u]], cur->node[order[s - 1u]]); s--) \
        order[s] = order[s - 1u];                                                                                \
      order[s] = x;                                                                                              \
    }                                                                                                            \
    for (i = from; i < to; i++) {                                                                                \
      const uint32_t e = order[i], node = cur->node[e];                                                          \
      const real start = cur->prefix[e];                                                                         \
      uint32_t pos, end;                                                                                         \
      if (seen >= budget) return;                                                                                \
      if (*count == k && cur->score[e] > v->top_d[k - 1u] + margin) return;                                      \
      pos = ld_u32(lv->nodes + (size_t)node * NODE_BYTES + 4u);                                                  \
      end = pos + ld_u32(lv->nodes + (size_t)node * NODE_BYTES + 8u);                                            \
      if (i + BF_AHEAD < filled) bf_prefetch(t, lv, cur->node[order[i + BF_AHEAD]], nb);                         \
      ITEMS(BODY)                                                                                                \
      seen += cur->weight[e];                                                                                    \
    }                                                                                                            \
  }
#define BF_VISIT_POS(BODY) BF_VISIT(ADC_LOOP_POS, BODY)
#define BF_RUN(BODY) fn(&a, pos, end, start);
#define BF_VISIT_ID(BODY) BF_VISIT(ADC_LOOP, BODY)
/* one leaf at a time: adc_leaves (builds without the written-out loops: one copy of BF_VISIT, 0.9 KB less on a
 * Cortex-M4 at -Os than three), or score_leaf (forests, 16-bit codes) */
#define BF_ONE_LEAF(BODY)                                                                                       \
  if (fast) {                                                                                                   \
    adc_leaves(idx, t, v, k, count, qn, row, lv, cur->node + e, cur->prefix + e, 1u, 0, 0, NULL);               \
  } else {                                                                                                      \
    score_leaf(idx, t, p, v, qn, count, row, pos, end, start);                                                  \
  }
static void leaves_best_first(const sdk_vq_index *idx, const sdk_vq_tree *t, const sdk_vq_params *p,
                              scratch_view *v, real qn, uint32_t *count, const real *const *row,
                              const sdk_vq_level *lv, const frontier *cur, uint32_t w, real lo, real hi,
                              uint64_t budget, uint32_t *order, uint32_t *tmp) {
  const real margin = (real)p->margin;
  const uint32_t k = p->k;
  const int fast = idx->code_bytes == 1u && idx->n_trees == 1u; /* a single tree of 8-bit codes */
  real scale = hi - lo > (real)1e-30 ? (real)(SELECT_BINS - 1u) / (hi - lo) : (real)0;
  const uint32_t nb = idx->norm_bytes;
  uint64_t seen = 0;
  uint32_t i, b, from, to, filled, chunk = 0;
  if (scale > (real)0) {
    const real *score = cur->score; /* in locals: the byte stores could alias the fields */
    uint8_t *bin_at = v->bin_at;
    for (i = 0; i < w; i++) bin_at[i] = (uint8_t)bin_of_select(score[i], lo, scale);
  } else {
    memset(v->bin_at, 0, w);
  }
#if SDK_VQ_UNROLL_ADC
  if (fast && t->norms) {
    const adc_run_fn fn = run_fn(idx, v, row, t->n_rest, t->n_rest);
    if (fn) { /* one call per leaf */
      adc_run a;
      run_init(&a, idx, v, k, count, qn, row[0], t->rest, t->ids, t->norms);
      BF_VISIT(BF_RUN, _)
      return;
    }
  }
  if (fast) {
    const real *r0 = row[0], *r1 = row[1], *r2 = row[2], *r3 = row[3];
    const real *r4 = row[4], *r5 = row[5], *r6 = row[6], *r7 = row[7];
    const uint8_t *codes = t->rest, *ids = t->ids, *norms = t->norms;
    const size_t stride = t->n_rest;
    const uint32_t n_st = t->n_rest;
    real bound = top_bound(v, k, *count);
    NORM_LOCALS;
    uint32_t j;
    if (norms) {
      ADC_DISPATCH(BF_VISIT_POS)
    } else {
      ADC_DISPATCH(BF_VISIT_ID)
    }
    (void)r0, (void)r1, (void)r2, (void)r3, (void)r4, (void)r5, (void)r6, (void)r7, (void)j;
    return;
  }
#endif
  BF_VISIT(BF_ONE_LEAF, _)
}
#undef BF_VISIT
#undef BF_VISIT_POS
#undef BF_VISIT_ID
#undef BF_RUN
#undef BF_ONE_LEAF

/* The smallest and largest of score[0..w) (w >= 1), as TRACK_RANGE finds them: a NaN score is skipped, unless it
 * is the first (then both are NaN). 16 running minima and maxima (vector lanes) instead of one: the single chain
 * of compares took ~4 cycles a score. Which of two equal scores (+0, -0) is kept does not change a bin. */
#if SDK_VQ_UNROLL_ADC
#define RANGE_LANES 16u
#else
#define RANGE_LANES 1u /* builds for size */
#endif
static void score_range(const real *score, uint32_t w, real *out_lo, real *out_hi) {
  real lo[RANGE_LANES], hi[RANGE_LANES];
  uint32_t j, u;
  for (u = 0; u < RANGE_LANES; u++) lo[u] = hi[u] = score[0];
  for (j = 0; j + RANGE_LANES <= w; j += RANGE_LANES)
    for (u = 0; u < RANGE_LANES; u++) {
      lo[u] = score[j + u] < lo[u] ? score[j + u] : lo[u];
      hi[u] = score[j + u] > hi[u] ? score[j + u] : hi[u];
    }
  for (; j < w; j++) {
    lo[0] = score[j] < lo[0] ? score[j] : lo[0];
    hi[0] = score[j] > hi[0] ? score[j] : hi[0];
  }
  for (u = 1; u < RANGE_LANES; u++) {
    lo[0] = lo[u] < lo[0] ? lo[u] : lo[0];
    hi[0] = hi[u] > hi[0] ? hi[u] : hi[0];
  }
  *out_lo = lo[0], *out_hi = hi[0];
}
#undef RANGE_LANES

static void search_tree(const sdk_vq_index *idx, const sdk_vq_tree *t, const sdk_vq_params *p,
                        scratch_view *v, real qn, uint32_t *count) {
  const uint32_t K = idx->ksub;
  const uint64_t nprobe = p->nprobe ? p->nprobe : 0xFFFFFFFFu, budget = p->budget ? p->budget : 0xFFFFFFFFu;
  frontier cur = {v->score[0], v->prefix[0], v->node[0], v->weight[0]};
  frontier nxt = {v->score[1], v->prefix[1], v->node[1], v->weight[1]};
  const sdk_vq_level *lv = &t->levels[0];
  const real *row[SDK_VQ_MAX_STAGES > ADC_ROWS_MAX ? SDK_VQ_MAX_STAGES : ADC_ROWS_MAX];
  uint32_t w = lv->count, j, l, s, keep;
  real lo = 0, hi = 0; /* score range of the frontier */
#define TRACK_RANGE(sc, first) \
  do {                         \
    if (first) lo = hi = (sc); \
    if ((sc) < lo) lo = (sc);  \
    if ((sc) > hi) hi = (sc);  \
  } while (0)
  if (idx->code_bytes == 1u) adc_rows(v->lut, K, t->rest_stages, t->n_rest, row);
  /* level 0's scores, then the other fields and the score range in loops without branches (vectorised) */
  if (t->cells && ivf_level0(idx, t, v->lut, qn, &cur)) {
    /* IVF, 8 stages of 256 codewords: every field of the frontier filled, 16 cells at a time */
  } else {
    if (t->cells) { /* IVF: the centroids' ADC sums; a cell's items are summed from 0 over all their codes */
      cell_sums(idx, t, v->lut, row, cur.prefix);
      for (j = 0; j < w; j++) cur.score[j] = qn - 2 * cur.prefix[j] + node_norm(lv, j);
      for (j = 0; j < w; j++) cur.prefix[j] = 0;
    } else {
      const real *lut0 = v->lut + (size_t)t->key_stages[0] * K;
      for (j = 0; j < w; j++) {
        const real pre = lut0[node_word(lv, j, 0)];
        cur.score[j] = qn - 2 * pre + node_norm(lv, j);
        cur.prefix[j] = pre;
      }
    }
    for (j = 0; j < w; j++) cur.node[j] = j;
    if (t->depth == 1u) {
      for (j = 0; j < w; j++) cur.weight[j] = node_word(lv, j, 2);
    } else {
      for (j = 0; j < w; j++) cur.weight[j] = 1u; /* level 0 keeps nprobe nodes */
    }
  }
  if (w > 0u) score_range(cur.score, w, &lo, &hi);
  for (l = 0; l + 1u < t->depth; l++) {
    const sdk_vq_level *next = &t->levels[l + 1u];
    const real *lut = v->lut + (size_t)t->key_stages[l + 1u] * K;
    const int is_leaf = l + 2u == t->depth;
    uint64_t below = 0;
    uint32_t nw = 0;
    frontier tmp;
    /* level 0 keeps the nprobe best nodes; deeper levels keep the best nodes while the items
     * below the nodes kept so far are fewer than the budget */
    keep = fr_select_binned(&cur, w, l == 0u ? nprobe : budget, v->bins, v->bin_at, lo, hi);
    for (s = 0; s < keep; s++) below += l == 0u ? subtree_items(t, 0u, cur.node[s]) : cur.weight[s];
    if (below <= budget && !(p->margin > 0.0f)) {
      /* the budget cannot bind below the kept nodes: every deeper level keeps all their children
       * and every leaf below them is visited, so their items are scored without a frontier */
      for (s = 0; s < keep; s++) score_below(idx, t, p, v, qn, count, row, l, cur.node[s], cur.prefix[s]);
      return;
    }
    if (is_leaf && idx->code_bytes == 1u && idx->n_trees == 1u && !(p->margin > 0.0f) &&
        leaves_fused(idx, t, v, p->k, qn, count, row, &cur, keep, lv, next, lut, budget, &nxt))
      return;
    for (s = 0; s < keep; s++) {
      uint32_t c = node_word(lv, cur.node[s], 1), end = c + node_word(lv, cur.node[s], 2);
      for (; c < end; c++) {
        real pre = cur.prefix[s] + lut[node_word(next, c, 0)];
        real sc = qn - 2 * pre + node_norm(next, c);
        nxt.score[nw] = sc;
        nxt.prefix[nw] = pre;
        nxt.node[nw] = c;
        nxt.weight[nw] = is_leaf ? node_word(next, c, 2) : subtree_items(t, l + 1u, c);
        TRACK_RANGE(sc, nw == 0u);
        nw++;
      }
    }
    tmp = cur, cur = nxt, nxt = tmp;
    w = nw;
    lv = next;
  }
#undef TRACK_RANGE
  /* leaves, best first, until the budget is spent */
  if (p->margin > 0.0f) {
    leaves_best_first(idx, t, p, v, qn, count, row, lv, &cur, w, lo, hi, budget, nxt.node, nxt.weight);
    return;
  }
  keep = fr_select_binned(&cur, w, budget, v->bins, v->bin_at, lo, hi);
  if (idx->code_bytes == 1u && idx->n_trees == 1u) {
    adc_leaves(idx, t, v, p->k, count, qn, row, lv, cur.node, cur.prefix, keep, 0, 0, NULL);
    return;
  }
  for (s = 0; s < keep; s++) {
    const uint32_t pos = node_word(lv, cur.node[s], 1);
    score_leaf(idx, t, p, v, qn, count, row, pos, pos + node_word(lv, cur.node[s], 2), cur.prefix[s]);
  }
}

/* Eight codewords' sums of the lookup-table kernel, in named scalars (registers, then SIMD
 * lanes under gcc -O2's SLP vectoriser); every sum runs over d in order. */
#define LUT_DECL8(p) real p##0 = 0, p##1 = 0, p##2 = 0, p##3 = 0, p##4 = 0, p##5 = 0, p##6 = 0, p##7 = 0
#define LUT_MAC8(p, r)                                                                          \
  (p##0 += qd * ld_f32(r), p##1 += qd * ld_f32((r) + 4u), p##2 += qd * ld_f32((r) + 8u),        \
   p##3 += qd * ld_f32((r) + 12u), p##4 += qd * ld_f32((r) + 16u), p##5 += qd * ld_f32((r) + 20u), \
   p##6 += qd * ld_f32((r) + 24u), p##7 += qd * ld_f32((r) + 28u))
#define LUT_STORE8(out, p, o)                                                               \
  (out[(o)] = p##0, out[(o) + 1u] = p##1, out[(o) + 2u] = p##2, out[(o) + 3u] = p##3,      \
   out[(o) + 4u] = p##4, out[(o) + 5u] = p##5, out[(o) + 6u] = p##6, out[(o) + 7u] = p##7)

/* Codewords per pass of the lookup-table kernel: enough independent sums to keep the vector
 * adders busy (with too few, the latency of each add chain, not memory, bounds the loop):
 * 32 for SSE (8 registers of 4), 64 with AVX, 128 with AVX-512; 8 on 32-bit Arm, whose FPU has
 * 32 single-precision registers. Whatever the width, each entry is the same in-order sum. */
#ifndef SDK_VQ_LUT_WIDTH
#if defined(__arm__) && !defined(__aarch64__)
#define SDK_VQ_LUT_WIDTH 8
#elif defined(__AVX512F__)
#define SDK_VQ_LUT_WIDTH 128
#elif defined(__AVX__)
#define SDK_VQ_LUT_WIDTH 64
#else
#define SDK_VQ_LUT_WIDTH 32
#endif
#endif

#define LUT_DECL32(p) LUT_DECL8(p##a); LUT_DECL8(p##b); LUT_DECL8(p##c); LUT_DECL8(p##e)
#define LUT_MAC32(p, r) (LUT_MAC8(p##a, r), LUT_MAC8(p##b, (r) + 32u), LUT_MAC8(p##c, (r) + 64u), LUT_MAC8(p##e, (r) + 96u))
#define LUT_STORE32(out, p, o) \
  (LUT_STORE8(out, p##a, o), LUT_STORE8(out, p##b, (o) + 8u), LUT_STORE8(out, p##c, (o) + 16u), LUT_STORE8(out, p##e, (o) + 24u))

/* One pass: W (32, 64 or 128) entries of query g's table from codeword j on. */
#define LUT_PASS(W)                                                       \
  for (; j + (W) <= K; j += (W)) {                                        \
    for (g = 0; g < nq; g++) {                                            \
      const float *query = queries + (size_t)g * D;                       \
      real *out = lut + g * lut_stride;                                   \
      LUT_DECL32(a);                                                      \
      LUT_DECL32(b);                                                      \
      LUT_DECL32(c);                                                      \
      LUT_DECL32(e);                                                      \
      for (d = 0; d < D; d++) {                                           \
        const uint8_t *r = book + 4u * ((size_t)d * K + j);               \
        const real qd = (real)query[d];                                   \
        LUT_MAC32(a, r);                                                  \
        if ((W) >= 64) LUT_MAC32(b, r + 128u);                            \
        if ((W) >= 128) LUT_MAC32(c, r + 256u), LUT_MAC32(e, r + 384u);   \
      }                                                                   \
      LUT_STORE32(out, a, j);                                             \
      if ((W) >= 64) LUT_STORE32(out, b, j + 32u);                        \
      if ((W) >= 128) LUT_STORE32(out, c, j + 64u), LUT_STORE32(out, e, j + 96u); \
    }                                                                     \
  }

/* The 8-wide and single-codeword passes after the wide ones (ksub not a multiple of 32, or < 8). */
static void lut_tail(const uint8_t *book, uint32_t K, uint32_t D, uint32_t j, const float *queries, uint32_t nq,
                     real *lut, size_t lut_stride) {
  uint32_t d, g;
  for (; j + 8u <= K; j += 8u) {
    for (g = 0; g < nq; g++) {
      const float *query = queries + (size_t)g * D;
      real *out = lut + g * lut_stride;
      LUT_DECL8(a);
      for (d = 0; d < D; d++) {
        const uint8_t *r = book + 4u * ((size_t)d * K + j);
        const real qd = (real)query[d];
        LUT_MAC8(a, r);
      }
      LUT_STORE8(out, a, j);
    }
  }
  for (; j < K; j++) { /* ksub < 8 */
    for (g = 0; g < nq; g++) {
      const float *query = queries + (size_t)g * D;
      real acc = 0;
      for (d = 0; d < D; d++) acc += (real)query[d] * ld_f32(book + 4u * ((size_t)d * K + j));
      lut[g * lut_stride + j] = acc;
    }
  }
}

/* Lookup tables of `nq` queries (rows of dim floats) for stage m: lut + g * lut_stride gets
 * query g's entries lut[j] = <q, c_j>, each a plain sum over d in order. Codebooks are stored
 * [stages][dim][ksub], so neighbouring codewords are contiguous floats per d. The loop over the
 * queries sits inside the loop over codeword blocks: a block (dim x 32 floats) is read from
 * memory once for all the queries and then from cache. */
static void lut_stage_base(const sdk_vq_index *idx, uint32_t m, const float *queries, uint32_t nq,
                           real *lut, size_t lut_stride) {
  const uint32_t K = idx->ksub, D = idx->dim;
  const uint8_t *book = idx->codebooks + 4u * (size_t)m * D * K;
  uint32_t d, j = 0, g;
#if SDK_VQ_LUT_WIDTH >= 128
  LUT_PASS(128u)
#endif
#if SDK_VQ_LUT_WIDTH >= 64
  LUT_PASS(64u)
#endif
#if SDK_VQ_LUT_WIDTH >= 32
  LUT_PASS(32u)
#endif
  (void)d, (void)g; /* no wide pass on 32-bit Arm */
  lut_tail(book, K, D, j, queries, nq, lut, lut_stride);
}

/* x86-64 builds for the baseline CPU (SSE2: 4 floats a vector) also carry a copy of the kernel
 * compiled for AVX (8 floats a vector, 64 codewords a pass; 32 doubles in the double build),
 * taken when the CPU has AVX: 2.9x fewer instructions for the table. It is the same multiply and
 * add per entry in the same order (AVX, not FMA: no fused multiply-add can be formed), so every
 * entry, and every result, is identical to the baseline kernel's. -DSDK_VQ_LUT_DISPATCH=0 turns
 * it off; builds that already target AVX (-mavx, -march=native) use their own wide passes. */
#ifndef SDK_VQ_LUT_DISPATCH
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__AVX__)
#define SDK_VQ_LUT_DISPATCH 1
#else
#define SDK_VQ_LUT_DISPATCH 0
#endif
#endif

#if SDK_VQ_LUT_DISPATCH || (defined(__AVX512F__) && defined(__GNUC__))
#include <immintrin.h>
/* The copies below end with vzeroupper before any code built for the baseline CPU runs (lut_tail here, the scan
 * after the return): gcc emits none in these target("avx...") functions, and with the upper halves of the vector
 * registers left dirty the SSE scan loops ran 2.6x slower on an AMD EPYC (Zen 4) CPU: exhaustive ADC over 58,000
 * 8-stage codes 568 -> 218 us a query (and results are the same: it changes no value). */
#define LUT_VZEROUPPER() _mm256_zeroupper()
#endif

#if SDK_VQ_LUT_DISPATCH
#ifdef SDK_VQ_DOUBLE
#define LUT_AVX_WIDTH 32u
#else
#define LUT_AVX_WIDTH 64u
#endif
__attribute__((target("avx"))) static void lut_stage_avx(const sdk_vq_index *idx, uint32_t m, const float *queries,
                                                         uint32_t nq, real *lut, size_t lut_stride) {
  const uint32_t K = idx->ksub, D = idx->dim;
  const uint8_t *book = idx->codebooks + 4u * (size_t)m * D * K;
  uint32_t d, j = 0, g;
  LUT_PASS(LUT_AVX_WIDTH)
  LUT_PASS(32u)
  LUT_VZEROUPPER();
  lut_tail(book, K, D, j, queries, nq, lut, lut_stride);
}
#endif

/* The float build on x86-64 also carries an AVX-512 copy (taken when the CPU has AVX-512F), blocked
 * over queries as a small matrix product: 4 queries x 64 codewords of sums (16 registers of 16
 * floats) run side by side, so each codebook row segment is loaded once for 4 queries. Each sum is
 * still the same multiply, then add, per d in order (no FMA), so the entries are bit for bit those
 * of the baseline kernel. The double build keeps the kernels above. -DSDK_VQ_LUT_AVX512=0 leaves it out.
 * -DSDK_VQ_LUT_FMA=1 makes this copy use fused multiply-adds instead: one instruction and one rounding per
 * term instead of two, ~1.7x faster tables, but the entries then differ from the other kernels' (and
 * from a build without it) in the last bits, so results can differ where two distances are that close.
 * A build for AVX-512 CPUs (-march=native on one: the host profile, targets/host.toml) calls this copy directly
 * instead of the wide passes above (table 35 -> 20 us a query at dim 384 on an AMD Zen 4 core, groups of 32);
 * there -ffp-contract=fast fuses its multiply and add as in every other loop of such a build. */
#ifndef SDK_VQ_LUT_AVX512
#if !defined(SDK_VQ_DOUBLE) && (SDK_VQ_LUT_DISPATCH || (defined(__AVX512F__) && defined(__GNUC__)))
#define SDK_VQ_LUT_AVX512 1
#else
#define SDK_VQ_LUT_AVX512 0
#endif
#endif

#ifndef SDK_VQ_LUT_FMA
#define SDK_VQ_LUT_FMA 0
#endif

#if SDK_VQ_LUT_AVX512
#if SDK_VQ_LUT_FMA
#define L512_MAC(a, x, b) a = _mm512_fmadd_ps(x, b, a)
#else
#define L512_MAC(a, x, b) a = _mm512_add_ps(a, _mm512_mul_ps(x, b))
#endif
#define L512_ROW(p, x) \
  do {                 \
    L512_MAC(p##0, x, w0); \
    L512_MAC(p##1, x, w1); \
    L512_MAC(p##2, x, w2); \
    L512_MAC(p##3, x, w3); \
  } while (0)
#define L512_DECL(p) __m512 p##0 = _mm512_setzero_ps(), p##1 = p##0, p##2 = p##0, p##3 = p##0
#define L512_STORE(out, p)          \
  do {                              \
    _mm512_storeu_ps(out, p##0);      \
    _mm512_storeu_ps(out + 16, p##1); \
    _mm512_storeu_ps(out + 32, p##2); \
    _mm512_storeu_ps(out + 48, p##3); \
  } while (0)
/* The empty asm pins the 4 loaded vectors in registers: without it, gcc -march=znver4 (-march=native on an AMD Zen 4)
 * folded each load into its 4 multiplies, 16 vector loads a step instead of 4, and the table took 21 instead of
 * 17.6 us a query (dim 384, groups of 32). It emits no instruction. */
#define L512_LOAD(d) \
  const uint8_t *r = book + 4u * ((size_t)(d) * K + j); \
  __m512 w0 = _mm512_loadu_ps(r), w1 = _mm512_loadu_ps(r + 64), w2 = _mm512_loadu_ps(r + 128), w3 = _mm512_loadu_ps(r + 192); \
  __asm__("" : "+v"(w0), "+v"(w1), "+v"(w2), "+v"(w3))
__attribute__((target("avx512f"))) static void lut_stage_avx512(const sdk_vq_index *idx, uint32_t m, const float *queries,
                                                            uint32_t nq, real *lut, size_t lut_stride) {
  const uint32_t K = idx->ksub, D = idx->dim;
  const uint8_t *book = idx->codebooks + 4u * (size_t)m * D * K;
  uint32_t d, j = 0, g;
  for (; j + 64u <= K; j += 64u) {
    for (g = 0; g + 4u <= nq; g += 4u) { /* 4 queries at a time */
      const float *q0 = queries + (size_t)g * D, *q1 = q0 + D, *q2 = q1 + D, *q3 = q2 + D;
      L512_DECL(a);
      L512_DECL(b);
      L512_DECL(c);
      L512_DECL(e);
      for (d = 0; d < D; d++) {
        L512_LOAD(d);
        const __m512 x0 = _mm512_set1_ps(q0[d]), x1 = _mm512_set1_ps(q1[d]);
        const __m512 x2 = _mm512_set1_ps(q2[d]), x3 = _mm512_set1_ps(q3[d]);
        L512_ROW(a, x0);
        L512_ROW(b, x1);
        L512_ROW(c, x2);
        L512_ROW(e, x3);
      }
      L512_STORE(lut + g * lut_stride + j, a);
      L512_STORE(lut + (g + 1u) * lut_stride + j, b);
      L512_STORE(lut + (g + 2u) * lut_stride + j, c);
      L512_STORE(lut + (g + 3u) * lut_stride + j, e);
    }
    for (; g < nq; g++) { /* the rest one at a time */
      const float *q0 = queries + (size_t)g * D;
      L512_DECL(a);
      for (d = 0; d < D; d++) {
        L512_LOAD(d);
        const __m512 x0 = _mm512_set1_ps(q0[d]);
        L512_ROW(a, x0);
      }
      L512_STORE(lut + g * lut_stride + j, a);
    }
  }
  LUT_PASS(32u)
  LUT_VZEROUPPER();
  lut_tail(book, K, D, j, queries, nq, lut, lut_stride);
}
#undef L512_MAC
#undef L512_ROW
#undef L512_DECL
#undef L512_STORE
#undef L512_LOAD
#endif

static void lut_stage(const sdk_vq_index *idx, uint32_t m, const float *queries, uint32_t nq, real *lut,
                      size_t lut_stride) {
#if SDK_VQ_LUT_AVX512 && defined(__AVX512F__)
  lut_stage_avx512(idx, m, queries, nq, lut, lut_stride); /* a build for AVX-512 CPUs (-march=native there) */
  return;
#elif SDK_VQ_LUT_AVX512
  if (__builtin_cpu_supports("avx512f")) {
    lut_stage_avx512(idx, m, queries, nq, lut, lut_stride);
    return;
  }
#endif
#if SDK_VQ_LUT_DISPATCH
  if (__builtin_cpu_supports("avx")) {
    lut_stage_avx(idx, m, queries, nq, lut, lut_stride);
    return;
  }
#endif
  lut_stage_base(idx, m, queries, nq, lut, lut_stride);
}

/* ---- 8-bit lookup tables (format version 3; sdk/vq/lut8.py) -------------------------------------------------
 * An entry is (sum_d c[d] * q[d]) * 2^e_q * 2^e_j over int8 values: an exact integer sum (in any order) scaled
 * exactly, so every build (float or double, any SIMD, any target) and the Python reference get the same entries. */

/* AVX-512 VNNI (a build for such a CPU: -march=native on one, the host profile): vpdpbusd multiplies the codebooks'
 * u8 (int8 + 128) by the query's int8 values and adds 4 products into each of 16 int32 sums, 64 multiply-adds an
 * instruction; blocked as 4 queries x 64 codewords (16 registers of sums; each codebook line loaded once for 4
 * queries). The +128 is taken off as 128 * the query's sum. Same integers as lut8_base. -DSDK_VQ_LUT8_VNNI=0: off. */
#ifndef SDK_VQ_LUT8_VNNI
#if defined(__AVX512VNNI__) && defined(__AVX512F__) && defined(__GNUC__)
#define SDK_VQ_LUT8_VNNI 1
#else
#define SDK_VQ_LUT8_VNNI 0
#endif
#endif

#if SDK_VQ_LUT8_VNNI
#include <immintrin.h>
#endif

static float pow2f(int32_t e) { /* 2^e, |e| <= 126 */
  const uint32_t bits = (uint32_t)(e + 127) << 23;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* A query's int8 copy at out: its exponent e (i32: the smallest with max|q| <= 127 * 2^e, clamped to
 * [LUT8_E_MIN, LUT8_E_MAX]), the sum of its int8 values (i32), then round(q[d] * 2^-e) (exact before the rounding;
 * halves away from zero) for d < dim and 0 up to a multiple of 4: lut8.quantize_rows on finite queries. */
static void quantize_query(const float *q, uint32_t D, uint8_t *out) {
  int8_t *qi = (int8_t *)(void *)(out + 8);
  float s;
  uint32_t amax = 0u, d; /* the largest |q[d]|'s bits: for finite floats their order is the values' */
  int32_t e, sum = 0;
  for (d = 0; d < D; d++) {
    uint32_t bits;
    memcpy(&bits, q + d, 4);
    bits &= 0x7FFFFFFFu;
    amax = bits > amax ? bits : amax;
  }
  if ((amax >> 23) == 0u) { /* zero or subnormal */
    e = LUT8_E_MIN;
  } else { /* amax = f * 2^E, f in [0.5, 1): 2^-7 scales it to <= 127 if f <= 127/128, else 2^-6 */
    const int32_t E = (int32_t)(amax >> 23) - 126;
    e = (amax & 0x7FFFFFu) <= 0x7E0000u ? E - 7 : E - 6;
    e = e < LUT8_E_MIN ? LUT8_E_MIN : e > LUT8_E_MAX ? LUT8_E_MAX : e;
  }
  s = pow2f(-e);
  d = 0;
#if SDK_VQ_LUT8_VNNI
  { /* the loop below, 16 dims an instruction (gcc leaves that loop scalar) */
    const __m512 sv = _mm512_set1_ps(s), lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    const __m512 ph = _mm512_set1_ps(0.5f), nh = _mm512_set1_ps(-0.5f), zero = _mm512_setzero_ps();
    __m512i acc = _mm512_setzero_si512();
    for (; d + 16u <= D; d += 16u) {
      __m512 t = _mm512_mul_ps(_mm512_loadu_ps(q + d), sv);
      __m512i r;
      t = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(t, lo, _CMP_GE_OQ) & _mm512_cmp_ps_mask(t, hi, _CMP_LE_OQ), t);
      r = _mm512_cvttps_epi32(_mm512_add_ps(t, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, zero, _CMP_GE_OQ), nh, ph)));
      _mm_storeu_si128((__m128i *)(void *)(qi + d), _mm512_cvtepi32_epi8(r));
      acc = _mm512_add_epi32(acc, r);
    }
    sum = _mm512_reduce_add_epi32(acc);
  }
#endif
  for (; d < D; d++) { /* branch-free (the signs are random) */
    float t = q[d] * s;
    int32_t r;
    t = t >= -127.0f && t <= 127.0f ? t : 0.0f;
    r = (int32_t)(t + (t >= 0.0f ? 0.5f : -0.5f));
    qi[d] = (int8_t)r;
    sum += r;
  }
  for (; d < (D + 3u) / 4u * 4u; d++) qi[d] = 0;
  memcpy(out, &e, 4);
  memcpy(out + 4, &sum, 4);
}

/* n entries from integer sums: ((real)acc * 2^e_q) * 2^e_j. */
static void lut8_scale(const int32_t *acc, uint32_t n, const uint8_t *q8, const uint8_t *exps, real *out) {
  int32_t e;
  real sq;
  uint32_t j;
  memcpy(&e, q8, 4);
  sq = (real)pow2f(e);
  for (j = 0; j < n; j++) out[j] = ((real)acc[j] * sq) * (real)pow2f((int32_t)(int8_t)exps[j]);
}

/* Stage m's entries from codeword j0 on, nq queries (int8 copies q8 + g * q8_stride), portable C. */
static void lut8_base(const sdk_vq_index *idx, uint32_t m, uint32_t j0, const uint8_t *q8, size_t q8_stride,
                      uint32_t nq, real *lut, size_t lut_stride) {
  const uint32_t K = idx->ksub, D4 = (idx->dim + 3u) / 4u;
  const uint8_t *book = idx->lut8 + (size_t)m * D4 * K * 4u;
  int32_t acc[16];
  uint32_t g, j, jj, d, b, w;
  for (j = j0; j < K; j += w) {
    w = K - j < 16u ? K - j : 16u;
    for (g = 0; g < nq; g++) {
      const int8_t *qi = (const int8_t *)(const void *)(q8 + g * q8_stride + 8u);
      for (jj = 0; jj < 16u; jj++) acc[jj] = 0;
      for (d = 0; d < D4; d++) {
        const uint8_t *r = book + ((size_t)d * K + j) * 4u;
        for (jj = 0; jj < w; jj++)
          for (b = 0; b < 4u; b++) acc[jj] += ((int32_t)r[4u * jj + b] - 128) * (int32_t)qi[4u * d + b];
      }
      lut8_scale(acc, w, q8 + g * q8_stride, idx->lut8_exp + (size_t)m * K + j, lut + g * lut_stride + (size_t)m * K + j);
    }
  }
}

#if SDK_VQ_LUT8_VNNI
/* Stage m's entries of whole 64-codeword blocks; returns the first codeword left for lut8_base. */
static uint32_t lut8_vnni(const sdk_vq_index *idx, uint32_t m, const uint8_t *q8, size_t q8_stride, uint32_t nq,
                          real *lut, size_t lut_stride) {
  const uint32_t K = idx->ksub, D4 = (idx->dim + 3u) / 4u;
  const uint8_t *book = idx->lut8 + (size_t)m * D4 * K * 4u;
#ifdef SDK_VQ_DOUBLE
  int32_t acc[64];
#endif
  uint32_t j, g, d, x, jj;
  for (j = 0; j + 64u <= K; j += 64u) {
    for (g = 0; g < nq; g += 4u) {
      const uint32_t nx = nq - g < 4u ? nq - g : 4u;
      const uint8_t *qp[4];
      __m512i a[4][4];
      for (x = 0; x < 4u; x++) {
        qp[x] = q8 + (g + (x < nx ? x : nx - 1u)) * q8_stride + 8u; /* a short group repeats its last query */
        a[x][0] = a[x][1] = a[x][2] = a[x][3] = _mm512_setzero_si512();
      }
      for (d = 0; d < D4; d++) {
        const uint8_t *r = book + ((size_t)d * K + j) * 4u;
        __m512i w0 = _mm512_loadu_si512((const void *)r), w1 = _mm512_loadu_si512((const void *)(r + 64));
        __m512i w2 = _mm512_loadu_si512((const void *)(r + 128)), w3 = _mm512_loadu_si512((const void *)(r + 192));
        __asm__("" : "+v"(w0), "+v"(w1), "+v"(w2), "+v"(w3)); /* loaded once, not folded into each use */
        for (x = 0; x < 4u; x++) {
          int32_t qq;
          __m512i qv;
          memcpy(&qq, qp[x] + 4u * d, 4);
          qv = _mm512_set1_epi32(qq);
          a[x][0] = _mm512_dpbusd_epi32(a[x][0], w0, qv);
          a[x][1] = _mm512_dpbusd_epi32(a[x][1], w1, qv);
          a[x][2] = _mm512_dpbusd_epi32(a[x][2], w2, qv);
          a[x][3] = _mm512_dpbusd_epi32(a[x][3], w3, qv);
        }
      }
      for (x = 0; x < 4u; x++) { /* a constant count: a[][] stays in registers */
        const uint8_t *qx = q8 + (g + (x < nx ? x : 0u)) * q8_stride;
        int32_t sum;
        if (x >= nx) continue;
        memcpy(&sum, qx + 4, 4);
#ifdef SDK_VQ_DOUBLE
        _mm512_storeu_si512((void *)acc, a[x][0]);
        _mm512_storeu_si512((void *)(acc + 16), a[x][1]);
        _mm512_storeu_si512((void *)(acc + 32), a[x][2]);
        _mm512_storeu_si512((void *)(acc + 48), a[x][3]);
        for (jj = 0; jj < 64u; jj++) acc[jj] -= 128 * sum;
        lut8_scale(acc, 64u, qx, idx->lut8_exp + (size_t)m * K + j, lut + (g + x) * lut_stride + (size_t)m * K + j);
#else
        { /* lut8_scale's arithmetic, 16 entries an instruction: ((float)acc * 2^e_q) * 2^e_j */
          int32_t eq;
          const __m512i off = _mm512_set1_epi32(128 * sum), bias = _mm512_set1_epi32(127);
          __m512 sq;
          memcpy(&eq, qx, 4);
          sq = _mm512_set1_ps(pow2f(eq));
          for (jj = 0; jj < 4u; jj++) {
            const __m128i e8 = _mm_loadu_si128((const __m128i *)(const void *)(idx->lut8_exp + (size_t)m * K + j + 16u * jj));
            const __m512 sj = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtepi8_epi32(e8), bias), 23));
            const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(a[x][jj], off));
            _mm512_storeu_ps(lut + (g + x) * lut_stride + (size_t)m * K + j + 16u * jj, _mm512_mul_ps(_mm512_mul_ps(v, sq), sj));
          }
        }
#endif
      }
    }
  }
  return j;
}
#endif

/* AMX-INT8 (Intel Xeon 4th gen and later; a build whose flags enable it, -march=native on such a CPU, on Linux):
 * tdpbsud multiplies a 16 x 64 tile of int8 query values by a 64 x 16 tile of the codebooks' u8 (4 dims of 16
 * codewords a 64-byte row: the file's layout, read in place with a row stride of ksub * 4 bytes) into 16 x 16 int32
 * sums, 16,384 multiply-adds an instruction: the same integer sums as lut8_vnni, ~6.6x faster (probe: 0.53 against
 * 3.5 us a query, 8 x 256 x 384, groups of 32). Used for whole blocks of 32 queries when dim % 64 == 0 and
 * ksub % 32 == 0, after Linux grants the thread the tile state (arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA); asked
 * on every call, it is idempotent; refused: the VNNI kernel runs). -DSDK_VQ_LUT8_AMX=0: off. */
#ifndef SDK_VQ_LUT8_AMX
#if SDK_VQ_LUT8_VNNI && defined(__AMX_INT8__) && defined(__AMX_TILE__) && defined(__linux__) && defined(__x86_64__)
#define SDK_VQ_LUT8_AMX 1
#else
#define SDK_VQ_LUT8_AMX 0
#endif
#endif

#if SDK_VQ_LUT8_AMX
static int amx_granted(void) {
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "0"(158L), "D"(0x1023L), "S"(18L) : "rcx", "r11", "memory");
  return ret == 0;
}

/* Stage m's entries of 32 queries (int8 copies q8 + x * q8_stride, x < 32), all codewords: tiles 0-3 the sums of
 * queries {0-15, 16-31} x codewords {j..j+15, j+16..j+31}, 4-5 the queries' 64 dims, 6-7 the codewords'. */
static void lut8_amx(const sdk_vq_index *idx, uint32_t m, const uint8_t *q8, size_t q8_stride, real *lut,
                     size_t lut_stride) {
  const uint32_t K = idx->ksub, D4 = idx->dim / 4u;
  const uint8_t *book = idx->lut8 + (size_t)m * D4 * K * 4u;
  int32_t sums[32][32];
  uint32_t j, kb, x, h;
  for (j = 0; j < K; j += 32u) {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (kb = 0; kb < D4 / 16u; kb++) {
      const uint8_t *b = book + ((size_t)kb * 16u * K + j) * 4u;
      _tile_loadd(4, q8 + 8u + kb * 64u, q8_stride);
      _tile_loadd(5, q8 + 16u * q8_stride + 8u + kb * 64u, q8_stride);
      _tile_loadd(6, b, (size_t)K * 4u);
      _tile_loadd(7, b + 64, (size_t)K * 4u);
      _tile_dpbsud(0, 4, 6);
      _tile_dpbsud(1, 4, 7);
      _tile_dpbsud(2, 5, 6);
      _tile_dpbsud(3, 5, 7);
    }
    _tile_stored(0, &sums[0][0], 128);
    _tile_stored(1, &sums[0][16], 128);
    _tile_stored(2, &sums[16][0], 128);
    _tile_stored(3, &sums[16][16], 128);
#ifdef SDK_VQ_DOUBLE
    for (x = 0; x < 32u; x++) {
      const uint8_t *qx = q8 + x * q8_stride;
      int32_t sum;
      memcpy(&sum, qx + 4, 4);
      for (h = 0; h < 32u; h++) sums[x][h] -= 128 * sum;
      lut8_scale(sums[x], 32u, qx, idx->lut8_exp + (size_t)m * K + j, lut + x * lut_stride + (size_t)m * K + j);
    }
#else
    { /* lut8_scale's arithmetic, 16 entries an instruction (as lut8_vnni): ((float)acc * 2^e_q) * 2^e_j. A call
       * of lut8_scale per query and 32 codewords was most of the table's time (sift-like, 128-d: 3,250 ticks of
       * the 2.6 GHz counter a query; bench/vq_phase_profile.py, 2026-12-07 tree49) */
      const __m512i bias = _mm512_set1_epi32(127);
      const uint8_t *ej = idx->lut8_exp + (size_t)m * K + j;
      const __m512 s0 = _mm512_castsi512_ps(_mm512_slli_epi32(
          _mm512_add_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)ej)), bias), 23));
      const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(
          _mm512_add_epi32(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(ej + 16))), bias), 23));
      for (x = 0; x < 32u; x++) {
        const uint8_t *qx = q8 + x * q8_stride;
        real *out = lut + x * lut_stride + (size_t)m * K + j;
        int32_t sum, eq;
        __m512i off;
        __m512 sq;
        memcpy(&eq, qx, 4);
        memcpy(&sum, qx + 4, 4);
        off = _mm512_set1_epi32(128 * sum), sq = _mm512_set1_ps(pow2f(eq));
        _mm512_storeu_ps(out, _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(
                                  _mm512_loadu_si512((const void *)sums[x]), off)), sq), s0));
        _mm512_storeu_ps(out + 16, _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(
                                       _mm512_loadu_si512((const void *)(sums[x] + 16)), off)), sq), s1));
      }
      (void)h;
    }
#endif
  }
}
#endif

/* Every stage's 8-bit entries of nq queries: lut + g * lut_stride + m * ksub; q8: room for their int8 copies. */
static void lut8_tables(const sdk_vq_index *idx, const float *queries, uint32_t nq, real *lut, size_t lut_stride,
                        uint8_t *q8, size_t q8_stride) {
  uint32_t g, m, j = 0;
  for (g = 0; g < nq; g++) quantize_query(queries + (size_t)g * idx->dim, idx->dim, q8 + g * q8_stride);
#if SDK_VQ_LUT8_AMX
  if (nq >= 32u && idx->dim % 64u == 0u && idx->ksub % 32u == 0u && amx_granted()) {
    struct { uint8_t palette, start_row, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.palette = 1;
    for (g = 0; g < 8u; g++) cfg.rows[g] = 16, cfg.colsb[g] = 64;
    _tile_loadconfig(&cfg);
    for (g = 0; g + 32u <= nq; g += 32u)
      for (m = 0; m < idx->stages; m++) lut8_amx(idx, m, q8 + g * q8_stride, q8_stride, lut + g * lut_stride, lut_stride);
    _tile_release();
    queries += (size_t)g * idx->dim, q8 += g * q8_stride, lut += g * lut_stride, nq -= g;
  }
#endif
  for (m = 0; m < idx->stages; m++) {
#if SDK_VQ_LUT8_VNNI
    j = lut8_vnni(idx, m, q8, q8_stride, nq, lut, lut_stride);
#endif
    lut8_base(idx, m, j, q8, q8_stride, nq, lut, lut_stride);
  }
}

/* Exhaustive ADC over all items; the common 8-bit case has its own loop. */
static void scan_all(const sdk_vq_index *idx, uint32_t k, scratch_view *v, real qn, uint32_t *count) {
  const uint32_t K = idx->ksub, M = idx->stages;
  const real *lut = v->lut;
  uint32_t i, m;
  if (idx->code_bytes == 1u) {
    const real *row[SDK_VQ_MAX_STAGES > ADC_ROWS_MAX ? SDK_VQ_MAX_STAGES : ADC_ROWS_MAX];
    uint32_t all[SDK_VQ_MAX_STAGES];
    for (m = 0; m < M; m++) all[m] = m;
    adc_rows(lut, K, all, M, row);
    adc_items(idx, v, k, count, qn, row, M, idx->codes, M, NULL, NULL, 0, idx->n, 0);
    return;
  }
  for (i = 0; i < idx->n; i++) {
    real acc = 0, d;
    for (m = 0; m < M; m++) acc += lut[(size_t)m * K + ld_code(idx->codes, 2u, (size_t)i * M + m)];
    d = qn - 2 * acc + item_norm(idx, i);
    if (*count == k && !better(d, i, v->top_d[k - 1u], v->top_i[k - 1u])) continue; /* common case */
    top_push(v, k, count, d, i);
  }
}

/* Search of one query whose lookup table v->lut is filled. */
static void search_one(const sdk_vq_index *idx, const float *query, const sdk_vq_params *p,
                       scratch_view *v, float *out_dist, uint32_t *out_ids, uint32_t *out_count) {
  uint32_t i, d, count = 0;
  real qn = 0;
  for (d = 0; d < idx->dim; d++) qn += (real)query[d] * (real)query[d];
  v->dedup = p->use_tree && idx->n_trees == 1u && idx->trees[0].positions > idx->n;
  v->bound_on = 0u;
#if SDK_VQ_BOUND8 && SDK_VQ_UNROLL_ADC
  if (bound8_applies(idx, p)) bound8_prepare(v, qn);
#endif
  if (p->use_tree && idx->n_trees > 0u) {
    if (idx->n_trees > 1u) memset(v->seen, 0, (idx->n + 31u) / 32u * 4u);
    for (i = 0; i < idx->n_trees; i++) search_tree(idx, &idx->trees[i], p, v, qn, &count);
  } else {
    scan_all(idx, p->k, v, qn, &count);
  }
  for (i = 0; i < count; i++) {
    out_dist[i] = (float)v->top_d[i];
    out_ids[i] = v->top_i[i];
  }
  *out_count = count;
}

static size_t lut_bytes(const sdk_vq_index *idx) { return align8((uint64_t)idx->stages * idx->ksub * sizeof(real)); }

sdk_status sdk_vq_search(const sdk_vq_index *idx, const float *query, const sdk_vq_params *p,
                         void *scratch, size_t scratch_size, float *out_dist, uint32_t *out_ids,
                         uint32_t *out_count) {
  scratch_view v;
  uint32_t m;
  if (!idx || !query || !p || !scratch || !out_dist || !out_ids || !out_count) return SDK_ERR_NULL_ARG;
  if (p->k < 1u || p->margin != p->margin) return SDK_ERR_BAD_ARG;
  if ((uintptr_t)scratch % 8u != 0u) return SDK_ERR_BAD_ARG;
  if (scratch_bytes(idx, p, &v, NULL) > (uint64_t)scratch_size) return SDK_ERR_ARENA_TOO_SMALL;
  scratch_bytes(idx, p, &v, (uint8_t *)scratch);
  if (idx->lut8)
    lut8_tables(idx, query, 1u, v.lut, 0, v.q8, 0);
  else
    for (m = 0; m < idx->stages; m++) lut_stage(idx, m, query, 1u, v.lut + (size_t)m * idx->ksub, 0);
  search_one(idx, query, p, &v, out_dist, out_ids, out_count);
  return SDK_OK;
}

sdk_status sdk_vq_batch_scratch_size(const sdk_vq_index *idx, const sdk_vq_params *p, uint32_t group,
                                     size_t *out_size) {
  size_t one;
  uint64_t total;
  sdk_status st;
  if (!idx || !p || !out_size) return SDK_ERR_NULL_ARG;
  if (group < 1u || group > SDK_VQ_MAX_GROUP) return SDK_ERR_BAD_ARG;
  st = sdk_vq_scratch_size(idx, p, &one);
  if (st != SDK_OK) return st;
  total = (uint64_t)one + (group > 1u ? (uint64_t)group * (lut_bytes(idx) + q8_bytes(idx)) : 0u);
  if (total > (uint64_t)(size_t)-1) return SDK_ERR_BAD_ARG;
  *out_size = (size_t)total;
  return SDK_OK;
}

sdk_status sdk_vq_search_batch(const sdk_vq_index *idx, const float *queries, uint32_t nq,
                               const sdk_vq_params *p, void *scratch, size_t scratch_size,
                               float *out_dist, uint32_t *out_ids) {
  scratch_view v;
  uint32_t q, i, g, m, count, group = 1u;
  uint64_t one, room;
  real *luts, *own;
  uint8_t *q8s;
  size_t stride;
  if (!idx || !queries || !p || !scratch || !out_dist || !out_ids) return SDK_ERR_NULL_ARG;
  if (p->k < 1u || p->margin != p->margin) return SDK_ERR_BAD_ARG;
  if ((uintptr_t)scratch % 8u != 0u) return SDK_ERR_BAD_ARG;
  one = scratch_bytes(idx, p, &v, NULL);
  if (one > (uint64_t)scratch_size) return SDK_ERR_ARENA_TOO_SMALL;
  scratch_bytes(idx, p, &v, (uint8_t *)scratch);
  /* room for 2 or more lookup tables after the one-query scratch: compute them a group at a time */
  room = ((uint64_t)scratch_size - one) / (lut_bytes(idx) + q8_bytes(idx));
  if (room >= 2u) group = room < SDK_VQ_MAX_GROUP ? (uint32_t)room : SDK_VQ_MAX_GROUP;
  luts = (real *)(void *)((uint8_t *)scratch + one);
  q8s = group > 1u ? (uint8_t *)scratch + one + (size_t)group * lut_bytes(idx) : v.q8; /* the group's int8 queries */
  stride = lut_bytes(idx) / sizeof(real);
  own = v.lut;
  for (q = 0; q < nq; q += group) {
    const uint32_t ng = nq - q < group ? nq - q : group;
    const float *qs = queries + (size_t)q * idx->dim;
    real *base = group > 1u ? luts : own;
    if (idx->lut8)
      lut8_tables(idx, qs, ng, base, stride, q8s, (size_t)q8_bytes(idx));
    else
      for (m = 0; m < idx->stages; m++) lut_stage(idx, m, qs, ng, base + (size_t)m * idx->ksub, stride);
    for (g = 0; g < ng; g++) {
      float *od = out_dist + (size_t)(q + g) * p->k;
      uint32_t *oi = out_ids + (size_t)(q + g) * p->k;
      v.lut = base + g * stride;
      search_one(idx, qs + (size_t)g * idx->dim, p, &v, od, oi, &count);
      for (i = count; i < p->k; i++) {
        od[i] = (float)1e30 * (float)1e30; /* +inf without math.h */
        oi[i] = 0xFFFFFFFFu;
      }
    }
  }
  return SDK_OK;
}
