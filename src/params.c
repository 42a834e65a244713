/* The table of parameters: one row per field of mupc_net_params and of
 * mupc_train_opts. The CLI's flags and --help, the checkpoint metadata
 * (checkpoint.c), --resume's checks, the defaults and by-name access all
 * read it, so a field added here reaches every one of them.
 *
 * Values as text: set parses strictly (the whole text, no blanks) and says
 * only what was expected and what came, so that each caller names the field
 * as its user spells it (--width, width=); get writes the shortest text
 * that sets the field back exactly. */
#include "params.h"

#include "internal.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Enum fields are read and written as int. */
_Static_assert(sizeof(mupc_act) == sizeof(int) && sizeof(mupc_param) == sizeof(int) &&
                   sizeof(mupc_loss) == sizeof(int) && sizeof(mupc_algo) == sizeof(int) &&
                   sizeof(mupc_aoptim) == sizeof(int) && sizeof(mupc_optim) == sizeof(int) &&
                   sizeof(mupc_rng) == sizeof(int) && sizeof(mupc_data_format) == sizeof(int),
               "enum fields must be int-sized");

typedef struct prow {
  mupc_param_info info; /* first: a row's info pointer is the row's */
  size_t offset;        /* of the field in its scope's struct */
  /* Numeric range; an infinite end is no bound beyond the type's, an open
   * end excludes its value (lr > 0). */
  double lo, hi;
  unsigned char lo_open, hi_open;
  /* 0 means "none" and is written "" (epochs: not given; classes: from the
   * data), outside the range that a given value must lie in. */
  unsigned char zero_is_none;
  const char *(*name_of)(int); /* ENUM: value to name, NULL past the end */
  const char *(*help_of)(int); /* ENUM, optional: what value v is */
  int (*from_name)(const char *);
} prow;

/* ---- enum names as ints ----------------------------------------------- */

#define ENUM_NAMES(fn, type, count)                                                                \
  static const char *fn##_i(int v) { return v >= 0 && v < (count) ? fn((type)v) : NULL; }
ENUM_NAMES(mupc_act_name, mupc_act, MUPC_ACT_COUNT)
ENUM_NAMES(mupc_param_name, mupc_param, MUPC_PARAM_COUNT)
ENUM_NAMES(mupc_loss_name, mupc_loss, MUPC_LOSS_COUNT)
ENUM_NAMES(mupc_algo_name, mupc_algo, MUPC_ALGO_COUNT)
ENUM_NAMES(mupc_aoptim_name, mupc_aoptim, MUPC_AOPTIM_COUNT)
ENUM_NAMES(mupc_optim_name, mupc_optim, MUPC_OPTIM_COUNT)
ENUM_NAMES(mupc_rng_name, mupc_rng, MUPC_RNG_COUNT)
ENUM_NAMES(mupc_data_format_name, mupc_data_format, MUPC_DATA_TENSORS + 1)
#undef ENUM_NAMES

/* mupc_data_opts.coarse, by name: CIFAR-100's two label sets. */
static const char *const label_names[] = {"fine", "coarse"};

static const char *label_name_i(int v) { return v == 0 || v == 1 ? label_names[v] : NULL; }

/* What each activation and activity optimiser is (init.c's tables). */
static const char *act_help_i(int v) { return mupc__acts[v].help; }
static const char *aoptim_help_i(int v) { return mupc__aoptims[v].help; }

/* The enum rows' allowed text, "one of a, b, c" (with each value's help
 * where its table has one), written from the names on first use
 * (write_allowed): the lists are the names' own tables, not copies. */
enum { ALLOWED_MAX = 512 };
static char act_allowed[ALLOWED_MAX], param_allowed[ALLOWED_MAX], loss_allowed[ALLOWED_MAX],
    algo_allowed[ALLOWED_MAX], aoptim_allowed[ALLOWED_MAX], optim_allowed[ALLOWED_MAX],
    rng_allowed[ALLOWED_MAX];

static int label_from_name(const char *s) { return mupc__name_index(label_names, 2, s); }

/* ---- the table ---------------------------------------------------------- */

