/* The order batches are drawn in, shared by train and compare so that the
 * same flags give the same batches everywhere: epoch e takes the samples in
 * the order of mupc_shuffle_rng(rng, seed, e) (or file order), batch after batch, and
 * drops its last partial batch. */
#ifndef MUPC_CLI_BATCHES_H
#define MUPC_CLI_BATCHES_H

#include "mupc.h"

typedef struct batches {
  const mupc_dataset *data;
  int batch;
  uint64_t seed;
  mupc_rng rng;
  int shuffle;
  int64_t per_epoch; /* full batches in one epoch */
  uint32_t *perm;    /* (count) the current epoch's order */
  int64_t perm_epoch;
  float *x; /* (batch, dim) the last gathered batch */
  float *y; /* (batch, classes) */
} batches;

/* MUPC_ENOMEM, or MUPC_EINVAL when the data set holds no full batch. */
int batches_init(batches *b, const mupc_dataset *d, int batch, uint64_t seed, mupc_rng rng,
                 int shuffle);
void batches_free(batches *b);
/* Fills b->x, b->y with the batch of `step` (0-based over the whole run). */
void batches_gather(batches *b, int64_t step);
/* Only samples first … first + n - 1 of that batch, into the first n rows
 * of b->x, b->y: one rank's shard of a global batch under mpirun. */
void batches_gather_part(batches *b, int64_t step, int first, int n);

#endif
