/* Checkpoints in the library (src/checkpoint.c): mupc_net_save and
 * mupc_net_load give back bit-identical weights and Adam state; a trainer's
 * snapshot reads back field for field; the mupc 0.1.0 files of tests/data
 * read with their splitmix64 generator; and every malformed file is refused
 * with a message that starts with its path. */
#include "checkpoint.h"
#include "testdev.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];
static char paths[16][128];
static int npaths;

/* A file name in the test's directory, removed at the end. */
static const char *tmp(const char *name) {
  assert_true(npaths < 16);
  snprintf(paths[npaths], sizeof paths[0], "%s/%s", tmpdir, name);
  return paths[npaths++];
}

static const char *old_file(int step) {
  static char path[2][512];
  const char *src = getenv("MUPC_SOURCE_DIR");
  snprintf(path[step == 20], sizeof path[0], "%s/tests/data/mupc-0.1.0-step%d.safetensors",
           src ? src : ".", step);
  return path[step == 20];
}

/* Copies src to dst with metadata key set to value (NULL: removed). */
static void edit(const char *src, const char *dst, const char *key, const char *value) {
  mupc_st_file f;
  memset(&f, 0, sizeof f);
  assert_int_equal(mupc_st_read(src, &f), MUPC_OK);
  size_t i = 0;
  while (i < f.nmeta && strcmp(f.meta_keys[i], key) != 0) i++;
  if (i == f.nmeta) {
    assert_non_null(value);
    f.meta_keys = realloc(f.meta_keys, (f.nmeta + 1) * sizeof *f.meta_keys);
    f.meta_values = realloc(f.meta_values, (f.nmeta + 1) * sizeof *f.meta_values);
    assert_true(f.meta_keys && f.meta_values);
    f.meta_keys[i] = strdup(key);
    f.meta_values[i] = NULL;
    f.nmeta++;
  }
  free(f.meta_values[i]);
  if (value) {
    f.meta_values[i] = strdup(value);
  } else {
    free(f.meta_keys[i]);
    f.nmeta--;
    f.meta_keys[i] = f.meta_keys[f.nmeta];
    f.meta_values[i] = f.meta_values[f.nmeta];
  }
  assert_int_equal(mupc_st_write(dst, &f), MUPC_OK);
  mupc_st_free(&f);
}

static void expect_read_error(const char *path, int status, const char *text) {
  mupc_checkpoint *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->step = 12345;
  const int got = mupc_checkpoint_read(path, c);
  if (got != status || strncmp(mupc_errmsg(), path, strlen(path)) != 0 ||
      !strstr(mupc_errmsg(), text))
    fail_msg("%s: expected status %d with \"%s\", got %d: %s", path, status, text, got,
             mupc_errmsg());
  assert_true(c->step == 12345); /* written only on success */
  free(c);
}

/* ---- files without a device ----------------------------------------------- */

static void test_old_files(void **state) {
  (void)state;
  mupc_checkpoint *c = calloc(1, sizeof *c);
  assert_non_null(c);
  for (int step = 10; step <= 20; step += 10) {
    assert_int_equal(mupc_checkpoint_read(old_file(step), c), MUPC_OK);
    assert_int_equal(c->has_run, 1);
    assert_string_equal(c->version, "0.1.0");
    /* 0.1.0 had no "rng": its streams were splitmix64. */
    assert_int_equal(c->p.rng, MUPC_RNG_SPLITMIX);
    assert_int_equal(c->p.input_dim, 64);
    assert_int_equal(c->p.width, 16);
    assert_int_equal(c->p.output_dim, 10);
    assert_int_equal(c->p.depth, 5);
    assert_int_equal(c->p.batch, 32);
    assert_int_equal(c->p.infer_steps, 5);
    assert_int_equal(c->p.norm_batch, 0);
    assert_true(c->p.adam_eps == 1e-8f);
    assert_true(c->step == step && c->epoch == step / 10 && c->epoch_step == 0);
    assert_true(c->optim_t == step && c->train_count == 320 && c->o.steps == step);
    assert_int_equal(c->o.shuffle, 1);
    assert_string_equal(c->o.data_dir, "/tmp/fx/data");
    /* Before the data keys: IDX, fine labels, norm_mean and norm_std. */
    assert_int_equal(c->o.data.format, MUPC_DATA_IDX);
    assert_int_equal(c->o.data.coarse, 0);
    assert_int_equal(c->o.data.channels, 1);
    assert_true(c->o.data.mean[0] == 0.5f && c->o.data.std[0] == 0.5f);
    assert_int_equal(c->o.data.classes, 10);
    /* Options no checkpoint stores keep their defaults. */
    assert_int_equal(c->o.eval_every, 100);
    assert_int_equal(c->o.save_every, 0);
    assert_string_equal(c->o.save, "");
  }
  free(c);
}