#define NET(f) .offset = offsetof(mupc_net_params, f)
#define TRAIN(f) .offset = offsetof(mupc_train_opts, f)
#define RANGE(a, b) .lo = (a), .hi = (b)
#define NAMES(fn, from) .name_of = fn##_i, .from_name = from
#define HELPS(fn) .help_of = fn
#define INF INFINITY
#define BOOL_ALLOWED "true, false, 1, 0, on, off, yes or no"
#define PATH_ALLOWED "a path shorter than 4096 bytes"
#define N MUPC_PSCOPE_NET
#define T MUPC_PSCOPE_TRAIN

/* In --help order: model, optimisation, data, run. `def` is what get
 * writes for the default, so the test can compare them. */
static const prow rows[] = {
    /* ---- model ---- */
    {{"input-dim", "input_dim", N, MUPC_PTYPE_INT, "D", "784", "an integer >= 1",
      "input values per sample", NULL, MUPC_PFLAG_FROM_DATA},
     NET(input_dim), RANGE(1, INF)},
    {{"output-dim", "output_dim", N, MUPC_PTYPE_INT, "C", "10", "an integer >= 1",
      "outputs, one per class", NULL, MUPC_PFLAG_FROM_DATA},
     NET(output_dim), RANGE(1, INF)},
    {{"depth", "depth", N, MUPC_PTYPE_INT, "L", "30", "an integer in [2, 100000]",
      "weight matrices, L = hidden layers + 1", NULL, 0},
     NET(depth), RANGE(2, 100000)},
    {{"width", "width", N, MUPC_PTYPE_INT, "N", "128", "an integer in [1, 1048576]", "hidden width",
      NULL, 0},
     NET(width), RANGE(1, 1 << 20)},
    {{"act", "act", N, MUPC_PTYPE_ENUM, "NAME", "relu",
      act_allowed,
      "activation of the hidden layers", NULL, 0},
     NET(act), NAMES(mupc_act_name, mupc_act_from_name), HELPS(act_help_i)},
    {{"param", "param", N, MUPC_PTYPE_ENUM, "P", "mupc", param_allowed,
      "parameterisation: the layers' scalings and initial weights", NULL, 0},
     NET(param), NAMES(mupc_param_name, mupc_param_from_name)},
    {{"skips", "skips", N, MUPC_PTYPE_BOOL, NULL, "1", BOOL_ALLOWED,
      "residual skips on the hidden layers", NULL, 0},
     NET(skips)},
    {{"loss", "loss", N, MUPC_PTYPE_ENUM, "L", "mse", loss_allowed,
      "mean squared error or softmax cross-entropy", NULL, 0},
     NET(loss), NAMES(mupc_loss_name, mupc_loss_from_name)},
    {{"algo", "algo", N, MUPC_PTYPE_ENUM, "A", "pc", algo_allowed,
      "predictive coding, or backprop as the baseline", NULL, 0},
     NET(algo), NAMES(mupc_algo_name, mupc_algo_from_name)},
    /* ---- optimisation ---- */
    {{"batch", "batch", N, MUPC_PTYPE_INT, "B", "64", "an integer in [1, 16777216]", "batch size",
      NULL, 0},
     NET(batch), RANGE(1, 1 << 24)},
    {{"infer-steps", "infer_steps", N, MUPC_PTYPE_INT, "T", "30", "an integer in [0, 1000000]",
      "inference steps per batch", NULL, 0},
     NET(infer_steps), RANGE(0, 1000000)},
    {{"activity-lr", "activity_lr", N, MUPC_PTYPE_FLOAT, "X", "0.5", "a number >= 0",
      "activity step size", NULL, 0},
     NET(activity_lr), RANGE(0, INF)},
    {{"activity-optim", "activity_optim", N, MUPC_PTYPE_ENUM, "O", "gd", aoptim_allowed,
      "optimiser of the activities", NULL, 0},
     NET(activity_optim), NAMES(mupc_aoptim_name, mupc_aoptim_from_name), HELPS(aoptim_help_i)},
    {{"lr", "lr", N, MUPC_PTYPE_FLOAT, "X", "0.1", "a number > 0", "weight learning rate", NULL,
      0},
     NET(lr), RANGE(0, INF), .lo_open = 1},
    {{"optim", "optim", N, MUPC_PTYPE_ENUM, "O", "adam", optim_allowed,
      "optimiser of the weights", NULL, 0},
     NET(optim), NAMES(mupc_optim_name, mupc_optim_from_name)},
    {{"weight-decay", "weight_decay", N, MUPC_PTYPE_FLOAT, "X", "0", "a number >= 0",
      "adds X*W to the weight gradient", NULL, 0},
     NET(weight_decay), RANGE(0, INF)},
    {{"adam-beta1", "adam_beta1", N, MUPC_PTYPE_FLOAT, "X", "0.9", "a number in [0, 1)",
      "Adam's decay of the gradient's mean", NULL, 0},
     NET(adam_beta1), RANGE(0, 1), .hi_open = 1},
    {{"adam-beta2", "adam_beta2", N, MUPC_PTYPE_FLOAT, "X", "0.999", "a number in [0, 1)",
      "Adam's decay of the gradient's square", NULL, 0},
     NET(adam_beta2), RANGE(0, 1), .hi_open = 1},
    {{"adam-eps", "adam_eps", N, MUPC_PTYPE_FLOAT, "X", "1e-08", "a number > 0",
      "Adam's epsilon", NULL, 0},
     NET(adam_eps), RANGE(0, INF), .lo_open = 1},
    {{"seed", "seed", N, MUPC_PTYPE_U64, "S", "0", "an integer >= 0 (64-bit)",
      "initial weights and data order", NULL, 0},
     NET(seed), RANGE(0, INF)},
    /* Files from mupc 0.1 predate "rng": their weights and batch order came
     * from its splitmix64 streams, and a resumed run must keep that order. */
    {{"rng", "rng", N, MUPC_PTYPE_ENUM, "NAME", "philox4x32-10",
      rng_allowed,
      "the generator the seed drives; splitmix64 is mupc 0.1's, kept for its checkpoints",
      "splitmix64", 0},
     NET(rng), NAMES(mupc_rng_name, mupc_rng_from_name)},
    {{"wavefront", "wavefront", N, MUPC_PTYPE_BOOL, NULL, "1", BOOL_ALLOWED,
      "compute only the band of layers that can change: the same result, faster", NULL, 0},
     NET(wavefront)},
    {{"norm-batch", "norm_batch", N, MUPC_PTYPE_INT, "B", "0", "an integer >= 0",
      "the B of the gradients' 1/B, 0: batch (each rank's net under data parallelism)", "0",
      MUPC_PFLAG_INTERNAL},
     NET(norm_batch), RANGE(0, INF)},
    /* ---- data ---- */
    {{"data", "data_dir", T, MUPC_PTYPE_STRING, "DIR", "/usr/share/datasets/fashion-mnist",
      PATH_ALLOWED, "a data set directory", NULL, MUPC_PFLAG_PER_RUN},
     TRAIN(data_dir)},
    /* Files older than the data keys were IDX, fine labels, and one mean and
     * std in the norm_mean and norm_std keys (checkpoint.c). */
    {{"format", "data_format", T, MUPC_PTYPE_ENUM, "F", "auto",
      "auto, idx, cifar10, cifar100 or tensors",
      "data set layout, auto: by the files in DIR (README, \"Data\")", "idx", 0},
     TRAIN(data.format), NAMES(mupc_data_format_name, mupc_data_format_from_name)},
    {{"label", "data_label", T, MUPC_PTYPE_ENUM, "L", "fine", "fine or coarse",
      "CIFAR-100: fine (100 classes) or coarse (20) labels", "fine", 0},
     TRAIN(data.coarse), NAMES(label_name, label_from_name)},
    {{"classes", NULL, T, MUPC_PTYPE_INT, "N", "", "an integer >= 1",
      "class count (default: from the data)", NULL, 0},
     TRAIN(data.classes), RANGE(1, INF), .zero_is_none = 1},
    {{"norm", "norm", T, MUPC_PTYPE_NORM, "M,S", "0.5,0.5",
      "MEAN,STD or C means then C stds (C <= 16)",
      "values become (x/255 - M)/S, F32 tensors (x - M)/S; per channel: M1,...,Mc,S1,...,Sc",
      NULL, 0},
     TRAIN(data)},
    {{"shuffle", "shuffle", T, MUPC_PTYPE_BOOL, NULL, "1", BOOL_ALLOWED,
      "a new batch order every epoch, from the seed (the last partial batch is always dropped)",
      NULL, 0},
     TRAIN(shuffle)},
    /* ---- the run ---- */
    {{"steps", "total_steps", T, MUPC_PTYPE_I64, "S", "1500", "an integer >= 1",
      "steps in all, counting those before a resume", NULL, MUPC_PFLAG_PER_RUN},
     TRAIN(steps), RANGE(1, INF)},
    {{"epochs", NULL, T, MUPC_PTYPE_INT, "E", "", "an integer >= 1",
      "train for E epochs instead of a number of steps", NULL, MUPC_PFLAG_PER_RUN},
     TRAIN(epochs), RANGE(1, INF), .zero_is_none = 1},
    {{"eval-every", NULL, T, MUPC_PTYPE_INT, "K", "100", "an integer >= 0",
      "test-set evaluation every K steps, 0: only at the end", NULL, MUPC_PFLAG_PER_RUN},
     TRAIN(eval_every), RANGE(0, INF)},
    {{"save", NULL, T, MUPC_PTYPE_STRING, "FILE", "", PATH_ALLOWED,
      "where checkpoints are written", NULL, MUPC_PFLAG_PER_RUN},
     TRAIN(save)},
    {{"save-every", NULL, T, MUPC_PTYPE_INT, "K", "", "an integer >= 1",
      "also write the checkpoint every K steps", NULL, MUPC_PFLAG_PER_RUN},
     TRAIN(save_every), RANGE(1, INF), .zero_is_none = 1},
};
#define NROWS (sizeof rows / sizeof rows[0])

