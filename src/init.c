/* Parameters: names, the tables of activations and activity optimisers,
 * and validation. The layers' shapes and scalings are the layer plan's
 * (plan.c); the seeded weight init is in rng.c. */
#include "plan.h"

#include <math.h>
#include <string.h>

const mupc__act_row mupc__acts[MUPC_ACT_COUNT] = {
    [MUPC_ACT_LINEAR] = {"linear", "x", "ACT_LINEAR"},
    [MUPC_ACT_RELU] = {"relu", "max(x, 0)", "ACT_RELU"},
    [MUPC_ACT_TANH] = {"tanh", "tanh x", "ACT_TANH"},
    [MUPC_ACT_HARD_TANH] = {"hard_tanh", "x clamped to [-1, 1]", "ACT_HARD_TANH"},
    [MUPC_ACT_LEAKY_RELU] = {"leaky_relu", "x, or 0.01 x below 0", "ACT_LEAKY_RELU"},
    [MUPC_ACT_GELU] = {"gelu", "x Φ(x), the exact erf form", "ACT_GELU"},
    [MUPC_ACT_SELU] = {"selu", "scaled exponential linear unit", "ACT_SELU"},
    [MUPC_ACT_SILU] = {"silu", "x σ(x)", "ACT_SILU"},
};
const mupc__aoptim_row mupc__aoptims[MUPC_AOPTIM_COUNT] = {
    [MUPC_AOPTIM_GD] = {"gd", "gradient descent on the energy", MUPC__K_pc_update,
                        MUPC__K_sgemm_update, 0},
    [MUPC_AOPTIM_ADAM] = {"adam", "Adam on the energy's gradient, its state fresh for every batch",
                          MUPC__K_pc_update_adam, MUPC__K_sgemm_update_adam, 1},
};
static const char *const param_names[MUPC_PARAM_COUNT] = {"mupc", "ntp", "sp"};
static const char *const loss_names[MUPC_LOSS_COUNT] = {"mse", "ce"};
static const char *const optim_names[MUPC_OPTIM_COUNT] = {"adam", "sgd"};
static const char *const algo_names[MUPC_ALGO_COUNT] = {"pc", "bp"};
static const char *const rng_names[MUPC_RNG_COUNT] = {"philox4x32-10", "splitmix64"};
static const char *const gemm_names[MUPC_GEMM_COUNT] = {"auto", "clblast", "host", "kernels"};

static const char *name_of(const char *const *names, int n, int v) {
  return (v >= 0 && v < n) ? names[v] : "?";
}

int mupc__name_index(const char *const *names, int n, const char *s) {
  /* Any case (--act ReLU): the names are lower case, and folding ASCII by
   * hand keeps the locale out of it. */
  for (int i = 0; s && i < n; i++) {
    const char *a = names[i], *b = s;
    while (*a && (*b == *a || (*b >= 'A' && *b <= 'Z' && *b - 'A' + 'a' == *a)))
      a++, b++;
    if (!*a && !*b) return i;
  }
  return -1;
}

/* The index of name s among a table's n rows (name_at(i): row i's). */
enum { MOST_ROWS = 16 };
_Static_assert((int)MUPC_ACT_COUNT <= MOST_ROWS && (int)MUPC_AOPTIM_COUNT <= MOST_ROWS,
               "row_index's list is too short");
static int row_index(const char *(*name_at)(int), int n, const char *s) {
  const char *names[MOST_ROWS];
  for (int i = 0; i < n; i++) names[i] = name_at(i);
  return mupc__name_index(names, n, s);
}
static const char *act_at(int i) { return mupc__acts[i].name; }
static const char *aoptim_at(int i) { return mupc__aoptims[i].name; }

const char *mupc_act_name(mupc_act a) {
  return (unsigned)a < MUPC_ACT_COUNT ? act_at((int)a) : "?";
}
const char *mupc_param_name(mupc_param p) {
  return name_of(param_names, MUPC_PARAM_COUNT, (int)p);
}
const char *mupc_loss_name(mupc_loss l) { return name_of(loss_names, MUPC_LOSS_COUNT, (int)l); }
const char *mupc_optim_name(mupc_optim o) {
  return name_of(optim_names, MUPC_OPTIM_COUNT, (int)o);
}
const char *mupc_aoptim_name(mupc_aoptim o) {
  return (unsigned)o < MUPC_AOPTIM_COUNT ? aoptim_at((int)o) : "?";
}
const char *mupc_algo_name(mupc_algo a) { return name_of(algo_names, MUPC_ALGO_COUNT, (int)a); }
const char *mupc_rng_name(mupc_rng r) { return name_of(rng_names, MUPC_RNG_COUNT, (int)r); }
const char *mupc_gemm_name(mupc_gemm g) { return name_of(gemm_names, MUPC_GEMM_COUNT, (int)g); }
int mupc_act_from_name(const char *s) {
  return row_index(act_at, MUPC_ACT_COUNT, s);
}
int mupc_param_from_name(const char *s) { return mupc__name_index(param_names, MUPC_PARAM_COUNT, s); }
int mupc_loss_from_name(const char *s) { return mupc__name_index(loss_names, MUPC_LOSS_COUNT, s); }
int mupc_optim_from_name(const char *s) { return mupc__name_index(optim_names, MUPC_OPTIM_COUNT, s); }
int mupc_aoptim_from_name(const char *s) {
  return row_index(aoptim_at, MUPC_AOPTIM_COUNT, s);
}
int mupc_algo_from_name(const char *s) { return mupc__name_index(algo_names, MUPC_ALGO_COUNT, s); }
int mupc_rng_from_name(const char *s) { return mupc__name_index(rng_names, MUPC_RNG_COUNT, s); }
int mupc_gemm_from_name(const char *s) { return mupc__name_index(gemm_names, MUPC_GEMM_COUNT, s); }

