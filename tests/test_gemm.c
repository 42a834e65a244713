/* The GEMM providers (src/gemm.c) on every OpenCL implementation present:
 * CLBlast and the host BLAS (as a native kernel where the driver runs them,
 * and through map/unmap) against a double-precision product on awkward
 * shapes, offsets, strides, transposes and shared buffers; their order in
 * the queue; the choice of provider (auto, MUPC_GEMM, mupc_ctx_set_gemm);
 * the fault a native kernel reports when a buffer is not where it was; and
 * whole training steps, which must agree across providers. */
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

#include "mupc.h"
#include "internal.h" /* mupc__gemm_run and the context's fields */
#include "testdev.h"

static const char *specs[4];
static int nspecs;

/* The ways a GEMM can run on one context. */
typedef enum { M_CLBLAST, M_NATIVE, M_MAP, M_KERNELS, M_COUNT } mode;
static const char *const mode_names[M_COUNT] = {"clblast", "host (native kernel)", "host (map)",
                                                "kernels"};
static const mupc_gemm mode_provider[M_COUNT] = {MUPC_GEMM_CLBLAST, MUPC_GEMM_HOST,
                                                 MUPC_GEMM_HOST, MUPC_GEMM_KERNELS};

/* Switches ctx to mode m; 0 if the context cannot run it. */
static int use_mode(mupc_ctx *ctx, mode m) {
  if (m == M_CLBLAST || m == M_KERNELS) return mupc_ctx_set_gemm(ctx, mode_provider[m]) == MUPC_OK;
  if (!mupc_ctx_host_gemm_ok(ctx)) return 0;
  assert_int_equal(mupc_ctx_set_gemm(ctx, MUPC_GEMM_HOST), MUPC_OK);
  cl_device_exec_capabilities caps = 0;
  clGetDeviceInfo(ctx->device, CL_DEVICE_EXECUTION_CAPABILITIES, sizeof caps, &caps, NULL);
  if (m == M_NATIVE && !(caps & CL_EXEC_NATIVE_KERNEL)) return 0;
  mupc__gemm_force_map(ctx, m == M_MAP);
  return 1;
}

static uint64_t rng = 88172645463325252ull;
static float urand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (float)((double)(rng >> 11) * 0x1.0p-52 - 1.0);
}

static int env_setup(void **state) {
  (void)state;
  /* The provider is this test's own choice, not the environment's. */
  unsetenv("MUPC_GEMM");
  nspecs = testdev_specs(specs, 4);
  return nspecs < 0 ? -1 : 0;
}

/* ---- one GEMM against a double-precision product ---- */

typedef struct gcase {
  int ta, tb;
  size_t m, n, k, batch;
  size_t a_off, lda, a_stride, b_off, ldb, b_stride, c_off, ldc, c_stride;
  float alpha, beta;
  int share; /* 1: A, B and C in one buffer (disjoint regions) */
} gcase;

static size_t span(size_t off, size_t rows, size_t ld, size_t stride, size_t batch) {
  return off + (batch - 1) * stride + rows * ld;
}

