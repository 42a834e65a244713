/* The library's own GEMM (the `kernels` provider, src/gemm.c): row-major
 *   C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b],  b < batch,
 * with float offsets, leading dimensions and batch strides, in one launch
 * of (⌈N/T⌉·T, ⌈M/T⌉·T, batch) items in T×T work-groups (T = GEMM_TILE,
 * a build option). Each group stages a T×T tile of A and of B in local
 * memory per step of K; each item sums one element of C in K order, so a
 * product rounds the same whatever the tile. beta = 0 never reads C.
 *
 * With the network's program (MUPC_FUSED: built with common.cl and pc.cl)
 * products also run the elementwise pass that follows them in the step, on
 * the element they just wrote (src/step.c): the feedforward's products
 * with ff_first's and ff_hidden's bodies, the inference's prediction with
 * the errors (pc_errors' body) and its back-projection with the activity
 * update (pc_update's). The epilogue reads back the element
 * its own item stored, so no barrier is needed, and it computes exactly
 * what the separate kernel would. The GEMM's parameters carry a g_ prefix:
 * the elementwise bodies use plain names (m, a, d, …). */
#ifndef GEMM_TILE
#define GEMM_TILE 16
#endif

#define GEMM_PARAMS                                                                              \
  const int g_m, const int g_n, const int g_k, const float g_alpha, __global const float *g_a,   \
      const int g_a_off, const int g_lda, const int g_a_stride, const int g_trans_a,             \
      __global const float *g_b, const int g_b_off, const int g_ldb, const int g_b_stride,       \
      const int g_trans_b, const float g_beta, __global float *g_c, const int g_c_off,           \
      const int g_ldc, const int g_c_stride

/* acc = op(A)(row, ·) · op(B)(·, col) of batch bat, and q, C's element. */
#define GEMM_PRODUCT                                                                             \
  __local float ta[GEMM_TILE][GEMM_TILE];                                                        \
  __local float tb[GEMM_TILE][GEMM_TILE + 1]; /* +1: no bank conflicts on the column read */    \
  const int tx = get_local_id(0), ty = get_local_id(1);                                          \
  const int col = get_group_id(0) * GEMM_TILE + tx; /* j, over n */                              \
  const int row = get_group_id(1) * GEMM_TILE + ty; /* i, over m */                              \
  const int bat = get_global_id(2);                                                              \
  __global const float *pa = g_a + g_a_off + bat * g_a_stride;                                   \
  __global const float *pb = g_b + g_b_off + bat * g_b_stride;                                   \
  const int q = g_c_off + bat * g_c_stride + row * g_ldc + col;                                  \
  float acc = 0.0f;                                                                              \
  for (int k0 = 0; k0 < g_k; k0 += GEMM_TILE) {                                                  \
    /* A(row, k0 + tx) and B(k0 + ty, col), zero past the edges. */                              \
    const int ka = k0 + tx, kb = k0 + ty;                                                        \
    ta[ty][tx] = (row < g_m && ka < g_k)                                                         \
                     ? (g_trans_a ? pa[ka * g_lda + row] : pa[row * g_lda + ka])                 \
                     : 0.0f;                                                                     \
    tb[ty][tx] = (kb < g_k && col < g_n)                                                         \
                     ? (g_trans_b ? pb[col * g_ldb + kb] : pb[kb * g_ldb + col])                 \
                     : 0.0f;                                                                     \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                \
    const int steps = g_k - k0 < GEMM_TILE ? g_k - k0 : GEMM_TILE;                               \
    for (int t = 0; t < steps; t++) acc = fma(ta[ty][t], tb[t][tx], acc);                        \
    barrier(CLK_LOCAL_MEM_FENCE);                                                                \
  }                                                                                              \
  if (row >= g_m || col >= g_n) return;                                                          \
  g_c[q] = g_beta == 0.0f ? g_alpha * acc : g_alpha * acc + g_beta * g_c[q];

__kernel __attribute__((reqd_work_group_size(GEMM_TILE, GEMM_TILE, 1))) void sgemm(GEMM_PARAMS) {
  GEMM_PRODUCT
}

#ifdef MUPC_FUSED
/* The prediction of hidden layers from their inputs' displacements, then
 * pc_errors on the layer each element predicts: the element one slot
 * above q (e has the activities' layout, pred is one slot behind). */
__kernel __attribute__((reqd_work_group_size(GEMM_TILE, GEMM_TILE, 1))) void sgemm_errors(
    GEMM_PARAMS, __global const float *r, __global const float *d, __global const float *pred,
    __global float *e, const int lo, const int count, const int bn, const float scale,
    const float skip) {
  GEMM_PRODUCT
#undef ELEMENT_ID
#define ELEMENT_ID (q + bn - (lo - 1) * bn)
  PC_ERRORS_BODY
#undef ELEMENT_ID
#define ELEMENT_ID get_global_id(0)
}

/* The feedforward: layer 1's product f_1 = a_1 · x W_1ᵀ, then ff_first on
 * its element; a hidden layer's prediction, then ff_hidden on its element
 * (the layer's slot zoff, its prediction's poff). */
__kernel __attribute__((reqd_work_group_size(GEMM_TILE, GEMM_TILE, 1))) void sgemm_ff_first(
    GEMM_PARAMS, __global float *z, __global float *a, __global const float *f1, const int bn) {
  GEMM_PRODUCT
#undef ELEMENT_ID
#define ELEMENT_ID q
  FF_FIRST_BODY
#undef ELEMENT_ID
#define ELEMENT_ID get_global_id(0)
}

__kernel __attribute__((reqd_work_group_size(GEMM_TILE, GEMM_TILE, 1))) void sgemm_ff(
    GEMM_PARAMS, __global float *z, __global float *a, __global const float *pred, const int zoff,
    const int poff, const int bn, const float scale, const float skip) {
  GEMM_PRODUCT
#undef ELEMENT_ID
#define ELEMENT_ID (q - poff)
  FF_HIDDEN_BODY
#undef ELEMENT_ID
#define ELEMENT_ID get_global_id(0)
}

/* The back-projection bp of the band's layers, then their activity update
 * (gradient descent, or Adam on the activities) on the element q of bp. */
#define SGEMM_UPDATE(name, ADAM)                                                                 \
  __kernel __attribute__((reqd_work_group_size(GEMM_TILE, GEMM_TILE, 1))) void name(            \
      GEMM_PARAMS, PC_UPDATE_ARGS) {                                                             \
    GEMM_PRODUCT                                                                                 \
    UPDATE_AT_Q(ADAM)                                                                            \
  }
#undef ELEMENT_ID
#define ELEMENT_ID (q - (lo - 1) * bn)
#define UPDATE_AT_Q(ADAM) PC_UPDATE_BODY(ADAM)
SGEMM_UPDATE(sgemm_update, 0)
SGEMM_UPDATE(sgemm_update_adam, 1)
#undef UPDATE_AT_Q
#undef ELEMENT_ID
#define ELEMENT_ID get_global_id(0)
#endif
