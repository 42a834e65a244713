/* One μPC training step (DESIGN §3): feedforward init, T inference steps on
 * all activities at once, then one weight update. Every layer band is a
 * fixed handful of enqueues whatever the depth, and nothing in the
 * inference loop waits on the host. */
#include "net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int mupc_net_load_batch(mupc_net *net, const float *x, const float *y) {
  const mupc_net_params *p = &net->p;
  cl_command_queue q = net->ctx->queue;
  cl_int err = clEnqueueWriteBuffer(q, net->x, CL_TRUE, 0,
                                    (size_t)p->batch * p->input_dim * sizeof(float), x, 0, NULL,
                                    NULL);
  if (err == CL_SUCCESS && y)
    err = clEnqueueWriteBuffer(q, net->y, CL_TRUE, 0,
                               (size_t)p->batch * p->output_dim * sizeof(float), y, 0, NULL, NULL);
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: uploading a batch failed: %s", net->ctx->info.name,
                      mupc_strerror(err));
  return MUPC_OK;
}

/* predl = φ(z_{L-1}) W_Lᵀ, unscaled. */
static int readout_pred(mupc_net *net) {
  const int L = net->p.depth;
  return mupc__run_pass(net, MUPC__PASS_PREDICT, L - 1, L);
}

static int output_error(mupc_net *net) {
  const mupc_net_params *p = &net->p;
  mupc__kernel *k = &net->k.out_error;
  const int B = p->batch;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->predl), MUPC__MEM(net->y), MUPC__MEM(net->el),
                       MUPC__MEM(net->loss), MUPC__INT(B), MUPC__INT(p->output_dim),
                       MUPC__FLOAT(net->plan.layer[p->depth - 1].scale),
                       MUPC__INT(p->loss == MUPC_LOSS_CE)));
  return mupc__launch(net->ctx, &net->count, k->k, (size_t)B);
}

/* Whether the step runs cl/gemm.cl's fused products: with the
 * library's own GEMM kernel (--gemm kernels), unless the context was made
 * under MUPC_NO_FUSE (the tests compare the two, which must agree bit for
 * bit). */
static int fused(const mupc_net *net) {
  return net->ctx->gemm == MUPC_GEMM_KERNELS && net->ctx->fuse;
}

/* The feedforward's products with ff_first's and ff_hidden's elementwise
 * pass fused (cl/gemm.cl): one enqueue per layer, a kernel object each. */
static int forward_fused(mupc_net *net) {
  const mupc__plan *pl = &net->plan;
  const int L = pl->L, bn = (int)pl->slot;
  for (int j = 0; j < L - 1; j++) {
    const int key[8] = {j};
    mupc__kernel *k;
    int fresh;
    mupc__gemm_args g;
    mupc__pass_gemm(net, MUPC__PASS_PREDICT, j, j + 1, &g);
    MUPC__TRY(mupc__net_kernel_for(net, j ? MUPC__K_sgemm_ff : MUPC__K_sgemm_ff_first, key, &k,
                                   &fresh));
    if (fresh) MUPC__TRY(mupc__gemm_kernel_args(k, &g));
    if (fresh && j == 0)
      MUPC__TRY(MUPC__ARGS(k, 19, MUPC__MEM(net->z), MUPC__MEM(net->a), MUPC__MEM(net->f1),
                           MUPC__INT(bn)));
    if (fresh && j > 0) /* the hidden weights share layer 1's scale and skip */
      MUPC__TRY(MUPC__ARGS(k, 19, MUPC__MEM(net->z), MUPC__MEM(net->a), MUPC__MEM(net->pred),
                           MUPC__INT((int)pl->layer[j].out_off),
                           MUPC__INT((int)pl->layer[j - 1].out_off), MUPC__INT(bn),
                           MUPC__FLOAT(pl->layer[1].scale), MUPC__FLOAT(pl->layer[1].skip)));
    MUPC__TRY(mupc__launch_gemm(net->ctx, &net->count, k->k, &g, mupc__gemm_tile(net->ctx)));
  }
  return MUPC_OK;
}

/* Feedforward through the readout prediction: f1, z, a for every hidden
 * layer, predl. Depth-many enqueues: it runs once per batch. */
