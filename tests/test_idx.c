/* IDX loading, data directories, batches and the epoch shuffle.
 *
 * Every test writes its own small files into a private temporary directory:
 * valid ones (raw and gzip) and each way a file can be broken. A failure
 * must return the exact status, name the file in mupc_errmsg() and leave
 * the output untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h" /* mupc__idx_load */
#include "mupc.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static char tmpdir[256];

/* tmpdir/name into buf (PATH_MAX-free: the names here are short). */
static const char *in_tmp(char *buf, size_t n, const char *name) {
  snprintf(buf, n, "%s/%s", tmpdir, name);
  return buf;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char p[768];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      remove_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "%s/mupc_idx_XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  remove_tree(tmpdir);
  return 0;
}

/* ---- building files ---------------------------------------------------- */

typedef struct bytes {
  unsigned char *p;
  size_t n;
} bytes;

static void put(bytes *b, const void *src, size_t n) {
  b->p = realloc(b->p, b->n + n);
  assert_non_null(b->p);
  memcpy(b->p + b->n, src, n);
  b->n += n;
}

static void put_be32(bytes *b, uint32_t v) {
  unsigned char c[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                        (unsigned char)v};
  put(b, c, 4);
}

/* An IDX file: magic, dims, then payload bytes. */
static bytes idx_bytes(uint32_t magic, const uint32_t *dims, int ndim, const unsigned char *payload,
                       size_t n) {
  bytes b = {NULL, 0};
  put_be32(&b, magic);
  for (int i = 0; i < ndim; i++)
    put_be32(&b, dims[i]);
  if (n) put(&b, payload, n);
  return b;
}

static void write_raw(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const void *p, size_t n) {
  gzFile g = gzopen(path, "wb9");
  assert_non_null(g);
  if (n) assert_int_equal(gzwrite(g, p, (unsigned)n), (int)n);
  assert_int_equal(gzclose(g), Z_OK);
}

/* Writes b raw, or gzip'd when the name ends in .gz, and frees it. */
static void save(const char *path, bytes b) {
  size_t n = strlen(path);
  if (n > 3 && strcmp(path + n - 3, ".gz") == 0)
    write_gz(path, b.p, b.n);
  else
    write_raw(path, b.p, b.n);
  free(b.p);
}

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(*n ? *n : 1);
  assert_non_null(p);
  assert_int_equal(fread(p, 1, *n, f), *n);
  fclose(f);
  return p;
}

/* The reference data: 3 images of 2 x 3 pixels, labels 0 2 1. */
static const unsigned char PIXELS[18] = {0, 255, 51, 102, 153, 204, 1,   2,   3,
                                         4, 5,   6,  250, 0,   0,   128, 127, 9};
static const unsigned char LABELS[3] = {0, 2, 1};
static const uint32_t IMG_DIMS[3] = {3, 2, 3};
static const uint32_t LAB_DIMS[1] = {3};

static void save_images(const char *path) {
  save(path, idx_bytes(0x00000803, IMG_DIMS, 3, PIXELS, sizeof PIXELS));
}

static void save_labels(const char *path) {
  save(path, idx_bytes(0x00000801, LAB_DIMS, 1, LABELS, sizeof LABELS));
}

static void check_reference(const mupc_dataset *d, float mean, float std) {
  assert_int_equal(d->count, 3);
  assert_int_equal(d->rows, 2);
  assert_int_equal(d->cols, 3);
  assert_int_equal(d->dim, 6);
  assert_int_equal(d->classes, 3);
  for (int i = 0; i < 18; i++) {
    float want = ((float)PIXELS[i] / 255.0f - mean) / std;
    assert_float_equal(d->x[i], want, 1e-6);
  }
  for (int i = 0; i < 3; i++)
    assert_int_equal(d->labels[i], LABELS[i]);
}

/* A load that must fail with `status`, name `file` in the message (and
 * contain `needle` when given) and leave *out untouched. */