static void run_case(mupc_ctx *ctx, mode md, const gcase *c) {
  const size_t ar = c->ta ? c->k : c->m, br = c->tb ? c->n : c->k;
  const size_t na = span(c->a_off, ar, c->lda, c->a_stride, c->batch);
  const size_t nb = span(c->b_off, br, c->ldb, c->b_stride, c->batch);
  const size_t nc = span(c->c_off, c->m, c->ldc, c->c_stride, c->batch);
  /* Shared: A, then B, then C, one after the other in one buffer. */
  const size_t base_b = c->share ? na : 0, base_c = c->share ? na + nb : 0;
  const size_t sizes[3] = {c->share ? na + nb + nc : na, nb, nc};
  float *host[3];
  cl_mem buf[3] = {NULL, NULL, NULL};
  for (int i = 0; i < (c->share ? 1 : 3); i++) {
    host[i] = malloc(sizes[i] * sizeof(float));
    for (size_t j = 0; j < sizes[i]; j++) host[i][j] = urand();
    assert_int_equal(mupc__buffer_alloc(ctx, sizes[i] * sizeof(float), &buf[i]), MUPC_OK);
    assert_int_equal(clEnqueueWriteBuffer(ctx->queue, buf[i], CL_TRUE, 0, sizes[i] * sizeof(float),
                                          host[i], 0, NULL, NULL),
                     CL_SUCCESS);
  }
  const float *A = host[0], *B = c->share ? host[0] + base_b : host[1];
  const float *C0 = c->share ? host[0] + base_c : host[2];
  cl_mem mc = c->share ? buf[0] : buf[2];
  mupc__counters count = {0, 0};
  const mupc__gemm_args g = {
      .trans_a = c->ta, .trans_b = c->tb, .m = c->m, .n = c->n, .k = c->k, .alpha = c->alpha,
      .beta = c->beta, .a = buf[0], .a_off = c->a_off, .lda = c->lda, .a_stride = c->a_stride,
      .b = c->share ? buf[0] : buf[1], .b_off = base_b + c->b_off, .ldb = c->ldb,
      .b_stride = c->b_stride, .c = mc, .c_off = base_c + c->c_off, .ldc = c->ldc,
      .c_stride = c->c_stride, .batch = c->batch};
  const mupc_gemm provider = mode_provider[md];
  int rc = mupc__gemm_run(ctx, &count, provider, &g);
  if (rc) fail_msg("%s: %s", mode_names[md], mupc_errmsg());
  assert_int_equal(mupc_ctx_finish(ctx), MUPC_OK);
  assert_int_equal(count.enqueues, 1);
  assert_int_equal(count.flops, 2 * c->m * c->n * c->k * c->batch);
  float *got = malloc(nc * sizeof(float));
  assert_int_equal(clEnqueueReadBuffer(ctx->queue, mc, CL_TRUE, base_c * sizeof(float),
                                       nc * sizeof(float), got, 0, NULL, NULL),
                   CL_SUCCESS);
  /* Every element of C: the product where a matrix lies, untouched between. */
  unsigned char *in_c = calloc(nc, 1);
  double worst = 0, scale = 0;
  for (size_t b = 0; b < c->batch; b++)
    for (size_t i = 0; i < c->m; i++)
      for (size_t j = 0; j < c->n; j++) {
        double acc = 0;
        for (size_t p = 0; p < c->k; p++) {
          const size_t ia = c->a_off + b * c->a_stride + (c->ta ? p * c->lda + i : i * c->lda + p);
          const size_t ib = c->b_off + b * c->b_stride + (c->tb ? j * c->ldb + p : p * c->ldb + j);
          acc += (double)A[ia] * B[ib];
        }
        const size_t ic = c->c_off + b * c->c_stride + i * c->ldc + j;
        const double want = c->alpha * acc + (double)c->beta * C0[ic];
        worst = fmax(worst, fabs(got[ic] - want));
        scale = fmax(scale, fabs(want));
        in_c[ic] = 1;
      }
  for (size_t i = 0; i < nc; i++)
    if (!in_c[i] && got[i] != C0[i])
      fail_msg("%s: %zux%zux%zu: C[%zu] outside the matrices changed", mode_names[md], c->m, c->n,
               c->k, i);
  if (worst > 1e-5 * (scale + 1))
    fail_msg("%s: %zux%zux%zu (batch %zu, ta %d tb %d): error %.3g of %.3g", mode_names[md], c->m,
             c->n, c->k, c->batch, c->ta, c->tb, worst, scale);
  free(in_c);
  free(got);
  for (int i = 0; i < (c->share ? 1 : 3); i++) {
    mupc__buffer_free(ctx, &buf[i], sizes[i] * sizeof(float));
    free(host[i]);
  }
}

