/* mupc train: trains a network on an IDX data set (Fashion-MNIST by
 * default), evaluates it on the test set, and saves safetensors
 * checkpoints that --resume continues bit-identically. */
#include "batches.h"
#include "checkpoint.h"
#include "cli.h"
#include "devpick.h"
#include "dist.h"
#include "dstep.h"
#include "evaluate.h"
#include "metrics.h"
#include "netflags.h"
#include "progress.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "train"

/* With no flags, `mupc train` must finish on a 2-core CPU under PoCL in
 * about 10 minutes. The jpc example network (the library's defaults) took
 * 0.27 s a step there with CLBlast's GEMMs and a test-set evaluation 2 s, so
 * 1500 steps with 15 evaluations were about 7.5 minutes (with the host BLAS,
 * under 3): room for a busy machine, and 1.6 epochs, which ends above the
 * 900-step figure (81.6 % against 80.4 %, seed 0, then). */
#define DEFAULT_STEPS 1500
#define DEFAULT_EVAL_EVERY 100

/* This command's own flags; the network and optimiser flags are the
 * shared ones of netflags.h. */
enum opt_id {
  O_FIRST = 256,
  O_DATA = O_FIRST,
  O_NORM,
  O_FORMAT,
  O_LABEL,
  O_CLASSES,
  O_EPOCHS,
  O_STEPS,
  O_NO_SHUFFLE,
  O_EVAL_EVERY,
  O_DEVICE,
  O_GEMM,
  O_METRICS,
  O_SAVE,
  O_SAVE_EVERY,
  O_INIT,
  O_RESUME,
  O_QUIET,
  O_END
};

