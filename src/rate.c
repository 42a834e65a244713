/* FLOP accounting and the device's own SGEMM rate on a network's shapes:
 * the yardstick `mupc bench` divides by. */
#include "net.h"

#include <time.h>

uint64_t mupc_net_flop_count(const mupc_net *net) { return net->flops; }

double mupc_net_dense_flops_per_step(const mupc_net_params *p) {
  const double B = p->batch, D = p->input_dim, N = p->width, C = p->output_dim, L = p->depth;
  const double pass = 2.0 * B * (D * N + (L - 2) * N * N + N * C);
  const double passes = p->algo == MUPC_ALGO_BP ? 3.0 : 2.0 + 2.0 * p->infer_steps;
  return pass * passes;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One full pass of the step's GEMMs: the prediction pass (first layer,
 * every hidden layer in one batched call, readout), the back-projection
 * pass, and the weight-gradient pass, on the network's own buffers. Their
 * contents are overwritten; callers run this outside training. */
static int gemm_passes(mupc_net *net) {
  const mupc_net_params *p = &net->p;
  const size_t B = p->batch, N = p->width, D = p->input_dim, C = p->output_dim, bn = net->bn;
  const size_t H = (size_t)(p->depth - 2);
  int rc = mupc__gemm(net, 0, 1, B, N, D, 1.0f, net->x, 0, D, 0, net->w, 0, D, 0, 0.0f, net->f1,
                      0, N, 0, 1);
  if (!rc && H)
    rc = mupc__gemm(net, 0, 1, B, N, N, 1.0f, net->a, 0, N, bn, net->w, net->off_hidden, N, N * N,
                    0.0f, net->pred, 0, N, bn, H);
  if (!rc)
    rc = mupc__gemm(net, 0, 1, B, C, N, 1.0f, net->a, H * bn, N, 0, net->w, net->off_out, N, 0,
                    0.0f, net->predl, 0, C, 0, 1);
  if (!rc && H)
    rc = mupc__gemm(net, 0, 0, B, N, N, 1.0f, net->e, bn, N, bn, net->w, net->off_hidden, N,
                    N * N, 0.0f, net->bp, 0, N, bn, H);
  if (!rc)
    rc = mupc__gemm(net, 0, 0, B, N, C, 1.0f, net->el, 0, C, 0, net->w, net->off_out, N, 0, 0.0f,
                    net->bp, H * bn, N, 0, 1);
  if (!rc && H)
    rc = mupc__gemm(net, 1, 0, N, N, B, 1.0f, net->e, bn, N, bn, net->a, 0, N, bn, 0.0f,
                    net->grad, net->off_hidden, N, N * N, H);
  return rc;
}

int mupc_net_sgemm_rate(mupc_net *net, int reps, double *gflops) {
  if (reps < 1) return mupc__fail(MUPC_EINVAL, "reps must be >= 1");
  int rc = gemm_passes(net); /* warm-up: kernel compilation happens here */
  if (!rc) rc = mupc_ctx_finish(net->ctx);
  if (rc) return rc;
  const uint64_t f0 = net->flops;
  const double t0 = now_seconds();
  for (int i = 0; i < reps && !rc; i++) rc = gemm_passes(net);
  if (!rc) rc = mupc_ctx_finish(net->ctx);
  const double dt = now_seconds() - t0;
  if (rc) return rc;
  *gflops = dt > 0 ? (double)(net->flops - f0) / dt * 1e-9 : 0.0;
  return MUPC_OK;
}
