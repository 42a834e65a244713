/* The feedforward, the inference and the weight update on the host, one
 * host call each, for the host GEMM provider (CPU devices that share the
 * host's memory, with LIBXSMM built in): DESIGN §14.
 *
 * Inference treats every sample on its own: a sample's errors, its
 * back-projected errors and its activity update read only that sample's
 * rows of every buffer (only the weight gradients afterwards sum over
 * samples). So the T inference steps of a batch are one host call
 * (gemm.c's mupc__host_call: one native kernel on PoCL) in which each
 * thread of the pool takes blocks of samples through all T steps, with
 * no join between steps and its rows of every layer hot in its cache:
 * per step and layer a JIT product for the prediction, the errors, a JIT
 * product for the back-projection and the update, the same sequence as
 * the device path's 7 enqueues. The elementwise work is cl/common.cl and
 * cl/pc.cl themselves, compiled as C here (hostinfer_act.h), so the host
 * cannot drift from the kernels. Products round as the host provider's
 * batched products do (hostgemm.c: the same kernels on row blocks of
 * MUPC__HOST_ROWS), so the result does not depend on the thread count.
 *
 * The device path (step.c) stays for every other provider and device. */
#include "hostinfer.h"
#include "net.h"

#if MUPC_HAVE_LIBXSMM
#include <libxsmm.h>

/* The build of hostinfer_kern.c for the CPU's instruction set. */
enum { ISA_BASE, ISA_AVX2, ISA_AVX512 };
static int host_isa(void) {
#if MUPC_HOST_ISAS_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    return ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
#endif
  return ISA_BASE;
}

static const mupc__host_act *host_acts(void) {
#if MUPC_HOST_ISAS_X86
  const mupc__host_act *const by_isa[] = {mupc__host_acts_base, mupc__host_acts_avx2,
                                          mupc__host_acts_avx512};
  return by_isa[host_isa()];
#else
  return mupc__host_acts_base;
#endif
}

static const mupc__host_optim *host_optim(void) {
#if MUPC_HOST_ISAS_X86
  const mupc__host_optim *const by_isa[] = {&mupc__host_optim_base, &mupc__host_optim_avx2,
                                            &mupc__host_optim_avx512};
  return by_isa[host_isa()];
#else
  return &mupc__host_optim_base;
#endif
}

/* Row-major C (rows x n) = A (rows x k, lda) · B (k x n, ldb), one JIT
 * kernel, C dense with leading dimension n. */
static void product(int rows, int n, int k, const float *a, int lda, const float *b, int ldb,
                    float *c) {
  const libxsmm_blasint la = ldb, lb = lda, lc = n;
  const float one = 1.0f, zero = 0.0f;
  const int flags = LIBXSMM_GEMM_FLAG_NONE;
  /* LIBXSMM keeps the kernels it made: after the first step this is a
   * lookup. hostgemm.c made sure it has a kernel for these shapes. */
  libxsmm_smmfunction f = libxsmm_smmdispatch(n, rows, k, &la, &lb, &lc, &one, &zero, &flags, NULL);
  f(b, a, c);
}

/* One block of MUPC__HOST_ROWS samples [r0, r1) of a host call, and, under
 * mupc bench, the time its element loops took (the rest of the block's
 * time is products). */
typedef struct rows_block {
  const host_infer *h;
  float *const *p;
  int r0, r1, rows;
  int timed;
  uint64_t elementwise;
} rows_block;

/* Around an element loop: the clock when timed. */
static uint64_t tick(const rows_block *b) { return b->timed ? mupc__profile_now() : 0; }
static void tock(rows_block *b, uint64_t t0) {
  if (b->timed) b->elementwise += mupc__profile_now() - t0;
}

typedef struct task {
  host_infer h;
  float *const *p;
  void (*fn)(rows_block *);
} task;

