/* Checkpoints as safetensors files (layout: mupc.h, "checkpoints"). The
 * metadata is the parameter table's keys (params.c) plus the run's
 * position, so that writing and reading can never disagree about a field;
 * files from older versions read with the rows' `absent` values. */
#include "checkpoint.h"

#include "internal.h"
#include "params.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "mupc-1"

/* The run's position: keys of files a trainer wrote, beside the table's
 * training rows. */
static const struct {
  const char *key;
  size_t offset;
} position_keys[] = {
    {"step", offsetof(mupc_checkpoint, step)},
    {"epoch", offsetof(mupc_checkpoint, epoch)},
    {"epoch_step", offsetof(mupc_checkpoint, epoch_step)},
    {"train_count", offsetof(mupc_checkpoint, train_count)},
};
#define NPOSITION (sizeof position_keys / sizeof position_keys[0])

/* Channel 0's mean and std under the keys mupc 0.1 read; files without
 * "norm" have only these. */
#define LEGACY_MEAN "norm_mean"
#define LEGACY_STD "norm_std"

struct mupc__snapshot {
  mupc_checkpoint meta;
  mupc_st_tensor *tensors;
  size_t ntensors;
};

/* ---- tensor names ---------------------------------------------------------- */

static void weight_name(char *dst, size_t n, int layer) {
  snprintf(dst, n, "layers.%d.weight", layer);
}

/* which: 0 Adam's m, 1 its v. */
static void optim_name(char *dst, size_t n, int layer, int which) {
  snprintf(dst, n, "optim.layers.%d.%s", layer, which ? "v" : "m");
}

/* ---- metadata -------------------------------------------------------------- */

/* Keys and values for mupc_st_write; the keys are static strings, the
 * values malloc'd. */
typedef struct meta_list {
  char **keys, **values;
  size_t n, cap;
} meta_list;

static void meta_free(meta_list *m) {
  for (size_t i = 0; i < m->n; i++) free(m->values[i]);
  free(m->keys);
  free(m->values);
  memset(m, 0, sizeof *m);
}

static int meta_add(meta_list *m, const char *key, const char *value) {
  if (m->n == m->cap) return mupc__fail(MUPC_EINVAL, "checkpoint: more metadata than room");
  char *copy = malloc(strlen(value) + 1);
  if (!copy) return mupc__fail(MUPC_ENOMEM, "checkpoint: out of host memory for the metadata");
  strcpy(copy, value);
  /* mupc_st_write only reads the keys; the struct's field is shared with
   * the reader, which owns its strings. */
  m->keys[m->n] = (char *)(uintptr_t)key;
  m->values[m->n++] = copy;
  return MUPC_OK;
}

static int meta_add_i64(meta_list *m, const char *key, int64_t v) {
  char text[24];
  snprintf(text, sizeof text, "%" PRId64, v);
  return meta_add(m, key, text);
}

static int meta_add_float(meta_list *m, const char *key, float v) {
  char text[32];
  mupc__format_float(v, text, sizeof text);
  return meta_add(m, key, text);
}

/* Every table row with a key (training rows only for a trainer's file),
 * Adam's step, and a trainer's position. */
