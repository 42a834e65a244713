/* mupc_bench: the training step timed on a synthetic batch, in its parts,
 * beside the SGEMM rates of the machine on the step's shapes (mupc.h,
 * "benchmark"). `mupc bench` prints it; so may any other front end. */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include "internal.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/* A synthetic global batch as a one-batch data set (inputs ~ U(-1, 1) from
 * a fixed seed, labels b mod C), and y its one-hot targets. */
static void synthetic(const mupc_net_params *p, mupc_dataset *d, float *y) {
  uint64_t s = 0x853C49E6748FEA9Bull;
  *d = (mupc_dataset){p->batch, p->input_dim, 1, p->input_dim, p->output_dim, d->x, d->labels};
  for (int i = 0; i < p->batch * p->input_dim; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    d->x[i] = (float)((double)(s >> 11) * 0x1.0p-52 - 1.0);
  }
  memset(y, 0, sizeof *y * (size_t)p->batch * p->output_dim);
  for (int b = 0; b < p->batch; b++) {
    d->labels[b] = b % p->output_dim;
    y[b * p->output_dim + b % p->output_dim] = 1.0f;
  }
}

/* One step's seconds, in the order of the result's medians. */
enum { T_STEP, T_FF, T_INFER, T_UPDATE, T_REDUCE, T_GEMM, T_KERNELS, T_WAIT, T_PARTS };

/* The library's step, timed around its gradient hook. Over several ranks
 * a trainer runs it with the caller's sum as its reduction, timed there;
 * on one rank the hook only marks the time. */
typedef struct stepper {
  mupc_ctx *ctx;
  mupc_net *net;
  mupc_trainer *tr;          /* over several ranks */
  const mupc_reduce *caller; /* their sums */
  const float *x, *y;
  double t_grads, t_reduced;
  uint64_t ff_flops; /* of the feedforwards timed on their own, not the steps' */
} stepper;

static int mark(mupc_net *net, void *arg) {
  stepper *s = arg;
  (void)net;
  const int rc = mupc_ctx_finish(s->ctx);
  s->t_grads = s->t_reduced = mupc__seconds();
  return rc;
}

/* A sum of one double first: no rank leaves it before every rank has
 * come, so the time after it is the transfer alone. */
static int timed_sum(float *v, size_t n, void *arg) {
  stepper *s = arg;
  double arrived = 0.0;
  int rc = s->caller->sum_doubles(&arrived, 1, s->caller->arg);
  s->t_grads = mupc__seconds();
  if (!rc) rc = s->caller->sum_floats(v, n, s->caller->arg);
  s->t_reduced = mupc__seconds();
  return rc;
}

static int caller_sum_doubles(double *v, size_t n, void *arg) {
  const stepper *s = arg;
  return s->caller->sum_doubles(v, n, s->caller->arg);
}

/* The feedforward first, alone (the step repeats it), then the step: the
 * inference and weight gradients up to the hook, the sum, the optimiser's
 * update after it. A step that diverges is timed all the same. */
static int timed_step(stepper *s, double t[T_PARTS]) {
  const uint64_t f0 = mupc_net_flop_count(s->net);
  const double t0 = mupc__seconds();
  int rc = mupc_net_load_batch(s->net, s->x, s->y);
  if (!rc) rc = mupc_net_feedforward(s->net, NULL);
  if (!rc) rc = mupc_ctx_finish(s->ctx);
  const double t1 = mupc__seconds();
  s->ff_flops += mupc_net_flop_count(s->net) - f0;
  mupc_train_metrics m;
  mupc__profile_begin(s->ctx);
  if (!rc) rc = s->tr ? mupc_trainer_step(s->tr, &m)
                      : mupc_net_train_step_hook(s->net, s->x, s->y, mark, s, NULL);
  if (rc == MUPC_ENONFINITE) rc = MUPC_OK;
  if (!rc) rc = mupc_ctx_finish(s->ctx);
  const double t2 = mupc__seconds();
  double busy[MUPC__PROF_KINDS];
  mupc__profile_end(s->ctx, busy);
  t[T_GEMM] = busy[MUPC__PROF_GEMM];
  t[T_KERNELS] = busy[MUPC__PROF_KERNEL];
  /* What neither computed: dispatch, joins, waiting for the queue, the
   * host's own work between enqueues. */
  t[T_WAIT] = t2 - t1 - t[T_GEMM] - t[T_KERNELS];
  t[T_STEP] = t2 - t1;
  t[T_FF] = t1 - t0;
  t[T_INFER] = s->t_grads - t1 - (t1 - t0);
  t[T_UPDATE] = t2 - s->t_reduced;
  t[T_REDUCE] = s->t_reduced - s->t_grads;
  return rc;
}

