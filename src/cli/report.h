/* What `mupc train` reports while it runs.
 *
 * Progress, on stderr: a bar redrawn in place on a terminal, plain periodic
 * lines otherwise, nothing with --quiet.
 *
 * --metrics FILE: one JSON object per line (mupc_train_metrics_json), see
 * README "Metrics".
 *   per step: {"step", "epoch", "train_loss", "energy", "seconds"
 *              [, "test_acc", "test_loss"]}
 *   last:     {"final": true, "step", "test_acc", "test_loss", "seconds"}
 * A non-finite value is written as null: JSON has no NaN. */
#ifndef MUPC_CLI_REPORT_H
#define MUPC_CLI_REPORT_H

#include "mupc.h"

#include <stdint.h>
#include <stdio.h>

typedef enum { PROGRESS_QUIET, PROGRESS_LINES, PROGRESS_BAR } progress_mode;

typedef struct progress {
  progress_mode mode;
  int64_t first;      /* steps done before this run (a resume) */
  int64_t total;      /* the run's last step */
  int64_t per_epoch;  /* steps per epoch */
  int64_t line_every; /* PROGRESS_LINES: a line every this many steps */
  double start;       /* seconds when this run's first step began */
  double last_draw;
  int drawn; /* the bar is on screen and the cursor sits at its end */
  int have_test;
  double test_acc;
} progress;

void progress_start(progress *pg, progress_mode mode, int64_t first, int64_t total,
                    int64_t per_epoch, int64_t line_every, double now);
/* After a step (counted over the whole run) and its evaluation, if any. */
void progress_update(progress *pg, const mupc_train_metrics *m, double now);
/* Ends the bar's line so the next message starts on a line of its own. */
void progress_break(progress *pg);

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
