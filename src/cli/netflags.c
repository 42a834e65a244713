/* The shared model/optimisation flags: one table, one parser, one help. */
#include "netflags.h"

#include "cli.h"

#include <stdlib.h>
#include <string.h>

enum {
  F_DEPTH = CLI_NET_OPT_BASE,
  F_WIDTH,
  F_ACT,
  F_PARAM,
  F_NO_SKIPS,
  F_LOSS,
  F_BATCH,
  F_INFER_STEPS,
  F_ACTIVITY_LR,
  F_ACTIVITY_OPTIM,
  F_LR,
  F_OPTIM,
  F_WEIGHT_DECAY,
  F_SEED,
  F_ALGO,
  F_NO_WAVEFRONT,
  F_END
};

static const struct option shared[] = {
    {"depth", required_argument, NULL, F_DEPTH},
    {"width", required_argument, NULL, F_WIDTH},
    {"act", required_argument, NULL, F_ACT},
    {"param", required_argument, NULL, F_PARAM},
    {"no-skips", no_argument, NULL, F_NO_SKIPS},
    {"loss", required_argument, NULL, F_LOSS},
    {"batch", required_argument, NULL, F_BATCH},
    {"infer-steps", required_argument, NULL, F_INFER_STEPS},
    {"activity-lr", required_argument, NULL, F_ACTIVITY_LR},
    {"activity-optim", required_argument, NULL, F_ACTIVITY_OPTIM},
    {"lr", required_argument, NULL, F_LR},
    {"optim", required_argument, NULL, F_OPTIM},
    {"weight-decay", required_argument, NULL, F_WEIGHT_DECAY},
    {"seed", required_argument, NULL, F_SEED},
    {"algo", required_argument, NULL, F_ALGO},
    {"no-wavefront", no_argument, NULL, F_NO_WAVEFRONT},
};
#define NSHARED (sizeof shared / sizeof shared[0])

static unsigned char seen[NSHARED];

struct option *cli_net_options(const struct option *own) {
  size_t n = 0;
  while (own[n].name) n++;
  struct option *all = calloc(n + NSHARED + 1, sizeof *all);
  if (!all) return NULL;
  memcpy(all, own, n * sizeof *own);
  memcpy(all + n, shared, sizeof shared);
  memset(seen, 0, sizeof seen);
  return all;
}

int cli_net_flag_seen(const char *name) {
  for (size_t i = 0; i < NSHARED; i++)
    if (!strcmp(shared[i].name, name)) return seen[i];
  return 0;
}

/* A named choice (--act relu): the list of valid names is in the message. */
static int parse_choice(const char *cmd, const char *flag, const char *arg,
                        int (*from_name)(const char *), const char *(*name_of)(int), int count,
                        int *out) {
  int v = from_name(arg);
  if (v >= 0) {
    *out = v;
    return 0;
  }
  char names[256] = "";
  size_t used = 0;
  for (int i = 0; i < count && used < sizeof names; i++)
    used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", name_of(i));
  return cli_error(CLI_EXIT_USAGE, cmd, "--%s: expected one of %s, got '%s'", flag, names, arg);
}

#define NAME_OF(fn, type)                                                      \
  static const char *fn##_i(int i) { return fn((type)i); }
NAME_OF(mupc_act_name, mupc_act)
NAME_OF(mupc_param_name, mupc_param)
NAME_OF(mupc_loss_name, mupc_loss)
NAME_OF(mupc_optim_name, mupc_optim)
NAME_OF(mupc_aoptim_name, mupc_aoptim)
NAME_OF(mupc_algo_name, mupc_algo)

