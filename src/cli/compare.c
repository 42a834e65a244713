/* mupc compare: the identical training job on several OpenCL devices (same
 * seed, initial weights and batches), compared for speed and for numerical
 * agreement with the first device. */
#include "cli.h"
#include "netflags.h"

#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "compare"
#define MAX_DEVICES 32
#define ROWS (CLI_ROWS_NET | CLI_ROWS_TRAIN)

enum { O_DEVICES = 1, O_JSON, O_MARKDOWN, O_GEMM, O_HELP };

static const struct option own[] = {
    {"devices", required_argument, NULL, O_DEVICES}, {"json", no_argument, NULL, O_JSON},
    {"markdown", no_argument, NULL, O_MARKDOWN},     {"gemm", required_argument, NULL, O_GEMM},
    {"help", no_argument, NULL, O_HELP},             {NULL, 0, NULL, 0}};

typedef struct options {
  mupc_net_params p;
  mupc_train_opts o; /* the data, its order and the steps */
  char specs[MAX_DEVICES][128];
  int nspecs;
  int gemm[MAX_DEVICES]; /* -1: --gemm's (or the library's) choice */
  int default_gemm;      /* --gemm, -1 if not given */
  int json, markdown;
} options;

typedef struct row {
  char platform[128], device[128], driver[64], spec[128], gemm[16];
  mupc_run_record rec;
  double sec_median, gflops, train_loss, test_acc;
  double weight_diff, loss_diff; /* NAN where the run failed */
  char error[512];
} row;

static void help(void) {
  fputs("usage: mupc compare --devices all|SPEC[@P],SPEC[@P],... [train flags] [--steps S]\n"
        "                    [--gemm P] [--data DIR] [data flags] [--no-shuffle]\n"
        "                    [--json|--markdown]\n\n"
        "Runs the identical training job on each device in turn: same seed, same initial\n"
        "weights, same batches in the same order. One row per device: platform, device,\n"
        "driver, median seconds per step, GFLOP/s (dense count), final training loss, final\n"
        "test accuracy, and agreement with the first device: the largest relative\n"
        "difference of the final weights (max|a-b| / max|b| over every weight) and of the\n"
        "per-step loss curve. A device that fails gets its row with the error.\n\n"
        "  --devices LIST   'all' (every device of every platform) or comma-separated SPECs\n"
        "                   (P:D, cpu, gpu, or part of a platform/vendor/device name), each\n"
        "                   with @clblast, @host, @kernels or @auto to choose its GEMM provider: the\n"
        "                   same device may appear twice, e.g. pocl@clblast,pocl@host\n"
        "  --gemm P         GEMM provider of the SPECs without @ (default: MUPC_GEMM, else\n"
        "                   auto: the host BLAS on CPU devices, CLBlast elsewhere)\n"
        "  --json           {\"rows\": [...]}\n"
        "  --markdown       a markdown table\n"
        "The flags of 'mupc train' below set the job; here --steps is 20 unless given, and\n"
        "nothing is evaluated before the end or saved.\n\n",
        stdout);
  cli_params_help(stdout, ROWS);
}

static int parse_devices(const char *arg, options *o) {
  if (!strcmp(arg, "all")) {
    mupc_device_info *list;
    size_t n;
    int st = mupc_device_list(&list, &n);
    if (st) return cli_report(CMD, st, NULL);
    for (size_t i = 0; i < n && o->nspecs < MAX_DEVICES; i++)
      snprintf(o->specs[o->nspecs++], sizeof o->specs[0], "%d:%d", list[i].platform_index,
               list[i].device_index);
    free(list);
    return CLI_EXIT_OK;
  }
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", arg);
  for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    if (o->nspecs == MAX_DEVICES)
      return cli_error(CLI_EXIT_USAGE, CMD, "--devices: at most %d devices", MAX_DEVICES);
    char *at = strrchr(tok, '@');
    if (at) {
      *at = '\0';
      const int rc = cli_parse_gemm(CMD, "--devices: the provider after @", at + 1,
                                    &o->gemm[o->nspecs]);
      if (rc) return rc;
    }
    snprintf(o->specs[o->nspecs++], sizeof o->specs[0], "%s", tok);
  }
  if (o->nspecs == 0)
    return cli_error(CLI_EXIT_USAGE, CMD, "--devices: expected 'all' or SPEC[,SPEC...], got '%s'",
                     arg);
  return CLI_EXIT_OK;
}