int mupc__forward(mupc_net *net) {
  const int on_host = mupc__host_forward(net);
  if (on_host) return on_host < 0 ? on_host : MUPC_OK;
  const mupc__plan *pl = &net->plan;
  const int L = pl->L;
  const size_t acts = pl->act_floats, bn = pl->slot;
  /* The feedforward values become the reference: no displacement, and
   * their own errors are zero by definition. */
  MUPC__TRY(mupc__fill_zero(net->ctx, &net->count, net->d, 0, acts));
  MUPC__TRY(mupc__fill_zero(net->ctx, &net->count, net->da, 0, acts));
  MUPC__TRY(mupc__fill_zero(net->ctx, &net->count, net->r, 0, acts));
  MUPC__TRY(mupc__weights_transposed(net));
  if (fused(net)) {
    MUPC__TRY(forward_fused(net));
    return readout_pred(net);
  }
  MUPC__TRY(mupc__run_pass(net, MUPC__PASS_PREDICT, 0, 1));
  const int ibn = (int)bn;
  MUPC__TRY(MUPC__ARGS(&net->k.ff_first, 0, MUPC__MEM(net->z), MUPC__MEM(net->a), MUPC__MEM(net->f1),
                       MUPC__INT(ibn)));
  MUPC__TRY(mupc__launch(net->ctx, &net->count, net->k.ff_first.k, bn));
  /* The hidden weights W_2 … W_{L-1} share one scale and skip, layer 1's. */
  mupc__kernel *k = &net->k.ff_hidden;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->z), MUPC__MEM(net->a), MUPC__MEM(net->pred)));
  MUPC__TRY(MUPC__ARGS(k, 5, MUPC__INT(ibn), MUPC__FLOAT(pl->layer[1].scale),
                       MUPC__FLOAT(pl->layer[1].skip)));
  for (int j = 1; j < L - 1; j++) { /* hidden weights, into hidden layers 2 … L-1 */
    MUPC__TRY(mupc__run_pass(net, MUPC__PASS_PREDICT, j, j + 1));
    MUPC__TRY(MUPC__ARGS(k, 3, MUPC__INT((int)pl->layer[j].out_off),
                         MUPC__INT((int)pl->layer[j - 1].out_off)));
    MUPC__TRY(mupc__launch(net->ctx, &net->count, k->k, bn));
  }
  return readout_pred(net);
}

/* pc_errors over the band from layer lo, count elements (from a fused
 * product: its arguments from index 19, after the product's). */
static int errors_args(mupc_net *net, mupc__kernel *k, cl_uint first, int lo, int count) {
  const mupc__plan *pl = &net->plan;
  return MUPC__ARGS(k, first, MUPC__MEM(net->r), MUPC__MEM(net->d), MUPC__MEM(net->pred),
                    MUPC__MEM(net->e), MUPC__INT(lo), MUPC__INT(count), MUPC__INT((int)pl->slot),
                    MUPC__FLOAT(pl->layer[1].scale), MUPC__FLOAT(pl->layer[1].skip));
}

/* Errors of the band lo … L-1 and of the output, at the current z. Fused,
 * the prediction of layers h0 … L-1 computes their errors as it goes, and
 * layer 1 (f_1 fixed: no product) takes pc_errors alone when in the band. */
static int errors(mupc_net *net, int lo) {
  const mupc__plan *pl = &net->plan;
  const int L = pl->L, bn = (int)pl->slot;
  const int h0 = lo > 2 ? lo : 2; /* first hidden layer (1-based) a hidden weight feeds */
  MUPC__TRY(mupc__weights_transposed(net));
  const int fuse = fused(net) && h0 <= L - 1;
  if (fuse) {
    /* One kernel object per band (lo fixes every argument). */
    const int key[8] = {lo};
    mupc__kernel *k;
    int fresh;
    mupc__gemm_args g;
    mupc__pass_gemm(net, MUPC__PASS_PREDICT_DELTA, h0 - 1, L - 1, &g);
    MUPC__TRY(mupc__net_kernel_for(net, MUPC__K_sgemm_errors, key, &k, &fresh));
    if (fresh) MUPC__TRY(mupc__gemm_kernel_args(k, &g));
    if (fresh) MUPC__TRY(errors_args(net, k, 19, lo, (L - lo) * bn));
    MUPC__TRY(mupc__launch_gemm(net->ctx, &net->count, k->k, &g, mupc__gemm_tile(net->ctx)));
  } else if (h0 <= L - 1) {
    MUPC__TRY(mupc__run_pass(net, MUPC__PASS_PREDICT_DELTA, h0 - 1, L - 1));
  }
  MUPC__TRY(readout_pred(net));
  /* Unfused: the whole band; fused: layer 1 only, where the band has it. */
  const int count = fuse ? (lo == 1 ? bn : 0) : (L - lo) * bn;
  if (lo <= L - 1 && count > 0) {
    mupc__kernel *k = &net->k.pc_errors;
    MUPC__TRY(errors_args(net, k, 0, lo, count));
    MUPC__TRY(mupc__launch(net->ctx, &net->count, k->k, (size_t)count));
  }
  return output_error(net);
}

