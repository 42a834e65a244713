/* FLOP accounting and the device's own SGEMM rate on a network's shapes:
 * the yardstick `mupc bench` divides by. */
#include "net.h"

#include <stdlib.h>

uint64_t mupc_net_flop_count(const mupc_net *net) { return net->count.flops; }

/* One pass over every layer (2·B·out·in each, from the plan) times the
 * passes a step makes: BP forward, backward and weight gradients; PC the
 * feedforward, the weight gradients and two per inference step. */
double mupc_net_dense_flops_per_step(const mupc_net_params *p) {
  double pass = 0.0;
  for (int j = 0; j < p->depth; j++) {
    const mupc__layer l = mupc__plan_layer(p, j);
    pass += 2.0 * p->batch * l.out * l.in;
  }
  const double passes = p->algo == MUPC_ALGO_BP ? 3.0 : 2.0 + 2.0 * p->infer_steps;
  return pass * passes;
}

static uint64_t passes_flops(const mupc__gemm_args *g, size_t n) {
  uint64_t f = 0;
  for (size_t i = 0; i < n; i++) f += 2 * (uint64_t)g[i].m * g[i].n * g[i].k * g[i].batch;
  return f;
}

static int run_passes(mupc_net *net, mupc_gemm provider, const mupc__gemm_args *g, size_t n) {
  int rc = MUPC_OK;
  for (size_t i = 0; i < n && !rc; i++) rc = mupc__gemm_run(net->ctx, &net->count, provider, &g[i]);
  return rc;
}

int mupc_net_sgemm_rate(mupc_net *net, int reps, double *gflops) {
  if (reps < 1) return mupc__fail(MUPC_EINVAL, "reps must be >= 1");
  mupc__gemm_args *g;
  size_t n;
  MUPC__TRY(mupc__net_passes(net, &g, &n));
  /* CLBlast whatever the context uses: this is the device's own rate, and
   * mupc tune's yardstick. */
  int rc = run_passes(net, MUPC_GEMM_CLBLAST, g, n); /* warm-up: kernels compile here */
  if (!rc) rc = mupc_ctx_finish(net->ctx);
  const double t0 = mupc__seconds();
  for (int i = 0; i < reps && !rc; i++) rc = run_passes(net, MUPC_GEMM_CLBLAST, g, n);
  if (!rc) rc = mupc_ctx_finish(net->ctx);
  const double dt = mupc__seconds() - t0;
  if (!rc) *gflops = dt > 0 ? (double)passes_flops(g, n) * reps / dt * 1e-9 : 0.0;
  free(g);
  return rc;
}

/* Host copies of the passes' operands: one malloc'd array per distinct
 * device buffer, as large as the buffer, so the same shapes, strides and
 * offsets address them. ptr[3·i + o] is operand o (A, B, C) of pass i. */
typedef struct host_operands {
  cl_mem mem[3 * MUPC__HOST_MAX_BUFFERS];
  float *host[3 * MUPC__HOST_MAX_BUFFERS];
  int n;
} host_operands;

static int host_copy(const mupc_net *net, host_operands *h, cl_mem mem, float **out) {
  for (int i = 0; i < h->n; i++)
    if (h->mem[i] == mem) return *out = h->host[i], MUPC_OK;
  size_t bytes = 0;
  MUPC__TRY(mupc__buffer_bytes(net->ctx, mem, &bytes)); /* noted at allocation */
  if (h->n == 3 * MUPC__HOST_MAX_BUFFERS)
    return mupc__fail(MUPC_EINVAL, "host GEMM rate: more than %d operand buffers",
                      3 * MUPC__HOST_MAX_BUFFERS);
  float *f = malloc(bytes);
  if (!f) return mupc__fail(MUPC_ENOMEM, "out of host memory for the host GEMM rate");
  /* Small non-zero values: no BLAS shortcut, no denormals. */
  for (size_t j = 0; j < bytes / sizeof(float); j++) f[j] = (float)(j % 7) * 0.01f;
  h->mem[h->n] = mem;
  h->host[h->n++] = f;
  *out = f;
  return MUPC_OK;
}

int mupc_net_host_sgemm_rate(const mupc_net *net, int reps, double *gflops) {
  if (reps < 1) return mupc__fail(MUPC_EINVAL, "reps must be >= 1");
  if (!MUPC_HAVE_HOST_BLAS)
    return mupc__fail(MUPC_EINVAL, "this libmupc was built without a host BLAS (-Dhost_blas)");
  mupc__gemm_args *g;
  size_t n;
  MUPC__TRY(mupc__net_passes(net, &g, &n));
  host_operands h = {.n = 0};
  float **ptr = malloc(3 * n * sizeof *ptr);
  int rc = ptr ? MUPC_OK : mupc__fail(MUPC_ENOMEM, "out of host memory");
  for (size_t i = 0; i < n && !rc; i++) {
    const cl_mem mems[3] = {g[i].a, g[i].b, g[i].c};
    for (int o = 0; o < 3 && !rc; o++) rc = host_copy(net, &h, mems[o], &ptr[3 * i + o]);
  }
  double dt = 0.0;
  for (int r = -1; r < reps && !rc; r++) { /* r = -1: warm-up, pages touched */
    const double t0 = mupc__seconds();
    for (size_t i = 0; i < n; i++)
      mupc__host_sgemm(g[i].trans_a, g[i].trans_b, g[i].m, g[i].n, g[i].k, g[i].alpha,
                       ptr[3 * i] + g[i].a_off, g[i].lda, g[i].a_stride,
                       ptr[3 * i + 1] + g[i].b_off, g[i].ldb, g[i].b_stride, g[i].beta,
                       ptr[3 * i + 2] + g[i].c_off, g[i].ldc, g[i].c_stride, g[i].batch);
    if (r >= 0) dt += mupc__seconds() - t0;
  }
  if (!rc) *gflops = dt > 0 ? (double)passes_flops(g, n) * reps / dt * 1e-9 : 0.0;
  for (int i = 0; i < h.n; i++) free(h.host[i]);
  free(ptr);
  free(g);
  return rc;
}