static const struct option own_options[] = {
    {"data", required_argument, NULL, O_DATA},
    {"norm", required_argument, NULL, O_NORM},
    {"format", required_argument, NULL, O_FORMAT},
    {"label", required_argument, NULL, O_LABEL},
    {"classes", required_argument, NULL, O_CLASSES},
    {"epochs", required_argument, NULL, O_EPOCHS},
    {"steps", required_argument, NULL, O_STEPS},
    {"no-shuffle", no_argument, NULL, O_NO_SHUFFLE},
    {"eval-every", required_argument, NULL, O_EVAL_EVERY},
    {"device", required_argument, NULL, O_DEVICE},
    {"gemm", required_argument, NULL, O_GEMM},
    {"metrics", required_argument, NULL, O_METRICS},
    {"save", required_argument, NULL, O_SAVE},
    {"save-every", required_argument, NULL, O_SAVE_EVERY},
    {"init", required_argument, NULL, O_INIT},
    {"resume", required_argument, NULL, O_RESUME},
    {"quiet", no_argument, NULL, O_QUIET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct train_opts {
  mupc_net_params p;
  const char *data_dir;
  mupc_data_opts data;
  int shuffle;
  int epochs, steps; /* 0: not given */
  int eval_every, save_every;
  const char *device, *metrics, *save, *init, *resume;
  int gemm; /* -1: not given */
  int quiet, help;
  unsigned char given[O_END - O_FIRST];
} train_opts;

/* ---- help ---------------------------------------------------------------- */

static void help(void) {
  const mupc_net_params d = mupc_net_default_params();
  FILE *f = stdout;
  fputs("usage: mupc train [flags]\n\n"
        "Trains a μPC predictive-coding network (or its backprop baseline) on a data\n"
        "set (IDX, CIFAR-10/100 or safetensors), evaluates it on the test set and prints\n"
        "the final test accuracy.\n"
        "With no flags: the jpc example network on Fashion-MNIST, a few minutes on\n"
        "a 2-core CPU.\n\n",
        f);
  fprintf(f,
          "data:\n"
          "  --data DIR            a data set directory (default %s)\n" DATA_FLAGS_HELP
          "  --no-shuffle          batches in file order (default: a new order every epoch,\n"
          "                        from --seed); the last partial batch is always dropped\n",
          DATA_DEFAULT_DIR);
  cli_net_flags_help(f, &d);
  fprintf(f,
          "  --epochs E            train for E epochs, or\n"
          "  --steps S             for S steps in all, counting those before a --resume\n"
          "                        (default %d steps; with --resume, the checkpoint's plan)\n"
          "output:\n"
          "  --eval-every K        test-set evaluation every K steps, 0: only at the end\n"
          "                        (default %d)\n"
          "  --metrics FILE        JSON lines: one per step, then a \"final\" one (README)\n"
          "  --quiet               print only the final result\n"
          "  --device SPEC         P:D, cpu, gpu, or part of a platform/vendor/device name\n"
          "                        (default: MUPC_DEVICE, else the first GPU, else CPU)\n"
          "  --gemm P              GEMM provider: auto (the host BLAS on CPU devices, CLBlast\n"
          "                        elsewhere), clblast or host (default: MUPC_GEMM, else auto)\n",
          DEFAULT_STEPS, DEFAULT_EVAL_EVERY);
  fputs("checkpoints (safetensors):\n"
        "  --save FILE           write the model at the end (and with --save-every); a run\n"
        "                        stopped by SIGINT or SIGTERM writes it too\n"
        "  --save-every K        also write --save FILE every K steps\n"
        "  --init FILE           start from the layers.{i}.weight tensors of any\n"
        "                        safetensors file (shapes must match the flags)\n"
        "  --resume FILE         continue a run saved with --save: weights, optimiser\n"
        "                        state, step and data order; the network, optimiser and\n"
        "                        data flags come from FILE (a different value is an error)\n"
        "  -h, --help            this text\n\n"
        "Under mpirun (a build with MPI): data-parallel over the ranks, one device each;\n"
        "--batch is the global batch, a multiple of the rank count (README, \"Several\n"
        "devices and machines\").\n\n"
        "Exit status: 0 done, 1 failure, 2 bad flag, data or file, 3 diverged (NaN or\n"
        "inf; that step is not saved), 130/143 stopped by SIGINT/SIGTERM.\n",
        f);
}

/* ---- flags --------------------------------------------------------------- */

static const char *flag_name(int id) {
  for (const struct option *o = own_options; o->name; o++)
    if (o->val == id) return o->name;
  return "?";
}

/* One of this command's own flags into o. */
static int parse_flag(int id, const char *arg, train_opts *o) {
  char flag[32];
  snprintf(flag, sizeof flag, "--%s", flag_name(id));
  switch (id) {
  case O_DATA:
    o->data_dir = arg;
    break;
  case O_NORM:
    return data_parse_norm(CMD, arg, &o->data);
  case O_FORMAT:
    return data_parse_format(CMD, arg, &o->data);
  case O_LABEL:
    return data_parse_label(CMD, arg, &o->data);
  case O_CLASSES:
    return cli_parse_int(CMD, flag, arg, 1, INT32_MAX, &o->data.classes);
  case O_EPOCHS:
    return cli_parse_int(CMD, flag, arg, 1, INT_MAX, &o->epochs);
  case O_STEPS:
    return cli_parse_int(CMD, flag, arg, 1, INT_MAX, &o->steps);
  case O_NO_SHUFFLE:
    o->shuffle = 0;
    break;
  case O_EVAL_EVERY:
    return cli_parse_int(CMD, flag, arg, 0, INT_MAX, &o->eval_every);
  case O_DEVICE:
    o->device = arg;
    break;
  case O_GEMM:
    return cli_parse_gemm(CMD, flag, arg, &o->gemm);
  case O_METRICS:
    o->metrics = arg;
    break;
  case O_SAVE:
    o->save = arg;
    break;
  case O_SAVE_EVERY:
    return cli_parse_int(CMD, flag, arg, 1, INT_MAX, &o->save_every);
  case O_INIT:
    o->init = arg;
    break;
  case O_RESUME:
    o->resume = arg;
    break;
  case O_QUIET:
    o->quiet = 1;
    break;
  default:
    return CLI_EXIT_USAGE;
  }
  return CLI_EXIT_OK;
}

/* Flags that cannot go together. */
static int check_combinations(const train_opts *o) {
  if (o->given[O_EPOCHS - O_FIRST] && o->given[O_STEPS - O_FIRST])
    return cli_error(CLI_EXIT_USAGE, CMD, "--epochs and --steps: give one of them, not both");
  if (o->init && o->resume)
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--init and --resume: give one of them (--resume already loads the weights)");
  if (o->save_every && !o->save)
    return cli_error(CLI_EXIT_USAGE, CMD, "--save-every: needs --save FILE to know where to write");
  return CLI_EXIT_OK;
}

static int parse_args(int argc, char **argv, train_opts *o) {
  memset(o, 0, sizeof *o);
  o->p = mupc_net_default_params();
  o->data_dir = DATA_DEFAULT_DIR;
  o->data = data_default_opts();
  o->shuffle = 1;
  o->gemm = -1;
  o->eval_every = DEFAULT_EVAL_EVERY;
  struct option *all = cli_net_options(own_options);
  if (!all) return cli_error(CLI_EXIT_FAIL, CMD, "out of host memory");
  int id, code = CLI_EXIT_OK;
  while (!code && (id = getopt_long(argc, argv, "h", all, NULL)) != -1) {
    if (id == 'h') {
      o->help = 1;
      break;
    }
    if (cli_net_flag(CMD, id, optarg, &o->p, &code)) continue;
    if (id < O_FIRST || id >= O_END)
      code = cli_bad_flag(CMD, argc, argv, all);
    else {
      o->given[id - O_FIRST] = 1;
      code = parse_flag(id, optarg, o);
    }
  }
  free(all);
  if (code || o->help) return code;
  if (optind < argc)
    return cli_error(CLI_EXIT_USAGE, CMD, "unexpected argument '%s' (see 'mupc train --help')",
                     argv[optind]);
  return check_combinations(o);
}

/* With --resume the configuration is the checkpoint's; a flag that says
 * otherwise is a mistake the user should hear about. */
static int conflict(const char *flag, const char *path, const char *have) {
  return cli_error(CLI_EXIT_USAGE, CMD,
                   "--%s: conflicts with %s, which has %s; --resume takes the network, optimiser "
                   "and data flags from the checkpoint",
                   flag, path, have);
}

static int check_resume_data(const train_opts *o, const ckpt_meta *m);

static int check_resume_flags(const train_opts *o, const ckpt_meta *m) {
  const mupc_net_params *a = &o->p, *b = &m->p;
  char have[64];
#define DIFFERS(name, cond, ...)                                                                   \
  if (cli_net_flag_seen(name) && (cond)) {                                                         \
    snprintf(have, sizeof have, __VA_ARGS__);                                                      \
    return conflict(name, o->resume, have);                                                        \
  }
  DIFFERS("depth", a->depth != b->depth, "depth %d", b->depth)
  DIFFERS("width", a->width != b->width, "width %d", b->width)
  DIFFERS("act", a->act != b->act, "act %s", mupc_act_name(b->act))
  DIFFERS("param", a->param != b->param, "param %s", mupc_param_name(b->param))
  DIFFERS("no-skips", b->skips, "skips on")
  DIFFERS("loss", a->loss != b->loss, "loss %s", mupc_loss_name(b->loss))
  DIFFERS("algo", a->algo != b->algo, "algo %s", mupc_algo_name(b->algo))
  DIFFERS("batch", a->batch != b->batch, "batch %d", b->batch)
  DIFFERS("infer-steps", a->infer_steps != b->infer_steps, "infer-steps %d", b->infer_steps)
  DIFFERS("activity-lr", a->activity_lr != b->activity_lr, "activity-lr %g", (double)b->activity_lr)
  DIFFERS("activity-optim", a->activity_optim != b->activity_optim, "activity-optim %s",
          mupc_aoptim_name(b->activity_optim))
  DIFFERS("lr", a->lr != b->lr, "lr %g", (double)b->lr)
  DIFFERS("optim", a->optim != b->optim, "optim %s", mupc_optim_name(b->optim))
  DIFFERS("weight-decay", a->weight_decay != b->weight_decay, "weight-decay %g",
          (double)b->weight_decay)
  DIFFERS("seed", a->seed != b->seed, "seed %llu", (unsigned long long)b->seed)
  DIFFERS("no-wavefront", b->wavefront, "the wavefront on")
#undef DIFFERS
  return check_resume_data(o, m);
}

/* The data flags against the checkpoint's. */
static int check_resume_data(const train_opts *o, const ckpt_meta *m) {
  const mupc_data_opts *a = &o->data, *b = &m->data;
  char have[512], want[512];
  data_norm_text(a, want, sizeof want);
  data_norm_text(b, have + 5, sizeof have - 5);
  memcpy(have, "norm ", 5);
  if (o->given[O_NORM - O_FIRST] && strcmp(want, have + 5) != 0)
    return conflict("norm", o->resume, have);
  if (o->given[O_FORMAT - O_FIRST] && a->format != MUPC_DATA_AUTO && a->format != b->format) {
    snprintf(have, sizeof have, "format %s", mupc_data_format_name(b->format));
    return conflict("format", o->resume, have);
  }
  if (o->given[O_LABEL - O_FIRST] && a->coarse != b->coarse)
    return conflict("label", o->resume, b->coarse ? "label coarse" : "label fine");
  if (o->given[O_CLASSES - O_FIRST] && a->classes != m->p.output_dim) {
    snprintf(have, sizeof have, "%d classes", m->p.output_dim);
    return conflict("classes", o->resume, have);
  }
  if (o->given[O_NO_SHUFFLE - O_FIRST] && m->shuffle)
    return conflict("no-shuffle", o->resume, "shuffle on");
  return CLI_EXIT_OK;
}

/* ---- signals ------------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
  stop_signal = sig;
}

typedef struct saved_handlers {
  struct sigaction intr, term;
} saved_handlers;

/* SA_RESETHAND: a second Ctrl-C kills at once, for a user who will not wait
 * for the step to end (the checkpoint write is atomic either way). */
static void catch_signals(saved_handlers *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_RESETHAND;
  stop_signal = 0;
  sigaction(SIGINT, &sa, &old->intr);
  sigaction(SIGTERM, &sa, &old->term);
}

static void restore_signals(const saved_handlers *old) {
  sigaction(SIGINT, &old->intr, NULL);
  sigaction(SIGTERM, &old->term, NULL);
}

/* ---- the run ------------------------------------------------------------- */

typedef struct run {
  train_opts o;
  ckpt_meta m; /* the configuration and, as training goes, the position */
  char data_dir[CKPT_PATH_MAX];
  mupc_dataset train, test;
  mupc_ctx *ctx;
  mupc_net *net;
  batches b; /* the data order, shared with mupc compare */
  float *x, *y;
  int64_t per_epoch, total;
  int64_t saved_step; /* step of the last checkpoint written, -1 none */
  int ranks;          /* > 1 under mpirun: data-parallel (README) */
  int agreed;         /* the failure was decided on reduced values, so
                       * every rank returns it: no MPI_Abort needed */
  dstep ds;
  ckpt_snapshot pending;
  int has_pending;
  metrics mx;
  progress pg;
  double t0;
  double t_train;     /* when the first step of this run began */
  double t_trained;   /* when its last step ended */
  int64_t first_step; /* steps done before it (a resume) */
} run;

/* The configuration: from the flags, or from the --resume checkpoint. */
static int configure(run *r) {
  ckpt_meta *m = &r->m;
  if (r->o.resume) {
    mupc_st_file f = {0};
    int code = ckpt_open(CMD, "--resume", r->o.resume, &f);
    if (!code) code = ckpt_read_meta(CMD, "--resume", r->o.resume, &f, m);
    mupc_st_free(&f);
    if (!code) code = check_resume_flags(&r->o, m);
    if (code) return code;
    /* The data may have moved; --data says where it is now. */
    snprintf(r->data_dir, sizeof r->data_dir, "%s",
             r->o.given[O_DATA - O_FIRST] ? r->o.data_dir : m->data_dir);
    return CLI_EXIT_OK;
  }
  memset(m, 0, sizeof *m);
  m->p = r->o.p;
  m->shuffle = r->o.shuffle;
  m->data = r->o.data;
  m->norm_mean = m->data.mean[0];
  m->norm_std = m->data.std[0];
  snprintf(r->data_dir, sizeof r->data_dir, "%s", r->o.data_dir);
  return CLI_EXIT_OK;
}

/* Under mpirun every rank takes an equal shard of each global batch. */
static int check_ranks(run *r) {
  if (r->m.p.batch % r->ranks == 0) return CLI_EXIT_OK;
  r->agreed = 1; /* every rank sees it: they all return, rank 0 says why */
  if (dist_rank() != 0) return CLI_EXIT_USAGE;
  return cli_error(CLI_EXIT_USAGE, CMD,
                   "--batch: the global batch %d does not split evenly over %d MPI ranks; "
                   "give a multiple of %d",
                   r->m.p.batch, r->ranks, r->ranks);
}

static int load_data(run *r) {
  ckpt_meta *m = &r->m;
  /* The format is stored resolved, so eval and --resume read the same
   * files even if the directory gains others. */
  int code = data_resolve_format(CMD, "--data", r->data_dir, &m->data);
  if (code) return code;
  mupc_data_opts o = m->data;
  if (r->o.resume) o.classes = m->p.output_dim;
  code = data_load_both(CMD, "--data", r->data_dir, &o, &r->train, &r->test);
  if (code) return code;
  if (!r->o.resume) {
    m->p.input_dim = r->train.dim;
    m->p.output_dim = r->train.classes;
    m->train_count = r->train.count;
  } else if (m->p.input_dim != r->train.dim || m->train_count != r->train.count) {
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--data: %s has %d training samples of %d pixels, but %s was trained on "
                     "%lld of %d",
                     r->data_dir, r->train.count, r->train.dim, r->o.resume,
                     (long long)m->train_count, m->p.input_dim);
  }
  if (m->p.batch > r->train.count)
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--batch: %d is larger than the training set (%d samples in %s)", m->p.batch,
                     r->train.count, r->data_dir);
  /* Stored absolute, so that --resume and eval from another directory
   * find it. */
  char cwd[CKPT_PATH_MAX];
  int n;
  if (r->data_dir[0] != '/' && getcwd(cwd, sizeof cwd))
    n = snprintf(m->data_dir, sizeof m->data_dir, "%s/%s", cwd, r->data_dir);
  else
    n = snprintf(m->data_dir, sizeof m->data_dir, "%s", r->data_dir);
  if (n < 0 || (size_t)n >= sizeof m->data_dir)
    return cli_error(CLI_EXIT_USAGE, CMD, "--data: the path is longer than %d bytes",
                     CKPT_PATH_MAX - 1);
  return CLI_EXIT_OK;
}

