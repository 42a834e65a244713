/* Tests of the double-precision reference (tests/ref): its gradients against
 * central finite differences of its own energy and loss, and its forward
 * pass, energy, activations and optimisers against values computed by hand
 * (or by a separate few-line script, quoted to 17 digits). The finite
 * differences alone would accept a consistently wrong energy, which is why
 * the hand-computed cases are here too.
 *
 * Builds without the mupc library:
 *   gcc -std=c11 -O2 -Wall -Wextra -Iinclude -Itests tests/test_ref_fd.c \
 *       tests/ref/ref.c -lcmocka -lm */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref.h"

/* ---- tolerances ------------------------------------------------------------
 * Central differences with step H have truncation error ~H²·f'''/6 ≈ 1e-11
 * and rounding error ~1e-16·|F|/H ≈ 1e-11 here, far below the 1e-6 relative
 * tolerance, so a real mistake (a wrong sign, scale, missing term) cannot
 * hide in the slack. ATOL only guards entries whose gradient is exactly 0
 * (dead relu units, saturated hard_tanh). */
#define FD_H 1e-5
#define RTOL 1e-6
#define ATOL 1e-9
/* Activities are kept this far from the kinks {-1, 0, 1} so that no central
 * difference straddles one. */
#define KINK_MARGIN 0.05

/* cmocka 1.1 compares only floats; the reference needs doubles. A NaN
 * never passes. */
#define assert_near(a, b, tol) assert_near_at((a), (b), (tol), #a, __FILE__, __LINE__)
static void assert_near_at(double a, double b, double tol, const char *expr, const char *file,
                           int line) {
  if (!(fabs(a - b) <= tol)) {
    print_error("%s = %.17g, expected %.17g (tolerance %g)\n", expr, a, b, tol);
    _fail(file, line);
  }
}

