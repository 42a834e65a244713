/* One μPC training step (DESIGN §3): feedforward init, T inference steps on
 * all activities at once, then one weight update. Every layer band is a
 * fixed handful of enqueues whatever the depth, and nothing in the
 * inference loop waits on the host. */
#include "net.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int mupc__launch(mupc_net *net, cl_kernel k, size_t n) {
  if (n == 0) return MUPC_OK;
  const size_t local = net->wg;
  const size_t global = (n + local - 1) / local * local;
  cl_int err = clEnqueueNDRangeKernel(net->ctx->queue, k, 1, NULL, &global, &local, 0, NULL, NULL);
  net->enqueues++;
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: kernel launch failed: %s", net->ctx->info.name,
                      mupc_strerror(err));
  return MUPC_OK;
}

static int fill_zero(mupc_net *net, cl_mem buf, size_t off, size_t n) {
  if (n == 0) return MUPC_OK;
  const float zero = 0.0f;
  cl_int err = clEnqueueFillBuffer(net->ctx->queue, buf, &zero, sizeof zero, off * sizeof(float),
                                   n * sizeof(float), 0, NULL, NULL);
  net->enqueues++;
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: clEnqueueFillBuffer: %s", net->ctx->info.name,
                      mupc_strerror(err));
  return MUPC_OK;
}

#define TRY(expr)                                                              \
  do {                                                                         \
    int rc__ = (expr);                                                         \
    if (rc__) return rc__;                                                     \
  } while (0)

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
  const mupc_net_params *p = &net->p;
  const size_t B = p->batch, N = p->width, C = p->output_dim;
  return mupc__gemm(net, 0, 1, B, C, N, 1.0f, net->a, (size_t)(p->depth - 2) * net->bn, N, 0,
                    net->w, net->off_out, N, 0, 0.0f, net->predl, 0, C, 0, 1);
}

static int output_error(mupc_net *net) {
  const mupc_net_params *p = &net->p;
  cl_kernel k = net->k.out_error;
  const int B = p->batch, C = p->output_dim, ce = p->loss == MUPC_LOSS_CE;
  const float scale = mupc_layer_scale(p, p->depth - 1);
  MUPC__SET_ARG(k, 0, net->predl);
  MUPC__SET_ARG(k, 1, net->y);
  MUPC__SET_ARG(k, 2, net->el);
  MUPC__SET_ARG(k, 3, net->loss);
  MUPC__SET_ARG(k, 4, B);
  MUPC__SET_ARG(k, 5, C);
  MUPC__SET_ARG(k, 6, scale);
  MUPC__SET_ARG(k, 7, ce);
  return mupc__launch(net, k, (size_t)B);
}

/* Feedforward through the readout prediction: f1, z, a for every hidden
 * layer, predl. Depth-many enqueues: it runs once per batch. */
int mupc__forward(mupc_net *net) {
  const mupc_net_params *p = &net->p;
  const size_t B = p->batch, N = p->width, D = p->input_dim, L = p->depth, bn = net->bn;
  /* The feedforward values become the reference: no displacement, and
   * their own errors are zero by definition. */
  TRY(fill_zero(net, net->d, 0, (L - 1) * bn));
  TRY(fill_zero(net, net->da, 0, (L - 1) * bn));
  TRY(fill_zero(net, net->r, 0, (L - 1) * bn));
  TRY(mupc__gemm(net, 0, 1, B, N, D, mupc_layer_scale(p, 0), net->x, 0, D, 0, net->w, 0, D, 0,
                 0.0f, net->f1, 0, N, 0, 1));
  const int ibn = (int)bn;
  MUPC__SET_ARG(net->k.ff_first, 0, net->z);
  MUPC__SET_ARG(net->k.ff_first, 1, net->a);
  MUPC__SET_ARG(net->k.ff_first, 2, net->f1);
  MUPC__SET_ARG(net->k.ff_first, 3, ibn);
  TRY(mupc__launch(net, net->k.ff_first, bn));
  const float scale = mupc_layer_scale(p, 1), skip = mupc_layer_skip(p, 1);
  cl_kernel k = net->k.ff_hidden;
  MUPC__SET_ARG(k, 0, net->z);
  MUPC__SET_ARG(k, 1, net->a);
  MUPC__SET_ARG(k, 2, net->pred);
  MUPC__SET_ARG(k, 5, ibn);
  MUPC__SET_ARG(k, 6, scale);
  MUPC__SET_ARG(k, 7, skip);
  for (size_t l = 2; l + 1 <= L; l++) { /* hidden layers 2 … L-1 */
    TRY(mupc__gemm(net, 0, 1, B, N, N, 1.0f, net->a, (l - 2) * bn, N, bn, net->w,
                   net->off_hidden + (l - 2) * N * N, N, N * N, 0.0f, net->pred, (l - 2) * bn, N,
                   bn, 1));
    const int zoff = (int)((l - 1) * bn), poff = (int)((l - 2) * bn);
    MUPC__SET_ARG(k, 3, zoff);
    MUPC__SET_ARG(k, 4, poff);
    TRY(mupc__launch(net, k, bn));
  }
  return readout_pred(net);
}

