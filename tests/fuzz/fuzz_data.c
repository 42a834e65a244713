/* Fuzzes the other data set readers through mupc_dataset_load: CIFAR-10
 * and CIFAR-100 binary batches and safetensors tensor files.
 *
 * Input: a 1-byte control header, then the test split's file.
 *   byte 0  bits 0-1 the format (0 CIFAR-10 test_batch.bin, 1 CIFAR-100
 *           test.bin, 2 and 3 test.safetensors); bit 2 CIFAR-100's coarse
 *           labels; bit 3 three normalisation channels instead of one;
 *           bit 4 a class count of 7 instead of the data's own.
 *
 * Properties: no crash, leak or undefined behaviour; a failed load leaves
 * the output untouched with a message; a loaded CIFAR file is a whole number
 * of records whose labels the output holds; every loaded set has sizes that
 * agree, labels below its class count and finite values. */
#include "fuzz_common.h"

#include "mupc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { HEADER = 1, PIX = 3072 };

static const char *const files[] = {"test_batch.bin", "test.bin", "test.safetensors",
                                    "test.safetensors"};
static const mupc_data_format formats[] = {MUPC_DATA_CIFAR10, MUPC_DATA_CIFAR100, MUPC_DATA_TENSORS,
                                           MUPC_DATA_TENSORS};

/* A loaded CIFAR file against its bytes. */
static void check_cifar(const mupc_dataset *d, const uint8_t *b, size_t n, int c100, int coarse) {
  const size_t rec = (size_t)(c100 ? 2 : 1) + PIX;
  FUZZ_CHECK(n > 0 && n % rec == 0 && (size_t)d->count == n / rec, "%zu bytes gave %d records", n,
             d->count);
  FUZZ_CHECK(d->dim == PIX && d->rows == 32 && d->cols == 32, "shape %d (%d x %d)", d->dim, d->rows,
             d->cols);
  for (int r = 0; r < d->count; r++) {
    const int want = b[(size_t)r * rec + (size_t)(c100 && !coarse)];
    FUZZ_CHECK(d->labels[r] == want, "record %d: label %d, file %d", r, (int)d->labels[r], want);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < HEADER) return 0;
  const int kind = data[0] & 3, coarse = data[0] >> 2 & 1, three = data[0] >> 3 & 1;
  const int seven = data[0] >> 4 & 1;
  const char *path = fuzz_path(files[kind]);
  fuzz_write_file(path, data + HEADER, size - HEADER);
  char dir[1100];
  snprintf(dir, sizeof dir, "%s", path);
  *strrchr(dir, '/') = '\0';

  mupc_data_opts o = mupc_data_default_opts();
  o.format = formats[kind];
  o.coarse = coarse;
  o.classes = seven ? 7 : 0;
  o.channels = three ? 3 : 1;
  for (int c = 0; c < o.channels; c++)
    o.mean[c] = 0.5f, o.std[c] = 0.25f;
  mupc_dataset d;
  memset(&d, 0xA5, sizeof d);
  const mupc_dataset untouched = d;
  int rc = mupc_dataset_load(dir, 0, &o, &d);
  if (rc != MUPC_OK) {
    FUZZ_CHECK(rc < 0, "status %d", rc);
    FUZZ_CHECK(!memcmp(&d, &untouched, sizeof d), "a failed load wrote its output");
    FUZZ_CHECK(*mupc_errmsg() != '\0', "a failed load left no message");
    return 0;
  }
  FUZZ_CHECK(d.count >= 1 && d.dim >= 1 && d.classes >= 1, "empty set loaded");
  if (seven) FUZZ_CHECK(d.classes == 7, "--classes 7 gave %d", d.classes);
  for (int i = 0; i < d.count; i++)
    FUZZ_CHECK(d.labels[i] >= 0 && d.labels[i] < d.classes, "label %d of %d", (int)d.labels[i],
               d.classes);
  for (size_t i = 0; i < (size_t)d.count * (size_t)d.dim; i++)
    FUZZ_CHECK(isfinite(d.x[i]), "value %zu not finite", i);
  if (kind < 2) check_cifar(&d, data + HEADER, size - HEADER, kind == 1, coarse);
  mupc_dataset_free(&d);
  return 0;
}