int cli_net_flag(const char *cmd, int opt, const char *arg, mupc_net_params *p, int *rc) {
  if (opt < CLI_NET_OPT_BASE || opt >= F_END) return 0;
  seen[opt - CLI_NET_OPT_BASE] = 1;
  const cli_range positive = {0, 1e30, 1, 0}, nonneg = {0, 1e30, 0, 0};
  int v = 0;
  switch (opt) {
  case F_DEPTH: *rc = cli_parse_int(cmd, "--depth", arg, 2, 100000, &p->depth); break;
  case F_WIDTH: *rc = cli_parse_int(cmd, "--width", arg, 1, 1 << 20, &p->width); break;
  case F_BATCH: *rc = cli_parse_int(cmd, "--batch", arg, 1, 1 << 24, &p->batch); break;
  case F_INFER_STEPS:
    *rc = cli_parse_int(cmd, "--infer-steps", arg, 0, 1000000, &p->infer_steps);
    break;
  case F_ACTIVITY_LR:
    *rc = cli_parse_float(cmd, "--activity-lr", arg, nonneg, &p->activity_lr);
    break;
  case F_LR: *rc = cli_parse_float(cmd, "--lr", arg, positive, &p->lr); break;
  case F_WEIGHT_DECAY:
    *rc = cli_parse_float(cmd, "--weight-decay", arg, nonneg, &p->weight_decay);
    break;
  case F_SEED: *rc = cli_parse_u64(cmd, "--seed", arg, &p->seed); break;
  case F_NO_SKIPS: p->skips = 0, *rc = 0; break;
  case F_NO_WAVEFRONT: p->wavefront = 0, *rc = 0; break;
  case F_ACT:
    *rc = parse_choice(cmd, "act", arg, mupc_act_from_name, mupc_act_name_i, MUPC_ACT_COUNT, &v);
    if (!*rc) p->act = (mupc_act)v;
    break;
  case F_PARAM:
    *rc = parse_choice(cmd, "param", arg, mupc_param_from_name, mupc_param_name_i,
                       MUPC_PARAM_COUNT, &v);
    if (!*rc) p->param = (mupc_param)v;
    break;
  case F_LOSS:
    *rc = parse_choice(cmd, "loss", arg, mupc_loss_from_name, mupc_loss_name_i, MUPC_LOSS_COUNT,
                       &v);
    if (!*rc) p->loss = (mupc_loss)v;
    break;
  case F_OPTIM:
    *rc = parse_choice(cmd, "optim", arg, mupc_optim_from_name, mupc_optim_name_i,
                       MUPC_OPTIM_COUNT, &v);
    if (!*rc) p->optim = (mupc_optim)v;
    break;
  case F_ACTIVITY_OPTIM:
    *rc = parse_choice(cmd, "activity-optim", arg, mupc_aoptim_from_name, mupc_aoptim_name_i,
                       MUPC_AOPTIM_COUNT, &v);
    if (!*rc) p->activity_optim = (mupc_aoptim)v;
    break;
  case F_ALGO:
    *rc = parse_choice(cmd, "algo", arg, mupc_algo_from_name, mupc_algo_name_i, MUPC_ALGO_COUNT,
                       &v);
    if (!*rc) p->algo = (mupc_algo)v;
    break;
  }
  return 1;
}

void cli_net_flags_help(FILE *f, const mupc_net_params *p) {
  fprintf(f,
          "model:\n"
          "  --depth L             weight matrices, L = hidden layers + 1 (default %d)\n"
          "  --width N             hidden width (default %d)\n"
          "  --act NAME            linear, relu, tanh, hard_tanh, leaky_relu, gelu, selu, silu\n"
          "                        (default %s)\n"
          "  --param P             mupc, ntp or sp scalings and init (default %s)\n"
          "  --no-skips            no residual skips (default: skips on)\n"
          "  --loss L              mse or ce (default %s)\n"
          "  --algo A              pc (predictive coding) or bp (backprop baseline) (default %s)\n"
          "optimisation:\n"
          "  --batch B             batch size (default %d)\n"
          "  --infer-steps T       inference steps per batch (default %d)\n"
          "  --activity-lr X       activity step size (default %g)\n"
          "  --activity-optim O    gd or adam on activities (default %s)\n"
          "  --lr X                weight learning rate, > 0 (default %g)\n"
          "  --optim O             adam or sgd on weights (default %s)\n"
          "  --weight-decay X      adds X*W to the weight gradient (default %g)\n"
          "  --seed S              initial weights and data order (default %llu)\n"
          "  --no-wavefront        compute every layer at every inference step (same result,\n"
          "                        slower; default: only the band that can change)\n",
          p->depth, p->width, mupc_act_name(p->act), mupc_param_name(p->param),
          mupc_loss_name(p->loss), mupc_algo_name(p->algo), p->batch, p->infer_steps,
          (double)p->activity_lr, mupc_aoptim_name(p->activity_optim), (double)p->lr,
          mupc_optim_name(p->optim), (double)p->weight_decay, (unsigned long long)p->seed);
}
