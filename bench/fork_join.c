/* Cost of a fork/join and of a barrier at 2+ threads: libgomp (the host profile's OpenMP) against a minimal pool of
 * persistent threads that spin on a generation counter for a bounded time (SPIN pauses), then sleep on a futex (what a
 * runtime pool would do). Prints the minimum and the median of ROUNDS batches of N operations each, in us per op.
 *   gcc -O2 -march=native -fopenmp bench/fork_join.c -o /tmp/fork_join -lpthread && /tmp/fork_join 2 2000 30 [SPIN] */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define RELAX() _mm_pause()
#else
#define RELAX() __asm__ __volatile__("" ::: "memory")
#endif

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static void futex_wait(int *a, int v) { syscall(SYS_futex, a, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0); }
static void futex_wake(int *a) { syscall(SYS_futex, a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0); }

/* wait until *a != v: SPIN pauses, then sleep (announcing it in *sleepers so the writer wakes us) */
static long SPIN = 4000;
static void wait_ne(int *a, int v, int *sleepers) {
  for (long i = 0; i < SPIN; ++i) { if (__atomic_load_n(a, __ATOMIC_ACQUIRE) != v) return; RELAX(); }
  __atomic_add_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(a, __ATOMIC_ACQUIRE) == v) futex_wait(a, v);
  __atomic_sub_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
}
static void bump(int *a, int *sleepers) {
  __atomic_add_fetch(a, 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(sleepers, __ATOMIC_SEQ_CST)) futex_wake(a);
}

typedef struct pool {
  int nth, gen, gen_sleep, left, done_gen, done_sleep, quit;
  int bar_count, bar_gen, bar_sleep;
  void (*fn)(struct pool *, int);
  pthread_t th[64];
} pool;

static void pool_barrier(pool *p) {
  const int g = __atomic_load_n(&p->bar_gen, __ATOMIC_ACQUIRE);
  if (__atomic_add_fetch(&p->bar_count, 1, __ATOMIC_ACQ_REL) == p->nth) {
    __atomic_store_n(&p->bar_count, 0, __ATOMIC_RELAXED);
    bump(&p->bar_gen, &p->bar_sleep);
  } else wait_ne(&p->bar_gen, g, &p->bar_sleep);
}

typedef struct { pool *p; int tid; } warg;
static void *worker(void *v) {
  warg *w = v; pool *p = w->p; int seen = 0;
  for (;;) {
    wait_ne(&p->gen, seen, &p->gen_sleep);
    seen = __atomic_load_n(&p->gen, __ATOMIC_ACQUIRE);
    if (p->quit) return NULL;
    p->fn(p, w->tid);
    if (__atomic_sub_fetch(&p->left, 1, __ATOMIC_ACQ_REL) == 0) bump(&p->done_gen, &p->done_sleep);
  }
}
static void pool_run(pool *p, void (*fn)(pool *, int)) {
  const int d = __atomic_load_n(&p->done_gen, __ATOMIC_ACQUIRE);
  p->fn = fn;
  __atomic_store_n(&p->left, p->nth - 1, __ATOMIC_RELAXED);
  bump(&p->gen, &p->gen_sleep);
  fn(p, 0);
  wait_ne(&p->done_gen, d, &p->done_sleep);
}

static volatile int sink;
static int NB = 1;
static void f_empty(pool *p, int tid) { (void)p; sink = tid; }
static void f_bar(pool *p, int tid) { for (int i = 0; i < NB; ++i) pool_barrier(p); sink = tid; }

int main(int argc, char **argv) {
  const int nth = argc > 1 ? atoi(argv[1]) : 2, N = argc > 2 ? atoi(argv[2]) : 2000, R = argc > 3 ? atoi(argv[3]) : 30;
  if (argc > 4) SPIN = atol(argv[4]);
  NB = N;
  double *t[4];
  for (int k = 0; k < 4; ++k) t[k] = malloc(sizeof(double) * R);
  omp_set_num_threads(nth);
  pool p = {0};
  p.nth = nth;
  warg wa[64];
  for (int i = 1; i < nth; ++i) { wa[i].p = &p; wa[i].tid = i; pthread_create(&p.th[i], NULL, worker, &wa[i]); }
  for (int r = 0; r < R; ++r) {
    double t0 = now();
    for (int i = 0; i < N; ++i) {
#pragma omp parallel
      { sink = omp_get_thread_num(); }
    }
    double t1 = now();
#pragma omp parallel
    { for (int i = 0; i < N; ++i) {
#pragma omp barrier
      } }
    double t2 = now();
    for (int i = 0; i < N; ++i) pool_run(&p, f_empty);
    double t3 = now();
    pool_run(&p, f_bar);
    double t4 = now();
    t[0][r] = 1e6 * (t1 - t0) / N, t[1][r] = 1e6 * (t2 - t1) / N, t[2][r] = 1e6 * (t3 - t2) / N, t[3][r] = 1e6 * (t4 - t3) / N;
  }
  p.quit = 1;
  bump(&p.gen, &p.gen_sleep);
  for (int i = 1; i < nth; ++i) pthread_join(p.th[i], NULL);
  const char *nm[4] = {"libgomp fork/join", "libgomp barrier", "pool fork/join", "pool barrier"};
  for (int k = 0; k < 4; ++k) {
    qsort(t[k], R, sizeof(double), cmpd);
    printf("%s: min %.3f median %.3f us\n", nm[k], t[k][0], t[k][R / 2]);
  }
  return 0;
}
