/* Fuzzes the safetensors reader (mupc_st_read) on the input as a file.
 *
 * Properties: no crash, leak or undefined behaviour on any input; a read
 * that fails leaves the output untouched and sets a message; a file that
 * reads is well formed (names unique, non-empty and short, shapes of at
 * most 4 dimensions, data present for every element), and round-trips:
 * mupc_st_write of it succeeds and reads back to the same tensors, bit for
 * bit, and the same metadata; writing that again gives the same bytes. */
#include "fuzz_common.h"

#include "mupc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t elements(const mupc_st_tensor *t) {
  uint64_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= (uint64_t)t->shape[d];
  return n;
}

static void check_well_formed(const mupc_st_file *f) {
  for (size_t i = 0; i < f->ntensors; i++) {
    const mupc_st_tensor *t = &f->tensors[i];
    FUZZ_CHECK(memchr(t->name, '\0', sizeof t->name) && t->name[0], "tensor %zu: bad name", i);
    FUZZ_CHECK(strcmp(t->name, "__metadata__") != 0, "a tensor named __metadata__");
    FUZZ_CHECK(t->ndim >= 0 && t->ndim <= 4, "\"%s\": ndim %d", t->name, t->ndim);
    for (int d = 0; d < t->ndim; d++)
      FUZZ_CHECK(t->shape[d] >= 0, "\"%s\": negative dimension", t->name);
    FUZZ_CHECK(elements(t) == 0 || t->data != NULL, "\"%s\": no data", t->name);
    for (size_t j = 0; j < i; j++)
      FUZZ_CHECK(strcmp(f->tensors[j].name, t->name) != 0, "duplicate \"%s\"", t->name);
  }
  for (size_t i = 0; i < f->nmeta; i++) {
    FUZZ_CHECK(f->meta_keys[i] && f->meta_values[i], "metadata %zu is NULL", i);
    for (size_t j = 0; j < i; j++)
      FUZZ_CHECK(strcmp(f->meta_keys[j], f->meta_keys[i]) != 0, "duplicate metadata key");
  }
}

static void check_same(const mupc_st_file *a, const mupc_st_file *b) {
  FUZZ_CHECK(a->ntensors == b->ntensors, "%zu tensors became %zu", a->ntensors, b->ntensors);
  for (size_t i = 0; i < a->ntensors; i++) {
    const mupc_st_tensor *t = &a->tensors[i];
    const mupc_st_tensor *u = mupc_st_find(b, t->name);
    FUZZ_CHECK(u != NULL, "\"%s\" lost", t->name);
    FUZZ_CHECK(u->ndim == t->ndim && !memcmp(u->shape, t->shape, sizeof(int64_t) * t->ndim),
               "\"%s\": shape changed", t->name);
    uint64_t n = elements(t);
    FUZZ_CHECK(n == 0 || !memcmp(u->data, t->data, n * sizeof(float)), "\"%s\": data changed",
               t->name);
  }
  FUZZ_CHECK(a->nmeta == b->nmeta, "%zu metadata entries became %zu", a->nmeta, b->nmeta);
  for (size_t i = 0; i < a->nmeta; i++) {
    const char *v = mupc_st_meta(b, a->meta_keys[i]);
    FUZZ_CHECK(v && !strcmp(v, a->meta_values[i]), "metadata \"%s\" changed", a->meta_keys[i]);
  }
}

/* The whole file, malloc'd. */
static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  FUZZ_CHECK(f != NULL, "cannot open %s", path);
  FUZZ_CHECK(fseek(f, 0, SEEK_END) == 0, "seek");
  long len = ftell(f);
  FUZZ_CHECK(len >= 0 && fseek(f, 0, SEEK_SET) == 0, "tell");
  unsigned char *buf = malloc((size_t)len + 1);
  FUZZ_CHECK(buf && fread(buf, 1, (size_t)len, f) == (size_t)len, "read %s", path);
  fclose(f);
  *n = (size_t)len;
  return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char in[1100], out[1100], again[1100];
  snprintf(in, sizeof in, "%s", fuzz_path("in.safetensors"));
  snprintf(out, sizeof out, "%s", fuzz_path("out.safetensors"));
  snprintf(again, sizeof again, "%s", fuzz_path("again.safetensors"));
  fuzz_write_file(in, data, size);

  mupc_st_file f;
  memset(&f, 0xA5, sizeof f);
  const mupc_st_file untouched = f;
  int rc = mupc_st_read(in, &f);
  if (rc != MUPC_OK) {
    FUZZ_CHECK(rc < 0, "status %d", rc);
    FUZZ_CHECK(!memcmp(&f, &untouched, sizeof f), "a failed read wrote its output");
    FUZZ_CHECK(*mupc_errmsg() != '\0', "a failed read left no message");
    return 0;
  }
  check_well_formed(&f);

  rc = mupc_st_write(out, &f);
  FUZZ_CHECK(rc == MUPC_OK, "a file that reads does not write: %s", mupc_errmsg());
  mupc_st_file back;
  rc = mupc_st_read(out, &back);
  FUZZ_CHECK(rc == MUPC_OK, "a written file does not read: %s", mupc_errmsg());
  check_same(&f, &back);
  check_same(&back, &f);

  /* Our own output is canonical: writing what we read from it again gives
   * the same bytes. */
  FUZZ_CHECK(mupc_st_write(again, &back) == MUPC_OK, "rewrite: %s", mupc_errmsg());
  size_t n1 = 0, n2 = 0;
  unsigned char *b1 = slurp(out, &n1), *b2 = slurp(again, &n2);
  FUZZ_CHECK(n1 == n2 && !memcmp(b1, b2, n1), "writing a re-read file changed its bytes");
  free(b1);
  free(b2);
  mupc_st_free(&back);
  mupc_st_free(&f);
  return 0;
}
