/* The exported index blob (written by sdk.vq.Index.export). 8-byte aligned as uint64 words. */
#ifndef VQ_INDEX_DATA_H
#define VQ_INDEX_DATA_H
#include <stddef.h>
#include <stdint.h>

extern const uint64_t vq_index_blob[];
extern const size_t vq_index_blob_size; /* bytes */

#endif
