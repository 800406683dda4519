/* JS-facing extras of the {{name}} wasm module. The loader ({{name}}.mjs) places
 * tensors and the arena above the heap base, in memory no C code uses. */
#include <stdint.h>

extern unsigned char __heap_base;

uint32_t {{name}}_heap_base(void) { return (uint32_t)(uintptr_t)&__heap_base; }
