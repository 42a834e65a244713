/* The layer plan (plan.h, DESIGN §15): the layers' kinds, shapes, scalings
 * and places in the buffers, and the GEMM passes made from them. */
#include "net.h"

#include <math.h>
#include <stdlib.h>

/* DESIGN §1. Hidden layers get 1/√(N·L) with skips (Depth-μP's branch
 * scaling) and 1/√N without; the readout 1/N under μPC (μP's readout) and
 * 1/√N under NTP; SP leaves the weights unscaled. */
float mupc_layer_scale(const mupc_net_params *p, int layer) {
  const int L = p->depth;
  if (p->param == MUPC_PARAM_SP) return 1.0f;
  if (layer == 0) return (float)(1.0 / sqrt((double)p->input_dim));
  if (layer == L - 1)
    return p->param == MUPC_PARAM_MUPC ? (float)(1.0 / p->width)
                                       : (float)(1.0 / sqrt((double)p->width));
  return p->skips ? (float)(1.0 / sqrt((double)p->width * L))
                  : (float)(1.0 / sqrt((double)p->width));
}

float mupc_layer_skip(const mupc_net_params *p, int layer) {
  return (p->skips && layer >= 1 && layer <= p->depth - 2) ? 1.0f : 0.0f;
}

mupc__layer mupc__plan_layer(const mupc_net_params *p, int j) {
  const int L = p->depth;
  mupc__layer l = {.kind = j == 0 ? MUPC__LAYER_INPUT
                           : j == L - 1 ? MUPC__LAYER_READOUT
                                        : MUPC__LAYER_HIDDEN,
                   .out = j == L - 1 ? p->output_dim : p->width,
                   .in = j == 0 ? p->input_dim : p->width,
                   .scale = mupc_layer_scale(p, j),
                   .skip = mupc_layer_skip(p, j)};
  l.fan_in = l.in;
  l.w_size = (size_t)l.out * (size_t)l.in;
  return l;
}

/* The shape and fan-in are the plan's; the numbers rng.c's. */
void mupc_init_weights(const mupc_net_params *p, int layer, float *w) {
  const mupc__layer l = mupc__plan_layer(p, layer);
  mupc__init_weights(p, layer, l.w_size, l.fan_in, w);
}

/* j joins the run of j-1 when one strided GEMM can take both: hidden
 * layers of one shape (the input layer reads x and the readout writes its
 * own buffers, so each is a run of its own). */
static int joins_run(const mupc__layer *prev, const mupc__layer *l) {
  return prev->kind == MUPC__LAYER_HIDDEN && l->kind == MUPC__LAYER_HIDDEN &&
         prev->out == l->out && prev->in == l->in;
}

int mupc__plan_make(const mupc_net_params *p, mupc__plan *plan) {
  const int L = p->depth;
  *plan = (mupc__plan){.L = L};
  plan->layer = malloc((size_t)L * sizeof *plan->layer);
  plan->run = malloc((size_t)L * sizeof *plan->run);
  if (!plan->layer || !plan->run) {
    mupc__plan_free(plan);
    return mupc__fail(MUPC_ENOMEM, "out of host memory for the layer plan");
  }
  for (int j = 0; j < L; j++) {
    mupc__layer *l = &plan->layer[j];
    *l = mupc__plan_layer(p, j);
    l->w_off = plan->n_params;
    plan->n_params += l->w_size;
    l->out_off = plan->act_floats;
    if (l->kind != MUPC__LAYER_READOUT) plan->act_floats += (size_t)p->batch * l->out;
    if (j > 0 && joins_run(&plan->layer[j - 1], l))
      plan->run[plan->nrun - 1].j1 = j + 1;
    else
      plan->run[plan->nrun++] = (mupc__run){j, j + 1};
  }
  plan->slot = (size_t)p->batch * plan->layer[0].out;
  return MUPC_OK;
}

