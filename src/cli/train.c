/* mupc train: the library's trainer (mupc.h, "training") driven from the
 * command line: flags, progress, metrics, signals and MPI start-up; the
 * training, evaluation, batch order and checkpoints are the library's. */
#include "cli.h"
#include "dist.h"
#include "netflags.h"
#include "report.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "train"
#define ROWS (CLI_ROWS_NET | CLI_ROWS_TRAIN)

/* This command's own flags; the network, optimiser, data and run flags
 * come from the library's parameter table (netflags.h). */
enum { O_DEVICE = 256, O_GEMM, O_METRICS, O_INIT, O_RESUME, O_QUIET };
static const struct option own_options[] = {
    {"device", required_argument, NULL, O_DEVICE}, {"gemm", required_argument, NULL, O_GEMM},
    {"metrics", required_argument, NULL, O_METRICS}, {"init", required_argument, NULL, O_INIT},
    {"resume", required_argument, NULL, O_RESUME},   {"quiet", no_argument, NULL, O_QUIET},
    {"help", no_argument, NULL, 'h'},                {NULL, 0, NULL, 0},
};

static void help(void) {
  fputs("usage: mupc train [flags]\n\n"
        "Trains a μPC predictive-coding network (or its backprop baseline) on a data\n"
        "set (IDX, CIFAR-10/100 or safetensors), evaluates it on the test set and prints\n"
        "the final test accuracy.\n"
        "With no flags: the jpc example network on Fashion-MNIST, a few minutes on\n"
        "a 2-core CPU.\n\n",
        stdout);
  cli_params_help(stdout, ROWS);
  fputs("output:\n"
        "  --metrics FILE        JSON lines: one per step, then a \"final\" one (README)\n"
        "  --quiet               print only the final result\n"
        "  --device SPEC         P:D, cpu, gpu, or part of a platform/vendor/device name\n"
        "                        (default: MUPC_DEVICE, else the first GPU, else CPU)\n"
        "  --gemm P              GEMM provider: auto (the host BLAS on CPU devices, CLBlast\n"
        "                        elsewhere), clblast, host or kernels (the library's own\n"
        "                        GEMM kernel; default: MUPC_GEMM, else auto)\n"
        "checkpoints (safetensors; a run stopped by SIGINT or SIGTERM writes --save too):\n"
        "  --init FILE           start from the layers.{i}.weight tensors of any\n"
        "                        safetensors file (shapes must match the flags)\n"
        "  --resume FILE         continue a run saved with --save: weights, optimiser\n"
        "                        state, step and data order; the network, optimiser and\n"
        "                        data flags come from FILE (a different value is an error);\n"
        "                        --steps and --epochs count from the start of the run\n"
        "  -h, --help            this text\n\n"
        "Under mpirun (a build with MPI): data-parallel over the ranks, one device each;\n"
        "--batch is the global batch, a multiple of the rank count (README, \"Several\n"
        "devices and machines\").\n\n"
        "Exit status: 0 done, 1 failure, 2 bad flag, data or file, 3 diverged (NaN or\n"
        "inf; that step is not saved), 130/143 stopped by SIGINT/SIGTERM.\n",
        stdout);
}

/* ---- signals ------------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

/* SA_RESETHAND: a second Ctrl-C kills at once, for a user who will not wait
 * for the step to end (the checkpoint write is atomic either way). */
static void catch_signals(struct sigaction old[2]) {
  struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART | SA_RESETHAND};
  sigemptyset(&sa.sa_mask);
  stop_signal = 0;
  sigaction(SIGINT, &sa, &old[0]);
  sigaction(SIGTERM, &sa, &old[1]);
}

/* Every rank must stop at the same step, or the others would wait in the
 * next all-reduce: a signal seen by any rank stops them all. */
static int agree_on_stop(void) {
  int sig = (int)stop_signal;
  if (dist_max_int(&sig) == MUPC_OK && sig) stop_signal = sig;
  return stop_signal != 0;
}

/* ---- the run ------------------------------------------------------------- */

typedef struct run {
  mupc_net_params p; /* the global parameters: the flags', or the checkpoint's */
  mupc_train_opts o;
  const char *device, *metrics_path, *init, *resume;
  int gemm, quiet, help;
  mupc_checkpoint *ck; /* --resume's */
  mupc_dataset train, test;
  mupc_ctx *ctx;
  mupc_net *net;
  mupc_trainer *tr;
  int ranks;  /* > 1 under mpirun: data-parallel (README) */
  int agreed; /* the failure was decided on shared values, so every rank
               * returns it: no MPI_Abort needed */
  int code;   /* a failure of the step callback */
  metrics mx;
  progress pg;
  double t0, t_train, t_trained;
  int64_t first_step; /* steps done before this run (a resume) */
} run;

