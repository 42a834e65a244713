/* Test-set accuracy and loss from the feedforward prediction. */
#include "evaluate.h"

#include "cli.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mupc_data_opts data_default_opts(void) {
  mupc_data_opts o = mupc_data_default_opts();
  o.mean[0] = DATA_DEFAULT_MEAN;
  o.std[0] = DATA_DEFAULT_STD;
  return o;
}

int data_parse_format(const char *cmd, const char *text, mupc_data_opts *o) {
  int f = mupc_data_format_from_name(text);
  if (f < 0)
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "--format: expected auto, idx, cifar10, cifar100 or tensors, got '%s'", text);
  o->format = (mupc_data_format)f;
  return CLI_EXIT_OK;
}

int data_parse_label(const char *cmd, const char *text, mupc_data_opts *o) {
  if (strcmp(text, "fine") == 0 || strcmp(text, "coarse") == 0) {
    o->coarse = text[0] == 'c';
    return CLI_EXIT_OK;
  }
  return cli_error(CLI_EXIT_USAGE, cmd, "--label: expected fine or coarse, got '%s'", text);
}

int data_parse_norm(const char *cmd, const char *text, mupc_data_opts *o) {
  int n = 1;
  for (const char *p = text; *p; p++)
    n += *p == ',';
  if (n % 2 != 0 || n > 2 * MUPC_NORM_MAX)
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "--norm: expected MEAN,STD or C means then C stds (C <= %d), got '%s'",
                     MUPC_NORM_MAX, text);
  float v[2 * MUPC_NORM_MAX];
  const cli_range any = {-INFINITY, INFINITY, 0, 0}, positive = {0, INFINITY, 1, 0};
  const char *p = text;
  for (int i = 0; i < n; i++) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char item[64];
    if (len >= sizeof item)
      return cli_error(CLI_EXIT_USAGE, cmd, "--norm: value %d is longer than %zu characters", i + 1,
                       sizeof item - 1);
    snprintf(item, sizeof item, "%.*s", (int)len, p);
    if (cli_parse_float(cmd, i < n / 2 ? "--norm MEAN" : "--norm STD", item,
                        i < n / 2 ? any : positive, &v[i]))
      return CLI_EXIT_USAGE;
    p = comma ? comma + 1 : p + len;
  }
  o->channels = n / 2;
  for (int i = 0; i < n / 2; i++) {
    o->mean[i] = v[i];
    o->std[i] = v[n / 2 + i];
  }
  return CLI_EXIT_OK;
}

/* The shortest text strtof reads back to the same float. */
static void put_float(float v, char *dst, size_t n) {
  for (int digits = 6; digits <= 9; digits++) {
    snprintf(dst, n, "%.*g", digits, (double)v);
    if (strtof(dst, NULL) == v) return;
  }
}

void data_norm_text(const mupc_data_opts *o, char *dst, size_t n) {
  size_t used = 0;
  dst[0] = '\0';
  for (int i = 0; i < 2 * o->channels && used + 1 < n; i++) {
    char one[32];
    put_float(i < o->channels ? o->mean[i] : o->std[i - o->channels], one, sizeof one);
    used += (size_t)snprintf(dst + used, n - used, "%s%s", i ? "," : "", one);
  }
}

int data_resolve_format(const char *cmd, const char *flag, const char *dir, mupc_data_opts *o) {
  if (o->format != MUPC_DATA_AUTO) return CLI_EXIT_OK;
  int st = mupc_data_detect(dir, &o->format);
  if (st == MUPC_OK) return CLI_EXIT_OK;
  return cli_error(cli_exit_code(st), cmd, "%s: %s", flag, mupc_errmsg());
}

int data_load(const char *cmd, const char *flag, const char *dir, int train,
              const mupc_data_opts *o, mupc_dataset *out) {
  int st = mupc_dataset_load(dir, train, o, out);
  if (st == MUPC_OK) return CLI_EXIT_OK;
  return cli_error(cli_exit_code(st), cmd, "%s: %s", flag, mupc_errmsg());
}

int data_load_both(const char *cmd, const char *flag, const char *dir, const mupc_data_opts *o,
                   mupc_dataset *train, mupc_dataset *test) {
  int code = data_load(cmd, flag, dir, 1, o, train);
  if (code) return code;
  /* A test set may miss the rarest class; the training set decides. */
  mupc_data_opts t = *o;
  t.classes = train->classes;
  code = data_load(cmd, flag, dir, 0, &t, test);
  if (code) return code;
  if (test->dim != train->dim)
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "%s: %s: test samples have %d values (%dx%d) but training samples %d (%dx%d)",
                     flag, dir, test->dim, test->rows, test->cols, train->dim, train->rows,
                     train->cols);
  return CLI_EXIT_OK;
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