static void block_task(void *arg, size_t i) {
  const task *tk = arg;
  const int r0 = (int)i * MUPC__HOST_ROWS;
  const int r1 = r0 + MUPC__HOST_ROWS < tk->h.B ? r0 + MUPC__HOST_ROWS : tk->h.B;
  rows_block b = {&tk->h, tk->p, r0, r1, r1 - r0, mupc__profile_host_on(), 0};
  const uint64_t t0 = tick(&b);
  tk->fn(&b);
  if (b.timed) {
    mupc__profile_host(MUPC__PROF_KERNEL, b.elementwise);
    mupc__profile_host(MUPC__PROF_GEMM, mupc__profile_now() - t0 - b.elementwise);
  }
}

/* fn over every block of the batch, in the pool. */
static void run_blocks(const void *arg, float *const *ptrs, void (*fn)(rows_block *)) {
  task tk = {*(const host_infer *)arg, ptrs, fn};
  mupc__pool_for((size_t)((tk.h.B + MUPC__HOST_ROWS - 1) / MUPC__HOST_ROWS), block_task, &tk);
}

/* Samples [r0, r1) through every inference step. The same order as step.c:
 * errors (predictions, then the elementwise errors), back-projection,
 * update. */
static void infer_rows(rows_block *b) {
  const host_infer *h = b->h;
  float *const *p = b->p;
  const int L = h->L, N = h->N, C = h->C, bn = h->bn, r0 = b->r0, r1 = b->r1, rows = b->rows;
  const mupc__host_act *f = &h->acts[h->act];
  const float *wt = p[B_WT], *w = p[B_W];
  for (int s = 1; s <= h->steps; s++) {
    const int t = h->t0 + s;
    const int lo = !h->wavefront ? 1 : L - t > 1 ? L - t : 1;
    /* Predictions from the displacements: pred_{l-2} = da_{l-1} W_lᵀ. */
    for (int l = lo > 2 ? lo : 2; l <= L - 1; l++)
      product(rows, N, N, p[B_DA] + (size_t)(l - 2) * bn + (size_t)r0 * N, N,
              wt + h->off_hidden + (size_t)(l - 2) * N * N, N,
              p[B_PRED] + (size_t)(l - 2) * bn + (size_t)r0 * N);
    product(rows, C, N, p[B_A] + (size_t)(L - 2) * bn + (size_t)r0 * N, N, wt + h->off_out, C,
            p[B_PREDL] + (size_t)r0 * C);
    uint64_t t_el = tick(b);
    f->errors(h, p, lo, r0, r1);
    tock(b, t_el);
    /* Back-projections bp_l = E_{l+1} W_{l+1}, the readout's last. */
    for (int l = lo; l <= L - 2; l++)
      product(rows, N, N, p[B_E] + (size_t)l * bn + (size_t)r0 * N, N,
              w + h->off_hidden + (size_t)(l - 1) * N * N, N,
              p[B_BP] + (size_t)(l - 1) * bn + (size_t)r0 * N);
    product(rows, N, C, p[B_EL] + (size_t)r0 * C, C, w + h->off_out, N,
            p[B_BP] + (size_t)(L - 2) * bn + (size_t)r0 * N);
    t_el = tick(b);
    f->update(h, p, lo, t, r0, r1);
    tock(b, t_el);
  }
}

/* The feedforward of samples [r0, r1), as mupc__forward does it on the
 * device: displacements and reference errors zeroed, f_1 = a_1 · x W_1ᵀ
 * (scaled after the product, as the host provider's products are), then
 * layer by layer a product and ff_hidden, then the readout's product. */