#undef NET
#undef TRAIN
#undef RANGE
#undef NAMES
#undef INF
#undef N
#undef T

size_t mupc_params_count(void) { return NROWS; }

/* Fills the enum rows' empty allowed buffers (the *_allowed above), once,
 * before any row is handed out. */
static void write_allowed(void) {
  for (size_t i = 0; i < NROWS; i++) {
    const prow *r = &rows[i];
    if (r->info.type != MUPC_PTYPE_ENUM || r->info.allowed[0]) continue;
    char *dst = (char *)r->info.allowed; /* one of the *_allowed buffers */
    size_t used = (size_t)snprintf(dst, ALLOWED_MAX, "one of ");
    for (int v = 0; r->name_of(v) && used < ALLOWED_MAX; v++) {
      used += (size_t)snprintf(dst + used, ALLOWED_MAX - used, "%s%s", v ? ", " : "",
                               r->name_of(v));
      if (r->help_of && used < ALLOWED_MAX)
        used += (size_t)snprintf(dst + used, ALLOWED_MAX - used, " (%s)", r->help_of(v));
    }
  }
}
static void rows_ready(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, write_allowed);
}

const mupc_param_info *mupc_params_info(size_t i) {
  rows_ready();
  return i < NROWS ? &rows[i].info : NULL;
}