static void expect_fail(const char *images, const char *labels, int classes, int status,
                        const char *file, const char *needle) {
  mupc_dataset d, before;
  memset(&d, 0xA5, sizeof d);
  before = d;
  int got = mupc__idx_load(images, labels, classes, 0.0f, 1.0f, &d);
  if (got != status || (file && !strstr(mupc_errmsg(), file)) ||
      (needle && !strstr(mupc_errmsg(), needle))) {
    print_error("expected status %d naming \"%s\" with \"%s\", got %d: %s\n", status,
                file ? file : "", needle ? needle : "", got, mupc_errmsg());
    fail();
  }
  assert_memory_equal(&d, &before, sizeof d);
}

/* ---- valid files ------------------------------------------------------- */

static void test_load_raw(void **state) {
  (void)state;
  char ip[512], lp[512];
  save_images(in_tmp(ip, sizeof ip, "raw-images"));
  save_labels(in_tmp(lp, sizeof lp, "raw-labels"));
  mupc_dataset d;
  assert_int_equal(mupc__idx_load(ip, lp, 3, 0.5f, 0.25f, &d), MUPC_OK);
  check_reference(&d, 0.5f, 0.25f);
  mupc_dataset_free(&d);
  assert_null(d.x);
  assert_null(d.labels);
  mupc_dataset_free(&d); /* idempotent */
  mupc_dataset_free(NULL);
}

static void test_load_gz(void **state) {
  (void)state;
  char ip[512], lp[512], rp[512];
  save_images(in_tmp(ip, sizeof ip, "gz-images.gz"));
  save_labels(in_tmp(lp, sizeof lp, "gz-labels.gz"));
  mupc_dataset d;
  assert_int_equal(mupc__idx_load(ip, lp, 3, 0.2860f, 0.3530f, &d), MUPC_OK);
  check_reference(&d, 0.2860f, 0.3530f);
  mupc_dataset_free(&d);

  /* Mixed: raw images, gzip labels. */
  save_images(in_tmp(rp, sizeof rp, "mixed-images"));
  assert_int_equal(mupc__idx_load(rp, lp, 3, 0.0f, 1.0f, &d), MUPC_OK);
  check_reference(&d, 0.0f, 1.0f);
  mupc_dataset_free(&d);
}

static void test_classes_bound(void **state) {
  (void)state;
  char ip[512], lp[512];
  save_images(in_tmp(ip, sizeof ip, "cb-images"));
  save_labels(in_tmp(lp, sizeof lp, "cb-labels"));
  /* The largest label is 2: three classes are enough, two are not. */
  expect_fail(ip, lp, 2, MUPC_EFORMAT, "cb-labels", "label 2 at index 1");
  mupc_dataset d;
  assert_int_equal(mupc__idx_load(ip, lp, 256, 0.0f, 1.0f, &d), MUPC_OK);
  assert_int_equal(d.classes, 256);
  mupc_dataset_free(&d);
}

/* ---- broken headers ---------------------------------------------------- */

static void test_bad_magic(void **state) {
  (void)state;
  char ip[512], lp[512], bp[512];
  save_images(in_tmp(ip, sizeof ip, "ok-images"));
  save_labels(in_tmp(lp, sizeof lp, "ok-labels"));

  save(in_tmp(bp, sizeof bp, "magic-images"), idx_bytes(0x12340803, IMG_DIMS, 3, PIXELS, 18));
  expect_fail(bp, lp, 10, MUPC_EFORMAT, "magic-images", "0x00000803");
  /* Labels where images belong, and the other way round. */
  expect_fail(lp, lp, 10, MUPC_EFORMAT, "ok-labels", "1 dimensions, expected 2 to 8");
  expect_fail(ip, ip, 10, MUPC_EFORMAT, "ok-images", "3 dimensions, expected 1");
  save(in_tmp(bp, sizeof bp, "magic-labels.gz"), idx_bytes(0xFF000801, LAB_DIMS, 1, LABELS, 3));
  expect_fail(ip, bp, 10, MUPC_EFORMAT, "magic-labels.gz", "0x00000801");
}

