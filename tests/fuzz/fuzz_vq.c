/* libFuzzer harness: sdk_vq_open on arbitrary bytes, then a search on every index it accepts.
 * The CRC32 in the header is recomputed first, so mutations reach
 * the field checks behind it instead of all stopping at the checksum. */
#include <stdint.h>
#include <string.h>
#include "sdk_vq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t ld32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint64_t blob[(1 << 20) / 8];
  static uint64_t scratch[(1 << 20) / 8];
  static float query[1024], dist[16];
  static uint32_t ids[16];
  uint8_t *b = (uint8_t *)blob;
  sdk_vq_index idx;
  sdk_vq_params p;
  size_t need = 0;
  uint32_t count = 0;
  if (size > sizeof(blob)) return 0;
  memcpy(b, data, size);
  if (size >= 64) {
    uint32_t total = ld32(b + 8), crc;
    if (total >= 16u && total <= size && sdk_vq_crc32(b + 16, total - 16u, &crc) == SDK_OK) {
      b[12] = (uint8_t)crc;
      b[13] = (uint8_t)(crc >> 8);
      b[14] = (uint8_t)(crc >> 16);
      b[15] = (uint8_t)(crc >> 24);
    }
  }
  if (sdk_vq_open(&idx, b, size) != SDK_OK) return 0;
  if (idx.dim > 1024u) return 0;
  for (uint32_t i = 0; i < idx.dim; i++) query[i] = (float)((int)(i % 7u) - 3);
  for (uint32_t tree = 0; tree < 2u; tree++) {
    p.k = 1u + (size % 16u);
    p.use_tree = tree && idx.n_trees;
    p.nprobe = (uint32_t)(size % 5u);
    p.budget = (uint32_t)(size % 97u);
    p.margin = size % 3u ? 0.0f : 0.25f * (float)(size % 7u);
    if (sdk_vq_scratch_size(&idx, &p, &need) != SDK_OK || need > sizeof(scratch)) continue;
    if (sdk_vq_search(&idx, query, &p, scratch, need, dist, ids, &count) == SDK_OK) {
      for (uint32_t j = 0; j < count; j++) {
        if (ids[j] >= idx.n) __builtin_trap();         /* an id outside the index */
        if (dist[j] != dist[j]) __builtin_trap();      /* NaN distance (open rejects NaN data) */
      }
    }
  }
  return 0;
}