/* bp_l = E_{l+1} W_{l+1} for l in lo … L-1 (unscaled): the back-projection
 * of weights lo … L-1 (0-based). */
static int back_project(mupc_net *net, int lo) {
  const int L = net->plan.L;
  if (lo <= L - 2) MUPC__TRY(mupc__run_pass(net, MUPC__PASS_BACK, lo, L - 1));
  return mupc__run_pass(net, MUPC__PASS_BACK, L - 1, L);
}

/* The activity optimiser's arguments (PC_UPDATE_ARGS) from index first,
 * for layers from lo, count elements: with optim the net's optimiser
 * (its step t for Adam's bias corrections), without it plain gradients. */
static int update_args(mupc_net *net, mupc__kernel *k, cl_uint first, int lo, int count,
                       float lr, int optim, int t, int store_dz) {
  const mupc_net_params *p = &net->p;
  const mupc__plan *pl = &net->plan;
  const int L = pl->L, ibn = (int)pl->slot, top = (L - 2) * ibn;
  const float b1 = p->adam_beta1, b2 = p->adam_beta2;
  const mupc__aoptim_row *o = &mupc__aoptims[optim ? p->activity_optim : MUPC_AOPTIM_GD];
  const float c1 = o->state ? (float)(1.0 / (1.0 - pow(b1, t))) : 1.0f;
  const float c2 = o->state ? (float)(1.0 / (1.0 - pow(b2, t))) : 1.0f;
  return MUPC__ARGS(
      k, first, MUPC__MEM(net->z), MUPC__MEM(net->d), MUPC__MEM(net->a), MUPC__MEM(net->da),
      MUPC__MEM(net->e), MUPC__MEM(net->bp), MUPC__MEM(net->dz), MUPC__MEM(net->zm),
      MUPC__MEM(net->zv), MUPC__INT(lo), MUPC__INT(count), MUPC__INT(ibn), MUPC__INT(top),
      MUPC__FLOAT(pl->layer[1].scale), MUPC__FLOAT(pl->layer[1].skip),
      MUPC__FLOAT(pl->layer[L - 1].scale),
      MUPC__FLOAT(mupc__grad_norm(p)), MUPC__FLOAT(lr), MUPC__INT(store_dz), MUPC__FLOAT(b1),
      MUPC__FLOAT(b2), MUPC__FLOAT(p->adam_eps), MUPC__FLOAT(c1), MUPC__FLOAT(c2));
}

static const mupc__aoptim_row *optimiser(const mupc_net *net, int optim) {
  return &mupc__aoptims[optim ? net->p.activity_optim : MUPC_AOPTIM_GD];
}

/* One pass of the activity optimiser's kernel over the band (with optim;
 * without it, pc_update with lr = 0 only computes the gradient). t is the
 * 1-based step of an optimiser with state (Adam's bias corrections). */
static int update_band(mupc_net *net, int lo, float lr, int optim, int t, int store_dz) {
  const int count = (net->plan.L - lo) * (int)net->plan.slot;
  mupc__kernel *k = &net->k.at[optimiser(net, optim)->kernel];
  MUPC__TRY(update_args(net, k, 0, lo, count, lr, optim, t, store_dz));
  return mupc__launch(net->ctx, &net->count, k->k, (size_t)count);
}

/* The back-projection of weights [j0, j1) fused with the update of the
 * layers it feeds, from lo: the readout's (j = L-1) updates the top hidden
 * layer, the hidden run's the layers below it. */
static int back_update(mupc_net *net, int j0, int j1, int lo, float lr, int optim, int t,
                       int store_dz) {
  const mupc__aoptim_row *o = optimiser(net, optim);
  /* One kernel object per call: the layers, the optimiser's step where it
   * has state, and the rate and gradient store (activity_grads' lr = 0). */
  int key[8] = {j0, j1, lo, o->state ? t : 0, store_dz, optim};
  memcpy(&key[6], &lr, sizeof lr);
  mupc__kernel *k;
  int fresh;
  MUPC__TRY(mupc__net_kernel_for(net, o->fused, key, &k, &fresh));
  mupc__gemm_args g;
  mupc__pass_gemm(net, MUPC__PASS_BACK, j0, j1, &g);
  const int count = (j1 - j0) * (int)net->plan.slot;
  if (fresh) MUPC__TRY(mupc__gemm_kernel_args(k, &g));
  if (fresh) MUPC__TRY(update_args(net, k, 19, lo, count, lr, optim, t, store_dz));
  return mupc__launch_gemm(net->ctx, &net->count, k->k, &g, mupc__gemm_tile(net->ctx));
}

