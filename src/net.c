/* Network lifetime: sizes, the per-layer scalings, the buffer layout of
 * DESIGN §5, host-seeded init, and host access to device tensors (with
 * what a host write of activities must recompute). */
#include "net.h"
#include "tune/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mupc_net_weight_shape(const mupc_net *net, int layer, int *out_dim, int *in_dim) {
  *out_dim = *in_dim = 0;
  if (layer < 0 || layer >= net->plan.L) return;
  *out_dim = net->plan.layer[layer].out;
  *in_dim = net->plan.layer[layer].in;
}

const mupc_net_params *mupc_net_get_params(const mupc_net *net) { return &net->p; }
int mupc_net_enqueues_per_inference_step(const mupc_net *net) { return net->per_step_enqueues; }
uint64_t mupc_net_enqueue_count(const mupc_net *net) { return net->count.enqueues; }
int64_t mupc_net_optim_step(const mupc_net *net) { return net->t; }
void mupc_net_set_optim_step(mupc_net *net, int64_t t) { net->t = t; }

#define MUPC__KERNEL_NAME(name) #name,
static const char *const names[MUPC__K_COUNT] = {
    MUPC__KERNELS(MUPC__KERNEL_NAME) MUPC__KEYED_KERNELS(MUPC__KERNEL_NAME)};
#undef MUPC__KERNEL_NAME

static int make_kernels(mupc_net *net) {
  /* gemm.cl with MUPC_FUSED: the products that run the step's elementwise
   * pass on their output (--gemm kernels, step.c). */
  static const char *const files[] = {"common.cl", "pc.cl", "optim.cl", "reduce.cl", "gemm.cl"};
  char opts[96];
  snprintf(opts, sizeof opts, "-DMUPC_ACT=%s -DGEMM_TILE=%d -DMUPC_FUSED=1",
           mupc__acts[net->p.act].macro, mupc__gemm_tile(net->ctx));
  cl_program prog;
  int rc = mupc__program_get(net->ctx, files, 5, opts, &prog);
  if (rc) return rc;
  net->prog = prog;
  for (int i = 0; i < MUPC__K_NET; i++) {
    cl_int err;
    net->k.at[i].k = clCreateKernel(prog, names[i], &err);
    if (err != CL_SUCCESS)
      return mupc__fail(err, "clCreateKernel(%s): %s", names[i], mupc_strerror(err));
  }
  return MUPC_OK;
}

typedef struct buf_spec {
  cl_mem *buf;
  size_t floats;
} buf_spec;

/* Every buffer's size from the plan. */
static void describe_buffers(mupc_net *net, buf_spec *s, size_t *n) {
  const mupc_net_params *p = &net->p;
  const mupc__plan *pl = &net->plan;
  const size_t B = p->batch, C = p->output_dim, L = p->depth, slot = pl->slot;
  const size_t acts = pl->act_floats, params = pl->n_params;
  size_t i = 0;
  s[i++] = (buf_spec){&net->w, params};
  s[i++] = (buf_spec){&net->wt, params};
  s[i++] = (buf_spec){&net->grad, params};
  s[i++] = (buf_spec){&net->adam_m, params};
  s[i++] = (buf_spec){&net->adam_v, params};
  s[i++] = (buf_spec){&net->x, B * p->input_dim};
  s[i++] = (buf_spec){&net->y, B * C};
  s[i++] = (buf_spec){&net->f1, slot};
  s[i++] = (buf_spec){&net->z, acts};
  s[i++] = (buf_spec){&net->d, acts};
  s[i++] = (buf_spec){&net->a, acts};
  s[i++] = (buf_spec){&net->da, acts};
  s[i++] = (buf_spec){&net->r, acts};
  s[i++] = (buf_spec){&net->e, acts + slot};
  s[i++] = (buf_spec){&net->bp, acts};
  s[i++] = (buf_spec){&net->dz, acts};
  /* Predictions of layers 1 … L-2 (at least one slot, for L = 2). */
  s[i++] = (buf_spec){&net->pred, acts > slot ? acts - slot : slot};
  s[i++] = (buf_spec){&net->predl, B * C};
  s[i++] = (buf_spec){&net->el, B * C};
  s[i++] = (buf_spec){&net->loss, B};
  s[i++] = (buf_spec){&net->energy, 2 * L};
  /* An activity optimiser with state keeps two more activity-sized buffers. */
  const size_t zadam = mupc__aoptims[p->activity_optim].state ? acts : 1;
  s[i++] = (buf_spec){&net->zm, zadam};
  s[i++] = (buf_spec){&net->zv, zadam};
  *n = i;
}