/* Steps per epoch and the run's total. */
static int plan(run *r) {
  r->per_epoch = r->train.count / r->m.p.batch;
  if (r->o.steps)
    r->total = r->o.steps;
  else if (r->o.epochs)
    r->total = (int64_t)r->o.epochs * r->per_epoch;
  else if (r->o.resume)
    r->total = r->m.total_steps;
  else
    r->total = DEFAULT_STEPS;
  r->m.total_steps = r->total;
  if (r->o.resume && r->m.epoch * r->per_epoch + r->m.epoch_step != r->m.step)
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--resume: %s: step %lld is not epoch %lld + %lld batches of %lld",
                     r->o.resume, (long long)r->m.step, (long long)r->m.epoch,
                     (long long)r->m.epoch_step, (long long)r->per_epoch);
  return CLI_EXIT_OK;
}

static int build_net(run *r) {
  /* One device per rank of a machine, among those --device matches. */
  char spec[64];
  const char *device = r->o.device;
  if (r->ranks > 1) {
    devpick_spec(r->o.device, dist_local_rank(), spec, sizeof spec);
    device = spec;
  }
  int st = mupc_ctx_init(&r->ctx, device);
  if (st != MUPC_OK) return cli_report(CMD, st, r->ctx);
  const int bad = cli_set_gemm(CMD, "--gemm", r->ctx, r->o.gemm);
  if (bad) return bad;
  /* The checkpoint keeps the global parameters (r->m.p); the net runs the
   * rank's shard. */
  const mupc_net_params local = dstep_local_params(&r->m.p, r->ranks);
  st = mupc_net_init(&r->net, r->ctx, &local);
  if (st != MUPC_OK) return cli_report(CMD, st, r->ctx);
  if (r->ranks > 1 && (st = dstep_init(&r->ds, r->net)) != MUPC_OK)
    return cli_error(CLI_EXIT_FAIL, CMD, "out of host memory for the gradient all-reduce");
  const char *path = r->o.resume ? r->o.resume : r->o.init;
  const char *flag = r->o.resume ? "--resume" : "--init";
  if (!path) return CLI_EXIT_OK;
  mupc_st_file f = {0};
  int code = ckpt_open(CMD, flag, path, &f);
  if (!code) code = ckpt_load_weights(CMD, flag, path, &f, r->net);
  if (!code && r->o.resume) code = ckpt_load_optim(CMD, flag, path, &f, r->net, r->m.optim_t);
  mupc_st_free(&f);
  return code;
}