/* Why the shards' sum equals one net with the global batch B (up to float
 * summation order): PC inference is per sample, so a shard's activities and
 * errors are exactly those rows of the single run provided every
 * per-sample quantity is scaled as there. With gradients normalised by the
 * global B, a sample's activity gradient is (1/B)·∂F_i/∂z as in the global
 * run (gradient descent and activity Adam, whose eps meets the same
 * numbers, take the same steps); the shards' weight gradients (1/B)·Σ over
 * their rows add up to the global one; and the optimiser sees only that sum
 * and the weights, identical on every rank. */
mupc_net_params mupc_net_shard_params(const mupc_net_params *global, int ranks) {
  mupc_net_params p = *global;
  if (ranks < 1) ranks = 1;
  p.batch = global->batch / ranks;
  p.norm_batch = global->norm_batch > 0 ? global->norm_batch : global->batch;
  return p;
}

int mupc_net_params_check(const mupc_net_params *p) {
  if (p->input_dim < 1) return mupc__fail(MUPC_EINVAL, "input_dim must be >= 1");
  if (p->width < 1) return mupc__fail(MUPC_EINVAL, "width must be >= 1");
  if (p->output_dim < 1) return mupc__fail(MUPC_EINVAL, "output_dim must be >= 1");
  if (p->depth < 2) return mupc__fail(MUPC_EINVAL, "depth must be >= 2 weight matrices");
  if (p->batch < 1) return mupc__fail(MUPC_EINVAL, "batch must be >= 1");
  if (p->infer_steps < 0) return mupc__fail(MUPC_EINVAL, "infer_steps must be >= 0");
  if (p->norm_batch < 0) return mupc__fail(MUPC_EINVAL, "norm_batch must be >= 0 (0: batch)");
  if ((unsigned)p->act >= MUPC_ACT_COUNT) return mupc__fail(MUPC_EINVAL, "unknown activation");
  if ((unsigned)p->param >= MUPC_PARAM_COUNT)
    return mupc__fail(MUPC_EINVAL, "unknown parameterisation");
  if ((unsigned)p->loss >= MUPC_LOSS_COUNT) return mupc__fail(MUPC_EINVAL, "unknown loss");
  if ((unsigned)p->algo >= MUPC_ALGO_COUNT) return mupc__fail(MUPC_EINVAL, "unknown algorithm");
  if ((unsigned)p->rng >= MUPC_RNG_COUNT) return mupc__fail(MUPC_EINVAL, "unknown generator");
  if ((unsigned)p->optim >= MUPC_OPTIM_COUNT) return mupc__fail(MUPC_EINVAL, "unknown optimiser");
  if ((unsigned)p->activity_optim >= MUPC_AOPTIM_COUNT)
    return mupc__fail(MUPC_EINVAL, "unknown activity optimiser");
  if (!isfinite(p->lr) || p->lr < 0) return mupc__fail(MUPC_EINVAL, "lr must be finite and >= 0");
  if (!isfinite(p->activity_lr) || p->activity_lr < 0)
    return mupc__fail(MUPC_EINVAL, "activity_lr must be finite and >= 0");
  if (!isfinite(p->weight_decay) || p->weight_decay < 0)
    return mupc__fail(MUPC_EINVAL, "weight_decay must be finite and >= 0");
  if (!(p->adam_beta1 >= 0 && p->adam_beta1 < 1) || !(p->adam_beta2 >= 0 && p->adam_beta2 < 1))
    return mupc__fail(MUPC_EINVAL, "Adam betas must be in [0, 1)");
  if (!(p->adam_eps > 0) || !isfinite(p->adam_eps))
    return mupc__fail(MUPC_EINVAL, "Adam eps must be finite and > 0");
  /* Every buffer index is computed in 32-bit ints inside the kernels: no
   * buffer may hold more floats than an int counts (the layer plan's
   * sizes, summed here without making the plan). */
  double biggest = 0, params = 0;
  for (int j = 0; j < p->depth; j++) {
    const mupc__layer l = mupc__plan_layer(p, j);
    if (l.kind != MUPC__LAYER_READOUT) biggest += (double)p->batch * l.out;
    params += (double)l.out * l.in;
  }
  const double inputs = (double)p->batch * p->input_dim;
  const double most = fmax(biggest, fmax(params, inputs));
  if (most > 2147483647.0)
    return mupc__fail(MUPC_EINVAL,
                      "network too large: width %d, depth %d, batch %d need a buffer of %.0f "
                      "floats (%.1f GiB); kernels index at most 2^31 elements",
                      p->width, p->depth, p->batch, most, most * 4.0 / 1073741824.0);
  return MUPC_OK;
}
