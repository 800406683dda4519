/* The tiny runtime core every model bundle links: tensor views and dims checks.
 * C99, no malloc, no mutable globals; every failure is a status code. */
#ifndef SDK_RUNTIME_H
#define SDK_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include "sdk_status.h"

#define SDK_MAX_RANK 8
#define SDK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SDK_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SDK_ALIGN 16

/* Functions, not macros: generated code nests them, and a macro would expand
 * each argument twice per level. */
static inline int64_t sdk_imin(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t sdk_imax(int64_t a, int64_t b) { return a > b ? a : b; }
static inline size_t sdk_zmax(size_t a, size_t b) { return a > b ? a : b; }

/* Element types; values match the tensor file format of the demo main. */
typedef enum {
  SDK_F32 = 1, SDK_U8 = 2, SDK_I8 = 3, SDK_U16 = 4, SDK_I16 = 5, SDK_I32 = 6, SDK_I64 = 7,
  SDK_BOOL = 9, SDK_F16 = 10, SDK_F64 = 11, SDK_U32 = 12, SDK_U64 = 13, SDK_BF16 = 16, /* ONNX's codes */
  /* low-bit types: one element a byte, its bit pattern in the low bits (int4 -1 is 0x0f), as ONNX's unpacked form */
  SDK_F8E4M3FN = 17, SDK_F8E4M3FNUZ = 18, SDK_F8E5M2 = 19, SDK_F8E5M2FNUZ = 20, SDK_U4 = 21, SDK_I4 = 22,
  SDK_F4E2M1 = 23, SDK_F8E8M0 = 24, SDK_U2 = 25, SDK_I2 = 26
} sdk_dtype;

/* A tensor view: the caller owns the memory. For inputs, dims are the actual
 * dims; for outputs, size is the capacity in bytes and run() fills dims. */
typedef struct {
  void *data;
  size_t size;
  int32_t dtype;
  int32_t rank;
  int64_t dims[SDK_MAX_RANK];
} sdk_tensor;

size_t sdk_dtype_size(int32_t dtype);

/* Check an input view against the model's dtype and rank. */
sdk_status sdk_check_input(const sdk_tensor *t, int32_t dtype, int32_t rank);

/* Bind symbol *sym (0 = unbound) to the actual dim; checks 1 <= dim <= bound
 * and agreement with an earlier binding. */
sdk_status sdk_bind_dim(int64_t actual, int64_t *sym, int64_t bound);

/* As sdk_bind_dim for a symbol that may be 0 (an empty KV cache): 0 <= dim <= bound, *sym = -1 unbound. */
sdk_status sdk_bind_dim_or_empty(int64_t actual, int64_t *sym, int64_t bound);

/* Check a fixed dim. */
sdk_status sdk_expect_dim(int64_t actual, int64_t expected);

/* Byte count of n elements of dtype, rounded up to SDK_ALIGN. */
size_t sdk_align(size_t bytes);

/* Threads of the kernels started from the calling thread afterwards, in builds with OpenMP (profiles with
 * [cpu] threads, e.g. host): n >= 1 threads, n <= 0 all cores. Returns the count now in effect (1 in builds
 * without OpenMP). The count is OpenMP's (the calling thread's nthreads setting; OMP_NUM_THREADS sets the
 * initial one), so other OpenMP code on that thread sees it too; the runtime keeps no state of its own. With
 * [cpu] threading = "pool" (host) it is the count of the pool attached to the calling thread (sdk_pool.h), 1 if
 * none is. */
int sdk_set_threads(int n);

#endif
