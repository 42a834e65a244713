/* Saving and loading models as safetensors (see checkpoint.h for the
 * layout). The metadata is table-driven so that writing and reading can
 * never disagree about a field. */
#include "checkpoint.h"

#include "cli.h"
#include "evaluate.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  F_STR, /* data_dir: a char array */
  F_INT,
  F_I64,
  F_U64,
  F_FLOAT,
  F_ACT,
  F_PARAM,
  F_LOSS,
  F_ALGO,
  F_OPTIM,
  F_AOPTIM,
  F_RNG
} field_kind;

typedef struct field {
  const char *key;
  field_kind kind;
  size_t offset; /* in ckpt_meta */
} field;

#define P(name, kind)                                                                              \
  { #name, kind, offsetof(ckpt_meta, p.name) }
#define R(name, kind)                                                                              \
  { #name, kind, offsetof(ckpt_meta, name) }
static const field fields[] = {
    P(input_dim, F_INT),
    P(width, F_INT),
    P(output_dim, F_INT),
    P(depth, F_INT),
    P(batch, F_INT),
    P(act, F_ACT),
    P(param, F_PARAM),
    P(skips, F_INT),
    P(loss, F_LOSS),
    P(algo, F_ALGO),
    P(infer_steps, F_INT),
    P(activity_lr, F_FLOAT),
    P(activity_optim, F_AOPTIM),
    P(lr, F_FLOAT),
    P(optim, F_OPTIM),
    P(weight_decay, F_FLOAT),
    P(adam_beta1, F_FLOAT),
    P(adam_beta2, F_FLOAT),
    P(adam_eps, F_FLOAT),
    P(seed, F_U64),
    P(rng, F_RNG),
    P(wavefront, F_INT),
    R(step, F_I64),
    R(epoch, F_I64),
    R(epoch_step, F_I64),
    R(total_steps, F_I64),
    R(shuffle, F_INT),
    R(optim_t, F_I64),
    R(norm_mean, F_FLOAT),
    R(norm_std, F_FLOAT),
    R(train_count, F_I64),
    R(data_dir, F_STR),
};
#undef P
#undef R
#define NFIELDS (sizeof fields / sizeof fields[0])

/* Room for every field value but data_dir, which is used in place. */
#define VALUE_MAX 48

/* ---- formatting and parsing one field ----------------------------------- */

static const char *enum_name(field_kind kind, const void *v) {
  switch (kind) {
  case F_ACT:
    return mupc_act_name(*(const mupc_act *)v);
  case F_PARAM:
    return mupc_param_name(*(const mupc_param *)v);
  case F_LOSS:
    return mupc_loss_name(*(const mupc_loss *)v);
  case F_ALGO:
    return mupc_algo_name(*(const mupc_algo *)v);
  case F_OPTIM:
    return mupc_optim_name(*(const mupc_optim *)v);
  case F_AOPTIM:
    return mupc_aoptim_name(*(const mupc_aoptim *)v);
  case F_RNG:
    return mupc_rng_name(*(const mupc_rng *)v);
  default:
    return "";
  }
}

/* Writes an enum from its name; 0 when the name is unknown. */
static int enum_parse(field_kind kind, const char *s, void *v) {
  int x;
  switch (kind) {
  case F_ACT:
    if ((x = mupc_act_from_name(s)) < 0) return 0;
    *(mupc_act *)v = (mupc_act)x;
    return 1;
  case F_PARAM:
    if ((x = mupc_param_from_name(s)) < 0) return 0;
    *(mupc_param *)v = (mupc_param)x;
    return 1;
  case F_LOSS:
    if ((x = mupc_loss_from_name(s)) < 0) return 0;
    *(mupc_loss *)v = (mupc_loss)x;
    return 1;
  case F_ALGO:
    if ((x = mupc_algo_from_name(s)) < 0) return 0;
    *(mupc_algo *)v = (mupc_algo)x;
    return 1;
  case F_OPTIM:
    if ((x = mupc_optim_from_name(s)) < 0) return 0;
    *(mupc_optim *)v = (mupc_optim)x;
    return 1;
  case F_AOPTIM:
    if ((x = mupc_aoptim_from_name(s)) < 0) return 0;
    *(mupc_aoptim *)v = (mupc_aoptim)x;
    return 1;
  case F_RNG:
    if ((x = mupc_rng_from_name(s)) < 0) return 0;
    *(mupc_rng *)v = (mupc_rng)x;
    return 1;
  default:
    return 0;
  }
}

/* The shortest decimal that strtof reads back to the same float: "0.1",
 * not "0.100000001" (%.9g always round-trips, so the loop ends there). */
static void format_float(float v, char *dst, size_t n) {
  for (int digits = 6; digits <= 9; digits++) {
    snprintf(dst, n, "%.*g", digits, (double)v);
    if (strtof(dst, NULL) == v) return;
  }
}

static void format_field(const field *fd, const ckpt_meta *m, char *dst, size_t n) {
  const void *v = (const char *)m + fd->offset;
  switch (fd->kind) {
  case F_STR:
    snprintf(dst, n, "%s", (const char *)v);
    break;
  case F_INT:
    snprintf(dst, n, "%d", *(const int *)v);
    break;
  case F_I64:
    snprintf(dst, n, "%" PRId64, *(const int64_t *)v);
    break;
  case F_U64:
    snprintf(dst, n, "%" PRIu64, *(const uint64_t *)v);
    break;
  case F_FLOAT:
    format_float(*(const float *)v, dst, n);
    break;
  default:
    snprintf(dst, n, "%s", enum_name(fd->kind, v));
    break;
  }
}

/* 1 when s is exactly one value of the field's kind. */
static int parse_field(const field *fd, const char *s, ckpt_meta *m) {
  void *v = (char *)m + fd->offset;
  char *end = NULL;
  errno = 0;
  switch (fd->kind) {
  case F_STR: {
    size_t len = strlen(s);
    if (len >= CKPT_PATH_MAX) return 0;
    memcpy(v, s, len + 1);
    return 1;
  }
  case F_INT: {
    long x = strtol(s, &end, 10);
    if (!*s || *end || errno || x < -2147483647L - 1 || x > 2147483647L) return 0;
    *(int *)v = (int)x;
    return 1;
  }
  case F_I64: {
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno) return 0;
    *(int64_t *)v = (int64_t)x;
    return 1;
  }
  case F_U64: {
    if (*s < '0' || *s > '9') return 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno) return 0;
    *(uint64_t *)v = (uint64_t)x;
    return 1;
  }
  case F_FLOAT: {
    float x = strtof(s, &end);
    if (!*s || *end || !isfinite(x)) return 0;
    *(float *)v = x;
    return 1;
  }
  default:
    return enum_parse(fd->kind, s, v);
  }
}

