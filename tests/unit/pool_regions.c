/* The runtime thread pool (runtime_c/src/sdk_pool.c) under the OpenMP code gcc emits: regions with for / barrier /
 * single nowait / nested regions give the one-thread results on 1-5 threads, 200 times each; thread counts change
 * between regions (sdk_pool_set_threads, omp_set_num_threads); error paths return their status codes; on Linux a
 * thread that sleeps reads the machine's runnable count (the pool's contention test) and the stop closes its file.
 * Built and run by tests/unit/test_pool.py, also under ThreadSanitizer and AddressSanitizer + UBSan. */
#define _GNU_SOURCE /* usleep under -std=c99 */
#include "sdk_pool.h"
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static int fails;
#define CHECK(c) do { if (!(c)) { printf("FAIL %s:%d %s\n", __FILE__, __LINE__, #c); fails++; } } while (0)

/* each region writes disjoint slices; a barrier phase reads the neighbours' slices */
static void kernel(float *y, const float *x, int64_t n, float *tmp) {
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; i++) tmp[i] = x[i] * 2.0f + 1.0f;
    /* implicit barrier: every tmp written */
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < n; i++) y[i] = tmp[i] + tmp[(i + 1) % n];
#pragma omp single nowait
    y[n] = (float)omp_get_num_threads();
  }
}

static void nested(int *counts, int n) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++) {
    int inner = 0;
#pragma omp parallel for schedule(static) reduction(+:inner)
    for (int j = 0; j < 10; j++) inner += j;
    counts[i] = inner + 100 * omp_in_parallel() + 1000 * (omp_get_num_threads() > 1);
  }
}

int main(int argc, char **argv) {
  enum { N = 10007 };
  static float x[N], y1[N + 1], y2[N + 1], tmp[N];
  for (int i = 0; i < N; i++) x[i] = (float)((i * 7919) % 1000) / 37.0f;
  /* no pool attached: one thread */
  CHECK(omp_get_max_threads() == 1);
  kernel(y1, x, N, tmp);
  CHECK(y1[N] == 1.0f);
  /* error paths */
  CHECK(sdk_pool_start(NULL, 2) == SDK_ERR_NULL_ARG);
  CHECK(sdk_pool_stop(NULL) == SDK_ERR_NULL_ARG);
  sdk_pool never;
  memset(&never, 0, sizeof never);
  CHECK(sdk_pool_stop(&never) == SDK_ERR_THREADS);
  CHECK(sdk_pool_set_threads(&never, 2) == -1);
  CHECK(sdk_pool_attach(&never) == SDK_ERR_THREADS);
  static sdk_pool pool;
  for (int t = 1; t <= 4; t++) {
    CHECK(sdk_pool_start(&pool, t) == SDK_OK);
    CHECK(sdk_pool_current() == &pool);
    CHECK(omp_get_max_threads() == t);
    for (int rep = 0; rep < 200; rep++) {
      memset(y2, 0, sizeof y2);
      kernel(y2, x, N, tmp);
      CHECK(memcmp(y1, y2, N * sizeof(float)) == 0);
      CHECK(y2[N] == (float)t);
    }
    int counts[16];
    nested(counts, 16);
    for (int i = 0; i < 16; i++) CHECK(counts[i] == 45 + 100 * (t > 1) + 1000 * (t > 1));
    /* set_threads: down, up past the workers started, 0 = all cores */
    CHECK(sdk_pool_set_threads(&pool, 1) == 1);
    kernel(y2, x, N, tmp);
    CHECK(y2[N] == 1.0f && memcmp(y1, y2, N * sizeof(float)) == 0);
    CHECK(sdk_pool_set_threads(&pool, t + 1) == t + 1);
    kernel(y2, x, N, tmp);
    CHECK(y2[N] == (float)(t + 1) && memcmp(y1, y2, N * sizeof(float)) == 0);
    omp_set_num_threads(2);
    CHECK(omp_get_max_threads() == 2);
    CHECK(sdk_pool_set_threads(&pool, 0) == omp_get_num_procs());
    CHECK(sdk_pool_attach(NULL) == SDK_OK && omp_get_max_threads() == 1);
    CHECK(sdk_pool_attach(&pool) == SDK_OK);
    CHECK(sdk_pool_stop(&pool) == SDK_OK);
    CHECK(sdk_pool_current() == NULL);
    CHECK(sdk_pool_stop(&pool) == SDK_ERR_THREADS);
  }
#if defined(__linux__)
  { /* regions 3 ms apart: the worker's waits outlast its spin, it sleeps, and reads /proc/loadavg first (at least
     * itself runnable then: the average, x16 and 1/4 weight a read, is >= 4 after one read) */
    CHECK(sdk_pool_start(&pool, 2) == SDK_OK);
    CHECK(pool.load_fd >= 0);
    for (int rep = 0; rep < 6; rep++) {
      usleep(3000);
      kernel(y2, x, N, tmp);
      CHECK(y2[N] == 2.0f && memcmp(y1, y2, N * sizeof(float)) == 0);
    }
    CHECK(__atomic_load_n(&pool.load_avg16, __ATOMIC_RELAXED) >= 4);
    CHECK(sdk_pool_stop(&pool) == SDK_OK);
    CHECK(pool.load_fd == -1);
  }
#endif
  if (argc > 1) { /* sdk_pool_start(pool, 0): OMP_NUM_THREADS where set (the test sets it to argv[1]) */
    CHECK(sdk_pool_start(&pool, 0) == SDK_OK);
    CHECK(omp_get_max_threads() == atoi(argv[1]));
    kernel(y2, x, N, tmp);
    CHECK(y2[N] == (float)atoi(argv[1]) && memcmp(y1, y2, N * sizeof(float)) == 0);
    CHECK(sdk_pool_stop(&pool) == SDK_OK);
  }
  printf(fails ? "pool test: %d failures\n" : "pool test ok\n", fails);
  return fails != 0;
}
