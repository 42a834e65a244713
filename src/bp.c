/* The backprop baseline on the same network. With E_l = −B·∂loss/∂z_l the
 * backward pass is the PC equilibrium condition,
 *   E_l = φ'(z_l) ⊙ (a_{l+1} E_{l+1} W_{l+1}) + s_{l+1} E_{l+1},
 * and the weight gradients are exactly the PC formulas, so BP shares the
 * error buffers, the weight-gradient GEMMs (wgrad.c) and the optimiser. */
#include "net.h"

int mupc__bp_backward(mupc_net *net) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth;
  const size_t B = p->batch, N = p->width, C = p->output_dim, bn = net->bn;
  cl_kernel k = net->k.bp_backward;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->z), MUPC__MEM(net->e), MUPC__MEM(net->bp)));
  MUPC__TRY(MUPC__ARGS(k, 4, MUPC__INT((int)bn)));
  for (int l = L - 1; l >= 1; l--) { /* hidden layer l, 1-based */
    const size_t slot = (size_t)(l - 1);
    if (l == L - 1)
      MUPC__TRY(mupc__gemm(net, 0, 0, B, N, C, 1.0f, net->el, 0, C, 0, net->w, net->off_out, N, 0,
                           0.0f, net->bp, slot * bn, N, 0, 1));
    else
      MUPC__TRY(mupc__gemm(net, 0, 0, B, N, N, 1.0f, net->e, (slot + 1) * bn, N, 0, net->w,
                           net->off_hidden + slot * N * N, N, 0, 0.0f, net->bp, slot * bn, N, 0,
                           1));
    MUPC__TRY(MUPC__ARGS(k, 3, MUPC__INT((int)(slot * bn))));
    MUPC__TRY(MUPC__ARGS(k, 5, MUPC__FLOAT(net->scale[l]), MUPC__FLOAT(net->skip[l]),
                         MUPC__INT(l < L - 1)));
    MUPC__TRY(mupc__launch(net, k, bn));
  }
  return mupc__weight_grads_from_errors(net, 1);
}