static void test_bad_type(void **state) {
  (void)state;
  char ip[512], lp[512];
  save_labels(in_tmp(lp, sizeof lp, "type-labels"));
  /* 0x0D is float: a valid IDX type, but not one mupc reads. */
  save(in_tmp(ip, sizeof ip, "type-images"), idx_bytes(0x00000D03, IMG_DIMS, 3, PIXELS, 18));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "type-images", "element type 0x0d");
  save(in_tmp(ip, sizeof ip, "type-images.gz"), idx_bytes(0x00000903, IMG_DIMS, 3, PIXELS, 18));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "type-images.gz", "unsigned byte");
}

static void test_zero_dim(void **state) {
  (void)state;
  char ip[512], lp[512];
  save_labels(in_tmp(lp, sizeof lp, "zero-labels"));
  const uint32_t dims[3] = {3, 0, 3};
  save(in_tmp(ip, sizeof ip, "zero-images"), idx_bytes(0x00000803, dims, 3, NULL, 0));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "zero-images", "dimension 1 is 0");
  const uint32_t none[1] = {0};
  save(in_tmp(lp, sizeof lp, "zero-labels.gz"), idx_bytes(0x00000801, none, 1, NULL, 0));
  save_images(in_tmp(ip, sizeof ip, "zero-ok-images"));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "zero-labels.gz", "dimension 0 is 0");
}

static void test_dim_overflow(void **state) {
  (void)state;
  char ip[512], lp[512];
  const uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
  const uint32_t nlab[1] = {0xFFFFFFFFu};
  save(in_tmp(ip, sizeof ip, "ovf-images"), idx_bytes(0x00000803, huge, 3, PIXELS, 18));
  save(in_tmp(lp, sizeof lp, "ovf-labels"), idx_bytes(0x00000801, nlab, 1, LABELS, 3));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "ovf-images", "overflow");

  /* Fits size_t, but not the dataset's int count: rejected before any
   * payload is read. */
  const uint32_t big[3] = {0x80000000u, 1, 1};
  const uint32_t nbig[1] = {0x80000000u};
  save(in_tmp(ip, sizeof ip, "big-images"), idx_bytes(0x00000803, big, 3, PIXELS, 18));
  save(in_tmp(lp, sizeof lp, "big-labels"), idx_bytes(0x00000801, nbig, 1, LABELS, 3));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "big-images", "too large");
}

static void test_truncated_header(void **state) {
  (void)state;
  char ip[512], lp[512];
  save_labels(in_tmp(lp, sizeof lp, "th-labels"));
  write_raw(in_tmp(ip, sizeof ip, "th-images"), "\0\0", 2);
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "th-images", "truncated");
  write_raw(in_tmp(ip, sizeof ip, "th-empty"), "", 0);
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "th-empty", "truncated");
  /* Magic and one of the three dimensions. */
  save(in_tmp(ip, sizeof ip, "th-dims.gz"), idx_bytes(0x00000803, IMG_DIMS, 1, NULL, 0));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "th-dims.gz", "needs 12 bytes of dimensions, file has 4");
}

/* ---- broken payloads --------------------------------------------------- */

static void test_truncated_payload(void **state) {
  (void)state;
  char ip[512], lp[512];
  save_labels(in_tmp(lp, sizeof lp, "tp-labels"));
  save(in_tmp(ip, sizeof ip, "tp-images"), idx_bytes(0x00000803, IMG_DIMS, 3, PIXELS, 17));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "tp-images",
              "truncated: header promises 18 bytes of pixels, file has 17");
  save(in_tmp(ip, sizeof ip, "tp-images.gz"), idx_bytes(0x00000803, IMG_DIMS, 3, PIXELS, 5));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "tp-images.gz",
              "truncated: header promises 18 bytes of pixels, file has 5");
  save_images(ip);
  save(in_tmp(lp, sizeof lp, "tp-labels.gz"), idx_bytes(0x00000801, LAB_DIMS, 1, LABELS, 2));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "tp-labels.gz",
              "header promises 3 bytes of labels, file has 2");

  /* A header that promises a gigabyte in a tiny file is only truncated. */
  const uint32_t big[3] = {1 << 20, 32, 32};
  const uint32_t nbig[1] = {1 << 20};
  save(in_tmp(ip, sizeof ip, "tp-big-images"), idx_bytes(0x00000803, big, 3, PIXELS, 18));
  save(in_tmp(lp, sizeof lp, "tp-big-labels"), idx_bytes(0x00000801, nbig, 1, LABELS, 3));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "tp-big-images",
              "header promises 1073741824 bytes of pixels, file has 18");
}

