/* CIFAR-10 and CIFAR-100 binary batches, as published.
 *
 * A batch file is a run of fixed-size records with no header: CIFAR-10's
 * are 1 label byte then 3072 pixel bytes, CIFAR-100's a coarse label byte,
 * a fine label byte, then the same 3072 pixels. The pixels are channel-major
 * (1024 red, 1024 green, 1024 blue, each 32 rows of 32), so a sample has
 * shape [3, 32, 32]. With no header, the only checks a file allows are its
 * size (a whole number of records, at least one) and the label ranges; both
 * are made, so a cut or padded download is refused with its byte counts. */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
  CIFAR_CHANNELS = 3,
  CIFAR_SIDE = 32,
  CIFAR_PIXELS = CIFAR_CHANNELS * CIFAR_SIDE * CIFAR_SIDE, /* 3072 */
  CIFAR10_CLASSES = 10,
  CIFAR100_COARSE = 20,
  CIFAR100_FINE = 100,
};

/* The layout of one kind of record. */
typedef struct cifar_kind {
  const char *name;
  int label_bytes; /* 1, or 2 (coarse, fine) */
  int label_at;    /* which label byte is used */
  int classes;
  const char *label; /* the label's name for messages */
} cifar_kind;

static cifar_kind kind_of(int cifar100, int coarse) {
  if (!cifar100) return (cifar_kind){"CIFAR-10", 1, 0, CIFAR10_CLASSES, "label"};
  if (coarse) return (cifar_kind){"CIFAR-100", 2, 0, CIFAR100_COARSE, "coarse label"};
  return (cifar_kind){"CIFAR-100", 2, 1, CIFAR100_FINE, "fine label"};
}

/* The number of whole records in path, after checking its size. */
static int count_records(const char *path, const cifar_kind *k, size_t *records) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    return mupc__fail(MUPC_EIO, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(sb.st_mode)) return mupc__fail(MUPC_EIO, "%s: not a regular file", path);
  const size_t rec = (size_t)k->label_bytes + CIFAR_PIXELS;
  const unsigned long long size = (unsigned long long)sb.st_size;
  if (size == 0)
    return mupc__fail(MUPC_EFORMAT, "%s: empty, expected %s records of %zu bytes", path, k->name,
                      rec);
  if (size % rec != 0)
    return mupc__fail(MUPC_EFORMAT,
                      "%s: %llu bytes is not a whole number of %zu-byte %s records (%llu records "
                      "and %llu bytes over: truncated or not %s)",
                      path, size, rec, k->name, size / rec, size % rec, k->name);
  *records = (size_t)(size / rec);
  return MUPC_OK;
}

/* Reads one file's records into pixels (records × 3072) and labels. */
static int read_file(const char *path, const cifar_kind *k, size_t records, uint8_t *pixels,
                     int32_t *labels) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return mupc__fail(MUPC_EIO, "%s: cannot open: %s", path, strerror(errno));
  unsigned char head[2];
  int status = MUPC_OK;
  for (size_t r = 0; r < records && status == MUPC_OK; r++) {
    if (fread(head, 1, (size_t)k->label_bytes, fp) != (size_t)k->label_bytes ||
        fread(pixels + r * CIFAR_PIXELS, 1, CIFAR_PIXELS, fp) != CIFAR_PIXELS) {
      status = mupc__fail(MUPC_EIO, "%s: read failed at record %zu: %s", path, r,
                          ferror(fp) ? strerror(errno) : "file shrank while reading");
      break;
    }
    const int label = head[k->label_at];
    if (label >= k->classes)
      status = mupc__fail(MUPC_EFORMAT, "%s: record %zu has %s %d, expected < %d (%s)", path, r,
                          k->label, label, k->classes, k->name);
    labels[r] = label;
  }
  fclose(fp);
  return status;
}

int mupc__cifar_read(const char *const *paths, int n, int cifar100, int coarse, mupc__raw *out) {
  const cifar_kind k = kind_of(cifar100, coarse);
  size_t total = 0, counts[8];
  if (n < 1 || n > 8) return mupc__fail(MUPC_EINVAL, "mupc__cifar_read: 1 to 8 files, got %d", n);
  /* Every size is checked before anything is read. */
  for (int i = 0; i < n; i++) {
    int status = count_records(paths[i], &k, &counts[i]);
    if (status != MUPC_OK) return status;
    total += counts[i];
  }
  if (total > INT_MAX)
    return mupc__fail(MUPC_EFORMAT, "%s: %zu records in all, at most %d", paths[0], total, INT_MAX);
  memset(out, 0, sizeof *out);
  out->u8 = malloc(total * CIFAR_PIXELS);
  out->labels = malloc(total * sizeof *out->labels);
  if (!out->u8 || !out->labels) {
    mupc__raw_free(out);
    return mupc__fail(MUPC_ENOMEM, "%s: out of memory for %zu %s records", paths[0], total, k.name);
  }
  size_t done = 0;
  for (int i = 0; i < n; i++) {
    int status =
        read_file(paths[i], &k, counts[i], out->u8 + done * CIFAR_PIXELS, out->labels + done);
    if (status != MUPC_OK) {
      mupc__raw_free(out);
      return status;
    }
    done += counts[i];
  }
  out->ndim = 4;
  out->shape[0] = (int64_t)total;
  out->shape[1] = CIFAR_CHANNELS;
  out->shape[2] = CIFAR_SIDE;
  out->shape[3] = CIFAR_SIDE;
  out->classes = k.classes;
  return MUPC_OK;
}
