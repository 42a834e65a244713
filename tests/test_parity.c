/* The OpenCL training step against the double-precision reference
 * (tests/ref): energies, activity gradients, activities after T steps,
 * weight gradients and weights after one Adam and one SGD update, on every
 * OpenCL implementation present. Error is max|a−b| / (max|b| + 1e-6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mupc.h"
#include "ref/ref.h"
#include "testdev.h"

#define TOL 1e-4

static const char *specs[4];
static int nspecs;

/* Largest normalised error seen per quantity, printed at the end. */
enum { Q_LOSS, Q_Z_FF, Q_ENERGY, Q_DZ, Q_Z_T, Q_DW, Q_W_SGD, Q_W_ADAM, Q_BP_DW, Q_COUNT };
static const char *const qnames[Q_COUNT] = {
    "feedforward loss", "feedforward activities", "energies", "activity gradients",
    "activities after T steps", "weight gradients", "weights after SGD", "weights after Adam",
    "backprop weight gradients"};
static double worst[Q_COUNT];

static double norm_err(const float *a, const double *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num = fmax(num, fabs((double)a[i] - b[i]));
    den = fmax(den, fabs(b[i]));
  }
  return num / (den + 1e-6);
}

static void note(int q, double err, const char *what, const mupc_net_params *p, int layer) {
  if (err > worst[q]) worst[q] = err;
  if (err > TOL)
    fail_msg("%s: %s err %.3g > %.0e (act %s param %s loss %s skips %d L=%d N=%d layer %d)",
             specs[0] ? what : "", qnames[q], err, TOL, mupc_act_name(p->act),
             mupc_param_name(p->param), mupc_loss_name(p->loss), p->skips, p->depth, p->width,
             layer);
}

static uint64_t rng_state = 12345;
static double urand(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng_state >> 11) * 0x1.0p-53;
}

static void make_batch(const mupc_net_params *p, float *x, float *y) {
  for (int i = 0; i < p->batch * p->input_dim; i++) x[i] = (float)(2 * urand() - 1);
  memset(y, 0, sizeof(float) * p->batch * p->output_dim);
  for (int b = 0; b < p->batch; b++) y[b * p->output_dim + (int)(urand() * p->output_dim)] = 1;
}

static void copy_weights(mupc_net *net, ref_net *r) {
  const mupc_net_params *p = mupc_net_get_params(net);
  for (int l = 0; l < p->depth; l++) {
    size_t n = mupc_net_tensor_size(net, MUPC_T_WEIGHT, l);
    float *w = malloc(n * sizeof *w);
    assert_int_equal(mupc_net_read(net, MUPC_T_WEIGHT, l, w), MUPC_OK);
    ref_set_weight(r, l, w);
    free(w);
  }
}

static double tensor_err(mupc_net *net, mupc_tensor_kind kind, int layer, const double *want) {
  size_t n = mupc_net_tensor_size(net, kind, layer);
  float *got = malloc(n * sizeof *got);
  assert_int_equal(mupc_net_read(net, kind, layer, got), MUPC_OK);
  double err = norm_err(got, want, n);
  free(got);
  return err;
}

/* Adam moves every weight by about ±lr whatever its gradient, so compare
 * the update only where the gradient is clearly non-zero. */
static double adam_err(mupc_net *net, int layer, const double *want, const double *grad) {
  size_t n = mupc_net_tensor_size(net, MUPC_T_WEIGHT, layer);
  float *got = malloc(n * sizeof *got);
  assert_int_equal(mupc_net_read(net, MUPC_T_WEIGHT, layer, got), MUPC_OK);
  double gmax = 0;
  for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(grad[i]));
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    den = fmax(den, fabs(want[i]));
    if (fabs(grad[i]) > 1e-2 * gmax) num = fmax(num, fabs((double)got[i] - want[i]));
  }
  free(got);
  return num / (den + 1e-6);
}