/* ---- tensors ------------------------------------------------------------- */

static const char *const optim_suffix[2] = {"m", "v"};

static void weight_name(char *dst, size_t n, int layer) {
  snprintf(dst, n, "layers.%d.weight", layer);
}

static void optim_name(char *dst, size_t n, int layer, int which) {
  snprintf(dst, n, "optim.layers.%d.%s", layer, optim_suffix[which]);
}

/* Fills t with a host copy of one device tensor. */
static int fetch(mupc_net *net, mupc_tensor_kind kind, int layer, const char *name,
                 mupc_st_tensor *t) {
  int out_dim, in_dim;
  mupc_net_weight_shape(net, layer, &out_dim, &in_dim);
  snprintf(t->name, sizeof t->name, "%s", name);
  t->ndim = 2;
  t->shape[0] = out_dim;
  t->shape[1] = in_dim;
  t->data = malloc((size_t)out_dim * (size_t)in_dim * sizeof *t->data);
  if (!t->data) return MUPC_ENOMEM;
  return mupc_net_read(net, kind, layer, t->data);
}

static int fetch_all(mupc_net *net, mupc_st_file *f) {
  const mupc_net_params *p = mupc_net_get_params(net);
  const int L = p->depth;
  char name[128];
  for (int l = 0; l < L; l++) {
    weight_name(name, sizeof name, l);
    int st = fetch(net, MUPC_T_WEIGHT, l, name, &f->tensors[f->ntensors++]);
    if (st != MUPC_OK) return st;
  }
  if (p->optim != MUPC_OPTIM_ADAM) return MUPC_OK;
  for (int l = 0; l < L; l++)
    for (int which = 0; which < 2; which++) {
      optim_name(name, sizeof name, l, which);
      int st =
          fetch(net, which ? MUPC_T_ADAM_V : MUPC_T_ADAM_M, l, name, &f->tensors[f->ntensors++]);
      if (st != MUPC_OK) return st;
    }
  return MUPC_OK;
}

