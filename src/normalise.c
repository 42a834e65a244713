/* The end every data-set reader shares: the default options, the label
 * check and the normalisation into a mupc_dataset. Below the readers
 * (idx.c, cifar.c, dataset.c's tensor format), which call it. */
#include "internal.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

mupc_data_opts mupc_data_default_opts(void) {
  mupc_data_opts o;
  memset(&o, 0, sizeof o);
  o.format = MUPC_DATA_AUTO;
  o.channels = 1;
  o.mean[0] = 0.0f;
  o.std[0] = 1.0f;
  return o;
}

void mupc__raw_free(mupc__raw *r) {
  free(r->u8);
  free(r->f32);
  free(r->labels);
  memset(r, 0, sizeof *r);
}

/* The stride of the channel axis for o->channels channels: the axis after
 * the count if its size matches (CIFAR's channel-major [n, 3, 32, 32]),
 * else the last ([n, 32, 32, 3] as torchvision and TFDS give them). */
static int channel_stride(const char *path, const mupc__raw *r, int channels, size_t *stride) {
  *stride = 1;
  if (channels == 1) return MUPC_OK;
  if (r->ndim >= 3 && r->shape[1] == channels) {
    for (int d = 2; d < r->ndim; d++)
      *stride *= (size_t)r->shape[d];
    return MUPC_OK;
  }
  if (r->ndim >= 3 && r->shape[r->ndim - 1] == channels) return MUPC_OK;
  return mupc__fail(MUPC_ESHAPE,
                    "%s: %d normalisation channels, but the data has shape [%" PRId64 ", ...] "
                    "of %d dimensions, and neither the second nor the last has size %d",
                    path, channels, r->shape[0], r->ndim, channels);
}

/* The class count: asked for, the format's own, or max label + 1; every
 * label must be below it. */
static int check_labels(const char *y_path, const mupc__raw *r, const mupc_data_opts *o,
                        int *classes) {
  const size_t n = (size_t)r->shape[0];
  int32_t top = 0; /* < INT32_MAX: the readers refuse larger labels */
  for (size_t i = 0; i < n; i++)
    if (r->labels[i] > top) top = r->labels[i];
  *classes = o->classes ? o->classes : r->classes ? r->classes : top + 1;
  for (size_t i = 0; i < n; i++)
    if (r->labels[i] >= *classes)
      return mupc__fail(MUPC_EFORMAT, "%s: label %d at index %zu, expected < %d classes", y_path,
                        (int)r->labels[i], i, *classes);
  return MUPC_OK;
}

/* Normalises into a float buffer: bytes through one table per channel,
 * which keeps every pixel value's result the same and avoids a division per
 * pixel; floats in place. */
static int normalise(const char *x_path, mupc__raw *r, const mupc_data_opts *o, size_t total,
                     size_t stride, float **out) {
  const size_t C = (size_t)o->channels;
  if (r->f32) {
    for (size_t i = 0; i < total; i++) {
      const size_t c = (i / stride) % C;
      if (!isfinite(r->f32[i]))
        return mupc__fail(MUPC_EFORMAT, "%s: x value %zu is not finite", x_path, i);
      const float v = (r->f32[i] - o->mean[c]) / o->std[c];
      /* A huge value can overflow once normalised; training would only
       * diverge on it later. */
      if (!isfinite(v))
        return mupc__fail(MUPC_EFORMAT, "%s: x value %zu (%g) overflows once normalised by --norm",
                          x_path, i, (double)r->f32[i]);
      r->f32[i] = v;
    }
    *out = r->f32;
    r->f32 = NULL;
    return MUPC_OK;
  }
  float *x = malloc(total * sizeof *x);
  if (!x)
    return mupc__fail(MUPC_ENOMEM, "%s: out of memory for %zu normalised values", x_path, total);
  float table[MUPC_NORM_MAX][256];
  for (size_t c = 0; c < C; c++)
    for (int v = 0; v < 256; v++) {
      table[c][v] = ((float)v / 255.0f - o->mean[c]) / o->std[c];
      if (!isfinite(table[c][v])) {
        free(x);
        return mupc__fail(MUPC_EINVAL, "%s: channel %zu: mean %g and std %g overflow a pixel value",
                          x_path, c, (double)o->mean[c], (double)o->std[c]);
      }
    }
  for (size_t i = 0; i < total; i++)
    x[i] = table[(i / stride) % C][r->u8[i]];
  *out = x;
  return MUPC_OK;
}

int mupc__data_finish(const char *x_path, const char *y_path, mupc__raw *raw,
                      const mupc_data_opts *o, mupc_dataset *out) {
  size_t dim = 1;
  for (int d = 1; d < raw->ndim; d++)
    dim = dim > (size_t)INT_MAX / (size_t)raw->shape[d] ? (size_t)INT_MAX + 1
                                                        : dim * (size_t)raw->shape[d];
  int status = MUPC_OK;
  if (raw->shape[0] > INT_MAX || dim > INT_MAX)
    status = mupc__fail(MUPC_EFORMAT,
                        "%s: %" PRId64 " samples of %zu values is too large (at "
                        "most %d of %d)",
                        x_path, raw->shape[0], dim, INT_MAX, INT_MAX);
  int classes = 0;
  size_t stride = 1;
  float *x = NULL;
  if (status == MUPC_OK) status = check_labels(y_path, raw, o, &classes);
  if (status == MUPC_OK) status = channel_stride(x_path, raw, o->channels, &stride);
  if (status == MUPC_OK)
    status = normalise(x_path, raw, o, (size_t)raw->shape[0] * dim, stride, &x);
  if (status != MUPC_OK) {
    mupc__raw_free(raw);
    return status;
  }
  out->count = (int)raw->shape[0];
  out->dim = (int)dim;
  out->rows = raw->ndim > 2 ? (int)raw->shape[raw->ndim - 2] : 1;
  out->cols = (int)raw->shape[raw->ndim - 1];
  out->classes = classes;
  out->x = x;
  out->labels = raw->labels;
  raw->labels = NULL;
  mupc__raw_free(raw);
  return MUPC_OK;
}
