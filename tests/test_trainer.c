/* The library's trainer on a tiny in-memory data set: its batch order is
 * mupc_shuffle_rng's (or file order) with the partial batch dropped; save,
 * load and continue equals an uninterrupted run byte for byte; two ranks
 * (two nets in two threads, summing through a shared buffer) end with the
 * weights of one net with the global batch; evaluation matches the
 * double-precision reference; periodic checkpoints are held back until the
 * next step proves them finite, and a divergence discards them. Runs on the
 * first OpenCL implementation present (the trainer's logic is the host's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mupc.h"
#include "ref/ref.h"
#include "testdev.h"

#define COUNT 100 /* 12 batches of 8 an epoch, 4 samples dropped */
#define DIM 12
#define CLASSES 3

static const char *spec;
static char dir[64];
static mupc_dataset data, fewer; /* fewer: 96 of the samples */

static void make_data(mupc_dataset *d, int count) {
  static float x[COUNT * DIM];
  static int32_t labels[COUNT];
  uint64_t s = 99;
  for (int i = 0; i < COUNT * DIM; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)((double)(s >> 11) * 0x1.0p-53 * 2 - 1);
  }
  /* A label the inputs predict, so that training moves the loss. */
  for (int i = 0; i < COUNT; i++)
    labels[i] = (x[i * DIM] > 0.3f) + (x[i * DIM] > -0.3f);
  *d = (mupc_dataset){.count = count,
                      .dim = DIM,
                      .rows = 1,
                      .cols = DIM,
                      .classes = CLASSES,
                      .x = x,
                      .labels = labels};
}

static mupc_net_params params(void) {
  mupc_net_params p = mupc_net_default_params();
  p.input_dim = DIM;
  p.output_dim = CLASSES;
  p.width = 8;
  p.depth = 3;
  p.batch = 8;
  p.infer_steps = 3;
  p.seed = 7;
  return p;
}

static mupc_train_opts opts(int64_t steps) {
  mupc_train_opts o = mupc_train_default_opts();
  o.steps = steps;
  o.eval_every = 0;
  return o;
}

static void path(char *dst, const char *name) {
  snprintf(dst, MUPC_PATH_MAX, "%s/%s", dir, name);
}

