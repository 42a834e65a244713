/* The weight optimisers, one kernel over the flat parameter buffer: Adam
 * with bias correction, and SGD; weight decay is added to the gradient
 * (cl/optim.cl). With the host provider the same bodies run on the host,
 * with the transposed weights made in the same call (hostinfer.c). */
#include "net.h"

#include <math.h>

int mupc_net_update(mupc_net *net) {
  const mupc_net_params *p = &net->p;
  const int n = (int)net->plan.n_params;
  net->t++;
  net->wt_stale = 1;
  const float b1 = p->adam_beta1, b2 = p->adam_beta2;
  const float c1 = (float)(1.0 / (1.0 - pow(b1, (double)net->t)));
  const float c2 = (float)(1.0 / (1.0 - pow(b2, (double)net->t)));
  const int on_host = mupc__host_update(net, c1, c2);
  if (on_host) return on_host < 0 ? on_host : MUPC_OK;
  if (p->optim == MUPC_OPTIM_SGD) {
    mupc__kernel *k = &net->k.sgd_update;
    MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->w), MUPC__MEM(net->grad), MUPC__INT(n),
                         MUPC__FLOAT(p->lr), MUPC__FLOAT(p->weight_decay)));
    return mupc__launch(net->ctx, &net->count, k->k, (size_t)n);
  }
  mupc__kernel *k = &net->k.adam_update;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->w), MUPC__MEM(net->grad), MUPC__MEM(net->adam_m),
                       MUPC__MEM(net->adam_v), MUPC__INT(n), MUPC__FLOAT(p->lr), MUPC__FLOAT(b1),
                       MUPC__FLOAT(b2), MUPC__FLOAT(p->adam_eps), MUPC__FLOAT(p->weight_decay),
                       MUPC__FLOAT(c1), MUPC__FLOAT(c2)));
  return mupc__launch(net->ctx, &net->count, k->k, (size_t)n);
}
