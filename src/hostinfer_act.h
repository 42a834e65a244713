/* One activation's share of the host inference (hostinfer.c includes this
 * once per activation, with MUPC_ACT and ACT_FN set): cl/common.cl and
 * cl/pc.cl compiled as C, so the host runs the very kernels the devices
 * run, and the row loops that apply them to one block of samples. Every
 * name the .cl files define gets the activation's suffix. */
#define phi ACT_FN(phi)
#define dphi ACT_FN(dphi)
#define phi_delta ACT_FN(phi_delta)
#define ftz ACT_FN(ftz)
#define ff_hidden ACT_FN(ff_hidden)
#define ff_first ACT_FN(ff_first)
#define pc_errors ACT_FN(pc_errors)
#define residual ACT_FN(residual)
#define rebase ACT_FN(rebase)
#define out_error ACT_FN(out_error)
#define pc_update ACT_FN(pc_update)
#define pc_update_adam ACT_FN(pc_update_adam)
#define bp_backward ACT_FN(bp_backward)
#define refresh_act ACT_FN(refresh_act)

/* The linear activation's dphi ignores its argument and its phi_delta
 * leaves a variable unused: fine in OpenCL C, a warning in C. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#include "common.cl"
#include "pc.cl"
#pragma GCC diagnostic pop

/* The kernels' bodies over elements [g0, g1) of a band: plain loops the
 * compiler vectorises, built for AVX-512, AVX2 and the baseline, the best
 * the CPU has chosen at load time (hostinfer_kern.c). The parameters carry the kernels'
 * argument names, which the bodies use. */
static void ACT_FN(errors_run)(const float *restrict r, const float *restrict d,
                                               const float *restrict pred, float *restrict e,
                                               const int lo, const int bn, const float scale,
                                               const float skip, const int g0, const int g1) {
  for (int g__ = g0; g__ < g1; g__++) {
    PC_ERRORS_BODY
  }
}

static void ACT_FN(ff_first_run)(float *restrict z, float *restrict a, const float *restrict f1,
                                 const int bn, const int i0, const int i1) {
  (void)bn; /* the guard's bound, dropped here */
  for (int g__ = i0; g__ < i1; g__++) {
    FF_FIRST_BODY
  }
}

static void ACT_FN(ff_hidden_run)(float *z, float *restrict a, const float *restrict pred,
                                  const int zoff, const int poff, const int bn, const float scale,
                                  const float skip, const int i0, const int i1) {
  for (int g__ = i0; g__ < i1; g__++) {
    FF_HIDDEN_BODY
  }
}

#define UPDATE_RUN(NAME, ADAM)                                                                     \
  static void NAME(                                                                \
      const float *restrict z, float *restrict d, float *restrict a, float *restrict da,           \
      const float *restrict e, const float *restrict bp, float *restrict m, float *restrict v,     \
      const int lo, const int bn, const int top, const float scale_h, const float skip_h,          \
      const float scale_top, const float inv_b, const float lr, const float b1, const float b2,    \
      const float eps, const float c1, const float c2, const int g0, const int g1) {               \
    float *const dz = NULL;                                                                        \
    const int store_dz = 0;                                                                        \
    for (int g__ = g0; g__ < g1; g__++) {                                                          \
      PC_UPDATE_BODY(ADAM)                                                                         \
    }                                                                                              \
  }
UPDATE_RUN(ACT_FN(update_gd_run), 0)
UPDATE_RUN(ACT_FN(update_adam_run), 1)
#undef UPDATE_RUN

/* First and last element g (as the kernels count a band from layer lo) of
 * layer l's samples [r0, r1). */
#define ROWS_G0(h, lo, l, r0) (((l) - (lo)) * (h)->bn + (r0) * (h)->N)
#define ROWS_G1(h, lo, l, r1) (((l) - (lo)) * (h)->bn + (r1) * (h)->N)

static void ACT_FN(errors)(const host_infer *h, float *const *p, int lo, int r0, int r1) {
  for (int l = lo; l <= h->L - 1; l++)
    ACT_FN(errors_run)(p[B_R], p[B_D], p[B_PRED], p[B_E], lo, h->bn, h->scale_h, h->skip_h,
                       ROWS_G0(h, lo, l, r0), ROWS_G1(h, lo, l, r1));
  for (int b = r0; b < r1; b++) {
    host_gid = b;
    out_error(p[B_PREDL], p[B_Y], p[B_EL], p[B_LOSS], h->B, h->C, h->scale_top, h->ce);
  }
}

static void ACT_FN(update)(const host_infer *h, float *const *p, int lo, int t, int r0, int r1) {
  const int top = (h->L - 2) * h->bn;
  const float c1 = h->adam ? (float)(1.0 / (1.0 - pow(h->b1, t))) : 1.0f;
  const float c2 = h->adam ? (float)(1.0 / (1.0 - pow(h->b2, t))) : 1.0f;
  for (int l = lo; l <= h->L - 1; l++)
    (h->adam ? ACT_FN(update_adam_run) : ACT_FN(update_gd_run))(
        p[B_Z], p[B_D], p[B_A], p[B_DA], p[B_E], p[B_BP], p[B_ZM], p[B_ZV], lo, h->bn, top,
        h->scale_h, h->skip_h, h->scale_top, h->inv_b, h->lr, h->b1, h->b2, h->eps, c1, c2,
        ROWS_G0(h, lo, l, r0), ROWS_G1(h, lo, l, r1));
}

#undef ROWS_G0
#undef ROWS_G1
#undef phi
#undef dphi
#undef phi_delta
#undef ftz
#undef ff_hidden
#undef ff_first
#undef pc_errors
#undef residual
#undef rebase
#undef out_error
#undef pc_update
#undef pc_update_adam
#undef bp_backward
#undef refresh_act