static void test_products(void **state) {
  (void)state;
  if (nspecs == 0) skip();
  const gcase cases[] = {
      /* the plainest product */
      {0, 0, 5, 7, 3, 1, 0, 3, 0, 0, 7, 0, 0, 7, 0, 1.0f, 0.0f, 0},
      /* every transpose, padded rows, gaps between matrices, offsets, beta */
      {0, 1, 6, 5, 9, 3, 2, 11, 70, 1, 10, 52, 3, 7, 45, -0.5f, 0.25f, 0},
      {1, 0, 6, 5, 9, 3, 1, 8, 80, 2, 6, 60, 0, 5, 31, 2.0f, 1.0f, 0},
      {1, 1, 4, 13, 7, 2, 0, 4, 30, 5, 7, 95, 4, 13, 60, 1.0f, -1.0f, 0},
      /* one buffer holds A, B and C */
      {0, 1, 8, 6, 10, 4, 3, 10, 81, 0, 10, 60, 1, 6, 49, 0.75f, 0.5f, 1},
      {1, 0, 8, 6, 10, 2, 0, 8, 80, 2, 6, 61, 0, 6, 48, 1.0f, 0.0f, 1},
      /* the step's own shapes: 64 x 128 x 128 batched, and the weight gradient */
      {0, 1, 64, 128, 128, 3, 0, 128, 8192, 0, 128, 16384, 0, 128, 8192, 1.0f, 0.0f, 0},
      {1, 0, 128, 128, 64, 2, 0, 128, 8192, 0, 128, 8192, 0, 128, 16384, -0.01f, 0.0f, 0},
  };
  for (int s = 0; s < nspecs; s++) {
    mupc_ctx *ctx = NULL;
    assert_int_equal(mupc_ctx_init(&ctx, specs[s]), MUPC_OK);
    for (mode md = 0; md < M_COUNT; md++) {
      if (!use_mode(ctx, md)) continue;
      fprintf(stderr, "test_gemm: %s, %s\n", specs[s], mode_names[md]);
      for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(ctx, md, &cases[i]);
    }
    mupc_ctx_free(ctx);
  }
}

/* ---- order in the queue ----
 * A fill of A before each GEMM and a copy of C after it, many rounds with no
 * wait in between: each copy must hold the product of its own round's A. */
static void test_queue_order(void **state) {
  (void)state;
  if (nspecs == 0) skip();
  enum { M = 8, N = 16, K = 32, ROUNDS = 40 };
  for (int s = 0; s < nspecs; s++) {
    mupc_ctx *ctx = NULL;
    assert_int_equal(mupc_ctx_init(&ctx, specs[s]), MUPC_OK);
    for (mode md = 0; md < M_COUNT; md++) {
      if (!use_mode(ctx, md)) continue;
      cl_mem a = NULL, b = NULL, c = NULL, out = NULL;
      assert_int_equal(mupc__buffer_alloc(ctx, M * K * sizeof(float), &a), MUPC_OK);
      assert_int_equal(mupc__buffer_alloc(ctx, K * N * sizeof(float), &b), MUPC_OK);
      assert_int_equal(mupc__buffer_alloc(ctx, M * N * sizeof(float), &c), MUPC_OK);
      assert_int_equal(mupc__buffer_alloc(ctx, ROUNDS * M * N * sizeof(float), &out), MUPC_OK);
      float hb[K * N], colsum[N] = {0};
      for (int i = 0; i < K * N; i++) {
        hb[i] = (float)((i * 7) % 5) - 2.0f;
        colsum[i % N] += hb[i];
      }
      assert_int_equal(
          clEnqueueWriteBuffer(ctx->queue, b, CL_TRUE, 0, sizeof hb, hb, 0, NULL, NULL),
          CL_SUCCESS);
      mupc__counters count = {0, 0};
      const mupc__gemm_args g = {.m = M, .n = N, .k = K, .alpha = 1.0f, .a = a, .lda = K,
                                 .b = b, .ldb = N, .c = c, .ldc = N, .batch = 1};
      const mupc_gemm provider = mode_provider[md];
      for (int r = 0; r < ROUNDS; r++) {
        const float v = (float)(r + 1);
        assert_int_equal(clEnqueueFillBuffer(ctx->queue, a, &v, sizeof v, 0, M * K * sizeof(float),
                                             0, NULL, NULL),
                         CL_SUCCESS);
        assert_int_equal(mupc__gemm_run(ctx, &count, provider, &g), MUPC_OK);
        assert_int_equal(clEnqueueCopyBuffer(ctx->queue, c, out, 0, (size_t)r * M * N * sizeof(float),
                                             M * N * sizeof(float), 0, NULL, NULL),
                         CL_SUCCESS);
      }
      float *got = malloc(ROUNDS * M * N * sizeof(float));
      assert_int_equal(clEnqueueReadBuffer(ctx->queue, out, CL_TRUE, 0,
                                           ROUNDS * M * N * sizeof(float), got, 0, NULL, NULL),
                       CL_SUCCESS);
      assert_int_equal(mupc_ctx_finish(ctx), MUPC_OK);
      for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < M * N; i++)
          if (got[r * M * N + i] != (float)(r + 1) * colsum[i % N])
            fail_msg("%s, %s: round %d element %d is %g, want %g", specs[s], mode_names[md], r, i,
                     (double)got[r * M * N + i], (double)((float)(r + 1) * colsum[i % N]));
      free(got);
      mupc__buffer_free(ctx, &a, M * K * sizeof(float));
      mupc__buffer_free(ctx, &b, K * N * sizeof(float));
      mupc__buffer_free(ctx, &c, M * N * sizeof(float));
      mupc__buffer_free(ctx, &out, ROUNDS * M * N * sizeof(float));
    }
    mupc_ctx_free(ctx);
  }
}

