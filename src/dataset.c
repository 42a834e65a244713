/* Data sets on the host: finding the IDX files of a directory, batches with
 * one-hot targets. (The per-epoch shuffle is in rng.c.) */
#include "internal.h"

#include <errno.h>
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

int mupc_dataset_load_dir(const char *dir, int train, int classes, float mean, float std,
                          mupc_dataset *out) {
  if (!dir || !out)
    return mupc__fail(MUPC_EINVAL, "mupc_dataset_load_dir: dir and out must be set");
  const char *prefix = train ? "train" : "t10k";
  char images_name[64], labels_name[64];
  snprintf(images_name, sizeof images_name, "%s-images-idx3-ubyte", prefix);
  snprintf(labels_name, sizeof labels_name, "%s-labels-idx1-ubyte", prefix);

  char *images = NULL;
  char *labels = NULL;
  int status = find_file(dir, images_name, &images);
  if (status != MUPC_OK) goto ERROR;
  status = find_file(dir, labels_name, &labels);
  if (status != MUPC_OK) goto ERROR;
  status = mupc_idx_load(images, labels, classes, mean, std, out);

ERROR:
  free(images);
  free(labels);
  return status;
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