static int meta_build(const mupc_checkpoint *c, meta_list *m) {
  const size_t rows = mupc_params_count();
  m->cap = rows + NPOSITION + 8;
  m->keys = calloc(m->cap, sizeof *m->keys);
  m->values = calloc(m->cap, sizeof *m->values);
  if (!m->keys || !m->values)
    return mupc__fail(MUPC_ENOMEM, "checkpoint: out of host memory for the metadata");
  int st = meta_add(m, "format", FORMAT);
  if (st == MUPC_OK) st = meta_add(m, "mupc_version", MUPC_VERSION);
  char *text = malloc(MUPC_PATH_MAX + MUPC__PARAM_TEXT_MAX);
  if (!text) st = mupc__fail(MUPC_ENOMEM, "checkpoint: out of host memory for the metadata");
  for (size_t i = 0; st == MUPC_OK && i < rows; i++) {
    const mupc_param_info *row = mupc_params_info(i);
    if (!row->key || (row->scope == MUPC_PSCOPE_TRAIN && !c->has_run)) continue;
    const void *obj = row->scope == MUPC_PSCOPE_NET ? (const void *)&c->p : (const void *)&c->o;
    st = mupc__param_format(row, obj, text, MUPC_PATH_MAX + MUPC__PARAM_TEXT_MAX);
    if (st == MUPC_OK) st = meta_add(m, row->key, text);
  }
  free(text);
  if (st == MUPC_OK) st = meta_add_i64(m, "optim_t", c->optim_t);
  if (!c->has_run) return st;
  for (size_t i = 0; st == MUPC_OK && i < NPOSITION; i++)
    st = meta_add_i64(m, position_keys[i].key,
                      *(const int64_t *)((const char *)c + position_keys[i].offset));
  if (st == MUPC_OK) st = meta_add_float(m, LEGACY_MEAN, c->o.data.mean[0]);
  if (st == MUPC_OK) st = meta_add_float(m, LEGACY_STD, c->o.data.std[0]);
  return st;
}

/* A required key's value, or an error naming it. */
static int meta_need(const mupc_st_file *f, const char *path, const char *key, const char **out) {
  *out = mupc_st_meta(f, key);
  if (*out) return MUPC_OK;
  return mupc__fail(MUPC_EFORMAT, "%s: metadata has no \"%s\"", path, key);
}

static int bad_value(const char *path, const char *key, const char *value) {
  return mupc__fail(MUPC_EFORMAT, "%s: metadata \"%s\" has a bad value \"%s\"", path, key, value);
}

/* The table's rows of one scope from f into obj; a missing key takes the
 * row's `absent` value. The ranges are not checked here: the net's limits
 * are mupc_net_params_check's. */
static int read_rows(const mupc_st_file *f, const char *path, mupc_pscope scope, void *obj) {
  char why[256];
  for (size_t i = 0; i < mupc_params_count(); i++) {
    const mupc_param_info *row = mupc_params_info(i);
    if (row->scope != scope || !row->key) continue;
    const char *text = mupc_st_meta(f, row->key);
    /* Files without "norm" hold one mean and std in the legacy keys, read
     * after this. */
    if (!text && row->type == MUPC_PTYPE_NORM) continue;
    if (!text) text = row->absent;
    if (!text) return mupc__fail(MUPC_EFORMAT, "%s: metadata has no \"%s\"", path, row->key);
    if (mupc__param_parse(row, obj, text, 0, why, sizeof why) != MUPC_OK)
      return bad_value(path, row->key, text);
  }
  return MUPC_OK;
}

static int read_i64(const mupc_st_file *f, const char *path, const char *key, int64_t *out) {
  const char *text;
  int st = meta_need(f, path, key, &text);
  if (st == MUPC_OK && !mupc__parse_i64(text, out)) st = bad_value(path, key, text);
  return st;
}

static int read_float(const mupc_st_file *f, const char *path, const char *key, float *out) {
  const char *text;
  int st = meta_need(f, path, key, &text);
  if (st == MUPC_OK && !mupc__parse_float(text, out)) st = bad_value(path, key, text);
  return st;
}