/* ---- errors ---- */

static void test_operand_checks(void **state) {
  (void)state;
  if (nspecs == 0) skip();
  mupc_ctx *ctx = NULL;
  assert_int_equal(mupc_ctx_init(&ctx, specs[0]), MUPC_OK);
  if (!use_mode(ctx, M_MAP)) {
    mupc_ctx_free(ctx);
    skip();
  }
  cl_mem a = NULL;
  assert_int_equal(mupc__buffer_alloc(ctx, 100 * sizeof(float), &a), MUPC_OK);
  mupc__counters count = {0, 0};
  /* C runs past its buffer (10 x 11 floats > 100): refused, nothing run. */
  mupc__gemm_args g = {.m = 10, .n = 10, .k = 5, .alpha = 1.0f, .a = a, .lda = 5, .b = a,
                       .ldb = 10, .c = a, .c_off = 1, .ldc = 10, .batch = 1};
  assert_int_equal(mupc__gemm_run(ctx, &count, MUPC_GEMM_HOST, &g), MUPC_EGEMM);
  assert_non_null(strstr(mupc_errmsg(), "operand C"));
  /* A leading dimension shorter than a row would make a BLAS print. */
  g.c_off = 0, g.lda = 4;
  assert_int_equal(mupc__gemm_run(ctx, &count, MUPC_GEMM_HOST, &g), MUPC_EGEMM);
  assert_non_null(strstr(mupc_errmsg(), "operand A"));
  mupc__buffer_free(ctx, &a, 100 * sizeof(float));
  mupc_ctx_free(ctx);
}

/* A buffer the native kernel finds at another address than was learnt: the
 * product is skipped and the next wait reports it. */
static void test_native_fault(void **state) {
  (void)state;
  int found = 0;
  for (int s = 0; s < nspecs; s++) {
    mupc_ctx *ctx = NULL;
    assert_int_equal(mupc_ctx_init(&ctx, specs[s]), MUPC_OK);
    if (!use_mode(ctx, M_NATIVE)) {
      mupc_ctx_free(ctx);
      continue;
    }
    found = 1;
    cl_mem a = NULL, c = NULL;
    assert_int_equal(mupc__buffer_alloc(ctx, 16 * sizeof(float), &a), MUPC_OK);
    assert_int_equal(mupc__buffer_alloc(ctx, 16 * sizeof(float), &c), MUPC_OK);
    const float one = 1.0f;
    assert_int_equal(
        clEnqueueFillBuffer(ctx->queue, a, &one, sizeof one, 0, 16 * sizeof(float), 0, NULL, NULL),
        CL_SUCCESS);
    mupc__counters count = {0, 0};
    const mupc__gemm_args g = {.m = 4, .n = 4, .k = 4, .alpha = 1.0f, .a = a, .lda = 4, .b = a,
                               .ldb = 4, .c = c, .ldc = 4, .batch = 1};
    assert_int_equal(mupc__gemm_run(ctx, &count, MUPC_GEMM_HOST, &g), MUPC_OK);
    assert_int_equal(mupc_ctx_finish(ctx), MUPC_OK);
    float got[16];
    assert_int_equal(clEnqueueReadBuffer(ctx->queue, c, CL_TRUE, 0, sizeof got, got, 0, NULL, NULL),
                     CL_SUCCESS);
    assert_true(got[5] == 4.0f);
    /* Both are learnt now; move C's "address" somewhere else. */
    assert_int_equal(ctx->nhost_ptrs, 2);
    float elsewhere[16];
    for (size_t i = 0; i < ctx->nhost_ptrs; i++)
      if (ctx->host_ptrs[i].mem == c) ctx->host_ptrs[i].ptr = elsewhere;
    const float zero = 0.0f;
    assert_int_equal(
        clEnqueueFillBuffer(ctx->queue, c, &zero, sizeof zero, 0, sizeof got, 0, NULL, NULL),
        CL_SUCCESS);
    assert_int_equal(mupc__gemm_run(ctx, &count, MUPC_GEMM_HOST, &g), MUPC_OK); /* enqueued */
    assert_int_equal(mupc_ctx_finish(ctx), MUPC_EGEMM);
    assert_non_null(strstr(mupc_errmsg(), "other addresses"));
    assert_int_equal(clEnqueueReadBuffer(ctx->queue, c, CL_TRUE, 0, sizeof got, got, 0, NULL, NULL),
                     CL_SUCCESS);
    assert_true(got[5] == 0.0f); /* skipped, not computed on the wrong memory */
    /* A released buffer's address is forgotten with it. */
    mupc__buffer_free(ctx, &c, 16 * sizeof(float));
    assert_int_equal(ctx->nhost_ptrs, 1);
    mupc__buffer_free(ctx, &a, 16 * sizeof(float));
    assert_int_equal(ctx->nhost_ptrs, 0);
    mupc_ctx_free(ctx);
  }
  if (!found) skip();
}