static void forward_rows(rows_block *b) {
  const host_infer *h = b->h;
  float *const *p = b->p;
  const int L = h->L, N = h->N, C = h->C, D = h->D, bn = h->bn, r0 = b->r0, r1 = b->r1;
  const int rows = b->rows;
  const mupc__host_act *f = &h->acts[h->act];
  const float *wt = p[B_WT];
  for (int l = 0; l < L - 1; l++) {
    const size_t at = (size_t)l * bn + (size_t)r0 * N, n = (size_t)rows * N * sizeof(float);
    memset(p[B_D] + at, 0, n);
    memset(p[B_DA] + at, 0, n);
    memset(p[B_R] + at, 0, n);
  }
  float *f1 = p[B_F1] + (size_t)r0 * N;
  product(rows, N, D, p[B_X] + (size_t)r0 * D, D, wt, N, f1);
  if (h->scale_first != 1.0f)
    for (int k = 0; k < rows * N; k++) f1[k] *= h->scale_first;
  uint64_t t_el = tick(b);
  f->ff_first(p[B_Z], p[B_A], p[B_F1], bn, r0 * N, r1 * N);
  tock(b, t_el);
  for (int l = 2; l <= L - 1; l++) {
    product(rows, N, N, p[B_A] + (size_t)(l - 2) * bn + (size_t)r0 * N, N,
            wt + h->off_hidden + (size_t)(l - 2) * N * N, N,
            p[B_PRED] + (size_t)(l - 2) * bn + (size_t)r0 * N);
    t_el = tick(b);
    f->ff_hidden(p[B_Z], p[B_A], p[B_PRED], (l - 1) * bn, (l - 2) * bn, bn, h->scale_h,
                 h->skip_h, r0 * N, r1 * N);
    tock(b, t_el);
  }
  product(rows, C, N, p[B_A] + (size_t)(L - 2) * bn + (size_t)r0 * N, N, wt + h->off_out, C,
          p[B_PREDL] + (size_t)r0 * C);
}

static void forward_call(void *arg, float *const *ptrs) { run_blocks(arg, ptrs, forward_rows); }
static void infer_call(void *arg, float *const *ptrs) { run_blocks(arg, ptrs, infer_rows); }

/* The JIT kernels the call needs, made now on the calling thread: a
 * shape LIBXSMM cannot make sends the inference down the device path. */
static int have_kernels(const host_infer *h) {
  const int rows[2] = {MUPC__HOST_ROWS, h->B % MUPC__HOST_ROWS};
  for (int i = 0; i < 2; i++) {
    if (rows[i] == 0) continue;
    /* product()'s four shapes: hidden layers, readout prediction, readout
     * back-projection, first layer, in LIBXSMM's column-major terms. */
    const int shapes[4][3] = {{h->N, rows[i], h->N},
                              {h->C, rows[i], h->N},
                              {h->N, rows[i], h->C},
                              {h->N, rows[i], h->D}};
    const int lds[4][3] = {
        {h->N, h->N, h->N}, {h->C, h->N, h->C}, {h->N, h->C, h->N}, {h->N, h->D, h->N}};
    for (int j = 0; j < 4; j++) {
      const libxsmm_blasint la = lds[j][0], lb = lds[j][1], lc = lds[j][2];
      const float one = 1.0f, zero = 0.0f;
      const int flags = LIBXSMM_GEMM_FLAG_NONE;
      if (!libxsmm_smmdispatch(shapes[j][0], shapes[j][1], shapes[j][2], &la, &lb, &lc, &one,
                               &zero, &flags, NULL))
        return 0;
    }
  }
  return 1;
}

/* The scalars and the buffers of a host call on net; 0 where the host
 * path does not run it (another provider, no hidden layer, a shape LIBXSMM
 * has no kernel for). */
