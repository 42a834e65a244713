/* Network lifetime: sizes, the per-layer scalings, the buffer layout of
 * DESIGN §5, host-seeded init, and host access to device tensors (with
 * what a host write of activities must recompute). */
#include "net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t mupc__weight_offset(const mupc_net *net, int layer) {
  if (layer == 0) return 0;
  if (layer == net->p.depth - 1) return net->off_out;
  return net->off_hidden + (size_t)(layer - 1) * net->p.width * net->p.width;
}

void mupc_net_weight_shape(const mupc_net *net, int layer, int *out_dim, int *in_dim) {
  const mupc_net_params *p = &net->p;
  *out_dim = layer == p->depth - 1 ? p->output_dim : p->width;
  *in_dim = layer == 0 ? p->input_dim : p->width;
}

const mupc_net_params *mupc_net_get_params(const mupc_net *net) { return &net->p; }
int mupc_net_enqueues_per_inference_step(const mupc_net *net) { return net->per_step_enqueues; }
uint64_t mupc_net_enqueue_count(const mupc_net *net) { return net->enqueues; }
int64_t mupc_net_optim_step(const mupc_net *net) { return net->t; }
void mupc_net_set_optim_step(mupc_net *net, int64_t t) { net->t = t; }

static int make_kernels(mupc_net *net) {
  static const char *const files[] = {"common.cl", "pc.cl", "optim.cl", "reduce.cl"};
  char opts[64];
  snprintf(opts, sizeof opts, "-DMUPC_ACT=%d", (int)net->p.act);
  cl_program prog;
  int rc = mupc__program_get(net->ctx, files, 4, opts, &prog);
  if (rc) return rc;
  struct {
    cl_kernel *k;
    const char *name;
  } list[] = {{&net->k.ff_first, "ff_first"},       {&net->k.ff_hidden, "ff_hidden"},
              {&net->k.pc_errors, "pc_errors"},     {&net->k.out_error, "out_error"},
              {&net->k.pc_update, "pc_update"},     {&net->k.pc_update_adam, "pc_update_adam"},
              {&net->k.bp_backward, "bp_backward"},
              {&net->k.refresh_act, "refresh_act"}, {&net->k.residual, "residual"},
              {&net->k.rebase, "rebase"},
              {&net->k.adam_update, "adam_update"}, {&net->k.sgd_update, "sgd_update"},
              {&net->k.layer_energy, "layer_energy"}, {&net->k.transpose, "transpose"}};
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
    cl_int err;
    *list[i].k = clCreateKernel(prog, list[i].name, &err);
    if (err != CL_SUCCESS)
      return mupc__fail(err, "clCreateKernel(%s): %s", list[i].name, mupc_strerror(err));
  }
  return MUPC_OK;
}

typedef struct buf_spec {
  cl_mem *buf;
  size_t floats;
} buf_spec;

static size_t hidden_slots(const mupc_net_params *p) { return p->depth > 2 ? p->depth - 2 : 1; }