/* ---- AUTO where the host cannot run: measured, then cached ---- */

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static char text[65536];
  const size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  return text;
}

/* A net made on ctx under AUTO: the provider it left ctx with. */
static mupc_gemm auto_net(mupc_ctx *ctx) {
  assert_int_equal(mupc_ctx_set_gemm(ctx, MUPC_GEMM_AUTO), MUPC_OK);
  mupc_net_params p = mupc_net_default_params();
  p.depth = 4, p.width = 16, p.batch = 8, p.input_dim = 12, p.output_dim = 3;
  mupc_net *net = NULL;
  assert_int_equal(mupc_net_init(&net, ctx, &p), MUPC_OK);
  const mupc_gemm g = mupc_ctx_gemm(ctx);
  mupc_net_free(net);
  return g;
}

static void test_auto_measured(void **state) {
  (void)state;
  if (nspecs == 0) skip();
  char dir[] = "/tmp/mupc_auto_XXXXXX", path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/tune.json", dir);
  assert_int_equal(setenv("MUPC_TUNE_CACHE", path, 1), 0);
  unsetenv("MUPC_NO_TUNE");
  mupc_ctx *ctx = NULL;
  assert_int_equal(mupc_ctx_init(&ctx, specs[0]), MUPC_OK);
  const int host_ok = ctx->host_gemm_ok;
  ctx->host_gemm_ok = 0; /* as on a GPU */
  /* Measured: CLBlast or the kernels, and the choice stored under the
   * device and the net's shape. */
  const mupc_gemm g = auto_net(ctx);
  assert_true(g == MUPC_GEMM_CLBLAST || g == MUPC_GEMM_KERNELS);
  const char *text = slurp(path);
  assert_non_null(text);
  assert_non_null(strstr(text, "\"gemm_choice\""));
  assert_non_null(strstr(text, "\"B=8 D=12 N=16 C=3 L=4\""));
  assert_non_null(strstr(text, mupc_gemm_name(g)));
  /* Read back: whatever the file says for the shape is what a net gets. */
  const mupc_device_info *d = mupc_ctx_device(ctx);
  for (int i = 0; i < 2; i++) {
    const char *want = i ? "clblast" : "kernels";
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"%s|%s|%s\": {\"gemm_choice\": {\"B=8 D=12 N=16 C=3 L=4\": {\"provider\": \"%s\"}}}}",
            d->platform, d->name, d->driver_version, want);
    fclose(f);
    assert_string_equal(mupc_gemm_name(auto_net(ctx)), want);
  }
  /* A provider asked for by name is kept: no measurement. */
  assert_int_equal(mupc_ctx_set_gemm(ctx, MUPC_GEMM_CLBLAST), MUPC_OK);
  mupc_net_params p = mupc_net_default_params();
  p.depth = 3, p.width = 8, p.batch = 4, p.input_dim = 5, p.output_dim = 2;
  mupc_net *net = NULL;
  assert_int_equal(mupc_net_init(&net, ctx, &p), MUPC_OK);
  assert_int_equal(mupc_ctx_gemm(ctx), MUPC_GEMM_CLBLAST);
  mupc_net_free(net);
  ctx->host_gemm_ok = host_ok;
  /* Where the host runs, AUTO is the host, measured or not. */
  if (host_ok) assert_int_equal(auto_net(ctx), MUPC_GEMM_HOST);
  mupc_ctx_free(ctx);
  unsetenv("MUPC_TUNE_CACHE");
  remove(path);
  rmdir(dir);
}

