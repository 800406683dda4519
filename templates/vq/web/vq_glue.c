/* JS-facing extras of sdk_vq.wasm: vq.mjs places the index blob, the index view, queries, scratch
 * and results above the heap base, in memory no C code uses. */
#include <stdint.h>

#include "sdk_vq.h"

extern unsigned char __heap_base;

uint32_t sdk_vq_heap_base(void) { return (uint32_t)(uintptr_t)&__heap_base; }

uint32_t sdk_vq_index_bytes(void) { return (uint32_t)sizeof(sdk_vq_index); }
