/* The library's measurements on a tiny net: mupc_bench (one process, and
 * two ranks through a reduce whose other rank mirrors this one), the run
 * records `mupc compare` sets against each other, and a context on the
 * n-th matching device. Runs on the first OpenCL implementation present. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mupc.h"
#include "testdev.h"

#define COUNT 40
#define DIM 6
#define CLASSES 3

static const char *spec;
static mupc_ctx *ctx;
static mupc_dataset data;

static mupc_net_params params(void) {
  mupc_net_params p = mupc_net_default_params();
  p.input_dim = DIM;
  p.output_dim = CLASSES;
  p.width = 8;
  p.depth = 3;
  p.batch = 8;
  p.infer_steps = 3;
  return p;
}

static void test_bench_one(void **state) {
  (void)state;
  if (!ctx) skip();
  const mupc_net_params p = params();
  mupc_bench_result r;
  double medians[1] = {-1};
  assert_int_equal(mupc_bench(ctx, &p, 5, 1, NULL, medians, &r), MUPC_OK);
  assert_int_equal(r.steps, 5);
  assert_true(r.step_min > 0 && r.step_min <= r.step_median && r.step_median <= r.step_max);
  assert_true(r.feedforward_median > 0 && r.update_median >= 0);
  assert_true(r.reduce_median == 0.0); /* the hook marks one time on one rank */
  assert_true(r.flops_dense == mupc_net_dense_flops_per_step(&p));
  assert_true(r.flops_executed > 0 && r.flops_executed <= r.flops_dense);
  assert_true(r.gflops_dense == r.flops_dense / r.step_median * 1e-9);
  assert_true(r.sgemm_gflops > 0 && r.best_gemm_gflops >= r.sgemm_gflops);
  assert_string_equal(r.best_gemm, r.host_sgemm_gflops > r.sgemm_gflops ? "host" : "clblast");
  assert_true(r.enqueues_per_inference_step > 0 && r.device_bytes > 0);
  assert_true(medians[0] == r.step_median);
  assert_true(r.samples_per_second == p.batch / r.step_median);
  /* Refused before any work, out untouched. */
  mupc_bench_result before = r;
  assert_int_equal(mupc_bench(ctx, &p, 0, 1, NULL, NULL, &r), MUPC_EINVAL);
  assert_int_equal(mupc_bench(ctx, &p, 1, -1, NULL, NULL, &r), MUPC_EINVAL);
  mupc_net_params bad = p;
  bad.width = 0;
  assert_int_equal(mupc_bench(ctx, &bad, 1, 0, NULL, NULL, &r), MUPC_EINVAL);
  assert_memory_equal(&r, &before, sizeof r);
}

/* One of two ranks whose other rank does exactly what this one does: its
 * sums double, and in a gather of one slot per rank (two values, the
 * other's still 0) the other slot gets this one's value. */
typedef struct mirror {
  int rank, float_sums, arrivals; /* arrivals: sums of one number */
} mirror;

static int mirror_floats(float *v, size_t n, void *arg) {
  ((mirror *)arg)->float_sums++;
  for (size_t i = 0; i < n; i++) v[i] *= 2;
  return MUPC_OK;
}

static int mirror_doubles(double *v, size_t n, void *arg) {
  mirror *m = arg;
  m->arrivals += n == 1;
  if (n == 2 && v[1 - m->rank] == 0.0)
    v[1 - m->rank] = v[m->rank];
  else
    for (size_t i = 0; i < n; i++) v[i] *= 2;
  return MUPC_OK;
}

static int failing_floats(float *v, size_t n, void *arg) {
  (void)v, (void)n, (void)arg;
  return MUPC_EIO;
}

static void test_bench_two_ranks(void **state) {
  (void)state;
  if (!ctx) skip();
  mupc_net_params p = params();
  mirror m = {.rank = 1};
  mupc_reduce reduce = {1, 2, mirror_floats, mirror_doubles, &m};
  mupc_bench_result r;
  double medians[2] = {-1, -1};
  assert_int_equal(mupc_bench(ctx, &p, 4, 2, &reduce, medians, &r), MUPC_OK);
  assert_int_equal(m.float_sums, 6); /* one gradient sum a step */
  assert_int_equal(m.arrivals, 6);   /* each after every rank has come */
  assert_true(medians[0] == r.step_median && medians[1] == r.step_median);
  assert_true(r.reduce_median >= 0 && r.reduce_median < r.step_median);
  /* Each rank runs half the batch. */
  const mupc_net_params half = mupc_net_shard_params(&p, 2);
  assert_true(r.flops_dense == mupc_net_dense_flops_per_step(&half));
  assert_true(r.samples_per_second == p.batch / r.step_median);
  p.batch = 9;
  assert_int_equal(mupc_bench(ctx, &p, 1, 0, &reduce, NULL, &r), MUPC_EINVAL);
  assert_non_null(strstr(mupc_errmsg(), "does not split evenly over 2 ranks"));
  p.batch = 8;
  reduce.sum_floats = failing_floats;
  assert_int_equal(mupc_bench(ctx, &p, 1, 0, &reduce, NULL, &r), MUPC_EIO);
}