/* ---- choosing the provider ---- */

static void test_choice(void **state) {
  (void)state;
  assert_string_equal(mupc_gemm_name(MUPC_GEMM_AUTO), "auto");
  assert_string_equal(mupc_gemm_name(MUPC_GEMM_CLBLAST), "clblast");
  assert_string_equal(mupc_gemm_name(MUPC_GEMM_HOST), "host");
  assert_string_equal(mupc_gemm_name(MUPC_GEMM_KERNELS), "kernels");
  for (int g = 0; g < MUPC_GEMM_COUNT; g++)
    assert_int_equal(mupc_gemm_from_name(mupc_gemm_name((mupc_gemm)g)), g);
  assert_int_equal(mupc_gemm_from_name("cublas"), -1);
  assert_int_equal(mupc_gemm_from_name(NULL), -1);
  char blas[256];
  mupc_host_blas_describe(blas, sizeof blas);
  if (MUPC_HAVE_OPENBLAS) assert_non_null(strstr(blas, "OpenBLAS"));
  if (!MUPC_HAVE_HOST_BLAS) assert_string_equal(blas, "");
  if (nspecs == 0) skip();
  for (int s = 0; s < nspecs; s++) {
    mupc_ctx *ctx = NULL;
    assert_int_equal(mupc_ctx_init(&ctx, specs[s]), MUPC_OK);
    const int cpu = !strcmp(mupc_ctx_device(ctx)->type, "cpu");
    /* PoCL and rusticl are CPUs sharing the host's memory: auto is host
     * there, by native kernels on PoCL and by maps on rusticl. */
    if (!strcmp(specs[s], "pocl") || !strcmp(specs[s], "llvmpipe")) {
      assert_true(cpu);
      assert_int_equal(mupc_ctx_host_gemm_ok(ctx), MUPC_HAVE_HOST_BLAS);
      assert_string_equal(mupc_ctx_host_gemm_dispatch(ctx),
                          !strcmp(specs[s], "pocl") ? "native kernel" : "map");
    }
    const mupc_gemm auto_choice = mupc_ctx_host_gemm_ok(ctx) ? MUPC_GEMM_HOST : MUPC_GEMM_CLBLAST;
    assert_int_equal(mupc_ctx_gemm(ctx), auto_choice);
    assert_int_equal(mupc_ctx_set_gemm(ctx, MUPC_GEMM_CLBLAST), MUPC_OK);
    assert_int_equal(mupc_ctx_gemm(ctx), MUPC_GEMM_CLBLAST);
    assert_int_equal(mupc_ctx_set_gemm(ctx, MUPC_GEMM_AUTO), MUPC_OK);
    assert_int_equal(mupc_ctx_gemm(ctx), auto_choice);
    assert_int_equal(mupc_ctx_set_gemm(ctx, (mupc_gemm)7), MUPC_EINVAL);
    assert_int_equal(mupc_ctx_gemm(ctx), auto_choice);
    /* A device that cannot take the host BLAS (a GPU) refuses it and
     * keeps what it had; auto gives it CLBlast. */
    const int ok = ctx->host_gemm_ok;
    ctx->host_gemm_ok = 0;
    assert_int_equal(mupc_ctx_set_gemm(ctx, MUPC_GEMM_HOST), MUPC_EINVAL);
    assert_non_null(strstr(mupc_errmsg(), "host"));
    assert_int_equal(mupc_ctx_gemm(ctx), auto_choice);
    assert_int_equal(mupc_ctx_set_gemm(ctx, MUPC_GEMM_AUTO), MUPC_OK);
    assert_int_equal(mupc_ctx_gemm(ctx), MUPC_GEMM_CLBLAST);
    ctx->host_gemm_ok = ok;
    mupc_ctx_free(ctx);

    /* MUPC_GEMM decides at init; a bad one fails it, naming the variable. */
    assert_int_equal(setenv("MUPC_GEMM", "clblast", 1), 0);
    assert_int_equal(mupc_ctx_init(&ctx, specs[s]), MUPC_OK);
    assert_int_equal(mupc_ctx_gemm(ctx), MUPC_GEMM_CLBLAST);
    mupc_ctx_free(ctx);
    if (auto_choice == MUPC_GEMM_HOST) {
      assert_int_equal(setenv("MUPC_GEMM", "host", 1), 0);
      assert_int_equal(mupc_ctx_init(&ctx, specs[s]), MUPC_OK);
      assert_int_equal(mupc_ctx_gemm(ctx), MUPC_GEMM_HOST);
      mupc_ctx_free(ctx);
    }
    assert_int_equal(setenv("MUPC_GEMM", "fastest", 1), 0);
    ctx = (mupc_ctx *)&ctx;
    assert_int_equal(mupc_ctx_init(&ctx, specs[s]), MUPC_EINVAL);
    assert_ptr_equal(ctx, (mupc_ctx *)&ctx);
    assert_non_null(strstr(mupc_errmsg(), "MUPC_GEMM"));
    assert_non_null(strstr(mupc_errmsg(), "'fastest'"));
    assert_int_equal(setenv("MUPC_GEMM", "", 1), 0);
    assert_int_equal(mupc_ctx_init(&ctx, specs[s]), MUPC_OK);
    assert_int_equal(mupc_ctx_gemm(ctx), auto_choice);
    mupc_ctx_free(ctx);
    assert_int_equal(unsetenv("MUPC_GEMM"), 0);
  }
}

