/* mupc bench: time the training step on synthetic batches and compare the
 * achieved GEMM rate with the device's own SGEMM rate on the same shapes. */
#include "cli.h"
#include "dist.h"
#include "netflags.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>

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
         "                  [--device SPEC] [--gemm auto|clblast|host|kernels]\n\n"
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

/* The library's measurement (mupc_bench) and, under mpirun, every rank's
 * median step. */
typedef struct report {
  mupc_bench_result b;
  int ranks, batch; /* MPI ranks, global batch */
  double *rank_med; /* (ranks) each rank's median step */
} report;

static void print_text(const mupc_ctx *ctx, const mupc_net_params *p, const report *r) {
  const mupc_device_info *d = mupc_ctx_device(ctx);
  const mupc_bench_result *b = &r->b;
  const double med = b->step_median, sgemm = b->sgemm_gflops;
  const double dense = b->gflops_dense, exec = b->gflops_executed, best = b->best_gemm_gflops;
  char mem[32], gemm[320];
  cli_format_bytes(b->device_bytes, mem, sizeof mem);
  cli_gemm_describe(ctx, gemm, sizeof gemm);
  printf("device      %d:%d %s / %s (%s)%s\n", d->platform_index, d->device_index, d->platform,
         d->name, d->driver_version, mupc_ctx_tuned(ctx) ? ", tuned GEMM" : "");
  printf("config      L=%d N=%d B=%d T=%d D=%d C=%d %s %s %s%s\n", p->depth, p->width, p->batch,
         p->infer_steps, p->input_dim, p->output_dim, mupc_algo_name(p->algo),
         mupc_param_name(p->param), mupc_act_name(p->act), p->wavefront ? " wavefront" : "");
  printf("step        median %.4f s  min %.4f s  max %.4f s  (%d steps)\n", med, b->step_min,
         b->step_max, b->steps);
  printf("split       feedforward %.4f s  inference %.4f s  weight update %.4f s (medians)\n",
         b->feedforward_median, b->inference_median, b->update_median);
  printf("time in     GEMMs %.4f s  other kernels %.4f s  dispatch and waiting %.4f s (%.0f%%)\n",
         b->gemm_median, b->kernels_median, b->wait_median, 100.0 * b->wait_median / med);
  printf("flops       dense %.3g  executed %.3g per step\n", b->flops_dense, b->flops_executed);
  printf("rate        %.2f GFLOP/s dense, %.2f GFLOP/s executed\n", dense, exec);
  printf("gemm        %s\n", gemm);
  if (b->host_sgemm_gflops > 0)
    printf("sgemm       %.2f GFLOP/s CLBlast, %.2f GFLOP/s host BLAS, on the step's shapes\n"
           "efficiency  %.2f against CLBlast, %.2f against the best GEMM (%s)\n",
           sgemm, b->host_sgemm_gflops, dense / sgemm, dense / best, b->best_gemm);
  else
    printf("sgemm       %.2f GFLOP/s CLBlast on the step's shapes\n"
           "efficiency  %.2f against CLBlast, the best GEMM here\n",
           sgemm, dense / sgemm);
  /* A ratio above 1 reads like a step faster than the device; say why not. */
  printf("            (dense GFLOP/s / SGEMM GFLOP/s; executed / SGEMM %.2f. Above 1 when the\n"
         "            wavefront skips work the dense count includes; executed / SGEMM is the\n"
         "            like-for-like ratio)\n"
         "enqueues    %d per inference step\nmemory      %s on the device\n",
         exec / best, b->enqueues_per_inference_step, mem);
  if (b->napi > 0) {
    double total = 0.0;
    for (int i = 0; i < b->napi; i++) total += b->api[i].calls;
    printf("opencl      %.0f calls per step, %.2f ms of host time in them (%.2f ms more waiting):\n",
           total, 1e3 * b->api_seconds, 1e3 * b->api_wait_seconds);
    for (int i = 0; i < b->napi; i++) printf("              %-26s %.1f\n", b->api[i].name, b->api[i].calls);
  }
  if (r->ranks == 1) return;
  const int share = r->batch / r->ranks;
  printf("mpi         %d ranks, %d of the global batch %d each (the rows above are rank 0's)\n",
         r->ranks, share, r->batch);
  for (int k = 0; k < r->ranks; k++)
    printf("  rank %-4d %.1f samples/s (median step %.4f s)\n", k, share / r->rank_med[k],
           r->rank_med[k]);
  printf("total       %.1f samples/s\n"
         "allreduce   %.4f s per step (rank 0's median, after a barrier: the transfer and\n"
         "            the device round trip of the gradients), %.1f%% of the step\n",
         b->samples_per_second, b->reduce_median, 100.0 * b->reduce_median / med);
}

