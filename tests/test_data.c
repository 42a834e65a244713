/* The format-detecting loader: CIFAR-10 and CIFAR-100 binary batches,
 * safetensors tensor files and IDX of other ranks, written here byte for
 * byte; per-channel normalisation along either channel axis; class counts;
 * and the failures (each naming the file, leaving the output untouched). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mupc.h"

enum { REC = 3073, PIX = 3072 };

static char tmpdir[256];

static const char *path_in(char *buf, size_t n, const char *dir, const char *name) {
  snprintf(buf, n, "%s/%s/%s", tmpdir, dir, name);
  return buf;
}

static void make_dir(const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", tmpdir, name);
  assert_int_equal(mkdir(p, 0755), 0);
}

static void write_file(const char *path, const void *b, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

/* Record r of a batch: label bytes, then pixel i = (r + i) mod 256. */
static unsigned char *cifar_records(int n, int label_bytes, const int *labels) {
  const size_t rec = (size_t)label_bytes + PIX;
  unsigned char *b = malloc(rec * (size_t)n);
  assert_non_null(b);
  for (int r = 0; r < n; r++) {
    unsigned char *p = b + rec * (size_t)r;
    if (label_bytes == 2) *p++ = (unsigned char)(labels[r] / 5); /* coarse */
    *p++ = (unsigned char)labels[r];
    for (int i = 0; i < PIX; i++)
      p[i] = (unsigned char)(r + i);
  }
  return b;
}

static void write_cifar10(const char *dir) {
  char p[512];
  make_dir(dir);
  const int labels[3] = {9, 0, 4};
  unsigned char *b = cifar_records(3, 1, labels);
  for (int i = 1; i <= 5; i++) {
    char name[32];
    snprintf(name, sizeof name, "data_batch_%d.bin", i);
    write_file(path_in(p, sizeof p, dir, name), b, (size_t)REC * (i == 5 ? 1 : 3));
  }
  write_file(path_in(p, sizeof p, dir, "test_batch.bin"), b, 2 * REC);
  free(b);
}

/* A safetensors file from a JSON header and a data section. */
static void write_st(const char *path, const char *json, const void *data, size_t n) {
  size_t len = strlen(json);
  size_t padded = (len + 7) / 8 * 8;
  unsigned char *b = calloc(1, 8 + padded + n);
  assert_non_null(b);
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
  memset(b + 8, ' ', padded);
  memcpy(b + 8, json, len);
  memcpy(b + 8 + padded, data, n);
  write_file(path, b, 8 + padded + n);
  free(b);
}

static mupc_data_opts opts(mupc_data_format f) {
  mupc_data_opts o = mupc_data_default_opts();
  o.format = f;
  return o;
}

/* A load that must fail with status and a message holding needle, leaving
 * *out untouched. */
static void expect_fail(const char *dir, int train, const mupc_data_opts *o, int status,
                        const char *needle) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", tmpdir, dir);
  mupc_dataset d, before;
  memset(&d, 0xA5, sizeof d);
  before = d;
  int got = mupc_dataset_load(p, train, o, &d);
  if (got != status || !strstr(mupc_errmsg(), needle)) {
    print_error("want %d with \"%s\", got %d: %s\n", status, needle, got, mupc_errmsg());
    fail();
  }
  assert_memory_equal(&d, &before, sizeof d);
}

static int load(const char *dir, int train, const mupc_data_opts *o, mupc_dataset *d) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", tmpdir, dir);
  int st = mupc_dataset_load(p, train, o, d);
  if (st != MUPC_OK) print_error("%s\n", mupc_errmsg());
  return st;
}

static void test_cifar10(void **state) {
  (void)state;
  write_cifar10("c10");
  char p[512];
  snprintf(p, sizeof p, "%s/c10", tmpdir);
  mupc_data_format f = MUPC_DATA_AUTO;
  assert_int_equal(mupc_data_detect(p, &f), MUPC_OK);
  assert_int_equal(f, MUPC_DATA_CIFAR10);

  /* Per-channel normalisation: channel-major, 1024 values a channel. */
  mupc_data_opts o = opts(MUPC_DATA_AUTO);
  o.channels = 3;
  const float mean[3] = {0.1f, 0.2f, 0.3f}, std[3] = {0.5f, 0.25f, 2.0f};
  memcpy(o.mean, mean, sizeof mean);
  memcpy(o.std, std, sizeof std);
  mupc_dataset d;
  assert_int_equal(load("c10", 1, &o, &d), MUPC_OK);
  assert_int_equal(d.count, 13); /* 3 + 3 + 3 + 3 + 1, in batch order */
  assert_int_equal(d.dim, PIX);
  assert_int_equal(d.rows, 32);
  assert_int_equal(d.cols, 32);
  assert_int_equal(d.classes, 10); /* CIFAR-10's own count, not max + 1 */
  assert_int_equal(d.labels[0], 9);
  assert_int_equal(d.labels[4], 0);
  assert_int_equal(d.labels[12], 9);
  for (int r = 0; r < 3; r++)
    for (int i = 0; i < PIX; i += 97) {
      const int c = i / 1024;
      const float want = ((float)(unsigned char)(r + i) / 255.0f - mean[c]) / std[c];
      assert_float_equal(d.x[(size_t)r * PIX + (size_t)i], want, 1e-6);
    }
  mupc_dataset_free(&d);
  assert_int_equal(load("c10", 0, &o, &d), MUPC_OK);
  assert_int_equal(d.count, 2);
  mupc_dataset_free(&d);

  o.classes = 5; /* fewer than label 9 needs */
  expect_fail("c10", 1, &o, MUPC_EFORMAT, "label 9 at index 0, expected < 5");
}

