/* Shared by hostinfer.c and hostinfer_kern.c: the host inference's
 * buffers and scalars, and the per-activation element loops each build of
 * hostinfer_kern.c provides (one build per instruction set). */
#ifndef MUPC_HOSTINFER_H
#define MUPC_HOSTINFER_H

#include "mupc.h"

/* The buffers of a host inference, in mupc__host_call's order. */
enum {
  B_Z, B_D, B_A, B_DA, B_R, B_E, B_BP, B_DZ, B_ZM, B_ZV, B_PRED, B_PREDL, B_Y, B_EL, B_LOSS,
  B_W, B_WT, B_COUNT
};

typedef struct host_infer {
  int L, B, N, C, bn, t0, steps, wavefront, adam, ce, act, rows_per_task;
  size_t off_hidden, off_out;
  float scale_h, skip_h, scale_top, inv_b, lr, b1, b2, eps;
  const struct mupc__host_act *acts; /* the element loops for this CPU */
} host_infer;

/* One activation's elementwise passes over samples [r0, r1) of the band
 * from layer lo: the errors (hidden and output), and the activity update
 * of inference step t. */
typedef struct mupc__host_act mupc__host_act;
struct mupc__host_act {
  void (*errors)(const host_infer *, float *const *, int lo, int r0, int r1);
  void (*update)(const host_infer *, float *const *, int lo, int t, int r0, int r1);
};

/* Indexed by mupc_act; one table per build of hostinfer_kern.c. */
extern const mupc__host_act mupc__host_acts_avx512[MUPC_ACT_COUNT];
extern const mupc__host_act mupc__host_acts_avx2[MUPC_ACT_COUNT];
extern const mupc__host_act mupc__host_acts_base[MUPC_ACT_COUNT];

#endif