static void describe_buffers(mupc_net *net, buf_spec *s, size_t *n) {
  const mupc_net_params *p = &net->p;
  const size_t B = p->batch, C = p->output_dim, L = p->depth, bn = net->bn;
  size_t i = 0;
  s[i++] = (buf_spec){&net->w, net->n_params};
  s[i++] = (buf_spec){&net->wt, net->n_params};
  s[i++] = (buf_spec){&net->grad, net->n_params};
  s[i++] = (buf_spec){&net->adam_m, net->n_params};
  s[i++] = (buf_spec){&net->adam_v, net->n_params};
  s[i++] = (buf_spec){&net->x, B * p->input_dim};
  s[i++] = (buf_spec){&net->y, B * C};
  s[i++] = (buf_spec){&net->f1, bn};
  s[i++] = (buf_spec){&net->z, (L - 1) * bn};
  s[i++] = (buf_spec){&net->d, (L - 1) * bn};
  s[i++] = (buf_spec){&net->a, (L - 1) * bn};
  s[i++] = (buf_spec){&net->da, (L - 1) * bn};
  s[i++] = (buf_spec){&net->r, (L - 1) * bn};
  s[i++] = (buf_spec){&net->e, L * bn};
  s[i++] = (buf_spec){&net->bp, (L - 1) * bn};
  s[i++] = (buf_spec){&net->dz, (L - 1) * bn};
  s[i++] = (buf_spec){&net->pred, hidden_slots(p) * bn};
  s[i++] = (buf_spec){&net->predl, B * C};
  s[i++] = (buf_spec){&net->el, B * C};
  s[i++] = (buf_spec){&net->loss, B};
  s[i++] = (buf_spec){&net->energy, 2 * L};
  /* Adam on activities keeps two more activity-sized buffers. */
  const size_t zadam = p->activity_optim == MUPC_AOPTIM_ADAM ? (L - 1) * bn : 1;
  s[i++] = (buf_spec){&net->zm, zadam};
  s[i++] = (buf_spec){&net->zv, zadam};
  *n = i;
}

static int upload_init_weights(mupc_net *net) {
  int rc = MUPC_OK;
  size_t most = 0;
  for (int l = 0; l < net->p.depth; l++) {
    size_t n = mupc_net_tensor_size(net, MUPC_T_WEIGHT, l);
    if (n > most) most = n;
  }
  float *host = malloc(most * sizeof *host);
  if (!host) return mupc__fail(MUPC_ENOMEM, "out of host memory for weight init");
  for (int l = 0; l < net->p.depth && rc == MUPC_OK; l++) {
    mupc_init_weights(&net->p, l, host);
    rc = mupc_net_write(net, MUPC_T_WEIGHT, l, host);
  }
  free(host);
  return rc;
}

/* DESIGN §1's scalings once: every kernel launch and GEMM of a step reads
 * them. */
static int compute_scalings(mupc_net *net) {
  const int L = net->p.depth;
  net->scale = malloc((size_t)L * sizeof *net->scale);
  net->skip = malloc((size_t)L * sizeof *net->skip);
  if (!net->scale || !net->skip) return mupc__fail(MUPC_ENOMEM, "out of host memory");
  for (int l = 0; l < L; l++) {
    net->scale[l] = mupc_layer_scale(&net->p, l);
    net->skip[l] = mupc_layer_skip(&net->p, l);
  }
  return MUPC_OK;
}

int mupc_net_init(mupc_net **out, mupc_ctx *ctx, const mupc_net_params *p) {
  int rc = mupc_net_params_check(p);
  if (rc) return rc;
  mupc_net *net = calloc(1, sizeof *net);
  if (!net) return mupc__fail(MUPC_ENOMEM, "out of host memory");
  net->p = *p;
  net->ctx = ctx;
  const size_t N = p->width, D = p->input_dim, C = p->output_dim, L = p->depth;
  net->bn = (size_t)p->batch * N;
  net->off_hidden = N * D;
  net->off_out = N * D + (L - 2) * N * N;
  net->n_params = net->off_out + C * N;
  net->infer_t = p->depth; /* no feedforward yet: every layer may differ */
  net->wt_stale = 1;
  net->wg = strcmp(ctx->info.type, "cpu") ? 256 : 64;
  while (net->wg > ctx->info.max_work_group_size && net->wg > 1) net->wg /= 2;

  rc = compute_scalings(net);
  buf_spec specs[24];
  size_t nspec;
  describe_buffers(net, specs, &nspec);
  for (size_t i = 0; i < nspec && rc == MUPC_OK; i++)
    rc = mupc__buffer_alloc(ctx, specs[i].floats * sizeof(float), specs[i].buf);
  if (rc == MUPC_OK) rc = make_kernels(net);
  if (rc == MUPC_OK) rc = upload_init_weights(net);
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
  cl_kernel *ks = (cl_kernel *)&net->k;
  for (size_t i = 0; i < sizeof net->k / sizeof(cl_kernel); i++)
    if (ks[i]) clReleaseKernel(ks[i]);
  free(net->scale);
  free(net->skip);
  free(net);
}

