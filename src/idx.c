/* IDX reader (the MNIST / Fashion-MNIST file format).
 *
 * An IDX file is a 4-byte big-endian magic 0x0000TTNN (TT the element type,
 * NN the number of dimensions), NN big-endian u32 dimensions, then the
 * elements in row-major order. mupc reads only unsigned bytes (TT = 0x08):
 * images have 2 to 8 dimensions (count, then e.g. rows and cols; flattened
 * per sample), labels 1 (count). Files whose
 * name ends in ".gz" are read through zlib; anything else is read raw, so a
 * gzip file must be named as one and a raw file must not be.
 *
 * The whole file is validated: a payload shorter or longer than the header
 * promises is an error, as is a damaged or cut gzip stream, so a partially
 * downloaded data set never trains silently on garbage. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
  IDX_TYPE_UBYTE = 0x08,
  IDX_MIN_IMAGE_DIMS = 2,
  IDX_MAX_DIMS = MUPC__MAX_DIMS,
  IDX_CHUNK = 1 << 16,       /* bytes per read call */
  IDX_FIRST_ALLOC = 1 << 20, /* first payload buffer; grows as data arrives */
};

/* One open IDX file: exactly one of raw and gz is set. */
typedef struct idx_file {
  const char *path;
  FILE *raw;
  gzFile gz;
} idx_file;

/* A validated header. */
typedef struct idx_header {
  int ndim;
  uint32_t dims[IDX_MAX_DIMS];
  size_t elements; /* product of the dims */
} idx_header;

static int has_gz_suffix(const char *path) {
  size_t n = strlen(path);
  return n >= 3 && strcmp(path + n - 3, ".gz") == 0;
}

/* Turns zlib's error state into a mupc status with a message naming the
 * file. Called only after zlib reported a failure. */
static int gz_fail(const idx_file *f) {
  int errnum = Z_OK;
  const char *zmsg = gzerror(f->gz, &errnum);
  switch (errnum) {
  case Z_ERRNO:
    return mupc__fail(MUPC_EIO, "%s: read error: %s", f->path, strerror(errno));
  case Z_MEM_ERROR:
    return mupc__fail(MUPC_ENOMEM, "%s: out of memory while decompressing", f->path);
  case Z_BUF_ERROR:
    return mupc__fail(MUPC_EFORMAT, "%s: gzip stream ends early (compressed file truncated)",
                      f->path);
  default:
    break;
  }
  /* zlib prefixes its message with the path; ours already starts with it. */
  size_t n = strlen(f->path);
  if (zmsg && strncmp(zmsg, f->path, n) == 0 && strncmp(zmsg + n, ": ", 2) == 0) zmsg += n + 2;
  return mupc__fail(MUPC_EFORMAT, "%s: corrupt gzip data: %s", f->path,
                    zmsg && *zmsg ? zmsg : "unknown zlib error");
}

static int idx_open(idx_file *f, const char *path) {
  f->path = path;
  f->raw = NULL;
  f->gz = NULL;
  if (!has_gz_suffix(path)) {
    f->raw = fopen(path, "rb");
    if (!f->raw) return mupc__fail(MUPC_EIO, "%s: cannot open: %s", path, strerror(errno));
    return MUPC_OK;
  }
  errno = 0;
  f->gz = gzopen(path, "rb");
  if (!f->gz) {
    /* gzopen leaves errno at 0 when it ran out of memory. */
    if (errno == 0) return mupc__fail(MUPC_ENOMEM, "%s: out of memory opening gzip file", path);
    return mupc__fail(MUPC_EIO, "%s: cannot open: %s", path, strerror(errno));
  }
  if (gzbuffer(f->gz, 128 * 1024) != 0) return gz_fail(f);
  /* zlib reads non-gzip data transparently; a file named .gz that is not
   * gzip is more likely a mistake than a convenience, so refuse it. An empty
   * file also reads as "direct" and is rejected here. */
  if (gzdirect(f->gz))
    return mupc__fail(MUPC_EFORMAT, "%s: not a gzip file (the name ends in .gz)", path);
  return MUPC_OK;
}

