/* Double-precision reference of DESIGN.md §1–3; see ref.h for the indexing.
 *
 * Kinks: where an activation is not differentiable we return the derivative
 * of the branch that the strict comparison `x > kink` does *not* take, i.e.
 * the "inactive" side, so that the rule is the same for every activation:
 *   relu'(0)         = 0
 *   leaky_relu'(0)   = 0.01
 *   hard_tanh'(±1)   = 0      (1 only on the open interval (-1, 1))
 *   selu'(0)         = scale·alpha  (the x ≤ 0 branch; selu is continuous
 *                                    at 0 but its derivative jumps there)
 * The tests never evaluate a finite difference across a kink.
 *
 * Cross-entropy: the output error is e_L = y − softmax(f_L) and every
 * gradient uses it exactly as DESIGN §2 writes. That is the true gradient of
 * −Σ_k y_k log softmax(f_L)_k only when each row of y sums to 1 (one-hot or
 * any probability vector); the exact gradient is Σ_k y_k·softmax − y. */
#include "ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- sizes ------------------------------------------------------------- */

void ref_weight_shape(const mupc_net_params *p, int l, int *out_dim, int *in_dim) {
  *out_dim = (l == p->depth - 1) ? p->output_dim : p->width;
  *in_dim = (l == 0) ? p->input_dim : p->width;
}

static size_t w_size(const mupc_net_params *p, int l) {
  int o, i;
  ref_weight_shape(p, l, &o, &i);
  return (size_t)o * (size_t)i;
}

/* Width of e[l] / f_{l+1}: N for every layer but the readout. */
static int layer_out(const mupc_net_params *p, int l) {
  return (l == p->depth - 1) ? p->output_dim : p->width;
}

/* ---- arrays -------------------------------------------------------------- */

void ref_free_arrays(double **a, int n) {
  if (!a) return;
  for (int i = 0; i < n; i++)
    free(a[i]);
  free(a);
}

/* n zeroed arrays, array i of sizes[i] doubles. */
static double **alloc_arrays(int n, const size_t *sizes) {
  double **a = calloc((size_t)n, sizeof *a);
  if (!a) return NULL;
  for (int i = 0; i < n; i++) {
    a[i] = calloc(sizes[i], sizeof **a);
    if (!a[i]) {
      ref_free_arrays(a, n);
      return NULL;
    }
  }
  return a;
}

enum { LIKE_W, LIKE_Z, LIKE_E };

/* Arrays shaped like the weights (L), the activities (L-1) or the errors (L). */
static double **alloc_like(const mupc_net_params *p, int kind) {
  int n = (kind == LIKE_Z) ? p->depth - 1 : p->depth;
  size_t *sizes = malloc((size_t)n * sizeof *sizes);
  if (!sizes) return NULL;
  for (int l = 0; l < n; l++) {
    if (kind == LIKE_W)
      sizes[l] = w_size(p, l);
    else if (kind == LIKE_Z)
      sizes[l] = (size_t)p->batch * (size_t)p->width;
    else
      sizes[l] = (size_t)p->batch * (size_t)layer_out(p, l);
  }
  double **a = alloc_arrays(n, sizes);
  free(sizes);
  return a;
}

double **ref_alloc_like_W(const ref_net *r) {
  return alloc_like(&r->p, LIKE_W);
}
double **ref_alloc_like_z(const ref_net *r) {
  return alloc_like(&r->p, LIKE_Z);
}
double **ref_alloc_like_e(const ref_net *r) {
  return alloc_like(&r->p, LIKE_E);
}

/* ---- lifetime ------------------------------------------------------------ */

int ref_init(ref_net *r, const mupc_net_params *p) {
  memset(r, 0, sizeof *r);
  if (p->input_dim < 1 || p->width < 1 || p->output_dim < 1 || p->depth < 2 || p->batch < 1)
    return MUPC_EINVAL;
  r->p = *p;
  r->W = alloc_like(p, LIKE_W);
  r->m = alloc_like(p, LIKE_W);
  r->v = alloc_like(p, LIKE_W);
  r->z = alloc_like(p, LIKE_Z);
  r->x = calloc((size_t)p->batch * (size_t)p->input_dim, sizeof *r->x);
  r->y = calloc((size_t)p->batch * (size_t)p->output_dim, sizeof *r->y);
  if (!r->W || !r->m || !r->v || !r->z || !r->x || !r->y) {
    ref_free(r);
    return MUPC_ENOMEM;
  }
  return 0;
}