static int setup(void **state) {
  (void)state;
  const char *specs[4];
  int n = testdev_specs(specs, 4);
  if (n < 0) return -1;
  spec = n > 0 ? specs[0] : NULL;
  snprintf(dir, sizeof dir, "/tmp/mupc-trainer-XXXXXX");
  if (!mkdtemp(dir)) return -1;
  make_data(&data, COUNT);
  make_data(&fewer, 96);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

typedef struct run {
  mupc_ctx *ctx;
  mupc_net *net;
  mupc_trainer *tr;
} run;

static void start(run *r, const mupc_net_params *p, const mupc_dataset *test,
                  const mupc_train_opts *o) {
  if (!spec) skip();
  memset(r, 0, sizeof *r);
  assert_int_equal(mupc_ctx_init(&r->ctx, spec), MUPC_OK);
  assert_int_equal(mupc_net_init(&r->net, r->ctx, p), MUPC_OK);
  assert_int_equal(mupc_trainer_init(&r->tr, r->net, &data, test, o), MUPC_OK);
}

static void stop(run *r) {
  mupc_trainer_free(r->tr);
  mupc_net_free(r->net);
  mupc_ctx_free(r->ctx);
}

/* Every weight, layer after layer, into a malloc'd array. */
static float *weights(mupc_net *net, size_t *n) {
  const int L = mupc_net_get_params(net)->depth;
  *n = 0;
  for (int l = 0; l < L; l++)
    *n += mupc_net_tensor_size(net, MUPC_T_WEIGHT, l);
  float *w = malloc(*n * sizeof *w), *at = w;
  assert_non_null(w);
  for (int l = 0; l < L; at += mupc_net_tensor_size(net, MUPC_T_WEIGHT, l++))
    assert_int_equal(mupc_net_read(net, MUPC_T_WEIGHT, l, at), MUPC_OK);
  return w;
}

static void step_ok(run *r, mupc_train_metrics *m) {
  const int st = mupc_trainer_step(r->tr, m);
  if (st) fail_msg("step: %s", mupc_errmsg());
}

/* ---- batch order ----------------------------------------------------------- */

/* 30 steps (into the third epoch) through the trainer and through
 * mupc_net_train_step on batches gathered by hand give the same bytes. */
static void order_case(int shuffle) {
  const mupc_net_params p = params();
  mupc_train_opts o = opts(30);
  o.shuffle = shuffle;
  run a, b;
  start(&a, &p, NULL, &o);
  start(&b, &p, NULL, &o);
  assert_int_equal(mupc_trainer_steps_per_epoch(a.tr), 12);
  assert_int_equal(mupc_trainer_total_steps(a.tr), 30);
  uint32_t perm[COUNT];
  float x[8 * DIM], y[8 * CLASSES];
  for (int s = 0; s < 30; s++) {
    mupc_train_metrics m;
    step_ok(&a, &m);
    assert_int_equal(m.step, s + 1);
    assert_int_equal(m.epoch, s / 12 + 1);
    assert_false(m.evaluated);
    for (uint32_t i = 0; i < COUNT; i++)
      perm[i] = i;
    if (shuffle) mupc_shuffle_rng(p.rng, perm, COUNT, p.seed, (uint64_t)(s / 12));
    mupc_dataset_gather(&data, perm + s % 12 * 8, 8, x, y);
    mupc_step_stats st;
    assert_int_equal(mupc_net_train_step(b.net, x, y, &st), MUPC_OK);
    assert_true(st.train_loss == m.train_loss && st.energy == m.energy);
  }
  assert_int_equal(mupc_trainer_position(a.tr), 30);
  size_t n, n2;
  float *wa = weights(a.net, &n), *wb = weights(b.net, &n2);
  assert_int_equal(n, n2);
  assert_memory_equal(wa, wb, n * sizeof *wa);
  free(wa);
  free(wb);
  stop(&a);
  stop(&b);
}

static void test_batch_order(void **state) {
  (void)state;
  order_case(1);
  order_case(0);
}

/* ---- save, load, continue ------------------------------------------------- */

static int same_file(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int same = fa && fb, ca, cb;
  while (same && (ca = fgetc(fa)) == (cb = fgetc(fb)) && ca != EOF) {
  }
  same = same && ca == cb;
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

/* The whole run in steps, or its first k steps saved, loaded by a fresh
 * trainer and continued: the same checkpoint, byte for byte. */
static void test_save_load_continue(void **state) {
  (void)state;
  const mupc_net_params p = params();
  mupc_train_opts o = opts(20);
  o.epochs = 0;
  char full[MUPC_PATH_MAX], half[MUPC_PATH_MAX], resumed[MUPC_PATH_MAX];
  path(full, "full.st");
  path(half, "half.st");
  path(resumed, "resumed.st");
  run a, b, c;
  start(&a, &p, &data, &o);
  assert_int_equal(mupc_trainer_run(a.tr, NULL, NULL), MUPC_OK);
  assert_int_equal(mupc_trainer_save(a.tr, full), MUPC_OK);
  start(&b, &p, &data, &o);
  mupc_train_metrics m;
  for (int s = 0; s < 13; s++)
    step_ok(&b, &m); /* past an epoch: a new order after loading */
  assert_int_equal(mupc_trainer_save(b.tr, half), MUPC_OK);
  mupc_checkpoint ck;
  assert_int_equal(mupc_checkpoint_read(half, &ck), MUPC_OK);
  assert_true(ck.has_run);
  assert_int_equal(ck.step, 13);
  assert_int_equal(ck.epoch, 1);
  assert_int_equal(ck.epoch_step, 1);
  assert_int_equal(ck.train_count, COUNT);
  assert_int_equal(ck.o.steps, 20);
  start(&c, &p, &data, &o);
  assert_int_equal(mupc_trainer_load(c.tr, half), MUPC_OK);
  assert_int_equal(mupc_trainer_position(c.tr), 13);
  assert_int_equal(mupc_trainer_run(c.tr, NULL, NULL), MUPC_OK);
  assert_int_equal(mupc_trainer_save(c.tr, resumed), MUPC_OK);
  assert_true(same_file(full, resumed));
  assert_false(same_file(full, half));
  stop(&a);
  stop(&b);
  stop(&c);
}

static void expect_load_error(const mupc_net_params *p, const mupc_dataset *d, const char *file,
                              const char *want) {
  run r;
  start(&r, p, NULL, NULL);
  if (d != &data) {
    mupc_trainer_free(r.tr);
    assert_int_equal(mupc_trainer_init(&r.tr, r.net, d, NULL, NULL), MUPC_OK);
  }
  assert_int_equal(mupc_trainer_load(r.tr, file), MUPC_EINVAL);
  if (!strstr(mupc_errmsg(), file) || !strstr(mupc_errmsg(), want))
    fail_msg("load: '%s' should name %s and %s", mupc_errmsg(), file, want);
  assert_int_equal(mupc_trainer_position(r.tr), 0);
  stop(&r);
}

/* A checkpoint of another net, data set or of a net alone is refused with
 * a message naming the file and what differs. */
static void test_load_mismatch(void **state) {
  (void)state;
  mupc_net_params p = params();
  char file[MUPC_PATH_MAX], alone[MUPC_PATH_MAX];
  path(file, "mismatch.st");
  path(alone, "alone.st");
  run r;
  start(&r, &p, NULL, NULL);
  mupc_train_metrics m;
  step_ok(&r, &m);
  assert_int_equal(mupc_trainer_save(r.tr, file), MUPC_OK);
  assert_int_equal(mupc_net_save(r.net, alone), MUPC_OK);
  stop(&r);
  mupc_net_params q = p;
  q.lr = 0.05f;
  expect_load_error(&q, &data, file, "lr");
  q = p;
  q.seed = 8;
  expect_load_error(&q, &data, file, "seed");
  expect_load_error(&p, &fewer, file, "96");
  expect_load_error(&p, &data, alone, "mupc_net_load");
  /* Values compare as --resume compares them: a weight decay of -0 is the
   * checkpoint's 0, not another run. */
  q = p;
  q.weight_decay = -0.0f;
  start(&r, &q, NULL, NULL);
  if (mupc_trainer_load(r.tr, file) != MUPC_OK) fail_msg("load with -0: %s", mupc_errmsg());
  assert_int_equal(mupc_trainer_position(r.tr), 1);
  stop(&r);
}

/* ---- two ranks ---------------------------------------------------------------- */

/* An all-reduce over two threads: each puts its values in its slot, and
 * both add the slots in rank order, so they get the same bits. */
typedef struct shared {
  pthread_barrier_t barrier;
  double *slot[2];
  size_t n;
  int fail; /* 1: sum_floats fails, to see the trainer pass it on */
} shared;

typedef struct rank {
  shared *sh;
  int rank;
  run r;
  mupc_net_params p;
  mupc_train_metrics m[6];
  mupc_eval_result ev;
  int st;
} rank;

static int sum_doubles(double *v, size_t n, void *arg) {
  rank *k = arg;
  shared *sh = k->sh;
  sh->slot[k->rank] = v;
  sh->n = n;
  pthread_barrier_wait(&sh->barrier);
  double *sum = malloc(n * sizeof *sum);
  for (size_t i = 0; sum && i < n; i++)
    sum[i] = sh->slot[0][i] + sh->slot[1][i];
  pthread_barrier_wait(&sh->barrier);
  if (sum) memcpy(v, sum, n * sizeof *v);
  free(sum);
  pthread_barrier_wait(&sh->barrier);
  return sum ? MUPC_OK : MUPC_ENOMEM;
}

static int sum_floats(float *v, size_t n, void *arg) {
  rank *k = arg;
  if (k->sh->fail) return MUPC_EIO;
  double *d = malloc(n * sizeof *d);
  if (!d) return MUPC_ENOMEM;
  for (size_t i = 0; i < n; i++)
    d[i] = v[i];
  /* A sum of two floats is exact in double; rounded once, as MPI's is. */
  const int st = sum_doubles(d, n, arg);
  for (size_t i = 0; i < n; i++)
    v[i] = (float)d[i];
  free(d);
  return st;
}

static void *rank_main(void *arg) {
  rank *k = arg;
  mupc_net_params local = mupc_net_shard_params(&k->p, 2);
  const mupc_train_opts o = opts(6);
  const mupc_reduce red = {k->rank, 2, sum_floats, sum_doubles, k};
  run *r = &k->r;
  k->st = mupc_ctx_init(&r->ctx, spec);
  if (!k->st) k->st = mupc_net_init(&r->net, r->ctx, &local);
  if (!k->st) k->st = mupc_trainer_init(&r->tr, r->net, &data, &data, &o);
  if (!k->st) k->st = mupc_trainer_set_reduce(r->tr, &red);
  for (int s = 0; s < 6 && !k->st; s++)
    k->st = mupc_trainer_step(r->tr, &k->m[s]);
  if (!k->st) k->st = mupc_trainer_evaluate(r->tr, NULL, &k->ev);
  return NULL;
}

static void two_ranks(shared *sh, rank k[2]) {
  pthread_barrier_init(&sh->barrier, NULL, 2);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) {
    k[i] = (rank){.sh = sh, .rank = i, .p = params()};
    pthread_create(&t[i], NULL, rank_main, &k[i]);
  }
  for (int i = 0; i < 2; i++)
    pthread_join(t[i], NULL);
  pthread_barrier_destroy(&sh->barrier);
}

static void test_two_ranks(void **state) {
  (void)state;
  if (!spec) skip();
  shared sh = {0};
  rank k[2];
  two_ranks(&sh, k);
  for (int i = 0; i < 2; i++)
    if (k[i].st) fail_msg("rank %d: %s", i, mupc_strerror(k[i].st));
  assert_int_equal(mupc_trainer_steps_per_epoch(k[0].r.tr), 12); /* global batches */
  const mupc_net_params p = params();
  const mupc_train_opts o = opts(6);
  run one;
  start(&one, &p, &data, &o);
  for (int s = 0; s < 6; s++) {
    mupc_train_metrics m;
    step_ok(&one, &m);
    /* Both ranks report the mean over the ranks: the global batch's. */
    assert_true(k[0].m[s].train_loss == k[1].m[s].train_loss);
    assert_float_equal(k[0].m[s].train_loss, m.train_loss, 1e-5 * m.train_loss);
    assert_float_equal(k[0].m[s].energy, m.energy, 1e-4 * m.energy);
  }
  size_t n;
  float *w0 = weights(k[0].r.net, &n), *w1 = weights(k[1].r.net, &n), *w = weights(one.net, &n);
  assert_memory_equal(w0, w1, n * sizeof *w0); /* the same summed gradient everywhere */
  const double diff = testdev_rel_diff(w0, w, n);
  printf("two ranks against one net with the global batch: weights %.3g apart\n", diff);
  assert_true(diff <= 1e-4);
  /* Each rank predicted half the test set; together, the whole of it. */
  mupc_eval_result ev;
  assert_int_equal(mupc_evaluate(one.net, &data, &ev), MUPC_OK);
  assert_int_equal(k[0].ev.count, COUNT);
  assert_true(k[0].ev.acc == k[1].ev.acc && k[0].ev.loss == k[1].ev.loss);
  assert_true(fabs(k[0].ev.acc - ev.acc) <= 1.0 / COUNT);
  assert_float_equal(k[0].ev.loss, ev.loss, 1e-4 * ev.loss);
  free(w0);
  free(w1);
  free(w);
  stop(&one);
  for (int i = 0; i < 2; i++)
    stop(&k[i].r);
  /* A failing sum fails the step on both ranks. */
  sh.fail = 1;
  two_ranks(&sh, k);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(k[i].st, MUPC_EIO);
    assert_int_equal(mupc_trainer_position(k[i].r.tr), 0);
    stop(&k[i].r);
  }
}

