/* Flags from the library's parameter table: options, parsing, --help and
 * --resume's checks, all by walking mupc_params_info(). */
#include "netflags.h"

#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* More rows than the table will ever hold; checked where it matters. */
#define MAX_ROWS 128

static unsigned char seen[MAX_ROWS];
static char bool_flags[MAX_ROWS][48]; /* "no-skips" */

static size_t nrows(void) {
  size_t n = mupc_params_count();
  return n < MAX_ROWS ? n : MAX_ROWS;
}

static int is_bool(const mupc_param_info *r) { return r->type == MUPC_PTYPE_BOOL; }

static int default_on(const mupc_param_info *r) { return strcmp(r->def, "1") == 0; }

/* The flag of row i without "--": its name, or for a switch that is on by
 * default, "no-" and its name. */
static const char *flag_of(size_t i) {
  const mupc_param_info *r = mupc_params_info(i);
  if (!is_bool(r) || !default_on(r)) return r->name;
  if (!bool_flags[i][0]) snprintf(bool_flags[i], sizeof bool_flags[i], "no-%s", r->name);
  return bool_flags[i];
}

static int row_in(const mupc_param_info *r, unsigned rows) {
  if (r->flags & MUPC_PFLAG_INTERNAL) return 0;
  if (r->flags & MUPC_PFLAG_FROM_DATA) return (rows & CLI_ROWS_DIMS) != 0;
  return (rows & (r->scope == MUPC_PSCOPE_NET ? CLI_ROWS_NET : CLI_ROWS_TRAIN)) != 0;
}

struct option *cli_param_options(const struct option *own, unsigned rows) {
  size_t n = 0;
  while (own[n].name) n++;
  struct option *all = calloc(n + nrows() + 1, sizeof *all);
  if (!all) return NULL;
  memcpy(all, own, n * sizeof *own);
  /* The data and run rows first, as the commands listed them before the
   * table: an ambiguous prefix ("--s") names --steps and --save first. */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < nrows(); i++) {
      const mupc_param_info *r = mupc_params_info(i);
      if (!row_in(r, rows) || (r->scope == MUPC_PSCOPE_TRAIN) != (pass == 0)) continue;
      all[n++] = (struct option){flag_of(i), is_bool(r) ? no_argument : required_argument, NULL,
                                 CLI_PARAM_OPT_BASE + (int)i};
    }
  memset(seen, 0, sizeof seen);
  return all;
}

int cli_param_flag(const char *cmd, int opt, const char *arg, mupc_net_params *p,
                   mupc_train_opts *o, int *rc) {
  if (opt < CLI_PARAM_OPT_BASE || (size_t)(opt - CLI_PARAM_OPT_BASE) >= nrows()) return 0;
  const size_t i = (size_t)(opt - CLI_PARAM_OPT_BASE);
  const mupc_param_info *r = mupc_params_info(i);
  seen[i] = 1;
  /* A switch's flag says the opposite of its default. */
  const char *value = is_bool(r) ? (default_on(r) ? "0" : "1") : arg;
  int st;
  if (r->scope == MUPC_PSCOPE_NET)
    st = mupc_params_set(p, r->name, value);
  else if (o)
    st = mupc_train_opts_set(o, r->name, value);
  else
    st = MUPC_EINVAL; /* a TRAIN option where the caller asked for none */
  *rc = st == MUPC_OK ? CLI_EXIT_OK
                      : cli_error(CLI_EXIT_USAGE, cmd, "--%s: %s", flag_of(i),
                                  o || r->scope == MUPC_PSCOPE_NET ? mupc_errmsg()
                                                                   : "not a flag of this command");
  return 1;
}

int cli_param_seen(const char *name) {
  const mupc_param_info *r = mupc_params_find(name);
  if (!r && !strncmp(name, "no-", 3)) r = mupc_params_find(name + 3);
  for (size_t i = 0; r && i < nrows(); i++)
    if (mupc_params_info(i) == r) return seen[i];
  return 0;
}

/* ---- --help ---------------------------------------------------------------- */

/* Where a heading goes: before the first row of its group that is shown. */
static const struct {
  const char *row, *heading;
} headings[] = {
    {"input-dim", "model"}, {"depth", "model"}, {"batch", "optimisation"},
    {"data", "data"},       {"steps", "run"},
};