/* Errors of the band lo … L-1 and of the output, at the current z. */
static int errors(mupc_net *net, int lo) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth;
  const size_t B = p->batch, N = p->width, bn = net->bn;
  const int h0 = lo > 2 ? lo : 2; /* first layer with a hidden weight */
  if (h0 <= L - 1) {
    const size_t s = (size_t)(h0 - 2);
    TRY(mupc__gemm(net, 0, 1, B, N, N, 1.0f, net->da, s * bn, N, bn, net->w,
                   net->off_hidden + s * N * N, N, N * N, 0.0f, net->pred, s * bn, N, bn,
                   (size_t)(L - h0)));
  }
  TRY(readout_pred(net));
  if (lo <= L - 1) {
    cl_kernel k = net->k.pc_errors;
    const int count = (L - lo) * (int)bn, ibn = (int)bn;
    const float scale = mupc_layer_scale(p, 1), skip = mupc_layer_skip(p, 1);
    MUPC__SET_ARG(k, 0, net->r);
    MUPC__SET_ARG(k, 1, net->d);
    MUPC__SET_ARG(k, 2, net->pred);
    MUPC__SET_ARG(k, 3, net->e);
    MUPC__SET_ARG(k, 4, lo);
    MUPC__SET_ARG(k, 5, count);
    MUPC__SET_ARG(k, 6, ibn);
    MUPC__SET_ARG(k, 7, scale);
    MUPC__SET_ARG(k, 8, skip);
    TRY(mupc__launch(net, k, (size_t)count));
  }
  return output_error(net);
}

/* bp_l = E_{l+1} W_{l+1} for l in lo … L-1 (unscaled). */
static int back_project(mupc_net *net, int lo) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth;
  const size_t B = p->batch, N = p->width, C = p->output_dim, bn = net->bn;
  if (lo <= L - 2) {
    const size_t s = (size_t)(lo - 1);
    TRY(mupc__gemm(net, 0, 0, B, N, N, 1.0f, net->e, (s + 1) * bn, N, bn, net->w,
                   net->off_hidden + s * N * N, N, N * N, 0.0f, net->bp, s * bn, N, bn,
                   (size_t)(L - 1 - lo)));
  }
  return mupc__gemm(net, 0, 0, B, N, C, 1.0f, net->el, 0, C, 0, net->w, net->off_out, N, 0, 0.0f,
                    net->bp, (size_t)(L - 2) * bn, N, 0, 1);
}

/* One pass of pc_update (pc_update_adam with adam) over the band: lr = 0
 * with adam = 0 only computes the gradient. t is the 1-based activity-Adam
 * step. */