/* Medians of each part over the steps (t is steps × T_PARTS), and the
 * extremes of the whole steps. */
static void summarise(const double *t, int steps, double *col, mupc_bench_result *r) {
  double *const out[T_PARTS] = {&r->step_median, &r->feedforward_median, &r->inference_median,
                                &r->update_median, &r->reduce_median, &r->gemm_median,
                                &r->kernels_median, &r->wait_median};
  for (int k = 0; k < T_PARTS; k++) {
    for (int i = 0; i < steps; i++) col[i] = t[i * T_PARTS + k];
    *out[k] = mupc__median(col, (size_t)steps);
  }
  r->step_min = r->step_max = t[T_STEP];
  for (int i = 0; i < steps; i++) {
    const double v = t[i * T_PARTS + T_STEP];
    r->step_min = v < r->step_min ? v : r->step_min;
    r->step_max = v > r->step_max ? v : r->step_max;
  }
}

/* ---- OpenCL calls per step ----
 * Where the call counter (tools/clcount.c) is preloaded, its reader is
 * found by name; the library neither links nor needs it. */
typedef int (*clcount_read)(int i, const char **name, uint64_t *calls, uint64_t *ns,
                            uint64_t *wait_ns);

static clcount_read counter(void) {
  void *sym = dlsym(RTLD_DEFAULT, "mupc_clcount_read");
  clcount_read f = NULL;
  if (sym) memcpy(&f, &sym, sizeof f); /* a function's address, as dlsym returns it */
  return f;
}

typedef struct api_totals {
  uint64_t calls[MUPC_BENCH_API_MAX];
  uint64_t ns, wait_ns;
} api_totals;

static void api_read(clcount_read f, api_totals *t, const char **names, int *n) {
  memset(t, 0, sizeof *t);
  uint64_t c, ns, w;
  const char *name;
  for (*n = 0; *n < MUPC_BENCH_API_MAX && f(*n, &name, &c, &ns, &w); (*n)++) {
    names[*n] = name;
    t->calls[*n] = c;
    t->ns += ns;
    t->wait_ns += w;
  }
}

/* The calls of `steps` plain steps (one rank's step, as the CLI trains),
 * per step, into r: every function the steps called. */
static int count_api(stepper *s, int steps, mupc_bench_result *r) {
  const clcount_read f = counter();
  if (!f || s->tr) return MUPC_OK;
  api_totals t0, t1;
  const char *names[MUPC_BENCH_API_MAX];
  int n;
  int rc = mupc_ctx_finish(s->ctx);
  api_read(f, &t0, names, &n);
  for (int i = 0; i < steps && !rc; i++) {
    rc = mupc_net_train_step(s->net, s->x, s->y, NULL);
    if (rc == MUPC_ENONFINITE) rc = MUPC_OK;
  }
  if (!rc) rc = mupc_ctx_finish(s->ctx);
  api_read(f, &t1, names, &n);
  r->napi = 0;
  for (int i = 0; i < n; i++)
    if (t1.calls[i] > t0.calls[i])
      r->api[r->napi].name = names[i],
      r->api[r->napi++].calls = (double)(t1.calls[i] - t0.calls[i]) / steps;
  r->api_seconds = (double)(t1.ns - t0.ns) * 1e-9 / steps;
  r->api_wait_seconds = (double)(t1.wait_ns - t0.wait_ns) * 1e-9 / steps;
  return rc;
}