void ref_free(ref_net *r) {
  int L = r->p.depth;
  ref_free_arrays(r->W, L);
  ref_free_arrays(r->m, L);
  ref_free_arrays(r->v, L);
  ref_free_arrays(r->z, L - 1);
  free(r->x);
  free(r->y);
  memset(r, 0, sizeof *r);
}

void ref_set_weight(ref_net *r, int l, const float *w) {
  size_t n = w_size(&r->p, l);
  for (size_t i = 0; i < n; i++)
    r->W[l][i] = (double)w[i];
}

void ref_set_batch(ref_net *r, const float *x, const float *y) {
  size_t nx = (size_t)r->p.batch * (size_t)r->p.input_dim;
  size_t ny = (size_t)r->p.batch * (size_t)r->p.output_dim;
  for (size_t i = 0; i < nx; i++)
    r->x[i] = (double)x[i];
  for (size_t i = 0; i < ny; i++)
    r->y[i] = (double)y[i];
}

/* ---- scalings (DESIGN §1 table) ---------------------------------------- */

double ref_scale(const mupc_net_params *p, int l) {
  int L = p->depth;
  double D = p->input_dim, N = p->width;
  if (l < 0 || l >= L) return 0.0;
  if (p->param == MUPC_PARAM_SP) return 1.0;
  if (l == 0) return 1.0 / sqrt(D);
  if (l == L - 1) return (p->param == MUPC_PARAM_MUPC) ? 1.0 / N : 1.0 / sqrt(N);
  return p->skips ? 1.0 / sqrt(N * (double)L) : 1.0 / sqrt(N);
}

double ref_skip(const mupc_net_params *p, int l) {
  /* Only hidden-to-hidden maps (N → N) have a skip: none from the input
   * (D ≠ N in general) and none into the readout. */
  return (p->skips && l >= 1 && l <= p->depth - 2) ? 1.0 : 0.0;
}

/* ---- activations --------------------------------------------------------- */

static const double SELU_ALPHA = 1.6732632423543772;
static const double SELU_SCALE = 1.0507009873554805;
static const double LEAKY_SLOPE = 0.01;
static const double SQRT_2PI = 2.5066282746310002; /* √(2π); M_PI is not C11 */

/* Logistic function without overflow for large |x|. */
static double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}

double ref_phi(mupc_act a, double x) {
  switch (a) {
  case MUPC_ACT_LINEAR:
    return x;
  case MUPC_ACT_RELU:
    return x > 0 ? x : 0.0;
  case MUPC_ACT_TANH:
    return tanh(x);
  case MUPC_ACT_HARD_TANH:
    return x > 1 ? 1.0 : (x < -1 ? -1.0 : x);
  case MUPC_ACT_LEAKY_RELU:
    return x > 0 ? x : LEAKY_SLOPE * x;
  case MUPC_ACT_GELU:
    return x * 0.5 * (1.0 + erf(x / sqrt(2.0)));
  case MUPC_ACT_SELU:
    return SELU_SCALE * (x > 0 ? x : SELU_ALPHA * expm1(x));
  case MUPC_ACT_SILU:
    return x * sigmoid(x);
  default:
    return NAN; /* an unknown activation must not pass silently */
  }
}

