#include "sdk_status.h"

const char *sdk_status_str(sdk_status s) {
  switch (s) {
    case SDK_OK: return "ok";
    case SDK_ERR_NULL_ARG: return "null argument";
    case SDK_ERR_ARENA_TOO_SMALL: return "arena too small";
    case SDK_ERR_DIM_OUT_OF_BOUNDS: return "dim out of compiled bounds";
    case SDK_ERR_SHAPE_MISMATCH: return "shape mismatch";
    case SDK_ERR_DTYPE_MISMATCH: return "dtype mismatch";
    case SDK_ERR_BAD_FORMAT: return "bad format";
    case SDK_ERR_CHECKSUM: return "checksum mismatch";
    case SDK_ERR_TRUNCATED: return "truncated data";
    case SDK_ERR_BAD_ARG: return "bad argument";
    case SDK_ERR_IO: return "i/o error";
    case SDK_ERR_BAD_VALUE: return "bad value";
    case SDK_ERR_DYNAMIC_DIM_OUT_OF_BOUNDS: return "run-time dim out of compiled bounds (raise it with --dim NAME=MAX)";
    case SDK_ERR_THREADS: return "thread pool error (thread creation failed, or pool not started / busy)";
  }
  return "unknown status";
}
