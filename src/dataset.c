/* Data sets on the host: which format a directory holds, its files, the
 * tensor format, batches with one-hot targets. (The readers of IDX and
 * CIFAR are idx.c and cifar.c, the normalisation they all end in is
 * normalise.c; the per-epoch shuffle is in rng.c.) */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* dir + "/" + name + suffix, malloc'd; NULL when out of memory. */
static char *join_path(const char *dir, const char *name, const char *suffix) {
  size_t nd = strlen(dir);
  /* "data/" and "data" name the same directory; avoid "data//x". */
  const char *sep = nd > 0 && dir[nd - 1] == '/' ? "" : "/";
  size_t n = nd + strlen(sep) + strlen(name) + strlen(suffix) + 1;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s%s%s%s", dir, sep, name, suffix);
  return p;
}

/* Picks dir/name, else dir/name.gz: the raw file wins because it is what a
 * user who unpacked the archive most likely wants. *out is malloc'd. */
static int find_file(const char *dir, const char *name, char **out) {
  char *raw = join_path(dir, name, "");
  char *gz = join_path(dir, name, ".gz");
  int status = MUPC_OK;
  if (!raw || !gz) {
    status = mupc__fail(MUPC_ENOMEM, "%s: out of memory building file names", dir);
    goto ERROR;
  }
  if (access(raw, F_OK) == 0) {
    *out = raw;
    free(gz);
    return MUPC_OK;
  }
  if (access(gz, F_OK) == 0) {
    *out = gz;
    free(raw);
    return MUPC_OK;
  }
  status =
      mupc__fail(MUPC_EIO, "%s: found neither %s nor %s.gz (%s)", dir, name, name, strerror(errno));

ERROR:
  free(raw);
  free(gz);
  return status;
}

static int exists(const char *dir, const char *name, int *yes) {
  char *p = join_path(dir, name, "");
  if (!p) return mupc__fail(MUPC_ENOMEM, "%s: out of memory building file names", dir);
  *yes = access(p, F_OK) == 0;
  free(p);
  return MUPC_OK;
}

/* The IDX image file of a split: the idx3 name MNIST uses, else the first
 * other rank present (idx2, idx4 …). */
static int find_idx_images(const char *dir, const char *prefix, char **out) {
  static const int ranks[] = {3, 4, 5, 6, 7, 8, 2};
  char name[64];
  for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++) {
    snprintf(name, sizeof name, "%s-images-idx%d-ubyte", prefix, ranks[i]);
    int raw = 0, gz = 0;
    char gzname[72];
    snprintf(gzname, sizeof gzname, "%s.gz", name);
    int status = exists(dir, name, &raw);
    if (status == MUPC_OK) status = exists(dir, gzname, &gz);
    if (status != MUPC_OK) return status;
    if (raw || gz) return find_file(dir, name, out);
  }
  snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
  return find_file(dir, name, out);
}

static int load_idx(const char *dir, int train, const mupc_data_opts *o, mupc_dataset *out) {
  const char *prefix = train ? "train" : "t10k";
  char labels_name[64];
  snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte", prefix);
  char *images = NULL;
  char *labels = NULL;
  mupc__raw raw;
  int status = find_idx_images(dir, prefix, &images);
  if (status == MUPC_OK) status = find_file(dir, labels_name, &labels);
  if (status == MUPC_OK) status = mupc__idx_read(images, labels, &raw);
  if (status == MUPC_OK) status = mupc__data_finish(images, labels, &raw, o, out);
  free(images);
  free(labels);
  return status;
}

/* The file names of a CIFAR split: CIFAR-10's training set is its five
 * batches, all required, so a partial download is not taken for the whole. */