/* ---- saving -------------------------------------------------------------- */

/* The data keys after the table's fields; optional on reading. */
#define NDATA_KEYS 3
#define NORM_TEXT_MAX (2 * MUPC_NORM_MAX * 16)

static void fill_meta(const ckpt_meta *m, mupc_st_file *f, char (*values)[VALUE_MAX], char *norm,
                      const char **keys, const char **vals) {
  keys[0] = "format";
  vals[0] = CKPT_FORMAT;
  keys[1] = "mupc_version";
  vals[1] = MUPC_VERSION;
  size_t n = 2;
  for (size_t i = 0; i < NFIELDS; i++, n++) {
    keys[n] = fields[i].key;
    if (fields[i].kind == F_STR) {
      vals[n] = (const char *)m + fields[i].offset;
    } else {
      format_field(&fields[i], m, values[i], VALUE_MAX);
      vals[n] = values[i];
    }
  }
  keys[n] = "data_format";
  vals[n++] = mupc_data_format_name(m->data.format);
  keys[n] = "data_label";
  vals[n++] = m->data.coarse ? "coarse" : "fine";
  data_norm_text(&m->data, norm, NORM_TEXT_MAX);
  keys[n] = "norm";
  vals[n++] = norm;
  /* mupc_st_write only reads the strings; the casts drop const for the
   * struct's shared reader/writer field type. */
  f->meta_keys = (char **)keys;
  f->meta_values = (char **)vals;
  f->nmeta = n;
}

int ckpt_take(const char *cmd, const char *flag, mupc_net *net, const ckpt_meta *m,
              ckpt_snapshot *snap) {
  const int L = mupc_net_get_params(net)->depth;
  memset(snap, 0, sizeof *snap);
  snap->meta = *m;
  snap->tensors = calloc(3 * (size_t)L, sizeof *snap->tensors);
  snap->cap = snap->tensors ? 3 * (size_t)L : 0;
  mupc_st_file f = {.tensors = snap->tensors};
  int st = snap->tensors ? fetch_all(net, &f) : MUPC_ENOMEM;
  snap->ntensors = f.ntensors;
  if (st == MUPC_OK) return CLI_EXIT_OK;
  ckpt_release(snap);
  return cli_error(CLI_EXIT_FAIL, cmd, "%s: reading the model from the device: %s", flag,
                   st == MUPC_ENOMEM ? "out of host memory" : mupc_errmsg());
}

int ckpt_write(const char *cmd, const char *flag, const char *path, const ckpt_snapshot *snap) {
  char values[NFIELDS][VALUE_MAX], norm[NORM_TEXT_MAX];
  const char *keys[NFIELDS + 2 + NDATA_KEYS], *vals[NFIELDS + 2 + NDATA_KEYS];
  mupc_st_file f = {.tensors = snap->tensors, .ntensors = snap->ntensors};
  fill_meta(&snap->meta, &f, values, norm, keys, vals);
  if (mupc_st_write(path, &f) == MUPC_OK) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_FAIL, cmd, "%s: %s", flag, mupc_errmsg());
}

void ckpt_release(ckpt_snapshot *snap) {
  for (size_t i = 0; i < snap->cap; i++)
    free(snap->tensors[i].data);
  free(snap->tensors);
  memset(snap, 0, sizeof *snap);
}

int ckpt_save(const char *cmd, const char *flag, const char *path, mupc_net *net,
              const ckpt_meta *m) {
  ckpt_snapshot *snap = malloc(sizeof *snap);
  if (!snap) return cli_error(CLI_EXIT_FAIL, cmd, "%s: out of host memory", flag);
  int code = ckpt_take(cmd, flag, net, m, snap);
  if (!code) code = ckpt_write(cmd, flag, path, snap);
  ckpt_release(snap);
  free(snap);
  return code;
}

