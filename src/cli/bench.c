/* mupc bench: time the training step on synthetic batches and compare the
 * achieved GEMM rate with the device's own SGEMM rate on the same shapes. */
#include "cli.h"
#include "dist.h"
#include "netflags.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "bench"
#define ROWS (CLI_ROWS_NET | CLI_ROWS_DIMS)

enum { O_STEPS = 1, O_WARMUP, O_JSON, O_DEVICE, O_GEMM, O_HELP };
static const struct option own[] = {
    {"steps", required_argument, NULL, O_STEPS}, {"warmup", required_argument, NULL, O_WARMUP},
    {"json", no_argument, NULL, O_JSON},         {"device", required_argument, NULL, O_DEVICE},
    {"gemm", required_argument, NULL, O_GEMM},   {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0}};

static void help(void) {
  printf("usage: mupc bench [model and optimisation flags] [--steps S] [--warmup W] [--json]\n"
         "                  [--device SPEC] [--gemm auto|clblast|host]\n\n"
         "Times training steps on synthetic batches of the configured shape (fixed seed, no\n"
         "dataset needed) and reports the median, min and max seconds per step, the split\n"
         "between feedforward (timed on its own), inference with the weight gradients, and\n"
         "the weight update, FLOPs per step (dense as in DESIGN §5, and as executed with\n"
         "the wavefront), GFLOP/s, the GEMM provider the step used, SGEMM rates on the\n"
         "step's GEMM shapes (CLBlast on the device, and on CPU devices the host BLAS), the\n"
         "step's dense rate over each (efficiency, and efficiency against the best of them),\n"
         "enqueues per inference step and device memory. Efficiency is the dense GFLOP/s\n"
         "over an SGEMM GFLOP/s: it exceeds 1 when the wavefront skips work that the dense\n"
         "count includes (the executed GFLOP/s over the SGEMM rate is the like-for-like\n"
         "ratio).\n\n"
         "  --steps S        timed steps after the warm-up (default 10)\n"
         "  --warmup W       untimed steps first; kernels compile here (default 2)\n"
         "  --json           one JSON object instead of the text report\n"
         "  --device SPEC    OpenCL device (see 'mupc devices'; default MUPC_DEVICE, then\n"
         "                   the first GPU, then the first CPU)\n" CLI_GEMM_HELP "\n");
  cli_params_help(stdout, ROWS);
}

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

typedef struct timing {
  double v[5]; /* the step, its feedforward, inference, update and all-reduce */
} timing;

/* The library's step, timed around its gradient hook. Under mpirun a
 * trainer runs it with the ranks' all-reduce as its sum, timed there after
 * a barrier (the wait for a slower rank is not the all-reduce's); on one
 * rank the hook only marks the time. */
typedef struct stepper {
  mupc_ctx *ctx;
  mupc_net *net;
  mupc_trainer *tr; /* under mpirun */
  const float *x, *y;
  double t_grads, t_reduced;
  uint64_t ff_flops; /* of the feedforwards timed on their own, not the steps' */
} stepper;

static int mark(mupc_net *net, void *arg) {
  stepper *s = arg;
  (void)net;
  const int rc = mupc_ctx_finish(s->ctx);
  s->t_grads = s->t_reduced = cli_seconds();
  return rc;
}

static int timed_sum(float *v, size_t n, void *arg) {
  stepper *s = arg;
  dist_barrier();
  s->t_grads = cli_seconds();
  const int rc = dist_sum_floats(v, n, NULL);
  s->t_reduced = cli_seconds();
  return rc;
}

/* The feedforward first, alone (the step repeats it), then the step: the
 * inference and weight gradients up to the hook, the all-reduce, the
 * optimiser's update after it. A step that diverges is timed all the same. */
