/* Energy per layer: one work-group per layer. Groups 0 … L-2 sum ½e² of a
 * hidden layer's (B, N) errors; group L-1 sums the per-sample output loss.
 * Each is divided by B and written to out[out_off + layer]. Work-group size is
 * MUPC_WG (a power of two). */
__kernel __attribute__((reqd_work_group_size(MUPC_WG, 1, 1))) void layer_energy(
    __global const float *e, __global const float *loss, __global float *out, const int layers,
    const int bn, const int batch, const float inv_b, const int out_off) {
  __local float part[MUPC_WG];
  const int layer = get_group_id(0);
  const int lid = get_local_id(0);
  float acc = 0.0f;
  if (layer < layers - 1) {
    __global const float *x = e + layer * bn;
    for (int i = lid; i < bn; i += MUPC_WG) acc += 0.5f * x[i] * x[i];
  } else {
    for (int i = lid; i < batch; i += MUPC_WG) acc += loss[i];
  }
  part[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = MUPC_WG / 2; s > 0; s >>= 1) {
    if (lid < s) part[lid] += part[lid + s];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) out[out_off + layer] = part[0] * inv_b;
}