static void test_trailing_garbage(void **state) {
  (void)state;
  char ip[512], lp[512];
  unsigned char more[19];
  memcpy(more, PIXELS, 18);
  more[18] = 7;
  save_labels(in_tmp(lp, sizeof lp, "tg-labels"));
  save(in_tmp(ip, sizeof ip, "tg-images"), idx_bytes(0x00000803, IMG_DIMS, 3, more, 19));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "tg-images", "trailing");
  save(in_tmp(ip, sizeof ip, "tg-images.gz"), idx_bytes(0x00000803, IMG_DIMS, 3, more, 19));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "tg-images.gz", "trailing");
  save_images(ip);
  save(in_tmp(lp, sizeof lp, "tg-labels.gz"), idx_bytes(0x00000801, LAB_DIMS, 1, more, 4));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "tg-labels.gz", "trailing");
}

static void test_count_mismatch(void **state) {
  (void)state;
  char ip[512], lp[512];
  const uint32_t two[1] = {2};
  save_images(in_tmp(ip, sizeof ip, "cm-images"));
  save(in_tmp(lp, sizeof lp, "cm-labels"), idx_bytes(0x00000801, two, 1, LABELS, 2));
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "cm-labels", "cm-images");
}

static void test_missing_file(void **state) {
  (void)state;
  char ip[512], lp[512];
  save_labels(in_tmp(lp, sizeof lp, "mf-labels"));
  save_images(in_tmp(ip, sizeof ip, "mf-images"));
  char missing[512];
  expect_fail(in_tmp(missing, sizeof missing, "no-such-images"), lp, 10, MUPC_EIO, "no-such-images",
              "cannot open");
  expect_fail(ip, in_tmp(missing, sizeof missing, "no-such-labels.gz"), 10, MUPC_EIO,
              "no-such-labels.gz", "cannot open");
  /* A directory opens but cannot be read. */
  expect_fail(tmpdir, lp, 10, MUPC_EIO, tmpdir, NULL);
}

/* ---- broken gzip ------------------------------------------------------- */

static void test_corrupt_gz(void **state) {
  (void)state;
  char ip[512], lp[512];
  save_labels(in_tmp(lp, sizeof lp, "cg-labels"));
  save_images(in_tmp(ip, sizeof ip, "cg-images.gz"));
  size_t n = 0;
  unsigned char *gz = slurp(ip, &n);
  assert_true(n > 18);

  /* A wrong CRC in the trailer: zlib's "incorrect data check". */
  gz[n - 8] ^= 0xFF;
  write_raw(ip, gz, n);
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "cg-images.gz", "corrupt gzip");
  gz[n - 8] ^= 0xFF;

  /* An invalid deflate block type (0b11) right after the 10-byte header. */
  unsigned char saved = gz[10];
  gz[10] = 0x07;
  write_raw(ip, gz, n);
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "cg-images.gz", "corrupt gzip");
  gz[10] = saved;

  /* Cut short: the compressed stream ends early. */
  for (size_t cut = n - 1; cut > 10; cut -= 5) {
    write_raw(ip, gz, cut);
    expect_fail(ip, lp, 10, MUPC_EFORMAT, "cg-images.gz", NULL);
  }
  write_raw(ip, gz, n - 4);
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "cg-images.gz", "ends early");
  free(gz);

  /* Not gzip at all, or empty, under a .gz name. */
  save(in_tmp(ip, sizeof ip, "cg-plain-images"), idx_bytes(0x00000803, IMG_DIMS, 3, PIXELS, 18));
  gz = slurp(ip, &n);
  write_raw(in_tmp(ip, sizeof ip, "cg-plain-images.gz"), gz, n);
  free(gz);
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "cg-plain-images.gz", "not a gzip file");
  write_raw(in_tmp(ip, sizeof ip, "cg-empty.gz"), "", 0);
  expect_fail(ip, lp, 10, MUPC_EFORMAT, "cg-empty.gz", NULL);
}