static int host_setup(mupc_net *net, int steps, host_infer *h, cl_mem mems[B_COUNT]) {
  const mupc_net_params *p = &net->p;
  if (net->ctx->gemm != MUPC_GEMM_HOST || p->depth < 3) return 0;
  const int L = p->depth, B = p->batch;
  *h = (host_infer){
      .L = L, .B = B, .N = p->width, .C = p->output_dim, .D = p->input_dim, .bn = (int)net->bn,
      .t0 = net->infer_t, .steps = steps, .wavefront = p->wavefront,
      .adam = p->activity_optim == MUPC_AOPTIM_ADAM, .ce = p->loss == MUPC_LOSS_CE,
      .act = (int)p->act,
      .off_hidden = net->off_hidden, .off_out = net->off_out, .scale_first = net->scale[0],
      .scale_h = net->scale[1], .skip_h = net->skip[1], .scale_top = net->scale[L - 1],
      .inv_b = mupc__grad_norm(p), .lr = p->activity_lr, .b1 = p->adam_beta1,
      .b2 = p->adam_beta2, .eps = p->adam_eps, .acts = host_acts()};
  if (!have_kernels(h)) return 0;
  const cl_mem all[B_COUNT] = {
      [B_Z] = net->z,       [B_D] = net->d,   [B_A] = net->a,       [B_DA] = net->da,
      [B_R] = net->r,       [B_E] = net->e,   [B_BP] = net->bp,     [B_DZ] = net->dz,
      [B_ZM] = net->zm,     [B_ZV] = net->zv, [B_PRED] = net->pred, [B_PREDL] = net->predl,
      [B_Y] = net->y,       [B_EL] = net->el, [B_LOSS] = net->loss, [B_W] = net->w,
      [B_WT] = net->wt,     [B_X] = net->x,   [B_F1] = net->f1};
  memcpy(mems, all, sizeof all);
  return 1;
}

int mupc__host_forward(mupc_net *net) {
  host_infer h;
  cl_mem mems[B_COUNT];
  if (!host_setup(net, 0, &h, mems)) return 0;
  MUPC__TRY(mupc__weights_transposed(net));
  MUPC__TRY(mupc__host_call(net->ctx, forward_call, &h, sizeof h, mems, B_COUNT));
  const mupc_net_params *p = &net->p;
  const uint64_t B = p->batch, N = p->width;
  net->flops += 2 * B * N * ((uint64_t)p->input_dim + (uint64_t)(p->depth - 2) * N +
                             (uint64_t)p->output_dim);
  net->enqueues++;
  return 1;
}

int mupc__host_infer(mupc_net *net, int steps) {
  const mupc_net_params *p = &net->p;
  host_infer h;
  cl_mem mems[B_COUNT];
  if (!host_setup(net, steps, &h, mems)) return 0;
  MUPC__TRY(mupc__weights_transposed(net));
  MUPC__TRY(mupc__host_call(net->ctx, infer_call, &h, sizeof h, mems, B_COUNT));
  const int L = p->depth;
  const uint64_t B = p->batch, N = p->width, C = p->output_dim;
  /* The products' FLOPs, as the device path would count them. */
  for (int s = 1; s <= steps; s++) {
    const int t = net->infer_t + s;
    const int lo = !p->wavefront ? 1 : L - t > 1 ? L - t : 1;
    const int h0 = lo > 2 ? lo : 2;
    const uint64_t layers = (uint64_t)(L - h0) + (uint64_t)(lo <= L - 2 ? L - 1 - lo : 0);
    net->flops += 2 * B * N * (N * layers + 2 * C);
  }
  net->infer_t += steps;
  net->enqueues++;
  if (net->per_step_enqueues < 1) net->per_step_enqueues = 1;
  return 1;
}

/* ---- the weight update ----
 * The optimiser over the flat parameter buffer in chunks, then the
 * transposed copy the forward products read (net.h), in blocks of rows:
 * one host call, in the pool. */

enum { CHUNK = 16384, TROWS = 32 };

typedef struct host_update {
  int sgd, n, L, N, D, C;
  size_t off_hidden, off_out;
  float lr, b1, b2, eps, wd, c1, c2;
  const mupc__host_optim *optim;
} host_update;

typedef struct update_task {
  host_update u;
  float *const *p; /* w, grad, m, v, wt */
} update_task;