double ref_dphi(mupc_act a, double x) {
  switch (a) {
  case MUPC_ACT_LINEAR:
    return 1.0;
  case MUPC_ACT_RELU:
    return x > 0 ? 1.0 : 0.0;
  case MUPC_ACT_TANH: {
    double t = tanh(x);
    return 1.0 - t * t;
  }
  case MUPC_ACT_HARD_TANH:
    return (x > -1 && x < 1) ? 1.0 : 0.0;
  case MUPC_ACT_LEAKY_RELU:
    return x > 0 ? 1.0 : LEAKY_SLOPE;
  case MUPC_ACT_GELU: {
    /* d/dx [x·Φ(x)] = Φ(x) + x·ϕ(x), ϕ the standard normal density. */
    double Phi = 0.5 * (1.0 + erf(x / sqrt(2.0)));
    double pdf = exp(-0.5 * x * x) / SQRT_2PI;
    return Phi + x * pdf;
  }
  case MUPC_ACT_SELU:
    return SELU_SCALE * (x > 0 ? 1.0 : SELU_ALPHA * exp(x));
  case MUPC_ACT_SILU: {
    /* d/dx [x·σ(x)] = σ(x) + x·σ(x)(1 − σ(x)). */
    double s = sigmoid(x);
    return s * (1.0 + x * (1.0 - s));
  }
  default:
    return NAN;
  }
}

/* ---- forward -------------------------------------------------------------- */

void ref_forward_layer(const ref_net *r, int l, const double *zin, double *out) {
  const mupc_net_params *p = &r->p;
  int B = p->batch, O, I;
  ref_weight_shape(p, l, &O, &I);
  double a = ref_scale(p, l), s = ref_skip(p, l);
  const double *W = r->W[l];
  for (int b = 0; b < B; b++) {
    const double *zi = zin + (size_t)b * I;
    for (int o = 0; o < O; o++) {
      double acc = 0.0;
      for (int i = 0; i < I; i++) {
        /* No activation on the input layer: f_1(x) = a_1·x W_1ᵀ. */
        double h = (l == 0) ? zi[i] : ref_phi(p->act, zi[i]);
        acc += h * W[(size_t)o * I + i];
      }
      double f = a * acc;
      if (s != 0.0) f += s * zi[o]; /* skip only on N → N layers, so o < I */
      out[(size_t)b * O + o] = f;
    }
  }
}

static void softmax_row(const double *f, int n, double *out) {
  double mx = f[0];
  for (int k = 1; k < n; k++)
    mx = f[k] > mx ? f[k] : mx;
  double sum = 0.0;
  for (int k = 0; k < n; k++)
    sum += exp(f[k] - mx);
  for (int k = 0; k < n; k++)
    out[k] = exp(f[k] - mx) / sum;
}

/* −Σ_k y_k log softmax(f)_k, via log-sum-exp so it is finite for any f. */
static double ce_row(const double *f, const double *y, int n) {
  double mx = f[0];
  for (int k = 1; k < n; k++)
    mx = f[k] > mx ? f[k] : mx;
  double sum = 0.0;
  for (int k = 0; k < n; k++)
    sum += exp(f[k] - mx);
  double lse = mx + log(sum);
  double loss = 0.0;
  for (int k = 0; k < n; k++)
    loss -= y[k] * (f[k] - lse);
  return loss;
}

/* Loss of output logits f (B, C) against r->y, normalised by B: the value
 * that is both the reported training loss and the energy's output term. */
static double output_loss(const ref_net *r, const double *f) {
  const mupc_net_params *p = &r->p;
  int B = p->batch, C = p->output_dim;
  double total = 0.0;
  for (int b = 0; b < B; b++) {
    const double *fb = f + (size_t)b * C, *yb = r->y + (size_t)b * C;
    if (p->loss == MUPC_LOSS_CE) {
      total += ce_row(fb, yb, C);
    } else {
      double sq = 0.0;
      for (int k = 0; k < C; k++)
        sq += (yb[k] - fb[k]) * (yb[k] - fb[k]);
      total += 0.5 * sq;
    }
  }
  return total / B;
}

/* Output error e_L from logits f: y − f (MSE) or y − softmax(f) (CE). */
static void output_error(const ref_net *r, const double *f, double *e) {
  const mupc_net_params *p = &r->p;
  int B = p->batch, C = p->output_dim;
  double *sm = malloc((size_t)C * sizeof *sm);
  if (!sm) return;
  for (int b = 0; b < B; b++) {
    const double *fb = f + (size_t)b * C, *yb = r->y + (size_t)b * C;
    double *eb = e + (size_t)b * C;
    if (p->loss == MUPC_LOSS_CE) {
      softmax_row(fb, C, sm);
      for (int k = 0; k < C; k++)
        eb[k] = yb[k] - sm[k];
    } else {
      for (int k = 0; k < C; k++)
        eb[k] = yb[k] - fb[k];
    }
  }
  free(sm);
}

