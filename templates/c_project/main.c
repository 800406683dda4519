/* Demo program of an sdk bundle: reads input tensors from files, runs the
 * model, writes output tensors. Usage:
 *   ./{{name}}_main [--arena BYTES] [--repeat N] [--threads N] IN_0.sdkt ... OUT_0.sdkt ...
 * --threads N: {{name}}_set_threads(N) before running (default: all cores where the profile has threads; with
 * the profile's [cpu] threading = "pool" the demo starts the runtime's thread pool first, sdk_pool.h).
 * Tensor file: "SDKT", u32 version (1), i32 dtype, i32 rank, i64 dims[rank], data.
 * The demo uses malloc for its own buffers; the model itself never does. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "{{name}}.h"
{% if pool %}#include "sdk_pool.h"
{% endif %}
/* Reads one tensor file from f; every field is checked (the fuzz harness tests/fuzz/fuzz_tensorfile.c
 * feeds it arbitrary bytes): a data size that overflows or exceeds what the file holds is an error. */
static int read_tensor_file(FILE *f, sdk_tensor *t) {
  char magic[4];
  uint32_t version;
  uint64_t n = 1, esize, bytes;
  long here, end;
  memset(t, 0, sizeof(*t));
  if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "SDKT", 4) != 0 || fread(&version, 4, 1, f) != 1 ||
      version != 1 || fread(&t->dtype, 4, 1, f) != 1 || fread(&t->rank, 4, 1, f) != 1 || t->rank < 0 ||
      t->rank > SDK_MAX_RANK || fread(t->dims, 8, (size_t)t->rank, f) != (size_t)t->rank)
    return -1;
  esize = (uint64_t)sdk_dtype_size(t->dtype);
  if (esize == 0) return -1;
  for (int32_t a = 0; a < t->rank; ++a) {
    if (t->dims[a] < 0) return -1;
    if (t->dims[a] != 0 && n > (uint64_t)INT64_MAX / esize / (uint64_t)t->dims[a]) return -1;
    n *= (uint64_t)t->dims[a];
  }
  bytes = n * esize;
  if ((here = ftell(f)) < 0 || fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0 || fseek(f, here, SEEK_SET) != 0 ||
      (uint64_t)(end - here) < bytes)
    return -1; /* the file is shorter than its dims say */
  t->size = (size_t)bytes;
  t->data = malloc(t->size ? t->size : 1);
  if (!t->data) return -1;
  if (fread(t->data, 1, t->size, f) != t->size) {
    free(t->data);
    t->data = NULL;
    return -1;
  }
  return 0;
}

static int read_tensor(const char *path, sdk_tensor *t) {
  FILE *f = fopen(path, "rb");
  int r;
  if (!f) return -1;
  r = read_tensor_file(f, t);
  fclose(f);
  return r;
}

static int write_tensor(const char *path, const sdk_tensor *t) {
  FILE *f = fopen(path, "wb");
  uint32_t version = 1;
  size_t n = sdk_dtype_size(t->dtype);
  if (!f) return -1;
  for (int32_t a = 0; a < t->rank; ++a) n *= (size_t)t->dims[a];
  fwrite("SDKT", 1, 4, f);
  fwrite(&version, 4, 1, f);
  fwrite(&t->dtype, 4, 1, f);
  fwrite(&t->rank, 4, 1, f);
  fwrite(t->dims, 8, (size_t)t->rank, f);
  if (fwrite(t->data, 1, n, f) != n) { fclose(f); return -1; }
  return fclose(f);
}

/* -DSDK_CPU_CLOCK times runs by the process's CPU clock instead of the wall clock: steadier on a loaded
 * machine for one-thread runs (with more threads it adds their times up) */