static int parse_args(int argc, char **argv, run *r) {
  r->p = mupc_net_default_params();
  r->o = mupc_train_default_opts();
  r->gemm = -1;
  struct option *all = cli_param_options(own_options, ROWS);
  if (!all) return cli_error(CLI_EXIT_FAIL, CMD, "out of host memory");
  int id, code = CLI_EXIT_OK;
  while (!code && !r->help && (id = getopt_long(argc, argv, "h", all, NULL)) != -1) {
    if (cli_param_flag(CMD, id, optarg, &r->p, &r->o, &code)) continue;
    switch (id) {
    case 'h': r->help = 1; break;
    case O_DEVICE: r->device = optarg; break;
    case O_GEMM: code = cli_parse_gemm(CMD, "--gemm", optarg, &r->gemm); break;
    case O_METRICS: r->metrics_path = optarg; break;
    case O_INIT: r->init = optarg; break;
    case O_RESUME: r->resume = optarg; break;
    case O_QUIET: r->quiet = 1; break;
    default: code = cli_bad_flag(CMD, argc, argv, all); break;
    }
  }
  free(all);
  if (code || r->help) return code;
  if (optind < argc)
    return cli_error(CLI_EXIT_USAGE, CMD, "unexpected argument '%s' (see 'mupc train --help')",
                     argv[optind]);
  if (cli_param_seen("epochs") && cli_param_seen("steps"))
    return cli_error(CLI_EXIT_USAGE, CMD, "--epochs and --steps: give one of them, not both");
  if (r->init && r->resume)
    return cli_error(CLI_EXIT_USAGE, CMD,
                     "--init and --resume: give one of them (--resume already loads the weights)");
  if (r->o.save_every && !r->o.save[0])
    return cli_error(CLI_EXIT_USAGE, CMD, "--save-every: needs --save FILE to know where to write");
  return CLI_EXIT_OK;
}

/* With --resume the configuration is the checkpoint's; a flag that says
 * otherwise is a mistake the user should hear about. What a resumed run may
 * change: where the data are now, the plan, evaluation and saving. */
static int configure(run *r) {
  if (!r->resume) return CLI_EXIT_OK;
  if (!(r->ck = malloc(sizeof *r->ck))) return cli_error(CLI_EXIT_FAIL, CMD, "out of host memory");
  int st = mupc_checkpoint_read(r->resume, r->ck);
  if (st) return cli_flag_error(CMD, "--resume", st);
  int code = cli_params_check_resume(CMD, r->resume, &r->p, &r->o, r->ck);
  if (code) return code;
  /* The rows a run gives anew come from its flags where given, else from
   * the checkpoint: its data directory and total steps, and defaults (as
   * the flags') for the rest. */
  mupc_train_opts o = r->ck->o;
  cli_params_per_run(&r->o, &o);
  r->o = o;
  r->p = r->ck->p;
  return CLI_EXIT_OK;
}

/* Under mpirun every rank takes an equal shard of each global batch. */
static int check_ranks(run *r) {
  if (r->p.batch % r->ranks == 0) return CLI_EXIT_OK;
  r->agreed = 1; /* every rank sees it: they all return, rank 0 says why */
  if (dist_rank() != 0) return CLI_EXIT_USAGE;
  return cli_error(CLI_EXIT_USAGE, CMD,
                   "--batch: the global batch %d does not split evenly over %d MPI ranks; "
                   "give a multiple of %d",
                   r->p.batch, r->ranks, r->ranks);
}

static int load_data(run *r) {
  /* A resumed run's labels must fit the checkpoint's outputs; the options
   * (and so the checkpoint) keep what the flags said. */
  mupc_data_opts d = r->o.data;
  if (r->resume) d.classes = r->p.output_dim;
  const int st = mupc_dataset_load_train_test(r->o.data_dir, &d, &r->train, &r->test);
  if (st) return cli_flag_error(CMD, "--data", st);
  r->o.data.format = d.format;
  if (!r->resume) r->p.input_dim = r->train.dim, r->p.output_dim = r->train.classes;
  if (r->p.batch <= r->train.count) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_USAGE, CMD,
                   "--batch: %d is larger than the training set (%d samples in %s)", r->p.batch,
                   r->train.count, r->o.data_dir);
}