/* The warm-up, the timed steps and what they counted. */
static int measure(stepper *s, const mupc_net_params *local, int steps, int warmup, double *t,
                   double *col, mupc_bench_result *r) {
  double scratch[T_PARTS];
  int rc = MUPC_OK;
  for (int i = 0; i < warmup && !rc; i++) rc = timed_step(s, scratch);
  const uint64_t f0 = mupc_net_flop_count(s->net), ff0 = s->ff_flops;
  for (int i = 0; i < steps && !rc; i++) rc = timed_step(s, &t[i * T_PARTS]);
  if (rc) return rc;
  r->flops_executed = (double)(mupc_net_flop_count(s->net) - f0 - (s->ff_flops - ff0)) / steps;
  r->flops_dense = mupc_net_dense_flops_per_step(local);
  r->enqueues_per_inference_step = mupc_net_enqueues_per_inference_step(s->net);
  r->device_bytes = mupc_ctx_device_bytes(s->ctx);
  summarise(t, steps, col, r);
  rc = count_api(s, steps, r);
  if (!rc) rc = mupc_net_sgemm_rate(s->net, 5, &r->sgemm_gflops);
  /* On CPU devices the host BLAS is the machine's best GEMM: measured in
   * the same run, on the same shapes, so efficiency is against it too. */
  if (!rc && mupc_ctx_host_gemm_ok(s->ctx))
    rc = mupc_net_host_sgemm_rate(s->net, 5, &r->host_sgemm_gflops);
  r->gflops_dense = r->flops_dense / r->step_median * 1e-9;
  r->gflops_executed = r->flops_executed / r->step_median * 1e-9;
  const int host = r->host_sgemm_gflops > r->sgemm_gflops;
  r->best_gemm_gflops = host ? r->host_sgemm_gflops : r->sgemm_gflops;
  r->best_gemm = host ? "host" : "clblast";
  return rc;
}

/* Every rank's median step into all (ranks of them): each rank fills its
 * own slot and the sum gathers them. The slowest sets the job's pace. */
static int gather(const mupc_reduce *reduce, int ranks, int batch, double *all,
                  mupc_bench_result *r) {
  all[ranks > 1 ? reduce->rank : 0] = r->step_median;
  const int rc = ranks > 1 ? reduce->sum_doubles(all, (size_t)ranks, reduce->arg) : MUPC_OK;
  double slowest = 0.0;
  for (int k = 0; k < ranks; k++) slowest = all[k] > slowest ? all[k] : slowest;
  r->samples_per_second = slowest > 0.0 ? batch / slowest : 0.0;
  return rc;
}

int mupc_bench(mupc_ctx *ctx, const mupc_net_params *p, int steps, int warmup,
               const mupc_reduce *reduce, double *rank_medians, mupc_bench_result *out) {
  if (!ctx || !p || !out) return mupc__fail(MUPC_EINVAL, "mupc_bench: ctx, p and out are required");
  if (steps < 1 || warmup < 0)
    return mupc__fail(MUPC_EINVAL, "mupc_bench: expected steps >= 1 and warmup >= 0, got %d and %d",
                      steps, warmup);
  int rc = mupc_net_params_check(p);
  if (rc) return rc;
  const int ranks = reduce && reduce->ranks > 1 ? reduce->ranks : 1;
  if (p->batch % ranks)
    return mupc__fail(MUPC_EINVAL, "mupc_bench: the batch %d does not split evenly over %d ranks",
                      p->batch, ranks);
  const mupc_net_params local = mupc_net_shard_params(p, ranks);
  mupc_bench_result r = {.steps = steps};
  double *t = calloc((size_t)steps * T_PARTS, sizeof *t), *col = calloc((size_t)steps, sizeof *col);
  double *medians = calloc((size_t)ranks, sizeof *medians);
  mupc_dataset data = {.x = malloc(sizeof(float) * (size_t)p->batch * p->input_dim),
                       .labels = malloc(sizeof(int32_t) * (size_t)p->batch)};
  float *y = malloc(sizeof *y * (size_t)p->batch * p->output_dim);
  stepper s = {.ctx = ctx, .caller = reduce, .x = data.x, .y = y};
  const mupc_reduce timed = {ranks > 1 ? reduce->rank : 0, ranks, timed_sum, caller_sum_doubles,
                             &s};
  mupc_train_opts o = mupc_train_default_opts();
  o.shuffle = o.eval_every = 0;
  rc = t && col && medians && data.x && data.labels && y
           ? MUPC_OK
           : mupc__fail(MUPC_ENOMEM, "mupc_bench: out of memory");
  if (!rc) synthetic(p, &data, y);
  if (!rc) rc = mupc_net_init(&s.net, ctx, &local);
  if (!rc && ranks > 1) rc = mupc_trainer_init(&s.tr, s.net, &data, NULL, &o);
  if (!rc && ranks > 1) rc = mupc_trainer_set_reduce(s.tr, &timed);
  if (!rc) rc = measure(&s, &local, steps, warmup, t, col, &r);
  if (!rc) rc = gather(reduce, ranks, p->batch, medians, &r);
  if (!rc && rank_medians) memcpy(rank_medians, medians, (size_t)ranks * sizeof *medians);
  if (!rc) *out = r;
  mupc_trainer_free(s.tr);
  mupc_net_free(s.net);
  free(t);
  free(col);
  free(medians);
  free(data.x);
  free(data.labels);
  free(y);
  return rc;
}
