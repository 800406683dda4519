/* Stress of the pool's region protocol (runtime_c/src/sdk_pool.c), built with -DSDK_POOL_JITTER: random yields,
 * sleeps and spins at the windows between a worker's wake, its count in `running`, its read of the generation and
 * its claim, and in the caller before its own share. Many tiny regions, the thread count and the regions'
 * num_threads changing at random, some regions with a barrier, every region read-modify-write (each element gets +1
 * from exactly one thread: a share run twice, or by a thread that took a stale region, shows as an element off by
 * one); a busy thread keeps the cores oversubscribed. A hang ends the program through alarm().
 *   pool_stress THREADS REGIONS [SEED]   (tests/unit/test_pool.py builds and runs it, also under ThreadSanitizer) */
#define _GNU_SOURCE
#include "sdk_pool.h"
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N = 4096, MAXT = 8 };
static float y[N];
static int hits[MAXT], wrong_nth;
static int busy_stop;

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "FAIL: no progress (a hang) within the time limit\n";
  if (write(1, msg, sizeof msg - 1) < 0) _exit(3);
  _exit(2);
}

static void *busy(void *arg) {
  (void)arg;
  while (!__atomic_load_n(&busy_stop, __ATOMIC_RELAXED)) __asm__ __volatile__("" ::: "memory");
  return NULL;
}

/* one region: each thread adds 1 to its static share of y; with a barrier, then reads a neighbour share's elements */
static void region(int want, int expect, int barrier, float round, int *bad) {
#pragma omp parallel num_threads(want)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    if (nth != expect || tid >= nth) __atomic_add_fetch(&wrong_nth, 1, __ATOMIC_RELAXED);
    if (tid < MAXT) __atomic_add_fetch(&hits[tid], 1, __ATOMIC_RELAXED);
    const int lo = (int)((long)N * tid / nth), hi = (int)((long)N * (tid + 1) / nth);
    for (int i = lo; i < hi; i++) y[i] += 1.0f;
    if (barrier) {
#pragma omp barrier
      const int other = (int)((long)N * ((tid + 1) % nth) / nth); /* the next share's first element */
      if (y[other] != round) __atomic_add_fetch(bad, 1, __ATOMIC_RELAXED);
#pragma omp barrier
    }
  }
}

int main(int argc, char **argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 3, regions = argc > 2 ? atoi(argv[2]) : 20000;
  unsigned seed = argc > 3 ? (unsigned)atoi(argv[3]) : 12345u;
  if (threads < 2 || threads > MAXT) return 1;
  signal(SIGALRM, on_alarm);
  alarm(120);
  pthread_t spinner;
  if (pthread_create(&spinner, NULL, busy, NULL) != 0) return 1;
  static sdk_pool pool;
  if (sdk_pool_start(&pool, threads) != SDK_OK) return 1;
  int fails = 0, active = threads, bad = 0;
  for (int r = 1; r <= regions && fails < 10; r++) {
    seed = seed * 1103515245u + 12345u;
    const unsigned u = seed >> 8;
    if (u % 16 == 0) active = sdk_pool_set_threads(&pool, 2 + (int)(u / 16 % (unsigned)(threads - 1)));
    const int want = u % 3 == 0 ? 0 : 2 + (int)(u / 3 % (unsigned)(threads - 1)); /* 0: the pool's count */
    const int expect = want == 0 || want > active ? active : want;
    const int barrier = u % 5 == 0;
    memset(hits, 0, sizeof hits);
    region(want, expect, barrier, (float)r, &bad);
    for (int t = 0; t < MAXT; t++)
      if (__atomic_load_n(&hits[t], __ATOMIC_RELAXED) != (t < expect)) {
        printf("FAIL region %d: share %d ran %d times (threads %d, barrier %d)\n", r, t, hits[t], expect, barrier);
        fails++;
      }
    for (int i = 0; i < N; i += 61)
      if (y[i] != (float)r) {
        printf("FAIL region %d: y[%d] = %g, not %d (a share ran twice or not at all)\n", r, i, y[i], r);
        fails++;
        break;
      }
    if (bad || wrong_nth) {
      printf("FAIL region %d: barrier read %d stale elements, %d threads saw the wrong count\n", r, bad, wrong_nth);
      fails++, bad = 0, wrong_nth = 0;
    }
  }
  if (sdk_pool_stop(&pool) != SDK_OK) fails++;
  __atomic_store_n(&busy_stop, 1, __ATOMIC_RELAXED);
  pthread_join(spinner, NULL);
  printf(fails ? "pool stress: %d failures\n" : "pool stress ok\n", fails);
  return fails != 0;
}