static const prow *row_of(const mupc_param_info *info) { return (const prow *)(const void *)info; }

/* ---- names -------------------------------------------------------------- */

/* Row names are lower case with '-': s may use any case and '_'. */
static int same_name(const char *row_name, const char *s) {
  while (*row_name && mupc__name_char(*s) == *row_name) row_name++, s++;
  return !*row_name && !*s;
}

const mupc_param_info *mupc_params_find(const char *name) {
  rows_ready();
  for (size_t i = 0; name && i < NROWS; i++)
    if (same_name(rows[i].info.name, name)) return &rows[i].info;
  return NULL;
}

/* "no parameter 'widht' (did you mean 'width'?)": the closest row of the
 * scope, if any is close enough to be a slip. */
static int no_such(const char *name, mupc_pscope scope) {
  const char *names[NROWS];
  for (size_t i = 0; i < NROWS; i++)
    names[i] = rows[i].info.scope == scope ? rows[i].info.name : NULL;
  const int best = mupc_closest_name(name, names, NROWS);
  const mupc_param_info *other = mupc_params_find(name);
  if (other)
    return mupc__fail(MUPC_EINVAL, "no parameter '%s' in %s; it is one of %s", name,
                      scope == MUPC_PSCOPE_NET ? "mupc_net_params" : "mupc_train_opts",
                      other->scope == MUPC_PSCOPE_NET ? "mupc_net_params" : "mupc_train_opts");
  if (best >= 0)
    return mupc__fail(MUPC_EINVAL, "no parameter '%s' (did you mean '%s'?)", name, names[best]);
  return mupc__fail(MUPC_EINVAL, "no parameter '%s'", name);
}