/* Back-projection and update of the band from lo: fused (two products,
 * the readout's and the hidden run's) or as three enqueues. */
static int back_project_update(mupc_net *net, int lo, float lr, int optim, int t, int store_dz) {
  const int L = net->plan.L;
  if (!fused(net)) {
    MUPC__TRY(back_project(net, lo));
    return update_band(net, lo, lr, optim, t, store_dz);
  }
  MUPC__TRY(back_update(net, L - 1, L, L - 1, lr, optim, t, store_dz));
  if (lo <= L - 2) MUPC__TRY(back_update(net, lo, L - 1, lo, lr, optim, t, store_dz));
  return MUPC_OK;
}

/* Energies into energy[slot·L … slot·L + L). */
static int energy_kernel(mupc_net *net, int slot) {
  const mupc_net_params *p = &net->p;
  mupc__kernel *k = &net->k.layer_energy;
  const int L = p->depth, ibn = (int)net->plan.slot, B = p->batch, out_off = slot * L;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->e), MUPC__MEM(net->loss), MUPC__MEM(net->energy),
                       MUPC__INT(L), MUPC__INT(ibn), MUPC__INT(B), MUPC__FLOAT(1.0f / (float)B),
                       MUPC__INT(out_off)));
  /* One work-group per layer: the launch is L groups, not L items. */
  return mupc__launch(net->ctx, &net->count, k->k, (size_t)L * net->ctx->wg);
}

static int read_energy(mupc_net *net, float *out /* 2L */) {
  return mupc__buffer_read(net->ctx, net->energy, 0, 2 * (size_t)net->p.depth, out, "energies");
}

/* Feedforward init: zero the hidden errors (they are exactly zero at the
 * feedforward state, and the wavefront never computes the ones below its
 * band), forward, output error, energies into slot 0. */
static int ff_init(mupc_net *net) {
  const size_t n = net->plan.act_floats;
  MUPC__TRY(mupc__fill_zero(net->ctx, &net->count, net->e, 0, n));
  if (mupc__aoptims[net->p.activity_optim].state) {
    /* Fresh activity-optimiser state for every inference solve. */
    MUPC__TRY(mupc__fill_zero(net->ctx, &net->count, net->zm, 0, n));
    MUPC__TRY(mupc__fill_zero(net->ctx, &net->count, net->zv, 0, n));
  }
  net->infer_t = 0;
  MUPC__TRY(mupc__forward(net));
  MUPC__TRY(output_error(net));
  return energy_kernel(net, 0);
}

int mupc_net_feedforward(mupc_net *net, float *train_loss) {
  MUPC__TRY(ff_init(net));
  float *en = malloc(2 * (size_t)net->p.depth * sizeof *en);
  if (!en) return mupc__fail(MUPC_ENOMEM, "out of host memory");
  int rc = read_energy(net, en);
  if (rc == MUPC_OK && train_loss) *train_loss = en[net->p.depth - 1];
  free(en);
  return rc;
}

/* Lowest hidden layer (1-based) whose error or gradient can be non-zero at
 * inference step t after a feedforward init (DESIGN §5, exact wavefront);
 * L means none. */
static int band_lo(const mupc_net *net, int t) {
  if (!net->p.wavefront) return 1;
  const int lo = net->p.depth - t;
  return lo > 1 ? lo : 1;
}

int mupc_net_infer(mupc_net *net, int steps) {
  const mupc_net_params *p = &net->p;
  const int on_host = mupc__host_infer(net, steps);
  if (on_host) return on_host < 0 ? on_host : MUPC_OK;
  for (int s = 1; s <= steps; s++) {
    const uint64_t before = net->count.enqueues;
    const int t = ++net->infer_t; /* counts from the feedforward init */
    const int lo = band_lo(net, t);
    MUPC__TRY(errors(net, lo));
    MUPC__TRY(back_project_update(net, lo, p->activity_lr, 1, t, 0));
    const int used = (int)(net->count.enqueues - before);
    if (used > net->per_step_enqueues) net->per_step_enqueues = used;
  }
  return MUPC_OK;
}

int mupc_net_activity_grads(mupc_net *net) {
  MUPC__TRY(errors(net, 1));
  return back_project_update(net, 1, 0.0f, 0, 1, 1);
}