static int update_band(mupc_net *net, int lo, float lr, int adam, int t, int store_dz) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth, ibn = (int)net->bn, count = (L - lo) * ibn, top = (L - 2) * ibn;
  const float scale_h = mupc_layer_scale(p, 1), skip_h = mupc_layer_skip(p, 1);
  const float scale_top = mupc_layer_scale(p, L - 1), inv_b = mupc__grad_norm(p);
  const float b1 = p->adam_beta1, b2 = p->adam_beta2, eps = p->adam_eps;
  const float c1 = adam ? (float)(1.0 / (1.0 - pow(b1, t))) : 1.0f;
  const float c2 = adam ? (float)(1.0 / (1.0 - pow(b2, t))) : 1.0f;
  cl_kernel k = adam ? net->k.pc_update_adam : net->k.pc_update;
  MUPC__SET_ARG(k, 0, net->z);
  MUPC__SET_ARG(k, 1, net->d);
  MUPC__SET_ARG(k, 2, net->a);
  MUPC__SET_ARG(k, 3, net->da);
  MUPC__SET_ARG(k, 4, net->e);
  MUPC__SET_ARG(k, 5, net->bp);
  MUPC__SET_ARG(k, 6, net->dz);
  MUPC__SET_ARG(k, 7, net->zm);
  MUPC__SET_ARG(k, 8, net->zv);
  MUPC__SET_ARG(k, 9, lo);
  MUPC__SET_ARG(k, 10, count);
  MUPC__SET_ARG(k, 11, ibn);
  MUPC__SET_ARG(k, 12, top);
  MUPC__SET_ARG(k, 13, scale_h);
  MUPC__SET_ARG(k, 14, skip_h);
  MUPC__SET_ARG(k, 15, scale_top);
  MUPC__SET_ARG(k, 16, inv_b);
  MUPC__SET_ARG(k, 17, lr);
  MUPC__SET_ARG(k, 18, store_dz);
  MUPC__SET_ARG(k, 19, b1);
  MUPC__SET_ARG(k, 20, b2);
  MUPC__SET_ARG(k, 21, eps);
  MUPC__SET_ARG(k, 22, c1);
  MUPC__SET_ARG(k, 23, c2);
  return mupc__launch(net, k, (size_t)count);
}

int mupc__activities_rebase(mupc_net *net) {
  const int count = (net->p.depth - 1) * (int)net->bn;
  cl_kernel k = net->k.rebase;
  MUPC__SET_ARG(k, 0, net->z);
  MUPC__SET_ARG(k, 1, net->d);
  MUPC__SET_ARG(k, 2, net->da);
  MUPC__SET_ARG(k, 3, net->a);
  MUPC__SET_ARG(k, 4, count);
  return mupc__launch(net, k, (size_t)count);
}

int mupc__activities_written(mupc_net *net, int off, int n) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth, count = (L - 1) * (int)net->bn, ibn = (int)net->bn;
  const size_t B = p->batch, N = p->width, bn = net->bn;
  MUPC__SET_ARG(net->k.refresh_act, 0, net->z);
  MUPC__SET_ARG(net->k.refresh_act, 1, net->a);
  MUPC__SET_ARG(net->k.refresh_act, 2, off);
  MUPC__SET_ARG(net->k.refresh_act, 3, n);
  TRY(mupc__launch(net, net->k.refresh_act, (size_t)n));
  /* The written reference is no longer a feedforward state: its own errors
   * r = z − f(z) enter every error from now on. */
  if (L > 2)
    TRY(mupc__gemm(net, 0, 1, B, N, N, 1.0f, net->a, 0, N, bn, net->w, net->off_hidden, N, N * N,
                   0.0f, net->pred, 0, N, bn, (size_t)(L - 2)));
  const float scale = mupc_layer_scale(p, 1), skip = mupc_layer_skip(p, 1);
  cl_kernel k = net->k.residual;
  MUPC__SET_ARG(k, 0, net->z);
  MUPC__SET_ARG(k, 1, net->pred);
  MUPC__SET_ARG(k, 2, net->f1);
  MUPC__SET_ARG(k, 3, net->r);
  MUPC__SET_ARG(k, 4, count);
  MUPC__SET_ARG(k, 5, ibn);
  MUPC__SET_ARG(k, 6, scale);
  MUPC__SET_ARG(k, 7, skip);
  return mupc__launch(net, k, (size_t)count);
}

