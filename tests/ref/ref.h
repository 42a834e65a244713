/* Double-precision reference implementation of DESIGN.md §1–3.
 *
 * This is the oracle the OpenCL implementation is tested against, so it is
 * written for obviousness rather than speed: plain loops over row-major
 * arrays, every formula spelled out where it is used. It uses only the types
 * and enums of mupc.h; it never calls into the library.
 *
 * Indexing: every `l` argument is 0-based. Weight layer l (0 … L-1) is
 * DESIGN's W_{l+1}; activity z[l] (0 … L-2) is DESIGN's z_{l+1}; error e[l]
 * (0 … L-1) is DESIGN's e_{l+1}. So ref_forward_layer(r, l, ...) computes
 * DESIGN's f_{l+1}, and ref_scale(p, l) / ref_skip(p, l) are a_{l+1} / s_{l+1}.
 *
 * Conventions chosen where DESIGN leaves a value open (kinks of the
 * activations, see ref_dphi) are documented in ref.c. */
#ifndef MUPC_REF_H
#define MUPC_REF_H

#include "mupc.h"

#include <stdint.h>

typedef struct ref_net {
  mupc_net_params p; /* copy of the params (D=input_dim, N=width, C=output_dim, L=depth, B=batch) */
  double **W; /* W[l], l = 0..L-1, row-major [out, in]: W[0] N×D, W[1..L-2] N×N, W[L-1] C×N */
  double **z; /* z[l], l = 0..L-2: free activities z_1..z_{L-1}, each (B, N) */
  double *x;  /* (B, D) clamped input */
  double *y;  /* (B, C) clamped target */
  double **m, **v; /* Adam state for weights, same shapes as W */
  int64_t t;       /* Adam steps taken */
} ref_net;

/* Allocates everything; weights, activities, batch and Adam state are zero.
 * Returns 0, MUPC_EINVAL for impossible sizes (any dimension < 1 or depth
 * < 2), or MUPC_ENOMEM. On failure *r holds nothing to free. */
int ref_init(ref_net *r, const mupc_net_params *p);
void ref_free(ref_net *r);

/* Shape [out, in] of weight layer l. */
void ref_weight_shape(const mupc_net_params *p, int l, int *out_dim, int *in_dim);

/* Copies float weights (row-major [out, in]) into layer l. */
void ref_set_weight(ref_net *r, int l, const float *w);
/* Copies a float batch in: x (B, D), y (B, C). */
void ref_set_batch(ref_net *r, const float *x, const float *y);

/* a_l and s_l of DESIGN §1 for 0-based layer l (0 outside 0 … L-1). */
double ref_scale(const mupc_net_params *p, int l);
double ref_skip(const mupc_net_params *p, int l);

/* The activation and its derivative (values at the kinks: see ref.c). */
double ref_phi(mupc_act a, double x);
double ref_dphi(mupc_act a, double x);

/* DESIGN's f_{l+1}(zin) for 0-based l: zin is (B, in_dim), out is
 * (B, out_dim). For the output layer this is the logits (no softmax). */
void ref_forward_layer(const ref_net *r, int l, const double *zin, double *out);

/* Sets z to the feedforward values and returns the training loss of the
 * feedforward output (MSE ½·mean_samples‖y−ŷ‖², CE −mean_samples Σ y log
 * softmax). */
double ref_feedforward(ref_net *r);

/* e[l], l = 0..L-1 (shapes as ref_alloc_like_e): e_1 … e_L at the current
 * activities. e[L-1] is y − f_L (MSE) or y − softmax(f_L) (CE). */
void ref_errors(const ref_net *r, double **e);

/* Energy F of DESIGN §2 at the current activities. per_layer (L entries, or
 * NULL) receives each layer's term, already divided by B; they sum to F. */
double ref_energy(const ref_net *r, double *per_layer);

/* dz[l] = ∂F/∂z_{l+1}, l = 0..L-2, each (B, N), by DESIGN §2's formula. */
void ref_activity_grads(const ref_net *r, double **dz);

/* `steps` inference steps on all activities at once (each from the same
 * previous state). GD: z -= activity_lr·dz. Adam: fresh state at the start
 * of every call, bias-corrected, ε after the square root. */
void ref_infer(ref_net *r, int steps);

/* dW[l] = ∂F/∂W_{l+1} at the current activities (DESIGN §2). */
void ref_weight_grads(const ref_net *r, double **dW);

/* One optimiser step with g = dW + weight_decay·W: Adam (t incremented
 * first, bias-corrected, ε after the square root) or SGD. */
void ref_update(ref_net *r, double *const *dW);

/* set_batch, feedforward, infer(infer_steps), weight_grads, update; returns
 * the feedforward loss. With p.algo == MUPC_ALGO_BP the inference and PC
 * gradients are replaced by ref_bp_grads (z are left at the feedforward
 * values). */
double ref_train_step(ref_net *r, const float *x, const float *y);

/* Backprop baseline: the loss of the feedforward output for the stored batch
 * (computed afresh; r->z is not read or written) and its exact gradient with
 * respect to every W by the chain rule through the same f_l. */
double ref_bp_loss(const ref_net *r);
void ref_bp_grads(const ref_net *r, double **dW);

/* Zeroed arrays of arrays shaped like W (L), z (L-1) or e (L); NULL if out of
 * memory. Free with ref_free_arrays(a, count). */
double **ref_alloc_like_W(const ref_net *r);
double **ref_alloc_like_z(const ref_net *r);
double **ref_alloc_like_e(const ref_net *r);
void ref_free_arrays(double **a, int n);

#endif
