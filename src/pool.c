/* A small pool of host threads for the host GEMM provider (hostgemm.c).
 *
 * A step issues a few hundred products of a few megaflops each. Handing
 * each to the BLAS's own threads paid a join per product (and OpenBLAS's
 * waiting threads spin in sched_yield); here one call hands a whole
 * strided batch, cut into independent output tiles, to the pool: the
 * caller and the workers take tiles from one atomic counter, and the call
 * returns when the last tile is done. One wake-up and one join per batch.
 *
 * Workers spin briefly for the next batch before they sleep: inside an
 * inference loop the next product comes within microseconds, and a futex
 * wake costs more than that. The pool starts at first use, with one worker
 * per online CPU beyond the caller's own (MUPC_THREADS, when
 * set, gives the total instead), and lives until the process ends. */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define MUPC__POOL_MAX 64
/* Spins (each a pause, some tens of cycles) before a worker sleeps on the condition variable (some tens of
 * µs: long enough to catch the next product of an inference loop, short
 * enough to leave the core to the device's own kernels in between). */
#define MUPC__POOL_SPINS 400

typedef struct pool {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int nworkers;
  atomic_uint generation;  /* odd while a batch is open */
  void (*fn)(void *, size_t);
  void *arg;
  size_t ntasks;
  atomic_size_t next;      /* next task to take */
  atomic_size_t done;      /* tasks finished */
  atomic_int busy;         /* workers inside the current batch */
  pthread_mutex_t call;    /* one batch at a time */
} pool;

static pool the_pool = {.lock = PTHREAD_MUTEX_INITIALIZER,
                        .wake = PTHREAD_COND_INITIALIZER,
                        .call = PTHREAD_MUTEX_INITIALIZER};
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* A wait's pause: the CPU's spin hint, and now and then a yield, so that
 * a thread another process has descheduled gets the core back (yielding
 * every few spins cost more in the scheduler than it saved). */
static void relax(unsigned *spins) {
  if (++*spins % 1024 == 0) {
    sched_yield();
    return;
  }
#if defined(__SSE2__)
  _mm_pause();
#endif
}

/* Tasks run with denormals flushed to zero, in what they compute (FTZ)
 * and what they read (DAZ): the library's policy everywhere (cl/common.cl,
 * ftz), since deep in a network inference's signal falls below 2^-126 and
 * every operation on such a float costs a microcode assist of about 100
 * cycles on x86. The thread's own mode is restored after. */
static void take_tasks(pool *p) {
#if defined(__SSE2__)
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040u); /* FTZ | DAZ */
#endif
  for (;;) {
    const size_t i = atomic_fetch_add(&p->next, 1);
    if (i >= p->ntasks) break;
    p->fn(p->arg, i);
    atomic_fetch_add(&p->done, 1);
  }
#if defined(__SSE2__)
  _mm_setcsr(csr);
#endif
}

/* The generation is odd while a batch is open. A worker counts itself in
 * busy and only then checks that the batch it woke for is still open: the
 * caller closes a batch before it waits for busy to reach zero, so no
 * worker can still be reading a batch's fields when the next one sets
 * them. */
static void *worker(void *arg) {
  pool *p = arg;
  unsigned seen = atomic_load(&p->generation);
  for (;;) {
    unsigned now = atomic_load(&p->generation);
    for (unsigned s = 0; s < MUPC__POOL_SPINS && (now == seen || !(now & 1));) {
      relax(&s);
      now = atomic_load(&p->generation);
    }
    if (now == seen || !(now & 1)) {
      pthread_mutex_lock(&p->lock);
      while ((now = atomic_load(&p->generation)) == seen || !(now & 1))
        pthread_cond_wait(&p->wake, &p->lock);
      pthread_mutex_unlock(&p->lock);
    }
    seen = now;
    atomic_fetch_add(&p->busy, 1);
    if (atomic_load(&p->generation) == now) take_tasks(p);
    atomic_fetch_sub(&p->busy, 1);
  }
  return NULL;
}

/* The thread count the user asked for (MUPC_THREADS), 0 if none. The
 * BLAS's own variables govern only the BLAS. */
static int env_threads(void) {
  const char *v = getenv("MUPC_THREADS");
  int64_t n;
  if (v && *v && mupc__parse_i64(v, &n) && n >= 1)
    return n > MUPC__POOL_MAX ? MUPC__POOL_MAX : (int)n;
  return 0;
}

static void pool_start(void) {
  pool *p = &the_pool;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int total = env_threads();
  if (total == 0) total = cpus < 1 ? 1 : cpus > MUPC__POOL_MAX ? MUPC__POOL_MAX : (int)cpus;
  /* The workers never exit; they are detached so that nothing waits for
   * them at exit. A worker that cannot start leaves the pool smaller. */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  for (int i = 0; i < total - 1; i++) {
    pthread_t t;
    if (pthread_create(&t, &attr, worker, p) != 0) break;
    p->nworkers++;
  }
  pthread_attr_destroy(&attr);
}

int mupc__pool_threads(void) {
  pthread_once(&pool_once, pool_start);
  return the_pool.nworkers + 1;
}

void mupc__pool_for(size_t ntasks, void (*fn)(void *, size_t), void *arg) {
  if (ntasks == 0) return;
  pthread_once(&pool_once, pool_start);
  pool *p = &the_pool;
  pthread_mutex_lock(&p->call);
  p->fn = fn;
  p->arg = arg;
  p->ntasks = ntasks;
  atomic_store(&p->done, 0);
  atomic_store(&p->next, 0);
  if (p->nworkers == 0 || ntasks == 1) {
    take_tasks(p); /* on this thread alone */
    pthread_mutex_unlock(&p->call);
    return;
  }
  pthread_mutex_lock(&p->lock);
  atomic_fetch_add(&p->generation, 1);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  take_tasks(p);
  /* Every task taken is being finished by someone: wait for them, close
   * the batch, and wait for the workers to leave it. */
  unsigned spins = 0;
  while (atomic_load(&p->done) < ntasks)
    relax(&spins);
  atomic_fetch_add(&p->generation, 1);
  while (atomic_load(&p->busy) > 0)
    relax(&spins);
  pthread_mutex_unlock(&p->call);
}