static int upload_init_weights(mupc_net *net) {
  int rc = MUPC_OK;
  size_t most = 0;
  for (int l = 0; l < net->p.depth; l++)
    if (net->plan.layer[l].w_size > most) most = net->plan.layer[l].w_size;
  float *host = malloc(most * sizeof *host);
  if (!host) return mupc__fail(MUPC_ENOMEM, "out of host memory for weight init");
  for (int l = 0; l < net->p.depth && rc == MUPC_OK; l++) {
    const mupc__layer *lay = &net->plan.layer[l];
    mupc__init_weights(&net->p, l, lay->w_size, lay->fan_in, host);
    rc = mupc_net_write(net, MUPC_T_WEIGHT, l, host);
  }
  free(host);
  return rc;
}

int mupc__net_passes(const mupc_net *net, mupc__gemm_args **out, size_t *count) {
  const mupc__plan *pl = &net->plan;
  mupc__gemm_args *g = malloc(3 * (size_t)pl->nrun * sizeof *g);
  if (!g) return mupc__fail(MUPC_ENOMEM, "out of host memory");
  size_t n = 0;
  for (int r = 0; r < pl->nrun; r++) {
    const mupc__run run = pl->run[r];
    mupc__pass_gemm(net, MUPC__PASS_PREDICT, run.j0, run.j1, &g[n++]);
    if (run.j0 > 0) mupc__pass_gemm(net, MUPC__PASS_BACK, run.j0, run.j1, &g[n++]);
    mupc__pass_gemm(net, MUPC__PASS_WGRAD, run.j0, run.j1, &g[n++]);
  }
  *out = g;
  *count = n;
  return MUPC_OK;
}

/* ---- AUTO off the host: CLBlast or the library's kernels ----
 * Where the host provider cannot run (GPUs), AUTO measures this net's
 * GEMM passes with both and keeps the faster, wall clock and host time
 * together (on a GPU the OpenCL calls around a product can cost more than
 * the product): once per device and shape, then from the tuning cache. */

static double time_passes(mupc_net *net, mupc_gemm g, const mupc__gemm_args *pass, size_t n,
                          int *rc) {
  mupc__counters scratch = {0, 0}; /* not the net's: no step made these */
  const double t0 = mupc__seconds();
  for (size_t i = 0; i < n && !*rc; i++) *rc = mupc__gemm_run(net->ctx, &scratch, g, &pass[i]);
  if (!*rc) *rc = mupc_ctx_finish(net->ctx);
  return mupc__seconds() - t0;
}

static int choose_gemm(mupc_net *net) {
  mupc_ctx *ctx = net->ctx;
  if (!ctx->gemm_auto) return MUPC_OK;
  const mupc_net_params *p = &net->p;
  char shape[128];
  snprintf(shape, sizeof shape, "B=%d D=%d N=%d C=%d L=%d", p->batch, p->input_dim, p->width,
           p->output_dim, p->depth);
  mupc_gemm g;
  if (mupc__gemm_choice_load(ctx, shape, &g)) return ctx->gemm = g, MUPC_OK;
  mupc__gemm_args *pass;
  size_t n;
  MUPC__TRY(mupc__net_passes(net, &pass, &n));
  const mupc_gemm both[2] = {MUPC_GEMM_CLBLAST, MUPC_GEMM_KERNELS};
  double best[2] = {1e300, 1e300};
  int rc = MUPC_OK;
  /* A first round builds the kernels; then the best of three, alternating. */
  for (int r = 0; r < 4 && !rc; r++)
    for (int i = 0; i < 2 && !rc; i++) {
      const int which = r % 2 ? 1 - i : i;
      const double t = time_passes(net, both[which], pass, n, &rc);
      if (r > 0 && t < best[which]) best[which] = t;
    }
  free(pass);
  if (rc) return rc;
  ctx->gemm = best[1] < best[0] ? MUPC_GEMM_KERNELS : MUPC_GEMM_CLBLAST;
  /* The choice stands without the cache: a cache that cannot be written
   * costs the next net a measurement, not this one its creation. */
  (void)mupc__gemm_choice_save(ctx, shape, ctx->gemm, best[0], best[1]);
  mupc__clear_errmsg();
  return MUPC_OK;
}

