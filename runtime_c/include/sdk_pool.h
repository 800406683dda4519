/* sdk's thread pool (profiles with [cpu] threading = "pool": host). Persistent workers, created once by
 * sdk_pool_start; a parallel region wakes them, each thread runs its static share, the caller waits for the rest.
 * A waiting thread spins a bounded time (at most SDK_POOL_SPIN_US, adapted per thread), then sleeps (a futex on
 * Linux, a condition variable elsewhere): on a busy machine a waiter gives its core back within microseconds, where libgomp's default waiter spins ~300k pauses (milliseconds) at every barrier
 * and the bundles' two-thread runs took 10-100x their quiet time (bench/RESULTS_zoo.md).
 * A share nobody has started when the caller finishes its own, the caller runs itself (as it would on one thread:
 * the kernels compute each share's range from omp_get_thread_num, so the results are the same), instead of waiting
 * for a worker that a loaded machine keeps off its core; a worker that wakes later finds its share taken.
 *
 * The kernels keep their OpenMP pragmas: gcc's -fopenmp outlines each parallel region into a function and calls
 * GOMP_parallel / GOMP_barrier / GOMP_single_start / omp_get_thread_num ...; in pool builds sdk_pool.c defines those
 * entry points over the pool attached to the calling thread, so the program links no libgomp. The pool's memory is
 * the caller's (struct sdk_pool, any storage that outlives the workers); the only other state is one thread-local
 * record per thread (which pool, which thread of the region), because those entry points take no context.
 * C99 + pthreads; gcc (clang's -fopenmp calls libomp's __kmpc_* entry points instead: keep threading = "openmp").
 * An application that runs OpenMP code of its own and links the bundle statically builds it with threading =
 * "openmp" (as a shared library the bundle binds its own entry points: sdk_pool.c). */
#ifndef SDK_POOL_H
#define SDK_POOL_H
#include <pthread.h>
#include <stddef.h>
#include "sdk_status.h"

#ifndef SDK_POOL_MAX_THREADS
#define SDK_POOL_MAX_THREADS 64
#endif
#ifndef SDK_POOL_SPIN_US /* the longest spin of a wait, us (adapted per thread, down to 2 us: sdk_pool.c) */
#define SDK_POOL_SPIN_US 1000
#endif

typedef struct sdk_pool sdk_pool;
typedef struct {
  sdk_pool *pool;
  int tid;
  unsigned gen0; /* the region generation when it was created */
} sdk_pool_worker;

/* All fields are the pool's own: callers only provide the storage and call the functions below. */
struct sdk_pool {
  unsigned magic;             /* SDK_POOL_MAGIC while started */
  const void *owner;          /* which copy of the runtime started it, and its start's serial number: a worker */
  unsigned long serial;       /* (its start time, ns) whose storage now holds another pool exits (sdk_pool.c) */
  int workers;                /* worker threads created (threads - 1 at the largest count asked) */
  int active;                 /* threads a region uses: 1 + the first active - 1 workers */
  int spin;                   /* the longest spin before sleeping, ns */
  void (*fn)(void *);         /* the region's function and its data (GOMP_parallel's) */
  void *data;
  int nth;                    /* threads of the region running now */
  unsigned gen;               /* region generation: bumped to start one (workers wait on it) */
  unsigned running;           /* workers between trying to claim a share and finishing it (the caller waits on it) */
  unsigned bar_count, bar_gen; /* barrier: arrivals, generation */
  unsigned sleepers;          /* threads asleep on gen / bar_gen / running (wake only when > 0) */
  int stop;
  int cores;                  /* online cores when started */
  int load_fd;                /* /proc/loadavg (Linux; -1: none): the machine's runnable threads (sdk_pool.c) */
  long long load_ns;          /* when it was read last (monotonic ns) */
  int load_avg16;             /* its runnable count, averaged over the last reads, x16 */
#if defined(SDK_POOL_SHARE_CLOCK)
  long long share_ns[SDK_POOL_MAX_THREADS]; /* profile builds: each thread's CPU ns in the region's shares (sdk_pool.c) */
  long long bar_ns[SDK_POOL_MAX_THREADS];   /* of which in barrier waits */
  int bars;                                 /* barriers in the region */
#endif
  pthread_mutex_t mu;         /* the sleep of builds without futexes */
  pthread_cond_t cv;
  unsigned claim[SDK_POOL_MAX_THREADS]; /* the generation of the region whose share t was claimed last */
  pthread_t th[SDK_POOL_MAX_THREADS];
  sdk_pool_worker w[SDK_POOL_MAX_THREADS];
};

/* Starts threads - 1 workers (threads <= 0: OMP_NUM_THREADS where it is set, as libgomp reads it, else one per online
 * core; at most SDK_POOL_MAX_THREADS) in the caller's
 * *pool and attaches the pool to the calling thread (sdk_pool_attach). SDK_ERR_NULL_ARG for pool NULL,
 * SDK_ERR_THREADS if a thread cannot be created (the workers made so far are stopped). */
sdk_status sdk_pool_start(sdk_pool *pool, int threads);
/* Stops and joins the workers; detaches the pool from the calling thread. SDK_ERR_NULL_ARG / SDK_ERR_THREADS for a
 * pool that was not started, or is running a region. */
sdk_status sdk_pool_stop(sdk_pool *pool);
/* Regions started from the calling thread run on pool (NULL: on the calling thread alone). A pool serves one
 * calling thread at a time. */
sdk_status sdk_pool_attach(sdk_pool *pool);
/* Threads a region uses from now on: n >= 1 (more than the pool has: starts the missing workers, up to
 * SDK_POOL_MAX_THREADS), n <= 0 all online cores. Returns the count in effect, or -1 if pool is not started. */
int sdk_pool_set_threads(sdk_pool *pool, int n);
/* The pool attached to the calling thread (NULL if none). */
sdk_pool *sdk_pool_current(void);
/* sizeof(sdk_pool), for callers through a foreign-function interface (Python's ctypes) that allocate it. */
size_t sdk_pool_size(void);

#endif
