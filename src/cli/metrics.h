/* --metrics FILE: one JSON object per line (json-c), see README "Metrics".
 *   per step: {"step", "epoch", "train_loss", "energy", "seconds"
 *              [, "test_acc", "test_loss"]}
 *   last:     {"final": true, "step", "test_acc", "test_loss", "seconds"}
 * A non-finite value is written as null: JSON has no NaN. */
#ifndef MUPC_CLI_METRICS_H
#define MUPC_CLI_METRICS_H

#include "mupc.h"

#include <stdint.h>
#include <stdio.h>

typedef struct metrics {
  FILE *f; /* NULL: no --metrics */
  const char *path;
} metrics;

/* Each returns a CLI exit code after a one-line error naming the file. */
int metrics_open(metrics *m, const char *cmd, const char *path);
int metrics_step(metrics *m, const char *cmd, const mupc_train_metrics *t, double seconds);
int metrics_final(metrics *m, const char *cmd, int64_t step, const mupc_eval_result *ev,
                  double seconds);
int metrics_close(metrics *m, const char *cmd);

#endif
