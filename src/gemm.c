/* Every GEMM of the library goes through here, row-major, with a
 * strided-batched call for several layers at once, on one of two providers
 * (mupc.h, "GEMM providers"):
 *
 * CLBlast, on any device. On CPU devices its kernels reach a fraction of
 * what the CPU's own BLAS does on the same shapes (PoCL: about a tenth), so
 * there the step's GEMMs run on the host BLAS instead, on the same buffers:
 * they are allocated with CL_MEM_ALLOC_HOST_PTR, so the device's memory is
 * the host's and nothing is copied.
 *
 * A host GEMM must see everything enqueued before it and be seen by
 * everything after it. Where the driver runs native kernels (PoCL), it is
 * one: a host function the queue itself calls in order, with the runtime
 * translating the buffers into pointers. The host thread never waits, as
 * with CLBlast. Elsewhere (rusticl) the operands are mapped, which waits
 * for the queue, multiplied, and unmapped before anything else is
 * enqueued. */
#include "net.h"

#include <clblast_c.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MUPC_HAVE_HOST_BLAS
#include <cblas.h>
#endif

void mupc_host_blas_describe(char *dst, size_t n) {
  if (n == 0) return;
#if MUPC_HAVE_OPENBLAS
  /* OpenBLAS pads its configuration string with a blank. */
  char config[256];
  snprintf(config, sizeof config, "%s", openblas_get_config());
  size_t len = strlen(config);
  while (len > 0 && config[len - 1] == ' ')
    config[--len] = '\0';
  const int threads = openblas_get_num_threads();
  /* The kernel set is OpenBLAS's choice for this CPU unless the user forced
   * one; say so, since a forced older set can be slower. */
  const char *forced = getenv("OPENBLAS_CORETYPE");
  snprintf(dst, n, "%s, %d thread%s%s%s", config, threads, threads == 1 ? "" : "s",
           forced && *forced ? ", OPENBLAS_CORETYPE=" : "", forced && *forced ? forced : "");
#elif MUPC_HAVE_HOST_BLAS
  snprintf(dst, n, "CBLAS");
#else
  dst[0] = '\0';
#endif
}

/* ---- provider choice ---- */

/* Why HOST cannot run on ctx, or NULL if it can. */
static const char *host_refusal(const mupc_ctx *ctx) {
  if (!MUPC_HAVE_HOST_BLAS) return "this libmupc was built without a host BLAS (-Dhost_blas)";
  if (!ctx->host_gemm_ok)
    return "the host BLAS runs only on CPU devices that share the host's memory";
  return NULL;
}

int mupc_ctx_set_gemm(mupc_ctx *ctx, mupc_gemm g) {
  if ((int)g < 0 || g >= MUPC_GEMM_COUNT)
    return mupc__fail(MUPC_EINVAL, "GEMM provider %d: expected auto, clblast or host", (int)g);
  if (g == MUPC_GEMM_AUTO) g = host_refusal(ctx) ? MUPC_GEMM_CLBLAST : MUPC_GEMM_HOST;
  const char *why = g == MUPC_GEMM_HOST ? host_refusal(ctx) : NULL;
  if (why)
    return mupc__fail(MUPC_EINVAL, "%s: GEMM provider host: %s (this is a %s device)",
                      ctx->info.name, why, ctx->info.type);
  ctx->gemm = g;
  return MUPC_OK;
}

mupc_gemm mupc_ctx_gemm(const mupc_ctx *ctx) {
  return ctx->gemm;
}
int mupc_ctx_host_gemm_ok(const mupc_ctx *ctx) {
  return host_refusal(ctx) == NULL;
}
const char *mupc_ctx_host_gemm_dispatch(const mupc_ctx *ctx) {
  return ctx->host_native ? "native kernel" : "map";
}
void mupc__gemm_force_map(mupc_ctx *ctx, int on) {
  cl_device_exec_capabilities caps = 0;
  clGetDeviceInfo(ctx->device, CL_DEVICE_EXECUTION_CAPABILITIES, sizeof caps, &caps, NULL);
  ctx->host_native = !on && (caps & CL_EXEC_NATIVE_KERNEL);
}