int mupc_net_energy(mupc_net *net, float *per_layer, float *total) {
  const int L = net->p.depth;
  MUPC__TRY(errors(net, 1));
  MUPC__TRY(energy_kernel(net, 1));
  float *en = malloc(2 * (size_t)L * sizeof *en);
  if (!en) return mupc__fail(MUPC_ENOMEM, "out of host memory");
  int rc = read_energy(net, en);
  if (rc == MUPC_OK) {
    double sum = 0;
    for (int l = 0; l < L; l++) {
      if (per_layer) per_layer[l] = en[L + l];
      sum += en[L + l];
    }
    if (total) *total = (float)sum;
  }
  free(en);
  return rc;
}

/* Learning: errors at the final activities, then weight gradients. With
 * the wavefront only the band the inference reached can be non-zero. */
int mupc_net_weight_grads(mupc_net *net) {
  if (net->p.algo == MUPC_ALGO_BP) return mupc__bp_backward(net);
  const int lo = band_lo(net, net->infer_t);
  MUPC__TRY(errors(net, lo));
  MUPC__TRY(energy_kernel(net, 1));
  return mupc__weight_grads_from_errors(net, lo);
}

int mupc_net_train_step(mupc_net *net, const float *x, const float *y, mupc_step_stats *stats) {
  return mupc_net_train_step_hook(net, x, y, NULL, NULL, stats);
}

/* The training step, the one place its recipe is written: DESIGN §3's
 * feedforward initialisation, T inference steps, the weight gradients at
 * the equilibrium, then (after the hook, e.g. a sum over data-parallel
 * ranks) the optimiser's update. */
int mupc_net_train_step_hook(mupc_net *net, const float *x, const float *y, mupc_grad_hook hook,
                             void *arg, mupc_step_stats *stats) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth;
  MUPC__TRY(mupc_net_load_batch(net, x, y));
  MUPC__TRY(ff_init(net));
  if (p->algo == MUPC_ALGO_PC) MUPC__TRY(mupc_net_infer(net, p->infer_steps));
  MUPC__TRY(mupc_net_weight_grads(net));
  if (hook) MUPC__TRY(hook(net, arg));
  MUPC__TRY(mupc_net_update(net));
  float *en = malloc(2 * (size_t)L * sizeof *en);
  if (!en) return mupc__fail(MUPC_ENOMEM, "out of host memory");
  int rc = read_energy(net, en);
  if (rc == MUPC_OK) {
    double sum = 0;
    for (int l = 0; l < L; l++) sum += en[L + l];
    const float loss = en[L - 1];
    const float energy = p->algo == MUPC_ALGO_BP ? loss : (float)sum;
    if (stats) {
      stats->train_loss = loss;
      stats->energy = energy;
    }
    if (!isfinite(loss) || !isfinite(energy))
      rc = mupc__fail(MUPC_ENONFINITE, "non-finite %s (%g) at weight step %lld",
                      isfinite(loss) ? "energy" : "training loss",
                      (double)(isfinite(loss) ? energy : loss), (long long)net->t);
  }
  free(en);
  return rc;
}

int mupc_net_predict(mupc_net *net, const float *x, int n, float *yhat) {
  const mupc_net_params *p = &net->p;
  const int B = p->batch, C = p->output_dim, D = p->input_dim;
  const float scale = net->plan.layer[p->depth - 1].scale;
  /* The forward passes below overwrite the activities. */
  net->infer_t = p->depth;
  float *xb = calloc((size_t)B * D, sizeof *xb);
  float *out = malloc((size_t)B * C * sizeof *out);
  int rc = (xb && out) ? MUPC_OK : mupc__fail(MUPC_ENOMEM, "out of host memory");
  for (int s = 0; s < n && rc == MUPC_OK; s += B) {
    const int m = n - s < B ? n - s : B;
    memcpy(xb, x + (size_t)s * D, (size_t)m * D * sizeof *xb);
    if (m < B) memset(xb + (size_t)m * D, 0, (size_t)(B - m) * D * sizeof *xb);
    rc = mupc_net_load_batch(net, xb, NULL);
    if (rc == MUPC_OK) rc = mupc__forward(net);
    if (rc == MUPC_OK)
      rc = mupc__buffer_read(net->ctx, net->predl, 0, (size_t)B * C, out, "predictions");
    for (int i = 0; i < m && rc == MUPC_OK; i++) {
      float *row = yhat + (size_t)(s + i) * C;
      for (int k = 0; k < C; k++) row[k] = scale * out[(size_t)i * C + k];
      if (p->loss == MUPC_LOSS_CE) {
        float mx = row[0], sum = 0.0f;
        for (int k = 1; k < C; k++) mx = row[k] > mx ? row[k] : mx;
        for (int k = 0; k < C; k++) sum += (row[k] = expf(row[k] - mx));
        for (int k = 0; k < C; k++) row[k] /= sum;
      }
    }
  }
  free(xb);
  free(out);
  return rc;
}