/* Energies into energy[slot·L … slot·L + L). */
static int energy_kernel(mupc_net *net, int slot) {
  const mupc_net_params *p = &net->p;
  cl_kernel k = net->k.layer_energy;
  const int L = p->depth, ibn = (int)net->bn, B = p->batch, out_off = slot * L;
  const float inv_b = 1.0f / (float)B;
  MUPC__SET_ARG(k, 0, net->e);
  MUPC__SET_ARG(k, 1, net->loss);
  MUPC__SET_ARG(k, 2, net->energy);
  MUPC__SET_ARG(k, 3, L);
  MUPC__SET_ARG(k, 4, ibn);
  MUPC__SET_ARG(k, 5, B);
  MUPC__SET_ARG(k, 6, inv_b);
  MUPC__SET_ARG(k, 7, out_off);
  /* One work-group per layer: the launch is L groups, not L items. */
  return mupc__launch(net, k, (size_t)L * net->wg);
}

static int read_energy(mupc_net *net, float *out /* 2L */) {
  cl_int err = clEnqueueReadBuffer(net->ctx->queue, net->energy, CL_TRUE, 0,
                                   2 * (size_t)net->p.depth * sizeof(float), out, 0, NULL, NULL);
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: reading energies failed: %s", net->ctx->info.name,
                      mupc_strerror(err));
  return mupc__gemm_check_fault(net->ctx);
}

/* Feedforward init: zero the hidden errors (they are exactly zero at the
 * feedforward state, and the wavefront never computes the ones below its
 * band), forward, output error, energies into slot 0. */
static int ff_init(mupc_net *net) {
  const size_t n = (size_t)(net->p.depth - 1) * net->bn;
  TRY(fill_zero(net, net->e, 0, n));
  if (net->p.activity_optim == MUPC_AOPTIM_ADAM) {
    /* Fresh activity-optimiser state for every inference solve. */
    TRY(fill_zero(net, net->zm, 0, n));
    TRY(fill_zero(net, net->zv, 0, n));
  }
  net->infer_t = 0;
  TRY(mupc__forward(net));
  TRY(output_error(net));
  return energy_kernel(net, 0);
}

int mupc_net_feedforward(mupc_net *net, float *train_loss) {
  TRY(ff_init(net));
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
  const int adam = p->activity_optim == MUPC_AOPTIM_ADAM;
  for (int s = 1; s <= steps; s++) {
    const uint64_t before = net->enqueues;
    const int t = ++net->infer_t; /* counts from the feedforward init */
    const int lo = band_lo(net, t);
    TRY(errors(net, lo));
    TRY(back_project(net, lo));
    TRY(update_band(net, lo, p->activity_lr, adam, t, 0));
    const int used = (int)(net->enqueues - before);
    if (used > net->per_step_enqueues) net->per_step_enqueues = used;
  }
  return MUPC_OK;
}

int mupc_net_activity_grads(mupc_net *net) {
  TRY(errors(net, 1));
  TRY(back_project(net, 1));
  return update_band(net, 1, 0.0f, 0, 1, 1);
}

int mupc_net_energy(mupc_net *net, float *per_layer, float *total) {
  const int L = net->p.depth;
  TRY(errors(net, 1));
  TRY(energy_kernel(net, 1));
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

int mupc__weight_grads_from_errors(mupc_net *net, int lo) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth;
  const size_t B = p->batch, N = p->width, D = p->input_dim, C = p->output_dim, bn = net->bn;
  const float inv_b = mupc__grad_norm(p);
  /* Layers below the band have zero error, hence zero gradient. */
  if (lo > 1) TRY(fill_zero(net, net->grad, 0, mupc__weight_offset(net, lo < L ? lo - 1 : L - 1)));
  if (lo <= 1)
    TRY(mupc__gemm(net, 1, 0, N, D, B, -mupc_layer_scale(p, 0) * inv_b, net->e, 0, N, 0, net->x,
                   0, D, 0, 0.0f, net->grad, 0, D, 0, 1));
  const int h0 = lo > 2 ? lo : 2;
  if (h0 <= L - 1) {
    const size_t s = (size_t)(h0 - 2);
    TRY(mupc__gemm(net, 1, 0, N, N, B, -mupc_layer_scale(p, 1) * inv_b, net->e, (s + 1) * bn, N,
                   bn, net->a, s * bn, N, bn, 0.0f, net->grad, net->off_hidden + s * N * N, N,
                   N * N, (size_t)(L - h0)));
  }
  return mupc__gemm(net, 1, 0, C, N, B, -mupc_layer_scale(p, L - 1) * inv_b, net->el, 0, C, 0,
                    net->a, (size_t)(L - 2) * bn, N, 0, 0.0f, net->grad, net->off_out, N, 0, 1);
}

