/* Weight gradients from the errors, the GEMMs PC's learning phase and the
 * backprop baseline share (bp.c says why they are the same formulas):
 *   ∂F/∂W_l = −a_l/B · E_lᵀ φ(z_{l-1})   (x for the first layer; a_l the
 * layer's scale, DESIGN §1). */
#include "net.h"

int mupc__weight_grads_from_errors(mupc_net *net, int lo) {
  const mupc__plan *pl = &net->plan;
  const int L = pl->L;
  /* Layers below the band have zero error, hence zero gradient: weights
   * 0 … lo-2 (0-based) are zeroed, the rest computed. */
  if (lo > 1) {
    const int j = lo < L ? lo - 1 : L - 1;
    MUPC__TRY(mupc__fill_zero(net->ctx, &net->count, net->grad, 0, pl->layer[j].w_off));
  }
  if (lo <= 1) MUPC__TRY(mupc__run_pass(net, MUPC__PASS_WGRAD, 0, 1));
  const int h0 = lo > 2 ? lo : 2;
  if (h0 <= L - 1) MUPC__TRY(mupc__run_pass(net, MUPC__PASS_WGRAD, h0 - 1, L - 1));
  return mupc__run_pass(net, MUPC__PASS_WGRAD, L - 1, L);
}