static double now_s(void) {
  struct timespec ts;
#ifdef SDK_CPU_CLOCK
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
#else
  clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  sdk_tensor in[{{num_inputs}} + 1], out[{{num_outputs}} + 1];
  {{name}}_dims dims;
  long long arena_bytes = -1;
  int repeat = 1, a = 1, k;
  sdk_status st;
{% if pool %}
  static sdk_pool pool; /* the kernels' threads ([cpu] threading = "pool"): all cores until --threads; static: its
                         * workers may still read it while the program exits */
  if (sdk_pool_start(&pool, 0) != SDK_OK) fprintf(stderr, "warning: no thread pool: one thread\n");
{% endif %}
  for (; a < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
    if (a + 1 >= argc) break;
    if (strcmp(argv[a], "--arena") == 0) arena_bytes = atoll(argv[a + 1]);
    else if (strcmp(argv[a], "--repeat") == 0) repeat = atoi(argv[a + 1]);
    else if (strcmp(argv[a], "--threads") == 0) printf("threads %d\n", {{name}}_set_threads(atoi(argv[a + 1])));
  }
  if (argc - a != {{num_inputs}} + {{num_outputs}}) {
    fprintf(stderr, "usage: %s [--arena BYTES] [--repeat N] [--threads N] %d inputs %d outputs (.sdkt files)\n", argv[0],
            {{num_inputs}}, {{num_outputs}});
    return 2;
  }
  for (k = 0; k < {{num_inputs}}; ++k)
    if (read_tensor(argv[a + k], &in[k]) != 0) {
      fprintf(stderr, "error: cannot read tensor file %s\n", argv[a + k]);
      return 2;
    }
  st = {{name}}_bind_dims(in, &dims);
  if (st != SDK_OK) {
    fprintf(stderr, "error: %s\n", sdk_status_str(st));
    return 3;
  }
  if (arena_bytes < 0) arena_bytes = (long long){{name}}_workspace_size(&dims);
  {
    /* exactly arena_bytes: ASan catches any access past the planned workspace */
    void *arena = malloc(arena_bytes > 0 ? (size_t)arena_bytes : 1);
    double *times = malloc(sizeof(double) * (size_t)(repeat > 0 ? repeat : 1));
    for (k = 0; k < {{num_outputs}}; ++k) {
      size_t n = sdk_dtype_size({{name}}_outputs_info[k].dtype);
      for (int32_t d = 0; d < {{name}}_outputs_info[k].rank; ++d) n *= (size_t){{name}}_outputs_info[k].max_dims[d];
      out[k].size = n;
      out[k].data = malloc(n ? n : 1);
      if (!out[k].data) {
        fprintf(stderr, "error: cannot allocate %zu bytes for output %d\n", n, k);
        return 2;
      }
    }
    if (!arena || !times) {
      fprintf(stderr, "error: cannot allocate the %lld-byte arena\n", arena_bytes);
      return 2;
    }
    for (int r = 0; r < repeat; ++r) {
      double t0 = now_s();
      st = {{name}}_run(arena, (size_t)arena_bytes, in, out);
      times[r] = now_s() - t0;
      if (st != SDK_OK) {
        fprintf(stderr, "error: %s\n", sdk_status_str(st));
        return 3;
      }
    }
    qsort(times, (size_t)repeat, sizeof(double), cmp_double);
    printf("workspace_bytes %zu\n", {{name}}_workspace_size(&dims));
    printf("median_ms %.6f\n", 1e3 * times[repeat / 2]);
    printf("min_ms %.6f\n", 1e3 * times[0]);
    for (k = 0; k < {{num_outputs}}; ++k)
      if (write_tensor(argv[a + {{num_inputs}} + k], &out[k]) != 0) {
        fprintf(stderr, "error: cannot write %s\n", argv[a + {{num_inputs}} + k]);
        return 2;
      }
    for (k = 0; k < {{num_outputs}}; ++k) free(out[k].data);
    for (k = 0; k < {{num_inputs}}; ++k) free(in[k].data);
    free(times);
    free(arena);
  }
  return 0;
}