static int load_cifar(const char *dir, int train, const mupc_data_opts *o, mupc_dataset *out) {
  const int c100 = o->format == MUPC_DATA_CIFAR100;
  char names[5][32];
  int n = 1;
  if (c100) {
    snprintf(names[0], sizeof names[0], "%s", train ? "train.bin" : "test.bin");
  } else if (!train) {
    snprintf(names[0], sizeof names[0], "test_batch.bin");
  } else {
    n = 5;
    for (int i = 0; i < n; i++)
      snprintf(names[i], sizeof names[i], "data_batch_%d.bin", i + 1);
  }
  char *paths[5] = {NULL};
  int status = MUPC_OK;
  for (int i = 0; i < n && status == MUPC_OK; i++) {
    int yes = 0;
    paths[i] = join_path(dir, names[i], "");
    if (!paths[i])
      status = mupc__fail(MUPC_ENOMEM, "%s: out of memory building file names", dir);
    else if ((status = exists(dir, names[i], &yes)) == MUPC_OK && !yes)
      status = mupc__fail(MUPC_EIO, "%s: no %s (the %s layout needs %s)", dir, names[i],
                          c100 ? "CIFAR-100" : "CIFAR-10",
                          c100 ? "train.bin and test.bin"
                               : "data_batch_1.bin ... data_batch_5.bin and test_batch.bin");
  }
  mupc__raw raw;
  if (status == MUPC_OK)
    status = mupc__cifar_read((const char *const *)paths, n, c100, o->coarse, &raw);
  if (status == MUPC_OK) status = mupc__data_finish(paths[0], paths[0], &raw, o, out);
  for (int i = 0; i < n; i++)
    free(paths[i]);
  return status;
}

/* ---- the tensor format --------------------------------------------------- */

static int is_int_dtype(const char *d) {
  return d[0] == 'U' || d[0] == 'I';
}

/* Element i of an integer tensor's little-endian bytes, as int64 (a U64
 * beyond INT64_MAX as INT64_MAX); *ok cleared when it is no label. */
static int64_t int_at(const mupc_st_tensor *t, size_t i, int *ok) {
  const int size = atoi(t->dtype + 1) / 8;
  const unsigned char *b = t->bytes + i * (size_t)size;
  uint64_t u = 0;
  for (int k = size - 1; k >= 0; k--)
    u = u << 8 | b[k];
  const int negative = t->dtype[0] == 'I' && (u >> (8 * size - 1)) & 1;
  int64_t v;
  if (negative) /* two's complement within size bytes: v = -(~u) - 1, no overflow */
    v = -(int64_t)(~u & (UINT64_MAX >> (64 - 8 * size))) - 1;
  else
    v = u > INT64_MAX ? INT64_MAX : (int64_t)u;
  /* INT32_MAX itself would need INT32_MAX + 1 classes. */
  if (v < 0 || v >= INT32_MAX) *ok = 0;
  return v;
}

static void shape_text(const mupc_st_tensor *t, char *dst, size_t n) {
  size_t used = (size_t)snprintf(dst, n, "[");
  for (int d = 0; d < t->ndim && used < n; d++)
    used += (size_t)snprintf(dst + used, n - used, "%s%" PRId64, d ? ", " : "", t->shape[d]);
  if (used < n) snprintf(dst + used, n - used, "]");
}

/* Checks x and y of a tensor file against each other. */
static int check_xy(const char *path, const mupc_st_tensor *x, const mupc_st_tensor *y) {
  char xs[96], ys[96];
  shape_text(x, xs, sizeof xs);
  shape_text(y, ys, sizeof ys);
  if (strcmp(x->dtype, "U8") != 0 && strcmp(x->dtype, "F32") != 0)
    return mupc__fail(MUPC_EFORMAT, "%s: tensor \"x\" is %s, expected U8 or F32", path, x->dtype);
  if (!is_int_dtype(y->dtype))
    return mupc__fail(MUPC_EFORMAT, "%s: tensor \"y\" is %s, expected an integer type (U8 … I64)",
                      path, y->dtype);
  if (x->ndim < 2 || x->shape[0] < 1)
    return mupc__fail(MUPC_EFORMAT,
                      "%s: tensor \"x\" has shape %s, expected [n, d, ...] (2 or more "
                      "dimensions, n >= 1)",
                      path, xs);
  if (y->ndim != 1 || y->shape[0] != x->shape[0])
    return mupc__fail(MUPC_EFORMAT,
                      "%s: tensor \"y\" has shape %s, expected [%" PRId64 "] (one "
                      "label per row of \"x\" %s)",
                      path, ys, x->shape[0], xs);
  for (int d = 1; d < x->ndim; d++)
    if (x->shape[d] < 1)
      return mupc__fail(MUPC_EFORMAT, "%s: tensor \"x\" has shape %s, expected no 0 dimension",
                        path, xs);
  return MUPC_OK;
}