static mupc_train_opts plan(int64_t steps) {
  mupc_train_opts o = mupc_train_default_opts();
  o.steps = steps;
  o.eval_every = 1;  /* ignored: the steps alone are timed */
  o.save_every = 2;
  strcpy(o.save, "/nonexistent/never-written.st");
  return o;
}

static void test_run_record(void **state) {
  (void)state;
  if (!ctx) skip();
  const mupc_net_params p = params();
  mupc_train_opts o = plan(4);
  mupc_run_record a, b;
  assert_int_equal(mupc_run_record_make(ctx, &p, &o, &data, &data, &a), MUPC_OK);
  assert_int_equal(mupc_run_record_make(ctx, &p, &o, &data, &data, &b), MUPC_OK);
  assert_true(a.steps == 4);
  assert_int_equal(a.nweights, (size_t)(DIM * 8 + 8 * 8 + 8 * CLASSES));
  assert_true(a.seconds_median > 0);
  assert_int_equal(a.test.count, COUNT);
  for (int s = 0; s < 4; s++) assert_true(isfinite(a.losses[s]));
  /* The same job on the same device: the same numbers. */
  double w = -1, l = -1;
  assert_int_equal(mupc_run_record_diff(&a, &b, &w, &l), MUPC_OK);
  assert_true(w == 0.0 && l == 0.0);
  /* One weight moved: max|a - b| / max|b|. */
  double big = 0;
  for (size_t i = 0; i < b.nweights; i++) big = fmax(big, fabs((double)b.weights[i]));
  a.weights[3] = b.weights[3] + 0.5f;
  a.losses[2] = b.losses[2] * 1.25f;
  assert_int_equal(mupc_run_record_diff(&a, &b, &w, &l), MUPC_OK);
  assert_true(fabs(w - fabs((double)a.weights[3] - b.weights[3]) / big) < 1e-12);
  assert_true(fabs(l - fabs((double)a.losses[2] - b.losses[2]) / fabs((double)b.losses[2])) <
              1e-12);
  mupc_run_record_free(&b);
  /* Epochs plan the steps: 40 samples, batch 8. */
  o = plan(0);
  o.epochs = 2;
  assert_int_equal(mupc_run_record_make(ctx, &p, &o, &data, &data, &b), MUPC_OK);
  assert_true(b.steps == 10);
  assert_int_equal(mupc_run_record_diff(&a, &b, &w, &l), MUPC_ESHAPE);
  mupc_run_record_free(&a);
  mupc_run_record_free(&b);
  assert_null(b.weights);
  o = plan(0);
  assert_int_equal(mupc_run_record_make(ctx, &p, &o, &data, &data, &a), MUPC_EINVAL);
  assert_int_equal(mupc_run_record_make(ctx, &p, NULL, &data, &data, &a), MUPC_EINVAL);
  mupc_run_record_free(NULL);
}

static void test_ctx_init_nth(void **state) {
  (void)state;
  if (!ctx) skip();
  mupc_device_info want;
  mupc_ctx *nth = NULL;
  assert_int_equal(mupc_device_select_nth(spec, 1, &want), MUPC_OK);
  assert_int_equal(mupc_ctx_init_nth(&nth, spec, 1), MUPC_OK);
  assert_int_equal(mupc_ctx_device(nth)->platform_index, want.platform_index);
  assert_int_equal(mupc_ctx_device(nth)->device_index, want.device_index);
  mupc_ctx_free(nth);
  nth = NULL;
  assert_int_equal(mupc_ctx_init_nth(&nth, spec, -1), MUPC_EINVAL);
  assert_int_equal(mupc_ctx_init_nth(&nth, "no-such-device-anywhere", 0), MUPC_ENODEVICE);
  assert_null(nth);
}

static int setup(void **state) {
  (void)state;
  const char *specs[4];
  const int n = testdev_specs(specs, 4);
  if (n < 0) return -1;
  spec = n > 0 ? specs[0] : NULL;
  if (spec && mupc_ctx_init(&ctx, spec) != MUPC_OK) return -1;
  static float x[COUNT * DIM];
  static int32_t labels[COUNT];
  for (int i = 0; i < COUNT * DIM; i++) x[i] = (float)((i * 37) % 19) / 9.5f - 1.0f;
  for (int i = 0; i < COUNT; i++) labels[i] = i % CLASSES;
  data = (mupc_dataset){COUNT, DIM, 1, DIM, CLASSES, x, labels};
  return 0;
}

static int teardown(void **state) {
  (void)state;
  mupc_ctx_free(ctx);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bench_one),
      cmocka_unit_test(test_bench_two_ranks),
      cmocka_unit_test(test_run_record),
      cmocka_unit_test(test_ctx_init_nth),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
