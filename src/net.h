/* The network's device state, and the internal interfaces of the files
 * that work on it, lowest layer first: gemm.c, launch.c, net.c, wgrad.c,
 * bp.c; above them optim.c, step.c, rate.c and tune/search.c offer public
 * functions only (mupc.h). A file calls only files before it in this list
 * (tests/test_layers.sh checks that no circle of calls forms). */
#ifndef MUPC_NET_H
#define MUPC_NET_H

#include "internal.h"

typedef struct mupc__kernels {
  cl_kernel ff_first, ff_hidden, pc_errors, out_error, pc_update, pc_update_adam, bp_backward;
  cl_kernel refresh_act;
  cl_kernel residual, rebase;
  cl_kernel adam_update, sgd_update, layer_energy;
  cl_kernel transpose;
} mupc__kernels;

struct mupc_net {
  mupc_net_params p;
  mupc_ctx *ctx;
  mupc__kernels k;
  size_t wg; /* work-group size for elementwise kernels */

  /* Sizes in floats. */
  size_t n_params; /* N·D + (L-2)·N² + C·N */
  size_t off_hidden, off_out; /* where W_2 and W_L start in the flat buffers */
  size_t bn;                  /* B·N, one hidden layer of activities */

  /* One allocation per role; all layers of a role share it. */
  cl_mem w;      /* [W_1 (N,D) | W_2..W_{L-1} (L-2,N,N) | W_L (C,N)] */
  /* The weights transposed, at the same offsets: [W_1ᵀ (D,N) | W_lᵀ
   * (L-2,N,N) | W_Lᵀ (N,C)]. The forward products (prediction) read these,
   * so every GEMM of a step takes its second operand untransposed, which
   * is the form the host provider's JIT kernels take (hostgemm.c); the
   * copy is remade (mupc__weights_transposed) before the first product
   * that reads it after the weights changed. */
  cl_mem wt;
  int wt_stale; /* w changed since wt was made */
  cl_mem grad;   /* same layout as w */
  cl_mem adam_m; /* same layout as w */
  cl_mem adam_v; /* same layout as w */
  cl_mem x;      /* (B, D) */
  cl_mem y;      /* (B, C) */
  cl_mem f1;     /* (B, N)      f_1(x), fixed during inference */
  /* Activities z_1 … z_{L-1} are z + d: a reference (the feedforward
   * values) and a displacement, so inference's tiny moves survive rounding
   * (cl/pc.cl explains the error formula this gives). */
  cl_mem z;      /* (L-1, B, N) reference activities */
  cl_mem d;      /* (L-1, B, N) displacement from the reference */
  cl_mem a;      /* (L-1, B, N) φ(z + d) */
  cl_mem da;     /* (L-1, B, N) φ(z + d) − φ(z) */
  cl_mem r;      /* (L-1, B, N) z_l − f_l(z_{l-1}), zero after a feedforward */
  cl_mem e;      /* (L, B, N) hidden errors, and a last layer of zeros: the
                  * activity update reads the error above every layer
                  * unconditionally (cl/pc.cl) */
  cl_mem bp;     /* (L-1, B, N) back-projected errors E_{l+1} W_{l+1} */
  cl_mem dz;     /* (L-1, B, N) activity gradients, written when asked */
  cl_mem zm;     /* (L-1, B, N) Adam state of activities (activity Adam only) */
  cl_mem zv;     /* (L-1, B, N) */
  cl_mem pred;   /* (max(L-2,1), B, N) da_{l-1} W_lᵀ (φ(z_{l-1}) W_lᵀ in the
                  * feedforward), unscaled */
  cl_mem predl;  /* (B, C) readout prediction, unscaled */
  cl_mem el;     /* (B, C) output error */
  cl_mem loss;   /* (B) per-sample output loss */
  cl_mem energy; /* (2, L) energies: after feedforward, after inference */
  size_t bytes_zm;

  /* Inference steps since the feedforward init; the wavefront band follows
   * from it. Anything else that moves activities sets it to L (full band). */
  int infer_t;
  int per_step_enqueues; /* the most enqueues one inference step issued */
  uint64_t enqueues;
  uint64_t flops; /* GEMM FLOPs issued */
  int64_t t; /* weight optimiser steps */

  /* DESIGN §1's per-layer scalings and skips, mupc_layer_scale and
   * mupc_layer_skip of p for l < depth, computed once at creation: every
   * launch reads them. */
  float *scale;
  float *skip;
};

/* ---- gemm.c: every GEMM, row-major, counted as one enqueue ----
 * C[i] = alpha · op(A[i]) · op(B[i]) + beta · C[i] for i < batch, with
 * offsets and strides in floats. */