/* ---- evaluation ----------------------------------------------------------- */

/* mupc_evaluate against the reference's feedforward of the whole set in
 * double precision: the loss is its training loss against one-hot labels
 * (DESIGN §3), the accuracy its argmax. */
static void eval_case(mupc_loss loss) {
  mupc_net_params p = params();
  p.loss = loss;
  const mupc_train_opts o = opts(10);
  run r;
  start(&r, &p, &data, &o);
  assert_int_equal(mupc_trainer_run(r.tr, NULL, NULL), MUPC_OK);
  mupc_eval_result ev, ev2;
  assert_int_equal(mupc_evaluate(r.net, &data, &ev), MUPC_OK);
  assert_int_equal(mupc_trainer_evaluate(r.tr, NULL, &ev2), MUPC_OK);
  assert_true(ev.acc == ev2.acc && ev.loss == ev2.loss && ev2.count == COUNT);
  mupc_net_params all = p;
  all.batch = COUNT;
  ref_net ref;
  assert_int_equal(ref_init(&ref, &all), 0);
  size_t n;
  float *w = weights(r.net, &n), *at = w;
  for (int l = 0; l < p.depth; at += mupc_net_tensor_size(r.net, MUPC_T_WEIGHT, l++))
    ref_set_weight(&ref, l, at);
  static float y[COUNT * CLASSES];
  uint32_t idx[COUNT];
  static float x[COUNT * DIM];
  for (uint32_t i = 0; i < COUNT; i++)
    idx[i] = i;
  mupc_dataset_gather(&data, idx, COUNT, x, y);
  ref_set_batch(&ref, x, y);
  const double want_loss = ref_feedforward(&ref);
  double *logits = malloc(sizeof *logits * COUNT * CLASSES);
  assert_non_null(logits);
  ref_forward_layer(&ref, p.depth - 1, ref.z[p.depth - 2], logits);
  int right = 0;
  for (int i = 0; i < COUNT; i++) {
    int best = 0;
    for (int c = 1; c < CLASSES; c++)
      if (logits[i * CLASSES + c] > logits[i * CLASSES + best]) best = c;
    right += best == data.labels[i];
  }
  printf("%s: accuracy %.2f (reference %.2f), loss %.6g (reference %.6g)\n", mupc_loss_name(loss),
         ev.acc, (double)right / COUNT, ev.loss, want_loss);
  assert_int_equal(ev.count, COUNT);
  assert_true(fabs(ev.acc - (double)right / COUNT) <= 1.0 / COUNT);
  assert_float_equal(ev.loss, want_loss, 1e-4 * want_loss);
  free(logits);
  free(w);
  ref_free(&ref);
  stop(&r);
}