static void test_cifar_bad(void **state) {
  (void)state;
  char p[512];
  write_cifar10("c10bad");
  const int labels[2] = {3, 12};
  unsigned char *b = cifar_records(2, 1, labels);
  write_file(path_in(p, sizeof p, "c10bad", "test_batch.bin"), b, 2 * REC);
  mupc_data_opts o = opts(MUPC_DATA_CIFAR10);
  expect_fail("c10bad", 0, &o, MUPC_EFORMAT, "test_batch.bin: record 1 has label 12");
  write_file(path_in(p, sizeof p, "c10bad", "test_batch.bin"), b, REC - 1);
  expect_fail("c10bad", 0, &o, MUPC_EFORMAT, "3072 bytes is not a whole number of 3073-byte");
  write_file(path_in(p, sizeof p, "c10bad", "test_batch.bin"), b, REC + 1);
  expect_fail("c10bad", 0, &o, MUPC_EFORMAT, "(1 records and 1 bytes over");
  write_file(path_in(p, sizeof p, "c10bad", "test_batch.bin"), b, 0);
  expect_fail("c10bad", 0, &o, MUPC_EFORMAT, "test_batch.bin: empty");
  unlink(path_in(p, sizeof p, "c10bad", "data_batch_5.bin"));
  expect_fail("c10bad", 1, &o, MUPC_EIO, "no data_batch_5.bin");
  free(b);
}

static void test_cifar100(void **state) {
  (void)state;
  char p[512];
  make_dir("c100");
  const int labels[3] = {99, 7, 50};
  unsigned char *b = cifar_records(3, 2, labels);
  write_file(path_in(p, sizeof p, "c100", "train.bin"), b, 3 * (REC + 1));
  write_file(path_in(p, sizeof p, "c100", "test.bin"), b, REC + 1);
  mupc_data_opts o = opts(MUPC_DATA_AUTO);
  mupc_dataset d;
  assert_int_equal(load("c100", 1, &o, &d), MUPC_OK);
  assert_int_equal(d.classes, 100);
  assert_int_equal(d.labels[0], 99);
  assert_int_equal(d.labels[2], 50);
  /* Pixels start after both label bytes. */
  assert_float_equal(d.x[PIX + 1], (2.0f / 255.0f), 1e-6);
  mupc_dataset_free(&d);
  o.coarse = 1;
  assert_int_equal(load("c100", 1, &o, &d), MUPC_OK);
  assert_int_equal(d.classes, 20);
  assert_int_equal(d.labels[0], 19);
  assert_int_equal(d.labels[1], 1);
  mupc_dataset_free(&d);
  /* A CIFAR-10 record size is not a CIFAR-100 one. */
  write_file(path_in(p, sizeof p, "c100", "test.bin"), b, REC);
  expect_fail("c100", 0, &o, MUPC_EFORMAT, "3074-byte CIFAR-100 records");
  free(b);
}