static void test_bad_args(void **state) {
  (void)state;
  char ip[512], lp[512];
  save_images(in_tmp(ip, sizeof ip, "ba-images"));
  save_labels(in_tmp(lp, sizeof lp, "ba-labels"));
  mupc_dataset d;
  assert_int_equal(mupc__idx_load(ip, lp, 0, 0.0f, 1.0f, &d), MUPC_EINVAL);
  /* Labels are 32-bit now: more classes than a byte holds are fine. */
  assert_int_equal(mupc__idx_load(ip, lp, 257, 0.0f, 1.0f, &d), MUPC_OK);
  assert_int_equal(d.classes, 257);
  mupc_dataset_free(&d);
  assert_int_equal(mupc__idx_load(ip, lp, 10, 0.0f, 0.0f, &d), MUPC_EINVAL);
  assert_int_equal(mupc__idx_load(ip, lp, 10, 0.0f, -1.0f, &d), MUPC_EINVAL);
  assert_int_equal(mupc__idx_load(ip, lp, 10, NAN, 1.0f, &d), MUPC_EINVAL);
  assert_int_equal(mupc__idx_load(ip, lp, 10, 0.0f, INFINITY, &d), MUPC_EINVAL);
  assert_int_equal(mupc__idx_load(NULL, lp, 10, 0.0f, 1.0f, &d), MUPC_EINVAL);
  assert_int_equal(mupc__idx_load(ip, NULL, 10, 0.0f, 1.0f, &d), MUPC_EINVAL);
  assert_int_equal(mupc__idx_load(ip, lp, 10, 0.0f, 1.0f, NULL), MUPC_EINVAL);
}

/* ---- directories ------------------------------------------------------- */

/* An IDX split of dir through the library's loader (format MUPC_DATA_IDX,
 * one mean and std), as `mupc train --format idx` reads it. */
static int load_idx_dir(const char *dir, int train, int classes, float mean, float std,
                        mupc_dataset *out) {
  mupc_data_opts o = mupc_data_default_opts();
  o.format = MUPC_DATA_IDX;
  o.classes = classes;
  o.mean[0] = mean;
  o.std[0] = std;
  return mupc_dataset_load(dir, train, &o, out);
}

static void make_dir(char *buf, size_t n, const char *name) {
  in_tmp(buf, n, name);
  assert_int_equal(mkdir(buf, 0755), 0);
}

static void test_load_dir(void **state) {
  (void)state;
  char dir[512], p[768];
  make_dir(dir, sizeof dir, "data");
  snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", dir);
  save_images(p);
  snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", dir);
  save_labels(p);
  mupc_dataset d;
  assert_int_equal(load_idx_dir(dir, 1, 3, 0.0f, 1.0f, &d), MUPC_OK);
  check_reference(&d, 0.0f, 1.0f);
  mupc_dataset_free(&d);

  /* A trailing slash names the same directory. */
  snprintf(p, sizeof p, "%s/", dir);
  assert_int_equal(load_idx_dir(p, 1, 3, 0.0f, 1.0f, &d), MUPC_OK);
  mupc_dataset_free(&d);

  /* The test split is missing: the message names the directory and both
   * names tried. */
  mupc_dataset before;
  memset(&d, 0x5A, sizeof d);
  before = d;
  assert_int_equal(load_idx_dir(dir, 0, 3, 0.0f, 1.0f, &d), MUPC_EIO);
  assert_non_null(strstr(mupc_errmsg(), dir));
  assert_non_null(strstr(mupc_errmsg(), "t10k-images-idx3-ubyte"));
  assert_non_null(strstr(mupc_errmsg(), "t10k-images-idx3-ubyte.gz"));
  assert_memory_equal(&d, &before, sizeof d);

  /* Images present, labels missing. */
  snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
  save_images(p);
  assert_int_equal(load_idx_dir(dir, 0, 3, 0.0f, 1.0f, &d), MUPC_EIO);
  assert_non_null(strstr(mupc_errmsg(), "t10k-labels-idx1-ubyte.gz"));

  assert_int_equal(load_idx_dir(in_tmp(p, sizeof p, "no-such-dir"), 1, 3, 0.0f, 1.0f, &d),
                   MUPC_EIO);
  assert_non_null(strstr(mupc_errmsg(), "no-such-dir"));
  assert_int_equal(load_idx_dir(NULL, 1, 3, 0.0f, 1.0f, &d), MUPC_EINVAL);
}

