/* Error reporting and strict flag parsing shared by every subcommand. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

int cli_error(int code, const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(cmd ? "mupc " : "mupc", stderr);
  if (cmd) fputs(cmd, stderr);
  fputs(": ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

int cli_exit_code(int status) {
  switch (status) {
  case MUPC_OK: return CLI_EXIT_OK;
  case MUPC_EINVAL: case MUPC_ENOPLATFORM: case MUPC_ENODEVICE: case MUPC_EIO: case MUPC_EFORMAT:
  case MUPC_ESHAPE: return CLI_EXIT_USAGE;
  default: return CLI_EXIT_FAIL;
  }
}

int cli_report(const char *cmd, int status, const mupc_ctx *ctx) {
  const char *msg = mupc_errmsg();
  cli_error(CLI_EXIT_FAIL, cmd, "%s", *msg ? msg : mupc_strerror(status));
  if (status == MUPC_EBUILD && ctx) {
    const char *log = mupc_ctx_build_log(ctx);
    size_t n = strlen(log);
    fputs(*log ? log : "(the OpenCL compiler left no build log)\n", stderr);
    if (n && log[n - 1] != '\n') fputc('\n', stderr);
  }
  return cli_exit_code(status);
}

int cli_flag_error(const char *cmd, const char *flag, int status) {
  return cli_error(cli_exit_code(status), cmd, "%s: %s", flag, mupc_errmsg());
}

int cli_load_data(const char *cmd, const char *dir, mupc_data_opts *d, mupc_dataset *train,
                  mupc_dataset *test) {
  int st = d->format ? MUPC_OK : mupc_data_detect(dir, &d->format);
  mupc_data_opts t = *d;
  if (!st) st = mupc_dataset_load(dir, 1, d, train);
  /* A test set may miss the rarest class; the training set decides. */
  t.classes = train->classes;
  if (!st) st = mupc_dataset_load(dir, 0, &t, test);
  if (st) return cli_flag_error(cmd, "--data", st);
  if (test->dim == train->dim) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_USAGE, cmd,
                   "--data: %s: test samples have %d values (%dx%d) but training samples %d "
                   "(%dx%d)",
                   dir, test->dim, test->rows, test->cols, train->dim, train->rows, train->cols);
}

/* strtoll and strtod skip leading blanks and accept an empty tail; a flag
 * value must be exactly one number. */
static int starts_clean(const char *text) {
  return *text && !isspace((unsigned char)*text);
}

static int bad_int(const char *cmd, const char *flag, const char *text, long long lo,
                   long long hi) {
  if (hi == LLONG_MAX)
    return cli_error(CLI_EXIT_USAGE, cmd, "%s: expected an integer >= %lld, got '%s'", flag, lo,
                     text);
  return cli_error(CLI_EXIT_USAGE, cmd, "%s: expected an integer in [%lld, %lld], got '%s'", flag,
                   lo, hi, text);
}

int cli_parse_int(const char *cmd, const char *flag, const char *text, long long lo, long long hi,
                  int *out) {
  if (lo < INT_MIN) lo = INT_MIN;
  if (hi > INT_MAX) hi = INT_MAX;
  char *end;
  errno = 0;
  long long v = starts_clean(text) ? strtoll(text, &end, 10) : 0;
  if (!starts_clean(text) || *end || errno || v < lo || v > hi)
    return bad_int(cmd, flag, text, lo, hi == INT_MAX ? LLONG_MAX : hi);
  *out = (int)v;
  return CLI_EXIT_OK;
}

int cli_parse_u64(const char *cmd, const char *flag, const char *text, uint64_t *out) {
  char *end;
  errno = 0;
  /* strtoull would quietly wrap "-1" to the largest value. */
  int ok = starts_clean(text) && isdigit((unsigned char)*text);
  unsigned long long v = ok ? strtoull(text, &end, 10) : 0;
  if (!ok || *end || errno)
    return cli_error(CLI_EXIT_USAGE, cmd, "%s: expected an integer >= 0 (64-bit), got '%s'", flag,
                     text);
  *out = (uint64_t)v;
  return CLI_EXIT_OK;
}

static int in_range(double v, cli_range r) {
  if (r.lo_open ? !(v > r.lo) : !(v >= r.lo)) return 0;
  if (r.hi_open ? !(v < r.hi) : !(v <= r.hi)) return 0;
  return 1;
}

/* "> 0", ">= 0", "in [0, 1)" */
static void describe_range(cli_range r, char *dst, size_t n) {
  if (isinf(r.hi) && r.hi > 0)
    snprintf(dst, n, "%s %g", r.lo_open ? ">" : ">=", r.lo);
  else if (isinf(r.lo) && r.lo < 0)
    snprintf(dst, n, "%s %g", r.hi_open ? "<" : "<=", r.hi);
  else
    snprintf(dst, n, "in %c%g, %g%c", r.lo_open ? '(' : '[', r.lo, r.hi, r.hi_open ? ')' : ']');
}

