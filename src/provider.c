/* The GEMM providers' part of a context (mupc.h, "GEMM providers"):
 * which provider runs, and the host call that the host provider and the
 * host path (hostinfer.c) run their work through. Below the context:
 * device.c calls it when it creates a context, waits for its queue and
 * releases a buffer; gemm.c, above, executes the products.
 *
 * CLBlast runs on any device. On CPU devices its kernels reach a fraction
 * of what the CPU's own BLAS does on the same shapes (PoCL: about a
 * tenth), so there the step's GEMMs run on the host instead, on the same
 * buffers: they are allocated with CL_MEM_ALLOC_HOST_PTR, so the device's
 * memory is the host's and nothing is copied.
 *
 * A host call must see everything enqueued before it and be seen by
 * everything after it. Where the driver runs native kernels (PoCL), it is
 * one: a host function the queue itself calls in order, with the runtime
 * translating the buffers into pointers. The host thread never waits, as
 * with CLBlast. Elsewhere (rusticl) the operands are mapped, which waits
 * for the queue, the function runs, and they are unmapped before anything
 * else is enqueued. */
#include "internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return mupc__fail(MUPC_EINVAL, "GEMM provider %d: expected auto, clblast, host or kernels",
                      (int)g);
  /* AUTO: the host where it runs; elsewhere CLBlast until a network's
   * shapes are measured (net.c chooses between CLBlast and KERNELS). */
  const int automatic = g == MUPC_GEMM_AUTO;
  if (automatic) g = host_refusal(ctx) ? MUPC_GEMM_CLBLAST : MUPC_GEMM_HOST;
  const char *why = g == MUPC_GEMM_HOST ? host_refusal(ctx) : NULL;
  if (why)
    return mupc__fail(MUPC_EINVAL, "%s: GEMM provider host: %s (this is a %s device)",
                      ctx->info.name, why, ctx->info.type);
  ctx->gemm = g;
  ctx->gemm_auto = automatic && g != MUPC_GEMM_HOST;
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
  /* MUPC_NO_FUSE: the kernels provider's elementwise passes as separate
   * kernels, for comparison with the fused ones (same result bit for bit). */
  ctx->fuse = getenv("MUPC_NO_FUSE") == NULL;
  const char *env = getenv("MUPC_GEMM");
  int g = MUPC_GEMM_AUTO;
  if (env && *env && (g = mupc_gemm_from_name(env)) < 0)
    return mupc__fail(MUPC_EINVAL,
                      "MUPC_GEMM: '%s' is not a GEMM provider (auto, clblast, host, kernels)", env);
  const int rc = mupc_ctx_set_gemm(ctx, (mupc_gemm)g);
  if (rc && env && *env) return mupc__fail(rc, "MUPC_GEMM=%s: %s", env, mupc_errmsg());
  return rc;
}

/* ---- host calls ----
 * A host function run in the queue's order on host views of device
 * buffers (mupc__host_call). Where the driver runs native kernels (PoCL)
 * it is one: clEnqueueNativeKernel hands the function a copy of its
 * argument block in which the runtime has replaced the buffers' handles by
 * pointers to their memory. PoCL 3.1 fills those slots in an order of its
 * own, not the order of mem_list (three buffers listed C, A, B arrive as
 * A, B, C), so a slot cannot say which buffer it holds. Each buffer's
 * address is therefore learnt once, by a native kernel with that buffer
 * alone, and every call carries the addresses it expects: the function
 * checks that the slots hold exactly that set (in any order) and runs on
 * its own copy. Should a driver ever move a buffer, the check fails and
 * the context records a fault, reported by the next mupc call that waits
 * for the queue. Elsewhere (rusticl) the buffers are mapped, which waits
 * for the queue, the function runs, and they are unmapped before anything
 * else is enqueued. */

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

