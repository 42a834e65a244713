/* The feedforward, the inference and the weight update on the host, one
 * host call each, for the host GEMM provider (CPU devices that share the
 * host's memory, with LIBXSMM built in): DESIGN §14.
 *
 * Inference treats every sample on its own: a sample's errors, its
 * back-projected errors and its activity update read only that sample's
 * rows of every buffer (only the weight gradients afterwards sum over
 * samples). So the T inference steps of a batch are one host call
 * (provider.c's mupc__host_call: one native kernel on PoCL) in which each
 * thread of the pool takes blocks of samples through all T steps, with
 * no join between steps and its rows of every layer hot in its cache:
 * per step and layer a JIT product for the prediction, the errors, a JIT
 * product for the back-projection and the update, the same sequence as
 * the device path's 7 enqueues (5 or 6 fused). The elementwise work is cl/common.cl and
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

/* Row r0 of the block in one layer's slot of an activity-shaped buffer:
 * the layer plan's offset (plan.h) plus r0 rows of `width`. */
static float *at(float *buf, size_t off, int r0, int width) {
  return buf + off + (size_t)r0 * width;
}

/* Layer j's prediction for the block, from src (a or da; x for j = 0)
 * into f1, pred or predl: where plan.c's PREDICT pass puts it. */
static void predict_rows(const rows_block *b, int j, float *src) {
  const mupc__layer *l = &b->h->layer[j];
  float *const *p = b->p;
  const int L = b->h->L;
  float *in = j == 0 ? at(src, 0, b->r0, l->in) : at(src, l[-1].out_off, b->r0, l->in);
  float *out = j == 0       ? at(p[B_F1], 0, b->r0, l->out)
               : j == L - 1 ? at(p[B_PREDL], 0, b->r0, l->out)
                            : at(p[B_PRED], l[-1].out_off, b->r0, l->out);
  product(b->rows, l->out, l->in, in, l->in, p[B_WT] + l->w_off, l->out, out);
}

/* Layer j's back-projection for the block (j >= 1): its error (e, or el
 * for the readout) times W_j into bp at its input, as plan.c's BACK. */
static void back_rows(const rows_block *b, int j) {
  const mupc__layer *l = &b->h->layer[j];
  float *const *p = b->p;
  float *err = j == b->h->L - 1 ? at(p[B_EL], 0, b->r0, l->out) : at(p[B_E], l->out_off, b->r0, l->out);
  product(b->rows, l->in, l->out, err, l->out, p[B_W] + l->w_off, l->in,
          at(p[B_BP], l[-1].out_off, b->r0, l->in));
}

/* Samples [r0, r1) through every inference step. The same order as step.c:
 * errors (predictions, then the elementwise errors), back-projection,
 * update. */