static int build(run *r) {
  int st = cli_ctx_init(CMD, r->device, r->gemm, r->ranks > 1 ? dist_local_rank() : -1, &r->ctx);
  if (st) return st;
  /* The trainer and its checkpoints keep the global parameters; the net
   * runs this rank's shard. */
  const mupc_net_params local = mupc_net_shard_params(&r->p, r->ranks);
  const mupc_reduce reduce = dist_reduce();
  if ((st = mupc_net_init(&r->net, r->ctx, &local))) return cli_report(CMD, st, r->ctx);
  if ((st = mupc_trainer_init(&r->tr, r->net, &r->train, &r->test, &r->o)))
    return cli_flag_error(CMD, "--data", st);
  if (r->ranks > 1 && (st = mupc_trainer_set_reduce(r->tr, &reduce)))
    return cli_report(CMD, st, NULL);
  if (r->init && (st = mupc_net_load_weights(r->net, r->init)))
    return cli_flag_error(CMD, "--init", st);
  if (r->resume && (st = mupc_trainer_load(r->tr, r->resume)))
    return cli_flag_error(CMD, "--resume", st);
  return CLI_EXIT_OK;
}

static int diverged(run *r, const char *where, const char *why) {
  char last[MUPC_PATH_MAX + 64] = "no checkpoint was written";
  const int64_t saved = mupc_trainer_saved_step(r->tr);
  if (saved >= 0)
    snprintf(last, sizeof last, "the last good checkpoint, %s, is from step %lld", r->o.save,
             (long long)saved);
  r->agreed = 1;
  if (dist_rank() != 0) return 3; /* rank 0 says it */
  return cli_error(3, CMD, "diverged %s: %s; the diverged weights are not saved (%s)", where, why,
                   last);
}

static int save(run *r) {
  if (!r->o.save[0] || dist_rank() != 0) return CLI_EXIT_OK; /* rank 0 writes */
  const int st = mupc_trainer_save(r->tr, r->o.save);
  return st ? cli_flag_error(CMD, "--save", st) : CLI_EXIT_OK;
}

static int interrupted(run *r) {
  const int sig = (int)stop_signal;
  r->agreed = 1;
  const int code = save(r);
  if (code || dist_rank() != 0) return code ? code : 128 + sig;
  char saved[MUPC_PATH_MAX + 32] = "no --save given, nothing written";
  if (r->o.save[0]) snprintf(saved, sizeof saved, "checkpoint written to %s", r->o.save);
  cli_error(0, CMD, "stopped by %s after step %lld of %lld; %s",
            sig == SIGINT ? "SIGINT" : "SIGTERM", (long long)mupc_trainer_position(r->tr),
            (long long)mupc_trainer_total_steps(r->tr), saved);
  return 128 + sig;
}

static void print_header(const run *r) {
  const mupc_net_params *p = &r->p;
  const mupc_device_info *dev = mupc_ctx_device(r->ctx);
  fprintf(stderr,
          "mupc train: %s on %s (%s); %d training, %d test samples from %s\n"
          "mupc train: depth %d, width %d, %s, %s%s, %s loss, batch %d, T %d, steps %lld to "
          "%lld (%lld per epoch)\n",
          mupc_algo_name(p->algo), dev->name, dev->platform, r->train.count, r->test.count,
          r->o.data_dir, p->depth, p->width, mupc_act_name(p->act), mupc_param_name(p->param),
          p->skips ? "" : " no skips", mupc_loss_name(p->loss), p->batch, p->infer_steps,
          (long long)r->first_step, (long long)mupc_trainer_total_steps(r->tr),
          (long long)mupc_trainer_steps_per_epoch(r->tr));
  if (r->ranks > 1)
    fprintf(stderr, "mupc train: data-parallel over %d MPI ranks, %d samples each per step\n",
            r->ranks, p->batch / r->ranks);
}

/* After each step (a diverged one too, whose line shows where it went
 * wrong): its metrics line and progress; non-zero stops the run, on a
 * metrics write error or a signal. */
static int after_step(const mupc_train_metrics *m, void *arg) {
  run *r = arg;
  const double now = cli_seconds();
  r->code = metrics_step(&r->mx, CMD, m, now - r->t0);
  if (!r->code && isfinite(m->train_loss) && isfinite(m->energy)) progress_update(&r->pg, m, now);
  return r->code || agree_on_stop();
}