static int allocate(run *r) {
  int st = batches_init(&r->b, &r->train, r->m.p.batch, r->m.p.seed, r->m.p.rng, r->m.shuffle);
  if (st == MUPC_OK) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_FAIL, CMD, "out of host memory for the batches");
}

/* The position after `step` steps, as the checkpoint records it. */
static void set_position(run *r, int64_t step) {
  ckpt_meta *m = &r->m;
  m->step = step;
  m->epoch = step / r->per_epoch;
  m->epoch_step = step % r->per_epoch;
  m->optim_t = mupc_net_optim_step(r->net);
}

static int save(run *r, int64_t step) {
  if (dist_rank() != 0) return CLI_EXIT_OK; /* rank 0 writes */
  set_position(r, step);
  int code = ckpt_save(CMD, "--save", r->o.save, r->net, &r->m);
  if (!code) r->saved_step = step;
  return code;
}

/* --save-every: the weights after `step` are only known to be good when
 * the next step's feedforward loss, computed with them, is finite; until
 * then they wait on the host. */
static int hold_back(run *r, int64_t step) {
  if (dist_rank() != 0) return CLI_EXIT_OK;
  set_position(r, step);
  int code = ckpt_take(CMD, "--save", r->net, &r->m, &r->pending);
  r->has_pending = !code;
  return code;
}