static void test_tensors(void **state) {
  (void)state;
  char p[512];
  make_dir("st");
  /* x U8 [2, 2, 3] channel-last, y I16. */
  unsigned char data[12 + 4];
  for (int i = 0; i < 12; i++)
    data[i] = (unsigned char)(i * 20);
  data[12] = 3, data[13] = 0, data[14] = 1, data[15] = 0;
  write_st(path_in(p, sizeof p, "st", "train.safetensors"),
           "{\"x\":{\"dtype\":\"U8\",\"shape\":[2,2,3],\"data_offsets\":[0,12]},"
           "\"y\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[12,16]}}",
           data, sizeof data);
  mupc_data_opts o = opts(MUPC_DATA_AUTO);
  o.channels = 3;
  for (int c = 0; c < 3; c++)
    o.mean[c] = 0.1f * (float)c, o.std[c] = 1.0f + (float)c;
  mupc_dataset d;
  assert_int_equal(load("st", 1, &o, &d), MUPC_OK);
  assert_int_equal(d.count, 2);
  assert_int_equal(d.dim, 6);
  assert_int_equal(d.classes, 4); /* max label + 1 */
  assert_int_equal(d.labels[0], 3);
  assert_int_equal(d.labels[1], 1);
  for (int i = 0; i < 12; i++) {
    const int c = i % 3;
    assert_float_equal(d.x[i], ((float)(i * 20) / 255.0f - o.mean[c]) / o.std[c], 1e-6);
  }
  mupc_dataset_free(&d);

  /* F32 values are taken as they are: no 1/255. */
  float fx[4] = {0.5f, 2.0f, -1.0f, 4.0f};
  unsigned char fdata[16 + 2];
  memcpy(fdata, fx, 16); /* little-endian hosts only, as the CI is */
  fdata[16] = 0, fdata[17] = 1;
  write_st(path_in(p, sizeof p, "st", "test.safetensors"),
           "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
           "\"y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[16,18]}}",
           fdata, sizeof fdata);
  mupc_data_opts one = opts(MUPC_DATA_TENSORS);
  one.mean[0] = 1.0f, one.std[0] = 2.0f;
  assert_int_equal(load("st", 0, &one, &d), MUPC_OK);
  assert_float_equal(d.x[1], 0.5f, 0);
  assert_float_equal(d.x[2], -1.0f, 0);
  mupc_dataset_free(&d);
  /* Three channels fit neither axis of [2, 2]. */
  o.format = MUPC_DATA_TENSORS;
  expect_fail("st", 0, &o, MUPC_ESHAPE, "test.safetensors: 3 normalisation channels");

  /* A negative I16 label. */
  data[15] = 0xFF, data[14] = 0xFE;
  write_st(path_in(p, sizeof p, "st", "train.safetensors"),
           "{\"x\":{\"dtype\":\"U8\",\"shape\":[2,6],\"data_offsets\":[0,12]},"
           "\"y\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[12,16]}}",
           data, sizeof data);
  expect_fail("st", 1, &one, MUPC_EFORMAT, "y[1] is -2");
  /* The checkpoint reader still takes F32 alone. */
  mupc_st_file f;
  assert_int_equal(mupc_st_read(path_in(p, sizeof p, "st", "train.safetensors"), &f), MUPC_EFORMAT);
  assert_non_null(strstr(mupc_errmsg(), "only F32 is supported"));
}

static void test_idx_ranks(void **state) {
  (void)state;
  char p[512];
  make_dir("idx2");
  /* Rank 2: [3, 5]. The largest label, 200, gives 201 classes. */
  const unsigned char img[12 + 15] = {0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 5};
  const unsigned char lab[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 0, 200, 7};
  write_file(path_in(p, sizeof p, "idx2", "train-images-idx2-ubyte"), img, sizeof img);
  write_file(path_in(p, sizeof p, "idx2", "train-labels-idx1-ubyte"), lab, sizeof lab);
  mupc_data_opts o = opts(MUPC_DATA_AUTO);
  mupc_dataset d;
  assert_int_equal(load("idx2", 1, &o, &d), MUPC_OK);
  assert_int_equal(d.count, 3);
  assert_int_equal(d.dim, 5);
  assert_int_equal(d.classes, 201);
  mupc_dataset_free(&d);
  o.classes = 1000; /* more classes than a byte holds */
  assert_int_equal(load("idx2", 1, &o, &d), MUPC_OK);
  assert_int_equal(d.classes, 1000);
  mupc_dataset_free(&d);
  o.classes = 0;
  expect_fail("idx2", 0, &o, MUPC_EIO, "t10k-images-idx3-ubyte");
}

/* Rank-2 IDX files in dir: count samples of dim values, labels i mod
 * classes. */
static void write_idx2(const char *dir, const char *split, int count, int dim, int classes) {
  char p[512], name[64];
  unsigned char img[12 + 64] = {0, 0, 8, 2, 0, 0, 0, (unsigned char)count,
                                0, 0, 0, (unsigned char)dim};
  unsigned char lab[8 + 16] = {0, 0, 8, 1, 0, 0, 0, (unsigned char)count};
  for (int i = 0; i < count * dim; i++) img[12 + i] = (unsigned char)(i * 7);
  for (int i = 0; i < count; i++) lab[8 + i] = (unsigned char)(i % classes);
  snprintf(name, sizeof name, "%s-images-idx2-ubyte", split);
  write_file(path_in(p, sizeof p, dir, name), img, 12 + (size_t)(count * dim));
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split);
  write_file(path_in(p, sizeof p, dir, name), lab, 8 + (size_t)count);
}

