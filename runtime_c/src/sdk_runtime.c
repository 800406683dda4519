#include "sdk_runtime.h"
#if defined(_OPENMP)
#include <omp.h>
#endif

size_t sdk_dtype_size(int32_t dtype) {
  switch (dtype) {
    case SDK_U8: case SDK_I8: case SDK_BOOL: return 1;
    case SDK_F8E4M3FN: case SDK_F8E4M3FNUZ: case SDK_F8E5M2: case SDK_F8E5M2FNUZ: case SDK_U4: case SDK_I4:
    case SDK_F4E2M1: case SDK_F8E8M0: case SDK_U2: case SDK_I2: return 1;
    case SDK_U16: case SDK_I16: case SDK_F16: case SDK_BF16: return 2;
    case SDK_F32: case SDK_I32: case SDK_U32: return 4;
    case SDK_I64: case SDK_F64: case SDK_U64: return 8;
    default: return 0;
  }
}

sdk_status sdk_check_input(const sdk_tensor *t, int32_t dtype, int32_t rank) {
  if (t == NULL || t->data == NULL) return SDK_ERR_NULL_ARG;
  if (t->dtype != dtype) return SDK_ERR_DTYPE_MISMATCH;
  if (t->rank != rank) return SDK_ERR_SHAPE_MISMATCH;
  return SDK_OK;
}

sdk_status sdk_bind_dim(int64_t actual, int64_t *sym, int64_t bound) {
  if (actual < 1 || actual > bound) return SDK_ERR_DIM_OUT_OF_BOUNDS;
  if (*sym != 0 && *sym != actual) return SDK_ERR_SHAPE_MISMATCH;
  *sym = actual;
  return SDK_OK;
}

sdk_status sdk_bind_dim_or_empty(int64_t actual, int64_t *sym, int64_t bound) {
  if (actual < 0 || actual > bound) return SDK_ERR_DIM_OUT_OF_BOUNDS;
  if (*sym != -1 && *sym != actual) return SDK_ERR_SHAPE_MISMATCH;
  *sym = actual;
  return SDK_OK;
}

sdk_status sdk_expect_dim(int64_t actual, int64_t expected) {
  return actual == expected ? SDK_OK : SDK_ERR_SHAPE_MISMATCH;
}

size_t sdk_align(size_t bytes) {
  return (bytes + (SDK_ALIGN - 1)) / SDK_ALIGN * SDK_ALIGN;
}

int sdk_set_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n >= 1 ? n : omp_get_num_procs());
  return omp_get_max_threads();
#else
  (void)n;
  return 1;
#endif
}