int cli_parse_float(const char *cmd, const char *flag, const char *text, cli_range range,
                    float *out) {
  char *end;
  errno = 0;
  double v = starts_clean(text) ? strtod(text, &end) : 0.0;
  /* The range applies to the float the program will use: 1e-50 is 0 as a
   * float and must not pass as "> 0". */
  int ok = starts_clean(text) && !*end && isfinite(v) && fabs(v) <= FLT_MAX;
  float f = ok ? (float)v : 0.0f;
  if (ok && in_range((double)f, range)) {
    *out = f;
    return CLI_EXIT_OK;
  }
  char want[96];
  describe_range(range, want, sizeof want);
  return cli_error(CLI_EXIT_USAGE, cmd, "%s: expected a number %s, got '%s'", flag, want, text);
}

/* ---- a flag getopt_long refused ---------------------------------------- */

/* Optimal string alignment distance, ignoring ASCII case: a swap of two
 * neighbouring letters ("stpes") counts as one edit, as it is one slip. */
static int flag_distance(const char *a, size_t na, const char *b) {
  enum { MAXLEN = 40 };
  size_t nb = strlen(b);
  if (na > MAXLEN || nb > MAXLEN) return INT_MAX;
  int d[MAXLEN + 1][MAXLEN + 1];
  for (size_t i = 0; i <= na; i++)
    d[i][0] = (int)i;
  for (size_t j = 0; j <= nb; j++)
    d[0][j] = (int)j;
  for (size_t i = 1; i <= na; i++)
    for (size_t j = 1; j <= nb; j++) {
      int ai = tolower((unsigned char)a[i - 1]), bj = tolower((unsigned char)b[j - 1]);
      int best = d[i - 1][j - 1] + (ai != bj);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && ai == tolower((unsigned char)b[j - 2]) &&
          tolower((unsigned char)a[i - 2]) == bj && d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[na][nb];
}

/* The known flag closest to name[0 … n-1], or NULL when none is close
 * enough to be a slip rather than another word: about one edit in three
 * letters, at least one. */
static const struct option *closest_flag(const char *name, size_t n, const struct option *opts) {
  const struct option *best = NULL;
  int best_d = (int)(n <= 3 ? 1 : n <= 7 ? 2 : 3) + 1;
  for (const struct option *o = opts; o->name; o++) {
    int d = flag_distance(name, n, o->name);
    if (d < best_d) best_d = d, best = o;
  }
  return best;
}

/* The line for "--" + word if getopt_long refused it: unknown (with the
 * closest flag), ambiguous, missing its value (at_end: nothing follows it)
 * or given one it takes none. -1 if it is a correct use of a flag, so the
 * refused flag must be another one. */
static int bad_long_flag(const char *cmd, const char *word, int at_end, const struct option *opts) {
  const char *eq = strchr(word, '=');
  const size_t n = eq ? (size_t)(eq - word) : strlen(word);
  const struct option *match = NULL;
  int prefixes = 0;
  for (const struct option *o = opts; o->name; o++) {
    if (strncmp(o->name, word, n)) continue;
    if (!o->name[n]) { /* an exact match wins over longer names */
      match = o, prefixes = 1;
      break;
    }
    match = o, prefixes++;
  }
  if (prefixes > 1) {
    char names[512] = "";
    size_t used = 0;
    for (const struct option *o = opts; o->name && used < sizeof names; o++)
      if (!strncmp(o->name, word, n))
        used += (size_t)snprintf(names + used, sizeof names - used, "%s--%s", used ? ", " : "",
                                 o->name);
    return cli_error(CLI_EXIT_USAGE, cmd, "flag '--%.*s' is ambiguous: %s (see 'mupc %s --help')",
                     (int)n, word, names, cmd);
  }
  if (match) {
    if (eq && match->has_arg == no_argument)
      return cli_error(CLI_EXIT_USAGE, cmd,
                       "flag '--%s' takes no value, got '--%s' (see 'mupc %s --help')", match->name,
                       word, cmd);
    if (!eq && match->has_arg == required_argument && at_end)
      return cli_error(CLI_EXIT_USAGE, cmd, "flag '--%s' needs a value (see 'mupc %s --help')",
                       match->name, cmd);
    return -1;
  }
  const struct option *near = closest_flag(word, n, opts);
  if (near)
    return cli_error(CLI_EXIT_USAGE, cmd,
                     "unknown flag '--%.*s'; did you mean '--%s'? (see 'mupc %s --help')", (int)n,
                     word, near->name, cmd);
  return cli_error(CLI_EXIT_USAGE, cmd, "unknown flag '--%.*s' (see 'mupc %s --help')", (int)n,
                   word, cmd);
}

/* Whether w is a cluster of short flags ("-x", "-steps") holding c. */
static int short_cluster(const char *w, int c) {
  return w && w[0] == '-' && w[1] && w[1] != '-' && c && strchr(w + 1, c);
}

int cli_bad_flag(const char *cmd, int argc, char *const *argv, const struct option *opts) {
  /* glibc's getopt_long steps past a refused long flag, so it is
   * argv[optind - 1]; a refused short flag is optopt, in argv[optind - 1]
   * if it ended its cluster, else in argv[optind]. */
  const char *prev = optind >= 2 && optind - 1 < argc ? argv[optind - 1] : NULL;
  const char *next = optind >= 1 && optind < argc ? argv[optind] : NULL;
  if (prev && prev[0] == '-' && prev[1] == '-' && prev[2]) {
    int code = bad_long_flag(cmd, prev + 2, optind >= argc, opts);
    if (code >= 0) return code;
  }
  const char *word = short_cluster(prev, optopt) && prev[strlen(prev) - 1] == optopt ? prev
                     : short_cluster(next, optopt)                                   ? next
                                                                                     : NULL;
  /* "-steps" reads as -s -t -e ...; the user meant a long flag. */
  if (word && word[2] && word[1] == optopt) {
    const size_t n = strcspn(word + 1, "=");
    const struct option *near = closest_flag(word + 1, n, opts);
    if (near)
      return cli_error(CLI_EXIT_USAGE, cmd,
                       "unknown flag '%.*s'; did you mean '--%s'? (see 'mupc %s --help')",
                       (int)n + 1, word, near->name, cmd);
  }
  if (optopt > ' ' && optopt < 127)
    return cli_error(CLI_EXIT_USAGE, cmd, "unknown flag '-%c' (see 'mupc %s --help')", optopt, cmd);
  return cli_error(CLI_EXIT_USAGE, cmd, "bad flag '%s' (see 'mupc %s --help')", prev ? prev : "",
                   cmd);
}

/* ---- JSON numbers -------------------------------------------------------- */

/* The first of %.1g … %.17g that strtod (as_float: strtof) reads back to v;
 * %.17g always does for a double and %.9g for a float. Then ".0" if that
 * looks like an integer, as json-c writes doubles, so readers keep it a
 * float. */
static void shortest(double v, int as_float, char *dst, size_t n) {
  for (int digits = 1; digits <= 17; digits++) {
    snprintf(dst, n, "%.*g", digits, v);
    if (as_float ? strtof(dst, NULL) == (float)v : strtod(dst, NULL) == v) break;
  }
  if (!strpbrk(dst, ".eE") && strlen(dst) + 2 < n) strcat(dst, ".0");
}

json_object *cli_json_double(double v) {
  char text[40];
  if (!isfinite(v)) return NULL;
  shortest(v, 0, text, sizeof text);
  return json_object_new_double_s(v, text);
}

json_object *cli_json_float(float v) {
  char text[40];
  if (!isfinite(v)) return NULL;
  shortest((double)v, 1, text, sizeof text);
  return json_object_new_double_s((double)v, text);
}

void cli_format_bytes(uint64_t bytes, char *dst, size_t n) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = (double)bytes;
  size_t u = 0;
  for (; v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]; u++) v /= 1024.0;
  if (u == 0) snprintf(dst, n, "%" PRIu64 " B", bytes);
  else snprintf(dst, n, "%.1f %s", v, units[u]);
}