static int write_pending(run *r) {
  if (!r->has_pending) return CLI_EXIT_OK;
  int code = ckpt_write(CMD, "--save", r->o.save, &r->pending);
  if (!code) r->saved_step = r->pending.meta.step;
  ckpt_release(&r->pending);
  r->has_pending = 0;
  return code;
}

/* Each rank predicts its contiguous share of the test set; the sums of
 * correct predictions and losses are added over the ranks. */
static int evaluate(run *r, eval_result *ev) {
  const int n = r->test.count, K = r->ranks, rank = dist_rank();
  const int first = (int)((int64_t)n * rank / K), last = (int)((int64_t)n * (rank + 1) / K);
  double sums[2];
  int st = eval_sums(r->net, &r->test, first, last - first, &sums[0], &sums[1]);
  if (st == MUPC_OK) st = dist_sum_doubles(sums, 2);
  if (st == MUPC_OK) {
    ev->count = n;
    ev->acc = n ? sums[0] / n : 0.0;
    ev->loss = n ? sums[1] / n : 0.0;
    return CLI_EXIT_OK;
  }
  progress_break(&r->pg);
  if (st == MUPC_ENOMEM)
    return cli_error(CLI_EXIT_FAIL, CMD, "out of host memory for the test-set predictions");
  return cli_report(CMD, st, r->ctx);
}