static const char *heading_of(const char *row) {
  for (size_t i = 0; i < sizeof headings / sizeof headings[0]; i++)
    if (!strcmp(headings[i].row, row)) return headings[i].heading;
  return NULL;
}

enum { HELP_COLUMN = 24, HELP_WIDTH = 79 };

/* text from column `col` on, wrapped at spaces to HELP_WIDTH with the
 * continuation lines at HELP_COLUMN. */
static void put_wrapped(FILE *f, int col, const char *text) {
  while (*text) {
    int room = HELP_WIDTH - col, len = (int)strlen(text);
    if (len > room) {
      int cut = room;
      while (cut > 0 && text[cut] != ' ') cut--;
      if (cut == 0) cut = (int)strcspn(text, " ");
      len = cut;
    }
    fprintf(f, "%.*s\n", len, text);
    text += len;
    while (*text == ' ') text++;
    if (*text) fprintf(f, "%*s", HELP_COLUMN, "");
    col = HELP_COLUMN;
  }
}

static void help_line(FILE *f, size_t i) {
  const mupc_param_info *r = mupc_params_info(i);
  char lead[64], text[512];
  if (is_bool(r))
    snprintf(lead, sizeof lead, "  --%s", flag_of(i));
  else
    snprintf(lead, sizeof lead, "  --%s %s", r->name, r->metavar);
  if (is_bool(r))
    /* The row's help describes the switch when on; --no-X turns it off. */
    snprintf(text, sizeof text, "turns %s (%s by default): %s", default_on(r) ? "off" : "on",
             default_on(r) ? "on" : "off", r->help);
  else if (r->type == MUPC_PTYPE_ENUM)
    snprintf(text, sizeof text, "%s (%s; default %s)", r->help, r->allowed, r->def);
  else if (r->def[0])
    snprintf(text, sizeof text, "%s (default %s)", r->help, r->def);
  else
    snprintf(text, sizeof text, "%s", r->help);
  int col = (int)strlen(lead);
  fputs(lead, f);
  if (col + 1 >= HELP_COLUMN) {
    fputc('\n', f);
    col = 0;
  }
  fprintf(f, "%*s", HELP_COLUMN - col, "");
  put_wrapped(f, HELP_COLUMN, text);
}

void cli_params_help(FILE *f, unsigned rows) {
  const char *last = NULL;
  for (size_t i = 0; i < nrows(); i++) {
    const mupc_param_info *r = mupc_params_info(i);
    if (!row_in(r, rows)) continue;
    const char *heading = heading_of(r->name);
    if (heading && (!last || strcmp(heading, last) != 0)) {
      fprintf(f, "%s:\n", heading);
      last = heading;
    }
    help_line(f, i);
  }
}

/* ---- --resume ------------------------------------------------------------- */

int cli_params_check_resume(const char *cmd, const char *path, const mupc_net_params *p,
                            const mupc_train_opts *o, const mupc_checkpoint *ck) {
  char have[MUPC_PATH_MAX + 64];
  for (size_t i = 0; i < nrows(); i++) {
    if (!seen[i]) continue;
    if (mupc_checkpoint_conflict(ck, p, o, mupc_params_info(i)->name, have, sizeof have))
      return cli_error(CLI_EXIT_USAGE, cmd, "--%s: %s", flag_of(i), mupc_errmsg());
    if (have[0])
      return cli_error(CLI_EXIT_USAGE, cmd,
                       "--%s: conflicts with %s, which has %s; --resume takes the network, "
                       "optimiser and data flags from the checkpoint",
                       flag_of(i), path, have);
  }
  return CLI_EXIT_OK;
}

void cli_params_per_run(const mupc_train_opts *given, mupc_train_opts *o) {
  char v[MUPC_PATH_MAX];
  for (size_t i = 0; i < nrows(); i++) {
    const mupc_param_info *r = mupc_params_info(i);
    if (seen[i] && (r->flags & MUPC_PFLAG_PER_RUN) && r->scope == MUPC_PSCOPE_TRAIN &&
        mupc_train_opts_get(given, r->name, v, sizeof v) == MUPC_OK)
      (void)mupc_train_opts_set(o, r->name, v); /* it parsed once, it parses again */
  }
}