/* The table's entry for buf, added (size and address unknown) if absent. */
static int entry(mupc_ctx *ctx, cl_mem buf, mupc__host_ptr **out) {
  for (size_t i = 0; i < ctx->nhost_ptrs; i++)
    if (ctx->host_ptrs[i].mem == buf) return *out = &ctx->host_ptrs[i], MUPC_OK;
  void *items = ctx->host_ptrs;
  const int rc = mupc__room(&items, &ctx->cap_host_ptrs, ctx->nhost_ptrs, sizeof *ctx->host_ptrs);
  ctx->host_ptrs = items;
  if (rc) return rc;
  *out = &ctx->host_ptrs[ctx->nhost_ptrs++];
  **out = (mupc__host_ptr){buf, NULL, 0};
  return MUPC_OK;
}

int mupc__gemm_note_buffer(mupc_ctx *ctx, cl_mem buf, size_t bytes) {
  mupc__host_ptr *e = NULL;
  MUPC__TRY(entry(ctx, buf, &e));
  e->bytes = bytes;
  return MUPC_OK;
}

int mupc__buffer_bytes(mupc_ctx *ctx, cl_mem buf, size_t *bytes) {
  mupc__host_ptr *e = NULL;
  MUPC__TRY(entry(ctx, buf, &e));
  if (!e->bytes) {
    /* A buffer the context did not allocate: asked once. */
    const cl_int err = clGetMemObjectInfo(buf, CL_MEM_SIZE, sizeof e->bytes, &e->bytes, NULL);
    if (err != CL_SUCCESS)
      return mupc__fail(err, "%s: the size of a buffer: %s", ctx->info.name, mupc_strerror(err));
  }
  *bytes = e->bytes;
  return MUPC_OK;
}

/* The address the device sees for buf: from the table, or probed now
 * (which waits for the queue, once per buffer). */
static int device_address(mupc_ctx *ctx, cl_mem buf, float **out) {
  mupc__host_ptr *e = NULL;
  MUPC__TRY(entry(ctx, buf, &e));
  if (e->ptr) return *out = e->ptr, MUPC_OK;
  float *addr = NULL;
  probe_args args = {{.mem = buf}, &addr};
  const void *loc = &args.buf;
  cl_int err =
      clEnqueueNativeKernel(ctx->queue, probe_fn, &args, sizeof args, 1, &buf, &loc, 0, NULL, NULL);
  if (err == CL_SUCCESS) err = clFinish(ctx->queue);
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: a native kernel (host call): %s", ctx->info.name,
                      mupc_strerror(err));
  if (!addr)
    return mupc__fail(MUPC_EGEMM, "%s: the driver gave a native kernel no buffer address",
                      ctx->info.name);
  *out = e->ptr = addr;
  return MUPC_OK;
}

/* ---- the kernels provider's products ----
 * One kernel object of cl/gemm.cl per distinct product (its arguments, the
 * buffers included), made at its first call with every argument set, so a
 * product the step repeats is one enqueue. A released buffer takes its
 * products with it (its handle may come back as another buffer). */

/* Work-group side of the GEMM kernel: 16 x 16 where the device allows it. */
int mupc__gemm_tile(const mupc_ctx *ctx) {
  int t = 16;
  while (t > 1 && (size_t)t * t > ctx->info.max_work_group_size) t /= 2;
  return t;
}

static int same_product(const mupc__gemm_args *x, const mupc__gemm_args *y) {
  return x->trans_a == y->trans_a && x->trans_b == y->trans_b && x->m == y->m && x->n == y->n &&
         x->k == y->k && x->alpha == y->alpha && x->beta == y->beta && x->a == y->a &&
         x->a_off == y->a_off && x->lda == y->lda && x->a_stride == y->a_stride && x->b == y->b &&
         x->b_off == y->b_off && x->ldb == y->ldb && x->b_stride == y->b_stride &&
         x->c == y->c && x->c_off == y->c_off && x->ldc == y->ldc && x->c_stride == y->c_stride &&
         x->batch == y->batch;
}

/* A new kernel object for g, every argument set. */
static int make_product(mupc_ctx *ctx, const mupc__gemm_args *g, mupc__kernel *k) {
  static const char *const files[] = {"gemm.cl"};
  char opts[32];
  snprintf(opts, sizeof opts, "-DGEMM_TILE=%d", mupc__gemm_tile(ctx));
  cl_program prog;
  MUPC__TRY(mupc__program_get(ctx, files, 1, opts, &prog));
  cl_int err;
  *k = (mupc__kernel){.k = clCreateKernel(prog, "sgemm", &err)};
  if (err != CL_SUCCESS)
    return mupc__fail(err, "clCreateKernel(sgemm): %s", mupc_strerror(err));
  const int rc = mupc__gemm_kernel_args(k, g);
  if (rc) clReleaseKernel(k->k);
  return rc;
}

