/* sdk's thread pool and the OpenMP entry points gcc's -fopenmp code calls, over it (sdk_pool.h says why).
 * Static partitions are the kernels' own (schedule(static): gcc computes each thread's range from
 * omp_get_thread_num / omp_get_num_threads); the pool only starts, joins and synchronises the threads.
 * C99 + pthreads, gcc/clang __atomic builtins; no malloc. */
#define _GNU_SOURCE /* syscall, sysconf under -std=c99 */
#include "sdk_pool.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#define SDK_POOL_FUTEX 1
#endif
#if defined(__x86_64__) || defined(__i386__)
#define SDK_POOL_PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__) || defined(__arm__)
#define SDK_POOL_PAUSE() __asm__ __volatile__("yield" ::: "memory")
#else
#define SDK_POOL_PAUSE() ((void)0)
#endif

#define SDK_POOL_MAGIC 0x504f4f4cu
#ifndef SDK_POOL_SPIN_MIN_NS /* the shortest adapted spin, ns */
#define SDK_POOL_SPIN_MIN_NS 2000
#endif
#ifndef SDK_POOL_LOAD_NS /* the least time between two reads of the machine's runnable count (pool_contended), ns */
#define SDK_POOL_LOAD_NS 2000000
#endif
#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)

#if defined(SDK_POOL_JITTER)
/* Test builds only (tests/unit/pool_stress.c): a random yield, sleep or spin at the protocol's windows, so races that
 * need a thread descheduled at one exact point happen within seconds instead of once in thousands of runs. */
#include <sched.h>
#include <stdint.h>
static void pool_jitter(void) {
  static __thread unsigned s;
  if (s == 0) s = (unsigned)(uintptr_t)&s | 1u;
  s ^= s << 13, s ^= s >> 17, s ^= s << 5;
  switch (s % 8) {
  case 0: sched_yield(); break;
  case 1: usleep((s >> 3) % 200); break;
  case 2: for (unsigned i = (s >> 3) % 2048; i > 0; i--) SDK_POOL_PAUSE(); break;
  default: break;
  }
}
#define SDK_POOL_JITTER_AT() pool_jitter()
#else
#define SDK_POOL_JITTER_AT() ((void)0)
#endif

/* The calling thread's record: the pool it runs regions on, and its place in the region it is in. The GOMP entry
 * points take no context, so this is the one piece of state outside the caller's sdk_pool. */
typedef struct {
  sdk_pool *pool;
  int tid, nth;   /* in a region: this thread's number and the region's thread count */
  int in_region;  /* 1 inside any region (nested ones run on this thread alone) */
  int active;     /* 1 inside a region of more than one thread */
  long long spin; /* this thread's spin budget, ns (pool_wait) */
#if defined(SDK_POOL_SHARE_CLOCK)
  int phys;       /* profile builds: 0 the caller, k worker k (whichever share it runs) */
#endif
} sdk_pool_self_t;
static __thread sdk_pool_self_t sdk_pool_self;

static int online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > SDK_POOL_MAX_THREADS ? SDK_POOL_MAX_THREADS : (int)n;
}

/* Which pool a worker serves: this copy of the runtime (a process may load several bundles, each with its own; the
 * address of a constant tells them apart) and the start's time on the monotonic clock (not a counter: the runtime has
 * no mutable globals; a later start in the same storage reads a later time). A worker keeps its pool's on its own stack
 * and checks it after every wait, before it writes anything to the pool: storage whose pool was never stopped (freed,
 * then reused by a new pool: the benches' ctypes buffers did, bench/RESULTS_zoo.md pool43) then makes the old worker
 * exit, not join the new pool's regions with another library's thread-local state (omp_get_thread_num 0 of 1: the whole
 * range again, no barrier). */
static const char sdk_pool_owner = 1;
typedef struct {
  const void *owner;
  unsigned long serial;
} pool_id;
static int pool_is(const sdk_pool *p, const pool_id *id) {
  return __atomic_load_n(&p->owner, __ATOMIC_RELAXED) == id->owner &&
         __atomic_load_n(&p->serial, __ATOMIC_RELAXED) == id->serial;
}