/* Input to layer l: x for l = 0, z_l otherwise (DESIGN's z_{l} feeds f_{l+1}). */
static const double *layer_input(const ref_net *r, int l) {
  return l == 0 ? r->x : r->z[l - 1];
}

double ref_feedforward(ref_net *r) {
  int L = r->p.depth;
  for (int l = 0; l < L - 1; l++)
    ref_forward_layer(r, l, layer_input(r, l), r->z[l]);
  double *f = malloc((size_t)r->p.batch * (size_t)r->p.output_dim * sizeof *f);
  if (!f) return NAN;
  ref_forward_layer(r, L - 1, r->z[L - 2], f);
  double loss = output_loss(r, f);
  free(f);
  return loss;
}

/* ---- errors and energy ------------------------------------------------- */

void ref_errors(const ref_net *r, double **e) {
  const mupc_net_params *p = &r->p;
  int L = p->depth;
  size_t BN = (size_t)p->batch * (size_t)p->width;
  for (int l = 0; l < L - 1; l++) {
    ref_forward_layer(r, l, layer_input(r, l), e[l]); /* e[l] holds f first */
    for (size_t i = 0; i < BN; i++)
      e[l][i] = r->z[l][i] - e[l][i];
  }
  double *f = malloc((size_t)p->batch * (size_t)p->output_dim * sizeof *f);
  if (!f) return;
  ref_forward_layer(r, L - 1, r->z[L - 2], f);
  output_error(r, f, e[L - 1]);
  free(f);
}

double ref_energy(const ref_net *r, double *per_layer) {
  const mupc_net_params *p = &r->p;
  int L = p->depth, B = p->batch;
  size_t BN = (size_t)B * (size_t)p->width;
  double **e = ref_alloc_like_e(r);
  double *f = malloc((size_t)B * (size_t)p->output_dim * sizeof *f);
  if (!e || !f) {
    ref_free_arrays(e, L);
    free(f);
    return NAN;
  }
  ref_errors(r, e);
  double total = 0.0;
  for (int l = 0; l < L - 1; l++) {
    double sq = 0.0;
    for (size_t i = 0; i < BN; i++)
      sq += e[l][i] * e[l][i];
    double term = 0.5 * sq / B;
    if (per_layer) per_layer[l] = term;
    total += term;
  }
  /* The output term comes from the logits so CE uses −Σ y log softmax, not
   * ½‖y − softmax‖². */
  ref_forward_layer(r, L - 1, r->z[L - 2], f);
  double out = output_loss(r, f);
  if (per_layer) per_layer[L - 1] = out;
  total += out;
  ref_free_arrays(e, L);
  free(f);
  return total;
}

/* ---- gradients ------------------------------------------------------------ */

void ref_activity_grads(const ref_net *r, double **dz) {
  const mupc_net_params *p = &r->p;
  int L = p->depth, B = p->batch, N = p->width;
  double **e = ref_alloc_like_e(r);
  if (!e) return;
  ref_errors(r, e);
  /* Activity z[l] (DESIGN z_{l+1}) appears in its own error e[l] and feeds
   * layer l+1, whose error e[l+1] it pulls on through W[l+1] and the skip. */
  for (int l = 0; l < L - 1; l++) {
    int Onext = layer_out(p, l + 1);
    double a = ref_scale(p, l + 1), s = ref_skip(p, l + 1);
    const double *W = r->W[l + 1]; /* (Onext, N) */
    for (int b = 0; b < B; b++) {
      for (int j = 0; j < N; j++) {
        double back = 0.0; /* (E_{l+1} W_{l+1})[b, j] */
        for (int o = 0; o < Onext; o++)
          back += e[l + 1][(size_t)b * Onext + o] * W[(size_t)o * N + j];
        size_t bj = (size_t)b * N + j;
        double g = e[l][bj] - ref_dphi(p->act, r->z[l][bj]) * a * back;
        if (s != 0.0) g -= s * e[l + 1][(size_t)b * Onext + j]; /* Onext == N here */
        dz[l][bj] = g / B;
      }
    }
  }
  ref_free_arrays(e, L);
}