int mupc__gemm_product(mupc_ctx *ctx, const mupc__gemm_args *g, cl_kernel *k, int *tile) {
  *tile = mupc__gemm_tile(ctx);
  for (size_t i = 0; i < ctx->nproducts; i++)
    if (same_product(&ctx->products[i].g, g)) return *k = ctx->products[i].k.k, MUPC_OK;
  void *items = ctx->products;
  const int rc = mupc__room(&items, &ctx->cap_products, ctx->nproducts, sizeof *ctx->products);
  ctx->products = items;
  if (rc) return rc;
  mupc__product *p = &ctx->products[ctx->nproducts];
  p->g = *g;
  MUPC__TRY(make_product(ctx, g, &p->k));
  ctx->nproducts++;
  *k = p->k.k;
  return MUPC_OK;
}

void mupc__gemm_ctx_free(mupc_ctx *ctx) {
  for (size_t i = 0; i < ctx->nproducts; i++) clReleaseKernel(ctx->products[i].k.k);
  free(ctx->products);
  ctx->products = NULL;
  ctx->nproducts = ctx->cap_products = 0;
  free(ctx->host_ptrs);
  ctx->host_ptrs = NULL;
}

void mupc__gemm_forget_buffer(mupc_ctx *ctx, cl_mem buf) {
  for (size_t i = 0; i < ctx->nhost_ptrs; i++)
    if (ctx->host_ptrs[i].mem == buf) ctx->host_ptrs[i] = ctx->host_ptrs[--ctx->nhost_ptrs];
  for (size_t i = 0; i < ctx->nproducts;) {
    const mupc__gemm_args *g = &ctx->products[i].g;
    if (g->a != buf && g->b != buf && g->c != buf) {
      i++;
      continue;
    }
    clReleaseKernel(ctx->products[i].k.k);
    ctx->products[i] = ctx->products[--ctx->nproducts];
  }
}

int mupc__gemm_check_fault(mupc_ctx *ctx) {
  if (!atomic_load(&ctx->host_fault)) return MUPC_OK;
  return mupc__fail(MUPC_EGEMM,
                    "%s: a host call (GEMM or inference) found its buffers at other addresses "
                    "than the driver reported before, and was skipped; results since are wrong "
                    "(use --gemm clblast, or MUPC_GEMM=clblast, on this driver)",
                    ctx->info.name);
}

/* The distinct buffers among mems, and for each mem its index among them. */
typedef struct buffer_set {
  cl_mem list[MUPC__HOST_MAX_BUFFERS];
  int n;
  int which[MUPC__HOST_MAX_BUFFERS];
} buffer_set;

static void distinct(const cl_mem *mems, int nmem, buffer_set *s) {
  s->n = 0;
  for (int i = 0; i < nmem; i++) {
    int j = 0;
    while (j < s->n && s->list[j] != mems[i])
      j++;
    if (j == s->n) s->list[s->n++] = mems[i];
    s->which[i] = j;
  }
}

typedef struct native_args {
  slot buf[MUPC__HOST_MAX_BUFFERS];       /* distinct buffers; filled by the runtime */
  float *expect[MUPC__HOST_MAX_BUFFERS];  /* their addresses, as probed */
  buffer_set set;
  int nmem;
  atomic_int *fault;
  mupc__host_fn fn;
  _Alignas(max_align_t) unsigned char arg[MUPC__HOST_MAX_ARG];
} native_args;

static void CL_CALLBACK native_call(void *p) {
  native_args *n = p;
  for (int i = 0; i < n->set.n; i++) {
    int found = 0;
    for (int j = 0; j < n->set.n; j++)
      found |= n->buf[j].ptr == n->expect[i];
    if (!found) {
      atomic_store(n->fault, 1);
      return;
    }
  }
  float *ptrs[MUPC__HOST_MAX_BUFFERS] = {NULL};
  for (int i = 0; i < n->nmem; i++) ptrs[i] = n->expect[n->set.which[i]];
  n->fn(n->arg, ptrs);
}

