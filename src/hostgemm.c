/* The host GEMM provider's arithmetic: row-major strided-batched SGEMM on
 * host memory (provider.c hands it the buffers' addresses).
 *
 * The step's products are small (64 x 128 x 128 for the jpc example) and
 * many. A general BLAS packs both operands on every call and, threaded,
 * joins its threads on every product; Debian's OpenBLAS 0.3.21 moreover
 * does not know CPUs newer than itself and runs its SSE3 kernels there.
 * So where LIBXSMM is built in, the products run on its JIT kernels:
 * generated at first use for the exact shape and for the instruction set
 * CPUID reports (AVX-512, AVX2, …, whatever the CPU's age), and applied to
 * the operands in place, unpacked. A batch is cut into output tiles (rows
 * of C in blocks of TILE_ROWS, columns in blocks of TILE_COLS) that the
 * thread pool (pool.c) shares out: one join per batched call, not one per
 * product.
 *
 * Every tile sums over the whole inner dimension, and the tiles have a
 * fixed number of rows (MUPC__HOST_ROWS; only a batch's last may be
 * shorter), so an element of C rounds the same whatever the thread count:
 * a sample's products do not depend on the thread count, nor on the batch
 * it is in when batches are multiples of the tile (data-parallel ranks see
 * the rounding one rank sees).
 *
 * LIBXSMM's kernels take B untransposed and beta = 0; alpha is applied to
 * each tile after its product. Products outside that (none in the step,
 * which keeps transposed weights for its forward GEMMs: net.h) go to the
 * CBLAS. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if MUPC_HAVE_HOST_BLAS
#include <cblas.h>
#endif
#if MUPC_HAVE_LIBXSMM
#include <libxsmm.h>
#endif

enum { TILE_ROWS = MUPC__HOST_ROWS, TILE_COLS = 256 };

#if MUPC_HAVE_LIBXSMM
typedef struct xsmm_job {
  /* kern[last row block][last column block]: the shorter last blocks
   * have kernels of their own. */
  libxsmm_smmfunction kern[2][2];
  int trans_a;
  size_t m, n, rblocks, cblocks;
  float alpha;
  const float *a, *b;
  float *c;
  size_t lda, a_stride, ldb, b_stride, ldc, c_stride;
} xsmm_job;

static size_t block(size_t total, size_t start, size_t size) {
  return total - start < size ? total - start : size;
}

/* LIBXSMM is column-major: row-major C (rows x cols) = op(A) B is, in
 * its terms, C' = B' op(A)' with B' the cols x k view of B and op(A)' the
 * k x rows view of op(A), which is A's own view transposed when trans_a. */
static libxsmm_smmfunction xsmm_kernel(const xsmm_job *j, size_t rows, size_t cols, size_t k) {
  const libxsmm_blasint lda = (libxsmm_blasint)j->ldb, ldb = (libxsmm_blasint)j->lda,
                        ldc = (libxsmm_blasint)j->ldc;
  const int flags = j->trans_a ? LIBXSMM_GEMM_FLAG_TRANS_B : LIBXSMM_GEMM_FLAG_NONE;
  const float one = 1.0f, zero = 0.0f;
  return libxsmm_smmdispatch((libxsmm_blasint)cols, (libxsmm_blasint)rows, (libxsmm_blasint)k,
                             &lda, &ldb, &ldc, &one, &zero, &flags, NULL);
}

/* Task t: matrix t / (rblocks·cblocks), then its row and column block. */
static void xsmm_tile(void *arg, size_t t) {
  const xsmm_job *j = arg;
  const uint64_t t0 = mupc__profile_host_on() ? mupc__profile_now() : 0;
  const size_t per = j->rblocks * j->cblocks, i = t / per;
  const size_t rb = t % per / j->cblocks, cb = t % j->cblocks;
  const size_t r0 = rb * TILE_ROWS, c0 = cb * TILE_COLS;
  const size_t rows = block(j->m, r0, TILE_ROWS), cols = block(j->n, c0, TILE_COLS);
  const float *a = j->a + i * j->a_stride + (j->trans_a ? r0 : r0 * j->lda);
  const float *b = j->b + i * j->b_stride + c0;
  float *c = j->c + i * j->c_stride + r0 * j->ldc + c0;
  j->kern[rb + 1 == j->rblocks][cb + 1 == j->cblocks](b, a, c);
  if (j->alpha != 1.0f)
    for (size_t r = 0; r < rows; r++)
      for (size_t q = 0; q < cols; q++) c[r * j->ldc + q] *= j->alpha;
  if (t0) mupc__profile_host(MUPC__PROF_GEMM, mupc__profile_now() - t0);
}