/* A trainer's keys: its options, position and (legacy) normalisation. */
static int read_run(const mupc_st_file *f, const char *path, mupc_checkpoint *c) {
  int st = read_rows(f, path, MUPC_PSCOPE_TRAIN, &c->o);
  for (size_t i = 0; st == MUPC_OK && i < NPOSITION; i++)
    st = read_i64(f, path, position_keys[i].key,
                  (int64_t *)((char *)c + position_keys[i].offset));
  float mean = 0, std = 0;
  if (st == MUPC_OK) st = read_float(f, path, LEGACY_MEAN, &mean);
  if (st == MUPC_OK) st = read_float(f, path, LEGACY_STD, &std);
  if (st != MUPC_OK) return st;
  if (!mupc_st_meta(f, "norm")) {
    c->o.data.channels = 1;
    c->o.data.mean[0] = mean;
    c->o.data.std[0] = std;
  }
  /* The data were loaded with as many classes as the net has outputs. */
  c->o.data.classes = c->p.output_dim;
  if (c->step < 0 || c->epoch < 0 || c->epoch_step < 0 || c->o.steps < 0 || c->optim_t < 0 ||
      c->train_count < c->p.batch || !(std > 0))
    return mupc__fail(MUPC_EFORMAT,
                      "%s: metadata: step, epoch, epoch_step, total_steps and optim_t must be "
                      ">= 0, train_count >= batch and norm_std > 0",
                      path);
  return MUPC_OK;
}

int mupc__checkpoint_read_meta(const mupc_st_file *f, const char *path, mupc_checkpoint *out) {
  const char *format = mupc_st_meta(f, "format");
  if (!format)
    return mupc__fail(MUPC_EFORMAT,
                      "%s has no mupc metadata (format \"%s\"); a file with only "
                      "layers.{i}.weight tensors can be loaded with 'mupc train --init'",
                      path, FORMAT);
  if (strcmp(format, FORMAT) != 0)
    return mupc__fail(MUPC_EFORMAT, "%s: metadata format is \"%s\", expected \"%s\"", path, format,
                      FORMAT);
  mupc_checkpoint *c = calloc(1, sizeof *c);
  if (!c) return mupc__fail(MUPC_ENOMEM, "%s: out of host memory", path);
  c->p = mupc_net_default_params();
  c->o = mupc_train_default_opts();
  const char *version = mupc_st_meta(f, "mupc_version");
  snprintf(c->version, sizeof c->version, "%s", version ? version : "");
  /* mupc_net_save writes no position: such a file is a net alone. */
  c->has_run = mupc_st_meta(f, "step") != NULL;
  int st = read_rows(f, path, MUPC_PSCOPE_NET, &c->p);
  if (st == MUPC_OK) st = read_i64(f, path, "optim_t", &c->optim_t);
  if (st == MUPC_OK && c->has_run) st = read_run(f, path, c);
  if (st == MUPC_OK && mupc_net_params_check(&c->p) != MUPC_OK) {
    char why[512]; /* mupc__fail writes over mupc_errmsg()'s buffer */
    snprintf(why, sizeof why, "%s", mupc_errmsg());
    st = mupc__fail(MUPC_EFORMAT, "%s: metadata: %s", path, why);
  }
  if (st == MUPC_OK && c->optim_t < 0)
    st = mupc__fail(MUPC_EFORMAT, "%s: metadata: optim_t must be >= 0", path);
  if (st == MUPC_OK) *out = *c;
  free(c);
  return st;
}

int mupc_checkpoint_read(const char *path, mupc_checkpoint *out) {
  if (!path || !out) return mupc__fail(MUPC_EINVAL, "mupc_checkpoint_read: path and out must be set");
  mupc_st_file f;
  memset(&f, 0, sizeof f);
  /* The metadata alone: the tensors are the loaders' to read. */
  int st = mupc__st_read(path, MUPC__ST_HEADER_ONLY, &f);
  if (st == MUPC_OK) st = mupc__checkpoint_read_meta(&f, path, out);
  mupc_st_free(&f);
  return st;
}

/* ---- resuming ---------------------------------------------------------------- */

static int same_value(const mupc_param_info *r, const char *a, const char *b) {
  /* -0 and 0 are the same rate. */
  if (r->type == MUPC_PTYPE_FLOAT) return strtof(a, NULL) == strtof(b, NULL);
  return strcmp(a, b) == 0;
}