static void test_evaluate(void **state) {
  (void)state;
  eval_case(MUPC_LOSS_MSE);
  eval_case(MUPC_LOSS_CE);
}

/* ---- periodic checkpoints, divergence, callbacks -------------------------- */

static int exists(const char *file) {
  struct stat st;
  return stat(file, &st) == 0;
}

/* save_every 2: the checkpoint of step 2 is written after step 3, and
 * records step 2; none is held back at the last planned step. */
static void test_save_every(void **state) {
  (void)state;
  const mupc_net_params p = params();
  mupc_train_opts o = opts(6);
  path(o.save, "every.st");
  o.save_every = 2;
  o.eval_every = 2;
  run r;
  start(&r, &p, &data, &o);
  const int64_t saved_after[6] = {-1, -1, 2, 2, 4, 4};
  for (int s = 0; s < 6; s++) {
    mupc_train_metrics m;
    step_ok(&r, &m);
    assert_int_equal(mupc_trainer_saved_step(r.tr), saved_after[s]);
    assert_int_equal(exists(o.save), s >= 2);
    /* Every second step but the last is evaluated. */
    assert_int_equal(m.evaluated, (s + 1) % 2 == 0 && s + 1 != 6);
    if (m.evaluated) assert_true(m.test_acc >= 0 && m.test_acc <= 1 && m.test_loss > 0);
    if (s >= 2) {
      mupc_checkpoint ck;
      assert_int_equal(mupc_checkpoint_read(o.save, &ck), MUPC_OK);
      assert_int_equal(ck.step, saved_after[s]);
    }
  }
  stop(&r);
}

