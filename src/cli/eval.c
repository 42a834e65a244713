/* mupc eval: test accuracy and loss of a model saved by `mupc train`. */
#include "checkpoint.h"
#include "cli.h"
#include "evaluate.h"

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
        "  --gemm P       GEMM provider: auto, clblast or host [MUPC_GEMM, else auto: the\n"
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
  static const struct option long_options[] = {
      {"model", required_argument, NULL, O_MODEL},
      {"data", required_argument, NULL, O_DATA},
      {"device", required_argument, NULL, O_DEVICE},
      {"gemm", required_argument, NULL, O_GEMM},
      {"batch", required_argument, NULL, O_BATCH},
      {"json", no_argument, NULL, O_JSON},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  o->gemm = -1;
  int id, code;
  while ((id = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
    switch (id) {
    case 'h':
      o->help = 1;
      return CLI_EXIT_OK;
    case O_MODEL:
      o->model = optarg;
      break;
    case O_DATA:
      o->data = optarg;
      break;
    case O_DEVICE:
      o->device = optarg;
      break;
    case O_GEMM:
      if ((code = cli_parse_gemm(CMD, "--gemm", optarg, &o->gemm))) return code;
      break;
    case O_BATCH:
      if ((code = cli_parse_int(CMD, "--batch", optarg, 1, INT_MAX, &o->batch))) return code;
      break;
    case O_JSON:
      o->json = 1;
      break;
    default:
      return cli_bad_flag(CMD, argc, argv, long_options);
    }
  }
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

static int print_json(const eval_opts *o, const ckpt_meta *m, const char *data,
                      const eval_result *ev) {
  json_object *j = json_object_new_object();
  if (!j) return cli_error(CLI_EXIT_FAIL, CMD, "out of memory");
  json_object_object_add(j, "model", json_object_new_string(o->model));
  json_object_object_add(j, "data", json_object_new_string(data));
  json_object_object_add(j, "algo", json_object_new_string(mupc_algo_name(m->p.algo)));
  json_object_object_add(j, "step", json_object_new_int64(m->step));
  json_object_object_add(j, "samples", json_object_new_int(ev->count));
  json_object_object_add(j, "test_acc", cli_json_double(ev->acc));
  /* JSON has no NaN: a diverged model's loss is null. */
  json_object_object_add(j, "test_loss", cli_json_double(ev->loss));
  puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(j);
  return CLI_EXIT_OK;
}

/* The network m describes, with the weights of f. */
static int build_model(const eval_opts *o, const mupc_st_file *f, mupc_ctx *ctx, ckpt_meta *m,
                       mupc_net **net) {
  if (o->batch) m->p.batch = o->batch;
  int st = mupc_net_init(net, ctx, &m->p);
  if (st != MUPC_OK) return cli_report(CMD, st, ctx);
  return ckpt_load_weights(CMD, "--model", o->model, f, *net);
}

int cli_eval(int argc, char **argv) {
  eval_opts o;
  int code = parse_args(argc, argv, &o);
  if (code || o.help) {
    if (o.help) help();
    return code;
  }
  ckpt_meta *m = calloc(1, sizeof *m);
  mupc_dataset test = {0};
  mupc_ctx *ctx = NULL;
  mupc_net *net = NULL;
  mupc_st_file f = {0};
  if (!m) return cli_error(CLI_EXIT_FAIL, CMD, "out of host memory");
  /* The model file first: a bad one should fail before the device starts. */
  code = ckpt_open(CMD, "--model", o.model, &f);
  if (!code) code = ckpt_read_meta(CMD, "--model", o.model, &f, m);
  if (code) goto ERROR;
  const char *data = o.data ? o.data : m->data_dir;
  /* The checkpoint's format, label, normalisation and class count. */
  mupc_data_opts dopts = m->data;
  dopts.classes = m->p.output_dim;
  code = data_load(CMD, "--data", data, 0, &dopts, &test);
  if (code) goto ERROR;
  if (test.dim != m->p.input_dim) {
    code = cli_error(CLI_EXIT_USAGE, CMD, "--data: %s has samples of %d values, %s expects %d",
                     data, test.dim, o.model, m->p.input_dim);
    goto ERROR;
  }
  int st = mupc_ctx_init(&ctx, o.device);
  if (st != MUPC_OK) {
    code = cli_report(CMD, st, ctx);
    goto ERROR;
  }
  if ((code = cli_set_gemm(CMD, "--gemm", ctx, o.gemm))) goto ERROR;
  if ((code = build_model(&o, &f, ctx, m, &net))) goto ERROR;
  eval_result ev;
  st = eval_dataset(net, &test, &ev);
  if (st != MUPC_OK) {
    code = st == MUPC_ENOMEM ? cli_error(CLI_EXIT_FAIL, CMD, "out of host memory")
                             : cli_report(CMD, st, ctx);
    goto ERROR;
  }
  if (o.json)
    code = print_json(&o, m, data, &ev);
  else
    printf("test accuracy %.2f%% (loss %.4g) on %d samples; %s, step %lld\n", 100.0 * ev.acc,
           ev.loss, ev.count, o.model, (long long)m->step);

ERROR:
  mupc_st_free(&f);
  mupc_net_free(net);
  mupc_ctx_free(ctx);
  mupc_dataset_free(&test);
  free(m);
  return code;
}