void ref_weight_grads(const ref_net *r, double **dW) {
  const mupc_net_params *p = &r->p;
  int L = p->depth, B = p->batch;
  double **e = ref_alloc_like_e(r);
  if (!e) return;
  ref_errors(r, e);
  for (int l = 0; l < L; l++) {
    int O, I;
    ref_weight_shape(p, l, &O, &I);
    double a = ref_scale(p, l);
    const double *in = layer_input(r, l);
    for (int o = 0; o < O; o++) {
      for (int i = 0; i < I; i++) {
        double acc = 0.0; /* (E_lᵀ h)[o, i], h = x or φ(z_{l-1}) */
        for (int b = 0; b < B; b++) {
          double v = in[(size_t)b * I + i];
          double h = (l == 0) ? v : ref_phi(p->act, v);
          acc += e[l][(size_t)b * O + o] * h;
        }
        dW[l][(size_t)o * I + i] = -a * acc / B;
      }
    }
  }
  ref_free_arrays(e, L);
}

/* ---- inference and optimisers ------------------------------------------- */

void ref_infer(ref_net *r, int steps) {
  const mupc_net_params *p = &r->p;
  int L = p->depth;
  size_t BN = (size_t)p->batch * (size_t)p->width;
  double lr = p->activity_lr, b1 = p->adam_beta1, b2 = p->adam_beta2, eps = p->adam_eps;
  double **dz = ref_alloc_like_z(r);
  double **m = ref_alloc_like_z(r); /* fresh activity-Adam state per call */
  double **v = ref_alloc_like_z(r);
  if (!dz || !m || !v) goto out;
  for (int t = 1; t <= steps; t++) {
    /* All gradients first, then all updates: every layer sees the same
     * previous state, as DESIGN §3 requires. */
    ref_activity_grads(r, dz);
    for (int l = 0; l < L - 1; l++) {
      for (size_t i = 0; i < BN; i++) {
        double g = dz[l][i];
        if (p->activity_optim == MUPC_AOPTIM_ADAM) {
          m[l][i] = b1 * m[l][i] + (1.0 - b1) * g;
          v[l][i] = b2 * v[l][i] + (1.0 - b2) * g * g;
          double mh = m[l][i] / (1.0 - pow(b1, t));
          double vh = v[l][i] / (1.0 - pow(b2, t));
          r->z[l][i] -= lr * mh / (sqrt(vh) + eps);
        } else {
          r->z[l][i] -= lr * g;
        }
      }
    }
  }
out:
  ref_free_arrays(dz, L - 1);
  ref_free_arrays(m, L - 1);
  ref_free_arrays(v, L - 1);
}

void ref_update(ref_net *r, double *const *dW) {
  const mupc_net_params *p = &r->p;
  double lr = p->lr, wd = p->weight_decay;
  double b1 = p->adam_beta1, b2 = p->adam_beta2, eps = p->adam_eps;
  if (p->optim == MUPC_OPTIM_ADAM) r->t++; /* bias correction uses the new t */
  double c1 = 1.0 - pow(b1, (double)r->t), c2 = 1.0 - pow(b2, (double)r->t);
  for (int l = 0; l < p->depth; l++) {
    size_t n = w_size(p, l);
    for (size_t i = 0; i < n; i++) {
      double g = dW[l][i] + wd * r->W[l][i];
      if (p->optim == MUPC_OPTIM_ADAM) {
        r->m[l][i] = b1 * r->m[l][i] + (1.0 - b1) * g;
        r->v[l][i] = b2 * r->v[l][i] + (1.0 - b2) * g * g;
        r->W[l][i] -= lr * (r->m[l][i] / c1) / (sqrt(r->v[l][i] / c2) + eps);
      } else {
        r->W[l][i] -= lr * g;
      }
    }
  }
}