static int diverged(run *r, const char *where, const char *why) {
  char last[CKPT_PATH_MAX + 64] = "no checkpoint was written";
  if (r->saved_step >= 0)
    snprintf(last, sizeof last, "the last good checkpoint, %s, is from step %lld", r->o.save,
             (long long)r->saved_step);
  if (r->has_pending) ckpt_release(&r->pending);
  r->has_pending = 0;
  r->agreed = 1;
  if (dist_rank() != 0) return 3; /* rank 0 says it */
  return cli_error(3, CMD, "diverged %s: %s; the diverged weights are not saved (%s)", where, why,
                   last);
}

/* One step and what follows it: evaluation, metrics, progress, periodic
 * checkpoint. */
static int train_one(run *r, int64_t step /* 0-based */) {
  mupc_step_stats stats = {0};
  int st;
  if (r->ranks == 1) {
    batches_gather(&r->b, step);
    st = mupc_net_train_step(r->net, r->b.x, r->b.y, &stats);
  } else {
    const int b = r->m.p.batch / r->ranks;
    batches_gather_part(&r->b, step, dist_rank() * b, b);
    st = dstep_run(&r->ds, r->net, r->b.x, r->b.y, &stats);
    if (st == MUPC_ENONFINITE) {
      progress_break(&r->pg);
      metrics_step(&r->mx, CMD, step + 1, step / r->per_epoch + 1, &stats, cli_seconds() - r->t0, NULL);
      char where[48], why[96];
      snprintf(where, sizeof where, "at step %lld", (long long)(step + 1));
      snprintf(why, sizeof why, "training loss %g, energy %g (mean over %d ranks)",
               (double)stats.train_loss, (double)stats.energy, r->ranks);
      return diverged(r, where, why);
    }
  }
  const int64_t done = step + 1, epoch = step / r->per_epoch + 1;
  if (st == MUPC_ENONFINITE) {
    progress_break(&r->pg);
    /* The line shows where it went wrong; a write error cannot matter
     * more than the divergence. */
    metrics_step(&r->mx, CMD, done, epoch, &stats, cli_seconds() - r->t0, NULL);
    char where[48];
    snprintf(where, sizeof where, "at step %lld", (long long)done);
    return diverged(r, where, mupc_errmsg());
  }
  if (st != MUPC_OK) {
    progress_break(&r->pg);
    return cli_report(CMD, st, r->ctx);
  }
  int code = write_pending(r);
  if (code) {
    progress_break(&r->pg);
    return code;
  }
  eval_result ev;
  const int eval_now = r->o.eval_every && done % r->o.eval_every == 0 && done != r->total;
  if (eval_now) code = evaluate(r, &ev);
  if (!code)
    code = metrics_step(&r->mx, CMD, done, epoch, &stats, cli_seconds() - r->t0, eval_now ? &ev : NULL);
  if (code) return code;
  progress_update(&r->pg, done, stats.train_loss, eval_now ? &ev : NULL, cli_seconds());
  if (r->o.save_every && done % r->o.save_every == 0 && done != r->total) {
    code = hold_back(r, done);
    if (code) progress_break(&r->pg);
  }
  return code;
}