/* ---- loading ------------------------------------------------------------- */

int ckpt_open(const char *cmd, const char *flag, const char *path, mupc_st_file *f) {
  int st = mupc_st_read(path, f);
  if (st == MUPC_OK) return CLI_EXIT_OK;
  /* Any unreadable or malformed model file is the user's input. */
  return cli_error(CLI_EXIT_USAGE, cmd, "%s: %s", flag, mupc_errmsg());
}

/* "M1,…,Mc,S1,…,Sc" into d; 0 when malformed. */
static int parse_norm_meta(const char *s, mupc_data_opts *d) {
  float v[2 * MUPC_NORM_MAX];
  int n = 0;
  for (;;) {
    char *end = NULL;
    if (n == 2 * MUPC_NORM_MAX) return 0;
    v[n++] = strtof(s, &end);
    if (end == s || !isfinite(v[n - 1])) return 0;
    if (*end == '\0') break;
    if (*end != ',') return 0;
    s = end + 1;
  }
  if (n % 2 != 0) return 0;
  d->channels = n / 2;
  for (int i = 0; i < n / 2; i++) {
    d->mean[i] = v[i];
    d->std[i] = v[n / 2 + i];
    if (!(d->std[i] > 0)) return 0;
  }
  return 1;
}

/* The data keys; absent in files older than them, which were IDX with one
 * mean and std (norm_mean, norm_std). 0 when one is malformed. */
static int read_data_meta(const mupc_st_file *f, ckpt_meta *m) {
  mupc_data_opts *d = &m->data;
  *d = mupc_data_default_opts();
  d->format = MUPC_DATA_IDX;
  d->mean[0] = m->norm_mean;
  d->std[0] = m->norm_std;
  const char *format = mupc_st_meta(f, "data_format");
  const char *label = mupc_st_meta(f, "data_label");
  const char *norm = mupc_st_meta(f, "norm");
  if (format) {
    int x = mupc_data_format_from_name(format);
    if (x <= MUPC_DATA_AUTO) return 0;
    d->format = (mupc_data_format)x;
  }
  if (label && strcmp(label, "fine") != 0 && strcmp(label, "coarse") != 0) return 0;
  d->coarse = label && label[0] == 'c';
  return !norm || parse_norm_meta(norm, d);
}

int ckpt_read_meta(const char *cmd, const char *flag, const char *path, const mupc_st_file *f,
                   ckpt_meta *m) {
  const char *format = mupc_st_meta(f, "format");
  if (!format)
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "%s: %s has no mupc metadata (format \"%s\"); a file with only "
                     "layers.{i}.weight tensors can be loaded with 'mupc train --init'",
                     flag, path, CKPT_FORMAT);
  if (strcmp(format, CKPT_FORMAT) != 0)
    return cli_error(CLI_EXIT_USAGE, cmd, "%s: %s: metadata format is \"%s\", expected \"%s\"",
                     flag, path, format, CKPT_FORMAT);
  memset(m, 0, sizeof *m);
  m->p = mupc_net_default_params();
  for (size_t i = 0; i < NFIELDS; i++) {
    const char *s = mupc_st_meta(f, fields[i].key);
    /* Files from mupc 0.1 predate "rng": their weights and batch order came
     * from its splitmix64 streams, and a resumed run must keep that order. */
    if (!s && fields[i].kind == F_RNG) s = mupc_rng_name(MUPC_RNG_SPLITMIX);
    if (!s)
      return cli_error(CLI_EXIT_USAGE, cmd, "%s: %s: metadata has no \"%s\"", flag, path,
                       fields[i].key);
    if (!parse_field(&fields[i], s, m))
      return cli_error(CLI_EXIT_USAGE, cmd, "%s: %s: metadata \"%s\" has a bad value \"%s\"", flag,
                       path, fields[i].key, s);
  }
  if (!read_data_meta(f, m))
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "%s: %s: metadata data_format, data_label or norm has a bad value", flag,
                     path);
  if (mupc_net_params_check(&m->p) != MUPC_OK)
    return cli_error(CLI_EXIT_USAGE, cmd, "%s: %s: metadata: %s", flag, path, mupc_errmsg());
  if (m->step < 0 || m->epoch < 0 || m->epoch_step < 0 || m->total_steps < 0 || m->optim_t < 0 ||
      m->train_count < m->p.batch || !(m->norm_std > 0))
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "%s: %s: metadata: step, epoch, epoch_step, total_steps and optim_t must be "
                     ">= 0, train_count >= batch and norm_std > 0",
                     flag, path);
  return CLI_EXIT_OK;
}

