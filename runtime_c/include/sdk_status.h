/* Status codes shared by every part of the runtime. C99, no state. */
#ifndef SDK_STATUS_H
#define SDK_STATUS_H

typedef enum {
  SDK_OK = 0,
  SDK_ERR_NULL_ARG = 1,        /* a required pointer was NULL */
  SDK_ERR_ARENA_TOO_SMALL = 2, /* caller's arena is smaller than needed */
  SDK_ERR_DIM_OUT_OF_BOUNDS = 3, /* a dim exceeds its compiled upper bound or is < 1 */
  SDK_ERR_SHAPE_MISMATCH = 4,  /* an input's rank or fixed dim differs from the model */
  SDK_ERR_DTYPE_MISMATCH = 5,  /* an input's dtype differs from the model */
  SDK_ERR_BAD_FORMAT = 6,      /* a blob (index, tensor file) has a bad magic/version */
  SDK_ERR_CHECKSUM = 7,        /* a blob's checksum does not match */
  SDK_ERR_TRUNCATED = 8,       /* a blob is shorter than its header says */
  SDK_ERR_BAD_ARG = 9,         /* an argument value is out of range (k, count...) */
  SDK_ERR_IO = 10,             /* demo programs: file read/write failed */
  SDK_ERR_BAD_VALUE = 11,      /* a runtime value is invalid (e.g. index out of range) */
  SDK_ERR_DYNAMIC_DIM_OUT_OF_BOUNDS = 12, /* a dim computed from data at run time (NonZero, Reshape to a
                                            shape tensor...) exceeds its compiled upper bound */
  SDK_ERR_THREADS = 13         /* the thread pool: a thread could not be created, or the pool is not started / busy */
} sdk_status;

const char *sdk_status_str(sdk_status s);

#endif
