/* mupc eval: test accuracy and loss of a model saved by `mupc train`. */
#include "cli.h"

#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD "eval"

static void help(void) {
  fputs("usage: mupc eval FILE [--data DIR] [--device SPEC] [--gemm P] [--batch B] [--json]\n"
        "       mupc eval --model FILE [flags]\n\n"
        "Builds the network a 'mupc train --save' checkpoint describes, predicts the\n"
        "whole test set feedforward and prints the accuracy (argmax) and the loss\n"
        "(1/2 mean ||y - yhat||^2 for mse, -mean log p(label) for ce).\n\n"
        "  FILE, --model FILE\n"
        "                 a safetensors checkpoint with mupc metadata (required)\n"
        "  --data DIR     directory with t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte\n"
        "                 (or .gz) [the data directory recorded in the checkpoint]\n"
        "  --device SPEC  P:D, cpu, gpu, or part of a platform/vendor/device name\n"
        "                 [MUPC_DEVICE, else the first GPU, else the first CPU]\n"
        "  --gemm P       GEMM provider: auto, clblast, host or kernels [MUPC_GEMM, else auto: the\n"
        "                 host BLAS on CPU devices, CLBlast elsewhere]\n"
        "  --batch B      samples per prediction pass [the checkpoint's batch]\n"
        "  --json         one JSON object instead of the line of text\n"
        "  -h, --help     this text\n",
        stdout);
}

typedef struct eval_opts {
  const char *model, *data, *device;
  int batch; /* 0: the checkpoint's */
  int gemm;  /* -1: not given */
  int json, help;
} eval_opts;

static int parse_args(int argc, char **argv, eval_opts *o) {
  enum { O_MODEL = 256, O_DATA, O_DEVICE, O_GEMM, O_BATCH, O_JSON };
  static const struct option options[] = {
      {"model", required_argument, NULL, O_MODEL}, {"data", required_argument, NULL, O_DATA},
      {"device", required_argument, NULL, O_DEVICE}, {"gemm", required_argument, NULL, O_GEMM},
      {"batch", required_argument, NULL, O_BATCH},   {"json", no_argument, NULL, O_JSON},
      {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0},
  };
  *o = (eval_opts){.gemm = -1};
  int id, code = CLI_EXIT_OK;
  while (!code && !o->help && (id = getopt_long(argc, argv, "h", options, NULL)) != -1) {
    switch (id) {
    case 'h': o->help = 1; break;
    case O_MODEL: o->model = optarg; break;
    case O_DATA: o->data = optarg; break;
    case O_DEVICE: o->device = optarg; break;
    case O_GEMM: code = cli_parse_gemm(CMD, "--gemm", optarg, &o->gemm); break;
    case O_BATCH: code = cli_parse_int(CMD, "--batch", optarg, 1, INT_MAX, &o->batch); break;
    case O_JSON: o->json = 1; break;
    default: code = cli_bad_flag(CMD, argc, argv, options); break;
    }
  }
  if (code || o->help) return code;
  /* The model may come as the one positional argument, mupc eval FILE. */
  if (optind < argc && !o->model)
    o->model = argv[optind++];
  else if (optind < argc && optind + 1 == argc)
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "two models, --model %s and '%s': give FILE or --model FILE, once", o->model,
                     argv[optind]);
  if (optind < argc)
    return cli_error(CLI_EXIT_USAGE, CMD, "unexpected argument '%s' (see 'mupc eval --help')",
                     argv[optind]);
  if (!o->model)
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "no model: give FILE or --model FILE (see 'mupc eval --help')");
  return CLI_EXIT_OK;
}

static void print_json(const eval_opts *o, const mupc_checkpoint *ck, const char *data,
                       const mupc_eval_result *ev) {
  json_object *j = json_object_new_object();
  json_object_object_add(j, "model", json_object_new_string(o->model));
  json_object_object_add(j, "data", json_object_new_string(data));
  json_object_object_add(j, "algo", json_object_new_string(mupc_algo_name(ck->p.algo)));
  json_object_object_add(j, "step", json_object_new_int64(ck->step));
  json_object_object_add(j, "samples", json_object_new_int(ev->count));
  json_object_object_add(j, "test_acc", cli_json_double(ev->acc));
  /* JSON has no NaN: a diverged model's loss is null. */
  json_object_object_add(j, "test_loss", cli_json_double(ev->loss));
  puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(j);
}

/* The checkpoint's test set (mupc_checkpoint_test_set), then its network
 * with its weights, scored on it. */
static int evaluate(const eval_opts *o, mupc_checkpoint *ck, const char *data,
                    mupc_eval_result *ev) {
  mupc_dataset test = {0};
  mupc_ctx *ctx = NULL;
  mupc_net *net = NULL;
  int st = mupc_checkpoint_test_set(ck, o->model, data, &test);
  int code = st ? cli_flag_error(CMD, "--data", st) : CLI_EXIT_OK;
  if (o->batch) ck->p.batch = o->batch;
  if (!code && !(code = cli_ctx_init(CMD, o->device, o->gemm, -1, &ctx)) &&
      !(st = mupc_net_init(&net, ctx, &ck->p)) && (st = mupc_net_load_weights(net, o->model)))
    code = cli_flag_error(CMD, "--model", st);
  if (!code && !st) st = mupc_evaluate(net, &test, ev);
  if (!code && st) code = cli_report(CMD, st, ctx);
  mupc_net_free(net);
  mupc_ctx_free(ctx);
  mupc_dataset_free(&test);
  return code;
}

int cli_eval(int argc, char **argv) {
  eval_opts o;
  int code = parse_args(argc, argv, &o);
  if (o.help) help();
  if (code || o.help) return code;
  mupc_checkpoint *ck = malloc(sizeof *ck);
  if (!ck) return cli_error(CLI_EXIT_FAIL, CMD, "out of host memory");
  /* The model file first: a bad one should fail before the device starts. */
  const int st = mupc_checkpoint_read(o.model, ck);
  const char *data = o.data ? o.data : ck->o.data_dir;
  mupc_eval_result ev;
  code = st ? cli_flag_error(CMD, "--model", st) : evaluate(&o, ck, data, &ev);
  if (!code && o.json)
    print_json(&o, ck, data, &ev);
  else if (!code)
    printf("test accuracy %.2f%% (loss %.4g) on %d samples; %s, step %lld\n", 100.0 * ev.acc,
           ev.loss, ev.count, o.model, (long long)ck->step);
  free(ck);
  return code;
}