static int interrupted(run *r, int64_t step) {
  const int sig = (int)stop_signal;
  r->agreed = 1;
  progress_break(&r->pg);
  /* The state after `step` supersedes a checkpoint still held back. */
  if (r->has_pending) ckpt_release(&r->pending);
  r->has_pending = 0;
  int code = r->o.save ? save(r, step) : CLI_EXIT_OK;
  if (code) return code;
  if (dist_rank() != 0) return 128 + sig;
  char saved[CKPT_PATH_MAX + 32] = "no --save given, nothing written";
  if (r->o.save) snprintf(saved, sizeof saved, "checkpoint written to %s", r->o.save);
  cli_error(0, CMD, "stopped by %s after step %lld of %lld; %s",
            sig == SIGINT ? "SIGINT" : "SIGTERM", (long long)step, (long long)r->total, saved);
  return 128 + sig;
}

static void print_header(const run *r) {
  const mupc_net_params *p = &r->m.p;
  const mupc_device_info *dev = mupc_ctx_device(r->ctx);
  fprintf(stderr,
          "mupc train: %s on %s (%s); %d training, %d test samples from %s\n"
          "mupc train: depth %d, width %d, %s, %s%s, %s loss, batch %d, T %d, steps %lld to "
          "%lld (%lld per epoch)\n",
          mupc_algo_name(p->algo), dev->name, dev->platform, r->train.count, r->test.count,
          r->data_dir, p->depth, p->width, mupc_act_name(p->act), mupc_param_name(p->param),
          p->skips ? "" : " no skips", mupc_loss_name(p->loss), p->batch, p->infer_steps,
          (long long)r->m.step, (long long)r->total, (long long)r->per_epoch);
  if (r->ranks > 1)
    fprintf(stderr, "mupc train: data-parallel over %d MPI ranks, %d samples each per step\n",
            r->ranks, p->batch / r->ranks);
}

/* Every rank must stop at the same step, or the others would wait in the
 * next all-reduce: a signal seen by any rank stops them all. */
static void agree_on_stop(void) {
  int sig = (int)stop_signal;
  if (dist_max_int(&sig) == MUPC_OK && sig) stop_signal = sig;
}

