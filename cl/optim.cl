/* Weight optimisers over the flat parameter buffer: every layer at once.
 * Weight decay adds wd·w to the gradient before the optimiser sees it. */
#define ADAM_BODY                                                              \
  const int i = ELEMENT_ID;                                                    \
  ELEMENT_GUARD(i >= n)                                                        \
  const float gi = g[i] + wd * w[i];                                           \
  const float mi = b1 * m[i] + (1.0f - b1) * gi;                               \
  const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;                          \
  m[i] = mi;                                                                   \
  v[i] = vi;                                                                   \
  w[i] -= lr * (mi * c1) / (sqrt(vi * c2) + eps);

#define SGD_BODY                                                               \
  const int i = ELEMENT_ID;                                                    \
  ELEMENT_GUARD(i >= n)                                                        \
  w[i] -= lr * (g[i] + wd * w[i]);

#ifndef MUPC_HOST_C /* the host expands the bodies in its loops instead */
__kernel void adam_update(__global float *w, __global const float *g, __global float *m,
                          __global float *v, const int n, const float lr, const float b1,
                          const float b2, const float eps, const float wd, const float c1,
                          const float c2) {
  ADAM_BODY
}

__kernel void sgd_update(__global float *w, __global const float *g, const int n,
                         const float lr, const float wd) {
  SGD_BODY
}
#endif

/* dst = srcᵀ for n / (rows·cols) matrices of rows x cols starting at off
 * in both: the transposed weights the forward products read (net.h). */
__kernel void transpose(__global const float *src, __global float *dst, const int off,
                        const int rows, const int cols, const int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const int per = rows * cols, l = i / per, rc = i - l * per, r = rc / cols, c = rc - r * cols;
  dst[off + l * per + c * rows + r] = src[off + i];
}
