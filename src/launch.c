/* Enqueueing the library's own kernels: their arguments, 1-D launches and
 * zero fills, on a context, counted in the caller's record. Every enqueue
 * of a network goes through here or gemm.c, which is what keeps its
 * enqueue count (mupc_net_enqueue_count) exact. */
#include "internal.h"

#include <string.h>

int mupc__kernel_args(mupc__kernel *k, cl_uint first, const mupc__arg *args, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const cl_uint index = first + (cl_uint)i;
    const int cached = index < MUPC__KERNEL_ARGS && args[i].size <= sizeof(uint64_t);
    if (cached && (k->known >> index & 1u) && k->size[index] == args[i].size &&
        !memcmp(&k->last[index], args[i].value, args[i].size))
      continue;
    const cl_int err = clSetKernelArg(k->k, index, args[i].size, args[i].value);
    if (err == CL_SUCCESS) {
      if (cached) {
        k->known |= 1u << index;
        k->size[index] = (unsigned char)args[i].size;
        memcpy(&k->last[index], args[i].value, args[i].size);
      }
      continue;
    }
    if (index < MUPC__KERNEL_ARGS) k->known &= ~(1u << index);
    /* Only a failure pays for asking the kernel its name. */
    char name[64] = "?";
    clGetKernelInfo(k->k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL);
    name[sizeof name - 1] = '\0';
    return mupc__fail(err, "clSetKernelArg(%s, argument %u): %s", name, (unsigned)index,
                      mupc_strerror(err));
  }
  return MUPC_OK;
}

int mupc__launch(mupc_ctx *ctx, mupc__counters *count, cl_kernel k, size_t n) {
  if (n == 0) return MUPC_OK;
  const size_t local = ctx->wg;
  const size_t global = (n + local - 1) / local * local;
  cl_int err = clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &global, &local, 0, NULL,
                                      mupc__profile_slot(ctx, MUPC__PROF_KERNEL));
  count->enqueues++;
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: kernel launch failed: %s", ctx->info.name, mupc_strerror(err));
  return MUPC_OK;
}

int mupc__fill_zero(mupc_ctx *ctx, mupc__counters *count, cl_mem buf, size_t off, size_t n) {
  if (n == 0) return MUPC_OK;
  const float zero = 0.0f;
  cl_int err = clEnqueueFillBuffer(ctx->queue, buf, &zero, sizeof zero, off * sizeof(float),
                                   n * sizeof(float), 0, NULL,
                                   mupc__profile_slot(ctx, MUPC__PROF_KERNEL));
  count->enqueues++;
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: clEnqueueFillBuffer: %s", ctx->info.name, mupc_strerror(err));
  return MUPC_OK;
}

int mupc__gemm_kernel_args(mupc__kernel *k, const mupc__gemm_args *g) {
  return MUPC__ARGS(
      k, 0, MUPC__INT((int)g->m), MUPC__INT((int)g->n), MUPC__INT((int)g->k),
      MUPC__FLOAT(g->alpha), MUPC__MEM(g->a), MUPC__INT((int)g->a_off), MUPC__INT((int)g->lda),
      MUPC__INT((int)g->a_stride), MUPC__INT(g->trans_a), MUPC__MEM(g->b),
      MUPC__INT((int)g->b_off), MUPC__INT((int)g->ldb), MUPC__INT((int)g->b_stride),
      MUPC__INT(g->trans_b), MUPC__FLOAT(g->beta), MUPC__MEM(g->c), MUPC__INT((int)g->c_off),
      MUPC__INT((int)g->ldc), MUPC__INT((int)g->c_stride));
}

int mupc__launch_gemm(mupc_ctx *ctx, mupc__counters *count, cl_kernel k, const mupc__gemm_args *g,
                      int tile) {
  const size_t t = (size_t)tile;
  const size_t global[3] = {(g->n + t - 1) / t * t, (g->m + t - 1) / t * t, g->batch};
  const size_t local[3] = {t, t, 1};
  const cl_int err = clEnqueueNDRangeKernel(ctx->queue, k, 3, NULL, global, local, 0, NULL,
                                            mupc__profile_slot(ctx, MUPC__PROF_GEMM));
  count->enqueues++;
  count->flops += 2 * (uint64_t)g->m * g->n * g->k * g->batch;
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: GEMM kernel %zux%zux%zu (batch %zu): %s", ctx->info.name, g->m,
                      g->n, g->k, g->batch, mupc_strerror(err));
  return MUPC_OK;
}