/* ---- whole steps ---- */

static mupc_net_params small(void) {
  mupc_net_params p = mupc_net_default_params();
  p.input_dim = 100; /* past one tile of either BLAS, so they round differently */
  p.width = 24;
  p.output_dim = 5;
  p.depth = 7;
  p.batch = 8;
  p.infer_steps = 7;
  return p;
}

/* Three steps from the same init; schedule[s] is the mode of step s. */
static float *train(const char *spec, const mupc_net_params *p, const mode schedule[3],
                    size_t *count, int *enqueues) {
  mupc_ctx *ctx = NULL;
  assert_int_equal(mupc_ctx_init(&ctx, spec), MUPC_OK);
  for (int s = 0; s < 3; s++)
    if (!use_mode(ctx, schedule[s])) {
      mupc_ctx_free(ctx);
      return NULL;
    }
  mupc_net *net = NULL;
  assert_int_equal(mupc_net_init(&net, ctx, p), MUPC_OK);
  float *x = malloc(sizeof(float) * p->batch * p->input_dim);
  float *y = calloc((size_t)p->batch * p->output_dim, sizeof(float));
  for (int i = 0; i < p->batch * p->input_dim; i++) x[i] = urand();
  for (int b = 0; b < p->batch; b++) y[b * p->output_dim + b % p->output_dim] = 1.0f;
  for (int s = 0; s < 3; s++) {
    assert_true(use_mode(ctx, schedule[s]));
    mupc_step_stats st;
    int rc = mupc_net_train_step(net, x, y, &st);
    if (rc) fail_msg("%s: step %d: %s", spec, s, mupc_errmsg());
  }
  *enqueues = mupc_net_enqueues_per_inference_step(net);
  /* A native-kernel GEMM ran: it learnt where the buffers are. */
  for (int s = 0; s < 3; s++)
    if (schedule[s] == M_NATIVE) assert_true(ctx->nhost_ptrs > 0);
  *count = 0;
  for (int l = 0; l < p->depth; l++) *count += mupc_net_tensor_size(net, MUPC_T_WEIGHT, l);
  float *w = malloc(*count * sizeof *w);
  size_t off = 0;
  for (int l = 0; l < p->depth; l++) {
    assert_int_equal(mupc_net_read(net, MUPC_T_WEIGHT, l, w + off), MUPC_OK);
    off += mupc_net_tensor_size(net, MUPC_T_WEIGHT, l);
  }
  free(x);
  free(y);
  mupc_net_free(net);
  mupc_ctx_free(ctx);
  return w;
}