double cli_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double cli_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int cli_parse_gemm(const char *cmd, const char *flag, const char *text, int *out) {
  const int g = mupc_gemm_from_name(text);
  if (g < 0)
    return cli_error(CLI_EXIT_USAGE, cmd, "%s: expected auto, clblast or host, got '%s'", flag,
                     text);
  *out = g;
  return CLI_EXIT_OK;
}

int cli_ctx_init(const char *cmd, const char *spec, int gemm, int nth, mupc_ctx **ctx) {
  char pick[32];
  mupc_device_info d;
  int st = nth < 0 ? MUPC_OK : mupc_device_select_nth(spec, nth, &d);
  if (!st && nth >= 0) snprintf(pick, sizeof pick, "%d:%d", d.platform_index, d.device_index);
  if (!st) st = mupc_ctx_init(ctx, nth < 0 ? spec : pick);
  if (st) return cli_report(cmd, st, *ctx);
  if (gemm >= 0 && (st = mupc_ctx_set_gemm(*ctx, (mupc_gemm)gemm)))
    return cli_error(cli_exit_code(st), cmd, "--gemm %s: %s", mupc_gemm_name((mupc_gemm)gemm),
                     mupc_errmsg());
  return CLI_EXIT_OK;
}

void cli_gemm_describe(const mupc_ctx *ctx, char *dst, size_t n) {
  if (mupc_ctx_gemm(ctx) != MUPC_GEMM_HOST) {
    snprintf(dst, n, "clblast");
    return;
  }
  char blas[256];
  mupc_host_blas_describe(blas, sizeof blas);
  snprintf(dst, n, "host (%s; %s)", blas, mupc_ctx_host_gemm_dispatch(ctx));
}