int mupc_checkpoint_conflict(const mupc_checkpoint *ck, const mupc_net_params *p,
                             const mupc_train_opts *o, const char *name, char *have, size_t n) {
  const mupc_param_info *r = name ? mupc_params_find(name) : NULL;
  if (!ck || !p || !r || !have || !n)
    return mupc__fail(MUPC_EINVAL, "mupc_checkpoint_conflict: %s",
                      r ? "ck, p and have must be set" : "no such parameter");
  have[0] = '\0';
  const int net = r->scope == MUPC_PSCOPE_NET;
  if ((r->flags & MUPC_PFLAG_PER_RUN) || (!net && (!o || !ck->has_run))) return MUPC_OK;
  char mine[MUPC__PARAM_TEXT_MAX], theirs[MUPC__PARAM_TEXT_MAX];
  const int classes = !strcmp(r->name, "classes");
  int st = net ? mupc_params_get(p, r->name, mine, sizeof mine)
               : mupc_train_opts_get(o, r->name, mine, sizeof mine);
  if (st == MUPC_OK && classes) /* the data had as many as the net has outputs */
    snprintf(theirs, sizeof theirs, "%d", ck->p.output_dim);
  else if (st == MUPC_OK)
    st = net ? mupc_params_get(&ck->p, r->name, theirs, sizeof theirs)
             : mupc_train_opts_get(&ck->o, r->name, theirs, sizeof theirs);
  if (st != MUPC_OK) return st;
  if ((!strcmp(r->name, "format") && !strcmp(mine, "auto")) || same_value(r, mine, theirs))
    return MUPC_OK;
  int len;
  if (r->type == MUPC_PTYPE_BOOL)
    len = snprintf(have, n, "%s %s", r->name, strcmp(theirs, "0") ? "on" : "off");
  else if (classes)
    len = snprintf(have, n, "%s classes", theirs);
  else
    len = snprintf(have, n, "%s %s", r->name, theirs);
  if (len >= 0 && (size_t)len < n) return MUPC_OK;
  have[0] = '\0';
  return mupc__fail(MUPC_EINVAL,
                    "mupc_checkpoint_conflict: %s: the phrase needs %d bytes, the buffer has %zu",
                    r->name, len + 1, n);
}

int mupc_checkpoint_test_set(const mupc_checkpoint *ck, const char *path, const char *dir,
                             mupc_dataset *out) {
  if (!ck || !out)
    return mupc__fail(MUPC_EINVAL, "mupc_checkpoint_test_set: ck and out must be set");
  if (!dir) dir = ck->o.data_dir;
  mupc_data_opts d = ck->o.data;
  d.classes = ck->p.output_dim; /* a file without a run records no data options */
  mupc_dataset test = {0};
  int st = mupc_dataset_load(dir, 0, &d, &test);
  if (st == MUPC_OK && test.dim != ck->p.input_dim) {
    st = mupc__fail(MUPC_ESHAPE, "%s has samples of %d values, %s expects %d", dir, test.dim,
                    path ? path : "the checkpoint", ck->p.input_dim);
    mupc_dataset_free(&test);
  }
  if (st == MUPC_OK) *out = test;
  return st;
}

/* ---- snapshots --------------------------------------------------------------- */

/* Fills t with a host copy of one device tensor of layer's weight shape. */
static int fetch(mupc_net *net, mupc_tensor_kind kind, int layer, const char *name,
                 mupc_st_tensor *t) {
  int out_dim, in_dim;
  mupc_net_weight_shape(net, layer, &out_dim, &in_dim);
  snprintf(t->name, sizeof t->name, "%s", name);
  snprintf(t->dtype, sizeof t->dtype, "F32");
  t->ndim = 2;
  t->shape[0] = out_dim;
  t->shape[1] = in_dim;
  t->data = malloc((size_t)out_dim * (size_t)in_dim * sizeof *t->data);
  if (!t->data) return mupc__fail(MUPC_ENOMEM, "checkpoint: out of host memory for \"%s\"", name);
  return mupc_net_read(net, kind, layer, t->data);
}

