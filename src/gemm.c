/* Every GEMM of the library goes through here: CLBlast, row-major, with a
 * strided-batched call for several layers at once. */
#include "net.h"

#include <clblast_c.h>

int mupc__gemm(mupc_net *net, int trans_a, int trans_b, size_t m, size_t n, size_t k,
               float alpha, cl_mem a, size_t a_off, size_t lda, size_t a_stride, cl_mem b,
               size_t b_off, size_t ldb, size_t b_stride, float beta, cl_mem c, size_t c_off,
               size_t ldc, size_t c_stride, size_t batch) {
  if (batch == 0 || m == 0 || n == 0) return MUPC_OK;
  const CLBlastTranspose ta = trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
  const CLBlastTranspose tb = trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
  cl_command_queue q = net->ctx->queue;
  CLBlastStatusCode st;
  /* A non-zero stride asks for the batched kernel even for one matrix: the
   * feedforward must round exactly like the batched inference GEMMs, so
   * that errors at the feedforward state are exactly zero (DESIGN §5). */
  if (batch == 1 && a_stride == 0 && b_stride == 0 && c_stride == 0)
    st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a, a_off, lda, b, b_off, ldb,
                      beta, c, c_off, ldc, &q, NULL);
  else
    st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, m, n, k, alpha, a, a_off, lda,
                                    a_stride, b, b_off, ldb, b_stride, beta, c, c_off, ldc,
                                    c_stride, batch, &q, NULL);
  net->enqueues++;
  net->flops += 2 * (uint64_t)m * n * k * batch;
  if (st != CLBlastSuccess)
    return mupc__fail(MUPC_EGEMM, "%s: CLBlast SGEMM %zux%zux%zu (batch %zu) failed: %s (%d)",
                      net->ctx->info.name, m, n, k, batch, mupc_strerror((int)st), (int)st);
  return MUPC_OK;
}
