/* The backprop baseline on the same network. With E_l = −B·∂loss/∂z_l the
 * backward pass is the PC equilibrium condition,
 *   E_l = φ'(z_l) ⊙ (a_{l+1} E_{l+1} W_{l+1}) + s_{l+1} E_{l+1},
 * and the weight gradients are exactly the PC formulas, so BP shares the
 * error buffers, the weight-gradient GEMMs and the optimiser. */
#include "net.h"

int mupc__bp_backward(mupc_net *net) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth;
  const size_t B = p->batch, N = p->width, C = p->output_dim, bn = net->bn;
  cl_kernel k = net->k.bp_backward;
  const int ibn = (int)bn;
  MUPC__SET_ARG(k, 0, net->z);
  MUPC__SET_ARG(k, 1, net->e);
  MUPC__SET_ARG(k, 2, net->bp);
  MUPC__SET_ARG(k, 4, ibn);
  for (int l = L - 1; l >= 1; l--) { /* hidden layer l, 1-based */
    const size_t slot = (size_t)(l - 1);
    int rc;
    if (l == L - 1)
      rc = mupc__gemm(net, 0, 0, B, N, C, 1.0f, net->el, 0, C, 0, net->w, net->off_out, N, 0,
                      0.0f, net->bp, slot * bn, N, 0, 1);
    else
      rc = mupc__gemm(net, 0, 0, B, N, N, 1.0f, net->e, (slot + 1) * bn, N, 0, net->w,
                      net->off_hidden + slot * N * N, N, 0, 0.0f, net->bp, slot * bn, N, 0, 1);
    if (rc) return rc;
    const int off = (int)(slot * bn), has_skip = l < L - 1;
    const float scale = mupc_layer_scale(p, l), skip = mupc_layer_skip(p, l);
    MUPC__SET_ARG(k, 3, off);
    MUPC__SET_ARG(k, 5, scale);
    MUPC__SET_ARG(k, 6, skip);
    MUPC__SET_ARG(k, 7, has_skip);
    rc = mupc__launch(net, k, bn);
    if (rc) return rc;
  }
  return mupc__weight_grads_from_errors(net, 1);
}