static void optim_chunk(void *arg, size_t i) {
  const update_task *tk = arg;
  const host_update *u = &tk->u;
  float *const *p = tk->p;
  const int i0 = (int)i * CHUNK, i1 = i0 + CHUNK < u->n ? i0 + CHUNK : u->n;
  if (u->sgd)
    u->optim->sgd(p[0], p[1], i0, i1, u->lr, u->wd);
  else
    u->optim->adam(p[0], p[1], p[2], p[3], i0, i1, u->lr, u->b1, u->b2, u->eps, u->wd, u->c1,
                   u->c2);
}

static int blocks(int rows) { return (rows + TROWS - 1) / TROWS; }

/* Task t: TROWS rows of one matrix (W_1, the hidden ones, W_L in order),
 * written column by column into its transpose. */
static void transpose_rows(void *arg, size_t t) {
  const update_task *tk = arg;
  const host_update *u = &tk->u;
  int b = (int)t, rows, cols;
  size_t off;
  if (b < blocks(u->N)) {
    rows = u->N, cols = u->D, off = 0;
  } else if ((b -= blocks(u->N)) < (u->L - 2) * blocks(u->N)) {
    rows = cols = u->N;
    off = u->off_hidden + (size_t)(b / blocks(u->N)) * u->N * u->N;
    b %= blocks(u->N);
  } else {
    b -= (u->L - 2) * blocks(u->N);
    rows = u->C, cols = u->N, off = u->off_out;
  }
  const float *src = tk->p[0] + off;
  float *dst = tk->p[4] + off;
  const int r0 = b * TROWS, r1 = r0 + TROWS < rows ? r0 + TROWS : rows;
  for (int c = 0; c < cols; c++)
    for (int r = r0; r < r1; r++) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

/* A task timed as other kernels' work under mupc bench (profile.c). */
static void timed_task(void (*fn)(void *, size_t), void *arg, size_t i) {
  const uint64_t t0 = mupc__profile_host_on() ? mupc__profile_now() : 0;
  fn(arg, i);
  if (t0) mupc__profile_host(MUPC__PROF_KERNEL, mupc__profile_now() - t0);
}
static void optim_task(void *arg, size_t i) { timed_task(optim_chunk, arg, i); }
static void transpose_task(void *arg, size_t i) { timed_task(transpose_rows, arg, i); }

static void update_call(void *arg, float *const *ptrs) {
  update_task tk = {*(const host_update *)arg, ptrs};
  const host_update *u = &tk.u;
  mupc__pool_for((size_t)(u->n + CHUNK - 1) / CHUNK, optim_task, &tk);
  mupc__pool_for((size_t)(blocks(u->N) * (u->L - 1) + blocks(u->C)), transpose_task, &tk);
}

int mupc__host_update(mupc_net *net, float c1, float c2) {
  const mupc_net_params *p = &net->p;
  if (net->ctx->gemm != MUPC_GEMM_HOST) return 0;
  const host_update u = {.sgd = p->optim == MUPC_OPTIM_SGD, .n = (int)net->n_params,
                         .L = p->depth, .N = p->width, .D = p->input_dim, .C = p->output_dim,
                         .off_hidden = net->off_hidden, .off_out = net->off_out, .lr = p->lr,
                         .b1 = p->adam_beta1, .b2 = p->adam_beta2, .eps = p->adam_eps,
                         .wd = p->weight_decay, .c1 = c1, .c2 = c2, .optim = host_optim()};
  const cl_mem mems[5] = {net->w, net->grad, net->adam_m, net->adam_v, net->wt};
  MUPC__TRY(mupc__host_call(net->ctx, update_call, &u, sizeof u, mems, 5));
  net->wt_stale = 0; /* made in the same call, in the queue's order */
  net->enqueues++;
  return 1;
}
#else
int mupc__host_forward(mupc_net *net) {
  (void)net;
  return 0;
}
int mupc__host_infer(mupc_net *net, int steps) {
  (void)net, (void)steps;
  return 0;
}
int mupc__host_update(mupc_net *net, float c1, float c2) {
  (void)net, (void)c1, (void)c2;
  return 0;
}
#endif