/* The tensor called name with shape [rows, cols], or NULL after an error
 * line that names the file, the tensor and both shapes. */
static const mupc_st_tensor *expect(const char *cmd, const char *flag, const char *path,
                                    const mupc_st_file *f, const char *name, int rows, int cols) {
  const mupc_st_tensor *t = mupc_st_find(f, name);
  if (!t) {
    cli_error(CLI_EXIT_USAGE, cmd, "%s: %s has no tensor \"%s\" (expected shape [%d, %d])", flag,
              path, name, rows, cols);
    return NULL;
  }
  if (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols) return t;
  char found[96] = "[";
  for (int d = 0; d < t->ndim; d++) {
    size_t used = strlen(found);
    snprintf(found + used, sizeof found - used, "%s%" PRId64, d ? ", " : "", t->shape[d]);
  }
  size_t used = strlen(found);
  snprintf(found + used, sizeof found - used, "]");
  cli_error(CLI_EXIT_USAGE, cmd, "%s: %s: tensor \"%s\" has shape %s, expected [%d, %d]", flag,
            path, name, found, rows, cols);
  return NULL;
}

static int upload(const char *cmd, const char *flag, const char *path, mupc_net *net,
                  mupc_tensor_kind kind, int layer, const mupc_st_tensor *t) {
  int st = mupc_net_write(net, kind, layer, t->data);
  if (st == MUPC_OK) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_FAIL, cmd, "%s: %s: copying \"%s\" to the device: %s", flag, path,
                   t->name, mupc_errmsg());
}

int ckpt_load_weights(const char *cmd, const char *flag, const char *path, const mupc_st_file *f,
                      mupc_net *net) {
  const int L = mupc_net_get_params(net)->depth;
  char name[128];
  /* A deeper model would otherwise load silently with its top cut off. */
  weight_name(name, sizeof name, L);
  if (mupc_st_find(f, name))
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "%s: %s holds \"%s\": more weight matrices than the depth %d asked for", flag,
                     path, name, L);
  for (int l = 0; l < L; l++) {
    int rows, cols;
    mupc_net_weight_shape(net, l, &rows, &cols);
    weight_name(name, sizeof name, l);
    const mupc_st_tensor *t = expect(cmd, flag, path, f, name, rows, cols);
    if (!t) return CLI_EXIT_USAGE;
    int code = upload(cmd, flag, path, net, MUPC_T_WEIGHT, l, t);
    if (code) return code;
  }
  return CLI_EXIT_OK;
}

int ckpt_load_optim(const char *cmd, const char *flag, const char *path, const mupc_st_file *f,
                    mupc_net *net, int64_t t) {
  const mupc_net_params *p = mupc_net_get_params(net);
  if (p->optim == MUPC_OPTIM_ADAM) {
    char name[128];
    for (int l = 0; l < p->depth; l++)
      for (int which = 0; which < 2; which++) {
        int rows, cols;
        mupc_net_weight_shape(net, l, &rows, &cols);
        optim_name(name, sizeof name, l, which);
        const mupc_st_tensor *ten = expect(cmd, flag, path, f, name, rows, cols);
        if (!ten) return CLI_EXIT_USAGE;
        int code = upload(cmd, flag, path, net, which ? MUPC_T_ADAM_V : MUPC_T_ADAM_M, l, ten);
        if (code) return code;
      }
  }
  mupc_net_set_optim_step(net, t);
  return CLI_EXIT_OK;
}