/* The weights, then with Adam its m and v per layer. */
static int fetch_all(mupc_net *net, mupc__snapshot *s) {
  const mupc_net_params *p = mupc_net_get_params(net);
  char name[128];
  for (int l = 0; l < p->depth; l++) {
    weight_name(name, sizeof name, l);
    int st = fetch(net, MUPC_T_WEIGHT, l, name, &s->tensors[s->ntensors++]);
    if (st != MUPC_OK) return st;
  }
  if (p->optim != MUPC_OPTIM_ADAM) return MUPC_OK;
  for (int l = 0; l < p->depth; l++)
    for (int which = 0; which < 2; which++) {
      optim_name(name, sizeof name, l, which);
      int st = fetch(net, which ? MUPC_T_ADAM_V : MUPC_T_ADAM_M, l, name,
                     &s->tensors[s->ntensors++]);
      if (st != MUPC_OK) return st;
    }
  return MUPC_OK;
}

int mupc__snapshot_take(mupc_net *net, const mupc_checkpoint *meta, mupc__snapshot **out) {
  if (!net || !meta || !out)
    return mupc__fail(MUPC_EINVAL, "mupc__snapshot_take: net, meta and out must be set");
  const int L = mupc_net_get_params(net)->depth;
  mupc__snapshot *s = calloc(1, sizeof *s);
  if (s) s->tensors = calloc(3 * (size_t)L, sizeof *s->tensors);
  if (!s || !s->tensors) {
    free(s);
    return mupc__fail(MUPC_ENOMEM, "checkpoint: out of host memory for the snapshot");
  }
  s->meta = *meta;
  int st = fetch_all(net, s);
  if (st != MUPC_OK) {
    mupc__snapshot_free(s);
    return st;
  }
  *out = s;
  return MUPC_OK;
}

int mupc__snapshot_write(const mupc__snapshot *s, const char *path) {
  if (!s || !path) return mupc__fail(MUPC_EINVAL, "mupc__snapshot_write: s and path must be set");
  meta_list m;
  memset(&m, 0, sizeof m);
  int st = meta_build(&s->meta, &m);
  if (st == MUPC_OK) {
    const mupc_st_file f = {.tensors = s->tensors,
                            .ntensors = s->ntensors,
                            .meta_keys = m.keys,
                            .meta_values = m.values,
                            .nmeta = m.n};
    st = mupc_st_write(path, &f);
  }
  meta_free(&m);
  return st;
}

int64_t mupc__snapshot_step(const mupc__snapshot *s) { return s ? s->meta.step : -1; }

void mupc__snapshot_free(mupc__snapshot *s) {
  if (!s) return;
  for (size_t i = 0; i < s->ntensors; i++) free(s->tensors[i].data);
  free(s->tensors);
  free(s);
}

int mupc_net_save(mupc_net *net, const char *path) {
  if (!net || !path) return mupc__fail(MUPC_EINVAL, "mupc_net_save: net and path must be set");
  mupc_checkpoint *c = calloc(1, sizeof *c);
  if (!c) return mupc__fail(MUPC_ENOMEM, "%s: out of host memory", path);
  c->p = *mupc_net_get_params(net);
  c->o = mupc_train_default_opts();
  c->optim_t = mupc_net_optim_step(net);
  mupc__snapshot *s = NULL;
  int st = mupc__snapshot_take(net, c, &s);
  if (st == MUPC_OK) st = mupc__snapshot_write(s, path);
  mupc__snapshot_free(s);
  free(c);
  return st;
}

/* ---- loading ----------------------------------------------------------------- */

/* Copies the tensor called name, of shape [rows, cols], into the net;
 * a missing tensor or another shape is an error naming both shapes. */