/* dst[l][c][r] = src[l][r][c] for count matrices of rows x cols from off. */
static int transpose(mupc_net *net, size_t off, int rows, int cols, int count) {
  cl_kernel k = net->k.transpose;
  const int n = rows * cols * count;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->w), MUPC__MEM(net->wt), MUPC__INT((int)off),
                       MUPC__INT(rows), MUPC__INT(cols), MUPC__INT(n)));
  return mupc__launch(net, k, (size_t)n);
}

int mupc__weights_transposed(mupc_net *net) {
  if (!net->wt_stale) return MUPC_OK;
  const mupc_net_params *p = &net->p;
  const int N = p->width, L = p->depth;
  MUPC__TRY(transpose(net, 0, N, p->input_dim, 1));
  MUPC__TRY(transpose(net, net->off_hidden, N, N, L - 2));
  MUPC__TRY(transpose(net, net->off_out, p->output_dim, N, 1));
  net->wt_stale = 0;
  return MUPC_OK;
}

int mupc__activities_rebase(mupc_net *net) {
  const int count = (net->p.depth - 1) * (int)net->bn;
  cl_kernel k = net->k.rebase;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->z), MUPC__MEM(net->d), MUPC__MEM(net->da),
                       MUPC__MEM(net->a), MUPC__INT(count)));
  return mupc__launch(net, k, (size_t)count);
}

int mupc__activities_written(mupc_net *net, int off, int n) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth, count = (L - 1) * (int)net->bn, ibn = (int)net->bn;
  const size_t B = p->batch, N = p->width, bn = net->bn;
  MUPC__TRY(MUPC__ARGS(net->k.refresh_act, 0, MUPC__MEM(net->z), MUPC__MEM(net->a), MUPC__INT(off),
                       MUPC__INT(n)));
  MUPC__TRY(mupc__launch(net, net->k.refresh_act, (size_t)n));
  /* The written reference is no longer a feedforward state: its own errors
   * r = z − f(z) enter every error from now on. */
  MUPC__TRY(mupc__weights_transposed(net));
  if (L > 2)
    MUPC__TRY(mupc__gemm(net, 0, 0, B, N, N, 1.0f, net->a, 0, N, bn, net->wt, net->off_hidden, N,
                         N * N, 0.0f, net->pred, 0, N, bn, (size_t)(L - 2)));
  cl_kernel k = net->k.residual;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->z), MUPC__MEM(net->pred), MUPC__MEM(net->f1),
                       MUPC__MEM(net->r), MUPC__INT(count), MUPC__INT(ibn),
                       MUPC__FLOAT(net->scale[1]), MUPC__FLOAT(net->skip[1])));
  return mupc__launch(net, k, (size_t)count);
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
    int o, i;
    mupc_net_weight_shape(net, layer, &o, &i);
    *buf = kind == MUPC_T_WEIGHT        ? net->w
           : kind == MUPC_T_WEIGHT_GRAD ? net->grad
           : kind == MUPC_T_ADAM_M      ? net->adam_m
                                        : net->adam_v;
    *off = mupc__weight_offset(net, layer);
    *n = (size_t)o * i;
    return 1;
  }
  case MUPC_T_ACTIVITY:
  case MUPC_T_ACTIVITY_GRAD:
    if (layer < 0 || layer > L - 2) return 0;
    *buf = kind == MUPC_T_ACTIVITY ? net->z : net->dz;
    *off = (size_t)layer * net->bn;
    *n = net->bn;
    return 1;
  case MUPC_T_ERROR:
    if (layer < 0 || layer > L - 1) return 0;
    *buf = layer == L - 1 ? net->el : net->e;
    *off = layer == L - 1 ? 0 : (size_t)layer * net->bn;
    *n = layer == L - 1 ? (size_t)p->batch * p->output_dim : net->bn;
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