/* The whole comparison for one configuration on one context. */
static void check_config(mupc_ctx *ctx, const mupc_net_params *p) {
  mupc_net *net = NULL;
  int rc = mupc_net_init(&net, ctx, p);
  if (rc) fail_msg("mupc_net_init: %s: %s", mupc_strerror(rc), mupc_errmsg());
  ref_net r;
  assert_int_equal(ref_init(&r, p), 0);
  copy_weights(net, &r);
  const int L = p->depth;
  float *x = malloc(sizeof(float) * p->batch * p->input_dim);
  float *y = malloc(sizeof(float) * p->batch * p->output_dim);
  make_batch(p, x, y);
  ref_set_batch(&r, x, y);

  assert_int_equal(mupc_net_load_batch(net, x, y), MUPC_OK);
  float loss;
  assert_int_equal(mupc_net_feedforward(net, &loss), MUPC_OK);
  double rloss = ref_feedforward(&r);
  note(Q_LOSS, fabs(loss - rloss) / (fabs(rloss) + 1e-6), "ff", p, -1);
  for (int l = 0; l < L - 1; l++) note(Q_Z_FF, tensor_err(net, MUPC_T_ACTIVITY, l, r.z[l]), "", p, l);

  if (p->algo == MUPC_ALGO_BP) {
    double **dW = ref_alloc_like_W(&r);
    ref_bp_grads(&r, dW);
    assert_int_equal(mupc_net_weight_grads(net), MUPC_OK);
    for (int l = 0; l < L; l++) note(Q_BP_DW, tensor_err(net, MUPC_T_WEIGHT_GRAD, l, dW[l]), "", p, l);
    ref_free_arrays(dW, L);
    goto DONE;
  }

  assert_int_equal(mupc_net_infer(net, p->infer_steps), MUPC_OK);
  ref_infer(&r, p->infer_steps);
  for (int l = 0; l < L - 1; l++) note(Q_Z_T, tensor_err(net, MUPC_T_ACTIVITY, l, r.z[l]), "", p, l);

  float *energy = malloc(sizeof(float) * L);
  double *renergy = malloc(sizeof(double) * L);
  float total;
  assert_int_equal(mupc_net_energy(net, energy, &total), MUPC_OK);
  double rtotal = ref_energy(&r, renergy);
  note(Q_ENERGY, norm_err(energy, renergy, (size_t)L), "", p, -1);
  note(Q_ENERGY, fabs(total - rtotal) / (fabs(rtotal) + 1e-6), "", p, -1);
  free(energy);
  free(renergy);

  /* Near equilibrium the gradient is a small difference of large terms, so
   * float32 cancellation dominates any comparison there. Move every
   * activity off the inference path, identically on both sides, and
   * compare the gradients and the learning step at that state. */
  float *zf = malloc(sizeof(float) * mupc_net_tensor_size(net, MUPC_T_ACTIVITY, 0));
  for (int l = 0; l < L - 1; l++) {
    size_t n = mupc_net_tensor_size(net, MUPC_T_ACTIVITY, l);
    assert_int_equal(mupc_net_read(net, MUPC_T_ACTIVITY, l, zf), MUPC_OK);
    for (size_t i = 0; i < n; i++) {
      zf[i] += (float)(0.5 * (2 * urand() - 1));
      r.z[l][i] = zf[i];
    }
    assert_int_equal(mupc_net_write(net, MUPC_T_ACTIVITY, l, zf), MUPC_OK);
  }
  free(zf);
  energy = malloc(sizeof(float) * L);
  renergy = malloc(sizeof(double) * L);
  assert_int_equal(mupc_net_energy(net, energy, &total), MUPC_OK);
  rtotal = ref_energy(&r, renergy);
  note(Q_ENERGY, norm_err(energy, renergy, (size_t)L), "", p, -1);
  free(energy);
  free(renergy);

  double **dz = ref_alloc_like_z(&r);
  ref_activity_grads(&r, dz);
  assert_int_equal(mupc_net_activity_grads(net), MUPC_OK);
  for (int l = 0; l < L - 1; l++)
    note(Q_DZ, tensor_err(net, MUPC_T_ACTIVITY_GRAD, l, dz[l]), "", p, l);
  ref_free_arrays(dz, L - 1);

  double **dW = ref_alloc_like_W(&r);
  ref_weight_grads(&r, dW);
  assert_int_equal(mupc_net_weight_grads(net), MUPC_OK);
  for (int l = 0; l < L; l++) note(Q_DW, tensor_err(net, MUPC_T_WEIGHT_GRAD, l, dW[l]), "", p, l);

  ref_update(&r, dW);
  assert_int_equal(mupc_net_update(net), MUPC_OK);
  for (int l = 0; l < L; l++) {
    if (p->optim == MUPC_OPTIM_SGD)
      note(Q_W_SGD, tensor_err(net, MUPC_T_WEIGHT, l, r.W[l]), "", p, l);
    else
      note(Q_W_ADAM, adam_err(net, l, r.W[l], dW[l]), "", p, l);
  }
  ref_free_arrays(dW, L);
DONE:
  free(x);
  free(y);
  ref_free(&r);
  mupc_net_free(net);
}

static mupc_net_params awkward(int L) {
  mupc_net_params p = mupc_net_default_params();
  p.input_dim = 37;
  p.width = 19;
  p.output_dim = 3;
  p.batch = 5;
  p.depth = L;
  p.infer_steps = 4;
  p.activity_lr = 0.2f;
  p.lr = 1e-2f;
  p.weight_decay = 1e-3f;
  return p;
}

typedef void (*per_ctx_fn)(mupc_ctx *ctx);

