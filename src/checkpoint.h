/* Checkpoints inside the library (checkpoint.c): what a trainer needs
 * beyond the public mupc_checkpoint_read, mupc_net_save and mupc_net_load.
 * The layout is in mupc.h ("checkpoints (safetensors)"). Not installed. */
#ifndef MUPC_CHECKPOINT_H
#define MUPC_CHECKPOINT_H

#include "mupc.h"

#include <stdint.h>

/* A host copy of a net's tensors (weights, and Adam m/v with Adam) plus the
 * metadata to write with them: a trainer holds a periodic checkpoint back on
 * the host until the next step shows its weights are finite. */
typedef struct mupc__snapshot mupc__snapshot;

/* meta->p is written as the checkpoint's parameters (the global ones under
 * data parallelism, which the trainer passes: batch = global batch,
 * norm_batch 0); meta->optim_t, positions, o, has_run likewise. The tensors
 * come from net. */
int mupc__snapshot_take(mupc_net *net, const mupc_checkpoint *meta, mupc__snapshot **out);
int mupc__snapshot_write(const mupc__snapshot *s, const char *path); /* atomic (mupc_st_write) */
int64_t mupc__snapshot_step(const mupc__snapshot *s);               /* meta.step */
void mupc__snapshot_free(mupc__snapshot *s);                        /* NULL ok */

/* mupc_checkpoint_read on a file already read (path names it in messages),
 * so that a loader reads it once. */
int mupc__checkpoint_read_meta(const mupc_st_file *f, const char *path, mupc_checkpoint *out);

/* Weights (and Adam state and step when `optim`) from an open file into net,
 * checking names and shapes; `path` only names the file in messages. */
int mupc__checkpoint_load_tensors(mupc_net *net, const mupc_st_file *f, const char *path,
                                  int optim, int64_t optim_t);

#endif