static int timed_step(stepper *s, timing *t) {
  const uint64_t f0 = mupc_net_flop_count(s->net);
  const double t0 = cli_seconds();
  int rc = mupc_net_load_batch(s->net, s->x, s->y);
  if (!rc) rc = mupc_net_feedforward(s->net, NULL);
  if (!rc) rc = mupc_ctx_finish(s->ctx);
  const double t1 = cli_seconds();
  s->ff_flops += mupc_net_flop_count(s->net) - f0;
  mupc_train_metrics m;
  if (!rc) rc = s->tr ? mupc_trainer_step(s->tr, &m)
                      : mupc_net_train_step_hook(s->net, s->x, s->y, mark, s, NULL);
  if (rc == MUPC_ENONFINITE) rc = MUPC_OK;
  if (!rc) rc = mupc_ctx_finish(s->ctx);
  const double t2 = cli_seconds();
  *t = (timing){{t2 - t1, t1 - t0, s->t_grads - t1 - (t1 - t0), t2 - s->t_reduced,
                 s->t_reduced - s->t_grads}};
  return rc;
}

typedef struct report {
  double med, min, max, ff, infer, update, reduce;
  int ranks, batch, steps; /* MPI ranks, global batch, timed steps */
  double *rank_med;        /* (ranks) each rank's median step, rank 0 only */
  double flops_dense, flops_exec, sgemm;
  double host_sgemm; /* the host BLAS on the same shapes; 0 where it cannot run */
  int enqueues;
  uint64_t bytes;
} report;

/* Total throughput under mpirun. A step ends for every rank at the
 * all-reduce, so the job runs at the slowest rank's pace. */
static double total_rate(const report *r) {
  double slowest = 0.0;
  for (int k = 0; k < r->ranks; k++) slowest = r->rank_med[k] > slowest ? r->rank_med[k] : slowest;
  return slowest > 0.0 ? r->batch / slowest : 0.0;
}

/* The fastest GEMM the machine offers on the step's shapes. */
static double best_gemm(const report *r) {
  return r->host_sgemm > r->sgemm ? r->host_sgemm : r->sgemm;
}
static const char *best_gemm_name(const report *r) {
  return r->host_sgemm > r->sgemm ? "host" : "clblast";
}

static void print_text(const mupc_ctx *ctx, const mupc_net_params *p, const report *r) {
  const mupc_device_info *d = mupc_ctx_device(ctx);
  const double dense = r->flops_dense / r->med * 1e-9, exec = r->flops_exec / r->med * 1e-9;
  char mem[32], gemm[320];
  cli_format_bytes(r->bytes, mem, sizeof mem);
  cli_gemm_describe(ctx, gemm, sizeof gemm);
  printf("device      %d:%d %s / %s (%s)%s\n", d->platform_index, d->device_index, d->platform,
         d->name, d->driver_version, mupc_ctx_tuned(ctx) ? ", tuned GEMM" : "");
  printf("config      L=%d N=%d B=%d T=%d D=%d C=%d %s %s %s%s\n", p->depth, p->width, p->batch,
         p->infer_steps, p->input_dim, p->output_dim, mupc_algo_name(p->algo),
         mupc_param_name(p->param), mupc_act_name(p->act), p->wavefront ? " wavefront" : "");
  printf("step        median %.4f s  min %.4f s  max %.4f s  (%d steps)\n", r->med, r->min, r->max,
         r->steps);
  printf("split       feedforward %.4f s  inference %.4f s  weight update %.4f s (medians)\n",
         r->ff, r->infer, r->update);
  printf("flops       dense %.3g  executed %.3g per step\n", r->flops_dense, r->flops_exec);
  printf("rate        %.2f GFLOP/s dense, %.2f GFLOP/s executed\n", dense, exec);
  printf("gemm        %s\n", gemm);
  if (r->host_sgemm > 0)
    printf("sgemm       %.2f GFLOP/s CLBlast, %.2f GFLOP/s host BLAS, on the step's shapes\n"
           "efficiency  %.2f against CLBlast, %.2f against the best GEMM (%s)\n",
           r->sgemm, r->host_sgemm, dense / r->sgemm, dense / best_gemm(r), best_gemm_name(r));
  else
    printf("sgemm       %.2f GFLOP/s CLBlast on the step's shapes\n"
           "efficiency  %.2f against CLBlast, the best GEMM here\n",
           r->sgemm, dense / r->sgemm);
  /* A ratio above 1 reads like a step faster than the device; say why not. */
  printf("            (dense GFLOP/s / SGEMM GFLOP/s; executed / SGEMM %.2f. Above 1 when the\n"
         "            wavefront skips work the dense count includes; executed / SGEMM is the\n"
         "            like-for-like ratio)\n"
         "enqueues    %d per inference step\nmemory      %s on the device\n",
         exec / best_gemm(r), r->enqueues, mem);
  if (r->ranks == 1) return;
  const int b = r->batch / r->ranks;
  printf("mpi         %d ranks, %d of the global batch %d each (the rows above are rank 0's)\n",
         r->ranks, b, r->batch);
  for (int k = 0; k < r->ranks; k++)
    printf("  rank %-4d %.1f samples/s (median step %.4f s)\n", k, b / r->rank_med[k],
           r->rank_med[k]);
  printf("total       %.1f samples/s\n"
         "allreduce   %.4f s per step (rank 0's median, after a barrier: the transfer and\n"
         "            the device round trip of the gradients), %.1f%% of the step\n",
         total_rate(r), r->reduce, 100.0 * r->reduce / r->med);
}

