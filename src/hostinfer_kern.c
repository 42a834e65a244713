/* The host inference's element loops (hostinfer.c), for one instruction
 * set: meson compiles this file once per MUPC_HOST_ISA (avx512, avx2,
 * base) with that set's flags, and hostinfer.c picks the build the CPU
 * runs. The loops are cl/common.cl and cl/pc.cl themselves, compiled as C
 * (hostinfer_act.h), so the host cannot drift from the device kernels;
 * -fno-trapping-math (meson.build) lets the compiler turn their branches
 * into selects and vectorise them. */
#include "hostinfer.h"

#include <math.h>
#include <string.h>
#include <tgmath.h>

/* ---- OpenCL C as C ----
 * What cl/common.cl and cl/pc.cl use of OpenCL C, for a C compiler: the
 * address-space qualifier vanishes, a kernel is an always-inlined static
 * function run once per element with its global id in host_gid, and the
 * built-ins map to C's (tgmath.h makes exp(float) expf, as OpenCL's
 * exp(float) is float). The standard headers are all included above:
 * `inline` is redefined below. */
static _Thread_local int host_gid;
#define __global
#define __kernel static __inline__ __attribute__((always_inline, unused))
#define inline static __inline__ __attribute__((unused))
#define get_global_id(dim) host_gid
/* The kernels whose bodies the loops expand are left out (MUPC_HOST_C);
 * in the loops the bounds are exact and the index is g__. */
#define MUPC_HOST_C 1
#define ELEMENT_GUARD(out_of_range)
#define ELEMENT_ID g__
/* A union, not memcpy: GCC vectorises loops through the former only. */
static __inline__ unsigned as_uint(float x) {
  const union {
    float f;
    unsigned u;
  } bits = {.f = x};
  return bits.u;
}
static __inline__ float clamp(float x, float lo, float hi) { return fmin(fmax(x, lo), hi); }

#define ACT_FN3(name, act) name##_##act
#define ACT_FN2(name, act) ACT_FN3(name, act)
#define ACT_FN(name) ACT_FN2(name, MUPC_ACT)

/* One build per activation, by the macros of cl/common.cl (included by
 * the first build: its ACT_* names the values). */
#define MUPC_ACT 0
#include "hostinfer_act.h"
#undef MUPC_ACT
#define MUPC_ACT ACT_RELU
#include "hostinfer_act.h"
#undef MUPC_ACT
#define MUPC_ACT ACT_TANH
#include "hostinfer_act.h"
#undef MUPC_ACT
#define MUPC_ACT ACT_HARD_TANH
#include "hostinfer_act.h"
#undef MUPC_ACT
#define MUPC_ACT ACT_LEAKY_RELU
#include "hostinfer_act.h"
#undef MUPC_ACT
#define MUPC_ACT ACT_GELU
#include "hostinfer_act.h"
#undef MUPC_ACT
#define MUPC_ACT ACT_SELU
#include "hostinfer_act.h"
#undef MUPC_ACT
#define MUPC_ACT ACT_SILU
#include "hostinfer_act.h"
#undef MUPC_ACT
_Static_assert(ACT_LINEAR == 0, "the first build above is ACT_LINEAR's");
#undef inline

#define TABLE3(isa) mupc__host_acts_##isa
#define TABLE2(isa) TABLE3(isa)
/* Indexed by mupc_act; each row the build of its cl/common.cl ACT_*
 * macro, as init.c's table of activations names it for the device. */
#define ROW3(n) {ff_first_run_##n, ff_hidden_run_##n, errors_##n, update_##n}
#define ROW2(n) ROW3(n)
#define ROW(e) [MUPC_ACT_##e] = ROW2(ACT_##e)
const mupc__host_act TABLE2(MUPC_HOST_ISA)[MUPC_ACT_COUNT] = {
    ROW(LINEAR), ROW(RELU), ROW(TANH), ROW(HARD_TANH),
    ROW(LEAKY_RELU), ROW(GELU), ROW(SELU), ROW(SILU),
};
#undef ROW

/* The weight optimisers: cl/optim.cl's bodies in loops. */
#include "optim.cl"

static void adam_run(float *restrict w, const float *restrict g, float *restrict m,
                     float *restrict v, const int i0, const int i1, const float lr, const float b1,
                     const float b2, const float eps, const float wd, const float c1,
                     const float c2) {
  for (int g__ = i0; g__ < i1; g__++) {
    ADAM_BODY
  }
}

static void sgd_run(float *restrict w, const float *restrict g, const int i0, const int i1,
                    const float lr, const float wd) {
  for (int g__ = i0; g__ < i1; g__++) {
    SGD_BODY
  }
}

#define OPTIM3(isa) mupc__host_optim_##isa
#define OPTIM2(isa) OPTIM3(isa)
const mupc__host_optim OPTIM2(MUPC_HOST_ISA) = {adam_run, sgd_run};
