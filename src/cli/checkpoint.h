/* Checkpoints of `mupc train` and `mupc eval`: a model as a safetensors file.
 *
 * Tensors: layers.{i}.weight (i = 0 … L-1, [out, in], F32) and, with Adam,
 * optim.layers.{i}.m and optim.layers.{i}.v of the same shapes.
 * __metadata__ (strings): format "mupc-1", every mupc_net_params field (rng
 * names the generator of the weights and batch order; absent: mupc 0.1's), and
 * the run's position (step, epoch, epoch_step, total_steps, shuffle,
 * optim_t) and data (data_dir, norm_mean, norm_std, train_count, and
 * data_format, data_label and norm: the format, CIFAR-100's label and every
 * channel's mean and std), which is everything --resume needs to continue
 * bit-identically. Files without the last three predate them: IDX, one
 * mean and std.
 *
 * Every function here prints its own one-line error ("mupc <cmd>: ...") and
 * returns a CLI exit code (cli.h), 0 on success. */
#ifndef MUPC_CLI_CHECKPOINT_H
#define MUPC_CLI_CHECKPOINT_H

#include "mupc.h"

#include <stdint.h>

#define CKPT_FORMAT "mupc-1"
#define CKPT_PATH_MAX 4096

typedef struct ckpt_meta {
  mupc_net_params p;
  int64_t step;        /* weight updates done */
  int64_t epoch;       /* whole epochs done */
  int64_t epoch_step;  /* batches of the current epoch done */
  int64_t total_steps; /* the run's planned total */
  int shuffle;         /* 0: batches in file order */
  int64_t optim_t;     /* Adam bias-correction step */
  float norm_mean, norm_std; /* channel 0 of data, for older readers */
  mupc_data_opts data;       /* format (resolved), label, normalisation */
  int64_t train_count; /* training samples; the data order depends on it */
  char data_dir[CKPT_PATH_MAX];
} ckpt_meta;

/* A host copy of a model, to be written later: training keeps a periodic
 * checkpoint back until the next step shows its weights give a finite
 * loss. */
typedef struct ckpt_snapshot {
  ckpt_meta meta;
  mupc_st_tensor *tensors;
  size_t ntensors, cap;
} ckpt_snapshot;

/* Copies the net's weights (and Adam state) and m. `flag` names the flag
 * the checkpoint is for, for the error line. */
int ckpt_take(const char *cmd, const char *flag, mupc_net *net, const ckpt_meta *m,
              ckpt_snapshot *snap);
/* Writes snap to path atomically: on failure the previous file at path is
 * untouched. */
int ckpt_write(const char *cmd, const char *flag, const char *path, const ckpt_snapshot *snap);
void ckpt_release(ckpt_snapshot *snap);

/* ckpt_take, ckpt_write and ckpt_release in one. */
int ckpt_save(const char *cmd, const char *flag, const char *path, mupc_net *net,
              const ckpt_meta *m);

/* Reads and validates a whole file. Free with mupc_st_free. */
int ckpt_open(const char *cmd, const char *flag, const char *path, mupc_st_file *f);

/* The configuration stored in f's metadata; an error naming path when it
 * is missing or malformed. */
int ckpt_read_meta(const char *cmd, const char *flag, const char *path, const mupc_st_file *f,
                   ckpt_meta *m);

/* Copies layers.{i}.weight into the net, after checking that f holds
 * exactly the net's L weight tensors with its shapes. */
int ckpt_load_weights(const char *cmd, const char *flag, const char *path, const mupc_st_file *f,
                      mupc_net *net);

/* Copies optim.layers.{i}.m / .v into the net (Adam only; nothing for
 * SGD) and sets the Adam step to t. */
int ckpt_load_optim(const char *cmd, const char *flag, const char *path, const mupc_st_file *f,
                    mupc_net *net, int64_t t);

#endif
