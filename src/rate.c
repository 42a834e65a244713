/* FLOP accounting and the device's own SGEMM rate on a network's shapes:
 * the yardstick `mupc bench` divides by. */
#include "net.h"

uint64_t mupc_net_flop_count(const mupc_net *net) { return net->flops; }

double mupc_net_dense_flops_per_step(const mupc_net_params *p) {
  const double B = p->batch, D = p->input_dim, N = p->width, C = p->output_dim, L = p->depth;
  const double pass = 2.0 * B * (D * N + (L - 2) * N * N + N * C);
  const double passes = p->algo == MUPC_ALGO_BP ? 3.0 : 2.0 + 2.0 * p->infer_steps;
  return pass * passes;
}

/* The step's GEMMs, one full pass of each kind: the prediction pass (first
 * layer, every hidden layer in one batched call, readout), the
 * back-projection pass, and the weight-gradient pass, on the network's own
 * buffers. Their contents are overwritten; callers run this outside
 * training. */
enum { PASSES = 6 };
static void gemm_passes(const mupc_net *net, mupc__gemm_args g[PASSES], size_t *count) {
  const mupc_net_params *p = &net->p;
  const size_t B = p->batch, N = p->width, D = p->input_dim, C = p->output_dim, bn = net->bn;
  const size_t H = (size_t)(p->depth - 2);
  size_t n = 0;
#define ADD(...) g[n++] = (mupc__gemm_args){.alpha = 1.0f, .beta = 0.0f, __VA_ARGS__}
  /* The predictions read the transposed weights (net.h), as the step does. */
  ADD(.m = B, .n = N, .k = D, .a = net->x, .lda = D, .b = net->wt, .ldb = N, .c = net->f1,
      .ldc = N, .batch = 1);
  if (H)
    ADD(.m = B, .n = N, .k = N, .a = net->a, .lda = N, .a_stride = bn, .b = net->wt,
        .b_off = net->off_hidden, .ldb = N, .b_stride = N * N, .c = net->pred, .ldc = N,
        .c_stride = bn, .batch = H);
  ADD(.m = B, .n = C, .k = N, .a = net->a, .a_off = H * bn, .lda = N, .b = net->wt,
      .b_off = net->off_out, .ldb = C, .c = net->predl, .ldc = C, .batch = 1);
  if (H)
    ADD(.m = B, .n = N, .k = N, .a = net->e, .a_off = bn, .lda = N, .a_stride = bn, .b = net->w,
        .b_off = net->off_hidden, .ldb = N, .b_stride = N * N, .c = net->bp, .ldc = N,
        .c_stride = bn, .batch = H);
  ADD(.m = B, .n = N, .k = C, .a = net->el, .lda = C, .b = net->w, .b_off = net->off_out, .ldb = N,
      .c = net->bp, .c_off = H * bn, .ldc = N, .batch = 1);
  if (H)
    ADD(.m = N, .n = N, .k = B, .trans_a = 1, .a = net->e, .a_off = bn, .lda = N, .a_stride = bn,
        .b = net->a, .ldb = N, .b_stride = bn, .c = net->grad, .c_off = net->off_hidden, .ldc = N,
        .c_stride = N * N, .batch = H);
#undef ADD
  *count = n;
}

static uint64_t passes_flops(const mupc__gemm_args *g, size_t n) {
  uint64_t f = 0;
  for (size_t i = 0; i < n; i++) f += 2 * (uint64_t)g[i].m * g[i].n * g[i].k * g[i].batch;
  return f;
}

static int run_passes(mupc_net *net, mupc_gemm provider, const mupc__gemm_args *g, size_t n) {
  int rc = MUPC_OK;
  for (size_t i = 0; i < n && !rc; i++) rc = mupc__gemm_run(net, provider, &g[i]);
  return rc;
}

