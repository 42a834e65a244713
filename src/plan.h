/* The layer plan (DESIGN §15): every fact about a network's layers that
 * more than one file needs, as data made once from the parameters. Each
 * weight layer j (0 … L-1) has a kind, a weight shape, a fan-in, its
 * scaling and skip (DESIGN §1), and where its weights and its output
 * activities lie in the flat buffers (DESIGN §5). Runs group consecutive
 * layers that one batched GEMM covers. The GEMM passes (plan.c's
 * mupc__pass_gemm) are made from these facts, so the step, the weight
 * gradients, backprop, the FLOP counts, the SGEMM yardstick and the host
 * path read one description of the network. */
#ifndef MUPC_PLAN_H
#define MUPC_PLAN_H

#include "internal.h"

typedef enum {
  MUPC__LAYER_INPUT,   /* j = 0: x (B, D) to the first hidden layer, no skip */
  MUPC__LAYER_HIDDEN,  /* 0 < j < L-1: a residual layer between hidden layers */
  MUPC__LAYER_READOUT, /* j = L-1: the last hidden layer to the output (B, C) */
} mupc__layer_kind;

typedef struct mupc__layer {
  mupc__layer_kind kind;
  int out, in;       /* the weight is (out, in): in values per sample to out */
  int fan_in;        /* the init's bound and the scaling's fan-in */
  float scale, skip; /* a_j and s_j of DESIGN §1 */
  /* Set by mupc__plan_make, not by mupc__plan_layer: */
  size_t w_off;   /* floats: this layer's weights in w, wt, grad, adam_m, adam_v */
  size_t w_size;  /* out · in */
  size_t out_off; /* floats: its output in the activity buffers (z, d, a, da,
                   * r, e, dz, zm, zv) for j < L-1, and the next layer's
                   * prediction and back-projection (pred, bp) for j ≥ 1
                   * sit at the previous layer's out_off */
} mupc__layer;

/* Layers [j0, j1): identical in shape and evenly spaced in every buffer,
 * so one strided-batched GEMM per pass covers them. */
typedef struct mupc__run {
  int j0, j1;
} mupc__run;

typedef struct mupc__plan {
  int L;
  size_t n_params;   /* floats in one parameter buffer */
  size_t act_floats; /* floats in one activity buffer: every hidden layer's output */
  size_t slot;       /* B·N: one hidden layer's activities, the element kernels' stride */
  mupc__layer *layer; /* [L] */
  mupc__run *run;     /* [nrun] */
  int nrun;
} mupc__plan;

/* Layer j's kind, shapes, fan-in, scale and skip: a pure function of p. */
mupc__layer mupc__plan_layer(const mupc_net_params *p, int j);
/* The whole plan (offsets and runs too); mupc__plan_free releases it. */
int mupc__plan_make(const mupc_net_params *p, mupc__plan *plan);
void mupc__plan_free(mupc__plan *plan);

/* The GEMM passes a layer needs, for layers [j0, j1) of one run:
 *   PREDICT        its prediction, input · Wᵀ (the transposed copy, net.h),
 *                  into f1 (j = 0, scaled), pred or predl (unscaled)
 *   PREDICT_DELTA  the same from the displacements da (inference, DESIGN §5)
 *   BACK           the back-projected error E · W onto its input, into bp
 *   WGRAD          its weight gradient −a_j/B · Eᵀ · input, into grad
 * The hidden run's passes are strided even for one layer: the feedforward
 * must round like the batched inference (gemm.c). */
typedef enum {
  MUPC__PASS_PREDICT,
  MUPC__PASS_PREDICT_DELTA,
  MUPC__PASS_BACK,
  MUPC__PASS_WGRAD,
} mupc__pass;
struct mupc__gemm_args;
void mupc__pass_gemm(const mupc_net *net, mupc__pass pass, int j0, int j1,
                     struct mupc__gemm_args *g);
/* 2·B·out·in over layers [j0, j1): one pass's FLOPs. */
uint64_t mupc__pass_flops(const mupc_net *net, int j0, int j1);

#endif