static void test_data_keys(void **state) {
  (void)state;
  mupc_checkpoint *c = calloc(1, sizeof *c);
  assert_non_null(c);
  const char *a = tmp("keys-a.st"), *b = tmp("keys-b.st"), *d = tmp("keys-c.st");
  edit(old_file(10), a, "data_format", "cifar100");
  edit(a, b, "data_label", "coarse");
  edit(b, d, "norm", "0.4914,0.4822,0.4465,0.247,0.2435,0.2616");
  assert_int_equal(mupc_checkpoint_read(d, c), MUPC_OK);
  assert_int_equal(c->o.data.format, MUPC_DATA_CIFAR100);
  assert_int_equal(c->o.data.coarse, 1);
  assert_int_equal(c->o.data.channels, 3);
  assert_true(c->o.data.mean[1] == 0.4822f && c->o.data.std[2] == 0.2616f);
  /* A later generator name wins over the 0.1.0 default. */
  edit(old_file(10), a, "rng", "philox4x32-10");
  assert_int_equal(mupc_checkpoint_read(a, c), MUPC_OK);
  assert_int_equal(c->p.rng, MUPC_RNG_PHILOX);
  edit(old_file(10), a, "norm_batch", "64");
  assert_int_equal(mupc_checkpoint_read(a, c), MUPC_OK);
  assert_int_equal(c->p.norm_batch, 64);
  free(c);
}