/* Sleeps while *word == seen. Callers count themselves in sleepers first, so a waker that sees none may skip the
 * system call (both sides' accesses are sequentially consistent: one of them sees the other). id: a worker's pool
 * (NULL for the caller's waits); 0 if the storage no longer holds that pool (nothing written to it then). */
static int pool_sleep(sdk_pool *p, unsigned *word, unsigned seen, const pool_id *id) {
  __atomic_add_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
#if defined(SDK_POOL_FUTEX)
  if (__atomic_load_n(word, __ATOMIC_SEQ_CST) == seen)
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
#else
  pthread_mutex_lock(&p->mu);
  while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == seen) pthread_cond_wait(&p->cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
#endif
  if (id != NULL && !pool_is(p, id)) return 0;
  __atomic_sub_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
  return 1;
}

/* After changing *word (sequentially consistent): wakes the threads asleep on it, if any sleep. */
static void pool_wake(sdk_pool *p, unsigned *word) {
  if (__atomic_load_n(&p->sleepers, __ATOMIC_SEQ_CST) == 0) return;
#if defined(SDK_POOL_FUTEX)
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
  (void)word;
  pthread_mutex_lock(&p->mu);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
#endif
}

static long long pool_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Whether more threads are runnable on the machine than it has cores (Linux: /proc/loadavg's count of runnable tasks,
 * this process's included; averaged over the last reads, 1/4 weight each), read at most every SDK_POOL_LOAD_NS by a
 * thread about to sleep (its core is idle then anyway). Contended, a thread that spun and then slept anyway has burnt
 * its share of the core for nothing and is then woken behind the other jobs (the scheduler's fair share): it spins
 * less (pool_wait). Quiet, the partner's core is idle and a sleep costs a wake-up of an idle core instead: it spins
 * more. Off Linux, or without /proc: never contended (bench/RESULTS_zoo.md pool44). */
static int pool_contended(sdk_pool *p, long long now) {
#if defined(SDK_POOL_FUTEX)
  long long last = __atomic_load_n(&p->load_ns, __ATOMIC_RELAXED);
  if (p->load_fd >= 0 && now - last >= SDK_POOL_LOAD_NS &&
      __atomic_compare_exchange_n(&p->load_ns, &last, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    char buf[128]; /* "0.50 1.25 1.73 4/144 8214": the fourth field's numerator */
    const ssize_t n = pread(p->load_fd, buf, sizeof buf - 1, 0);
    const char *c = buf;
    if (n > 0) {
      buf[n] = 0;
      for (int field = 0; field < 3 && *c; c++) field += *c == ' ';
      int running = 0;
      while (*c >= '0' && *c <= '9') running = running * 10 + (*c++ - '0');
      if (*c == '/') { /* fixed point x16: avg += (new - avg) / 4 */
        const int avg = __atomic_load_n(&p->load_avg16, __ATOMIC_RELAXED);
        __atomic_store_n(&p->load_avg16, avg + (16 * running - avg) / 4, __ATOMIC_RELAXED);
      }
    }
  }
#else
  (void)now;
#endif
#if defined(SDK_POOL_JITTER) /* test builds: both rules of pool_wait, at random */
  static __thread unsigned r;
  r = r * 1103515245u + 12345u;
  if ((r >> 16) % 2) return (int)(r >> 17) % 2;
#endif
  return __atomic_load_n(&p->load_avg16, __ATOMIC_RELAXED) > 16 * p->cores + 8;
}

/* Waits until *word != seen (until_change), or *word == 0 (!until_change): spin, then sleep (id: see pool_sleep). The
 * spin is timed (the clock read every 32 pauses) and adapted per thread: a wait that ended while spinning doubles this
 * thread's next spin (up to p->spin ns, SDK_POOL_SPIN_US), and so does one that slept but ended within twice the
 * longest spin, unless the machine is contended (pool_contended); a longer one halves it (down to
 * SDK_POOL_SPIN_MIN_NS). On a quiet machine the short waits between a
 * model's regions end in the spin and keep it long; on a busy one, where the partner thread is off its core (or the
 * spinner itself is preempted: its clock runs past the budget), the waiter soon gives the core back at once. Until
 * 2026-12-06 the budget was 64-4000 pauses, which are 11 ns each on this session's Xeon: 0.7-45 us, and about one gap a
 * run between MobileNetV3-S's regions (32-255 us) outlasted it (bench/RESULTS_zoo.md pool43). No sched_yield between
 * spin and sleep: on a loaded machine a yielding thread waited behind every other runnable one (SqueezeNet two threads
 * at load 18-19: 21.7 ms median a run with 8 yields, 5.2 ms without). */
static int pool_wait(sdk_pool *p, unsigned *word, unsigned seen, int until_change, const pool_id *id) {
  unsigned v;
#define SDK_POOL_DONE(v) (until_change ? (v) != seen : (v) == 0)
  if (SDK_POOL_DONE(LOAD(word))) return 1;
  long long budget = sdk_pool_self.spin;
  if (budget <= 0 || budget > p->spin) budget = p->spin;
  const long long end = pool_now_ns() + budget;
  for (;;) {
    for (int i = 0; i < 32; i++) {
      if (SDK_POOL_DONE(LOAD(word))) {
        sdk_pool_self.spin = 2 * budget < p->spin ? 2 * budget : p->spin;
        return 1;
      }
      SDK_POOL_PAUSE();
    }
    if (pool_now_ns() >= end) break;
  }
  const int contended = pool_contended(p, end);
  while (!SDK_POOL_DONE(v = LOAD(word)))
    if (!pool_sleep(p, word, v, id)) return 0;
#undef SDK_POOL_DONE
  /* within twice the longest spin: a gap between a model's regions on a quiet machine (MobileNetV3-S's are 32-255 us);
   * longer: the partner off its core on a busy machine, or the caller idle between runs (bench/RESULTS_zoo.md).
   * Contended: every sleep halves the spin (pool44, threads_ab --busy 2 at load 14-18: MobileNetV3-S two threads
   * 4.64 ms median with the quiet rule, 1.96 with this one) */
  const long long waited = pool_now_ns() - (end - budget);
  if (waited <= 2 * (long long)p->spin && !contended)
    sdk_pool_self.spin = 2 * budget < p->spin ? 2 * budget : p->spin;
  else
    sdk_pool_self.spin = budget / 2 > SDK_POOL_SPIN_MIN_NS ? budget / 2 : SDK_POOL_SPIN_MIN_NS;
  return 1;
}
static void pool_wait_change(sdk_pool *p, unsigned *word, unsigned seen) { (void)pool_wait(p, word, seen, 1, NULL); }
/* Waits until *word == 0 (the workers still in a region count it down). */
static void pool_wait_zero(sdk_pool *p, unsigned *word) { (void)pool_wait(p, word, 0, 0, NULL); }

/* Claims share t of region g for the calling thread: 1 if no thread has claimed it for region g or a later one.
 * Claims only move forward. A worker may read the generation of a region the caller has already finished (it woke
 * late: the caller ran every share itself and saw no worker running) and then be descheduled while the caller starts
 * the next regions and runs their shares; a claim that only asked "not g yet" then took share t a second time, with
 * the later region's function and data, or half-written ones (tests/unit/pool_stress.c: a share run twice within
 * ~100 regions, a barrier region left one arrival short: bench/RESULTS_zoo.md pool43). */
static int pool_claim(sdk_pool *p, int t, unsigned g) {
  unsigned old = LOAD(&p->claim[t]);
  while ((int)(g - old) > 0) /* old is an earlier region (wrapping generations) */
    if (__atomic_compare_exchange_n(&p->claim[t], &old, g, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return 1;
  return 0;
}

#if defined(SDK_POOL_SHARE_CLOCK)
/* Profile builds (-DSDK_POOL_SHARE_CLOCK with -DSDK_PROFILE; bench/pool_shares.py): every region of more than one
 * thread prints "pool region <CPU us of thread 0 .. nth-1 in shares> <their CPU us in barrier waits> <wall us>
 * <barriers> <workers' shares the caller took>" to stderr (thread 0: the caller; CPU time: barrier spins included,
 * sleeps and preemption not), so a step's load balance and its threading overhead read on a busy machine, where the
 * wall clock shows the other jobs' slices. */
#include <stdio.h>
static long long pool_cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}
#endif

/* self: the physical thread running the share (0: the caller), for the share clock */
static void pool_run_share(sdk_pool *p, int tid, int nth, int self) {
  const sdk_pool_self_t saved = sdk_pool_self;
  sdk_pool_self.tid = tid, sdk_pool_self.nth = nth, sdk_pool_self.in_region = sdk_pool_self.active = 1;
#if defined(SDK_POOL_SHARE_CLOCK)
  const long long t0 = pool_cpu_ns();
  p->fn(p->data);
  p->share_ns[self] += pool_cpu_ns() - t0; /* read by the caller after running drops to 0 (seq_cst) */
#else
  (void)self;
  p->fn(p->data);
#endif
  sdk_pool_self = saved;
}

static void *pool_worker(void *arg) {
  sdk_pool_worker *w = (sdk_pool_worker *)arg;
  sdk_pool *p = w->pool;
  unsigned seen = w->gen0;
  const pool_id id = {p->owner, p->serial};
  sdk_pool_self.pool = p;
#if defined(SDK_POOL_SHARE_CLOCK)
  sdk_pool_self.phys = w->tid;
#endif
  for (;;) {
    if (!pool_wait(p, &p->gen, seen, 1, &id) || !pool_is(p, &id)) { /* the storage holds another pool now */
      pthread_detach(pthread_self());
      return NULL;
    }
    if (LOAD(&p->stop)) break;
    SDK_POOL_JITTER_AT();
    /* counted in running before it looks at the region, so the caller, which waits for running == 0 after taking
     * every unclaimed share, never ends a region (and rewrites fn / data / nth) while this thread may still claim
     * one of its shares; a generation read before the count was the caller's last may be a finished region, whose
     * shares are all claimed */
    __atomic_add_fetch(&p->running, 1, __ATOMIC_SEQ_CST);
    const unsigned g = __atomic_load_n(&p->gen, __ATOMIC_SEQ_CST);
    if (LOAD(&p->stop)) { /* g may be the stop's generation, not a region's (the last region's fn / data are stale) */
      __atomic_sub_fetch(&p->running, 1, __ATOMIC_SEQ_CST);
      break;
    }
    SDK_POOL_JITTER_AT();
    /* acquire: a count newer than g (the caller has left region g) comes with the caller's claims of every share of
     * region g, so the claim below fails */
    const int nth = __atomic_load_n(&p->nth, __ATOMIC_ACQUIRE);
    SDK_POOL_JITTER_AT();
    if (w->tid < nth && pool_claim(p, w->tid, g)) pool_run_share(p, w->tid, nth, w->tid);
    seen = g;
    if (__atomic_sub_fetch(&p->running, 1, __ATOMIC_SEQ_CST) == 0) pool_wake(p, &p->running);
  }
  return NULL;
}

/* Caller's side of a region of nth > 1 threads: publish it, run share 0, then every share no worker has claimed
 * yet, then wait for the workers running one. The shares of workers outside the region (t >= nth) are claimed too,
 * unrun: a worker that read this region's generation late, with the thread count of a later, larger region,
 * finds them taken. */
static void pool_region(sdk_pool *p, void (*fn)(void *), void *data, int nth) {
#if defined(SDK_POOL_SHARE_CLOCK)
  for (int t = 0; t < nth; ++t) p->share_ns[t] = p->bar_ns[t] = 0;
  p->bars = 0;
  const long long w0 = pool_now_ns();
  int taken = 0;
#endif
  p->fn = fn, p->data = data;
  __atomic_store_n(&p->nth, nth, __ATOMIC_RELEASE);
  __atomic_store_n(&p->bar_count, 0, __ATOMIC_RELAXED);
  const unsigned g = __atomic_add_fetch(&p->gen, 1, __ATOMIC_SEQ_CST); /* releases the fields above */
  pool_wake(p, &p->gen);
  SDK_POOL_JITTER_AT();
  pool_run_share(p, 0, nth, 0); /* share 0 is the caller's: no worker claims it */
  for (int t = 1; t < nth; ++t)
    if (pool_claim(p, t, g)) {
      pool_run_share(p, t, nth, 0);
#if defined(SDK_POOL_SHARE_CLOCK)
      taken++;
#endif
    }
  for (int t = nth; t <= p->workers; ++t) (void)pool_claim(p, t, g);
  pool_wait_zero(p, &p->running);
  SDK_POOL_JITTER_AT();
#if defined(SDK_POOL_SHARE_CLOCK)
  const long long w1 = pool_now_ns();
  fprintf(stderr, "pool region");
  for (int t = 0; t < nth; ++t) fprintf(stderr, " %.3f", 1e-3 * (double)p->share_ns[t]);
  for (int t = 0; t < nth; ++t) fprintf(stderr, " %.3f", 1e-3 * (double)p->bar_ns[t]);
  fprintf(stderr, " %.3f %d %d\n", 1e-3 * (double)(w1 - w0), p->bars, taken);
#endif
}

static void pool_barrier(sdk_pool *p, int nth) {
#if defined(SDK_POOL_SHARE_CLOCK)
  const long long b0 = pool_cpu_ns();
  if (sdk_pool_self.tid == 0) p->bars++;
#endif
  unsigned g = LOAD(&p->bar_gen);
  if (__atomic_add_fetch(&p->bar_count, 1, __ATOMIC_ACQ_REL) == (unsigned)nth) {
    __atomic_store_n(&p->bar_count, 0, __ATOMIC_RELAXED); /* before the release: no thread is past it yet */
    __atomic_add_fetch(&p->bar_gen, 1, __ATOMIC_SEQ_CST);
    pool_wake(p, &p->bar_gen);
  } else {
    pool_wait_change(p, &p->bar_gen, g);
  }
#if defined(SDK_POOL_SHARE_CLOCK)
  p->bar_ns[sdk_pool_self.phys] += pool_cpu_ns() - b0;
#endif
}

static int pool_started(const sdk_pool *p) { return p != NULL && p->magic == SDK_POOL_MAGIC; }

int sdk_pool_set_threads(sdk_pool *p, int n) {
  if (!pool_started(p)) return -1;
  if (sdk_pool_self.in_region) return p->active; /* not from inside a region: its threads are running */
  if (n <= 0) n = online_cores();
  if (n > SDK_POOL_MAX_THREADS) n = SDK_POOL_MAX_THREADS;
  while (p->workers < n - 1) { /* between regions: no worker reads workers / gen now */
    sdk_pool_worker *w = &p->w[p->workers];
    w->pool = p, w->tid = p->workers + 1, w->gen0 = p->gen;
    if (pthread_create(&p->th[p->workers], NULL, pool_worker, w) != 0) break;
    p->workers++;
  }
  p->active = n <= p->workers + 1 ? n : p->workers + 1;
  return p->active;
}

sdk_status sdk_pool_start(sdk_pool *p, int threads) {
  if (p == NULL) return SDK_ERR_NULL_ARG;
  memset(p, 0, sizeof *p);
  const long cores = sysconf(_SC_NPROCESSORS_ONLN); /* all of them (online_cores stops at SDK_POOL_MAX_THREADS) */
  p->spin = SDK_POOL_SPIN_US * 1000, p->active = 1, p->nth = 1, p->cores = cores < 1 ? 1 : (int)cores, p->load_fd = -1;
  p->owner = &sdk_pool_owner, p->serial = (unsigned long)pool_now_ns();
  if (pthread_mutex_init(&p->mu, NULL) != 0) return SDK_ERR_THREADS;
  if (pthread_cond_init(&p->cv, NULL) != 0) {
    pthread_mutex_destroy(&p->mu);
    return SDK_ERR_THREADS;
  }
#if defined(SDK_POOL_FUTEX)
  p->load_fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
#endif
  p->magic = SDK_POOL_MAGIC;
  if (threads <= 0) {
    const char *env = getenv("OMP_NUM_THREADS");
    threads = env != NULL ? atoi(env) : 0;
  }
  int want = threads <= 0 ? online_cores() : threads > SDK_POOL_MAX_THREADS ? SDK_POOL_MAX_THREADS : threads;
  if (sdk_pool_set_threads(p, want) != want) {
    sdk_pool_stop(p);
    return SDK_ERR_THREADS;
  }
  sdk_pool_self.pool = p;
  return SDK_OK;
}

sdk_status sdk_pool_stop(sdk_pool *p) {
  if (p == NULL) return SDK_ERR_NULL_ARG;
  if (!pool_started(p) || (sdk_pool_self.pool == p && sdk_pool_self.in_region)) return SDK_ERR_THREADS;
  __atomic_store_n(&p->stop, 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&p->gen, 1, __ATOMIC_SEQ_CST);
  pool_wake(p, &p->gen);
  for (int k = 0; k < p->workers; k++) pthread_join(p->th[k], NULL);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  if (p->load_fd >= 0) close(p->load_fd);
  p->workers = 0, p->active = 1, p->magic = 0, p->load_fd = -1;
  if (sdk_pool_self.pool == p) sdk_pool_self.pool = NULL;
  return SDK_OK;
}

sdk_status sdk_pool_attach(sdk_pool *p) {
  if (p != NULL && !pool_started(p)) return SDK_ERR_THREADS;
  if (sdk_pool_self.in_region) return SDK_ERR_THREADS;
  sdk_pool_self.pool = p;
  return SDK_OK;
}

sdk_pool *sdk_pool_current(void) { return sdk_pool_self.pool; }

size_t sdk_pool_size(void) { return sizeof(sdk_pool); }

/* ---- the entry points of gcc's OpenMP code (libgomp's ABI, the part the kernels use) ----
 * Protected in ELF shared objects: a bundle built as a shared library calls its own, even where the process has
 * libgomp loaded for other code (whose regions stay libgomp's). */
#if defined(__ELF__) && defined(__GNUC__)
#define SDK_POOL_ENTRY __attribute__((visibility("protected")))
#else
#define SDK_POOL_ENTRY
#endif
SDK_POOL_ENTRY void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
SDK_POOL_ENTRY void GOMP_barrier(void);
SDK_POOL_ENTRY _Bool GOMP_single_start(void);
SDK_POOL_ENTRY int omp_get_thread_num(void);
SDK_POOL_ENTRY int omp_get_num_threads(void);
SDK_POOL_ENTRY int omp_get_max_threads(void);
SDK_POOL_ENTRY void omp_set_num_threads(int n);
SDK_POOL_ENTRY int omp_get_num_procs(void);
SDK_POOL_ENTRY int omp_in_parallel(void);

/* A region (num_threads: 0 = the pool's count; 1 = an if() clause that failed). Nested regions, and regions on a
 * thread with no pool attached, run on the calling thread alone. */
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags) {
  sdk_pool *p = sdk_pool_self.pool;
  int nth = 1;
  (void)flags;
  if (pool_started(p) && !sdk_pool_self.in_region) {
    nth = p->active;
    if (num_threads > 0 && (int)num_threads < nth) nth = (int)num_threads;
  }
  if (nth > 1) {
    pool_region(p, fn, data, nth);
    return;
  }
  sdk_pool_self_t saved = sdk_pool_self;
  sdk_pool_self.tid = 0, sdk_pool_self.nth = 1, sdk_pool_self.in_region = 1;
  fn(data);
  sdk_pool_self = saved;
}

void GOMP_barrier(void) {
  if (sdk_pool_self.in_region && sdk_pool_self.nth > 1) pool_barrier(sdk_pool_self.pool, sdk_pool_self.nth);
}

/* single: thread 0 runs the block (the kernels use it with nowait only, so no thread waits on another's arrival) */
_Bool GOMP_single_start(void) { return !sdk_pool_self.in_region || sdk_pool_self.tid == 0; }

int omp_get_thread_num(void) { return sdk_pool_self.in_region ? sdk_pool_self.tid : 0; }
int omp_get_num_threads(void) { return sdk_pool_self.in_region ? sdk_pool_self.nth : 1; }
int omp_get_max_threads(void) { return pool_started(sdk_pool_self.pool) ? sdk_pool_self.pool->active : 1; }
void omp_set_num_threads(int n) {
  if (pool_started(sdk_pool_self.pool)) sdk_pool_set_threads(sdk_pool_self.pool, n);
}
int omp_get_num_procs(void) { return online_cores(); }
int omp_in_parallel(void) { return sdk_pool_self.active; }