static void print_json(const mupc_ctx *ctx, const mupc_net_params *p, const report *r) {
  const mupc_device_info *d = mupc_ctx_device(ctx);
  const mupc_bench_result *b = &r->b;
  const double dense = b->gflops_dense, best = b->best_gemm_gflops;
  const int host = mupc_ctx_host_gemm_ok(ctx);
  char blas[256], index[32], config[MUPC_PARAMS_JSON_MAX];
  mupc_host_blas_describe(blas, sizeof blas);
  snprintf(index, sizeof index, "%d:%d", d->platform_index, d->device_index);
  const struct {
    const char *key;
    double v;
  } nums[] = {{"seconds_per_step_median", b->step_median},
              {"seconds_per_step_min", b->step_min},
              {"seconds_per_step_max", b->step_max},
              {"seconds_feedforward_median", b->feedforward_median},
              {"seconds_inference_median", b->inference_median},
              {"seconds_update_median", b->update_median},
              {"seconds_gemm_median", b->gemm_median},
              {"seconds_kernels_median", b->kernels_median},
              {"seconds_wait_median", b->wait_median},
              {"flops_dense_per_step", b->flops_dense},
              {"flops_executed_per_step", b->flops_executed},
              {"gflops_dense", dense},
              {"gflops_executed", b->gflops_executed},
              {"device_sgemm_gflops", b->sgemm_gflops},
              {"efficiency", dense / b->sgemm_gflops},
              {"best_gemm_gflops", best},
              {"efficiency_vs_best_gemm", dense / best}};
  json_object *o = json_object_new_object(), *dev = json_object_new_object();
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
    json_object_object_add(o, nums[i].key, cli_json_double(nums[i].v));
  const char *provider = mupc_gemm_name(mupc_ctx_gemm(ctx));
  json_object_object_add(o, "gemm_provider", json_object_new_string(provider));
  json_object_object_add(o, "host_blas", host ? json_object_new_string(blas) : NULL);
  json_object_object_add(o, "host_gemm_dispatch",
                         host ? json_object_new_string(mupc_ctx_host_gemm_dispatch(ctx)) : NULL);
  json_object_object_add(o, "host_sgemm_gflops",
                         b->host_sgemm_gflops > 0 ? json_object_new_double(b->host_sgemm_gflops)
                                                  : NULL);
  json_object_object_add(o, "best_gemm", json_object_new_string(b->best_gemm));
  json_object_object_add(o, "enqueues_per_inference_step",
                         json_object_new_int64(b->enqueues_per_inference_step));
  json_object_object_add(o, "device_bytes", json_object_new_int64((int64_t)b->device_bytes));
  json_object_object_add(o, "steps", json_object_new_int64(b->steps));
  /* json-c keeps the text of the numbers it parses: floats stay shortest. */
  json_object_object_add(o, "config", mupc_params_json(p, config, sizeof config)
                                          ? NULL
                                          : json_tokener_parse(config));
  json_object_object_add(dev, "index", json_object_new_string(index));
  json_object_object_add(dev, "platform", json_object_new_string(d->platform));
  json_object_object_add(dev, "device", json_object_new_string(d->name));
  json_object_object_add(dev, "driver", json_object_new_string(d->driver_version));
  json_object_object_add(dev, "tuned", json_object_new_boolean(mupc_ctx_tuned(ctx)));
  json_object_object_add(o, "device", dev);
  if (b->napi > 0) { /* only under the call counter (tools/clcount.c) */
    json_object *api = json_object_new_object();
    for (int i = 0; i < b->napi; i++)
      json_object_object_add(api, b->api[i].name, cli_json_double(b->api[i].calls));
    json_object_object_add(o, "api_calls_per_step", api);
    json_object_object_add(o, "api_seconds_per_step", cli_json_double(b->api_seconds));
    json_object_object_add(o, "api_wait_seconds_per_step", cli_json_double(b->api_wait_seconds));
  }
  if (r->ranks > 1) {
    json_object *mpi = json_object_new_object(), *per = json_object_new_array();
    for (int k = 0; k < r->ranks; k++)
      json_object_array_add(per, cli_json_double(r->batch / r->ranks / r->rank_med[k]));
    json_object_object_add(mpi, "ranks", json_object_new_int64(r->ranks));
    json_object_object_add(mpi, "samples_per_second_per_rank", per);
    json_object_object_add(mpi, "samples_per_second", cli_json_double(b->samples_per_second));
    json_object_object_add(mpi, "seconds_allreduce_median", cli_json_double(b->reduce_median));
    json_object_object_add(o, "mpi", mpi);
  }
  puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY));
  json_object_put(o);
}

static int run(mupc_ctx *ctx, const mupc_net_params *global, int steps, int warmup, int json) {
  /* Under mpirun --batch is the global batch; each rank runs its share. */
  const int ranks = dist_size();
  const mupc_net_params p = mupc_net_shard_params(global, ranks);
  const mupc_reduce reduce = dist_reduce();
  report r = {
      .ranks = ranks, .batch = global->batch, .rank_med = calloc((size_t)ranks, sizeof(double))};
  int rc = r.rank_med ? mupc_bench(ctx, global, steps, warmup, &reduce, r.rank_med, &r.b)
                      : MUPC_ENOMEM;
  if (!rc && dist_rank() == 0) (json ? print_json : print_text)(ctx, &p, &r);
  free(r.rank_med);
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
