/* The flags that come from the library's parameter table (mupc.h,
 * "parameters by name"): one option, one parser, one --help line and one
 * --resume check per row, so a row added there is a flag of every command
 * that takes its group. */
#ifndef MUPC_CLI_NETFLAGS_H
#define MUPC_CLI_NETFLAGS_H

#include "mupc.h"

#include <getopt.h>
#include <stdio.h>

#define CLI_PARAM_OPT_BASE 1000 /* getopt values of table flags start here */

enum {                /* which rows become flags */
  CLI_ROWS_NET = 1,   /* net rows, except MUPC_PFLAG_FROM_DATA / INTERNAL */
  CLI_ROWS_DIMS = 2,  /* the FROM_DATA rows (input-dim, output-dim): bench, synthetic data */
  CLI_ROWS_TRAIN = 4, /* train-option rows (data, format, label, classes, norm, steps,
                       * epochs, no-shuffle, eval-every, save, save-every) */
};

/* own (zero-terminated) followed by the table's flags of `rows`; malloc'd,
 * free() it. NULL if out of memory. Forgets which flags were seen. */
struct option *cli_param_options(const struct option *own, unsigned rows);

/* If opt is a table flag: parses arg into p or o (o may be NULL when rows has
 * no TRAIN), returns 1 with *rc 0, or CLI_EXIT_USAGE after printing
 * "mupc <cmd>: --<flag>: <library message>". Returns 0 for other opts.
 * Bool rows: flag --no-NAME when the default is on, --NAME when off. */
int cli_param_flag(const char *cmd, int opt, const char *arg, mupc_net_params *p,
                   mupc_train_opts *o, int *rc);

/* Whether the row `name` (or its flag, "no-skips") was given on the command
 * line. */
int cli_param_seen(const char *name);

/* --help lines of the rows (grouped, defaults shown), generated from the
 * table. */
void cli_params_help(FILE *f, unsigned rows);

/* --resume: every row given on the command line whose value differs from
 * the checkpoint's (mupc_checkpoint_conflict) is a usage error: "--<flag>:
 * conflicts with PATH, which has <name> <value>; --resume takes the network,
 * optimiser and data flags from the checkpoint". Returns 0 or
 * CLI_EXIT_USAGE after printing the line. */
int cli_params_check_resume(const char *cmd, const char *path, const mupc_net_params *p,
                            const mupc_train_opts *o, const mupc_checkpoint *ck);

/* A resumed run's options: o (the checkpoint's) takes the rows of this run
 * (MUPC_PFLAG_PER_RUN: steps, epochs, eval-every, save, save-every, data)
 * that the command line gave, from `given`. */
void cli_params_per_run(const mupc_train_opts *given, mupc_train_opts *o);

#endif