int mupc_net_init(mupc_net **out, mupc_ctx *ctx, const mupc_net_params *p) {
  int rc = mupc_net_params_check(p);
  if (rc) return rc;
  mupc_net *net = calloc(1, sizeof *net);
  if (!net) return mupc__fail(MUPC_ENOMEM, "out of host memory");
  net->p = *p;
  net->ctx = ctx;
  net->infer_t = p->depth; /* no feedforward yet: every layer may differ */
  net->wt_stale = 1;

  rc = mupc__plan_make(p, &net->plan);
  if (rc) {
    free(net);
    return rc;
  }
  buf_spec specs[24];
  size_t nspec;
  describe_buffers(net, specs, &nspec);
  for (size_t i = 0; i < nspec && rc == MUPC_OK; i++)
    rc = mupc__buffer_alloc(ctx, specs[i].floats * sizeof(float), specs[i].buf);
  if (rc == MUPC_OK) rc = make_kernels(net);
  if (rc == MUPC_OK) rc = upload_init_weights(net);
  if (rc == MUPC_OK) rc = choose_gemm(net);
  if (rc) goto ERROR;
  *out = net;
  return MUPC_OK;
ERROR:
  mupc_net_free(net);
  return rc;
}

void mupc_net_free(mupc_net *net) {
  if (!net) return;
  buf_spec specs[24];
  size_t nspec;
  describe_buffers(net, specs, &nspec);
  clFinish(net->ctx->queue);
  for (size_t i = 0; i < nspec; i++)
    mupc__buffer_free(net->ctx, specs[i].buf, specs[i].floats * sizeof(float));
  for (int i = 0; i < MUPC__K_NET; i++)
    if (net->k.at[i].k) clReleaseKernel(net->k.at[i].k);
  for (size_t i = 0; i < net->nkeyed; i++) clReleaseKernel(net->keyed[i].k.k);
  free(net->keyed);
  mupc__plan_free(&net->plan);
  free(net);
}

int mupc__net_kernel_for(mupc_net *net, int id, const int key[8], mupc__kernel **out, int *fresh) {
  for (size_t i = 0; i < net->nkeyed; i++)
    if (net->keyed[i].id == id && !memcmp(net->keyed[i].key, key, sizeof net->keyed[i].key)) {
      *out = &net->keyed[i].k;
      *fresh = 0;
      return MUPC_OK;
    }
  void *items = net->keyed;
  const int rc = mupc__room(&items, &net->cap_keyed, net->nkeyed, sizeof *net->keyed);
  net->keyed = items;
  if (rc) return rc;
  mupc__keyed_kernel *e = &net->keyed[net->nkeyed];
  cl_int err;
  *e = (mupc__keyed_kernel){.id = id, .k = {.k = clCreateKernel(net->prog, names[id], &err)}};
  if (err != CL_SUCCESS)
    return mupc__fail(err, "clCreateKernel(%s): %s", names[id], mupc_strerror(err));
  memcpy(e->key, key, sizeof e->key);
  net->nkeyed++;
  *out = &e->k;
  *fresh = 1;
  return MUPC_OK;
}

/* dst[l][c][r] = src[l][r][c] for count matrices of rows x cols from off. */
static int transpose(mupc_net *net, size_t off, int rows, int cols, int count) {
  mupc__kernel *k = &net->k.transpose;
  const int n = rows * cols * count;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->w), MUPC__MEM(net->wt), MUPC__INT((int)off),
                       MUPC__INT(rows), MUPC__INT(cols), MUPC__INT(n)));
  return mupc__launch(net->ctx, &net->count, k->k, (size_t)n);
}

/* One launch per run of the plan. */
int mupc__weights_transposed(mupc_net *net) {
  if (!net->wt_stale) return MUPC_OK;
  for (int r = 0; r < net->plan.nrun; r++) {
    const mupc__run run = net->plan.run[r];
    const mupc__layer *l = &net->plan.layer[run.j0];
    MUPC__TRY(transpose(net, l->w_off, l->out, l->in, run.j1 - run.j0));
  }
  net->wt_stale = 0;
  return MUPC_OK;
}

int mupc__run_pass(mupc_net *net, mupc__pass pass, int j0, int j1) {
  mupc__gemm_args g;
  mupc__pass_gemm(net, pass, j0, j1, &g);
  return mupc__gemm_run(net->ctx, &net->count, net->ctx->gemm, &g);
}

int mupc__activities_rebase(mupc_net *net) {
  const int count = (int)net->plan.act_floats;
  mupc__kernel *k = &net->k.rebase;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->z), MUPC__MEM(net->d), MUPC__MEM(net->da),
                       MUPC__MEM(net->a), MUPC__INT(count)));
  return mupc__launch(net->ctx, &net->count, k->k, (size_t)count);
}

