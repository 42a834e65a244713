/* Weight gradients from the errors, the GEMMs PC's learning phase and the
 * backprop baseline share (bp.c says why they are the same formulas):
 *   ∂F/∂W_l = −a_l/B · E_lᵀ φ(z_{l-1})   (x for the first layer; a_l the
 * layer's scale, DESIGN §1). */
#include "net.h"

int mupc__weight_grads_from_errors(mupc_net *net, int lo) {
  const mupc_net_params *p = &net->p;
  const int L = p->depth;
  const size_t B = p->batch, N = p->width, D = p->input_dim, C = p->output_dim, bn = net->bn;
  const float inv_b = mupc__grad_norm(p);
  /* Layers below the band have zero error, hence zero gradient. */
  if (lo > 1)
    MUPC__TRY(
        mupc__fill_zero(net, net->grad, 0, mupc__weight_offset(net, lo < L ? lo - 1 : L - 1)));
  if (lo <= 1)
    MUPC__TRY(mupc__gemm(net, 1, 0, N, D, B, -net->scale[0] * inv_b, net->e, 0, N, 0, net->x, 0, D,
                         0, 0.0f, net->grad, 0, D, 0, 1));
  const int h0 = lo > 2 ? lo : 2;
  if (h0 <= L - 1) {
    const size_t s = (size_t)(h0 - 2);
    MUPC__TRY(mupc__gemm(net, 1, 0, N, N, B, -net->scale[1] * inv_b, net->e, (s + 1) * bn, N, bn,
                         net->a, s * bn, N, bn, 0.0f, net->grad, net->off_hidden + s * N * N, N,
                         N * N, (size_t)(L - h0)));
  }
  return mupc__gemm(net, 1, 0, C, N, B, -net->scale[L - 1] * inv_b, net->el, 0, C, 0, net->a,
                    (size_t)(L - 2) * bn, N, 0, 0.0f, net->grad, net->off_out, N, 0, 1);
}