/* ---- a small seeded generator (splitmix64) ------------------------------- */

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t rng_next(rng *g) {
  uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in (0, 1): never 0, so log() in Box–Muller is finite. */
static double rng_uniform(rng *g) {
  return ((double)(rng_next(g) >> 11) + 0.5) * 0x1.0p-53;
}

static double rng_normal(rng *g) {
  double u1 = rng_uniform(g), u2 = rng_uniform(g);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- configurations ---------------------------------------------------------- */

typedef struct cfg {
  mupc_act act;
  mupc_loss loss;
  mupc_param param;
  int skips;
  char name[64];
} cfg;

static const char *const ACT_NAMES[] = {"linear",     "relu", "tanh", "hard_tanh",
                                        "leaky_relu", "gelu", "selu", "silu"};
static const char *const PARAM_NAMES[] = {"mupc", "ntp", "sp"};
static const char *const LOSS_NAMES[] = {"mse", "ce"};

static mupc_net_params small_params(const cfg *c, int depth) {
  mupc_net_params p;
  memset(&p, 0, sizeof p);
  p.input_dim = 5;
  p.width = 4;
  p.output_dim = 3;
  p.depth = depth;
  p.batch = 3;
  p.act = c->act;
  p.param = c->param;
  p.skips = c->skips;
  p.loss = c->loss;
  p.algo = MUPC_ALGO_PC;
  p.infer_steps = 5;
  p.activity_lr = 0.1f;
  p.activity_optim = MUPC_AOPTIM_GD;
  p.lr = 0.01f;
  p.optim = MUPC_OPTIM_ADAM;
  p.adam_beta1 = 0.9f;
  p.adam_beta2 = 0.999f;
  p.adam_eps = 1e-8f;
  return p;
}

/* Moves v at least KINK_MARGIN away from each of -1, 0, 1, keeping its side. */
static double away_from_kinks(double v) {
  for (int k = -1; k <= 1; k++) {
    double d = v - k;
    if (fabs(d) < KINK_MARGIN) v = k + (d >= 0 ? KINK_MARGIN : -KINK_MARGIN);
  }
  return v;
}

/* Weights as DESIGN §1's init table (normal for mupc/ntp, fan-in uniform for
 * sp), a normal input, a target (normal for MSE; a random probability vector
 * for CE, whose rows must sum to 1), then the feedforward activities. */
static void fill_net(ref_net *r, uint64_t seed) {
  const mupc_net_params *p = &r->p;
  rng g = {seed};
  for (int l = 0; l < p->depth; l++) {
    int O, I;
    ref_weight_shape(p, l, &O, &I);
    float *w = malloc((size_t)O * I * sizeof *w);
    assert_non_null(w);
    for (int i = 0; i < O * I; i++) {
      double v = (p->param == MUPC_PARAM_SP) ? (2.0 * rng_uniform(&g) - 1.0) / sqrt((double)I)
                                             : rng_normal(&g);
      w[i] = (float)v;
    }
    ref_set_weight(r, l, w);
    free(w);
  }
  int B = p->batch, D = p->input_dim, C = p->output_dim;
  for (int i = 0; i < B * D; i++)
    r->x[i] = rng_normal(&g);
  for (int b = 0; b < B; b++) {
    double *yb = r->y + (size_t)b * C, sum = 0.0;
    for (int k = 0; k < C; k++) {
      yb[k] = (p->loss == MUPC_LOSS_CE) ? exp(rng_normal(&g)) : rng_normal(&g);
      sum += yb[k];
    }
    if (p->loss == MUPC_LOSS_CE)
      for (int k = 0; k < C; k++)
        yb[k] /= sum;
  }
  ref_feedforward(r);
}

/* Feedforward activities plus noise, so every error is non-zero, kept off
 * the kinks. */
static void perturb_activities(ref_net *r, uint64_t seed) {
  rng g = {seed ^ 0xABCDEF1234567ull};
  size_t BN = (size_t)r->p.batch * r->p.width;
  for (int l = 0; l < r->p.depth - 1; l++)
    for (size_t i = 0; i < BN; i++)
      r->z[l][i] = away_from_kinks(r->z[l][i] + 0.5 * rng_normal(&g));
}

/* ---- comparison --------------------------------------------------------------- */

static int close_enough(double analytic, double fd) {
  double scale = fabs(analytic) > fabs(fd) ? fabs(analytic) : fabs(fd);
  return fabs(analytic - fd) <= RTOL * scale + ATOL && isfinite(analytic);
}

/* Number of activity entries whose analytic gradient dz disagrees with the
 * central difference of ref_energy (the first few are printed). */
static int fd_check_activities(ref_net *r, double *const *dz, const char *label) {
  int bad = 0;
  size_t BN = (size_t)r->p.batch * r->p.width;
  for (int l = 0; l < r->p.depth - 1; l++) {
    for (size_t i = 0; i < BN; i++) {
      double z0 = r->z[l][i];
      r->z[l][i] = z0 + FD_H;
      double fp = ref_energy(r, NULL);
      r->z[l][i] = z0 - FD_H;
      double fm = ref_energy(r, NULL);
      r->z[l][i] = z0;
      double fd = (fp - fm) / (2 * FD_H);
      if (!close_enough(dz[l][i], fd) && bad++ < 5)
        print_message("%s: dF/dz[%d][%zu] analytic %.12g fd %.12g\n", label, l, i, dz[l][i], fd);
    }
  }
  return bad;
}

/* Same for weights, against `loss` (ref_energy for PC, ref_bp_loss for BP). */
static int fd_check_weights(ref_net *r, double *const *dW, int bp, const char *label) {
  int bad = 0;
  for (int l = 0; l < r->p.depth; l++) {
    int O, I;
    ref_weight_shape(&r->p, l, &O, &I);
    for (size_t i = 0; i < (size_t)O * I; i++) {
      double w0 = r->W[l][i];
      r->W[l][i] = w0 + FD_H;
      double fp = bp ? ref_bp_loss(r) : ref_energy(r, NULL);
      r->W[l][i] = w0 - FD_H;
      double fm = bp ? ref_bp_loss(r) : ref_energy(r, NULL);
      r->W[l][i] = w0;
      double fd = (fp - fm) / (2 * FD_H);
      if (!close_enough(dW[l][i], fd) && bad++ < 5)
        print_message("%s: dW[%d][%zu] analytic %.12g fd %.12g\n", label, l, i, dW[l][i], fd);
    }
  }
  return bad;
}

/* Smallest distance of any feedforward activity to a kink: BP's finite
 * differences move the activities themselves, so they must not cross one. */
static double ff_kink_distance(const ref_net *r) {
  double best = INFINITY;
  size_t BN = (size_t)r->p.batch * r->p.width;
  for (int l = 0; l < r->p.depth - 1; l++)
    for (size_t i = 0; i < BN; i++)
      for (int k = -1; k <= 1; k++)
        best = fmin(best, fabs(r->z[l][i] - k));
  return best;
}

/* ---- finite-difference tests, one per configuration ----------------------- */

static void test_pc_fd(void **state) {
  const cfg *c = *state;
  for (int depth = 2; depth <= 4; depth++) {
    mupc_net_params p = small_params(c, depth);
    ref_net r;
    assert_int_equal(ref_init(&r, &p), 0);
    uint64_t seed = 1000u * (uint64_t)depth + 17u * (uint64_t)c->act + 5u * (uint64_t)c->param +
                    3u * (uint64_t)c->loss + (uint64_t)c->skips;
    fill_net(&r, seed);
    perturb_activities(&r, seed);

    double **dz = ref_alloc_like_z(&r), **dW = ref_alloc_like_W(&r);
    assert_non_null(dz);
    assert_non_null(dW);
    ref_activity_grads(&r, dz);
    ref_weight_grads(&r, dW);
    char label[96];
    snprintf(label, sizeof label, "%s L=%d", c->name, depth);
    assert_int_equal(fd_check_activities(&r, dz, label), 0);
    assert_int_equal(fd_check_weights(&r, dW, 0, label), 0);
    ref_free_arrays(dz, depth - 1);
    ref_free_arrays(dW, depth);
    ref_free(&r);
  }
}

static void test_bp_fd(void **state) {
  const cfg *c = *state;
  for (int depth = 2; depth <= 4; depth++) {
    mupc_net_params p = small_params(c, depth);
    ref_net r;
    assert_int_equal(ref_init(&r, &p), 0);
    /* Redraw until the feedforward activities are clear of every kink by
     * far more than a weight step of FD_H can move them. */
    uint64_t seed = 7000u * (uint64_t)depth + 13u * (uint64_t)c->act + 7u * (uint64_t)c->param +
                    3u * (uint64_t)c->loss + (uint64_t)c->skips;
    int tries = 0;
    do {
      fill_net(&r, seed + 100003u * (uint64_t)tries);
    } while (ff_kink_distance(&r) < 1e-3 && ++tries < 1000);
    assert_true(tries < 1000);

    double **dW = ref_alloc_like_W(&r);
    assert_non_null(dW);
    ref_bp_grads(&r, dW);
    char label[96];
    snprintf(label, sizeof label, "bp %s L=%d", c->name, depth);
    assert_int_equal(fd_check_weights(&r, dW, 1, label), 0);
    ref_free_arrays(dW, depth);
    ref_free(&r);
  }
}

/* ---- the checker itself must be able to fail ---------------------------- */

static void test_checker_detects_errors(void **state) {
  (void)state;
  cfg c = {MUPC_ACT_TANH, MUPC_LOSS_MSE, MUPC_PARAM_MUPC, 1, "tanh/mse/mupc/skips"};
  mupc_net_params p = small_params(&c, 3);
  ref_net r;
  assert_int_equal(ref_init(&r, &p), 0);
  fill_net(&r, 42);
  perturb_activities(&r, 42);
  double **dz = ref_alloc_like_z(&r), **dW = ref_alloc_like_W(&r);
  ref_activity_grads(&r, dz);
  ref_weight_grads(&r, dW);
  assert_int_equal(fd_check_activities(&r, dz, "exact"), 0);

  /* A relative error of 1e-4 in one entry, as a wrong constant would give. */
  dz[1][2] *= 1.0 + 1e-4;
  assert_int_equal(fd_check_activities(&r, dz, "expected failure"), 1);
  dW[2][1] *= 1.0 + 1e-4;
  assert_int_equal(fd_check_weights(&r, dW, 0, "expected failure"), 1);
  /* The 1/B normalisation dropped from a whole layer. */
  ref_activity_grads(&r, dz);
  for (size_t i = 0; i < (size_t)p.batch * p.width; i++)
    dz[0][i] *= p.batch;
  assert_true(fd_check_activities(&r, dz, "expected failure") > 0);
  ref_free_arrays(dz, 2);
  ref_free_arrays(dW, 3);
  ref_free(&r);
}

/* ---- scalings, skips, activations ------------------------------------------ */

static void test_scale_and_skip_table(void **state) {
  (void)state;
  mupc_net_params p;
  memset(&p, 0, sizeof p);
  p.input_dim = 16;
  p.width = 9;
  p.output_dim = 3;
  p.depth = 4;
  p.batch = 1;
  for (int skips = 0; skips <= 1; skips++) {
    p.skips = skips;
    double hidden = skips ? 1.0 / 6.0 /* 1/√(9·4) */ : 1.0 / 3.0 /* 1/√9 */;
    p.param = MUPC_PARAM_MUPC;
    assert_near(ref_scale(&p, 0), 0.25, 1e-15);
    assert_near(ref_scale(&p, 1), hidden, 1e-15);
    assert_near(ref_scale(&p, 2), hidden, 1e-15);
    assert_near(ref_scale(&p, 3), 1.0 / 9.0, 1e-15);
    p.param = MUPC_PARAM_NTP;
    assert_near(ref_scale(&p, 0), 0.25, 1e-15);
    assert_near(ref_scale(&p, 1), hidden, 1e-15);
    assert_near(ref_scale(&p, 3), 1.0 / 3.0, 1e-15);
    p.param = MUPC_PARAM_SP;
    for (int l = 0; l < 4; l++)
      assert_near(ref_scale(&p, l), 1.0, 0.0);
    /* Skips only on the hidden N → N layers. */
    assert_near(ref_skip(&p, 0), 0.0, 0.0);
    assert_near(ref_skip(&p, 1), skips ? 1.0 : 0.0, 0.0);
    assert_near(ref_skip(&p, 2), skips ? 1.0 : 0.0, 0.0);
    assert_near(ref_skip(&p, 3), 0.0, 0.0);
  }
  /* L = 2: no hidden layer, so no skip anywhere. */
  p.depth = 2;
  p.skips = 1;
  p.param = MUPC_PARAM_MUPC;
  assert_near(ref_skip(&p, 0), 0.0, 0.0);
  assert_near(ref_skip(&p, 1), 0.0, 0.0);
  assert_near(ref_scale(&p, 1), 1.0 / 9.0, 1e-15);
}

static void test_activation_values(void **state) {
  (void)state;
  const double tol = 1e-15;
  assert_near(ref_phi(MUPC_ACT_LINEAR, -1.5), -1.5, 0.0);
  assert_near(ref_phi(MUPC_ACT_RELU, -1.5), 0.0, 0.0);
  assert_near(ref_phi(MUPC_ACT_RELU, 2.5), 2.5, 0.0);
  assert_near(ref_phi(MUPC_ACT_TANH, 0.5), 0.46211715726000974, tol);
  assert_near(ref_phi(MUPC_ACT_HARD_TANH, 0.3), 0.3, 0.0);
  assert_near(ref_phi(MUPC_ACT_HARD_TANH, 3.0), 1.0, 0.0);
  assert_near(ref_phi(MUPC_ACT_HARD_TANH, -3.0), -1.0, 0.0);
  assert_near(ref_phi(MUPC_ACT_LEAKY_RELU, -2.0), -0.02, tol);
  assert_near(ref_phi(MUPC_ACT_LEAKY_RELU, 2.0), 2.0, 0.0);
  assert_near(ref_phi(MUPC_ACT_GELU, 1.0), 0.8413447460685429, tol);
  assert_near(ref_phi(MUPC_ACT_GELU, -0.5), -0.15426876936299344, tol);
  assert_near(ref_phi(MUPC_ACT_SELU, -1.0), -1.1113307378125625, tol);
  assert_near(ref_phi(MUPC_ACT_SELU, 2.0), 2.101401974710961, tol);
  assert_near(ref_phi(MUPC_ACT_SILU, 1.0), 0.7310585786300049, tol);
  assert_near(ref_phi(MUPC_ACT_SILU, -2.0), -0.2384058440442351, tol);
  /* Far tails stay finite (the sigmoid must not overflow). */
  assert_near(ref_phi(MUPC_ACT_SILU, -800.0), 0.0, 1e-300);
  assert_near(ref_dphi(MUPC_ACT_SILU, -800.0), 0.0, 1e-300);
  assert_near(ref_dphi(MUPC_ACT_SILU, 800.0), 1.0, 0.0);

  /* The documented values at the kinks. */
  assert_near(ref_dphi(MUPC_ACT_RELU, 0.0), 0.0, 0.0);
  assert_near(ref_dphi(MUPC_ACT_LEAKY_RELU, 0.0), 0.01, 0.0);
  assert_near(ref_dphi(MUPC_ACT_HARD_TANH, 1.0), 0.0, 0.0);
  assert_near(ref_dphi(MUPC_ACT_HARD_TANH, -1.0), 0.0, 0.0);
  assert_near(ref_dphi(MUPC_ACT_SELU, 0.0), 1.0507009873554805 * 1.6732632423543772, tol);
  assert_near(ref_dphi(MUPC_ACT_HARD_TANH, 0.999), 1.0, 0.0);
  assert_near(ref_dphi(MUPC_ACT_HARD_TANH, 1.001), 0.0, 0.0);
}

/* Every derivative against a central difference of its function, at points
 * spread over [-4, 4] but off the kinks. */
static void test_activation_derivatives(void **state) {
  (void)state;
  for (int a = 0; a < MUPC_ACT_COUNT; a++) {
    for (double x = -4.0 + 0.0137; x < 4.0; x += 0.0731) {
      double xs = away_from_kinks(x);
      double fd = (ref_phi(a, xs + FD_H) - ref_phi(a, xs - FD_H)) / (2 * FD_H);
      double an = ref_dphi(a, xs);
      if (!close_enough(an, fd))
        print_message("%s'(%g): analytic %.15g fd %.15g\n", ACT_NAMES[a], xs, an, fd);
      assert_true(close_enough(an, fd));
    }
  }
}

/* ---- forward pass and energy by hand ----------------------------------------- */

/* Weights shared by the two hand-computed nets: D = N = C = 2, L = 3. */
static const float HW0[] = {1, 2, 3, -1};
static const float HW1[] = {1, 1, 2, -1};
static const float HW2[] = {1, 0, 0.5f, 2};

static void set_hand_weights(ref_net *r) {
  ref_set_weight(r, 0, HW0);
  ref_set_weight(r, 1, HW1);
  ref_set_weight(r, 2, HW2);
}

static mupc_net_params hand_params(mupc_param param, int skips, mupc_act act, mupc_loss loss,
                                   int batch) {
  cfg c = {act, loss, param, skips, ""};
  mupc_net_params p = small_params(&c, 3);
  p.input_dim = p.width = p.output_dim = 2;
  p.batch = batch;
  return p;
}

/* The perturbation applied to the feedforward activities in both hand cases. */
static void hand_perturb(ref_net *r) {
  for (int b = 0; b < r->p.batch; b++) {
    r->z[0][b * 2 + 0] += 0.5;
    r->z[0][b * 2 + 1] -= 0.25;
    r->z[1][b * 2 + 0] += 0.1;
    r->z[1][b * 2 + 1] += 0.3;
  }
}

/* mupc, skips, relu, MSE, B = 1: a_1 = 1/√2, a_2 = 1/√6, a_3 = 1/2, s_2 = 1. */
static void test_forward_by_hand_mupc_relu_mse(void **state) {
  (void)state;
  mupc_net_params p = hand_params(MUPC_PARAM_MUPC, 1, MUPC_ACT_RELU, MUPC_LOSS_MSE, 1);
  ref_net r;
  assert_int_equal(ref_init(&r, &p), 0);
  set_hand_weights(&r);
  const float x[] = {1, -2}, y[] = {1, 0};
  ref_set_batch(&r, x, y);
  double loss = ref_feedforward(&r);

  /* z1 = (1/√2)·x W0ᵀ = (1/√2)·(-3, 5). */
  double z1[2] = {-3 / sqrt(2.0), 5 / sqrt(2.0)};
  assert_near(r.z[0][0], z1[0], 1e-15);
  assert_near(r.z[0][1], z1[1], 1e-15);
  /* z2 = (1/√6)·relu(z1) W1ᵀ + z1, relu(z1) = (0, 5/√2). */
  double z2[2] = {(5 / sqrt(2.0)) / sqrt(6.0) + z1[0], -(5 / sqrt(2.0)) / sqrt(6.0) + z1[1]};
  assert_near(r.z[1][0], z2[0], 1e-15);
  assert_near(r.z[1][1], z2[1], 1e-15);
  /* ŷ = ½·relu(z2) W2ᵀ, z2[0] < 0, so ŷ = (0, z2[1]); loss ½‖y − ŷ‖². */
  double f[2] = {0.0, 0.5 * 2 * z2[1]};
  double want = 0.5 * ((1 - f[0]) * (1 - f[0]) + f[1] * f[1]);
  assert_near(loss, want, 1e-14);
  assert_near(loss, 2.688563035868378, 1e-14);
  assert_near(ref_bp_loss(&r), loss, 0.0);

  double out[2];
  ref_forward_layer(&r, 2, r.z[1], out);
  assert_near(out[0], f[0], 1e-15);
  assert_near(out[1], f[1], 1e-15);

  hand_perturb(&r);
  double per[3];
  double total = ref_energy(&r, per);
  assert_near(per[0], 0.15625, 1e-15); /* ½(0.5² + 0.25²) */
  assert_near(per[1], 0.1447076976814991, 1e-14);
  assert_near(per[2], 3.3612105057559796, 1e-14);
  assert_near(total, 3.6621682034374787, 1e-14);
  ref_free(&r);
}

/* sp, no skips, tanh, CE, B = 2: every a_l = 1, no s_l. */
static void test_forward_by_hand_sp_tanh_ce(void **state) {
  (void)state;
  mupc_net_params p = hand_params(MUPC_PARAM_SP, 0, MUPC_ACT_TANH, MUPC_LOSS_CE, 2);
  ref_net r;
  assert_int_equal(ref_init(&r, &p), 0);
  set_hand_weights(&r);
  const float x[] = {1, -2, 0.5f, 0.25f}, y[] = {1, 0, 0, 1};
  ref_set_batch(&r, x, y);
  double loss = ref_feedforward(&r);
  /* Sample 0: z1 = x W0ᵀ = (-3, 5); z2 = tanh(z1) W1ᵀ. */
  assert_near(r.z[0][0], -3.0, 0.0);
  assert_near(r.z[0][1], 5.0, 0.0);
  assert_near(r.z[1][0], tanh(-3.0) + tanh(5.0), 1e-15);
  assert_near(r.z[1][1], 2 * tanh(-3.0) - tanh(5.0), 1e-15);
  assert_near(r.z[0][2], 1.0, 0.0);
  assert_near(r.z[0][3], 1.25, 0.0);
  assert_near(loss, 0.2630682108044297, 1e-14);
  assert_near(ref_bp_loss(&r), loss, 0.0);

  /* The CE output error is y − softmax(logits). */
  double **e = ref_alloc_like_e(&r);
  ref_errors(&r, e);
  double f0 = 0.004854412443397657, f1 = -1.9874833805687029; /* sample 0 logits */
  double sm0 = exp(f0) / (exp(f0) + exp(f1));
  assert_near(e[2][0], 1.0 - sm0, 1e-14);
  assert_near(e[2][1], -(1.0 - sm0), 1e-14);
  ref_free_arrays(e, 3);

  hand_perturb(&r);
  double per[3];
  double total = ref_energy(&r, per);
  assert_near(per[0], 0.15625, 1e-15);
  assert_near(per[1], 0.02395594255346413, 1e-14);
  assert_near(per[2], 0.2136697694011645, 1e-14);
  assert_near(total, 0.3938757119546286, 1e-14);
  ref_free(&r);
}

/* ---- feedforward, inference -------------------------------------------------- */

/* Loops over every activation × loss × parameterisation × skips × depth. */
#define FOR_ALL_CONFIGS(c, depth)                                                                  \
  for (int a_ = 0; a_ < MUPC_ACT_COUNT; a_++)                                                      \
    for (int l_ = 0; l_ < MUPC_LOSS_COUNT; l_++)                                                   \
      for (int p_ = 0; p_ < MUPC_PARAM_COUNT; p_++)                                                \
        for (int s_ = 0; s_ <= 1; s_++)                                                            \
          for (int depth = 2; depth <= 4; depth++)                                                 \
            for (cfg c = {(mupc_act)a_, (mupc_loss)l_, (mupc_param)p_, s_, ""}, *once_ = &c;       \
                 once_; once_ = NULL)

static void test_feedforward_zeroes_hidden_errors(void **state) {
  (void)state;
  FOR_ALL_CONFIGS(c, depth) {
    mupc_net_params p = small_params(&c, depth);
    ref_net r;
    assert_int_equal(ref_init(&r, &p), 0);
    fill_net(&r, 99);
    double loss = ref_feedforward(&r);
    double **e = ref_alloc_like_e(&r);
    ref_errors(&r, e);
    /* The same function computed z and f, so the hidden errors are exactly 0. */
    for (int l = 0; l < depth - 1; l++)
      for (int i = 0; i < p.batch * p.width; i++)
        assert_true(e[l][i] == 0.0);
    int nonzero = 0;
    for (int i = 0; i < p.batch * p.output_dim; i++)
      nonzero += e[depth - 1][i] != 0.0;
    assert_true(nonzero > 0);
    /* With no hidden error the energy is the loss, and so is BP's loss. */
    double per[4];
    double F = ref_energy(&r, per);
    for (int l = 0; l < depth - 1; l++)
      assert_true(per[l] == 0.0);
    assert_near(F, loss, 1e-15 * fabs(loss));
    assert_near(ref_bp_loss(&r), loss, 0.0);
    ref_free_arrays(e, depth);
    ref_free(&r);
  }
}

static void test_infer_gd_decreases_energy(void **state) {
  (void)state;
  FOR_ALL_CONFIGS(c, depth) {
    mupc_net_params p = small_params(&c, depth);
    p.activity_lr = 0.05f;
    ref_net r;
    assert_int_equal(ref_init(&r, &p), 0);
    fill_net(&r, 7);
    double F0 = ref_energy(&r, NULL), prev = F0;
    for (int t = 0; t < 20; t++) {
      ref_infer(&r, 1);
      double F = ref_energy(&r, NULL);
      assert_true(F <= prev + 1e-15 * fabs(prev));
      prev = F;
    }
    if (!(prev < F0))
      print_message("no decrease: act %s loss %s param %s skips %d L %d: %g -> %g\n",
                    ACT_NAMES[c.act], LOSS_NAMES[c.loss], PARAM_NAMES[c.param], c.skips, depth, F0,
                    prev);
    assert_true(prev < F0);
    ref_free(&r);
  }
}

/* One GD step moves every layer by −η·∂F/∂z computed from the same state
 * (not layer by layer), and zero steps change nothing. */
static void test_infer_gd_is_simultaneous(void **state) {
  (void)state;
  cfg c = {MUPC_ACT_TANH, MUPC_LOSS_CE, MUPC_PARAM_MUPC, 1, ""};
  mupc_net_params p = small_params(&c, 4);
  ref_net r;
  assert_int_equal(ref_init(&r, &p), 0);
  fill_net(&r, 3);
  perturb_activities(&r, 3);
  double **z0 = ref_alloc_like_z(&r), **dz = ref_alloc_like_z(&r);
  size_t BN = (size_t)p.batch * p.width;
  for (int l = 0; l < 3; l++)
    memcpy(z0[l], r.z[l], BN * sizeof(double));
  ref_infer(&r, 0);
  for (int l = 0; l < 3; l++)
    assert_memory_equal(z0[l], r.z[l], BN * sizeof(double));
  ref_activity_grads(&r, dz);
  ref_infer(&r, 1);
  for (int l = 0; l < 3; l++)
    for (size_t i = 0; i < BN; i++)
      assert_near(r.z[l][i], z0[l][i] - (double)p.activity_lr * dz[l][i], 1e-15);
  ref_free_arrays(z0, 3);
  ref_free_arrays(dz, 3);
  ref_free(&r);
}

/* Adam on activities: state is fresh per call, so the first step of a call
 * is η·g/(|g| + ε) and the second follows the bias-corrected moments. */
static void test_infer_adam(void **state) {
  (void)state;
  cfg c = {MUPC_ACT_GELU, MUPC_LOSS_MSE, MUPC_PARAM_MUPC, 1, ""};
  mupc_net_params p = small_params(&c, 3);
  p.activity_optim = MUPC_AOPTIM_ADAM;
  p.activity_lr = 0.125f;
  p.adam_beta1 = 0.5f;
  p.adam_beta2 = 0.75f;
  p.adam_eps = 0x1.0p-10f;
  ref_net r;
  assert_int_equal(ref_init(&r, &p), 0);
  fill_net(&r, 11);
  perturb_activities(&r, 11);
  size_t BN = (size_t)p.batch * p.width;
  double **z0 = ref_alloc_like_z(&r), **g1 = ref_alloc_like_z(&r), **g2 = ref_alloc_like_z(&r);
  double **z1 = ref_alloc_like_z(&r);
  for (int l = 0; l < 2; l++)
    memcpy(z0[l], r.z[l], BN * sizeof(double));

  ref_activity_grads(&r, g1);
  ref_infer(&r, 1);
  for (int l = 0; l < 2; l++)
    for (size_t i = 0; i < BN; i++) {
      double g = g1[l][i];
      z1[l][i] = z0[l][i] - 0.125 * g / (fabs(g) + 0x1.0p-10);
      assert_near(r.z[l][i], z1[l][i], 1e-15);
    }

  /* A second call starts afresh: the same first-step rule again. */
  ref_activity_grads(&r, g2);
  ref_infer(&r, 1);
  for (int l = 0; l < 2; l++)
    for (size_t i = 0; i < BN; i++) {
      double g = g2[l][i];
      assert_near(r.z[l][i], z1[l][i] - 0.125 * g / (fabs(g) + 0x1.0p-10), 1e-15);
    }

  /* Two steps in one call: m = ½g1·½ + ½g2, v likewise with β2, then
   * bias-corrected by 1 − β^2. */
  for (int l = 0; l < 2; l++)
    memcpy(r.z[l], z0[l], BN * sizeof(double));
  ref_infer(&r, 2);
  for (int l = 0; l < 2; l++)
    for (size_t i = 0; i < BN; i++) {
      double a = g1[l][i], b = g2[l][i];
      double m = 0.5 * (0.5 * a) + 0.5 * b;
      double v = 0.75 * (0.25 * a * a) + 0.25 * b * b;
      double mh = m / (1 - 0.25), vh = v / (1 - 0.5625);
      assert_near(r.z[l][i], z1[l][i] - 0.125 * mh / (sqrt(vh) + 0x1.0p-10), 1e-15);
    }
  ref_free_arrays(z0, 2);
  ref_free_arrays(z1, 2);
  ref_free_arrays(g1, 2);
  ref_free_arrays(g2, 2);
  ref_free(&r);
}

/* ---- optimisers on a 1-element network ---------------------------------- */

static mupc_net_params one_element_params(mupc_optim optim) {
  cfg c = {MUPC_ACT_LINEAR, MUPC_LOSS_MSE, MUPC_PARAM_SP, 0, ""};
  mupc_net_params p = small_params(&c, 2);
  p.input_dim = p.width = p.output_dim = p.batch = 1;
  p.optim = optim;
  /* Exactly representable in float, so the hand values are exact. */
  p.lr = 0.25f;
  p.weight_decay = 0.0625f;
  p.adam_beta1 = 0.5f;
  p.adam_beta2 = 0.75f;
  p.adam_eps = 0x1.0p-10f;
  return p;
}

static void test_update_sgd(void **state) {
  (void)state;
  mupc_net_params p = one_element_params(MUPC_OPTIM_SGD);
  ref_net r;
  assert_int_equal(ref_init(&r, &p), 0);
  r.W[0][0] = 2.0;
  r.W[1][0] = -1.0;
  double g0[] = {0.5}, g1[] = {0.0};
  double *dW[] = {g0, g1};
  ref_update(&r, dW);
  /* g = 0.5 + 0.0625·2 = 0.625; W = 2 − 0.25·0.625. Weight decay alone on W[1]. */
  assert_near(r.W[0][0], 1.84375, 0.0);
  assert_near(r.W[1][0], -1.0 + 0.25 * 0.0625, 0.0);
  assert_int_equal(r.t, 0);
  ref_free(&r);
}

static void test_update_adam(void **state) {
  (void)state;
  mupc_net_params p = one_element_params(MUPC_OPTIM_ADAM);
  ref_net r;
  assert_int_equal(ref_init(&r, &p), 0);
  r.W[0][0] = 2.0;
  double g0[] = {0.5}, g1[] = {0.0};
  double *dW[] = {g0, g1};
  ref_update(&r, dW);
  /* t = 1: g = 0.625, m = 0.3125, v = 0.25·0.625², m̂ = g, v̂ = g², so
   * W = 2 − 0.25·0.625/(0.625 + 2^-10). */
  assert_int_equal(r.t, 1);
  assert_near(r.m[0][0], 0.3125, 0.0);
  assert_near(r.v[0][0], 0.09765625, 0.0);
  assert_near(r.W[0][0], 2.0 - 0.25 * 0.625 / (0.625 + 0x1.0p-10), 1e-15);
  assert_near(r.W[0][0], 1.750390015600624, 1e-15);
  /* A zero gradient on a zero weight stays exactly zero. */
  assert_near(r.W[1][0], 0.0, 0.0);

  g0[0] = -1.0;
  ref_update(&r, dW);
  assert_int_equal(r.t, 2);
  assert_near(r.m[0][0], -0.2890503120124805, 1e-15);
  assert_near(r.v[0][0], 0.2715345553784125, 1e-15);
  assert_near(r.W[0][0], 1.8725392226080924, 1e-15);
  ref_free(&r);
}

/* ---- PC and BP agree where theory says they must -------------------------- */

/* At the feedforward init only e_L is non-zero, so PC's readout gradient is
 * BP's readout gradient and every other PC weight gradient is zero. */
static void test_pc_equals_bp_at_feedforward_readout(void **state) {
  (void)state;
  FOR_ALL_CONFIGS(c, depth) {
    mupc_net_params p = small_params(&c, depth);
    ref_net r;
    assert_int_equal(ref_init(&r, &p), 0);
    fill_net(&r, 5);
    double **pc = ref_alloc_like_W(&r), **bp = ref_alloc_like_W(&r);
    ref_weight_grads(&r, pc);
    ref_bp_grads(&r, bp);
    int O, I;
    ref_weight_shape(&p, depth - 1, &O, &I);
    for (int i = 0; i < O * I; i++)
      assert_near(pc[depth - 1][i], bp[depth - 1][i], 1e-14);
    for (int l = 0; l < depth - 1; l++) {
      ref_weight_shape(&p, l, &O, &I);
      for (int i = 0; i < O * I; i++)
        assert_true(pc[l][i] == 0.0);
    }
    ref_free_arrays(pc, depth);
    ref_free_arrays(bp, depth);
    ref_free(&r);
  }
}

/* ---- the training step is its parts in order ------------------------------- */

static void test_train_step_composition(void **state) {
  (void)state;
  for (int algo = 0; algo < MUPC_ALGO_COUNT; algo++) {
    cfg c = {MUPC_ACT_RELU, MUPC_LOSS_CE, MUPC_PARAM_MUPC, 1, ""};
    mupc_net_params p = small_params(&c, 4);
    p.algo = (mupc_algo)algo;
    ref_net a, b;
    assert_int_equal(ref_init(&a, &p), 0);
    assert_int_equal(ref_init(&b, &p), 0);
    fill_net(&a, 21);
    fill_net(&b, 21);
    float x[15], y[9];
    for (int i = 0; i < 15; i++)
      x[i] = (float)a.x[i];
    for (int i = 0; i < 9; i++)
      y[i] = (i % 3 == i / 3) ? 1.0f : 0.0f; /* one-hot */

    double loss = ref_train_step(&a, x, y);

    ref_set_batch(&b, x, y);
    double want = ref_feedforward(&b);
    double **dW = ref_alloc_like_W(&b);
    if (algo == MUPC_ALGO_BP) {
      ref_bp_grads(&b, dW);
    } else {
      ref_infer(&b, p.infer_steps);
      ref_weight_grads(&b, dW);
    }
    ref_update(&b, dW);
    assert_near(loss, want, 0.0);
    assert_int_equal(a.t, 1);
    for (int l = 0; l < 4; l++) {
      int O, I;
      ref_weight_shape(&p, l, &O, &I);
      assert_memory_equal(a.W[l], b.W[l], (size_t)O * I * sizeof(double));
    }
    ref_free_arrays(dW, 4);
    ref_free(&a);
    ref_free(&b);
  }
}

static void test_init_rejects_bad_sizes(void **state) {
  (void)state;
  cfg c = {MUPC_ACT_RELU, MUPC_LOSS_MSE, MUPC_PARAM_MUPC, 1, ""};
  mupc_net_params p = small_params(&c, 1);
  ref_net r;
  assert_int_equal(ref_init(&r, &p), MUPC_EINVAL);
  p = small_params(&c, 3);
  p.width = 0;
  assert_int_equal(ref_init(&r, &p), MUPC_EINVAL);
  p = small_params(&c, 3);
  assert_int_equal(ref_init(&r, &p), 0);
  for (int l = 0; l < 3; l++) {
    int O, I;
    ref_weight_shape(&p, l, &O, &I);
    for (int i = 0; i < O * I; i++)
      assert_true(r.W[l][i] == 0.0);
  }
  assert_int_equal(r.t, 0);
  ref_free(&r);
}

/* ---- registration ------------------------------------------------------------ */

#define NCFG (MUPC_ACT_COUNT * MUPC_LOSS_COUNT * MUPC_PARAM_COUNT * 2)

int main(void) {
  static cfg cfgs[NCFG];
  static char names[2 * NCFG][96];
  static const struct CMUnitTest fixed[] = {
      cmocka_unit_test(test_checker_detects_errors),
      cmocka_unit_test(test_scale_and_skip_table),
      cmocka_unit_test(test_activation_values),
      cmocka_unit_test(test_activation_derivatives),
      cmocka_unit_test(test_forward_by_hand_mupc_relu_mse),
      cmocka_unit_test(test_forward_by_hand_sp_tanh_ce),
      cmocka_unit_test(test_feedforward_zeroes_hidden_errors),
      cmocka_unit_test(test_infer_gd_decreases_energy),
      cmocka_unit_test(test_infer_gd_is_simultaneous),
      cmocka_unit_test(test_infer_adam),
      cmocka_unit_test(test_update_sgd),
      cmocka_unit_test(test_update_adam),
      cmocka_unit_test(test_pc_equals_bp_at_feedforward_readout),
      cmocka_unit_test(test_train_step_composition),
      cmocka_unit_test(test_init_rejects_bad_sizes),
  };
  enum { NFIXED = sizeof fixed / sizeof fixed[0] };
  static struct CMUnitTest tests[NFIXED + 2 * NCFG];
  memcpy(tests, fixed, sizeof fixed);

  /* One finite-difference test per activation × loss × parameterisation ×
   * skips, each over depths 2, 3, 4, for PC and for BP. */
  int n = NFIXED, k = 0;
  for (int a = 0; a < MUPC_ACT_COUNT; a++)
    for (int l = 0; l < MUPC_LOSS_COUNT; l++)
      for (int p = 0; p < MUPC_PARAM_COUNT; p++)
        for (int s = 0; s <= 1; s++, k++) {
          cfg *c = &cfgs[k];
          c->act = (mupc_act)a;
          c->loss = (mupc_loss)l;
          c->param = (mupc_param)p;
          c->skips = s;
          snprintf(c->name, sizeof c->name, "%s/%s/%s/%s", ACT_NAMES[a], LOSS_NAMES[l],
                   PARAM_NAMES[p], s ? "skips" : "noskips");
          for (int bp = 0; bp <= 1; bp++) {
            char *nm = names[2 * k + bp];
            snprintf(nm, sizeof names[0], "%s_fd/%s", bp ? "bp" : "pc", c->name);
            tests[n] = (struct CMUnitTest){nm, bp ? test_bp_fd : test_pc_fd, NULL, NULL, c};
            n++;
          }
        }
  return _cmocka_run_group_tests("ref_fd", tests, (size_t)n, NULL, NULL);
}
