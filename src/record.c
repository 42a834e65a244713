/* The same training job on several devices (`mupc compare`): what one run
 * records, and how far two runs are apart (mupc.h, "runs compared"). */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void mupc_run_record_free(mupc_run_record *r) {
  if (!r) return;
  free(r->losses);
  free(r->weights);
  memset(r, 0, sizeof *r);
}

/* Every weight of the network, layer after layer. */
static int read_weights(mupc_net *net, mupc_run_record *r) {
  const int L = mupc_net_get_params(net)->depth;
  for (int l = 0; l < L; l++) r->nweights += mupc_net_tensor_size(net, MUPC_T_WEIGHT, l);
  float *at = r->weights = malloc(r->nweights * sizeof *r->weights);
  int st = at ? MUPC_OK : mupc__fail(MUPC_ENOMEM, "run record: no memory for the weights");
  for (int l = 0; l < L && !st; at += mupc_net_tensor_size(net, MUPC_T_WEIGHT, l++))
    st = mupc_net_read(net, MUPC_T_WEIGHT, l, at);
  return st;
}

/* The trainer's planned steps, each timed and its loss kept, then the
 * test set. */
static int run(mupc_trainer *tr, mupc_net *net, const mupc_dataset *test, mupc_run_record *r) {
  r->steps = mupc_trainer_total_steps(tr);
  if (r->steps < 1)
    return mupc__fail(MUPC_EINVAL, "run record: the plan has %lld steps, expected >= 1",
                      (long long)r->steps);
  double *secs = malloc((size_t)r->steps * sizeof *secs);
  r->losses = malloc((size_t)r->steps * sizeof *r->losses);
  int st = secs && r->losses ? MUPC_OK
                             : mupc__fail(MUPC_ENOMEM, "run record: no memory for %lld steps",
                                          (long long)r->steps);
  for (int64_t s = 0; s < r->steps && !st; s++) {
    mupc_train_metrics m;
    const double t0 = mupc__seconds();
    st = mupc_trainer_step(tr, &m);
    secs[s] = mupc__seconds() - t0;
    r->losses[s] = m.train_loss;
  }
  if (!st) r->seconds_median = mupc__median(secs, (size_t)r->steps);
  free(secs);
  if (!st) st = mupc_evaluate(net, test, &r->test);
  if (!st) st = read_weights(net, r);
  return st;
}

int mupc_run_record_make(mupc_ctx *ctx, const mupc_net_params *p, const mupc_train_opts *o,
                         const mupc_dataset *train, const mupc_dataset *test,
                         mupc_run_record *out) {
  if (!ctx || !p || !o || !train || !test || !out)
    return mupc__fail(MUPC_EINVAL, "run record: every argument is required");
  mupc_train_opts plan = *o;
  plan.eval_every = plan.save_every = 0; /* the steps alone are timed */
  mupc_run_record r = {0};
  mupc_net *net = NULL;
  mupc_trainer *tr = NULL;
  int st = mupc_net_init(&net, ctx, p);
  if (!st) st = mupc_trainer_init(&tr, net, train, NULL, &plan);
  if (!st) st = run(tr, net, test, &r);
  mupc_trainer_free(tr);
  mupc_net_free(net);
  if (st)
    mupc_run_record_free(&r);
  else
    *out = r;
  return st;
}

/* max|a − b| / max|b|: the normalised error the tests use. */
static double rel_diff(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num = fmax(num, fabs((double)a[i] - (double)b[i]));
    den = fmax(den, fabs((double)b[i]));
  }
  return den > 0 ? num / den : num;
}

int mupc_run_record_diff(const mupc_run_record *a, const mupc_run_record *ref,
                         double *weight_diff, double *loss_diff) {
  if (!a || !ref || !weight_diff || !loss_diff)
    return mupc__fail(MUPC_EINVAL, "run records: every argument is required");
  if (a->nweights != ref->nweights || a->steps != ref->steps)
    return mupc__fail(MUPC_ESHAPE,
                      "run records: %zu weights and %lld steps against %zu weights and %lld steps",
                      a->nweights, (long long)a->steps, ref->nweights, (long long)ref->steps);
  double worst = 0;
  for (int64_t s = 0; s < a->steps; s++)
    worst = fmax(worst, fabs((double)a->losses[s] - ref->losses[s]) /
                            fmax(fabs((double)ref->losses[s]), 1e-30));
  *weight_diff = rel_diff(a->weights, ref->weights, ref->nweights);
  *loss_diff = worst;
  return MUPC_OK;
}