static void infer_rows(rows_block *b) {
  const host_infer *h = b->h;
  float *const *p = b->p;
  const int L = h->L, r0 = b->r0, r1 = b->r1;
  const mupc__host_act *f = &h->acts[h->act];
  for (int s = 1; s <= h->steps; s++) {
    const int t = h->t0 + s;
    const int lo = !h->wavefront ? 1 : L - t > 1 ? L - t : 1;
    /* Predictions from the displacements: pred_{l-2} = da_{l-1} W_lᵀ. */
    for (int j = (lo > 2 ? lo : 2) - 1; j < L - 1; j++) predict_rows(b, j, p[B_DA]);
    predict_rows(b, L - 1, p[B_A]);
    uint64_t t_el = tick(b);
    f->errors(h, p, lo, r0, r1);
    tock(b, t_el);
    /* Back-projections bp_l = E_{l+1} W_{l+1}, the readout's last. */
    for (int j = lo; j <= L - 1; j++) back_rows(b, j);
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
  const int L = h->L, N = h->N, bn = h->bn, r0 = b->r0, r1 = b->r1;
  const mupc__host_act *f = &h->acts[h->act];
  for (int l = 0; l < L - 1; l++) {
    const size_t at0 = (size_t)l * bn + (size_t)r0 * N, n = (size_t)b->rows * N * sizeof(float);
    memset(p[B_D] + at0, 0, n);
    memset(p[B_DA] + at0, 0, n);
    memset(p[B_R] + at0, 0, n);
  }
  predict_rows(b, 0, p[B_X]);
  float *f1 = at(p[B_F1], 0, r0, N);
  const float scale_first = h->layer[0].scale;
  if (scale_first != 1.0f)
    for (int k = 0; k < b->rows * N; k++) f1[k] *= scale_first;
  uint64_t t_el = tick(b);
  f->ff_first(p[B_Z], p[B_A], p[B_F1], bn, r0 * N, r1 * N);
  tock(b, t_el);
  for (int j = 1; j < L - 1; j++) {
    predict_rows(b, j, p[B_A]);
    t_el = tick(b);
    f->ff_hidden(p[B_Z], p[B_A], p[B_PRED], (int)h->layer[j].out_off,
                 (int)h->layer[j - 1].out_off, bn, h->scale_h, h->skip_h, r0 * N, r1 * N);
    tock(b, t_el);
  }
  predict_rows(b, L - 1, p[B_A]);
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
      .L = L, .B = B, .N = p->width, .C = p->output_dim, .D = p->input_dim, .bn = (int)net->plan.slot,
      .t0 = net->infer_t, .steps = steps, .wavefront = p->wavefront,
      .adam = p->activity_optim == MUPC_AOPTIM_ADAM, .ce = p->loss == MUPC_LOSS_CE,
      .act = (int)p->act, .layer = net->plan.layer,
      .scale_h = net->plan.layer[1].scale, .skip_h = net->plan.layer[1].skip,
      .scale_top = net->plan.layer[L - 1].scale,
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
  net->count.flops += mupc__pass_flops(net, 0, net->plan.L);
  net->count.enqueues++;
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
  /* The products' FLOPs, as the device path would count them: predictions
   * of weights h0-1 … L-1, back-projections of weights lo … L-1. */
  for (int s = 1; s <= steps; s++) {
    const int t = net->infer_t + s;
    const int lo = !p->wavefront ? 1 : L - t > 1 ? L - t : 1;
    const int h0 = lo > 2 ? lo : 2;
    net->count.flops += mupc__pass_flops(net, h0 - 1, L) + mupc__pass_flops(net, lo, L);
  }
  net->infer_t += steps;
  net->count.enqueues++;
  if (net->per_step_enqueues < 1) net->per_step_enqueues = 1;
  return 1;
}

/* ---- the weight update ----
 * The optimiser over the flat parameter buffer in chunks, then the
 * transposed copy the forward products read (net.h), in blocks of rows:
 * one host call, in the pool. */

enum { CHUNK = 16384, TROWS = 32 };

typedef struct host_update {
  int sgd, n, L, nrun, ntasks;
  const mupc__layer *layer; /* the layer plan (plan.h) */
  const mupc__run *run;
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

/* Task t: TROWS rows of one matrix (the layers in order, run by run of
 * the plan), written column by column into its transpose. */
static void transpose_rows(void *arg, size_t t) {
  const update_task *tk = arg;
  const host_update *u = &tk->u;
  int b = (int)t;
  const mupc__layer *l = NULL;
  for (int r = 0; r < u->nrun && !l; r++) {
    const mupc__layer *first = &u->layer[u->run[r].j0];
    const int per = blocks(first->out), count = (u->run[r].j1 - u->run[r].j0) * per;
    if (b < count)
      l = first + b / per, b %= per;
    else
      b -= count;
  }
  const int rows = l->out, cols = l->in;
  const float *src = tk->p[0] + l->w_off;
  float *dst = tk->p[4] + l->w_off;
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
  mupc__pool_for((size_t)u->ntasks, transpose_task, &tk);
}

int mupc__host_update(mupc_net *net, float c1, float c2) {
  const mupc_net_params *p = &net->p;
  if (net->ctx->gemm != MUPC_GEMM_HOST) return 0;
  int ntasks = 0;
  for (int j = 0; j < net->plan.L; j++) ntasks += blocks(net->plan.layer[j].out);
  const host_update u = {.sgd = p->optim == MUPC_OPTIM_SGD, .n = (int)net->plan.n_params,
                         .L = p->depth, .nrun = net->plan.nrun, .ntasks = ntasks,
                         .layer = net->plan.layer, .run = net->plan.run, .lr = p->lr,
                         .b1 = p->adam_beta1, .b2 = p->adam_beta2, .eps = p->adam_eps,
                         .wd = p->weight_decay, .c1 = c1, .c2 = c2, .optim = host_optim()};
  const cl_mem mems[5] = {net->w, net->grad, net->adam_m, net->adam_v, net->wt};
  MUPC__TRY(mupc__host_call(net->ctx, update_call, &u, sizeof u, mems, 5));
  net->wt_stale = 0; /* made in the same call, in the queue's order */
  net->count.enqueues++;
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