int mupc__gemm_ctx_init(mupc_ctx *ctx) {
  cl_device_type type = 0;
  cl_bool unified = CL_FALSE;
  clGetDeviceInfo(ctx->device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
  /* Deprecated since OpenCL 2.0 but still answered; a driver that does not
   * know it leaves CL_FALSE, and the device gets CLBlast. */
  clGetDeviceInfo(ctx->device, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
  const int host_memory = (type & CL_DEVICE_TYPE_CPU) && unified;
  ctx->host_gemm_ok = host_memory && MUPC_HAVE_HOST_BLAS;
  ctx->mem_flags = CL_MEM_READ_WRITE | (host_memory ? CL_MEM_ALLOC_HOST_PTR : 0);
  mupc__gemm_force_map(ctx, 0);
  const char *env = getenv("MUPC_GEMM");
  int g = MUPC_GEMM_AUTO;
  if (env && *env && (g = mupc_gemm_from_name(env)) < 0)
    return mupc__fail(MUPC_EINVAL, "MUPC_GEMM: '%s' is not a GEMM provider (auto, clblast, host)",
                      env);
  const int rc = mupc_ctx_set_gemm(ctx, (mupc_gemm)g);
  if (rc && env && *env) return mupc__fail(rc, "MUPC_GEMM=%s: %s", env, mupc_errmsg());
  return rc;
}

/* ---- the host BLAS ---- */

#if MUPC_HAVE_HOST_BLAS
void mupc__host_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, size_t a_stride, const float *b, size_t ldb,
                      size_t b_stride, float beta, float *c, size_t ldc, size_t c_stride,
                      size_t batch) {
  const enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  const enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  /* One call per matrix: the BLAS spreads each over its threads, which on
   * these shapes (64 x 128 x 128 and up) keeps them busy. */
  for (size_t i = 0; i < batch; i++)
    cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, alpha, a + i * a_stride, (int)lda,
                b + i * b_stride, (int)ldb, beta, c + i * c_stride, (int)ldc);
}
#else
void mupc__host_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, size_t a_stride, const float *b, size_t ldb,
                      size_t b_stride, float beta, float *c, size_t ldc, size_t c_stride,
                      size_t batch) {
  (void)trans_a, (void)trans_b, (void)m, (void)n, (void)k, (void)alpha, (void)a, (void)lda;
  (void)a_stride, (void)b, (void)ldb, (void)b_stride, (void)beta, (void)c, (void)ldc;
  (void)c_stride, (void)batch;
}
#endif

/* Float extent [off, end) an operand of `rows` x `cols` (leading dimension
 * ld) spans over the batch. */
static size_t extent_end(size_t off, size_t rows, size_t cols, size_t ld, size_t stride,
                         size_t batch) {
  return off + (batch - 1) * stride + (rows - 1) * ld + cols;
}

typedef struct operand {
  cl_mem mem;
  size_t off, end; /* floats */
  const char *name;
} operand;

/* The three operands, with the checks CLBlast makes for its own calls: a
 * BLAS handed a bad leading dimension would print (xerbla) instead of
 * failing, and one handed a short buffer would run past it. */
static int host_operands(mupc_net *net, const mupc__gemm_args *g, operand op[3]) {
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
    cl_int err = clGetMemObjectInfo(mems[i], CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (err != CL_SUCCESS)
      return mupc__fail(err, "host GEMM: operand %s: %s", names[i], mupc_strerror(err));
    op[i] = (operand){mems[i], offs[i],
                      rows ? extent_end(offs[i], rows, cols, ld, strides[i], g->batch) : offs[i],
                      names[i]};
    if (ld < cols || ld > INT_MAX || op[i].end > bytes / sizeof(float))
      return mupc__fail(MUPC_EGEMM,
                        "%s: host GEMM %zux%zux%zu (batch %zu): operand %s (leading dimension "
                        "%zu, floats %zu to %zu) does not fit its buffer of %zu floats",
                        net->ctx->info.name, g->m, g->n, g->k, g->batch, names[i], ld, op[i].off,
                        op[i].end, bytes / sizeof(float));
  }
  return MUPC_OK;
}