/* SGD at lr 1e20 diverges at step 2: the checkpoint of step 1 held back
 * is discarded, the file already there survives, the step's metrics show
 * the non-finite loss. */
static void test_divergence(void **state) {
  (void)state;
  mupc_net_params p = params();
  p.optim = MUPC_OPTIM_SGD;
  p.lr = 1e20f;
  mupc_train_opts o = opts(10);
  path(o.save, "div.st");
  o.save_every = 1;
  FILE *f = fopen(o.save, "w");
  assert_non_null(f);
  fputs("old", f);
  fclose(f);
  run r;
  start(&r, &p, NULL, &o);
  mupc_train_metrics m;
  step_ok(&r, &m);
  assert_int_equal(mupc_trainer_step(r.tr, &m), MUPC_ENONFINITE);
  assert_int_equal(m.step, 2);
  assert_false(isfinite(m.train_loss) && isfinite(m.energy));
  assert_int_equal(mupc_trainer_saved_step(r.tr), -1);
  struct stat st;
  assert_int_equal(stat(o.save, &st), 0);
  assert_int_equal(st.st_size, 3);
  stop(&r);
}

static int stop_at_4(const mupc_train_metrics *m, void *arg) {
  ++*(int *)arg;
  return m->step == 4;
}

static void test_run_callback(void **state) {
  (void)state;
  const mupc_net_params p = params();
  const mupc_train_opts o = opts(10);
  run r;
  start(&r, &p, NULL, &o);
  int calls = 0;
  assert_int_equal(mupc_trainer_run(r.tr, stop_at_4, &calls), MUPC_EINTR);
  assert_int_equal(calls, 4);
  assert_int_equal(mupc_trainer_position(r.tr), 4);
  assert_int_equal(mupc_trainer_set_total_steps(r.tr, 6), MUPC_OK);
  assert_int_equal(mupc_trainer_run(r.tr, stop_at_4, &calls), MUPC_OK);
  assert_int_equal(calls, 6);
  assert_int_equal(mupc_trainer_position(r.tr), 6);
  stop(&r);
  /* Epochs plan the run: 2 of 12 batches. */
  mupc_train_opts e = o;
  e.epochs = 2;
  start(&r, &p, NULL, &e);
  assert_int_equal(mupc_trainer_total_steps(r.tr), 24);
  stop(&r);
}

/* A training set without one full batch is refused. */
static void test_too_small(void **state) {
  (void)state;
  if (!spec) skip();
  mupc_net_params p = params();
  run r = {0};
  assert_int_equal(mupc_ctx_init(&r.ctx, spec), MUPC_OK);
  p.batch = COUNT + 1;
  assert_int_equal(mupc_net_init(&r.net, r.ctx, &p), MUPC_OK);
  assert_int_equal(mupc_trainer_init(&r.tr, r.net, &data, NULL, NULL), MUPC_EINVAL);
  assert_non_null(strstr(mupc_errmsg(), "no full batch"));
  r.tr = NULL;
  stop(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batch_order),   cmocka_unit_test(test_save_load_continue),
      cmocka_unit_test(test_load_mismatch), cmocka_unit_test(test_two_ranks),
      cmocka_unit_test(test_evaluate),      cmocka_unit_test(test_save_every),
      cmocka_unit_test(test_divergence),    cmocka_unit_test(test_run_callback),
      cmocka_unit_test(test_too_small),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
