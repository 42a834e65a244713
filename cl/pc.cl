/* Predictive-coding elementwise kernels. Layouts (row-major, one sample a
 * row): z, d, a, da, r, e, bp are (L-1, B, N) with slot l-1 holding hidden
 * layer l. Activities are kept as a reference z (the feedforward values)
 * plus a displacement d, so that the tiny moves inference makes deep in the
 * network are not lost to rounding: z + d is the activity, a = φ(z + d),
 * da = φ(z + d) − φ(z), and r_l = z_l − f_l(z_{l-1}) is the reference's own
 * error (exactly zero after a feedforward init). Then
 *   e_l = r_l + d_l − s·d_{l-1} − a_l·(da_{l-1} W_lᵀ),
 * with pred (L-2, B, N) holding da_{l-1} W_lᵀ (unscaled) in slot l-2.
 * A band is the hidden layers lo … L-1 (1-based); kernels index elements of
 * the band from its first layer, so a narrower band is a smaller launch. */

/* Feedforward of one hidden layer l >= 2: z_l = a·pred + s·z_{l-1}, a_l = φ(z_l). */
#define FF_HIDDEN_BODY                                                         \
  const int i = ELEMENT_ID;                                                    \
  ELEMENT_GUARD(i >= bn)                                                       \
  const float v = scale * pred[poff + i] + skip * z[zoff - bn + i];            \
  z[zoff + i] = v;                                                             \
  a[zoff + i] = phi(v);

#ifndef MUPC_HOST_C /* the host expands the body in its loops instead */
__kernel void ff_hidden(__global float *z, __global float *a, __global const float *pred,
                        const int zoff, const int poff, const int bn, const float scale,
                        const float skip) {
  FF_HIDDEN_BODY
}
#endif

/* Layer 1: z_1 = f_1(x), computed once per batch into f1. */
#define FF_FIRST_BODY                                                          \
  const int i = ELEMENT_ID;                                                    \
  ELEMENT_GUARD(i >= bn)                                                       \
  z[i] = f1[i];                                                                \
  a[i] = phi(f1[i]);

#ifndef MUPC_HOST_C
__kernel void ff_first(__global float *z, __global float *a, __global const float *f1,
                       const int bn) {
  FF_FIRST_BODY
}
#endif

/* Hidden errors over the band starting at layer lo (see the top). */
#define PC_ERRORS_BODY                                                         \
  const int g = ELEMENT_ID;                                                    \
  ELEMENT_GUARD(g >= count)                                                    \
  const int i = (lo - 1) * bn + g;                                             \
  /* f_1 is fixed: layer 1 moves only with d_1. Its loads below read an     \
   * element that is there and drop it, so no load is conditional (a       \
   * vectoriser cannot hoist one that might be out of bounds). */          \
  const int below = i >= bn ? i - bn : i;                                      \
  const float f = scale * ftz(pred[below]) + skip * d[below];                  \
  const float v = r[i] + d[i] - (i >= bn ? f : 0.0f);                          \
  e[i] = ftz(v);

#ifndef MUPC_HOST_C
__kernel void pc_errors(__global const float *r, __global const float *d,
                        __global const float *pred, __global float *e, const int lo,
                        const int count, const int bn, const float scale, const float skip) {
  PC_ERRORS_BODY
}
#endif

/* r = z − f(z) over every hidden layer, from pred = φ(z_{l-1}) W_lᵀ: the
 * reference's own error after the host wrote activities. */
__kernel void residual(__global const float *z, __global const float *pred,
                       __global const float *f1, __global float *r, const int count,
                       const int bn, const float scale, const float skip) {
  const int i = get_global_id(0);
  if (i >= count) return;
  const float p = i < bn ? f1[i] : scale * pred[i - bn] + skip * z[i - bn];
  r[i] = z[i] - p;
}

/* Folds the displacement into the reference: z += d, d = da = 0, a = φ(z). */
__kernel void rebase(__global float *z, __global float *d, __global float *da,
                     __global float *a, const int count) {
  const int i = get_global_id(0);
  if (i >= count) return;
  const float v = z[i] + d[i];
  z[i] = v;
  d[i] = 0.0f;
  da[i] = 0.0f;
  a[i] = phi(v);
}

/* Output error and per-sample loss, one work-item per sample. logits =
 * scale · predL. MSE: e = y − logits, loss = ½‖e‖². CE: e = y − softmax,
 * loss = −Σ y log softmax. out, when write_out, receives the prediction. */
