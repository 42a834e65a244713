/* Fuzzes the CLI's flag parsing: the model flags that src/cli/netflags.c
 * makes from the library's parameter table, through getopt_long as every
 * subcommand runs them,
 * and the strict number parsers of src/cli/cli_util.c on every word.
 *
 * Input: argv words separated by newlines or NULs (so a word may hold
 * blanks, which the parsers must refuse). A flag getopt_long refuses goes
 * to cli_bad_flag, as in the subcommands. Properties: no crash, leak or
 * undefined behaviour; every parse returns 0 or the usage status 2; a value
 * that parses lies in its flag's documented range and is finite; a parser
 * that refuses leaves its output as it was. */
#include "fuzz_common.h"

#include "cli.h"
#include "netflags.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_WORDS = 64, MAX_WORD = 256 };

/* A subcommand's own flags, one per parser kind, as bench and train have
 * them; the table's flags are appended by cli_param_options. */
enum { O_STEPS = 's', O_RATIO = 'r', O_BUDGET = 'b', O_LIMIT = 'l', O_QUIET = 'q', O_NAME = 'n' };
static const struct option own[] = {
    {"steps", required_argument, NULL, O_STEPS},   {"ratio", required_argument, NULL, O_RATIO},
    {"budget", required_argument, NULL, O_BUDGET}, {"limit", required_argument, NULL, O_LIMIT},
    {"quiet", no_argument, NULL, O_QUIET},         {"name", required_argument, NULL, O_NAME},
    {NULL, 0, NULL, 0},
};

static const cli_range unit_half_open = {0, 1, 0, 1};       /* [0, 1) */
static const cli_range positive = {0, INFINITY, 1, 0};      /* > 0 */
static const cli_range at_most_ten = {-INFINITY, 10, 0, 0}; /* <= 10 */

static int in_range(float v, cli_range r) {
  if (r.lo_open ? !(v > r.lo) : !(v >= r.lo)) return 0;
  return r.hi_open ? v < r.hi : v <= r.hi;
}

static void check_status(int rc, const char *what) {
  FUZZ_CHECK(rc == CLI_EXIT_OK || rc == CLI_EXIT_USAGE, "%s returned %d", what, rc);
}

/* Each strict parser on one word, directly. */
static void parse_word(const char *w) {
  int i = 12345;
  int rc = cli_parse_int("fuzz", "--int", w, -5, 70000, &i);
  check_status(rc, "cli_parse_int");
  FUZZ_CHECK(rc ? i == 12345 : i >= -5 && i <= 70000, "'%s' -> %d (rc %d)", w, i, rc);
  rc = cli_parse_int("fuzz", "--any", w, LLONG_MIN, LLONG_MAX, &i);
  check_status(rc, "cli_parse_int");

  uint64_t u = 777;
  rc = cli_parse_u64("fuzz", "--u64", w, &u);
  check_status(rc, "cli_parse_u64");
  FUZZ_CHECK(rc ? u == 777 : w[0] >= '0' && w[0] <= '9', "'%s' -> %llu", w,
             (unsigned long long)u);

  const cli_range ranges[] = {unit_half_open, positive, at_most_ten};
  for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
    float f = -42.5f;
    rc = cli_parse_float("fuzz", "--float", w, ranges[k], &f);
    check_status(rc, "cli_parse_float");
    FUZZ_CHECK(rc ? f == -42.5f : isfinite(f) && in_range(f, ranges[k]), "'%s' -> %g in range %zu",
               w, (double)f, k);
  }
}

/* What the shared flags promise about a configuration they accepted. */
static void check_params(const mupc_net_params *p) {
  FUZZ_CHECK(p->depth >= 2 && p->depth <= 100000, "depth %d", p->depth);
  FUZZ_CHECK(p->width >= 1 && p->width <= 1 << 20, "width %d", p->width);
  FUZZ_CHECK(p->batch >= 1 && p->batch <= 1 << 24, "batch %d", p->batch);
  FUZZ_CHECK(p->infer_steps >= 0 && p->infer_steps <= 1000000, "infer steps %d", p->infer_steps);
  FUZZ_CHECK(isfinite(p->lr) && p->lr > 0, "lr %g", (double)p->lr);
  FUZZ_CHECK(isfinite(p->activity_lr) && p->activity_lr >= 0, "activity lr %g",
             (double)p->activity_lr);
  FUZZ_CHECK(isfinite(p->weight_decay) && p->weight_decay >= 0, "weight decay %g",
             (double)p->weight_decay);
  FUZZ_CHECK((unsigned)p->act < MUPC_ACT_COUNT && (unsigned)p->param < MUPC_PARAM_COUNT &&
                 (unsigned)p->loss < MUPC_LOSS_COUNT && (unsigned)p->optim < MUPC_OPTIM_COUNT &&
                 (unsigned)p->activity_optim < MUPC_AOPTIM_COUNT &&
                 (unsigned)p->algo < MUPC_ALGO_COUNT && (unsigned)p->rng < MUPC_RNG_COUNT,
             "an enum out of range");
  FUZZ_CHECK(p->adam_beta1 >= 0 && p->adam_beta1 < 1 && p->adam_beta2 >= 0 && p->adam_beta2 < 1 &&
                 isfinite(p->adam_eps) && p->adam_eps > 0,
             "Adam's constants out of range");
  FUZZ_CHECK((p->skips == 0 || p->skips == 1) && (p->wavefront == 0 || p->wavefront == 1),
             "a switch out of range");
  /* The library's own field checks must agree; only the size of the whole
   * network, which no single flag bounds, may still be refused. */
  int rc = mupc_net_params_check(p);
  FUZZ_CHECK(rc == MUPC_OK || (rc == MUPC_EINVAL && strstr(mupc_errmsg(), "too large")),
             "accepted flags fail the check: %s", mupc_errmsg());
}