static void test_load_dir_prefers_raw(void **state) {
  (void)state;
  char dir[512], p[768];
  make_dir(dir, sizeof dir, "both");
  snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", dir);
  save_images(p);
  snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", dir);
  save_labels(p);
  /* Broken .gz twins: loading succeeds only if the raw files are used. */
  snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
  write_raw(p, "junk", 4);
  snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte.gz", dir);
  write_raw(p, "junk", 4);
  mupc_dataset d;
  assert_int_equal(load_idx_dir(dir, 0, 3, 0.0f, 1.0f, &d), MUPC_OK);
  check_reference(&d, 0.0f, 1.0f);
  mupc_dataset_free(&d);
}

static void test_fashion_mnist(void **state) {
  (void)state;
  struct stat st;
  if (stat(FASHION_DIR, &st) != 0 || !S_ISDIR(st.st_mode)) skip();
  mupc_dataset d;
  int status = load_idx_dir(FASHION_DIR, 0, 10, 0.2860f, 0.3530f, &d);
  if (status != MUPC_OK) print_error("%s\n", mupc_errmsg());
  assert_int_equal(status, MUPC_OK);
  assert_int_equal(d.count, 10000);
  assert_int_equal(d.dim, 784);
  assert_int_equal(d.rows, 28);
  assert_int_equal(d.cols, 28);
  assert_int_equal(d.labels[0], 9); /* the first test image is an ankle boot */
  int seen[10] = {0};
  for (int i = 0; i < d.count; i++) {
    assert_true(d.labels[i] < 10);
    seen[d.labels[i]]++;
  }
  for (int c = 0; c < 10; c++)
    assert_int_equal(seen[c], 1000);
  const float lo = (0.0f - 0.2860f) / 0.3530f, hi = (1.0f - 0.2860f) / 0.3530f;
  for (size_t i = 0; i < (size_t)d.count * 784; i++)
    assert_true(d.x[i] >= lo - 1e-6f && d.x[i] <= hi + 1e-6f);
  mupc_dataset_free(&d);
}

/* ---- batches ----------------------------------------------------------- */

static void test_gather(void **state) {
  (void)state;
  char ip[512], lp[512];
  save_images(in_tmp(ip, sizeof ip, "g-images"));
  save_labels(in_tmp(lp, sizeof lp, "g-labels"));
  mupc_dataset d;
  assert_int_equal(mupc__idx_load(ip, lp, 4, 0.0f, 1.0f, &d), MUPC_OK);
  const uint32_t idx[4] = {2, 0, 2, 1};
  float x[4 * 6], y[4 * 4];
  memset(y, 0x7F, sizeof y);
  mupc_dataset_gather(&d, idx, 4, x, y);
  for (int i = 0; i < 4; i++) {
    assert_memory_equal(x + i * 6, d.x + idx[i] * 6, 6 * sizeof(float));
    for (int c = 0; c < 4; c++)
      assert_true(y[i * 4 + c] == (c == LABELS[idx[i]] ? 1.0f : 0.0f));
  }
  mupc_dataset_free(&d);
}

