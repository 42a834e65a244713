/* Every GEMM of the library goes through here, row-major, with a
 * strided-batched call for several layers at once, on the context's
 * provider or a given one: CLBlast's kernels, or the host provider's
 * products (hostgemm.c) as a host call (provider.c). It takes the context
 * and a record of counters, not a network: what it multiplies is the
 * caller's (the layer plan's passes, plan.c). */
#include "internal.h"

#include <clblast_c.h>
#include <limits.h>

/* Float extent [off, end) an operand of `rows` x `cols` (leading dimension
 * ld) spans over the batch. */
static size_t extent_end(size_t off, size_t rows, size_t cols, size_t ld, size_t stride,
                         size_t batch) {
  return off + (batch - 1) * stride + (rows - 1) * ld + cols;
}

/* The three operands, with the checks CLBlast makes for its own calls: a
 * BLAS handed a bad leading dimension would print (xerbla) instead of
 * failing, and one handed a short buffer would run past it. */
static int check_operands(mupc_ctx *ctx, const mupc__gemm_args *g) {
  const size_t ar = g->trans_a ? g->k : g->m, ac = g->trans_a ? g->m : g->k;
  const size_t br = g->trans_b ? g->n : g->k, bc = g->trans_b ? g->k : g->n;
  const size_t dims[3][3] = {{ar, ac, g->lda}, {br, bc, g->ldb}, {g->m, g->n, g->ldc}};
  const cl_mem mems[3] = {g->a, g->b, g->c};
  const size_t offs[3] = {g->a_off, g->b_off, g->c_off};
  const size_t strides[3] = {g->a_stride, g->b_stride, g->c_stride};
  static const char *const names[3] = {"A", "B", "C"};
  if (g->m > INT_MAX || g->n > INT_MAX || g->k > INT_MAX)
    return mupc__fail(MUPC_EGEMM, "host GEMM %zux%zux%zu: a dimension exceeds the BLAS's int", g->m,
                      g->n, g->k);
  for (int i = 0; i < 3; i++) {
    const size_t rows = dims[i][0], cols = dims[i][1] ? dims[i][1] : 1, ld = dims[i][2];
    size_t bytes = 0;
    MUPC__TRY(mupc__buffer_bytes(ctx, mems[i], &bytes));
    const size_t end =
        rows ? extent_end(offs[i], rows, cols, ld, strides[i], g->batch) : offs[i];
    if (ld < cols || ld > INT_MAX || end > bytes / sizeof(float))
      return mupc__fail(MUPC_EGEMM,
                        "%s: host GEMM %zux%zux%zu (batch %zu): operand %s (leading dimension "
                        "%zu, floats %zu to %zu) does not fit its buffer of %zu floats",
                        ctx->info.name, g->m, g->n, g->k, g->batch, names[i], ld, offs[i], end,
                        bytes / sizeof(float));
  }
  return MUPC_OK;
}

/* A host GEMM: the arguments, with its operands at ptrs[0 … 2]. */
static void gemm_call(void *arg, float *const *ptrs) {
  const mupc__gemm_args *g = arg;
  mupc__host_sgemm(g->trans_a, g->trans_b, g->m, g->n, g->k, g->alpha, ptrs[0] + g->a_off, g->lda,
                   g->a_stride, ptrs[1] + g->b_off, g->ldb, g->b_stride, g->beta,
                   ptrs[2] + g->c_off, g->ldc, g->c_stride, g->batch);
}

static int run_clblast(mupc_ctx *ctx, const mupc__gemm_args *g) {
  const CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
  const CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
  cl_command_queue q = ctx->queue;
  CLBlastStatusCode st;
  /* A non-zero stride asks for the batched kernel even for one matrix: the
   * feedforward must round exactly like the batched inference GEMMs, so
   * that errors at the feedforward state are exactly zero (DESIGN §5). */
  if (g->batch == 1 && g->a_stride == 0 && g->b_stride == 0 && g->c_stride == 0)
    st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a, g->a_off,
                      g->lda, g->b, g->b_off, g->ldb, g->beta, g->c, g->c_off, g->ldc, &q,
                      mupc__profile_slot(ctx, MUPC__PROF_GEMM));
  else
    st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a,
                                    g->a_off, g->lda, g->a_stride, g->b, g->b_off, g->ldb,
                                    g->b_stride, g->beta, g->c, g->c_off, g->ldc, g->c_stride,
                                    g->batch, &q, mupc__profile_slot(ctx, MUPC__PROF_GEMM));
  if (st != CLBlastSuccess)
    return mupc__fail(MUPC_EGEMM, "%s: CLBlast SGEMM %zux%zux%zu (batch %zu) failed: %s (%d)",
                      ctx->info.name, g->m, g->n, g->k, g->batch, mupc_strerror((int)st),
                      (int)st);
  return MUPC_OK;
}

/* The library's own kernel (cl/gemm.cl): one enqueue of the product's
 * kernel object, its arguments set when it was made. */
static int run_kernels(mupc_ctx *ctx, mupc__counters *count, const mupc__gemm_args *g) {
  cl_kernel k;
  int tile;
  MUPC__TRY(mupc__gemm_product(ctx, g, &k, &tile));
  return mupc__launch_gemm(ctx, count, k, g, tile);
}

int mupc__gemm_run(mupc_ctx *ctx, mupc__counters *count, mupc_gemm provider,
                   const mupc__gemm_args *g) {
  if (g->batch == 0 || g->m == 0 || g->n == 0) return MUPC_OK;
  int rc;
  if (provider == MUPC_GEMM_HOST) {
    /* mupc__host_call refuses a device the host provider cannot run on. */
    rc = check_operands(ctx, g);
    const cl_mem mems[3] = {g->a, g->b, g->c};
    if (!rc) rc = mupc__host_call(ctx, gemm_call, g, sizeof *g, mems, 3);
  } else if (provider == MUPC_GEMM_KERNELS) {
    return run_kernels(ctx, count, g); /* counted in its launch */
  } else {
    rc = run_clblast(ctx, g);
  }
  /* A host GEMM is one operation of the queue too: the count of enqueues
   * per inference step does not depend on the provider. */
  count->enqueues++;
  count->flops += 2 * (uint64_t)g->m * g->n * g->k * g->batch;
  return rc;
}