static int call_native(mupc_ctx *ctx, mupc__host_fn fn, const void *arg, size_t arg_size,
                       const buffer_set *set, int nmem) {
  native_args *args = calloc(1, sizeof *args);
  if (!args) return mupc__fail(MUPC_ENOMEM, "out of host memory");
  args->set = *set;
  args->nmem = nmem;
  args->fault = &ctx->host_fault;
  args->fn = fn;
  memcpy(args->arg, arg, arg_size);
  const void *loc[MUPC__HOST_MAX_BUFFERS];
  int rc = MUPC_OK;
  for (int j = 0; j < set->n && !rc; j++) {
    rc = device_address(ctx, set->list[j], &args->expect[j]);
    args->buf[j].mem = set->list[j];
    loc[j] = &args->buf[j];
  }
  /* The runtime copies the block: it can go once enqueued. */
  cl_int err = rc ? CL_SUCCESS
                  : clEnqueueNativeKernel(ctx->queue, native_call, args, sizeof *args,
                                          (cl_uint)set->n, set->list, loc, 0, NULL, NULL);
  free(args);
  if (rc) return rc;
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: enqueueing a host call (native kernel): %s", ctx->info.name,
                      mupc_strerror(err));
  return MUPC_OK;
}

/* Map every distinct buffer whole, call, unmap. The last map blocks; in the
 * in-order queue that means every command before it has finished. */
static int call_mapped(mupc_ctx *ctx, mupc__host_fn fn, const void *arg, const buffer_set *set,
                       int nmem) {
  cl_command_queue q = ctx->queue;
  float *base[MUPC__HOST_MAX_BUFFERS];
  cl_int err = CL_SUCCESS;
  int mapped = 0;
  for (; mapped < set->n && err == CL_SUCCESS; mapped++) {
    size_t bytes = 0;
    if (mupc__buffer_bytes(ctx, set->list[mapped], &bytes)) {
      err = CL_OUT_OF_HOST_MEMORY; /* the only way a known buffer's size fails */
      break;
    }
    base[mapped] = clEnqueueMapBuffer(q, set->list[mapped], mapped == set->n - 1 ? CL_TRUE : CL_FALSE,
                                      CL_MAP_READ | CL_MAP_WRITE, 0, bytes, 0, NULL, NULL, &err);
    if (err != CL_SUCCESS) break;
  }
  if (err == CL_SUCCESS) {
    float *ptrs[MUPC__HOST_MAX_BUFFERS] = {NULL};
    for (int i = 0; i < nmem; i++) ptrs[i] = base[set->which[i]];
    fn((void *)arg, ptrs);
  }
  const cl_int map_err = err;
  for (int j = 0; j < mapped; j++) {
    cl_int e = clEnqueueUnmapMemObject(q, set->list[j], base[j], 0, NULL, NULL);
    if (err == CL_SUCCESS) err = e;
  }
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: %s the buffers of a host call: %s", ctx->info.name,
                      map_err != CL_SUCCESS ? "mapping" : "unmapping", mupc_strerror(err));
  return MUPC_OK;
}

int mupc__host_call(mupc_ctx *ctx, mupc__host_fn fn, const void *arg, size_t arg_size,
                    const cl_mem *mems, int nmem) {
  if (nmem > MUPC__HOST_MAX_BUFFERS || arg_size > MUPC__HOST_MAX_ARG)
    return mupc__fail(MUPC_EINVAL, "host call: %d buffers and %zu argument bytes exceed %d and %d",
                      nmem, arg_size, MUPC__HOST_MAX_BUFFERS, MUPC__HOST_MAX_ARG);
  const char *why = host_refusal(ctx);
  if (why) return mupc__fail(MUPC_EINVAL, "%s: host call: %s", ctx->info.name, why);
  buffer_set set;
  distinct(mems, nmem, &set);
  return ctx->host_native ? call_native(ctx, fn, arg, arg_size, &set, nmem)
                          : call_mapped(ctx, fn, arg, &set, nmem);
}