static int parse_args(int argc, char **argv, options *o, int *want_help) {
  struct option *opts = cli_param_options(own, ROWS);
  if (!opts) return cli_error(CLI_EXIT_FAIL, CMD, "out of memory");
  int opt, rc = 0;
  while (!rc && (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (cli_param_flag(CMD, opt, optarg, &o->p, &o->o, &rc)) continue;
    switch (opt) {
    case O_DEVICES: rc = parse_devices(optarg, o); break;
    case O_JSON: o->json = 1; break;
    case O_MARKDOWN: o->markdown = 1; break;
    case O_GEMM: rc = cli_parse_gemm(CMD, "--gemm", optarg, &o->default_gemm); break;
    case 'h':
    case O_HELP: *want_help = 1; break;
    default: rc = cli_bad_flag(CMD, argc, argv, opts); break;
    }
  }
  free(opts);
  if (rc || *want_help) return rc;
  if (optind < argc)
    return cli_error(CLI_EXIT_USAGE, CMD, "unexpected argument '%s'", argv[optind]);
  if (o->nspecs == 0)
    return cli_error(CLI_EXIT_USAGE, CMD, "--devices: required ('all' or SPEC[,SPEC...])");
  if (o->json && o->markdown)
    return cli_error(CLI_EXIT_USAGE, CMD, "--json and --markdown: choose one");
  if (mupc_net_params_check(&o->p)) return cli_error(CLI_EXIT_USAGE, CMD, "%s", mupc_errmsg());
  return CLI_EXIT_OK;
}

/* The job on one device (mupc_run_record_make); a failure is recorded in
 * the row, not returned. */
static void run_device(const options *o, int gemm, const mupc_dataset *train,
                       const mupc_dataset *test, row *r) {
  mupc_ctx *ctx = NULL;
  int st = mupc_ctx_init(&ctx, r->spec);
  if (!st) {
    const mupc_device_info *d = mupc_ctx_device(ctx);
    snprintf(r->platform, sizeof r->platform, "%s", d->platform);
    snprintf(r->device, sizeof r->device, "%s", d->name);
    snprintf(r->driver, sizeof r->driver, "%s", d->driver_version);
    if (gemm >= 0) st = mupc_ctx_set_gemm(ctx, (mupc_gemm)gemm);
    snprintf(r->gemm, sizeof r->gemm, "%s", mupc_gemm_name(mupc_ctx_gemm(ctx)));
  }
  if (!st) st = mupc_run_record_make(ctx, &o->p, &o->o, train, test, &r->rec);
  if (st) {
    snprintf(r->error, sizeof r->error, "%s", *mupc_errmsg() ? mupc_errmsg() : mupc_strerror(st));
    if (st == MUPC_EBUILD && ctx) {
      size_t used = strlen(r->error);
      snprintf(r->error + used, sizeof r->error - used, ": %s", mupc_ctx_build_log(ctx));
    }
  } else {
    r->train_loss = r->rec.losses[r->rec.steps - 1];
    r->test_acc = r->rec.test.acc;
    r->sec_median = r->rec.seconds_median;
    r->gflops = mupc_net_dense_flops_per_step(&o->p) / r->sec_median * 1e-9;
  }
  mupc_ctx_free(ctx);
}

/* Every run that worked against the first that did. */
static void agreement(row *rows, int n) {
  const row *ref = NULL;
  for (int i = 0; i < n; i++) {
    rows[i].weight_diff = rows[i].loss_diff = NAN;
    if (rows[i].error[0]) continue;
    if (!ref) ref = &rows[i];
    /* The same plan and network: the records cannot differ in shape. */
    (void)mupc_run_record_diff(&rows[i].rec, &ref->rec, &rows[i].weight_diff,
                               &rows[i].loss_diff);
  }
}

static void print_json(const row *rows, int n) {
  json_object *root = json_object_new_object(), *arr = json_object_new_array();
  for (int i = 0; i < n; i++) {
    const row *r = &rows[i];
    const int ok = !r->error[0];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "spec", json_object_new_string(r->spec));
    json_object_object_add(o, "platform", json_object_new_string(r->platform));
    json_object_object_add(o, "device", json_object_new_string(r->device));
    json_object_object_add(o, "driver", json_object_new_string(r->driver));
    json_object_object_add(o, "gemm", r->gemm[0] ? json_object_new_string(r->gemm) : NULL);
    json_object_object_add(o, "seconds_per_step_median",
                           ok ? cli_json_double(r->sec_median) : NULL);
    json_object_object_add(o, "gflops_dense", ok ? cli_json_double(r->gflops) : NULL);
    /* The loss is a float from the device: its shortest form as a float. */
    json_object_object_add(o, "final_train_loss", ok ? cli_json_float((float)r->train_loss) : NULL);
    json_object_object_add(o, "final_test_acc", ok ? cli_json_double(r->test_acc) : NULL);
    json_object_object_add(o, "max_rel_weight_diff", cli_json_double(r->weight_diff));
    json_object_object_add(o, "max_rel_loss_diff", cli_json_double(r->loss_diff));
    json_object_object_add(o, "error", ok ? NULL : json_object_new_string(r->error));
    json_object_array_add(arr, o);
  }
  json_object_object_add(root, "rows", arr);
  puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
  json_object_put(root);
}