/* ---- parsing ------------------------------------------------------------ */

static int in_range(const prow *r, double v) {
  return mupc__in_range(v, r->lo, r->hi, r->lo_open, r->hi_open);
}

static int parse_bool(const char *s, int *out) {
  /* false/true pairs: the index's parity is the value. */
  static const char *const words[] = {"false", "true", "0", "1", "off", "on", "no", "yes"};
  const int i = mupc__name_index(words, 8, s);
  if (i < 0) return 0;
  *out = i % 2;
  return 1;
}

#define EXPECTED(why, nwhy, allowed, text)                                                         \
  (snprintf(why, nwhy, "expected %s, got '%s'", allowed, text), MUPC_EINVAL)

/* "M1,…,Mc,S1,…,Sc" into the channels, means and stds of *d. */
static int parse_norm(const prow *r, const char *text, mupc_data_opts *d, char *why,
                      size_t nwhy) {
  int n = 1;
  for (const char *c = text; *c; c++) n += *c == ',';
  if (n % 2 != 0 || n > 2 * MUPC_NORM_MAX) return EXPECTED(why, nwhy, r->info.allowed, text);
  float v[2 * MUPC_NORM_MAX];
  const char *s = text;
  for (int i = 0; i < n; i++) {
    const char *comma = strchr(s, ',');
    size_t len = comma ? (size_t)(comma - s) : strlen(s);
    char item[64];
    const int is_std = i >= n / 2;
    if (len >= sizeof item)
      return snprintf(why, nwhy, "%s %d: expected at most %zu characters, got %zu",
                      is_std ? "STD" : "MEAN", 1 + i % (n / 2), sizeof item - 1, len),
             MUPC_EINVAL;
    memcpy(item, s, len);
    item[len] = '\0';
    if (!mupc__parse_float(item, &v[i]) || (is_std && !(v[i] > 0)))
      return snprintf(why, nwhy, "%s %d: expected a number%s, got '%s'", is_std ? "STD" : "MEAN",
                      1 + i % (n / 2), is_std ? " > 0" : "", item),
             MUPC_EINVAL;
    s = comma ? comma + 1 : s + len;
  }
  d->channels = n / 2;
  for (int i = 0; i < n / 2; i++) {
    d->mean[i] = v[i];
    d->std[i] = v[n / 2 + i];
  }
  return MUPC_OK;
}

