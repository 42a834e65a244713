/* Batch order: see batches.h. */
#include "batches.h"

#include <stdlib.h>
#include <string.h>

int batches_init(batches *b, const mupc_dataset *d, int batch, uint64_t seed, mupc_rng rng,
                 int shuffle) {
  memset(b, 0, sizeof *b);
  if (batch < 1 || d->count < batch) return MUPC_EINVAL;
  b->data = d;
  b->batch = batch;
  b->seed = seed;
  b->rng = rng;
  b->shuffle = shuffle;
  b->per_epoch = d->count / batch;
  b->perm_epoch = -1;
  b->perm = malloc((size_t)d->count * sizeof *b->perm);
  b->x = malloc((size_t)batch * (size_t)d->dim * sizeof *b->x);
  b->y = malloc((size_t)batch * (size_t)d->classes * sizeof *b->y);
  if (b->perm && b->x && b->y) return MUPC_OK;
  batches_free(b);
  return MUPC_ENOMEM;
}

void batches_free(batches *b) {
  free(b->perm);
  free(b->x);
  free(b->y);
  b->perm = NULL;
  b->x = b->y = NULL;
}

void batches_gather(batches *b, int64_t step) {
  batches_gather_part(b, step, 0, b->batch);
}

void batches_gather_part(batches *b, int64_t step, int first, int n) {
  const int64_t epoch = step / b->per_epoch, pos = step % b->per_epoch;
  const uint32_t count = (uint32_t)b->data->count;
  if (epoch != b->perm_epoch) {
    if (b->shuffle)
      mupc_shuffle_rng(b->rng, b->perm, count, b->seed, (uint64_t)epoch);
    else
      for (uint32_t i = 0; i < count; i++) b->perm[i] = i;
    b->perm_epoch = epoch;
  }
  mupc_dataset_gather(b->data, b->perm + pos * b->batch + first, n, b->x, b->y);
}