/* Moves x and y of a checked tensor file into raw. */
static int take_xy(const char *path, mupc_st_tensor *x, const mupc_st_tensor *y, mupc__raw *raw) {
  const size_t n = (size_t)y->shape[0];
  memset(raw, 0, sizeof *raw);
  raw->labels = malloc(n * sizeof *raw->labels);
  if (!raw->labels) return mupc__fail(MUPC_ENOMEM, "%s: out of memory for %zu labels", path, n);
  for (size_t i = 0; i < n; i++) {
    int ok = 1;
    int64_t v = int_at(y, i, &ok);
    if (!ok) {
      mupc__raw_free(raw);
      return mupc__fail(MUPC_EFORMAT, "%s: y[%zu] is %" PRId64 ", expected a label in 0 ... %d",
                        path, i, v, INT32_MAX - 1);
    }
    raw->labels[i] = (int32_t)v;
  }
  raw->ndim = x->ndim;
  memcpy(raw->shape, x->shape, (size_t)x->ndim * sizeof x->shape[0]);
  if (x->bytes)
    raw->u8 = x->bytes, x->bytes = NULL;
  else
    raw->f32 = x->data, x->data = NULL;
  return MUPC_OK;
}

static int load_tensors(const char *dir, int train, const mupc_data_opts *o, mupc_dataset *out) {
  char *path = join_path(dir, train ? "train" : "test", ".safetensors");
  if (!path) return mupc__fail(MUPC_ENOMEM, "%s: out of memory building file names", dir);
  mupc_st_file f = {0};
  mupc__raw raw;
  int status = mupc__st_read(path, MUPC__ST_ANY_DTYPE, &f);
  if (status == MUPC_OK) {
    mupc_st_tensor *x = (mupc_st_tensor *)mupc_st_find(&f, "x");
    const mupc_st_tensor *y = mupc_st_find(&f, "y");
    if (!x || !y)
      status =
          mupc__fail(MUPC_EFORMAT, "%s: no tensor \"%s\", expected \"x\" [n, ...] and \"y\" [n]",
                     path, x ? "y" : "x");
    if (status == MUPC_OK) status = check_xy(path, x, y);
    if (status == MUPC_OK) status = take_xy(path, x, y, &raw);
  }
  mupc_st_free(&f);
  if (status == MUPC_OK) status = mupc__data_finish(path, path, &raw, o, out);
  free(path);
  return status;
}

/* ---- formats ------------------------------------------------------------- */

static const char *const format_names[] = {"auto", "idx", "cifar10", "cifar100", "tensors"};
#define NFORMATS (int)(sizeof format_names / sizeof format_names[0])

const char *mupc_data_format_name(mupc_data_format f) {
  return (int)f >= 0 && (int)f < NFORMATS ? format_names[f] : "unknown";
}

int mupc_data_format_from_name(const char *name) {
  char low[16];
  if (!name) return -1;
  mupc__lower(low, name, sizeof low);
  for (int i = 0; i < NFORMATS; i++)
    if (strcmp(low, format_names[i]) == 0) return i;
  return -1;
}

int mupc_data_detect(const char *dir, mupc_data_format *out) {
  if (!dir || !out) return mupc__fail(MUPC_EINVAL, "mupc_data_detect: dir and out must be set");
  /* One file that only its format uses decides. */
  static const struct {
    const char *name;
    mupc_data_format f;
  } marks[] = {
      {"train.safetensors", MUPC_DATA_TENSORS}, {"data_batch_1.bin", MUPC_DATA_CIFAR10},
      {"test_batch.bin", MUPC_DATA_CIFAR10},    {"train.bin", MUPC_DATA_CIFAR100},
      {"test.bin", MUPC_DATA_CIFAR100},         {"test.safetensors", MUPC_DATA_TENSORS},
  };
  for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
    int yes = 0;
    int status = exists(dir, marks[i].name, &yes);
    if (status != MUPC_OK) return status;
    if (yes) return *out = marks[i].f, MUPC_OK;
  }
  /* Anything else is taken for IDX, whose loader names the files it wants. */
  *out = MUPC_DATA_IDX;
  return MUPC_OK;
}