int mupc__activities_written(mupc_net *net, int off, int n) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth, count = (int)net->plan.act_floats, ibn = (int)net->plan.slot;
  const mupc__layer *h = &net->plan.layer[1]; /* the hidden layers' scale and skip */
  MUPC__TRY(MUPC__ARGS(&net->k.refresh_act, 0, MUPC__MEM(net->z), MUPC__MEM(net->a), MUPC__INT(off),
                       MUPC__INT(n)));
  MUPC__TRY(mupc__launch(net->ctx, &net->count, net->k.refresh_act.k, (size_t)n));
  /* The written reference is no longer a feedforward state: its own errors
   * r = z − f(z) enter every error from now on. */
  MUPC__TRY(mupc__weights_transposed(net));
  if (L > 2) MUPC__TRY(mupc__run_pass(net, MUPC__PASS_PREDICT, 1, L - 1));
  mupc__kernel *k = &net->k.residual;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->z), MUPC__MEM(net->pred), MUPC__MEM(net->f1),
                       MUPC__MEM(net->r), MUPC__INT(count), MUPC__INT(ibn),
                       MUPC__FLOAT(h->scale), MUPC__FLOAT(h->skip)));
  return mupc__launch(net->ctx, &net->count, k->k, (size_t)count);
}

/* Buffer and float offset of one tensor; 0 if kind/layer are out of range. */
static int locate(const mupc_net *net, mupc_tensor_kind kind, int layer, cl_mem *buf,
                  size_t *off, size_t *n) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth;
  switch (kind) {
  case MUPC_T_WEIGHT:
  case MUPC_T_WEIGHT_GRAD:
  case MUPC_T_ADAM_M:
  case MUPC_T_ADAM_V: {
    if (layer < 0 || layer >= L) return 0;
    *buf = kind == MUPC_T_WEIGHT        ? net->w
           : kind == MUPC_T_WEIGHT_GRAD ? net->grad
           : kind == MUPC_T_ADAM_M      ? net->adam_m
                                        : net->adam_v;
    *off = net->plan.layer[layer].w_off;
    *n = net->plan.layer[layer].w_size;
    return 1;
  }
  case MUPC_T_ACTIVITY:
  case MUPC_T_ACTIVITY_GRAD:
    if (layer < 0 || layer > L - 2) return 0;
    *buf = kind == MUPC_T_ACTIVITY ? net->z : net->dz;
    *off = net->plan.layer[layer].out_off;
    *n = (size_t)p->batch * net->plan.layer[layer].out;
    return 1;
  case MUPC_T_ERROR:
    if (layer < 0 || layer > L - 1) return 0;
    *buf = layer == L - 1 ? net->el : net->e;
    *off = layer == L - 1 ? 0 : net->plan.layer[layer].out_off;
    *n = (size_t)p->batch * net->plan.layer[layer].out;
    return 1;
  }
  return 0;
}

size_t mupc_net_tensor_size(const mupc_net *net, mupc_tensor_kind kind, int layer) {
  cl_mem b;
  size_t off, n;
  return locate(net, kind, layer, &b, &off, &n) ? n : 0;
}


int mupc_net_read(mupc_net *net, mupc_tensor_kind kind, int layer, float *out) {
  cl_mem b;
  size_t off, n;
  if (!locate(net, kind, layer, &b, &off, &n))
    return mupc__fail(MUPC_EINVAL, "no tensor of kind %d at layer %d", (int)kind, layer);
  int rc = mupc__buffer_read(net->ctx, b, off, n, out, "a tensor");
  if (rc || kind != MUPC_T_ACTIVITY) return rc;
  /* The activity is the reference plus its displacement. */
  float *d = malloc(n * sizeof *d);
  if (!d) return mupc__fail(MUPC_ENOMEM, "out of host memory");
  rc = mupc__buffer_read(net->ctx, net->d, off, n, d, "a tensor");
  for (size_t i = 0; i < n && !rc; i++) out[i] += d[i];
  free(d);
  return rc;
}

int mupc_net_write(mupc_net *net, mupc_tensor_kind kind, int layer, const float *in) {
  cl_mem b;
  size_t off, n;
  if (!locate(net, kind, layer, &b, &off, &n))
    return mupc__fail(MUPC_EINVAL, "no tensor of kind %d at layer %d", (int)kind, layer);
  if (kind == MUPC_T_ACTIVITY) {
    /* The other layers keep their activities z + d: fold d into z first. */
    int rc = mupc__activities_rebase(net);
    if (rc) return rc;
    net->infer_t = net->p.depth;
  }
  cl_int err = clEnqueueWriteBuffer(net->ctx->queue, b, CL_TRUE, off * sizeof(float),
                                    n * sizeof(float), in, 0, NULL, NULL);
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: writing a tensor failed: %s", net->ctx->info.name,
                      mupc_strerror(err));
  if (kind == MUPC_T_WEIGHT) net->wt_stale = 1;
  if (kind != MUPC_T_ACTIVITY) return MUPC_OK;
  return mupc__activities_written(net, (int)off, (int)n);
}
