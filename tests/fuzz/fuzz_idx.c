/* Fuzzes the IDX reader (mupc__idx_load) on an image file and a label file,
 * raw or gzip.
 *
 * Input: a 5-byte control header, then the two files' contents.
 *   byte 0  flags: 1 images are .gz, 2 labels are .gz, 4 a .gz file holds
 *           the input bytes as they are (already compressed, or garbage),
 *           otherwise the harness gzips them itself so that the reader
 *           sees valid streams of fuzzed content; 8 cut the last `cut`
 *           bytes off every stream the harness compressed.
 *   byte 1  classes - 1 (1 … 256)
 *   2, 3    big-endian split: the images are the first `split` bytes of
 *           the rest (clamped), the labels what follows
 *   byte 4  cut
 *
 * Properties: no crash, leak or undefined behaviour on any input; a load
 * that fails leaves the output untouched and sets a message; a load that
 * succeeds (images of any rank 2 … 8) returns exactly what the files hold (the harness parses them
 * itself), and never succeeds on a cut gzip stream. */
#include "fuzz_common.h"

#include "internal.h" /* mupc__idx_load */
#include "mupc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { F_IMG_GZ = 1, F_LAB_GZ = 2, F_VERBATIM = 4, F_CUT = 8, HEADER = 5 };

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* gzip-compresses data into a malloc'd buffer (its length in *out_n). */
static uint8_t *gzip(const uint8_t *data, size_t n, size_t *out_n) {
  z_stream z;
  memset(&z, 0, sizeof z);
  /* 15 + 16: a gzip wrapper, not zlib's own. */
  FUZZ_CHECK(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                          Z_DEFAULT_STRATEGY) == Z_OK,
             "deflateInit2");
  size_t cap = deflateBound(&z, (uLong)n) + 32;
  uint8_t *out = malloc(cap);
  FUZZ_CHECK(out != NULL, "out of memory");
  z.next_in = (Bytef *)(uintptr_t)data;
  z.avail_in = (uInt)n;
  z.next_out = out;
  z.avail_out = (uInt)cap;
  FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
  *out_n = cap - z.avail_out;
  deflateEnd(&z);
  return out;
}

/* Writes one file of the pair; returns 1 if its stream was cut short. */
static int write_part(const char *name, const uint8_t *data, size_t n, int gz, int flags,
                      size_t cut) {
  if (!gz || (flags & F_VERBATIM)) {
    fuzz_write_file(name, data, n);
    return 0;
  }
  size_t zn = 0;
  uint8_t *z = gzip(data, n, &zn);
  int was_cut = (flags & F_CUT) && cut > 0;
  if (was_cut) zn = cut < zn ? zn - cut : 0;
  fuzz_write_file(name, z, zn);
  free(z);
  return was_cut;
}

/* What a successful load must equal, from the logical (uncompressed)
 * contents of both files. Skipped when a .gz holds verbatim bytes, whose
 * contents the harness does not know. */
static void check_loaded(const mupc_dataset *d, const uint8_t *img, size_t img_n,
                         const uint8_t *lab, size_t lab_n, int classes) {
  FUZZ_CHECK(img_n >= 12 && lab_n >= 8, "loaded files shorter than their headers");
  const uint32_t magic = be32(img);
  const int ndim = (int)(magic & 0xFF);
  FUZZ_CHECK((magic >> 8) == 0x08 && ndim >= 2 && ndim <= 8 && be32(lab) == 0x00000801,
             "loaded a bad magic 0x%08x", (unsigned)magic);
  FUZZ_CHECK(img_n >= 4 + 4 * (size_t)ndim, "header shorter than its %d dimensions", ndim);
  const uint32_t count = be32(img + 4);
  size_t per = 1;
  for (int k = 1; k < ndim; k++)
    per *= be32(img + 4 + 4 * (size_t)k);
  const int rows = ndim > 2 ? (int)be32(img + 4 * (size_t)ndim - 4) : 1;
  const int cols = (int)be32(img + 4 * (size_t)ndim);
  FUZZ_CHECK(be32(lab + 4) == count, "count mismatch accepted");
  FUZZ_CHECK(d->count == (int)count && d->rows == rows && d->cols == cols && d->dim == (int)per,
             "got %d x %d (%d x %d), file says %u x %zu (%d x %d)", d->count, d->dim, d->rows,
             d->cols, count, per, rows, cols);
  FUZZ_CHECK(d->classes == classes, "classes wrong");
  const size_t head = 4 + 4 * (size_t)ndim;
  const size_t pixels = (size_t)count * per;
  FUZZ_CHECK(img_n == head + pixels && lab_n == 8 + (size_t)count,
             "sizes %zu, %zu accepted for %zu pixels and %u labels", img_n, lab_n, pixels, count);
  for (size_t i = 0; i < count; i++) {
    FUZZ_CHECK(d->labels[i] == lab[8 + i] && d->labels[i] < classes, "label %zu", i);
  }
  for (size_t i = 0; i < pixels; i++) {
    const float want = ((float)img[head + i] / 255.0f - 0.5f) / 0.5f;
    FUZZ_CHECK(fabsf(d->x[i] - want) <= 1e-6f, "pixel %zu is %g, want %g", i, (double)d->x[i],
               (double)want);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < HEADER) return 0;
  const int flags = data[0], classes = data[1] + 1;
  const size_t cut = data[4];
  const uint8_t *rest = data + HEADER;
  const size_t n = size - HEADER;
  size_t split = (size_t)data[2] << 8 | data[3];
  if (split > n) split = n;

  const int img_gz = flags & F_IMG_GZ, lab_gz = flags & F_LAB_GZ;
  /* Copies: fuzz_path's buffer is reused. */
  char img_path[1100], lab_path[1100];
  snprintf(img_path, sizeof img_path, "%s", fuzz_path(img_gz ? "images.gz" : "images"));
  snprintf(lab_path, sizeof lab_path, "%s", fuzz_path(lab_gz ? "labels.gz" : "labels"));
  int cut_short = write_part(img_path, rest, split, img_gz, flags, cut);
  cut_short |= write_part(lab_path, rest + split, n - split, lab_gz, flags, cut);

  mupc_dataset d;
  memset(&d, 0xA5, sizeof d);
  const mupc_dataset untouched = d;
  int rc = mupc__idx_load(img_path, lab_path, classes, 0.5f, 0.5f, &d);
  if (rc != MUPC_OK) {
    FUZZ_CHECK(rc < 0, "status %d", rc);
    FUZZ_CHECK(!memcmp(&d, &untouched, sizeof d), "a failed load wrote its output");
    FUZZ_CHECK(*mupc_errmsg() != '\0', "a failed load left no message");
    return 0;
  }
  FUZZ_CHECK(!cut_short, "a cut gzip stream loaded as valid");
  if (!((img_gz || lab_gz) && (flags & F_VERBATIM)))
    check_loaded(&d, rest, split, rest + split, n - split, classes);
  mupc_dataset_free(&d);
  return 0;
}