static void on_each_device(per_ctx_fn fn) {
  for (int i = 0; i < nspecs; i++) {
    mupc_ctx *ctx = NULL;
    int rc = mupc_ctx_init(&ctx, specs[i]);
    if (rc) fail_msg("%s: %s", specs[i], mupc_errmsg());
    fn(ctx);
    mupc_ctx_free(ctx);
  }
}

static void activations_on(mupc_ctx *ctx) {
  for (int a = 0; a < MUPC_ACT_COUNT; a++)
    for (int L = 2; L <= 7; L += L == 2 ? 1 : 4) { /* 2, 3, 7 */
      mupc_net_params p = awkward(L);
      p.act = (mupc_act)a;
      check_config(ctx, &p);
    }
}
static void test_activations(void **state) {
  (void)state;
  on_each_device(activations_on);
}

static void variants_on(mupc_ctx *ctx) {
  for (int param = 0; param < MUPC_PARAM_COUNT; param++)
    for (int loss = 0; loss < MUPC_LOSS_COUNT; loss++)
      for (int skips = 0; skips <= 1; skips++)
        for (int optim = 0; optim < MUPC_OPTIM_COUNT; optim++) {
          mupc_net_params p = awkward(7);
          p.act = MUPC_ACT_TANH;
          p.param = (mupc_param)param;
          p.loss = (mupc_loss)loss;
          p.skips = skips;
          p.optim = (mupc_optim)optim;
          if (param == MUPC_PARAM_SP) p.activity_lr = 0.05f;
          check_config(ctx, &p);
        }
}
static void test_variants(void **state) {
  (void)state;
  on_each_device(variants_on);
}

static void activity_adam_on(mupc_ctx *ctx) {
  for (int wf = 0; wf <= 1; wf++) {
    mupc_net_params p = awkward(7);
    p.activity_optim = MUPC_AOPTIM_ADAM;
    p.activity_lr = 0.05f;
    p.wavefront = wf;
    p.optim = MUPC_OPTIM_SGD;
    check_config(ctx, &p);
  }
}
static void test_activity_adam(void **state) {
  (void)state;
  on_each_device(activity_adam_on);
}

static void backprop_on(mupc_ctx *ctx) {
  for (int loss = 0; loss < MUPC_LOSS_COUNT; loss++)
    for (int skips = 0; skips <= 1; skips++) {
      mupc_net_params p = awkward(7);
      p.algo = MUPC_ALGO_BP;
      p.act = MUPC_ACT_GELU;
      p.loss = (mupc_loss)loss;
      p.skips = skips;
      check_config(ctx, &p);
    }
}
static void test_backprop(void **state) {
  (void)state;
  on_each_device(backprop_on);
}

static void larger_on(mupc_ctx *ctx) {
  mupc_net_params p = mupc_net_default_params();
  p.input_dim = 64;
  p.width = 256;
  p.depth = 16;
  p.batch = 64;
  p.infer_steps = 16;
  p.optim = MUPC_OPTIM_SGD;
  check_config(ctx, &p);
}
static void test_larger(void **state) {
  (void)state;
  on_each_device(larger_on);
}

/* T = L: the wavefront's band reaches layer 1 at either depth (the fused
 * inference of --gemm kernels takes one more enqueue once it does). */
static int enqueues_at(mupc_ctx *ctx, int L) {
  mupc_net_params p = awkward(L);
  p.infer_steps = L;
  mupc_net *net;
  assert_int_equal(mupc_net_init(&net, ctx, &p), MUPC_OK);
  float *x = calloc((size_t)p.batch * p.input_dim, sizeof *x);
  float *y = calloc((size_t)p.batch * p.output_dim, sizeof *y);
  assert_int_equal(mupc_net_train_step(net, x, y, NULL), MUPC_OK);
  int n = mupc_net_enqueues_per_inference_step(net);
  free(x);
  free(y);
  mupc_net_free(net);
  return n;
}

static void enqueues_on(mupc_ctx *ctx) {
  int a = enqueues_at(ctx, 8), b = enqueues_at(ctx, 64);
  print_message("enqueues per inference step on %s: L=8 %d, L=64 %d\n",
                mupc_ctx_device(ctx)->name, a, b);
  assert_true(a > 0);
  assert_int_equal(a, b);
}
static void test_enqueues_depth_independent(void **state) {
  (void)state;
  on_each_device(enqueues_on);
}

/* The wavefront skips layers whose gradient is provably zero: a step with
 * it must give the same weights as one without, to float rounding. */
/* A net built from p and a batch drawn from `seed` (the caller frees both). */
static mupc_net *net_and_batch(mupc_ctx *ctx, const mupc_net_params *p, uint64_t seed, float **x,
                               float **y) {
  mupc_net *net;
  assert_int_equal(mupc_net_init(&net, ctx, p), MUPC_OK);
  *x = malloc(sizeof(float) * p->batch * p->input_dim);
  *y = malloc(sizeof(float) * p->batch * p->output_dim);
  assert_true(*x && *y);
  rng_state = seed;
  make_batch(p, *x, *y);
  return net;
}

