/* Test-set accuracy and loss from the feedforward prediction. */
#include "evaluate.h"

#include "cli.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

int data_load(const char *cmd, const char *flag, const char *dir, int train, int classes,
              float mean, float std, mupc_dataset *out) {
  int st = mupc_dataset_load_dir(dir, train, classes, mean, std, out);
  if (st == MUPC_OK) return CLI_EXIT_OK;
  return cli_error(cli_exit_code(st), cmd, "%s: %s", flag, mupc_errmsg());
}

static int argmax(const float *v, int n) {
  int best = 0;
  for (int k = 1; k < n; k++)
    if (v[k] > v[best]) best = k;
  return best;
}

/* One sample's loss against its one-hot label, as DESIGN §2 defines the
 * output term (½‖y − ŷ‖², or −log softmax for CE). */
static double sample_loss(const float *yhat, int classes, int label, mupc_loss loss) {
  if (loss == MUPC_LOSS_CE) {
    /* A probability that underflowed to 0 would make the mean infinite;
     * FLT_MIN bounds one sample's loss at about 87. NaN stays NaN: it
     * is how a diverged model shows. */
    float p = yhat[label] >= 0.0f && yhat[label] < FLT_MIN ? FLT_MIN : yhat[label];
    return -log((double)p);
  }
  double sum = 0.0;
  for (int k = 0; k < classes; k++) {
    double d = (k == label ? 1.0 : 0.0) - (double)yhat[k];
    sum += d * d;
  }
  return 0.5 * sum;
}

int eval_sums(mupc_net *net, const mupc_dataset *d, int first, int n, double *correct,
              double *loss) {
  const mupc_net_params *p = mupc_net_get_params(net);
  const int C = p->output_dim;
  *correct = *loss = 0.0;
  if (n <= 0) return MUPC_OK;
  float *yhat = malloc((size_t)n * (size_t)C * sizeof *yhat);
  if (!yhat) return MUPC_ENOMEM;
  int st = mupc_net_predict(net, d->x + (size_t)first * (size_t)d->dim, n, yhat);
  if (st == MUPC_OK) {
    long right = 0;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
      const float *row = yhat + (size_t)i * C;
      right += argmax(row, C) == d->labels[first + i];
      sum += sample_loss(row, C, d->labels[first + i], p->loss);
    }
    *correct = (double)right;
    *loss = sum;
  }
  free(yhat);
  return st;
}

int eval_dataset(mupc_net *net, const mupc_dataset *d, eval_result *out) {
  double correct, loss;
  int st = eval_sums(net, d, 0, d->count, &correct, &loss);
  if (st == MUPC_OK) {
    out->count = d->count;
    out->acc = d->count ? correct / d->count : 0.0;
    out->loss = d->count ? loss / d->count : 0.0;
  }
  return st;
}