static int check_opts(const mupc_data_opts *o) {
  if (o->format < MUPC_DATA_AUTO || o->format > MUPC_DATA_TENSORS)
    return mupc__fail(MUPC_EINVAL, "mupc_dataset_load: unknown format %d", (int)o->format);
  if (o->classes < 0)
    return mupc__fail(MUPC_EINVAL, "mupc_dataset_load: classes must be >= 0, got %d", o->classes);
  if (o->channels < 1 || o->channels > MUPC_NORM_MAX)
    return mupc__fail(MUPC_EINVAL, "mupc_dataset_load: channels must be in 1 ... %d, got %d",
                      MUPC_NORM_MAX, o->channels);
  for (int c = 0; c < o->channels; c++)
    if (!isfinite(o->mean[c]) || !isfinite(o->std[c]) || !(o->std[c] > 0.0f))
      return mupc__fail(MUPC_EINVAL,
                        "mupc_dataset_load: channel %d: mean %g and std %g must be finite, std > 0",
                        c, (double)o->mean[c], (double)o->std[c]);
  return MUPC_OK;
}

int mupc_dataset_load(const char *dir, int train, const mupc_data_opts *o, mupc_dataset *out) {
  if (!dir || !o || !out)
    return mupc__fail(MUPC_EINVAL, "mupc_dataset_load: dir, o and out must be set");
  int status = check_opts(o);
  if (status != MUPC_OK) return status;
  mupc_data_opts opts = *o;
  if (opts.format == MUPC_DATA_AUTO) {
    status = mupc_data_detect(dir, &opts.format);
    if (status != MUPC_OK) return status;
  }
  switch (opts.format) {
  case MUPC_DATA_CIFAR10:
  case MUPC_DATA_CIFAR100:
    return load_cifar(dir, train, &opts, out);
  case MUPC_DATA_TENSORS:
    return load_tensors(dir, train, &opts, out);
  default:
    return load_idx(dir, train, &opts, out);
  }
}

int mupc_dataset_load_train_test(const char *dir, mupc_data_opts *o, mupc_dataset *train,
                                 mupc_dataset *test) {
  if (!dir || !o || !train || !test)
    return mupc__fail(MUPC_EINVAL,
                      "mupc_dataset_load_train_test: dir, o, train and test must be set");
  mupc_data_opts d = *o;
  mupc_dataset a = {0}, b = {0};
  int status = d.format ? MUPC_OK : mupc_data_detect(dir, &d.format);
  if (status == MUPC_OK) status = mupc_dataset_load(dir, 1, &d, &a);
  mupc_data_opts t = d;
  t.classes = a.classes; /* the training set decides */
  if (status == MUPC_OK) status = mupc_dataset_load(dir, 0, &t, &b);
  if (status == MUPC_OK && b.dim != a.dim)
    status = mupc__fail(MUPC_ESHAPE,
                        "%s: test samples have %d values (%dx%d) but training samples %d (%dx%d)",
                        dir, b.dim, b.rows, b.cols, a.dim, a.rows, a.cols);
  if (status != MUPC_OK) {
    mupc_dataset_free(&a);
    mupc_dataset_free(&b);
    return status;
  }
  o->format = d.format;
  *train = a;
  *test = b;
  return MUPC_OK;
}

void mupc_dataset_free(mupc_dataset *d) {
  if (!d) return;
  free(d->x);
  free(d->labels);
  memset(d, 0, sizeof *d);
}

void mupc_dataset_gather(const mupc_dataset *d, const uint32_t *idx, int n, float *x, float *y) {
  const size_t dim = (size_t)d->dim;
  const size_t classes = (size_t)d->classes;
  for (int i = 0; i < n; i++) {
    const size_t s = idx[i];
    memcpy(x + (size_t)i * dim, d->x + s * dim, dim * sizeof *x);
    float *row = y + (size_t)i * classes;
    for (size_t c = 0; c < classes; c++)
      row[c] = 0.0f;
    row[d->labels[s]] = 1.0f;
  }
}