static void wavefront_on(mupc_ctx *ctx) {
  float *w[2] = {0};
  size_t total = 0;
  for (int wf = 0; wf <= 1; wf++) {
    mupc_net_params p = awkward(12);
    p.infer_steps = 5;
    p.wavefront = wf;
    p.optim = MUPC_OPTIM_SGD;
    float *x, *y;
    mupc_net *net = net_and_batch(ctx, &p, 99, &x, &y);
    assert_int_equal(mupc_net_train_step(net, x, y, NULL), MUPC_OK);
    total = 0;
    for (int l = 0; l < p.depth; l++) total += mupc_net_tensor_size(net, MUPC_T_WEIGHT, l);
    w[wf] = malloc(total * sizeof(float));
    for (int l = 0, off = 0; l < p.depth; l++) {
      assert_int_equal(mupc_net_read(net, MUPC_T_WEIGHT, l, w[wf] + off), MUPC_OK);
      off += (int)mupc_net_tensor_size(net, MUPC_T_WEIGHT, l);
    }
    free(x);
    free(y);
    mupc_net_free(net);
  }
  double num = 0, den = 0;
  for (size_t i = 0; i < total; i++) {
    num = fmax(num, fabs((double)w[0][i] - w[1][i]));
    den = fmax(den, fabs((double)w[0][i]));
  }
  assert_true(num / den < 1e-6);
  free(w[0]);
  free(w[1]);
}
static void test_wavefront_exact(void **state) {
  (void)state;
  on_each_device(wavefront_on);
}

/* norm_batch = 2B halves every gradient: with twice the activity lr the
 * activities after inference are the same, and the weight gradients are
 * half (scalings by 2 are exact in float). */
static void norm_batch_on(mupc_ctx *ctx) {
  float *got[2][2] = {{0}};
  size_t n[2] = {0};
  const mupc_tensor_kind kinds[2] = {MUPC_T_ACTIVITY, MUPC_T_WEIGHT_GRAD};
  const int layer[2] = {3, 4};
  for (int v = 0; v < 2; v++) {
    mupc_net_params p = awkward(7);
    p.infer_steps = 4;
    p.norm_batch = v ? 2 * p.batch : 0;
    p.activity_lr *= v ? 2.0f : 1.0f;
    float *x, *y, loss;
    mupc_net *net = net_and_batch(ctx, &p, 7, &x, &y);
    assert_int_equal(mupc_net_load_batch(net, x, y), MUPC_OK);
    assert_int_equal(mupc_net_feedforward(net, &loss), MUPC_OK);
    assert_int_equal(mupc_net_infer(net, p.infer_steps), MUPC_OK);
    assert_int_equal(mupc_net_weight_grads(net), MUPC_OK);
    for (int k = 0; k < 2; k++) {
      n[k] = mupc_net_tensor_size(net, kinds[k], layer[k]);
      got[v][k] = malloc(n[k] * sizeof(float));
      assert_int_equal(mupc_net_read(net, kinds[k], layer[k], got[v][k]), MUPC_OK);
    }
    free(x);
    free(y);
    mupc_net_free(net);
  }
  for (int k = 0; k < 2; k++) {
    const double want_ratio = k ? 0.5 : 1.0;
    double num = 0, den = 0;
    for (size_t i = 0; i < n[k]; i++) {
      num = fmax(num, fabs(got[1][k][i] - want_ratio * got[0][k][i]));
      den = fmax(den, fabs(want_ratio * got[0][k][i]));
    }
    assert_true(den > 0);
    assert_true(num / den < 1e-6);
    free(got[0][k]);
    free(got[1][k]);
  }
}
static void test_norm_batch(void **state) {
  (void)state;
  on_each_device(norm_batch_on);
}

static int report(void **state) {
  (void)state;
  for (int q = 0; q < Q_COUNT; q++) print_message("largest error, %s: %.3g\n", qnames[q], worst[q]);
  return 0;
}

int main(void) {
  nspecs = testdev_specs(specs, 4);
  if (nspecs < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_activations),     cmocka_unit_test(test_variants),
      cmocka_unit_test(test_activity_adam),   cmocka_unit_test(test_backprop),
      cmocka_unit_test(test_larger),          cmocka_unit_test(test_enqueues_depth_independent),
      cmocka_unit_test(test_wavefront_exact), cmocka_unit_test(test_norm_batch),
  };
  if (nspecs == 0) {
    print_message("no OpenCL implementation present: device tests skipped\n");
    return 0;
  }
  return cmocka_run_group_tests(tests, NULL, report);
}