static int train_loop(run *r) {
  const int64_t first = r->first_step = mupc_trainer_position(r->tr);
  const int64_t total = mupc_trainer_total_steps(r->tr);
  int64_t line_every = r->o.eval_every;
  if (!line_every) line_every = (total - first) / 10 > 0 ? (total - first) / 10 : 1;
  if (!r->quiet) print_header(r);
  r->t_train = cli_seconds();
  const progress_mode mode = r->quiet                 ? PROGRESS_QUIET
                             : isatty(STDERR_FILENO) ? PROGRESS_BAR
                                                     : PROGRESS_LINES;
  progress_start(&r->pg, mode, first, total, mupc_trainer_steps_per_epoch(r->tr), line_every,
                 r->t_train);
  /* A signal during the last step still counts as a stop. */
  const int st = agree_on_stop() ? MUPC_EINTR : mupc_trainer_run(r->tr, after_step, r);
  r->t_trained = cli_seconds();
  progress_break(&r->pg);
  if (st == MUPC_EINTR) return r->code ? r->code : interrupted(r);
  if (st != MUPC_ENONFINITE) return st ? cli_report(CMD, st, r->ctx) : CLI_EXIT_OK;
  char where[48];
  snprintf(where, sizeof where, "at step %lld", (long long)mupc_trainer_position(r->tr));
  return diverged(r, where, mupc_errmsg());
}

static int finish(run *r) {
  const int64_t step = mupc_trainer_position(r->tr), ran = step - r->first_step;
  mupc_eval_result ev;
  const int st = mupc_trainer_evaluate(r->tr, NULL, &ev);
  if (st) return cli_report(CMD, st, r->ctx);
  if (!isfinite(ev.loss)) {
    char why[64];
    snprintf(why, sizeof why, "non-finite test loss (%g)", ev.loss);
    return diverged(r, "at the final evaluation", why);
  }
  int code = metrics_final(&r->mx, CMD, step, &ev, cli_seconds() - r->t0);
  if (!code) code = save(r);
  if (code || dist_rank() != 0) return code;
  printf("final test accuracy %.2f%% (loss %.4g) after %lld steps, %.1f s\n", 100.0 * ev.acc,
         ev.loss, (long long)step, cli_seconds() - r->t0);
  if (r->ranks > 1)
    printf("%d MPI ranks: %.1f samples/s in all (evaluations included); gradient all-reduce "
           "%.3f s in all, %.2f ms a step\n",
           r->ranks, (double)ran * r->p.batch / (r->t_trained - r->t_train),
           dist_allreduce_seconds(), ran > 0 ? 1e3 * dist_allreduce_seconds() / (double)ran : 0.0);
  return CLI_EXIT_OK;
}

int cli_train(int argc, char **argv) {
  run *r = calloc(1, sizeof *r);
  if (!r) return cli_error(CLI_EXIT_FAIL, CMD, "out of host memory");
  r->t0 = cli_seconds();
  struct sigaction old[2];
  catch_signals(old);
  dist_init();
  r->ranks = dist_size();
  /* Every rank parses the same flags: one copy of a complaint is enough,
   * and every rank returns the same code without a collective. */
  dist_quiet_begin();
  int code = parse_args(argc, argv, r);
  dist_quiet_end();
  r->agreed = code || r->help;
  if (r->help && dist_rank() == 0) help();
  if (dist_rank() != 0) /* rank 0 alone prints progress, writes metrics and checkpoints */
    r->quiet = 1, r->metrics_path = NULL;
  if (!r->agreed && !(code = configure(r)) && !(code = check_ranks(r)) &&
      !(code = load_data(r)) && !(code = build(r)) &&
      !(code = metrics_open(&r->mx, CMD, r->metrics_path))) {
    code = train_loop(r);
    if (!code) code = finish(r);
    const int closed = metrics_close(&r->mx, CMD);
    if (!code) code = closed;
  }
  /* A failure one rank met on its own (a device, a file) must not leave
   * the others waiting in a collective. */
  if (code && !r->agreed) dist_abort(code);
  sigaction(SIGINT, &old[0], NULL);
  sigaction(SIGTERM, &old[1], NULL);
  mupc_trainer_free(r->tr);
  mupc_net_free(r->net);
  mupc_ctx_free(r->ctx);
  mupc_dataset_free(&r->train);
  mupc_dataset_free(&r->test);
  free(r->ck);
  free(r);
  dist_finalize();
  return code;
}