/* The network's parameters under their checkpoint keys, from the library's
 * table: numbers as numbers, switches as booleans, choices by name. */
static json_object *config_json(const mupc_net_params *p) {
  json_object *cfg = json_object_new_object();
  char v[64];
  for (size_t i = 0; i < mupc_params_count(); i++) {
    const mupc_param_info *row = mupc_params_info(i);
    if (row->scope != MUPC_PSCOPE_NET || !row->key || (row->flags & MUPC_PFLAG_INTERNAL) ||
        mupc_params_get(p, row->name, v, sizeof v))
      continue;
    const mupc_ptype t = row->type;
    json_object_object_add(cfg, row->key,
                           t == MUPC_PTYPE_BOOL    ? json_object_new_boolean(strcmp(v, "0") != 0)
                           : t == MUPC_PTYPE_FLOAT ? cli_json_float(strtof(v, NULL))
                           : t == MUPC_PTYPE_U64   ? json_object_new_uint64(strtoull(v, NULL, 10))
                           : t == MUPC_PTYPE_ENUM  ? json_object_new_string(v)
                                                   : json_object_new_int64(strtoll(v, NULL, 10)));
  }
  return cfg;
}

static void print_json(const mupc_ctx *ctx, const mupc_net_params *p, const report *r) {
  const mupc_device_info *d = mupc_ctx_device(ctx);
  const double dense = r->flops_dense / r->med * 1e-9;
  const int host = mupc_ctx_host_gemm_ok(ctx);
  char blas[256], index[32];
  mupc_host_blas_describe(blas, sizeof blas);
  snprintf(index, sizeof index, "%d:%d", d->platform_index, d->device_index);
  const struct {
    const char *key;
    double v;
  } nums[] = {{"seconds_per_step_median", r->med}, {"seconds_per_step_min", r->min},
              {"seconds_per_step_max", r->max},   {"seconds_feedforward_median", r->ff},
              {"seconds_inference_median", r->infer}, {"seconds_update_median", r->update},
              {"flops_dense_per_step", r->flops_dense}, {"flops_executed_per_step", r->flops_exec},
              {"gflops_dense", dense}, {"gflops_executed", r->flops_exec / r->med * 1e-9},
              {"device_sgemm_gflops", r->sgemm}, {"efficiency", dense / r->sgemm},
              {"best_gemm_gflops", best_gemm(r)},
              {"efficiency_vs_best_gemm", dense / best_gemm(r)}};
  json_object *o = json_object_new_object(), *dev = json_object_new_object();
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
    json_object_object_add(o, nums[i].key, cli_json_double(nums[i].v));
  const char *provider = mupc_gemm_name(mupc_ctx_gemm(ctx));
  json_object_object_add(o, "gemm_provider", json_object_new_string(provider));
  json_object_object_add(o, "host_blas", host ? json_object_new_string(blas) : NULL);
  json_object_object_add(o, "host_gemm_dispatch",
                         host ? json_object_new_string(mupc_ctx_host_gemm_dispatch(ctx)) : NULL);
  json_object_object_add(o, "host_sgemm_gflops",
                         r->host_sgemm > 0 ? json_object_new_double(r->host_sgemm) : NULL);
  json_object_object_add(o, "best_gemm", json_object_new_string(best_gemm_name(r)));
  json_object_object_add(o, "enqueues_per_inference_step", json_object_new_int64(r->enqueues));
  json_object_object_add(o, "device_bytes", json_object_new_int64((int64_t)r->bytes));
  json_object_object_add(o, "steps", json_object_new_int64(r->steps));
  json_object_object_add(o, "config", config_json(p));
  json_object_object_add(dev, "index", json_object_new_string(index));
  json_object_object_add(dev, "platform", json_object_new_string(d->platform));
  json_object_object_add(dev, "device", json_object_new_string(d->name));
  json_object_object_add(dev, "driver", json_object_new_string(d->driver_version));
  json_object_object_add(dev, "tuned", json_object_new_boolean(mupc_ctx_tuned(ctx)));
  json_object_object_add(o, "device", dev);
  if (r->ranks > 1) {
    json_object *mpi = json_object_new_object(), *per = json_object_new_array();
    for (int k = 0; k < r->ranks; k++)
      json_object_array_add(per, cli_json_double(r->batch / r->ranks / r->rank_med[k]));
    json_object_object_add(mpi, "ranks", json_object_new_int64(r->ranks));
    json_object_object_add(mpi, "samples_per_second_per_rank", per);
    json_object_object_add(mpi, "samples_per_second", cli_json_double(total_rate(r)));
    json_object_object_add(mpi, "seconds_allreduce_median", cli_json_double(r->reduce));
    json_object_object_add(o, "mpi", mpi);
  }
  puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
  json_object_put(o);
}

