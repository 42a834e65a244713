/* Shared by hostinfer.c and hostinfer_kern.c: the host inference's
 * buffers and scalars, and the per-activation element loops each build of
 * hostinfer_kern.c provides (one build per instruction set). */
#ifndef MUPC_HOSTINFER_H
#define MUPC_HOSTINFER_H

#include "mupc.h"

/* The buffers of a host inference, in mupc__host_call's order. */
enum {
  B_Z, B_D, B_A, B_DA, B_R, B_E, B_BP, B_DZ, B_ZM, B_ZV, B_PRED, B_PREDL, B_Y, B_EL, B_LOSS,
  B_W, B_WT, B_X, B_F1, B_COUNT
};

typedef struct host_infer {
  int L, B, N, C, D, bn, t0, steps, wavefront, adam, ce, act;
  const struct mupc__layer *layer; /* the net's layer plan (plan.h): shapes, offsets */
  float scale_h, skip_h, scale_top, inv_b, lr, b1, b2, eps;
  const struct mupc__host_act *acts; /* the element loops for this CPU */
} host_infer;

/* One activation's elementwise passes over samples [r0, r1) of the band
 * from layer lo: the errors (hidden and output), and the activity update
 * of inference step t. */
typedef struct mupc__host_act mupc__host_act;
struct mupc__host_act {
  /* The feedforward's elements [i0, i1) of layer 1 (z = f1, a = φ(f1)),
   * and of hidden layer l >= 2 (slot zoff = (l-1)·bn, pred slot poff). */
  void (*ff_first)(float *z, float *a, const float *f1, int bn, int i0, int i1);
  void (*ff_hidden)(float *z, float *a, const float *pred, int zoff, int poff, int bn,
                    float scale, float skip, int i0, int i1);
  void (*errors)(const host_infer *, float *const *, int lo, int r0, int r1);
  void (*update)(const host_infer *, float *const *, int lo, int t, int r0, int r1);
};

/* The weight optimisers over parameters [i0, i1) (cl/optim.cl's bodies). */
typedef struct mupc__host_optim {
  void (*adam)(float *w, const float *g, float *m, float *v, int i0, int i1, float lr, float b1,
               float b2, float eps, float wd, float c1, float c2);
  void (*sgd)(float *w, const float *g, int i0, int i1, float lr, float wd);
} mupc__host_optim;

/* One of each per build of hostinfer_kern.c; acts is indexed by mupc_act. */
extern const mupc__host_act mupc__host_acts_avx512[MUPC_ACT_COUNT];
extern const mupc__host_act mupc__host_acts_avx2[MUPC_ACT_COUNT];
extern const mupc__host_act mupc__host_acts_base[MUPC_ACT_COUNT];
extern const mupc__host_optim mupc__host_optim_avx512, mupc__host_optim_avx2,
    mupc__host_optim_base;

#endif
