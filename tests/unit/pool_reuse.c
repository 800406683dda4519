/* A pool's storage reused by another library's pool without sdk_pool_stop, as bench/zoo_latency.py --interleave and
 * bench/threads_ab.py did (one bundle shared library per model, its pool in a ctypes buffer that was freed with the
 * model; the next model's buffer came back at the same address): the old pool's worker, asleep on the futex at that
 * address, must not join the new pool's regions (there it ran another library's region function with its own
 * library's thread-local record: omp_get_thread_num() 0 of 1, the whole range again, no barrier).
 * Built twice: with -DPOOL_REUSE_LIB (with sdk_pool.c) as a shared library, which the driver (without) loads under
 * two names (two copies of the runtime, each its own GOMP entry points and thread-local record, as two bundles).
 *   pool_reuse LIB_A LIB_B THREADS REGIONS   (tests/unit/test_pool.py) */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(POOL_REUSE_LIB)
#include "sdk_pool.h"
#include <omp.h>

enum { N = 8192 };
static float y[N];

/* regions read-modify-write, every other one with a barrier: returns the number of wrong elements / reads */
int reuse_run(int regions) {
  int bad = 0;
  memset(y, 0, sizeof y);
  for (int r = 1; r <= regions; r++) {
#pragma omp parallel
    {
      const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
      const int lo = (int)((long)N * tid / nth), hi = (int)((long)N * (tid + 1) / nth);
      for (int i = lo; i < hi; i++) y[i] += 1.0f;
      if (r % 2 == 0) {
#pragma omp barrier
        if (y[(int)((long)N * ((tid + 1) % nth) / nth)] != (float)r) __atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
      }
    }
    for (int i = 0; i < N; i += 97) bad += y[i] != (float)r;
  }
  return bad;
}
int reuse_start(void *storage, int threads) { return sdk_pool_start((sdk_pool *)storage, threads); }
int reuse_stop(void *storage) { return sdk_pool_stop((sdk_pool *)storage); }
size_t reuse_size(void) { return sdk_pool_size(); }

#else
#include <dlfcn.h>
#include <signal.h>

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL: no progress (a hang) within the time limit\n";
  if (write(1, msg, sizeof msg - 1) < 0) _exit(3);
  _exit(2);
}

typedef struct {
  int (*run)(int);
  int (*start)(void *, int);
  int (*stop)(void *);
  size_t (*size)(void);
} lib_t;

static int load(const char *path, lib_t *l) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) return printf("dlopen %s: %s\n", path, dlerror()), 0;
  *(void **)&l->run = dlsym(h, "reuse_run");
  *(void **)&l->start = dlsym(h, "reuse_start");
  *(void **)&l->stop = dlsym(h, "reuse_stop");
  *(void **)&l->size = dlsym(h, "reuse_size");
  return l->run && l->start && l->stop && l->size;
}

int main(int argc, char **argv) {
  if (argc < 5) return 1;
  const int threads = atoi(argv[3]), regions = atoi(argv[4]);
  lib_t a, b;
  if (!load(argv[1], &a) || !load(argv[2], &b)) return 1;
  signal(SIGALRM, on_alarm);
  alarm(60);
  void *storage = calloc(1, a.size() + 64);
  int fails = 0, bad;
  if (a.start(storage, threads) != 0) return 1;
  if ((bad = a.run(regions)) != 0) printf("FAIL library A: %d wrong\n", bad), fails++;
  usleep(20000); /* A's worker asleep on its futex */
  /* A's pool is abandoned, not stopped: its storage now holds B's pool (what free + malloc did in the benches) */
  memset(storage, 0xA5, a.size());
  if (b.start(storage, threads) != 0) return 1;
  for (int k = 0; k < 4; k++) {
    if ((bad = b.run(regions)) != 0) printf("FAIL library B, pass %d: %d wrong\n", k, bad), fails++;
    usleep(20000); /* B's worker asleep again: the next region's wake-up is a futex wake at the shared address */
  }
  if (b.stop(storage) != 0) fails++;
  printf(fails ? "pool reuse: %d failures\n" : "pool reuse ok\n", fails);
  return fails != 0;
}
#endif