/* Closes f. With check set (the success path) a failure to close is an
 * error: for gzip, gzclose is where a stream that ended early is reported. */
static int idx_close(idx_file *f, int check) {
  int status = MUPC_OK;
  if (f->raw) {
    if (fclose(f->raw) != 0 && check)
      status = mupc__fail(MUPC_EIO, "%s: close failed: %s", f->path, strerror(errno));
  } else if (f->gz) {
    int z = gzclose(f->gz);
    if (z != Z_OK && check) {
      if (z == Z_BUF_ERROR)
        status = mupc__fail(MUPC_EFORMAT, "%s: gzip stream ends early (compressed file truncated)",
                            f->path);
      else if (z == Z_ERRNO)
        status = mupc__fail(MUPC_EIO, "%s: close failed: %s", f->path, strerror(errno));
      else
        status = mupc__fail(MUPC_EFORMAT, "%s: corrupt gzip data (zlib status %d)", f->path, z);
    }
  }
  f->raw = NULL;
  f->gz = NULL;
  return status;
}

/* Reads up to n (<= IDX_CHUNK) bytes into buf; *got < n only at the end of
 * the data. A gzip stream that was cut short is an error, not an end. */
static int idx_read(idx_file *f, void *buf, size_t n, size_t *got) {
  *got = 0;
  if (f->raw) {
    *got = fread(buf, 1, n, f->raw);
    if (*got < n && ferror(f->raw))
      return mupc__fail(MUPC_EIO, "%s: read error: %s", f->path, strerror(errno));
    return MUPC_OK;
  }
  int r = gzread(f->gz, buf, (unsigned)n);
  if (r < 0) return gz_fail(f);
  *got = (size_t)r;
  if (*got < n) {
    /* zlib reports a stream cut mid-way as a short read with Z_BUF_ERROR
     * pending, not as a failure of the read itself. */
    int errnum = Z_OK;
    gzerror(f->gz, &errnum);
    if (errnum != Z_OK) return gz_fail(f);
  }
  return MUPC_OK;
}