static void test_bad_metadata(void **state) {
  (void)state;
  const char *f = tmp("bad.st");
  static const struct {
    const char *key, *value, *message;
  } cases[] = {
      {"format", NULL, " has no mupc metadata (format \"mupc-1\"); a file with only "
                       "layers.{i}.weight tensors can be loaded with 'mupc train --init'"},
      {"format", "mupc-2", ": metadata format is \"mupc-2\", expected \"mupc-1\""},
      {"width", NULL, ": metadata has no \"width\""},
      {"optim_t", NULL, ": metadata has no \"optim_t\""},
      {"total_steps", NULL, ": metadata has no \"total_steps\""},
      {"data_dir", NULL, ": metadata has no \"data_dir\""},
      {"norm_std", NULL, ": metadata has no \"norm_std\""},
      {"epoch", NULL, ": metadata has no \"epoch\""},
      {"depth", "x", ": metadata \"depth\" has a bad value \"x\""},
      {"act", "sigmoid", ": metadata \"act\" has a bad value \"sigmoid\""},
      {"lr", "nan", ": metadata \"lr\" has a bad value \"nan\""},
      {"seed", "-1", ": metadata \"seed\" has a bad value \"-1\""},
      {"step", "1.5", ": metadata \"step\" has a bad value \"1.5\""},
      {"data_format", "jpeg", ": metadata \"data_format\" has a bad value \"jpeg\""},
      {"data_label", "medium", ": metadata \"data_label\" has a bad value \"medium\""},
      {"norm", "1,2,3", ": metadata \"norm\" has a bad value \"1,2,3\""},
      {"norm", "0.5,0", ": metadata \"norm\" has a bad value \"0.5,0\""},
      {"depth", "1", ": metadata: depth must be >= 2 weight matrices"},
      {"step", "-1", ": metadata: step, epoch, epoch_step, total_steps and optim_t must be >= 0, "
                     "train_count >= batch and norm_std > 0"},
      {"train_count", "31", ": metadata: step, epoch"},
      {"norm_std", "0", ": metadata: step, epoch"},
      {"optim_t", "-2", ": metadata: step, epoch"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    edit(old_file(10), f, cases[i].key, cases[i].value);
    char want[512];
    snprintf(want, sizeof want, "%s%s", f, cases[i].message);
    expect_read_error(f, MUPC_EFORMAT, want);
  }
  /* Not a safetensors file at all: the reader's message, naming it. */
  FILE *fp = fopen(f, "w");
  assert_non_null(fp);
  fputs("layers.0.weight = [[1, 2], [3, 4]]\n", fp);
  fclose(fp);
  expect_read_error(f, MUPC_EFORMAT, "not a safetensors file");
  expect_read_error(tmp("nosuch.st"), MUPC_EIO, "cannot open");
  mupc_checkpoint c;
  assert_int_equal(mupc_checkpoint_read(NULL, &c), MUPC_EINVAL);
}

/* Without the run's keys a file is a net alone: only the net rows and
 * optim_t are needed. */
static void test_net_only_metadata(void **state) {
  (void)state;
  static const char *const run_keys[] = {"step",    "epoch",    "epoch_step",  "train_count",
                                         "total_steps", "shuffle", "data_dir", "norm_mean",
                                         "norm_std"};
  const char *a = tmp("net-a.st"), *b = tmp("net-b.st");
  edit(old_file(20), a, run_keys[0], NULL);
  for (size_t i = 1; i < sizeof run_keys / sizeof run_keys[0]; i++) edit(a, a, run_keys[i], NULL);
  mupc_checkpoint *c = calloc(1, sizeof *c);
  assert_non_null(c);
  assert_int_equal(mupc_checkpoint_read(a, c), MUPC_OK);
  assert_int_equal(c->has_run, 0);
  assert_true(c->optim_t == 20 && c->step == 0 && c->train_count == 0);
  assert_int_equal(c->p.width, 16);
  assert_true(c->o.steps == 1500); /* the defaults */
  edit(a, b, "optim_t", NULL);
  expect_read_error(b, MUPC_EFORMAT, ": metadata has no \"optim_t\"");
  free(c);
}

/* ---- with a device ---------------------------------------------------------- */

/* One context on the first test device for every device test; NULL:
 * none, they skip. */
static mupc_ctx *ctx;

static mupc_net_params tiny(void) {
  mupc_net_params p = mupc_net_default_params();
  p.input_dim = 8;
  p.width = 6;
  p.output_dim = 3;
  p.depth = 3;
  p.batch = 4;
  p.infer_steps = 3;
  return p;
}

/* A net after two training steps, so that Adam's m and v are not zero. */
static mupc_net *trained(const mupc_net_params *p) {
  mupc_net *net = NULL;
  assert_int_equal(mupc_net_init(&net, ctx, p), MUPC_OK);
  float x[4 * 8], y[4 * 3] = {0};
  for (int i = 0; i < 32; i++) x[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
  for (int b = 0; b < 4; b++) y[b * 3 + b % 3] = 1.0f;
  mupc_step_stats s;
  for (int k = 0; k < 2; k++) assert_int_equal(mupc_net_train_step(net, x, y, &s), MUPC_OK);
  return net;
}

/* Every tensor of kind, layer by layer, bit for bit. */
static void assert_same(mupc_net *a, mupc_net *b, mupc_tensor_kind kind) {
  for (int l = 0; l < mupc_net_get_params(a)->depth; l++) {
    const size_t n = mupc_net_tensor_size(a, kind, l);
    assert_int_equal(n, mupc_net_tensor_size(b, kind, l));
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    assert_true(x && y);
    assert_int_equal(mupc_net_read(a, kind, l, x), MUPC_OK);
    assert_int_equal(mupc_net_read(b, kind, l, y), MUPC_OK);
    assert_memory_equal(x, y, n * sizeof *x);
    free(x);
    free(y);
  }
}

static void test_save_load(void **state) {
  (void)state;
  if (!ctx) skip();
  const mupc_net_params p = tiny();
  mupc_net *a = trained(&p);
  const char *path = tmp("net.st");
  assert_int_equal(mupc_net_save(a, path), MUPC_OK);

  mupc_checkpoint *c = calloc(1, sizeof *c);
  assert_non_null(c);
  assert_int_equal(mupc_checkpoint_read(path, c), MUPC_OK);
  assert_int_equal(c->has_run, 0);
  assert_string_equal(c->version, MUPC_VERSION);
  assert_memory_equal(&c->p, &p, sizeof p);
  assert_true(c->optim_t == 2);

  mupc_net_params q = p;
  q.seed = 99;
  mupc_net *b = NULL;
  assert_int_equal(mupc_net_init(&b, ctx, &q), MUPC_OK);
  assert_int_equal(mupc_net_load(b, path), MUPC_OK);
  assert_same(a, b, MUPC_T_WEIGHT);
  assert_same(a, b, MUPC_T_ADAM_M);
  assert_same(a, b, MUPC_T_ADAM_V);
  assert_true(mupc_net_optim_step(b) == 2);

  /* Only the weights: Adam's state stays the net's own. */
  mupc_net *w = NULL;
  assert_int_equal(mupc_net_init(&w, ctx, &q), MUPC_OK);
  assert_int_equal(mupc_net_load_weights(w, path), MUPC_OK);
  assert_same(a, w, MUPC_T_WEIGHT);
  assert_true(mupc_net_optim_step(w) == 0);

  mupc_net_free(w);
  mupc_net_free(b);
  mupc_net_free(a);
  free(c);
}

/* A trainer's snapshot: every keyed row, the position and optim_t come
 * back as they went in; the tensors are the net's at the take. */
static void test_snapshot(void **state) {
  (void)state;
  if (!ctx) skip();
  const mupc_net_params p = tiny();
  mupc_net *a = trained(&p);
  mupc_checkpoint *m = calloc(1, sizeof *m), *c = calloc(1, sizeof *c);
  assert_true(m && c);
  m->p = p;
  m->p.batch = 8; /* the global batch of two ranks */
  m->p.lr = 0.3f;
  m->p.act = MUPC_ACT_GELU;
  m->has_run = 1;
  m->o = mupc_train_default_opts();
  m->o.steps = 77;
  m->o.shuffle = 0;
  m->o.data.format = MUPC_DATA_TENSORS;
  m->o.data.coarse = 1;
  m->o.data.channels = 2;
  m->o.data.mean[0] = 0.25f, m->o.data.mean[1] = 0.125f;
  m->o.data.std[0] = 2.0f, m->o.data.std[1] = 0.1f;
  snprintf(m->o.data_dir, sizeof m->o.data_dir, "/data/set");
  m->step = 13, m->epoch = 3, m->epoch_step = 1, m->train_count = 16, m->optim_t = 13;
  mupc__snapshot *s = NULL;
  assert_int_equal(mupc__snapshot_take(a, m, &s), MUPC_OK);
  assert_true(mupc__snapshot_step(s) == 13);
  /* A later step must not change what was taken. */
  float x[32] = {0}, y[12] = {0};
  mupc_step_stats st;
  assert_int_equal(mupc_net_train_step(a, x, y, &st), MUPC_OK);
  const char *path = tmp("snap.st");
  assert_int_equal(mupc__snapshot_write(s, path), MUPC_OK);
  mupc__snapshot_free(s);
  mupc__snapshot_free(NULL);

  assert_int_equal(mupc_checkpoint_read(path, c), MUPC_OK);
  assert_int_equal(c->has_run, 1);
  assert_memory_equal(&c->p, &m->p, sizeof m->p);
  assert_true(c->step == 13 && c->epoch == 3 && c->epoch_step == 1 && c->train_count == 16);
  assert_true(c->optim_t == 13 && c->o.steps == 77 && c->o.shuffle == 0);
  assert_string_equal(c->o.data_dir, "/data/set");
  assert_int_equal(c->o.data.format, MUPC_DATA_TENSORS);
  assert_int_equal(c->o.data.coarse, 1);
  assert_int_equal(c->o.data.channels, 2);
  assert_memory_equal(c->o.data.mean, m->o.data.mean, 2 * sizeof(float));
  assert_memory_equal(c->o.data.std, m->o.data.std, 2 * sizeof(float));
  /* The legacy keys hold channel 0, as older readers expect. */
  mupc_st_file f;
  memset(&f, 0, sizeof f);
  assert_int_equal(mupc_st_read(path, &f), MUPC_OK);
  assert_string_equal(mupc_st_meta(&f, "norm_mean"), "0.25");
  assert_string_equal(mupc_st_meta(&f, "norm_std"), "2");
  assert_string_equal(mupc_st_meta(&f, "norm"), "0.25,0.125,2,0.1");
  assert_string_equal(mupc_st_meta(&f, "format"), "mupc-1");
  assert_string_equal(mupc_st_meta(&f, "lr"), "0.3");
  /* The tensors as taken, before the extra step. */
  mupc_net *b = NULL;
  assert_int_equal(mupc_net_init(&b, ctx, &p), MUPC_OK);
  assert_int_equal(mupc__checkpoint_load_tensors(b, &f, path, 1, c->optim_t), MUPC_OK);
  assert_true(mupc_net_optim_step(b) == 13);
  mupc_st_free(&f);
  mupc_net *a2 = trained(&p);
  assert_same(a2, b, MUPC_T_WEIGHT);
  assert_same(a2, b, MUPC_T_ADAM_V);
  mupc_net_free(a2);
  mupc_net_free(b);
  mupc_net_free(a);
  free(m);
  free(c);
}

/* The 0.1.0 checkpoints load into a net with their parameters. */
static void test_old_files_load(void **state) {
  (void)state;
  if (!ctx) skip();
  mupc_checkpoint *c = calloc(1, sizeof *c);
  assert_non_null(c);
  assert_int_equal(mupc_checkpoint_read(old_file(20), c), MUPC_OK);
  mupc_net *net = NULL;
  assert_int_equal(mupc_net_init(&net, ctx, &c->p), MUPC_OK);
  assert_int_equal(mupc_net_load(net, old_file(20)), MUPC_OK);
  assert_true(mupc_net_optim_step(net) == 20);
  mupc_st_file f;
  memset(&f, 0, sizeof f);
  assert_int_equal(mupc_st_read(old_file(20), &f), MUPC_OK);
  float w[16 * 16];
  assert_int_equal(mupc_net_read(net, MUPC_T_ADAM_V, 3, w), MUPC_OK);
  assert_memory_equal(w, mupc_st_find(&f, "optim.layers.3.v")->data, sizeof w);
  mupc_st_free(&f);
  mupc_net_free(net);
  free(c);
}

static void expect_load_error(mupc_net *net, const char *path, int weights_only, int status,
                              const char *text) {
  const int got = weights_only ? mupc_net_load_weights(net, path) : mupc_net_load(net, path);
  if (got != status || strncmp(mupc_errmsg(), path, strlen(path)) != 0 ||
      !strstr(mupc_errmsg(), text))
    fail_msg("%s: expected status %d with \"%s\", got %d: %s", path, status, text, got,
             mupc_errmsg());
}

static void test_shapes(void **state) {
  (void)state;
  if (!ctx) skip();
  const mupc_net_params p = tiny();
  mupc_net *a = trained(&p);
  const char *path = tmp("shapes.st");
  assert_int_equal(mupc_net_save(a, path), MUPC_OK);

  mupc_net_params q = p;
  q.width = 5;
  mupc_net *n = NULL;
  assert_int_equal(mupc_net_init(&n, ctx, &q), MUPC_OK);
  expect_load_error(n, path, 1, MUPC_ESHAPE,
                    ": tensor \"layers.0.weight\" has shape [6, 8], expected [5, 8]");
  mupc_net_free(n);

  q = p;
  q.depth = 2;
  assert_int_equal(mupc_net_init(&n, ctx, &q), MUPC_OK);
  expect_load_error(n, path, 0, MUPC_ESHAPE,
                    " holds \"layers.2.weight\": more weight matrices than the depth 2 asked for");
  expect_load_error(n, path, 1, MUPC_ESHAPE, "more weight matrices than the depth 2");
  mupc_net_free(n);

  q = p;
  q.depth = 4;
  assert_int_equal(mupc_net_init(&n, ctx, &q), MUPC_OK);
  expect_load_error(n, path, 0, MUPC_ESHAPE,
                    ": tensor \"layers.2.weight\" has shape [3, 6], expected [6, 6]");
  mupc_net_free(n);

  /* An SGD file has no Adam state for an Adam net. */
  q = p;
  q.optim = MUPC_OPTIM_SGD;
  mupc_net *sgd = NULL;
  assert_int_equal(mupc_net_init(&sgd, ctx, &q), MUPC_OK);
  const char *sgd_path = tmp("sgd.st");
  assert_int_equal(mupc_net_save(sgd, sgd_path), MUPC_OK);
  assert_int_equal(mupc_net_init(&n, ctx, &p), MUPC_OK);
  expect_load_error(n, sgd_path, 0, MUPC_EFORMAT, " has no tensor \"optim.layers.0.m\"");
  assert_int_equal(mupc_net_load_weights(n, sgd_path), MUPC_OK);
  mupc_net_free(n);
  mupc_net_free(sgd);

  /* A plain file of weights: load_weights takes it, load wants metadata;
   * without its last layer it is short of a tensor. */
  mupc_st_file f;
  memset(&f, 0, sizeof f);
  assert_int_equal(mupc_st_read(path, &f), MUPC_OK);
  mupc_st_file plain = {.tensors = f.tensors, .ntensors = 3};
  const char *plain_path = tmp("plain.st"), *short_path = tmp("short.st");
  assert_int_equal(mupc_st_write(plain_path, &plain), MUPC_OK);
  plain.ntensors = 2;
  assert_int_equal(mupc_st_write(short_path, &plain), MUPC_OK);
  mupc_st_free(&f);
  assert_int_equal(mupc_net_init(&n, ctx, &p), MUPC_OK);
  assert_int_equal(mupc_net_load_weights(n, plain_path), MUPC_OK);
  assert_same(a, n, MUPC_T_WEIGHT);
  expect_load_error(n, plain_path, 0, MUPC_EFORMAT, " has no mupc metadata");
  expect_load_error(n, short_path, 1, MUPC_EFORMAT,
                    " has no tensor \"layers.2.weight\" (expected shape [3, 6])");
  assert_int_equal(mupc_net_load(n, NULL), MUPC_EINVAL);
  assert_int_equal(mupc_net_save(NULL, path), MUPC_EINVAL);
  mupc_net_free(n);
  mupc_net_free(a);
}

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/mupc-checkpoint-XXXXXX");
  if (!mkdtemp(tmpdir)) return -1;
  const char *specs[4];
  const int n = testdev_specs(specs, 4);
  if (n < 0) return -1;
  return n > 0 && mupc_ctx_init(&ctx, specs[0]) != MUPC_OK ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  mupc_ctx_free(ctx);
  for (int i = 0; i < npaths; i++) unlink(paths[i]);
  rmdir(tmpdir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_old_files),       cmocka_unit_test(test_data_keys),
      cmocka_unit_test(test_bad_metadata),    cmocka_unit_test(test_net_only_metadata),
      cmocka_unit_test(test_save_load),       cmocka_unit_test(test_snapshot),
      cmocka_unit_test(test_old_files_load),  cmocka_unit_test(test_shapes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