static int train_loop(run *r) {
  const int64_t first = r->m.step;
  progress_mode mode = r->o.quiet              ? PROGRESS_QUIET
                       : isatty(STDERR_FILENO) ? PROGRESS_BAR
                                               : PROGRESS_LINES;
  int64_t line_every = r->o.eval_every;
  if (!line_every) line_every = (r->total - first) / 10 > 0 ? (r->total - first) / 10 : 1;
  if (!r->o.quiet) print_header(r);
  r->first_step = first;
  r->t_train = cli_seconds();
  progress_start(&r->pg, mode, first, r->total, r->per_epoch, line_every, cli_seconds());
  for (int64_t step = first; step < r->total; step++) {
    agree_on_stop();
    if (stop_signal) return interrupted(r, step);
    int code = train_one(r, step);
    if (code) return code;
  }
  /* A signal during the last step still counts as a stop. */
  r->t_trained = cli_seconds();
  agree_on_stop();
  if (stop_signal) return interrupted(r, r->total > first ? r->total : first);
  progress_break(&r->pg);
  return CLI_EXIT_OK;
}

static int finish(run *r) {
  const int64_t step = r->total > r->m.step ? r->total : r->m.step;
  eval_result ev;
  int code = evaluate(r, &ev);
  if (code) return code;
  if (!isfinite(ev.loss)) {
    char why[64];
    snprintf(why, sizeof why, "non-finite test loss (%g)", ev.loss);
    return diverged(r, "at the final evaluation", why);
  }
  code = metrics_final(&r->mx, CMD, step, &ev, cli_seconds() - r->t0);
  if (!code && r->o.save) code = save(r, step);
  if (code) return code;
  if (dist_rank() != 0) return CLI_EXIT_OK;
  printf("final test accuracy %.2f%% (loss %.4g) after %lld steps, %.1f s\n", 100.0 * ev.acc,
         ev.loss, (long long)step, cli_seconds() - r->t0);
  if (r->ranks > 1)
    printf("%d MPI ranks: %.1f samples/s in all (evaluations included); gradient all-reduce "
           "%.3f s in all, %.2f ms a step\n",
           r->ranks, (double)(step - r->first_step) * r->m.p.batch / (r->t_trained - r->t_train),
           dist_allreduce_seconds(),
           step > r->first_step ? 1e3 * dist_allreduce_seconds() / (double)(step - r->first_step)
                                : 0.0);
  return CLI_EXIT_OK;
}

static void release(run *r) {
  if (r->has_pending) ckpt_release(&r->pending);
  dstep_free(&r->ds);
  batches_free(&r->b);
  mupc_net_free(r->net);
  mupc_ctx_free(r->ctx);
  mupc_dataset_free(&r->train);
  mupc_dataset_free(&r->test);
}

int cli_train(int argc, char **argv) {
  run *r = calloc(1, sizeof *r);
  if (!r) return cli_error(CLI_EXIT_FAIL, CMD, "out of host memory");
  r->t0 = cli_seconds();
  r->saved_step = -1;
  saved_handlers old;
  catch_signals(&old);
  dist_init();
  r->ranks = dist_size();
  /* Every rank parses the same flags: one copy of a complaint is enough,
   * and every rank returns the same code without a collective. */
  dist_quiet_begin();
  int code = parse_args(argc, argv, &r->o);
  dist_quiet_end();
  if (code || r->o.help) {
    if (r->o.help && dist_rank() == 0) help();
    r->agreed = 1;
    goto ERROR;
  }
  if (dist_rank() != 0) {
    /* Rank 0 alone prints progress and writes metrics and checkpoints. */
    r->o.quiet = 1;
    r->o.metrics = NULL;
  }
  if ((code = configure(r)) || (code = check_ranks(r)) || (code = load_data(r)) ||
      (code = plan(r)) || (code = build_net(r)) || (code = allocate(r)) ||
      (code = metrics_open(&r->mx, CMD, r->o.metrics)))
    goto ERROR;
  code = train_loop(r);
  if (!code) code = finish(r);
  int closed = metrics_close(&r->mx, CMD);
  if (!code) code = closed;

ERROR:
  /* A failure one rank met on its own (a device, a file) must not leave
   * the others waiting in a collective. */
  if (code && !r->agreed) dist_abort(code);
  restore_signals(&old);
  release(r);
  free(r);
  dist_finalize();
  return code;
}