static void test_train_test(void **state) {
  (void)state;
  char p[512];
  make_dir("pair");
  write_idx2("pair", "train", 6, 4, 3);
  write_idx2("pair", "t10k", 2, 4, 2); /* the test set lacks class 2 */
  snprintf(p, sizeof p, "%s/pair", tmpdir);
  mupc_data_opts o = opts(MUPC_DATA_AUTO);
  mupc_dataset train, test;
  assert_int_equal(mupc_dataset_load_train_test(p, &o, &train, &test), MUPC_OK);
  assert_int_equal(o.format, MUPC_DATA_IDX); /* what was read, for a checkpoint */
  assert_int_equal(train.count, 6);
  assert_int_equal(test.count, 2);
  assert_int_equal(test.classes, 3); /* the training set's */
  mupc_dataset_free(&train);
  mupc_dataset_free(&test);

  /* The test set as a checkpoint's run read it: its outputs as classes. */
  mupc_checkpoint *ck = calloc(1, sizeof *ck);
  assert_non_null(ck);
  ck->p = mupc_net_default_params();
  ck->p.input_dim = 4, ck->p.output_dim = 5;
  ck->o = mupc_train_default_opts();
  snprintf(ck->o.data_dir, sizeof ck->o.data_dir, "%s", p);
  assert_int_equal(mupc_checkpoint_test_set(ck, "m.st", NULL, &test), MUPC_OK);
  assert_int_equal(test.classes, 5);
  mupc_dataset_free(&test);
  ck->p.input_dim = 9;
  memset(&test, 0xA5, sizeof test);
  mupc_dataset before = test;
  assert_int_equal(mupc_checkpoint_test_set(ck, "m.st", p, &test), MUPC_ESHAPE);
  char want[600];
  snprintf(want, sizeof want, "%s has samples of 4 values, m.st expects 9", p);
  assert_string_equal(mupc_errmsg(), want);
  assert_memory_equal(&test, &before, sizeof test);
  free(ck);

  /* Samples of different sizes: refused, naming the directory; nothing kept. */
  write_idx2("pair", "t10k", 2, 5, 2);
  memset(&train, 0xA5, sizeof train);
  mupc_dataset train_before = train;
  assert_int_equal(mupc_dataset_load_train_test(p, &o, &train, &test), MUPC_ESHAPE);
  snprintf(want, sizeof want,
           "%s: test samples have 5 values (1x5) but training samples 4 (1x4)", p);
  assert_string_equal(mupc_errmsg(), want);
  assert_memory_equal(&train, &train_before, sizeof train);
  assert_int_equal(mupc_dataset_load_train_test(NULL, &o, &train, &test), MUPC_EINVAL);
}

static void test_opts(void **state) {
  (void)state;
  for (int f = MUPC_DATA_AUTO; f <= MUPC_DATA_TENSORS; f++)
    assert_int_equal(mupc_data_format_from_name(mupc_data_format_name((mupc_data_format)f)), f);
  assert_int_equal(mupc_data_format_from_name("CIFAR10"), MUPC_DATA_CIFAR10);
  assert_int_equal(mupc_data_format_from_name("jpeg"), -1);
  mupc_data_opts o = opts(MUPC_DATA_AUTO);
  mupc_dataset d;
  o.channels = 0;
  assert_int_equal(mupc_dataset_load(tmpdir, 1, &o, &d), MUPC_EINVAL);
  o.channels = MUPC_NORM_MAX + 1;
  assert_int_equal(mupc_dataset_load(tmpdir, 1, &o, &d), MUPC_EINVAL);
  o = opts(MUPC_DATA_AUTO);
  o.std[0] = 0.0f;
  assert_int_equal(mupc_dataset_load(tmpdir, 1, &o, &d), MUPC_EINVAL);
  o = opts((mupc_data_format)99);
  assert_int_equal(mupc_dataset_load(tmpdir, 1, &o, &d), MUPC_EINVAL);
  o = opts(MUPC_DATA_AUTO);
  assert_int_equal(mupc_dataset_load(NULL, 1, &o, &d), MUPC_EINVAL);
  assert_int_equal(mupc_dataset_load(tmpdir, 1, NULL, &d), MUPC_EINVAL);
}

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "%s/mupc_data_XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cifar10),   cmocka_unit_test(test_cifar_bad),
      cmocka_unit_test(test_cifar100),  cmocka_unit_test(test_tensors),
      cmocka_unit_test(test_idx_ranks), cmocka_unit_test(test_opts),
      cmocka_unit_test(test_train_test),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
