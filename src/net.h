/* The network's device state, and the internal interfaces of the files
 * that work on it, lowest layer first: plan.c, net.c, hostinfer.c,
 * wgrad.c, bp.c; above them optim.c, step.c, rate.c and tune/search.c
 * offer public functions only (mupc.h). Below all of them, GEMMs and
 * launches (gemm.c, launch.c) take a context and a counters record
 * (internal.h), not a network. A file calls only files before it in this list
 * (tests/test_layers.sh checks that no circle of calls forms). */
#ifndef MUPC_NET_H
#define MUPC_NET_H

#include "internal.h"
#include "plan.h"

/* The library's kernels (cl/), by name and by id (MUPC__KERNELS in
 * internal.h): net.c creates and releases them from that one list. */
typedef union mupc__kernels {
  struct {
#define MUPC__KERNEL_FIELD(name) mupc__kernel name;
    MUPC__KERNELS(MUPC__KERNEL_FIELD)
#undef MUPC__KERNEL_FIELD
  };
  mupc__kernel at[MUPC__K_NET];
} mupc__kernels;

/* A kernel object for one set of argument values (mupc__net_kernel_for):
 * the fused products, whose arguments move with the wavefront, each get one
 * per distinct call, made and set once, so a repeated call is one enqueue. */
typedef struct mupc__keyed_kernel {
  int id;     /* MUPC__K_* */
  int key[8]; /* the caller's: what distinguishes the call */
  mupc__kernel k;
} mupc__keyed_kernel;

struct mupc_net {
  mupc_net_params p;
  mupc_ctx *ctx;
  mupc__kernels k;
  cl_program prog; /* the kernels' program (the context's cache owns it) */
  mupc__keyed_kernel *keyed;
  size_t nkeyed, cap_keyed;

  /* The layers: shapes, scalings, offsets, runs (plan.h). Sizes below
   * are the MLP's: n_params = N·D + (L-2)·N² + C·N, slot = B·N. */
  mupc__plan plan;

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
  mupc__counters count;  /* enqueues and GEMM FLOPs issued */
  int64_t t; /* weight optimiser steps */
};

/* ---- net.c ---- */
/* The kernel object of kernel id for the call `key` (8 ints, the caller's
 * encoding): *fresh is 1 when it was made now, and the caller sets its
 * arguments; after that the object keeps them. */
int mupc__net_kernel_for(mupc_net *net, int id, const int key[8], mupc__kernel **out, int *fresh);
/* The step's GEMMs, one full pass of each kind over every run of the
 * plan: the predictions, the back-projections (every layer above the
 * first) and the weight gradients, on the network's own buffers (their
 * contents are overwritten: for measurements outside training). *g is
 * malloc'd. */
int mupc__net_passes(const mupc_net *net, mupc__gemm_args **g, size_t *count);
/* Runs that pass of the layer plan over layers [j0, j1) on the context's
 * provider, counted in the net's counters. */
int mupc__run_pass(mupc_net *net, mupc__pass pass, int j0, int j1);
/* Makes wt from w if the weights changed since it was made. Every writer
 * of w sets wt_stale; every reader of wt calls this first. */
int mupc__weights_transposed(mupc_net *net);
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
