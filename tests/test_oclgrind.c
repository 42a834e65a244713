/* Every kernel of a training step, and CLBlast's GEMMs, on tiny shapes under
 * Oclgrind: feedforward, inference (GD and Adam on the activities, with and
 * without the wavefront), energy, activity and weight gradients, Adam and
 * SGD updates, the backprop step and predict with a partial last batch.
 *
 * This program only drives the device; the checking is Oclgrind's. Run it
 * through tests/test_oclgrind.sh, which starts it under
 * `oclgrind --data-races --uninitialized --check-api` and fails on any
 * report. Here a failed call or a non-finite result fails the test, so a
 * kernel that Oclgrind aborts cannot pass silently. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <CL/cl.h>
#include <dlfcn.h>
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* the context's queue and program builder, for the canary */
#include "mupc.h"

/* Oclgrind 21.10's --uninitialized keeps one shadow array per buffer and,
 * on every host write (clEnqueueWriteBuffer, and each pattern store of
 * clEnqueueFillBuffer), replaces it with a fresh, unset array the size of
 * that write, then marks the write's bytes at their offset in it. A write
 * that is not the whole buffer therefore leaves the rest of the buffer
 * "uninitialised" and stores past the end of the new array (a heap
 * overflow inside Oclgrind). The library writes single layers at offsets
 * and zero-fills with a 4-byte pattern, so every kernel would be reported.
 *
 * This binary therefore routes its host writes through whole-buffer
 * writes: read the buffer back, patch the bytes asked for, write it all
 * from offset 0, blocking. The device sees the same contents in the same
 * in-order queue. Every library buffer is zero-filled when it is allocated
 * (mupc__buffer_alloc), so marking whole buffers as written hides nothing;
 * what --uninitialized still checks is private and local memory in the
 * kernels. */
typedef cl_int(CL_API_CALL *write_fn)(cl_command_queue, cl_mem, cl_bool, size_t, size_t,
                                      const void *, cl_uint, const cl_event *, cl_event *);

static cl_int write_whole(cl_command_queue queue, cl_mem buffer, size_t offset, size_t size,
                          const void *pattern, size_t pattern_size, cl_uint nwait,
                          const cl_event *wait, cl_event *event) {
  /* The runtime's own write, found past this binary: Oclgrind's under
   * its LD_PRELOAD, the ICD loader's otherwise. */
  static write_fn real_write;
  if (!real_write) *(void **)&real_write = dlsym(RTLD_NEXT, "clEnqueueWriteBuffer");
  if (!real_write) return CL_INVALID_OPERATION;
  size_t total = 0;
  cl_int err = clGetMemObjectInfo(buffer, CL_MEM_SIZE, sizeof total, &total, NULL);
  if (err != CL_SUCCESS) return err;
  if (offset > total || size > total - offset || pattern_size == 0 || size % pattern_size)
    return CL_INVALID_VALUE;
  unsigned char *host = malloc(total ? total : 1);
  if (!host) return CL_OUT_OF_HOST_MEMORY;
  err = clEnqueueReadBuffer(queue, buffer, CL_TRUE, 0, total, host, nwait, wait, NULL);
  for (size_t i = 0; err == CL_SUCCESS && i < size; i += pattern_size)
    memcpy(host + offset + i, pattern, pattern_size);
  if (err == CL_SUCCESS) err = real_write(queue, buffer, CL_TRUE, 0, total, host, 0, NULL, event);
  free(host);
  return err;
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueWriteBuffer(cl_command_queue queue, cl_mem buffer,
                                                     cl_bool blocking, size_t offset, size_t size,
                                                     const void *ptr, cl_uint nwait,
                                                     const cl_event *wait, cl_event *event) {
  (void)blocking; /* always blocking: the caller may reuse ptr at once */
  if (!ptr) return CL_INVALID_VALUE;
  return write_whole(queue, buffer, offset, size, ptr, size ? size : 1, nwait, wait, event);
}

CL_API_ENTRY cl_int CL_API_CALL clEnqueueFillBuffer(cl_command_queue queue, cl_mem buffer,
                                                    const void *pattern, size_t pattern_size,
                                                    size_t offset, size_t size, cl_uint nwait,
                                                    const cl_event *wait, cl_event *event) {
  if (!pattern || pattern_size == 0 || offset % pattern_size) return CL_INVALID_VALUE;
  return write_whole(queue, buffer, offset, size, pattern, pattern_size, nwait, wait, event);
}

static mupc_ctx *ctx;

static uint64_t rng_state = 7;
static float urand(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(rng_state >> 11) * 0x1.0p-53);
}

/* D=7, N=5, C=3, B=2: no dimension is a multiple of a GEMM tile, so
 * CLBlast's edge paths run, and every launch has a partial work-group. */
static mupc_net_params tiny(int L) {
  mupc_net_params p = mupc_net_default_params();
  p.input_dim = 7;
  p.width = 5;
  p.output_dim = 3;
  p.batch = 2;
  p.depth = L;
  p.infer_steps = 3;
  p.activity_lr = 0.1f;
  p.lr = 1e-2f;
  p.weight_decay = 1e-3f;
  return p;
}

