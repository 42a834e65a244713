/* The step's time in its parts, for `mupc bench` (mupc_bench_result's
 * gemm, kernels and wait): while a context profiles, every kernel, fill
 * and CLBlast GEMM it enqueues leaves an event whose device time is added
 * up at the end, and the host provider's products and element loops add
 * their thread time to two counters. Off, it costs a flag test per
 * enqueue. */
#include "internal.h"

#include <stdlib.h>
#include <time.h>

static atomic_int host_on;
static atomic_uint_fast64_t host_ns[MUPC__PROF_KINDS];

cl_event *mupc__profile_slot(mupc_ctx *ctx, int kind) {
  if (!ctx->profiling) return NULL;
  if (ctx->prof_n == ctx->prof_cap) {
    const size_t cap = ctx->prof_cap ? 2 * ctx->prof_cap : 256;
    cl_event *ev = realloc(ctx->prof_events, cap * sizeof *ev);
    if (!ev) return NULL; /* unprofiled: the part is counted as waiting */
    ctx->prof_events = ev;
    unsigned char *k = realloc(ctx->prof_kind, cap);
    if (!k) return NULL;
    ctx->prof_kind = k;
    ctx->prof_cap = cap;
  }
  ctx->prof_kind[ctx->prof_n] = (unsigned char)kind;
  ctx->prof_events[ctx->prof_n] = NULL; /* stays so if the enqueue fails */
  return &ctx->prof_events[ctx->prof_n++];
}

int mupc__profile_host_on(void) { return atomic_load_explicit(&host_on, memory_order_relaxed); }

uint64_t mupc__profile_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void mupc__profile_host(int kind, uint64_t ns) { atomic_fetch_add(&host_ns[kind], ns); }

void mupc__profile_begin(mupc_ctx *ctx) {
  ctx->profiling = 1;
  ctx->prof_n = 0;
  for (int k = 0; k < MUPC__PROF_KINDS; k++) atomic_store(&host_ns[k], 0);
  atomic_store(&host_on, 1);
}

/* After the queue finished: device seconds of each kind (the events'),
 * plus the host's thread seconds over the threads that shared them. */
void mupc__profile_end(mupc_ctx *ctx, double seconds[MUPC__PROF_KINDS]) {
  atomic_store(&host_on, 0);
  const double threads = mupc__pool_threads();
  for (int k = 0; k < MUPC__PROF_KINDS; k++) seconds[k] = 1e-9 * atomic_load(&host_ns[k]) / threads;
  for (size_t i = 0; i < ctx->prof_n; i++) {
    cl_ulong start = 0, end = 0;
    if (!ctx->prof_events[i]) continue;
    if (clGetEventProfilingInfo(ctx->prof_events[i], CL_PROFILING_COMMAND_START, sizeof start,
                                &start, NULL) == CL_SUCCESS &&
        clGetEventProfilingInfo(ctx->prof_events[i], CL_PROFILING_COMMAND_END, sizeof end, &end,
                                NULL) == CL_SUCCESS &&
        end > start)
      seconds[ctx->prof_kind[i]] += 1e-9 * (double)(end - start);
    clReleaseEvent(ctx->prof_events[i]);
  }
  ctx->prof_n = 0;
  ctx->profiling = 0;
}