int mupc__param_parse(const mupc_param_info *info, void *obj, const char *text, int check_range,
                      char *why, size_t nwhy) {
  const prow *r = row_of(info);
  void *field = (char *)obj + r->offset;
  const char *allowed = r->info.allowed;
  int64_t i = 0;
  uint64_t u = 0;
  float f = 0;
  int b = 0;
  if (r->zero_is_none && !*text) text = "0", check_range = 0;
  switch (r->info.type) {
  case MUPC_PTYPE_INT:
  case MUPC_PTYPE_I64: {
    const int is_int = r->info.type == MUPC_PTYPE_INT;
    if (!mupc__parse_i64(text, &i) || (is_int && (i < INT_MIN || i > INT_MAX)) ||
        (check_range && !in_range(r, (double)i)))
      return EXPECTED(why, nwhy, allowed, text);
    if (is_int)
      *(int *)field = (int)i;
    else
      *(int64_t *)field = i;
    return MUPC_OK;
  }
  case MUPC_PTYPE_U64:
    if (!mupc__parse_u64(text, &u)) return EXPECTED(why, nwhy, allowed, text);
    *(uint64_t *)field = u;
    return MUPC_OK;
  case MUPC_PTYPE_FLOAT:
    if (!mupc__parse_float(text, &f) || (check_range && !in_range(r, (double)f)))
      return EXPECTED(why, nwhy, allowed, text);
    *(float *)field = f;
    return MUPC_OK;
  case MUPC_PTYPE_BOOL:
    if (!parse_bool(text, &b)) return EXPECTED(why, nwhy, allowed, text);
    *(int *)field = b;
    return MUPC_OK;
  case MUPC_PTYPE_ENUM:
    b = r->from_name(text);
    if (b < 0 || !r->name_of(b)) return EXPECTED(why, nwhy, allowed, text);
    *(int *)field = b;
    return MUPC_OK;
  case MUPC_PTYPE_STRING: {
    const size_t len = strlen(text);
    if (len >= MUPC_PATH_MAX)
      return snprintf(why, nwhy, "expected %s, got one of %zu bytes", allowed, len), MUPC_EINVAL;
    memcpy(field, text, len + 1);
    return MUPC_OK;
  }
  case MUPC_PTYPE_NORM:
    return parse_norm(r, text, field, why, nwhy);
  }
  return snprintf(why, nwhy, "row '%s' has an unknown type", r->info.name), MUPC_EINVAL;
}

#undef EXPECTED

/* ---- formatting ----------------------------------------------------------- */

static int format_norm(const prow *r, const mupc_data_opts *d, char *dst, size_t n) {
  if (d->channels < 1 || d->channels > MUPC_NORM_MAX)
    return mupc__fail(MUPC_EINVAL, "%s: %d channels, expected 1 to %d", r->info.name, d->channels,
                      MUPC_NORM_MAX);
  size_t used = 0;
  dst[0] = '\0';
  for (int i = 0; i < 2 * d->channels && used < n; i++) {
    char one[32];
    mupc__format_float(i < d->channels ? d->mean[i] : d->std[i - d->channels], one, sizeof one);
    used += (size_t)snprintf(dst + used, n - used, "%s%s", i ? "," : "", one);
  }
  return MUPC_OK;
}

/* The text into dst[0 … n-1] of a buffer that holds any row's text. */
static int format_value(const prow *r, const void *obj, char *dst, size_t n) {
  const void *field = (const char *)obj + r->offset;
  const char *name;
  switch (r->info.type) {
  case MUPC_PTYPE_INT:
    if (r->zero_is_none && *(const int *)field == 0)
      dst[0] = '\0';
    else
      snprintf(dst, n, "%d", *(const int *)field);
    return MUPC_OK;
  case MUPC_PTYPE_I64:
    snprintf(dst, n, "%" PRId64, *(const int64_t *)field);
    return MUPC_OK;
  case MUPC_PTYPE_U64:
    snprintf(dst, n, "%" PRIu64, *(const uint64_t *)field);
    return MUPC_OK;
  case MUPC_PTYPE_FLOAT:
    mupc__format_float(*(const float *)field, dst, n);
    return MUPC_OK;
  case MUPC_PTYPE_BOOL:
    /* "1"/"0" as checkpoints have always stored them. */
    snprintf(dst, n, "%d", *(const int *)field != 0);
    return MUPC_OK;
  case MUPC_PTYPE_ENUM:
    name = r->name_of(*(const int *)field);
    if (!name)
      return mupc__fail(MUPC_EINVAL, "%s: holds %d, no value of its kind", r->info.name,
                        *(const int *)field);
    snprintf(dst, n, "%s", name);
    return MUPC_OK;
  case MUPC_PTYPE_STRING:
    if (memchr(field, '\0', MUPC_PATH_MAX) == NULL)
      return mupc__fail(MUPC_EINVAL, "%s: not a string of under %d bytes", r->info.name,
                        MUPC_PATH_MAX);
    snprintf(dst, n, "%s", (const char *)field);
    return MUPC_OK;
  case MUPC_PTYPE_NORM:
    return format_norm(r, field, dst, n);
  }
  return mupc__fail(MUPC_EINVAL, "row '%s' has an unknown type", r->info.name);
}