static void assert_finite(const float *v, size_t n, const char *what) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) fail_msg("%s[%zu] is %g", what, i, (double)v[i]);
}

/* Reads every tensor of every layer back: each must be finite. */
static void check_tensors(mupc_net *net) {
  const mupc_net_params *p = mupc_net_get_params(net);
  static const struct {
    mupc_tensor_kind kind;
    const char *name;
    int hidden_only;
  } kinds[] = {{MUPC_T_WEIGHT, "weight", 0},        {MUPC_T_WEIGHT_GRAD, "weight grad", 0},
               {MUPC_T_ADAM_M, "adam m", 0},        {MUPC_T_ADAM_V, "adam v", 0},
               {MUPC_T_ACTIVITY, "activity", 1},    {MUPC_T_ACTIVITY_GRAD, "activity grad", 1},
               {MUPC_T_ERROR, "error", 0}};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    int layers = kinds[k].hidden_only ? p->depth - 1 : p->depth;
    for (int l = 0; l < layers; l++) {
      size_t n = mupc_net_tensor_size(net, kinds[k].kind, l);
      float *v = malloc(n * sizeof *v);
      assert_non_null(v);
      assert_int_equal(mupc_net_read(net, kinds[k].kind, l, v), MUPC_OK);
      assert_finite(v, n, kinds[k].name);
      free(v);
    }
  }
}