/* ---- native kernels ----
 * clEnqueueNativeKernel hands the function a copy of its argument block in
 * which the runtime has replaced the buffers' handles by pointers to their
 * memory. PoCL 3.1 fills those slots in an order of its own, not the order
 * of mem_list (three buffers listed C, A, B arrive as A, B, C), so a slot
 * cannot say which buffer it holds. Each buffer's address is therefore
 * learnt once, by a native kernel with that buffer alone, and every GEMM
 * carries the addresses it expects: the function checks that the slots hold
 * exactly that set (in any order) and multiplies on its own copy. Should a
 * driver ever move a buffer, the check fails and the context records a
 * fault, reported by the next mupc call that waits for the queue. */

typedef union slot {
  cl_mem mem;
  float *ptr;
} slot;

typedef struct probe_args {
  slot buf;
  float **out;
} probe_args;

static void CL_CALLBACK probe_fn(void *p) {
  probe_args *a = p;
  *a->out = a->buf.ptr;
}

/* The address the device sees for buf: from the table, or probed now
 * (which waits for the queue, once per buffer). */
static int device_address(mupc_ctx *ctx, cl_mem buf, float **out) {
  for (size_t i = 0; i < ctx->nhost_ptrs; i++)
    if (ctx->host_ptrs[i].mem == buf) {
      *out = ctx->host_ptrs[i].ptr;
      return MUPC_OK;
    }
  if (ctx->nhost_ptrs == ctx->cap_host_ptrs) {
    const size_t cap = ctx->cap_host_ptrs ? 2 * ctx->cap_host_ptrs : 32;
    mupc__host_ptr *grown = realloc(ctx->host_ptrs, cap * sizeof *grown);
    if (!grown) return mupc__fail(MUPC_ENOMEM, "out of host memory");
    ctx->host_ptrs = grown;
    ctx->cap_host_ptrs = cap;
  }
  float *addr = NULL;
  probe_args args = {{.mem = buf}, &addr};
  const void *loc = &args.buf;
  cl_int err =
      clEnqueueNativeKernel(ctx->queue, probe_fn, &args, sizeof args, 1, &buf, &loc, 0, NULL, NULL);
  if (err == CL_SUCCESS) err = clFinish(ctx->queue);
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: a native kernel (host GEMM): %s", ctx->info.name,
                      mupc_strerror(err));
  if (!addr)
    return mupc__fail(MUPC_EGEMM, "%s: the driver gave a native kernel no buffer address",
                      ctx->info.name);
  ctx->host_ptrs[ctx->nhost_ptrs++] = (mupc__host_ptr){buf, addr};
  *out = addr;
  return MUPC_OK;
}

void mupc__gemm_forget_buffer(mupc_ctx *ctx, cl_mem buf) {
  for (size_t i = 0; i < ctx->nhost_ptrs; i++)
    if (ctx->host_ptrs[i].mem == buf) ctx->host_ptrs[i] = ctx->host_ptrs[--ctx->nhost_ptrs];
}

int mupc__gemm_check_fault(mupc_ctx *ctx) {
  if (!atomic_load(&ctx->host_fault)) return MUPC_OK;
  return mupc__fail(MUPC_EGEMM,
                    "%s: a host GEMM found its buffers at other addresses than the driver "
                    "reported before, and was skipped; results since are wrong (use --gemm "
                    "clblast, or MUPC_GEMM=clblast, on this driver)",
                    ctx->info.name);
}

typedef struct native_args {
  slot buf[3];      /* distinct buffers, in mem_list order; filled by the runtime */
  float *expect[3]; /* their addresses, as probed */
  int nbuf;
  int which[3]; /* index into expect of A, B, C */
  atomic_int *fault;
  mupc__gemm_args g;
} native_args;

