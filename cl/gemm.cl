/* The library's own GEMM (the `kernels` provider, src/gemm.c): row-major
 *   C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b],  b < batch,
 * with float offsets, leading dimensions and batch strides, in one launch
 * of (⌈N/T⌉·T, ⌈M/T⌉·T, batch) items in T×T work-groups (T = GEMM_TILE,
 * a build option). Each group stages a T×T tile of A and of B in local
 * memory per step of K; each item sums one element of C in K order, so a
 * product rounds the same whatever the tile. beta = 0 never reads C. */
#ifndef GEMM_TILE
#define GEMM_TILE 16
#endif

__kernel __attribute__((reqd_work_group_size(GEMM_TILE, GEMM_TILE, 1))) void sgemm(
    const int m, const int n, const int k, const float alpha, __global const float *a,
    const int a_off, const int lda, const int a_stride, const int trans_a,
    __global const float *b, const int b_off, const int ldb, const int b_stride,
    const int trans_b, const float beta, __global float *c, const int c_off, const int ldc,
    const int c_stride) {
  __local float ta[GEMM_TILE][GEMM_TILE];
  __local float tb[GEMM_TILE][GEMM_TILE + 1]; /* +1: no bank conflicts on the column read */
  const int tx = get_local_id(0), ty = get_local_id(1);
  const int col = get_group_id(0) * GEMM_TILE + tx; /* j, over n */
  const int row = get_group_id(1) * GEMM_TILE + ty; /* i, over m */
  const int bat = get_global_id(2);
  a += a_off + bat * a_stride;
  b += b_off + bat * b_stride;
  c += c_off + bat * c_stride;
  float acc = 0.0f;
  for (int k0 = 0; k0 < k; k0 += GEMM_TILE) {
    /* A(row, k0 + tx) and B(k0 + ty, col), zero past the edges. */
    const int ka = k0 + tx, kb = k0 + ty;
    ta[ty][tx] = (row < m && ka < k) ? (trans_a ? a[ka * lda + row] : a[row * lda + ka]) : 0.0f;
    tb[ty][tx] = (kb < k && col < n) ? (trans_b ? b[col * ldb + kb] : b[kb * ldb + col]) : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    const int steps = k - k0 < GEMM_TILE ? k - k0 : GEMM_TILE;
    for (int t = 0; t < steps; t++) acc = fma(ta[ty][t], tb[t][tx], acc);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (row < m && col < n) {
    __global float *out = c + row * ldc + col;
    *out = beta == 0.0f ? alpha * acc : alpha * acc + beta * *out;
  }
}