/* ---- shuffle ----------------------------------------------------------- */

static void assert_permutation(const uint32_t *p, uint32_t n) {
  unsigned char *seen = calloc(n ? n : 1, 1);
  assert_non_null(seen);
  for (uint32_t i = 0; i < n; i++) {
    assert_true(p[i] < n);
    assert_false(seen[p[i]]);
    seen[p[i]] = 1;
  }
  free(seen);
}

static void test_shuffle_permutation(void **state) {
  (void)state;
  enum { N = 1000 };
  uint32_t *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  mupc_shuffle(a, N, 1234, 7);
  assert_permutation(a, N);
  mupc_shuffle(b, N, 1234, 7);
  assert_memory_equal(a, b, N * sizeof *a);
  mupc_shuffle(b, N, 1234, 8);
  assert_permutation(b, N);
  assert_memory_not_equal(a, b, N * sizeof *a);
  mupc_shuffle(b, N, 1235, 7);
  assert_memory_not_equal(a, b, N * sizeof *a);
  /* Not the identity. */
  int fixed = 0;
  for (uint32_t i = 0; i < N; i++)
    fixed += a[i] == i;
  assert_true(fixed < 10);
  free(a);
  free(b);

  uint32_t one = 77;
  mupc_shuffle(&one, 1, 0, 0);
  assert_int_equal(one, 0);
  mupc_shuffle(NULL, 0, 0, 0);
}

/* The generator is a contract (same order on every platform); these values
 * come from tests/rng_ref.py, a Python implementation of the mapping that
 * mupc.h documents. */
static void test_shuffle_golden(void **state) {
  (void)state;
  uint32_t p[16];
  const uint32_t a[10] = {8, 7, 3, 1, 6, 9, 4, 2, 5, 0};
  mupc_shuffle(p, 10, 42, 0);
  assert_memory_equal(p, a, sizeof a);
  const uint32_t b[10] = {5, 6, 7, 2, 4, 3, 0, 9, 1, 8};
  mupc_shuffle(p, 10, 0, 5);
  assert_memory_equal(p, b, sizeof b);
  const uint32_t c[16] = {10, 15, 12, 11, 1, 3, 5, 14, 6, 2, 0, 9, 4, 13, 8, 7};
  mupc_shuffle(p, 16, UINT64_MAX, UINT64_MAX - 1);
  assert_memory_equal(p, c, sizeof c);
}

/* All 6 orders of 3 items, over 6000 epochs, each near 1000 (5 sigma). */
static void test_shuffle_uniform(void **state) {
  (void)state;
  int count[6] = {0};
  for (uint64_t e = 0; e < 6000; e++) {
    uint32_t p[3];
    mupc_shuffle(p, 3, 99, e);
    assert_permutation(p, 3);
    count[p[0] * 2 + (p[1] > p[2])]++;
  }
  for (int i = 0; i < 6; i++)
    assert_true(count[i] > 850 && count[i] < 1150);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_raw),
      cmocka_unit_test(test_load_gz),
      cmocka_unit_test(test_classes_bound),
      cmocka_unit_test(test_bad_magic),
      cmocka_unit_test(test_bad_type),
      cmocka_unit_test(test_zero_dim),
      cmocka_unit_test(test_dim_overflow),
      cmocka_unit_test(test_truncated_header),
      cmocka_unit_test(test_truncated_payload),
      cmocka_unit_test(test_trailing_garbage),
      cmocka_unit_test(test_count_mismatch),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_corrupt_gz),
      cmocka_unit_test(test_bad_args),
      cmocka_unit_test(test_load_dir),
      cmocka_unit_test(test_load_dir_prefers_raw),
      cmocka_unit_test(test_fashion_mnist),
      cmocka_unit_test(test_gather),
      cmocka_unit_test(test_shuffle_permutation),
      cmocka_unit_test(test_shuffle_golden),
      cmocka_unit_test(test_shuffle_uniform),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