/* 1 if LIBXSMM ran the product, 0 if it has no kernel for it. */
static int xsmm_gemm(int trans_a, size_t m, size_t n, size_t k, float alpha, const float *a,
                     size_t lda, size_t a_stride, const float *b, size_t ldb, size_t b_stride,
                     float *c, size_t ldc, size_t c_stride, size_t batch) {
  if (k == 0) return 0; /* C = 0: the CBLAS says so in its own way */
  xsmm_job j = {.trans_a = trans_a, .m = m, .n = n, .alpha = alpha, .a = a, .b = b, .c = c,
                .lda = lda, .a_stride = a_stride, .ldb = ldb, .b_stride = b_stride, .ldc = ldc,
                .c_stride = c_stride};
  j.rblocks = (m + TILE_ROWS - 1) / TILE_ROWS;
  j.cblocks = (n + TILE_COLS - 1) / TILE_COLS;
  for (int lr = 0; lr < 2; lr++)
    for (int lc = 0; lc < 2; lc++) {
      const size_t rows = lr ? block(m, (j.rblocks - 1) * TILE_ROWS, TILE_ROWS) : TILE_ROWS;
      const size_t cols = lc ? block(n, (j.cblocks - 1) * TILE_COLS, TILE_COLS) : TILE_COLS;
      /* A kind of block the shape does not have stays NULL. */
      const int exists = (lr || j.rblocks > 1) && (lc || j.cblocks > 1);
      j.kern[lr][lc] = exists ? xsmm_kernel(&j, rows, cols, k) : NULL;
      if (exists && !j.kern[lr][lc]) return 0;
    }
  mupc__pool_for(batch * j.rblocks * j.cblocks, xsmm_tile, &j);
  return 1;
}
#endif

#if MUPC_HAVE_HOST_BLAS
static void blas_gemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, size_t a_stride, const float *b, size_t ldb,
                      size_t b_stride, float beta, float *c, size_t ldc, size_t c_stride,
                      size_t batch) {
  const enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  const enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  for (size_t i = 0; i < batch; i++)
    cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, alpha, a + i * a_stride, (int)lda,
                b + i * b_stride, (int)ldb, beta, c + i * c_stride, (int)ldc);
}
#endif

void mupc__host_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, size_t a_stride, const float *b, size_t ldb,
                      size_t b_stride, float beta, float *c, size_t ldc, size_t c_stride,
                      size_t batch) {
#if MUPC_HAVE_LIBXSMM
  if (!trans_b && beta == 0.0f &&
      xsmm_gemm(trans_a, m, n, k, alpha, a, lda, a_stride, b, ldb, b_stride, c, ldc, c_stride,
                batch))
    return;
#endif
#if MUPC_HAVE_HOST_BLAS
  /* The BLAS's own threads share this call: its time counts once per
   * thread of the pool, as the pool's tiles do (profile.c divides). */
  const uint64_t t0 = mupc__profile_host_on() ? mupc__profile_now() : 0;
  blas_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, a_stride, b, ldb, b_stride, beta, c, ldc,
            c_stride, batch);
  if (t0)
    mupc__profile_host(MUPC__PROF_GEMM,
                       (mupc__profile_now() - t0) * (uint64_t)mupc__pool_threads());
#else
  (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
  (void)a_stride, (void)b, (void)ldb, (void)b_stride, (void)beta, (void)c, (void)ldc;
  (void)c_stride, (void)batch;
#endif
}

/* ---- what runs, for `mupc bench` ---- */

/* The best OpenBLAS kernel set for this CPU's instruction set, as CPUID
 * reports it: what OpenBLAS should be running, whatever it knows. */
static const char *best_openblas_core(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  if (__builtin_cpu_supports("avx")) return "Sandybridge";
#endif
  return NULL;
}

#if MUPC_HAVE_OPENBLAS
/* Whether OpenBLAS's kernel set uses the CPU's widest vectors: the
 * AVX-512 sets for a CPU with AVX-512, and so on down. */
static int openblas_core_ok(const char *core, const char *best) {
  static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
  static const char *const avx2[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"};
  if (!best) return 1;
  const char *const *set = strcmp(best, "SkylakeX") == 0 ? avx512 : avx2;
  const size_t n = strcmp(best, "SkylakeX") == 0 ? 3 : 5;
  if (strcmp(best, "Sandybridge") == 0) return strcmp(core, "Prescott") != 0;
  for (size_t i = 0; i < n; i++)
    if (strcasecmp(core, set[i]) == 0) return 1;
  return 0;
}
#endif

void mupc_host_blas_describe(char *dst, size_t n) {
  if (n == 0) return;
  dst[0] = '\0';
  size_t used = 0;
#define ADD(...)                                                                                   \
  do {                                                                                             \
    if (used < n) used += (size_t)snprintf(dst + used, n - used, __VA_ARGS__);                     \
  } while (0)
#if MUPC_HAVE_LIBXSMM
  ADD("LIBXSMM %s JIT (%s), %d thread%s", LIBXSMM_VERSION, libxsmm_get_target_arch(),
      mupc__pool_threads(), mupc__pool_threads() == 1 ? "" : "s");
#endif
#if MUPC_HAVE_OPENBLAS
  /* OpenBLAS pads its configuration string with a blank. */
  char config[256];
  snprintf(config, sizeof config, "%s", openblas_get_config());
  size_t len = strlen(config);
  while (len > 0 && config[len - 1] == ' ')
    config[--len] = '\0';
  const int threads = openblas_get_num_threads();
  const char *core = openblas_get_corename(), *best = best_openblas_core();
  const char *forced = getenv("OPENBLAS_CORETYPE");
  ADD("%s%s, %d thread%s%s%s", used ? "; other products: " : "", config, threads,
      threads == 1 ? "" : "s", forced && *forced ? ", OPENBLAS_CORETYPE=" : "",
      forced && *forced ? forced : "");
  if (!openblas_core_ok(core, best))
    ADD(" (warning: OpenBLAS runs its %s kernels, below this CPU's %s)", core, best);
#elif MUPC_HAVE_HOST_BLAS
  ADD("%sCBLAS", used ? "; other products: " : "");
#endif
#undef ADD
}