static void CL_CALLBACK native_gemm(void *p) {
  const native_args *n = p;
  for (int i = 0; i < n->nbuf; i++) {
    int found = 0;
    for (int j = 0; j < n->nbuf; j++)
      found |= n->buf[j].ptr == n->expect[i];
    if (!found) {
      atomic_store(n->fault, 1);
      return;
    }
  }
  const mupc__gemm_args *g = &n->g;
  mupc__host_sgemm(g->trans_a, g->trans_b, g->m, g->n, g->k, g->alpha,
                   n->expect[n->which[0]] + g->a_off, g->lda, g->a_stride,
                   n->expect[n->which[1]] + g->b_off, g->ldb, g->b_stride, g->beta,
                   n->expect[n->which[2]] + g->c_off, g->ldc, g->c_stride, g->batch);
}

static int host_native(mupc_net *net, const mupc__gemm_args *g, const operand op[3]) {
  mupc_ctx *ctx = net->ctx;
  native_args args;
  memset(&args, 0, sizeof args);
  args.g = *g;
  args.fault = &ctx->host_fault;
  cl_mem list[3];
  const void *loc[3];
  for (int i = 0; i < 3; i++) {
    int j = 0;
    while (j < args.nbuf && list[j] != op[i].mem)
      j++;
    if (j == args.nbuf) {
      int rc = device_address(ctx, op[i].mem, &args.expect[j]);
      if (rc) return rc;
      list[j] = op[i].mem;
      args.buf[j].mem = op[i].mem;
      loc[j] = &args.buf[j];
      args.nbuf++;
    }
    args.which[i] = j;
  }
  cl_int err = clEnqueueNativeKernel(ctx->queue, native_gemm, &args, sizeof args,
                                     (cl_uint)args.nbuf, list, loc, 0, NULL, NULL);
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: enqueueing a host GEMM (native kernel): %s", ctx->info.name,
                      mupc_strerror(err));
  return MUPC_OK;
}

/* Map every distinct buffer over the span its operands use (C read and
 * written, so bytes between strided matrices survive), multiply, unmap. The
 * last map blocks; in the in-order queue that means every command before
 * it has finished. */
static int host_mapped(mupc_net *net, const mupc__gemm_args *g, const operand op[3]) {
  cl_command_queue q = net->ctx->queue;
  cl_mem mem[3];
  size_t lo[3], hi[3];
  cl_map_flags flags[3];
  float *base[3] = {NULL, NULL, NULL};
  int which[3], nbuf = 0;
  for (int i = 0; i < 3; i++) {
    int j = 0;
    while (j < nbuf && mem[j] != op[i].mem)
      j++;
    const cl_map_flags f = i == 2 ? CL_MAP_READ | CL_MAP_WRITE : CL_MAP_READ;
    if (j == nbuf) {
      mem[j] = op[i].mem, lo[j] = op[i].off, hi[j] = op[i].end, flags[j] = f;
      nbuf++;
    } else {
      lo[j] = op[i].off < lo[j] ? op[i].off : lo[j];
      hi[j] = op[i].end > hi[j] ? op[i].end : hi[j];
      flags[j] |= f;
    }
    which[i] = j;
  }
  cl_int err = CL_SUCCESS;
  int mapped = 0;
  for (; mapped < nbuf && err == CL_SUCCESS; mapped++) {
    const size_t bytes = (hi[mapped] > lo[mapped] ? hi[mapped] - lo[mapped] : 1) * sizeof(float);
    base[mapped] =
        clEnqueueMapBuffer(q, mem[mapped], mapped == nbuf - 1 ? CL_TRUE : CL_FALSE, flags[mapped],
                           lo[mapped] * sizeof(float), bytes, 0, NULL, NULL, &err);
    if (err != CL_SUCCESS) break;
  }
  if (err == CL_SUCCESS) {
    /* The pointers below are only formed, never dereferenced, for an empty
     * operand: extent and offset agree then. */
    const float *a = base[which[0]] + (g->a_off - lo[which[0]]);
    const float *b = base[which[1]] + (g->b_off - lo[which[1]]);
    float *c = base[which[2]] + (g->c_off - lo[which[2]]);
    mupc__host_sgemm(g->trans_a, g->trans_b, g->m, g->n, g->k, g->alpha, a, g->lda, g->a_stride, b,
                     g->ldb, g->b_stride, g->beta, c, g->ldc, g->c_stride, g->batch);
  }
  const cl_int map_err = err;
  for (int j = 0; j < mapped; j++) {
    cl_int e = clEnqueueUnmapMemObject(q, mem[j], base[j], 0, NULL, NULL);
    if (err == CL_SUCCESS) err = e;
  }
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: %s the operands of a host GEMM: %s", net->ctx->info.name,
                      map_err != CL_SUCCESS ? "mapping" : "unmapping", mupc_strerror(err));
  return MUPC_OK;
}