static uint32_t load_be32(const unsigned char *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Reads and validates the magic and min_dims … max_dims dimensions. `kind`
 * names the expected content ("images", "labels") for the messages. */
static int idx_read_header(idx_file *f, int min_dims, int max_dims, const char *kind,
                           idx_header *h) {
  unsigned char b[4 * IDX_MAX_DIMS];
  size_t got = 0;
  int status = idx_read(f, b, 4, &got);
  if (status != MUPC_OK) return status;
  const int ndim = got == 4 && b[3] >= min_dims && b[3] <= max_dims ? b[3] : min_dims;
  const uint32_t expected = (uint32_t)IDX_TYPE_UBYTE << 8 | (uint32_t)ndim;
  if (got < 4)
    return mupc__fail(MUPC_EFORMAT,
                      "%s: truncated: file has %zu bytes, an IDX header starts with a 4-byte magic",
                      f->path, got);
  if (b[0] != 0 || b[1] != 0)
    return mupc__fail(MUPC_EFORMAT, "%s: bad magic 0x%08x, expected 0x%08x (IDX %s)", f->path,
                      (unsigned)load_be32(b), (unsigned)expected, kind);
  if (b[2] != IDX_TYPE_UBYTE)
    return mupc__fail(MUPC_EFORMAT,
                      "%s: element type 0x%02x, expected 0x08 (unsigned byte) in magic 0x%08x",
                      f->path, (unsigned)b[2], (unsigned)expected);
  if (b[3] != ndim && min_dims == max_dims)
    return mupc__fail(MUPC_EFORMAT, "%s: %u dimensions, expected %d (IDX %s, magic 0x%08x)",
                      f->path, (unsigned)b[3], ndim, kind, (unsigned)expected);
  if (b[3] != ndim)
    return mupc__fail(MUPC_EFORMAT, "%s: %u dimensions, expected %d to %d (IDX %s)", f->path,
                      (unsigned)b[3], min_dims, max_dims, kind);

  const size_t dim_bytes = 4 * (size_t)ndim;
  status = idx_read(f, b, dim_bytes, &got);
  if (status != MUPC_OK) return status;
  if (got < dim_bytes)
    return mupc__fail(MUPC_EFORMAT,
                      "%s: truncated: header needs %zu bytes of dimensions, file has %zu", f->path,
                      dim_bytes, got);

  /* The payload becomes floats, so the product must fit in size_t even
   * after multiplying by sizeof(float). */
  const size_t limit = SIZE_MAX / sizeof(float);
  size_t product = 1;
  for (int i = 0; i < ndim; i++) {
    h->dims[i] = load_be32(b + 4 * i);
    if (h->dims[i] == 0)
      return mupc__fail(MUPC_EFORMAT, "%s: dimension %d is 0, expected > 0", f->path, i);
    if (product > limit / h->dims[i])
      return mupc__fail(MUPC_EFORMAT,
                        "%s: dimensions overflow: the product of %d dimensions "
                        "exceeds %zu elements",
                        f->path, ndim, limit);
    product *= h->dims[i];
  }
  h->elements = product;
  h->ndim = ndim;
  return MUPC_OK;
}

/* Reads exactly `need` payload bytes into a malloc'd *out, then checks that
 * nothing follows. The buffer grows as data arrives, so a header that
 * promises gigabytes in a small file fails as truncated, not as ENOMEM. */
static int idx_read_payload(idx_file *f, size_t need, const char *what, uint8_t **out) {
  int status = MUPC_OK;
  size_t cap = need < IDX_FIRST_ALLOC ? need : IDX_FIRST_ALLOC;
  size_t have = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) {
    status = mupc__fail(MUPC_ENOMEM, "%s: out of memory for %zu bytes of %s", f->path, cap, what);
    goto ERROR;
  }
  while (have < need) {
    if (have == cap) {
      size_t grown = cap > need / 2 ? need : cap * 2;
      uint8_t *bigger = realloc(buf, grown);
      if (!bigger) {
        status =
            mupc__fail(MUPC_ENOMEM, "%s: out of memory for %zu bytes of %s", f->path, grown, what);
        goto ERROR;
      }
      buf = bigger;
      cap = grown;
    }
    size_t want = cap - have < IDX_CHUNK ? cap - have : IDX_CHUNK;
    size_t got = 0;
    status = idx_read(f, buf + have, want, &got);
    if (status != MUPC_OK) goto ERROR;
    have += got;
    if (got < want) {
      status =
          mupc__fail(MUPC_EFORMAT, "%s: truncated: header promises %zu bytes of %s, file has %zu",
                     f->path, need, what, have);
      goto ERROR;
    }
  }

  unsigned char extra;
  size_t got = 0;
  status = idx_read(f, &extra, 1, &got);
  if (status != MUPC_OK) goto ERROR;
  if (got != 0) {
    status =
        mupc__fail(MUPC_EFORMAT, "%s: trailing bytes after the %zu bytes of %s the header promises",
                   f->path, need, what);
    goto ERROR;
  }
  *out = buf;
  return MUPC_OK;

ERROR:
  free(buf);
  return status;
}

/* Checks that the sample counts fit the dataset's ints and agree. */
static int check_shapes(const char *images_path, const idx_header *img, const char *labels_path,
                        const idx_header *lab) {
  const size_t per_sample = img->elements / img->dims[0];
  if (img->dims[0] > INT_MAX || per_sample > INT_MAX)
    return mupc__fail(MUPC_EFORMAT,
                      "%s: %u images of %zu values each is too large (at most %d "
                      "images of %d values)",
                      images_path, (unsigned)img->dims[0], per_sample, INT_MAX, INT_MAX);
  if (img->dims[0] != lab->dims[0])
    return mupc__fail(MUPC_EFORMAT, "%s has %u labels but %s has %u images, expected equal counts",
                      labels_path, (unsigned)lab->dims[0], images_path, (unsigned)img->dims[0]);
  return MUPC_OK;
}