/* Learning: errors at the final activities, then weight gradients. With
 * the wavefront only the band the inference reached can be non-zero. */
int mupc_net_weight_grads(mupc_net *net) {
  if (net->p.algo == MUPC_ALGO_BP) return mupc__bp_backward(net);
  const int lo = band_lo(net, net->infer_t);
  TRY(errors(net, lo));
  TRY(energy_kernel(net, 1));
  return mupc__weight_grads_from_errors(net, lo);
}

int mupc_net_update(mupc_net *net) {
  const mupc_net_params *p = &net->p;
  const int n = (int)net->n_params;
  const float lr = p->lr, wd = p->weight_decay;
  net->t++;
  if (p->optim == MUPC_OPTIM_SGD) {
    cl_kernel k = net->k.sgd_update;
    MUPC__SET_ARG(k, 0, net->w);
    MUPC__SET_ARG(k, 1, net->grad);
    MUPC__SET_ARG(k, 2, n);
    MUPC__SET_ARG(k, 3, lr);
    MUPC__SET_ARG(k, 4, wd);
    return mupc__launch(net, k, (size_t)n);
  }
  const float b1 = p->adam_beta1, b2 = p->adam_beta2, eps = p->adam_eps;
  const float c1 = (float)(1.0 / (1.0 - pow(b1, (double)net->t)));
  const float c2 = (float)(1.0 / (1.0 - pow(b2, (double)net->t)));
  cl_kernel k = net->k.adam_update;
  MUPC__SET_ARG(k, 0, net->w);
  MUPC__SET_ARG(k, 1, net->grad);
  MUPC__SET_ARG(k, 2, net->adam_m);
  MUPC__SET_ARG(k, 3, net->adam_v);
  MUPC__SET_ARG(k, 4, n);
  MUPC__SET_ARG(k, 5, lr);
  MUPC__SET_ARG(k, 6, b1);
  MUPC__SET_ARG(k, 7, b2);
  MUPC__SET_ARG(k, 8, eps);
  MUPC__SET_ARG(k, 9, wd);
  MUPC__SET_ARG(k, 10, c1);
  MUPC__SET_ARG(k, 11, c2);
  return mupc__launch(net, k, (size_t)n);
}

int mupc_net_train_step(mupc_net *net, const float *x, const float *y, mupc_step_stats *stats) {
  return mupc_net_train_step_hook(net, x, y, NULL, NULL, stats);
}

/* The training step, the one place its recipe is written: DESIGN §2's
 * feedforward initialisation, T inference steps, the weight gradients at
 * the equilibrium, then (after the hook, e.g. a sum over data-parallel
 * ranks) the optimiser's update. */
int mupc_net_train_step_hook(mupc_net *net, const float *x, const float *y, mupc_grad_hook hook,
                             void *arg, mupc_step_stats *stats) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth;
  TRY(mupc_net_load_batch(net, x, y));
  TRY(ff_init(net));
  if (p->algo == MUPC_ALGO_PC) TRY(mupc_net_infer(net, p->infer_steps));
  TRY(mupc_net_weight_grads(net));
  if (hook) TRY(hook(net, arg));
  TRY(mupc_net_update(net));
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
  const float scale = mupc_layer_scale(p, p->depth - 1);
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
    if (rc == MUPC_OK) {
      cl_int err = clEnqueueReadBuffer(net->ctx->queue, net->predl, CL_TRUE, 0,
                                       (size_t)B * C * sizeof *out, out, 0, NULL, NULL);
      if (err != CL_SUCCESS)
        rc = mupc__fail(err, "%s: reading predictions: %s", net->ctx->info.name,
                        mupc_strerror(err));
      else
        rc = mupc__gemm_check_fault(net->ctx);
    }
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