static void print_rows(const row *rows, int n, int markdown) {
  const char *sep = markdown ? " | " : "  ";
  if (markdown)
    puts("| platform | device | driver | GEMM | s/step (median) | GFLOP/s | final train loss "
         "| final test acc | max rel weight diff | max rel loss diff | error |\n"
         "|---|---|---|---|---|---|---|---|---|---|---|");
  for (int i = 0; i < n; i++) {
    const row *r = &rows[i];
    printf("%s%s%s%s%s%s%s%s", markdown ? "| " : "", r->platform[0] ? r->platform : r->spec, sep,
           r->device[0] ? r->device : "-", sep, r->driver[0] ? r->driver : "-", sep,
           r->gemm[0] ? r->gemm : "-");
    if (r->error[0])
      printf("%s-%s-%s-%s-%s-%s-%s%s%s\n", sep, sep, sep, sep, sep, sep, sep, r->error,
             markdown ? " |" : "");
    else
      printf("%s%.4f s%s%.2f%s%.6f%s%.2f%%%s%.2e%s%.2e%s-%s\n", sep, r->sec_median, sep, r->gflops,
             sep, r->train_loss, sep, 100 * r->test_acc, sep, r->weight_diff, sep, r->loss_diff,
             sep,
             markdown ? " |" : "");
  }
  if (!markdown)
    puts("(columns: platform, device, driver, GEMM provider, s/step, GFLOP/s, final train loss, "
         "test acc, max rel weight diff, max rel loss diff, error; diffs against the first device "
         "that ran)");
}

int cli_compare(int argc, char **argv) {
  options o;
  memset(&o, 0, sizeof o);
  o.p = mupc_net_default_params();
  o.o = mupc_train_default_opts();
  o.o.steps = 20;
  o.default_gemm = -1;
  for (int i = 0; i < MAX_DEVICES; i++) o.gemm[i] = -1;
  int want_help = 0;
  int rc = parse_args(argc, argv, &o, &want_help);
  if (rc || want_help) {
    if (want_help) help();
    return rc;
  }
  mupc_dataset train = {0}, test = {0};
  const int st = mupc_dataset_load_train_test(o.o.data_dir, &o.o.data, &train, &test);
  if (st) rc = cli_flag_error(CMD, "--data", st);
  if (!rc && train.count < o.p.batch)
    rc = cli_error(CLI_EXIT_USAGE, CMD, "--batch %d: larger than the %d training samples in %s",
                   o.p.batch, train.count, o.o.data_dir);
  o.p.input_dim = train.dim;
  o.p.output_dim = train.classes;
  row *rows = rc ? NULL : calloc((size_t)o.nspecs, sizeof *rows);
  if (!rc && !rows) rc = cli_error(CLI_EXIT_FAIL, CMD, "out of memory");
  int failed = 0;
  for (int i = 0; !rc && i < o.nspecs; i++) {
    snprintf(rows[i].spec, sizeof rows[i].spec, "%s", o.specs[i]);
    if (!o.json && !o.markdown) fprintf(stderr, "compare: running on %s ...\n", o.specs[i]);
    run_device(&o, o.gemm[i] >= 0 ? o.gemm[i] : o.default_gemm, &train, &test, &rows[i]);
    failed += rows[i].error[0] != 0;
  }
  if (!rc) {
    agreement(rows, o.nspecs);
    if (o.json)
      print_json(rows, o.nspecs);
    else
      print_rows(rows, o.nspecs, o.markdown);
    if (failed == o.nspecs) rc = CLI_EXIT_FAIL;
  }
  for (int i = 0; rows && i < o.nspecs; i++) mupc_run_record_free(&rows[i].rec);
  free(rows);
  mupc_dataset_free(&train);
  mupc_dataset_free(&test);
  return rc;
}