int mupc__idx_read(const char *images_path, const char *labels_path, mupc__raw *out) {
  idx_file img = {images_path, NULL, NULL};
  idx_file lab = {labels_path, NULL, NULL};
  idx_header img_h = {0, {0}, 0};
  idx_header lab_h = {0, {0}, 0};
  uint8_t *pixels = NULL;
  uint8_t *labels = NULL;
  int32_t *wide = NULL;

  /* Both headers first, so a count mismatch is found before the pixels
   * are read. */
  int status = idx_open(&img, images_path);
  if (status != MUPC_OK) goto ERROR;
  status = idx_read_header(&img, IDX_MIN_IMAGE_DIMS, IDX_MAX_DIMS, "images", &img_h);
  if (status != MUPC_OK) goto ERROR;
  status = idx_open(&lab, labels_path);
  if (status != MUPC_OK) goto ERROR;
  status = idx_read_header(&lab, 1, 1, "labels", &lab_h);
  if (status != MUPC_OK) goto ERROR;
  status = check_shapes(images_path, &img_h, labels_path, &lab_h);
  if (status != MUPC_OK) goto ERROR;

  status = idx_read_payload(&img, img_h.elements, "pixels", &pixels);
  if (status != MUPC_OK) goto ERROR;
  status = idx_close(&img, 1);
  if (status != MUPC_OK) goto ERROR;
  status = idx_read_payload(&lab, lab_h.elements, "labels", &labels);
  if (status != MUPC_OK) goto ERROR;
  status = idx_close(&lab, 1);
  if (status != MUPC_OK) goto ERROR;

  wide = malloc(lab_h.elements * sizeof *wide);
  if (!wide) {
    status =
        mupc__fail(MUPC_ENOMEM, "%s: out of memory for %zu labels", labels_path, lab_h.elements);
    goto ERROR;
  }
  for (size_t i = 0; i < lab_h.elements; i++)
    wide[i] = labels[i];
  free(labels);

  memset(out, 0, sizeof *out);
  out->ndim = img_h.ndim;
  for (int d = 0; d < img_h.ndim; d++)
    out->shape[d] = img_h.dims[d];
  out->u8 = pixels;
  out->labels = wide;
  return MUPC_OK;

ERROR:
  idx_close(&img, 0);
  idx_close(&lab, 0);
  free(pixels);
  free(labels);
  free(wide);
  return status;
}

int mupc__idx_load(const char *images_path, const char *labels_path, int classes, float mean,
                   float std, mupc_dataset *out) {
  if (!images_path || !labels_path || !out)
    return mupc__fail(MUPC_EINVAL, "mupc__idx_load: images_path, labels_path and out must be set");
  if (classes < 1)
    return mupc__fail(MUPC_EINVAL, "mupc__idx_load: classes must be >= 1, got %d", classes);
  if (!isfinite(mean))
    return mupc__fail(MUPC_EINVAL, "mupc__idx_load: mean must be finite, got %g", (double)mean);
  if (!isfinite(std) || !(std > 0.0f))
    return mupc__fail(MUPC_EINVAL, "mupc__idx_load: std must be finite and > 0, got %g",
                      (double)std);
  mupc_data_opts o = mupc_data_default_opts();
  o.format = MUPC_DATA_IDX;
  o.classes = classes;
  o.mean[0] = mean;
  o.std[0] = std;
  mupc__raw raw;
  int status = mupc__idx_read(images_path, labels_path, &raw);
  if (status != MUPC_OK) return status;
  return mupc__data_finish(images_path, labels_path, &raw, &o, out);
}
