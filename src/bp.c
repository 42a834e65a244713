/* The backprop baseline on the same network. With E_l = −B·∂loss/∂z_l the
 * backward pass is the PC equilibrium condition,
 *   E_l = φ'(z_l) ⊙ (a_{l+1} E_{l+1} W_{l+1}) + s_{l+1} E_{l+1},
 * and the weight gradients are exactly the PC formulas, so BP shares the
 * error buffers, the weight-gradient GEMMs (wgrad.c) and the optimiser. */
#include "net.h"

int mupc__bp_backward(mupc_net *net) {
  const mupc__plan *pl = &net->plan;
  const int L = pl->L, bn = (int)pl->slot;
  mupc__kernel *k = &net->k.bp_backward;
  MUPC__TRY(MUPC__ARGS(k, 0, MUPC__MEM(net->z), MUPC__MEM(net->e), MUPC__MEM(net->bp)));
  MUPC__TRY(MUPC__ARGS(k, 4, MUPC__INT(bn)));
  for (int l = L - 1; l >= 1; l--) { /* hidden layer l (1-based), from weight l above it */
    /* The backward pass is sequential: one plain product per layer. */
    mupc__gemm_args g;
    mupc__pass_gemm(net, MUPC__PASS_BACK, l, l + 1, &g);
    g.a_stride = g.b_stride = g.c_stride = 0;
    MUPC__TRY(mupc__gemm_run(net->ctx, &net->count, net->ctx->gemm, &g));
    MUPC__TRY(MUPC__ARGS(k, 3, MUPC__INT((int)pl->layer[l - 1].out_off)));
    MUPC__TRY(MUPC__ARGS(k, 5, MUPC__FLOAT(pl->layer[l].scale), MUPC__FLOAT(pl->layer[l].skip),
                         MUPC__INT(l < L - 1)));
    MUPC__TRY(mupc__launch(net->ctx, &net->count, k->k, (size_t)bn));
  }
  return mupc__weight_grads_from_errors(net, 1);
}
