/* mupc tune: search CLBlast's direct-GEMM parameters on a configuration's
 * shapes for this device and cache the best; later runs apply them. */
#include "cli.h"
#include "netflags.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#define CMD "tune"

enum { O_BUDGET = 1, O_DEVICE, O_QUIET, O_SHOW, O_HELP };

static const struct option own[] = {
    {"budget", required_argument, NULL, O_BUDGET}, {"device", required_argument, NULL, O_DEVICE},
    {"quiet", no_argument, NULL, O_QUIET},         {"show-cache", no_argument, NULL, O_SHOW},
    {"help", no_argument, NULL, O_HELP},           {NULL, 0, NULL, 0}};

static void help(void) {
  printf("usage: mupc tune [model flags] [--budget SECONDS] [--device SPEC] [--quiet]\n"
         "       mupc tune --show-cache\n\n"
         "Times CLBlast's direct GEMM kernel with a set of tile parameters on the GEMM\n"
         "shapes of the configured network (CLBlast's defaults first), keeps the fastest,\n"
         "and stores it for this device (platform, device, driver version) in the tuning\n"
         "cache. Every later mupc run on the device applies it (MUPC_NO_TUNE=1 disables).\n\n"
         "  --budget S       stop trying candidates after S seconds (default 180)\n"
         "  --device SPEC    OpenCL device (see 'mupc devices')\n"
         "  --quiet          only the result line\n"
         "  --show-cache     print the cache path and exit\n\n");
  cli_params_help(stdout, CLI_ROWS_NET | CLI_ROWS_DIMS);
}

static void progress(int i, int n, double gflops, void *arg) {
  if (*(const int *)arg) return;
  if (gflops > 0)
    fprintf(stderr, "candidate %d/%d: %.2f GFLOP/s\n", i + 1, n, gflops);
  else
    fprintf(stderr, "candidate %d/%d: did not build or run\n", i + 1, n);
}

int cli_tune(int argc, char **argv) {
  mupc_net_params p = mupc_net_default_params();
  float budget = 180.0f;
  int quiet = 0, show = 0, opt, rc = 0;
  const char *spec = NULL;
  struct option *opts = cli_param_options(own, CLI_ROWS_NET | CLI_ROWS_DIMS);
  if (!opts) return cli_error(CLI_EXIT_FAIL, CMD, "out of memory");
  const cli_range positive = {0, 1e7, 1, 0};
  while (!rc && (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (cli_param_flag(CMD, opt, optarg, &p, NULL, &rc)) continue;
    switch (opt) {
    case O_BUDGET: rc = cli_parse_float(CMD, "--budget", optarg, positive, &budget); break;
    case O_DEVICE: spec = optarg; break;
    case O_QUIET: quiet = 1; break;
    case O_SHOW: show = 1; break;
    case 'h':
    case O_HELP: show = -1; break;
    default: rc = cli_bad_flag(CMD, argc, argv, opts); break;
    }
  }
  free(opts);
  if (!rc && show < 0) help();
  if (rc || show < 0) return rc;
  if (optind < argc)
    return cli_error(CLI_EXIT_USAGE, CMD, "unexpected argument '%s'", argv[optind]);
  char path[512];
  if (show) {
    int st = mupc_tune_cache_path(path, sizeof path);
    if (st) return cli_report(CMD, st, NULL);
    puts(path);
    return CLI_EXIT_OK;
  }
  int st = mupc_net_params_check(&p);
  if (st) return cli_error(CLI_EXIT_USAGE, CMD, "%s", mupc_errmsg());
  mupc_ctx *ctx = NULL;
  if ((rc = cli_ctx_init(CMD, spec, -1, -1, &ctx))) return rc;
  mupc_tune_result r;
  st = mupc_tune(ctx, &p, budget, progress, &quiet, &r);
  if (st) {
    rc = cli_report(CMD, st, ctx);
  } else {
    const mupc_device_info *d = mupc_ctx_device(ctx);
    printf("%s / %s: %.2f -> %.2f GFLOP/s (x%.2f) after %d candidates; %s\n", d->platform,
           d->name, r.gflops_before, r.gflops_after, r.gflops_after / r.gflops_before,
           r.candidates_tried, r.params);
    if (!quiet && mupc_ctx_tuned(ctx)) printf("cached in %s\n", r.cache_path);
    else if (!quiet) printf("nothing cached; %s is unchanged\n", r.cache_path);
  }
  mupc_ctx_free(ctx);
  return rc;
}