int mupc__param_format(const mupc_param_info *info, const void *obj, char *dst, size_t n) {
  char text[MUPC_PATH_MAX + MUPC__PARAM_TEXT_MAX];
  int st = format_value(row_of(info), obj, text, sizeof text);
  if (st != MUPC_OK) return st;
  const size_t len = strlen(text);
  if (!dst || len >= n)
    return mupc__fail(MUPC_EINVAL, "%s: the value needs %zu bytes, the buffer has %zu",
                      info->name, len + 1, dst ? n : 0);
  memcpy(dst, text, len + 1);
  return MUPC_OK;
}

/* ---- by name ------------------------------------------------------------- */

/* The row called name in scope, or an error naming what was asked. */
static int lookup(const char *name, mupc_pscope scope, const mupc_param_info **out) {
  if (!name) return mupc__fail(MUPC_EINVAL, "no parameter name (NULL)");
  const mupc_param_info *info = mupc_params_find(name);
  if (!info || info->scope != scope) return no_such(name, scope);
  *out = info;
  return MUPC_OK;
}

/* mupc__param_parse writes only on success: a refused value leaves obj as
 * it was. */
static int set_field(void *obj, mupc_pscope scope, const char *name, const char *value) {
  const mupc_param_info *info = NULL;
  int st = lookup(name, scope, &info);
  if (st != MUPC_OK) return st;
  if (!obj || !value) return mupc__fail(MUPC_EINVAL, "%s: no value (NULL)", info->name);
  char why[256];
  if (mupc__param_parse(info, obj, value, 1, why, sizeof why) != MUPC_OK)
    return mupc__fail(MUPC_EINVAL, "%s", why);
  return MUPC_OK;
}

int mupc_params_set(mupc_net_params *p, const char *name, const char *value) {
  return set_field(p, MUPC_PSCOPE_NET, name, value);
}

int mupc_train_opts_set(mupc_train_opts *o, const char *name, const char *value) {
  return set_field(o, MUPC_PSCOPE_TRAIN, name, value);
}

static int get_field(const void *obj, mupc_pscope scope, const char *name, char *dst, size_t n) {
  const mupc_param_info *info = NULL;
  int st = lookup(name, scope, &info);
  if (st != MUPC_OK) return st;
  if (!obj) return mupc__fail(MUPC_EINVAL, "%s: nothing to read (NULL)", info->name);
  return mupc__param_format(info, obj, dst, n);
}

int mupc_params_get(const mupc_net_params *p, const char *name, char *dst, size_t n) {
  return get_field(p, MUPC_PSCOPE_NET, name, dst, n);
}

int mupc_train_opts_get(const mupc_train_opts *o, const char *name, char *dst, size_t n) {
  return get_field(o, MUPC_PSCOPE_TRAIN, name, dst, n);
}

/* ---- defaults ------------------------------------------------------------ */

/* Every row of scope set from its default text (which test_params checks
 * parses). */
static void set_defaults(void *obj, mupc_pscope scope) {
  char why[256];
  for (size_t i = 0; i < NROWS; i++)
    if (rows[i].info.scope == scope)
      (void)mupc__param_parse(&rows[i].info, obj, rows[i].info.def, 1, why, sizeof why);
}

mupc_net_params mupc_net_default_params(void) {
  mupc_net_params p;
  memset(&p, 0, sizeof p);
  set_defaults(&p, MUPC_PSCOPE_NET);
  return p;
}

mupc_train_opts mupc_train_default_opts(void) {
  mupc_train_opts o;
  memset(&o, 0, sizeof o);
  o.data = mupc_data_default_opts();
  set_defaults(&o, MUPC_PSCOPE_TRAIN);
  return o;
}