static double rel_diff(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num = fmax(num, fabs((double)a[i] - b[i]));
    den = fmax(den, fabs((double)b[i]));
  }
  return num / den;
}

static void test_steps_agree(void **state) {
  (void)state;
  if (nspecs == 0) skip();
  const mode schedules[][3] = {{M_CLBLAST, M_CLBLAST, M_CLBLAST},
                               {M_NATIVE, M_NATIVE, M_NATIVE},
                               {M_MAP, M_MAP, M_MAP},
                               /* switching provider between steps is allowed */
                               {M_MAP, M_CLBLAST, M_NATIVE}};
  for (int act = 0; act < 2; act++) {
    mupc_net_params p = small();
    if (act) p.act = MUPC_ACT_TANH, p.activity_optim = MUPC_AOPTIM_ADAM, p.loss = MUPC_LOSS_CE;
    float *ref = NULL;
    size_t n_ref = 0;
    for (int s = 0; s < nspecs; s++)
      for (size_t k = 0; k < sizeof schedules / sizeof schedules[0]; k++) {
        size_t n;
        int enq;
        rng = 12345; /* the same batch every time */
        float *w = train(specs[s], &p, schedules[k], &n, &enq);
        if (!w) continue;
        /* A host GEMM is one enqueue, as CLBlast's: 7 per inference step.
         * With LIBXSMM the host provider runs a batch's whole inference
         * as one host call (src/hostinfer.c). */
        const int whole_host = MUPC_HAVE_LIBXSMM && schedules[k][0] != M_CLBLAST &&
                               schedules[k][1] != M_CLBLAST && schedules[k][2] != M_CLBLAST;
        assert_int_equal(enq, whole_host ? 1 : 7);
        if (!ref) {
          ref = w, n_ref = n;
          continue;
        }
        assert_int_equal(n, n_ref);
        const double d = rel_diff(w, ref, n);
        fprintf(stderr, "test_gemm: %s, schedule %zu: max rel weight diff %.2e\n", specs[s], k, d);
        if (d > 1e-5) fail_msg("%s, schedule %zu: weights differ by %.3g", specs[s], k, d);
        free(w);
      }
    free(ref);
  }
}

/* The rates bench divides by: CLBlast's whatever the provider, and the
 * host BLAS's on host memory. */
static void test_rates(void **state) {
  (void)state;
  if (nspecs == 0) skip();
  mupc_ctx *ctx = NULL;
  assert_int_equal(mupc_ctx_init(&ctx, specs[0]), MUPC_OK);
  mupc_net_params p = small();
  mupc_net *net = NULL;
  assert_int_equal(mupc_net_init(&net, ctx, &p), MUPC_OK);
  const mupc_gemm before = mupc_ctx_gemm(ctx);
  double clblast = 0, host = 0;
  assert_int_equal(mupc_net_sgemm_rate(net, 1, &clblast), MUPC_OK);
  assert_true(clblast > 0);
  assert_int_equal(mupc_ctx_gemm(ctx), before);
  if (MUPC_HAVE_HOST_BLAS) {
    assert_int_equal(mupc_net_host_sgemm_rate(net, 2, &host), MUPC_OK);
    assert_true(host > 0);
  } else {
    assert_int_equal(mupc_net_host_sgemm_rate(net, 2, &host), MUPC_EINVAL);
  }
  assert_int_equal(mupc_net_host_sgemm_rate(net, 0, &host), MUPC_EINVAL);
  mupc_net_free(net);
  mupc_ctx_free(ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_choice),         cmocka_unit_test(test_products),
      cmocka_unit_test(test_auto_measured),
      cmocka_unit_test(test_queue_order),    cmocka_unit_test(test_operand_checks),
      cmocka_unit_test(test_native_fault),   cmocka_unit_test(test_steps_agree),
      cmocka_unit_test(test_rates),
  };
  return cmocka_run_group_tests(tests, env_setup, NULL);
}
