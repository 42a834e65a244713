/* The training step of a data-parallel run: every rank runs its shard of
 * the global batch through the library's step in its parts, and the weight
 * gradients are summed over the ranks before the same update everywhere. */
#ifndef MUPC_CLI_DSTEP_H
#define MUPC_CLI_DSTEP_H

#include "mupc.h"

/* The parameters one rank's net is built with, from the run's (global)
 * ones and the number of ranks (which divides p->batch): the local batch,
 * with gradients normalised by the global one (see dstep.c for why). */
mupc_net_params dstep_local_params(const mupc_net_params *global, int ranks);

typedef struct dstep {
  float *grad; /* every layer's WEIGHT_GRAD, back to back */
  size_t count;
} dstep;

int dstep_init(dstep *s, mupc_net *net);
void dstep_free(dstep *s);

/* One step on this rank's shard x (b, D), y (b, C). Stats are the mean
 * over the ranks (each rank's are already per-sample means over equal
 * shards), the same on every rank; MUPC_ENONFINITE when they are not
 * finite, so that all ranks agree on a divergence. A library status. */
/* The all-reduce alone: every rank's WEIGHT_GRAD tensors become the sum
 * of all ranks', each already its share of the global gradient (mupc bench
 * times it on its own). */
int dstep_reduce_grads(dstep *s, mupc_net *net);

int dstep_run(dstep *s, mupc_net *net, const float *x, const float *y, mupc_step_stats *stats);

#endif
