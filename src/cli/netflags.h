/* The model and optimisation flags that train, bench, tune and compare
 * share, parsed once into a mupc_net_params. */
#ifndef MUPC_CLI_NETFLAGS_H
#define MUPC_CLI_NETFLAGS_H

#include "mupc.h"

#include <getopt.h>
#include <stdio.h>

/* getopt_long values of the shared flags start here; a subcommand's own
 * long-only flags use values below it. */
#define CLI_NET_OPT_BASE 1000

/* own (terminated by a zero row) followed by the shared flags; malloc'd,
 * free() it. NULL if out of memory. */
struct option *cli_net_options(const struct option *own);

/* If opt is one of the shared flags, parses arg into p and returns 1 with
 * *rc set to 0, or to CLI_EXIT_USAGE after printing the one-line error.
 * Returns 0 for any other opt. */
int cli_net_flag(const char *cmd, int opt, const char *arg, mupc_net_params *p, int *rc);

/* Whether the shared flag with this long name was given on the command
 * line (for flags that a checkpoint's configuration must not contradict). */
int cli_net_flag_seen(const char *name);

/* The --help lines of the shared flags, with their defaults from p. */
void cli_net_flags_help(FILE *f, const mupc_net_params *p);

#endif
