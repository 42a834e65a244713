/* The tuned-parameter store: CLBlast's direct-GEMM parameters per device,
 * in one JSON file (mupc_tune_cache_path), read and applied when a context
 * is created (device.c) and written by the tuning search (search.c). It
 * only reads and writes the file and hands parameters to CLBlast: it never
 * builds a network or times anything, so the context can use it from below
 * everything that does. */
#ifndef MUPC_TUNE_STORE_H
#define MUPC_TUNE_STORE_H

#include "internal.h"

/* The parameters' names, in the order of every value array here. */
extern const char *const mupc__tune_param_names[MUPC_TUNE_NPARAMS];

/* The device's limits a parameter set must fit. */
typedef struct mupc__tune_limits {
  size_t max_wg;
  uint64_t local_mem;
} mupc__tune_limits;
mupc__tune_limits mupc__tune_device_limits(const mupc_ctx *ctx);
/* Whether v obeys the direct kernel's rules and fits lim. */
int mupc__tune_valid(const size_t *v, mupc__tune_limits lim);

/* Hands v to CLBlast for this device's single-precision XgemmDirect. */
int mupc__tune_override(mupc_ctx *ctx, const size_t *v);
/* Applies this device's stored parameters, if any and valid (never fails;
 * MUPC_NO_TUNE skips it), and records it in ctx->tuned. */
void mupc__tune_apply_cached(mupc_ctx *ctx);
/* Stores v as this device's parameters in the file at path, with the
 * rates r measured and the shape of p they were tuned on. */
int mupc__tune_store_save(const mupc_ctx *ctx, const char *path, const size_t *v,
                          const mupc_tune_result *r, const mupc_net_params *p);

/* The GEMM provider AUTO chose for a network of shape `shape` on this
 * device (net.c measures it once): *g and 1 when the file has it (and
 * MUPC_NO_TUNE is unset), else 0. Saving merges it into the device's
 * entry, beside its tuned parameters, with the two providers' seconds. */
int mupc__gemm_choice_load(const mupc_ctx *ctx, const char *shape, mupc_gemm *g);
int mupc__gemm_choice_save(const mupc_ctx *ctx, const char *shape, mupc_gemm g,
                           double seconds_clblast, double seconds_kernels);

#endif