#define OK(call)                                                                                   \
  do {                                                                                             \
    int rc_ = (call);                                                                              \
    if (rc_ != MUPC_OK) fail_msg("%s: %s: %s", #call, mupc_strerror(rc_), mupc_errmsg());          \
  } while (0)

/* The step in its parts, then a whole train_step, then predict. */
static void run_config(const mupc_net_params *p) {
  print_message("L=%d act %s loss %s algo %s activity optim %s optim %s wavefront %d\n", p->depth,
                mupc_act_name(p->act), mupc_loss_name(p->loss), mupc_algo_name(p->algo),
                mupc_aoptim_name(p->activity_optim), mupc_optim_name(p->optim), p->wavefront);
  mupc_net *net = NULL;
  OK(mupc_net_init(&net, ctx, p));
  const size_t B = (size_t)p->batch, D = (size_t)p->input_dim, C = (size_t)p->output_dim;
  const int n_pred = p->batch + 1; /* one full batch and one partial */
  float *x = malloc((size_t)n_pred * D * sizeof *x);
  float *y = calloc(B * C, sizeof *y);
  float *yhat = malloc((size_t)n_pred * C * sizeof *yhat);
  float *energy = malloc((size_t)p->depth * sizeof *energy);
  assert_true(x && y && yhat && energy);
  for (size_t i = 0; i < (size_t)n_pred * D; i++) x[i] = 2 * urand() - 1;
  for (size_t b = 0; b < B; b++) y[b * C + b % C] = 1;

  float loss = 0, total = 0;
  OK(mupc_net_load_batch(net, x, y));
  OK(mupc_net_feedforward(net, &loss));
  assert_finite(&loss, 1, "feedforward loss");
  if (p->algo == MUPC_ALGO_PC) {
    OK(mupc_net_infer(net, p->infer_steps));
    OK(mupc_net_energy(net, energy, &total));
    assert_finite(energy, (size_t)p->depth, "energy");
    OK(mupc_net_activity_grads(net));
  }
  OK(mupc_net_weight_grads(net));
  OK(mupc_net_update(net));
  check_tensors(net);

  mupc_step_stats stats;
  OK(mupc_net_train_step(net, x, y, &stats));
  assert_finite(&stats.train_loss, 1, "train_step loss");
  assert_finite(&stats.energy, 1, "train_step energy");
  OK(mupc_net_predict(net, x, n_pred, yhat));
  assert_finite(yhat, (size_t)n_pred * C, "prediction");
  check_tensors(net);

  free(x);
  free(y);
  free(yhat);
  free(energy);
  mupc_net_free(net);
}

/* PC with GD on the activities and Adam on the weights, at both depths,
 * wavefront on and off; MSE and CE. */
static void test_pc_gd_adam(void **state) {
  (void)state;
  for (int L = 2; L <= 4; L += 2)
    for (int wf = 0; wf <= 1; wf++) {
      mupc_net_params p = tiny(L);
      p.wavefront = wf;
      p.loss = wf ? MUPC_LOSS_MSE : MUPC_LOSS_CE;
      run_config(&p);
    }
}

/* Adam on the activities, SGD on the weights, a smooth activation. */
static void test_pc_adam_sgd(void **state) {
  (void)state;
  for (int L = 2; L <= 4; L += 2) {
    mupc_net_params p = tiny(L);
    p.activity_optim = MUPC_AOPTIM_ADAM;
    p.optim = MUPC_OPTIM_SGD;
    p.act = MUPC_ACT_TANH;
    run_config(&p);
  }
}

/* Sizes past one CLBlast tile and one elementwise work-group (B·N = 360 >
 * 256), so the unchecked GEMM paths and the energy reduction across
 * work-groups run too. */
static void test_past_one_tile(void **state) {
  (void)state;
  mupc_net_params p = tiny(3);
  p.input_dim = 33;
  p.width = 40;
  p.output_dim = 10;
  p.batch = 9;
  p.infer_steps = 2;
  run_config(&p);
}

/* The backprop baseline, both losses. */
static void test_bp(void **state) {
  (void)state;
  for (int L = 2; L <= 4; L += 2) {
    mupc_net_params p = tiny(L);
    p.algo = MUPC_ALGO_BP;
    p.act = MUPC_ACT_GELU;
    p.loss = L == 2 ? MUPC_LOSS_CE : MUPC_LOSS_MSE;
    run_config(&p);
  }
}

/* The library's own GEMM kernel (--gemm kernels, cl/gemm.cl) in the
 * step: tiles at and past the edges, the batched and the single products,
 * the transposed weight gradient, and backprop's plain products. */
static void test_own_gemm(void **state) {
  (void)state;
  assert_int_equal(mupc_ctx_set_gemm(ctx, MUPC_GEMM_KERNELS), MUPC_OK);
  mupc_net_params p = tiny(3);
  p.input_dim = 33;
  p.width = 20;
  p.batch = 9;
  run_config(&p);
  p = tiny(4);
  p.algo = MUPC_ALGO_BP;
  run_config(&p);
  assert_int_equal(mupc_ctx_set_gemm(ctx, MUPC_GEMM_CLBLAST), MUPC_OK);
}

static int setup(void **state) {
  (void)state;
  int rc = mupc_ctx_init(&ctx, "oclgrind");
  if (rc) {
    fprintf(stderr,
            "test_oclgrind: no Oclgrind device (%s); run it through tests/test_oclgrind.sh\n",
            mupc_errmsg());
    return -1;
  }
  /* CLBlast's kernels are what Oclgrind is here to check, whatever the
   * device would choose; the host BLAS runs no kernel (test_gemm checks it). */
  rc = mupc_ctx_set_gemm(ctx, MUPC_GEMM_CLBLAST);
  if (rc) fprintf(stderr, "test_oclgrind: %s\n", mupc_errmsg());
  return rc ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  /* CLBlast keeps its compiled programs in a process-wide cache that is
   * released by a static destructor, after Oclgrind's runtime has already
   * torn down its own per-thread state: that release crashes the process
   * at exit ("corrupted double-linked list"). Release them now, while the
   * runtime is whole. */
  CLBlastClearCache();
  mupc_ctx_free(ctx);
  return 0;
}

/* `test_oclgrind --canary` runs one kernel with an out-of-bounds write, a
 * data race and an uninitialised value, so the wrapper script can check
 * that Oclgrind, as it runs it, reports each kind: a check that reports
 * nothing because it is not running must not pass. */
static const char canary_source[] =
    "kernel void canary(global float *out, const int n, const int j) {\n"
    "  float part[4];\n"
    "  part[0] = 1.0f;\n"
    "  int i = (int)get_global_id(0);\n"
    "  out[0] = (float)i;                 /* every item: a race */\n"
    "  if (i == 1) out[n] = 1.0f;         /* one past the end */\n"
    "  if (i == 2) out[2] = part[j];      /* part[j] was never set */\n"
    "}\n";

static int canary(void) {
  if (setup(NULL)) return 1;
  cl_program prog = NULL; /* the context's cache owns it */
  int rc = mupc__program_from_source(ctx, canary_source, NULL, &prog);
  cl_int err = rc ? CL_BUILD_PROGRAM_FAILURE : CL_SUCCESS;
  cl_kernel k = err ? NULL : clCreateKernel(prog, "canary", &err);
  const int n = 4;
  cl_mem out = err ? NULL
                   : clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, n * sizeof(float), NULL, &err);
  const float zero[4] = {0};
  if (!err) err = clEnqueueWriteBuffer(ctx->queue, out, CL_TRUE, 0, sizeof zero, zero, 0, NULL, NULL);
  if (!err) err = clSetKernelArg(k, 0, sizeof out, &out);
  const int j = 2;
  if (!err) err = clSetKernelArg(k, 1, sizeof n, &n);
  if (!err) err = clSetKernelArg(k, 2, sizeof j, &j);
  const size_t global = 4, local = 4;
  if (!err) err = clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &global, &local, 0, NULL, NULL);
  if (!err) err = clFinish(ctx->queue);
  if (err) fprintf(stderr, "test_oclgrind --canary: %s\n", rc ? mupc_errmsg() : mupc_strerror(err));
  if (out) clReleaseMemObject(out);
  if (k) clReleaseKernel(k);
  teardown(NULL);
  return err ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--canary")) return canary();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pc_gd_adam),
      cmocka_unit_test(test_pc_adam_sgd),
      cmocka_unit_test(test_past_one_tile),
      cmocka_unit_test(test_bp),
      cmocka_unit_test(test_own_gemm),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