double ref_train_step(ref_net *r, const float *x, const float *y) {
  ref_set_batch(r, x, y);
  double loss = ref_feedforward(r);
  double **dW = ref_alloc_like_W(r);
  if (!dW) return NAN;
  if (r->p.algo == MUPC_ALGO_BP) {
    ref_bp_grads(r, dW);
  } else {
    ref_infer(r, r->p.infer_steps);
    ref_weight_grads(r, dW);
  }
  ref_update(r, dW);
  ref_free_arrays(dW, r->p.depth);
  return loss;
}

/* ---- backprop baseline ---------------------------------------------------- */

/* Feedforward into h[0 … L-2] (like z) and the logits f, leaving r alone. */
static void bp_forward(const ref_net *r, double **h, double *f) {
  int L = r->p.depth;
  for (int l = 0; l < L - 1; l++)
    ref_forward_layer(r, l, l == 0 ? r->x : h[l - 1], h[l]);
  ref_forward_layer(r, L - 1, h[L - 2], f);
}

double ref_bp_loss(const ref_net *r) {
  const mupc_net_params *p = &r->p;
  double **h = ref_alloc_like_z(r);
  double *f = malloc((size_t)p->batch * (size_t)p->output_dim * sizeof *f);
  double loss = NAN;
  if (h && f) {
    bp_forward(r, h, f);
    loss = output_loss(r, f);
  }
  ref_free_arrays(h, p->depth - 1);
  free(f);
  return loss;
}

void ref_bp_grads(const ref_net *r, double **dW) {
  const mupc_net_params *p = &r->p;
  int L = p->depth, B = p->batch, N = p->width;
  double **h = ref_alloc_like_z(r);
  double **delta = ref_alloc_like_e(r); /* delta[l] = ∂loss/∂f_{l+1}, (B, out_l) */
  double *f = malloc((size_t)B * (size_t)p->output_dim * sizeof *f);
  if (!h || !delta || !f) goto out;
  bp_forward(r, h, f);

  /* ∂loss/∂f_L = −e_L/B for both losses (with rows of y summing to 1 for
   * CE), since loss is the mean over samples. */
  output_error(r, f, delta[L - 1]);
  for (size_t i = 0; i < (size_t)B * (size_t)p->output_dim; i++)
    delta[L - 1][i] /= -(double)B;

  /* Down the layers: f_{l+1} = a·φ(h_l) W_{l+1}ᵀ + s·h_l with h_l = f_l, so
   * ∂/∂h_l = φ'(h_l) ⊙ (a·δ_{l+1} W_{l+1}) + s·δ_{l+1}. */
  for (int l = L - 1; l >= 1; l--) {
    int O = layer_out(p, l);
    double a = ref_scale(p, l), s = ref_skip(p, l);
    for (int b = 0; b < B; b++) {
      for (int j = 0; j < N; j++) {
        double back = 0.0;
        for (int o = 0; o < O; o++)
          back += delta[l][(size_t)b * O + o] * r->W[l][(size_t)o * N + j];
        size_t bj = (size_t)b * N + j;
        double d = ref_dphi(p->act, h[l - 1][bj]) * a * back;
        if (s != 0.0) d += s * delta[l][(size_t)b * O + j];
        delta[l - 1][bj] = d;
      }
    }
  }

  /* ∂loss/∂W_{l+1} = a·δ_{l+1}ᵀ · input, input = x or φ(h_l). */
  for (int l = 0; l < L; l++) {
    int O, I;
    ref_weight_shape(p, l, &O, &I);
    double a = ref_scale(p, l);
    const double *in = (l == 0) ? r->x : h[l - 1];
    for (int o = 0; o < O; o++) {
      for (int i = 0; i < I; i++) {
        double acc = 0.0;
        for (int b = 0; b < B; b++) {
          double v = in[(size_t)b * I + i];
          acc += delta[l][(size_t)b * O + o] * ((l == 0) ? v : ref_phi(p->act, v));
        }
        dW[l][(size_t)o * I + i] = a * acc;
      }
    }
  }
out:
  ref_free_arrays(h, L - 1);
  ref_free_arrays(delta, L);
  free(f);
}