/* The getopt_long loop of a subcommand; returns its exit status. */
static int parse_command_line(int argc, char **argv, mupc_net_params *p) {
  struct option *opts = cli_param_options(own, CLI_ROWS_NET);
  FUZZ_CHECK(opts != NULL, "out of memory");
  int steps = 0, rc = CLI_EXIT_OK, opt;
  float ratio = 0, budget = 1;
  uint64_t limit = 0;
  /* 0, not 1: glibc's getopt then forgets everything about the previous
   * argv, including a half-read cluster of short options. */
  optind = 0;
  opterr = 0; /* as main() runs the subcommands: cli_bad_flag reports */
  while (rc == CLI_EXIT_OK && (opt = getopt_long(argc, argv, "qs:", opts, NULL)) != -1) {
    if (cli_param_flag("fuzz", opt, optarg, p, NULL, &rc)) {
      check_status(rc, "cli_param_flag");
      continue;
    }
    switch (opt) {
    case O_STEPS: rc = cli_parse_int("fuzz", "--steps", optarg, 1, INT_MAX, &steps); break;
    case O_RATIO: rc = cli_parse_float("fuzz", "--ratio", optarg, unit_half_open, &ratio); break;
    case O_BUDGET: rc = cli_parse_float("fuzz", "--budget", optarg, positive, &budget); break;
    case O_LIMIT: rc = cli_parse_u64("fuzz", "--limit", optarg, &limit); break;
    case O_QUIET: break;
    case O_NAME: FUZZ_CHECK(optarg != NULL, "--name without a value"); break;
    default:
      rc = cli_bad_flag("fuzz", argc, argv, opts);
      check_status(rc, "cli_bad_flag");
      FUZZ_CHECK(rc == CLI_EXIT_USAGE, "a refused flag passed");
      break;
    }
  }
  free(opts);
  if (rc == CLI_EXIT_OK) {
    FUZZ_CHECK(steps >= 0 && ratio >= 0 && ratio < 1 && budget > 0 && isfinite(budget),
               "own flags out of range");
    FUZZ_CHECK(optind >= 1 && optind <= argc, "optind %d of %d", optind, argc);
  }
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char argv0[] = "mupc fuzz";
  static char words[MAX_WORDS][MAX_WORD + 1];
  char *argv[MAX_WORDS + 2];
  int argc = 0;
  argv[argc++] = argv0;
  for (size_t i = 0; i <= size && argc <= MAX_WORDS;) {
    size_t len = 0;
    while (i + len < size && data[i + len] != '\n' && data[i + len] != '\0') len++;
    if (len > MAX_WORD) len = MAX_WORD;
    memcpy(words[argc - 1], data + i, len);
    words[argc - 1][len] = '\0';
    argv[argc] = words[argc - 1];
    argc++;
    /* Skip to past the separator (a word longer than MAX_WORD is cut). */
    while (i < size && data[i] != '\n' && data[i] != '\0') i++;
    i++;
  }
  argv[argc] = NULL;

  for (int i = 1; i < argc; i++) parse_word(argv[i]);

  mupc_net_params p = mupc_net_default_params();
  if (parse_command_line(argc, argv, &p) == CLI_EXIT_OK) check_params(&p);
  return 0;
}

/* libFuzzer calls this once before the first input: send the parsers'
 * one-line complaints, thousands a second, to /dev/null. Only the stdio
 * stream is replaced (glibc lets it be assigned); file descriptor 2, where
 * libFuzzer and the sanitizers report, stays as it was. The replay test
 * does not call this, so a replayed input shows its messages. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  FILE *null = fopen("/dev/null", "w");
  if (null) stderr = null;
  return 0;
}