static int run_clblast(mupc_net *net, const mupc__gemm_args *g) {
  const CLBlastTranspose ta = g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
  const CLBlastTranspose tb = g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
  cl_command_queue q = net->ctx->queue;
  CLBlastStatusCode st;
  /* A non-zero stride asks for the batched kernel even for one matrix: the
   * feedforward must round exactly like the batched inference GEMMs, so
   * that errors at the feedforward state are exactly zero (DESIGN §5). */
  if (g->batch == 1 && g->a_stride == 0 && g->b_stride == 0 && g->c_stride == 0)
    st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a, g->a_off,
                      g->lda, g->b, g->b_off, g->ldb, g->beta, g->c, g->c_off, g->ldc, &q, NULL);
  else
    st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, g->m, g->n, g->k, g->alpha, g->a,
                                    g->a_off, g->lda, g->a_stride, g->b, g->b_off, g->ldb,
                                    g->b_stride, g->beta, g->c, g->c_off, g->ldc, g->c_stride,
                                    g->batch, &q, NULL);
  if (st != CLBlastSuccess)
    return mupc__fail(MUPC_EGEMM, "%s: CLBlast SGEMM %zux%zux%zu (batch %zu) failed: %s (%d)",
                      net->ctx->info.name, g->m, g->n, g->k, g->batch, mupc_strerror((int)st),
                      (int)st);
  return MUPC_OK;
}

int mupc__gemm_run(mupc_net *net, mupc_gemm provider, const mupc__gemm_args *g) {
  if (g->batch == 0 || g->m == 0 || g->n == 0) return MUPC_OK;
  int rc;
  if (provider == MUPC_GEMM_HOST) {
    const char *why = host_refusal(net->ctx);
    if (why) return mupc__fail(MUPC_EINVAL, "%s: host GEMM: %s", net->ctx->info.name, why);
    operand op[3];
    rc = host_operands(net, g, op);
    if (!rc) rc = net->ctx->host_native ? host_native(net, g, op) : host_mapped(net, g, op);
  } else {
    rc = run_clblast(net, g);
  }
  /* A host GEMM is one operation of the queue too: the count of enqueues
   * per inference step does not depend on the provider. */
  net->enqueues++;
  net->flops += 2 * (uint64_t)g->m * g->n * g->k * g->batch;
  return rc;
}

int mupc__gemm(mupc_net *net, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
               cl_mem a, size_t a_off, size_t lda, size_t a_stride, cl_mem b, size_t b_off,
               size_t ldb, size_t b_stride, float beta, cl_mem c, size_t c_off, size_t ldc,
               size_t c_stride, size_t batch) {
  const mupc__gemm_args g = {.trans_a = trans_a,
                             .trans_b = trans_b,
                             .m = m,
                             .n = n,
                             .k = k,
                             .alpha = alpha,
                             .beta = beta,
                             .a = a,
                             .a_off = a_off,
                             .lda = lda,
                             .a_stride = a_stride,
                             .b = b,
                             .b_off = b_off,
                             .ldb = ldb,
                             .b_stride = b_stride,
                             .c = c,
                             .c_off = c_off,
                             .ldc = ldc,
                             .c_stride = c_stride,
                             .batch = batch};
  return mupc__gemm_run(net, net->ctx->gemm, &g);
}