int mupc_net_sgemm_rate(mupc_net *net, int reps, double *gflops) {
  if (reps < 1) return mupc__fail(MUPC_EINVAL, "reps must be >= 1");
  mupc__gemm_args g[PASSES];
  size_t n;
  gemm_passes(net, g, &n);
  /* CLBlast whatever the context uses: this is the device's own rate, and
   * mupc tune's yardstick. */
  int rc = run_passes(net, MUPC_GEMM_CLBLAST, g, n); /* warm-up: kernels compile here */
  if (!rc) rc = mupc_ctx_finish(net->ctx);
  if (rc) return rc;
  const double t0 = mupc__seconds();
  for (int i = 0; i < reps && !rc; i++) rc = run_passes(net, MUPC_GEMM_CLBLAST, g, n);
  if (!rc) rc = mupc_ctx_finish(net->ctx);
  const double dt = mupc__seconds() - t0;
  if (rc) return rc;
  *gflops = dt > 0 ? (double)passes_flops(g, n) * reps / dt * 1e-9 : 0.0;
  return MUPC_OK;
}

int mupc_net_host_sgemm_rate(const mupc_net *net, int reps, double *gflops) {
  if (reps < 1) return mupc__fail(MUPC_EINVAL, "reps must be >= 1");
  if (!MUPC_HAVE_HOST_BLAS)
    return mupc__fail(MUPC_EINVAL, "this libmupc was built without a host BLAS (-Dhost_blas)");
  mupc__gemm_args g[PASSES];
  size_t n;
  gemm_passes(net, g, &n);
  /* Host arrays the size of the device buffers the passes use, found by
   * handle: the same shapes, strides and offsets, in plain malloc'd memory. */
  const mupc_net_params *p = &net->p;
  const size_t L = p->depth, bn = net->bn;
  const struct {
    cl_mem mem;
    size_t floats;
  } sizes[] = {{net->x, (size_t)p->batch * p->input_dim},
               {net->w, net->n_params},
               {net->wt, net->n_params},
               {net->f1, bn},
               {net->a, (L - 1) * bn},
               {net->pred, (L > 2 ? L - 2 : 1) * bn},
               {net->predl, (size_t)p->batch * p->output_dim},
               {net->e, L * bn},
               {net->bp, (L - 1) * bn},
               {net->el, (size_t)p->batch * p->output_dim},
               {net->grad, net->n_params}};
  enum { NB = sizeof sizes / sizeof sizes[0] };
  float *host[NB] = {NULL};
  int rc = MUPC_OK;
  for (int i = 0; i < NB && !rc; i++) {
    /* Small non-zero values: no BLAS shortcut, no denormals. */
    host[i] = malloc(sizes[i].floats * sizeof(float));
    if (!host[i]) rc = mupc__fail(MUPC_ENOMEM, "out of host memory for the host GEMM rate");
    for (size_t j = 0; !rc && j < sizes[i].floats; j++) host[i][j] = (float)(j % 7) * 0.01f;
  }
  float *ptr[PASSES][3];
  for (size_t i = 0; i < n && !rc; i++) {
    const cl_mem mems[3] = {g[i].a, g[i].b, g[i].c};
    for (int o = 0; o < 3; o++) {
      ptr[i][o] = NULL;
      for (int j = 0; j < NB; j++)
        if (sizes[j].mem == mems[o]) ptr[i][o] = host[j];
      if (!ptr[i][o]) rc = mupc__fail(MUPC_EINVAL, "host GEMM rate: an operand without a size");
    }
  }
  double dt = 0.0;
  for (int r = -1; r < reps && !rc; r++) { /* r = -1: warm-up, pages touched */
    const double t0 = mupc__seconds();
    for (size_t i = 0; i < n; i++)
      mupc__host_sgemm(g[i].trans_a, g[i].trans_b, g[i].m, g[i].n, g[i].k, g[i].alpha,
                       ptr[i][0] + g[i].a_off, g[i].lda, g[i].a_stride, ptr[i][1] + g[i].b_off,
                       g[i].ldb, g[i].b_stride, g[i].beta, ptr[i][2] + g[i].c_off,
                       g[i].ldc, g[i].c_stride, g[i].batch);
    if (r >= 0) dt += mupc__seconds() - t0;
  }
  for (int i = 0; i < NB; i++) free(host[i]);
  if (rc) return rc;
  *gflops = dt > 0 ? (double)passes_flops(g, n) * reps / dt * 1e-9 : 0.0;
  return MUPC_OK;
}