/* Medians of each column of t and the extremes of the totals. */
static void summarise(const timing *t, int steps, double *col, report *r) {
  double *const out[5] = {&r->med, &r->ff, &r->infer, &r->update, &r->reduce};
  for (int k = 0; k < 5; k++) {
    for (int i = 0; i < steps; i++) col[i] = t[i].v[k];
    *out[k] = cli_median(col, steps);
  }
  r->min = r->max = t[0].v[0];
  for (int i = 0; i < steps; i++) {
    r->min = t[i].v[0] < r->min ? t[i].v[0] : r->min;
    r->max = t[i].v[0] > r->max ? t[i].v[0] : r->max;
  }
}

static int run(mupc_ctx *ctx, const mupc_net_params *global, int steps, int warmup, int json) {
  /* Under mpirun --batch is the global batch; each rank runs its share. */
  const int ranks = dist_size();
  const mupc_net_params p = mupc_net_shard_params(global, ranks);
  report r = {.ranks = ranks, .batch = global->batch, .steps = steps,
              .rank_med = calloc((size_t)ranks, sizeof(double))};
  timing *t = calloc((size_t)steps, sizeof *t);
  double *col = calloc((size_t)steps, sizeof *col);
  mupc_dataset data = {.x = malloc(sizeof(float) * (size_t)global->batch * global->input_dim),
                       .labels = malloc(sizeof(int32_t) * (size_t)global->batch)};
  float *y = malloc(sizeof *y * (size_t)global->batch * global->output_dim);
  stepper s = {.ctx = ctx, .x = data.x, .y = y};
  const mupc_reduce reduce = {dist_rank(), ranks, timed_sum, dist_sum_doubles, &s};
  mupc_train_opts o = mupc_train_default_opts();
  o.shuffle = o.eval_every = 0;
  timing scratch;
  int rc = (t && col && data.x && data.labels && y && r.rank_med) ? MUPC_OK : MUPC_ENOMEM;
  if (!rc) synthetic(global, &data, y);
  if (!rc) rc = mupc_net_init(&s.net, ctx, &p);
  if (!rc && ranks > 1) rc = mupc_trainer_init(&s.tr, s.net, &data, NULL, &o);
  if (!rc && ranks > 1) rc = mupc_trainer_set_reduce(s.tr, &reduce);
  for (int i = 0; i < warmup && !rc; i++) rc = timed_step(&s, &scratch);
  const uint64_t f0 = rc ? 0 : mupc_net_flop_count(s.net), ff0 = s.ff_flops;
  for (int i = 0; i < steps && !rc; i++) rc = timed_step(&s, &t[i]);
  if (!rc) {
    r.flops_exec = (double)(mupc_net_flop_count(s.net) - f0 - (s.ff_flops - ff0)) / steps;
    r.flops_dense = mupc_net_dense_flops_per_step(&p);
    r.enqueues = mupc_net_enqueues_per_inference_step(s.net);
    r.bytes = mupc_ctx_device_bytes(ctx);
    summarise(t, steps, col, &r);
    /* Each rank fills its own slot; the sum gathers them all. */
    r.rank_med[dist_rank()] = r.med;
    rc = dist_sum_doubles(r.rank_med, (size_t)ranks, NULL);
  }
  if (!rc) rc = mupc_net_sgemm_rate(s.net, 5, &r.sgemm);
  /* On CPU devices the host BLAS is the machine's best GEMM: measured in
   * the same run, on the same shapes, so efficiency is against it too. */
  if (!rc && mupc_ctx_host_gemm_ok(ctx)) rc = mupc_net_host_sgemm_rate(s.net, 5, &r.host_sgemm);
  if (!rc && dist_rank() == 0) (json ? print_json : print_text)(ctx, &p, &r);
  mupc_trainer_free(s.tr);
  mupc_net_free(s.net);
  free(r.rank_med);
  free(t);
  free(col);
  free(data.x);
  free(data.labels);
  free(y);
  return rc;
}