__kernel void out_error(__global const float *predl, __global const float *y,
                        __global float *el, __global float *loss, const int batch,
                        const int classes, const float scale, const int ce) {
  const int b = get_global_id(0);
  if (b >= batch) return;
  const int o = b * classes;
  float acc = 0.0f;
  if (!ce) {
    for (int k = 0; k < classes; k++) {
      const float d = y[o + k] - scale * predl[o + k];
      el[o + k] = d;
      acc += 0.5f * d * d;
    }
  } else {
    float mx = -INFINITY;
    for (int k = 0; k < classes; k++) mx = fmax(mx, scale * predl[o + k]);
    float sum = 0.0f;
    for (int k = 0; k < classes; k++) sum += exp(scale * predl[o + k] - mx);
    const float lse = mx + log(sum);
    for (int k = 0; k < classes; k++) {
      const float logp = scale * predl[o + k] - lse;
      el[o + k] = y[o + k] - exp(logp);
      acc -= y[o + k] * logp;
    }
  }
  loss[b] = acc;
}

/* The activity gradient of the band, the update of d, and φ of the new
 * activity in one pass:
 *   dz_l = (1/B)[e_l − φ'(z_l) ⊙ (a_{l+1} bp_l) − s_{l+1} e_{l+1}]
 * where bp_l = E_{l+1} W_{l+1} (unscaled) and e_{l+1} is hidden for l < L-1
 * (the top layer takes the readout's scale and no skip). ADAM runs Adam with
 * bias corrections c1 = 1/(1−β1^t), c2 = 1/(1−β2^t); it is a constant in
 * each of the two kernels below, because a run-time flag let PoCL compute
 * Adam's lanes under a mask for gradient descent too, where grad² of the
 * tiny gradients deep in the band is denormal (see ftz). */
#define PC_UPDATE_BODY(ADAM)                                                   \
  const int g = ELEMENT_ID;                                                    \
  ELEMENT_GUARD(g >= count)                                                    \
  const int i = (lo - 1) * bn + g;                                             \
  const float z0 = z[i], di = d[i];                                            \
  const float zi = z0 + di;                                                    \
  /* bp is a GEMM's output; the rest was flushed when it was written. */       \
  const float bpi = ftz(bp[i]);                                                \
  /* Below the top a hidden layer is above, with its scale and skip; the   \
   * top has the readout above, and no skip. e has one zero layer past the  \
   * top (net.h), so the load is never conditional: a vectoriser cannot     \
   * hoist a load that might be out of bounds. */                            \
  const int hidden_above = i < top;                                            \
  const float up = e[i + bn];                                                  \
  const float above = (hidden_above ? scale_h : scale_top) * bpi;              \
  float grad = e[i] - dphi(zi) * above - (hidden_above ? skip_h * up : 0.0f);  \
  grad = ftz(grad * inv_b);                                                    \
  if (store_dz) dz[i] = grad;                                                  \
  float step = grad;                                                           \
  if (ADAM) {                                                                  \
    /* grad² is below 2^-126 when |grad| < 2^-63: take it as 0 up front. */    \
    const float gs = (as_uint(grad) & 0x7f800000u) >= (64u << 23) ? grad : 0.0f; \
    const float mi = ftz(b1 * m[i] + (1.0f - b1) * grad);                     \
    const float vi = ftz(b2 * v[i] + (1.0f - b2) * gs * gs);                  \
    m[i] = mi;                                                                 \
    v[i] = vi;                                                                 \
    step = (mi * c1) / (sqrt(vi * c2) + eps);                                  \
  }                                                                            \
  const float dn = ftz(di - lr * step);                                        \
  d[i] = dn;                                                                   \
  a[i] = phi(z0 + dn);                                                         \
  da[i] = ftz(phi_delta(z0, dn));

#define PC_UPDATE_ARGS                                                         \
  __global const float *z, __global float *d, __global float *a, __global float *da,   \
      __global const float *e, __global const float *bp, __global float *dz,           \
      __global float *m, __global float *v, const int lo, const int count,             \
      const int bn, const int top, const float scale_h, const float skip_h,            \
      const float scale_top, const float inv_b, const float lr, const int store_dz,    \
      const float b1, const float b2, const float eps, const float c1, const float c2

#ifndef MUPC_HOST_C
/* Gradient descent (lr = 0: only the gradient, into dz with store_dz). */
__kernel void pc_update(PC_UPDATE_ARGS) { PC_UPDATE_BODY(0) }
/* Adam on the activities. */
__kernel void pc_update_adam(PC_UPDATE_ARGS) { PC_UPDATE_BODY(1) }
#endif

/* Backprop: δ-scaled errors from the layer above, the same form as the PC
 * equilibrium: e_l = φ'(z_l) ⊙ (a_{l+1} bp_l) + s_{l+1} e_{l+1}. One layer. */
__kernel void bp_backward(__global const float *z, __global float *e, __global const float *bp,
                          const int off, const int bn, const float scale, const float skip,
                          const int has_skip) {
  const int g = get_global_id(0);
  if (g >= bn) return;
  const int i = off + g;
  float v = dphi(z[i]) * (scale * bp[i]);
  if (has_skip) v += skip * e[i + bn];
  e[i] = v;
}

/* a = φ(z) over [off, off + n), after the host wrote activities. */
__kernel void refresh_act(__global const float *z, __global float *a, const int off,
                          const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  a[off + i] = phi(z[off + i]);
}