void mupc__plan_free(mupc__plan *plan) {
  free(plan->layer);
  free(plan->run);
  plan->layer = NULL;
  plan->run = NULL;
}

/* ---- GEMM passes ---- */

typedef struct operand {
  cl_mem mem;
  size_t off;
} operand;

/* Layer j's input: x, or the previous layer's output (a or da). */
static operand input(const mupc_net *net, int j, int delta) {
  if (j == 0) return (operand){net->x, 0};
  return (operand){delta ? net->da : net->a, net->plan.layer[j - 1].out_off};
}

/* Layer j's error: e at its output, or the readout's el. */
static operand error(const mupc_net *net, int j) {
  if (j == net->plan.L - 1) return (operand){net->el, 0};
  return (operand){net->e, net->plan.layer[j].out_off};
}

/* Where layer j's prediction goes: f1 (fixed during inference, so made
 * once, scaled), predl, or pred beside its input. */
static operand prediction(const mupc_net *net, int j) {
  if (j == 0) return (operand){net->f1, 0};
  if (j == net->plan.L - 1) return (operand){net->predl, 0};
  return (operand){net->pred, net->plan.layer[j - 1].out_off};
}

void mupc__pass_gemm(const mupc_net *net, mupc__pass pass, int j0, int j1, mupc__gemm_args *g) {
  const mupc__layer *l = &net->plan.layer[j0];
  const size_t B = (size_t)net->p.batch, out = (size_t)l->out, in = (size_t)l->in;
  const int strided = l->kind == MUPC__LAYER_HIDDEN;
  const size_t s_in = strided ? B * in : 0, s_out = strided ? B * out : 0,
               s_w = strided ? l->w_size : 0;
  *g = (mupc__gemm_args){.alpha = 1.0f, .beta = 0.0f, .batch = (size_t)(j1 - j0)};
  operand a, c;
  switch (pass) {
  case MUPC__PASS_PREDICT:
  case MUPC__PASS_PREDICT_DELTA:
    a = input(net, j0, pass == MUPC__PASS_PREDICT_DELTA);
    c = prediction(net, j0);
    *g = (mupc__gemm_args){.m = B, .n = out, .k = in, .a = a.mem, .a_off = a.off, .lda = in,
                           .a_stride = s_in, .b = net->wt, .b_off = l->w_off, .ldb = out,
                           .b_stride = s_w, .c = c.mem, .c_off = c.off, .ldc = out,
                           .c_stride = s_out, .alpha = j0 == 0 ? l->scale : 1.0f,
                           .batch = g->batch};
    return;
  case MUPC__PASS_BACK:
    a = error(net, j0);
    *g = (mupc__gemm_args){.m = B, .n = in, .k = out, .a = a.mem, .a_off = a.off, .lda = out,
                           .a_stride = s_out, .b = net->w, .b_off = l->w_off, .ldb = in,
                           .b_stride = s_w, .c = net->bp,
                           .c_off = net->plan.layer[j0 - 1].out_off, .ldc = in,
                           .c_stride = s_in, .alpha = 1.0f, .batch = g->batch};
    return;
  case MUPC__PASS_WGRAD:
    a = error(net, j0);
    c = input(net, j0, 0);
    *g = (mupc__gemm_args){.trans_a = 1, .m = out, .n = in, .k = B, .a = a.mem, .a_off = a.off,
                           .lda = out, .a_stride = s_out, .b = c.mem, .b_off = c.off, .ldb = in,
                           .b_stride = s_in, .c = net->grad, .c_off = l->w_off, .ldc = in,
                           .c_stride = s_w, .alpha = -l->scale * mupc__grad_norm(&net->p),
                           .batch = g->batch};
    return;
  }
}

uint64_t mupc__pass_flops(const mupc_net *net, int j0, int j1) {
  uint64_t f = 0;
  for (int j = j0; j < j1; j++)
    f += 2 * (uint64_t)net->p.batch * (uint64_t)net->plan.layer[j].w_size;
  return f;
}