static int bench_main(int argc, char **argv) {
  mupc_net_params p = mupc_net_default_params();
  int steps = 10, warmup = 2, json = 0, opt, rc = 0, gemm = -1, want_help = 0;
  const char *spec = NULL;
  struct option *opts = cli_param_options(own, ROWS);
  if (!opts) return cli_error(CLI_EXIT_FAIL, CMD, "out of memory");
  /* Every rank parses the same flags; rank 0 alone complains. */
  dist_quiet_begin();
  while (!rc && !want_help && (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (cli_param_flag(CMD, opt, optarg, &p, NULL, &rc)) continue;
    switch (opt) {
    case O_STEPS: rc = cli_parse_int(CMD, "--steps", optarg, 1, 1000000, &steps); break;
    case O_WARMUP: rc = cli_parse_int(CMD, "--warmup", optarg, 0, 1000000, &warmup); break;
    case O_JSON: json = 1; break;
    case O_DEVICE: spec = optarg; break;
    case O_GEMM: rc = cli_parse_gemm(CMD, "--gemm", optarg, &gemm); break;
    case 'h':
    case O_HELP: want_help = 1; break;
    default: rc = cli_bad_flag(CMD, argc, argv, opts); break;
    }
  }
  free(opts);
  if (!rc && !want_help && optind < argc)
    rc = cli_error(CLI_EXIT_USAGE, CMD, "unexpected argument '%s'", argv[optind]);
  if (!rc && !want_help && mupc_net_params_check(&p))
    rc = cli_error(CLI_EXIT_USAGE, CMD, "%s", mupc_errmsg());
  if (!rc && !want_help && p.batch % dist_size())
    rc = cli_error(CLI_EXIT_USAGE, CMD,
                   "--batch: the global batch %d does not split evenly over %d MPI ranks",
                   p.batch, dist_size());
  dist_quiet_end();
  if (want_help && dist_rank() == 0) help();
  if (rc || want_help) return rc;
  mupc_ctx *ctx = NULL;
  /* One device per rank of a machine, among those --device matches. */
  rc = cli_ctx_init(CMD, spec, gemm, dist_size() > 1 ? dist_local_rank() : -1, &ctx);
  const int st = rc ? MUPC_OK : run(ctx, &p, steps, warmup, json);
  if (st) rc = cli_report(CMD, st, ctx);
  mupc_ctx_free(ctx);
  return rc;
}

/* Under mpirun every rank benchmarks its share; a rank that fails ends
 * the job rather than leave the others in the all-reduce. */
int cli_bench(int argc, char **argv) {
  dist_init();
  const int code = bench_main(argc, argv);
  if (code && code != CLI_EXIT_USAGE) dist_abort(code);
  dist_finalize();
  return code;
}
