/* See dstep.h.
 *
 * Why the result equals one device with the global batch B (up to float
 * summation order): PC inference is per sample, so each rank's activities
 * and errors are exactly those rows of the single-device run, provided
 * every per-sample quantity is scaled as it is there. Each rank's net has
 * the local batch b = B/K but normalises its gradients by the global B
 * (mupc_net_params.norm_batch):
 *
 *  - the activity gradient of a sample is then (1/B)·∂F_i/∂z, as in the
 *    global run, so plain gradient descent and activity Adam (whose eps
 *    meets the same numbers) take the same steps;
 *  - weight gradients are (1/B)·Σ over the shard, and their sum over the
 *    ranks is the global gradient (1/B)·Σ over all samples;
 *  - energy and loss are per-sample means over equal shards, so their mean
 *    over the ranks is the global one;
 *  - the optimiser (Adam or SGD, weight decay) sees only the summed
 *    gradient and the weights, identical on every rank, so every rank keeps
 *    identical weights without ever sending them. */
#include "dstep.h"

#include "dist.h"

#include <math.h>
#include <stdlib.h>

mupc_net_params dstep_local_params(const mupc_net_params *global, int ranks) {
  mupc_net_params p = *global;
  p.batch = global->batch / ranks;
  p.norm_batch = global->batch;
  return p;
}

int dstep_init(dstep *s, mupc_net *net) {
  const int L = mupc_net_get_params(net)->depth;
  s->count = 0;
  for (int l = 0; l < L; l++) s->count += mupc_net_tensor_size(net, MUPC_T_WEIGHT_GRAD, l);
  s->grad = malloc(s->count * sizeof *s->grad);
  return s->grad ? MUPC_OK : MUPC_ENOMEM;
}

void dstep_free(dstep *s) {
  free(s->grad);
  s->grad = NULL;
}

/* Sum of the ranks' gradients, written back to every net. */
int dstep_reduce_grads(dstep *s, mupc_net *net) {
  const int L = mupc_net_get_params(net)->depth;
  float *at = s->grad;
  int st = MUPC_OK;
  for (int l = 0; l < L && st == MUPC_OK; l++) {
    st = mupc_net_read(net, MUPC_T_WEIGHT_GRAD, l, at);
    at += mupc_net_tensor_size(net, MUPC_T_WEIGHT_GRAD, l);
  }
  if (st != MUPC_OK) return st;
  if ((st = dist_sum_floats(s->grad, s->count)) != MUPC_OK) return st;
  at = s->grad;
  for (int l = 0; l < L && st == MUPC_OK; l++) {
    st = mupc_net_write(net, MUPC_T_WEIGHT_GRAD, l, at);
    at += mupc_net_tensor_size(net, MUPC_T_WEIGHT_GRAD, l);
  }
  return st;
}

int dstep_run(dstep *s, mupc_net *net, const float *x, const float *y, mupc_step_stats *stats) {
  const mupc_net_params *p = mupc_net_get_params(net);
  float loss = 0.0f, energy = 0.0f;
  int st = mupc_net_load_batch(net, x, y);
  if (st == MUPC_OK) st = mupc_net_feedforward(net, &loss);
  if (st == MUPC_OK && p->algo == MUPC_ALGO_PC) st = mupc_net_infer(net, p->infer_steps);
  if (st == MUPC_OK) st = mupc_net_weight_grads(net);
  /* The energy after inference, at the weights the gradients are for
   * (train_step reports the same); backprop's is its loss. */
  if (st == MUPC_OK && p->algo == MUPC_ALGO_PC) st = mupc_net_energy(net, NULL, &energy);
  if (p->algo == MUPC_ALGO_BP) energy = loss;
  if (st == MUPC_OK) st = dstep_reduce_grads(s, net);
  if (st == MUPC_OK) st = mupc_net_update(net);
  if (st != MUPC_OK) return st;
  double mean[2] = {loss, energy};
  if ((st = dist_sum_doubles(mean, 2)) != MUPC_OK) return st;
  stats->train_loss = (float)(mean[0] / dist_size());
  stats->energy = (float)(mean[1] / dist_size());
  if (!isfinite(stats->train_loss) || !isfinite(stats->energy)) return MUPC_ENONFINITE;
  return MUPC_OK;
}