static int load_one(mupc_net *net, const mupc_st_file *f, const char *path, const char *name,
                    mupc_tensor_kind kind, int layer) {
  int rows, cols;
  mupc_net_weight_shape(net, layer, &rows, &cols);
  const mupc_st_tensor *t = mupc_st_find(f, name);
  if (!t)
    return mupc__fail(MUPC_EFORMAT, "%s has no tensor \"%s\" (expected shape [%d, %d])", path,
                      name, rows, cols);
  if (t->ndim != 2)
    return mupc__fail(MUPC_ESHAPE, "%s: tensor \"%s\" has %d dimensions, expected [%d, %d]", path,
                      name, t->ndim, rows, cols);
  if (t->shape[0] != rows || t->shape[1] != cols)
    return mupc__fail(MUPC_ESHAPE,
                      "%s: tensor \"%s\" has shape [%" PRId64 ", %" PRId64 "], expected [%d, %d]",
                      path, name, t->shape[0], t->shape[1], rows, cols);
  int st = mupc_net_write(net, kind, layer, t->data);
  if (st == MUPC_OK) return MUPC_OK;
  char why[512]; /* mupc__fail writes over mupc_errmsg()'s buffer */
  snprintf(why, sizeof why, "%s", mupc_errmsg());
  return mupc__fail(st, "%s: copying \"%s\" to the device: %s", path, name, why);
}

int mupc__checkpoint_load_tensors(mupc_net *net, const mupc_st_file *f, const char *path,
                                  int optim, int64_t optim_t) {
  const mupc_net_params *p = mupc_net_get_params(net);
  const int L = p->depth;
  char name[128];
  /* A deeper model would otherwise load silently with its top cut off. */
  weight_name(name, sizeof name, L);
  if (mupc_st_find(f, name))
    return mupc__fail(MUPC_ESHAPE,
                      "%s holds \"%s\": more weight matrices than the depth %d asked for", path,
                      name, L);
  for (int l = 0; l < L; l++) {
    weight_name(name, sizeof name, l);
    int st = load_one(net, f, path, name, MUPC_T_WEIGHT, l);
    if (st != MUPC_OK) return st;
  }
  if (!optim) return MUPC_OK;
  if (p->optim == MUPC_OPTIM_ADAM)
    for (int l = 0; l < L; l++)
      for (int which = 0; which < 2; which++) {
        optim_name(name, sizeof name, l, which);
        int st = load_one(net, f, path, name, which ? MUPC_T_ADAM_V : MUPC_T_ADAM_M, l);
        if (st != MUPC_OK) return st;
      }
  mupc_net_set_optim_step(net, optim_t);
  return MUPC_OK;
}

/* The file read whole, its metadata validated when meta is set (then the
 * Adam state and step load too), and its tensors copied into net. */
static int with_file(mupc_net *net, const char *path, const char *fn, int meta) {
  if (!net || !path) return mupc__fail(MUPC_EINVAL, "%s: net and path must be set", fn);
  mupc_st_file f;
  memset(&f, 0, sizeof f);
  mupc_checkpoint *c = meta ? calloc(1, sizeof *c) : NULL;
  int st = meta && !c ? mupc__fail(MUPC_ENOMEM, "%s: out of host memory", path) : MUPC_OK;
  if (st == MUPC_OK) st = mupc_st_read(path, &f);
  if (st == MUPC_OK && meta) st = mupc__checkpoint_read_meta(&f, path, c);
  if (st == MUPC_OK) st = mupc__checkpoint_load_tensors(net, &f, path, meta, meta ? c->optim_t : 0);
  mupc_st_free(&f);
  free(c);
  return st;
}

int mupc_net_load(mupc_net *net, const char *path) { return with_file(net, path, "mupc_net_load", 1); }

int mupc_net_load_weights(mupc_net *net, const char *path) {
  return with_file(net, path, "mupc_net_load_weights", 0);
}