typedef struct mupc__gemm_args {
  int trans_a, trans_b;
  size_t m, n, k;
  float alpha, beta;
  cl_mem a;
  size_t a_off, lda, a_stride;
  cl_mem b;
  size_t b_off, ldb, b_stride;
  cl_mem c;
  size_t c_off, ldc, c_stride, batch;
} mupc__gemm_args;
/* On the given provider (CLBLAST or HOST), whatever the context's. */
int mupc__gemm_run(mupc_net *net, mupc_gemm provider, const mupc__gemm_args *g);
/* On the context's provider. */
int mupc__gemm(mupc_net *net, int trans_a, int trans_b, size_t m, size_t n, size_t k,
               float alpha, cl_mem a, size_t a_off, size_t lda, size_t a_stride, cl_mem b,
               size_t b_off, size_t ldb, size_t b_stride, float beta, cl_mem c, size_t c_off,
               size_t ldc, size_t c_stride, size_t batch);

/* ---- launch.c: the library's own kernels ----
 * Arguments go in as (size, address) pairs, a run of them from index
 * `first`:
 *   MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->z), MUPC__INT(count), MUPC__FLOAT(s)));
 * The typed wrappers spell out the type each kernel parameter has in cl/,
 * since clSetKernelArg checks only the size. A failure names the kernel and
 * the argument's index. */
typedef struct mupc__arg {
  size_t size;
  const void *value;
} mupc__arg;
int mupc__kernel_args(cl_kernel k, cl_uint first, const mupc__arg *args, size_t n);
#define MUPC__MEM(v) ((mupc__arg){sizeof(cl_mem), &(cl_mem){(v)}})
#define MUPC__INT(v) ((mupc__arg){sizeof(int), &(int){(v)}})
#define MUPC__FLOAT(v) ((mupc__arg){sizeof(float), &(float){(v)}})
#define MUPC__ARGS(k, first, ...)                                              \
  mupc__kernel_args((k), (first), (const mupc__arg[]){__VA_ARGS__},             \
                    sizeof((const mupc__arg[]){__VA_ARGS__}) / sizeof(mupc__arg))
/* Enqueues a 1-D kernel over n items, rounded up to the work-group size. */
int mupc__launch(mupc_net *net, cl_kernel k, size_t n);
/* Zeroes floats [off, off + n) of buf. */
int mupc__fill_zero(mupc_net *net, cl_mem buf, size_t off, size_t n);

/* Returns the status of expr from the calling function when it fails. */
#define MUPC__TRY(expr)                                                        \
  do {                                                                         \
    int rc__ = (expr);                                                         \
    if (rc__) return rc__;                                                     \
  } while (0)

/* ---- net.c ---- */
/* Makes wt from w if the weights changed since it was made. Every writer
 * of w sets wt_stale; every reader of wt calls this first. */
int mupc__weights_transposed(mupc_net *net);
/* Offset in floats of weight matrix `layer` (0-based) in w/grad/m/v. */
size_t mupc__weight_offset(const mupc_net *net, int layer);
/* Activities written by the host: mupc__activities_rebase before the write
 * (z += d for every layer), mupc__activities_written after it (φ of the
 * written slot [off, off + n), and every layer's residual r). */
int mupc__activities_rebase(mupc_net *net);
int mupc__activities_written(mupc_net *net, int off, int n);

/* 1/B of DESIGN §2 for the activity and weight gradients (norm_batch, or
 * the batch when that is 0). */
static inline float mupc__grad_norm(const mupc_net_params *p) {
  return 1.0f / (float)(p->norm_batch > 0 ? p->norm_batch : p->batch);
}

/* ---- hostinfer.c ---- */
/* Runs `steps` inference steps as one host call where the context's
 * provider is HOST and LIBXSMM is built in: 1 when it ran them, 0 when the
 * device path (step.c) must, a negative status on failure. */
int mupc__host_infer(mupc_net *net, int steps);
/* The feedforward (mupc__forward's work, the readout's product included)
 * as one host call, likewise: 1, 0 or a status. */
int mupc__host_forward(mupc_net *net);
/* The weight optimiser's step (Adam's bias corrections c1, c2) and the
 * transposed weights in one host call, likewise: 1, 0 or a status. */
int mupc__host_update(mupc_net *net, float c1, float c2);

/* ---- wgrad.c ---- */
/* Weight gradients from the current errors e (hidden) and el (output),
 * for the layers from hidden layer lo (1-based) up; those below get zero.
 * PC and backprop share them (bp.c explains why). */
int mupc__weight_grads_from_errors(mupc_net *net, int lo);

/* ---- bp.c ---- */
/* Backprop's backward pass and its weight gradients. */
int mupc__bp_backward(mupc_net *net);

#endif
