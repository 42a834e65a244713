/* Error reporting and strict flag parsing shared by every subcommand. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The library's strict parsers; their message gains the command and flag. */
int cli_parse_int(const char *cmd, const char *flag, const char *text, long long lo, long long hi,
                  int *out) {
  const int st = mupc_parse_int(text, lo, hi, out);
  return st ? cli_flag_error(cmd, flag, st) : CLI_EXIT_OK;
}

int cli_parse_u64(const char *cmd, const char *flag, const char *text, uint64_t *out) {
  const int st = mupc_parse_u64(text, out);
  return st ? cli_flag_error(cmd, flag, st) : CLI_EXIT_OK;
}

int cli_parse_float(const char *cmd, const char *flag, const char *text, cli_range range,
                    float *out) {
  const int st = mupc_parse_float(text, range.lo, range.hi, range.lo_open, range.hi_open, out);
  return st ? cli_flag_error(cmd, flag, st) : CLI_EXIT_OK;
}

/* ---- a flag getopt_long refused ---------------------------------------- */

/* The known flag closest to name[0 … n-1] (mupc_closest_name), or NULL
 * when none is close enough to be a slip rather than another word. */
static const struct option *closest_flag(const char *name, size_t n, const struct option *opts) {
  enum { MAX_FLAGS = 256 };
  const char *names[MAX_FLAGS];
  char word[64];
  size_t count = 0;
  for (; opts[count].name && count < MAX_FLAGS; count++) names[count] = opts[count].name;
  snprintf(word, sizeof word, "%.*s", (int)n, name);
  const int i = mupc_closest_name(word, names, count);
  return i < 0 ? NULL : &opts[i];
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

/* mupc_format_number's text, kept by json-c as it is. */
static json_object *json_number(double v, int as_float) {
  char text[32];
  if (!isfinite(v)) return NULL;
  mupc_format_number(v, as_float, text, sizeof text);
  return json_object_new_double_s(v, text);
}

json_object *cli_json_double(double v) { return json_number(v, 0); }

json_object *cli_json_float(float v) { return json_number((double)v, 1); }

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

int cli_parse_gemm(const char *cmd, const char *flag, const char *text, int *out) {
  const int g = mupc_gemm_from_name(text);
  if (g < 0)
    return cli_error(CLI_EXIT_USAGE, cmd, "%s: expected auto, clblast, host or kernels, got '%s'", flag,
                     text);
  *out = g;
  return CLI_EXIT_OK;
}

int cli_ctx_init(const char *cmd, const char *spec, int gemm, int nth, mupc_ctx **ctx) {
  int st = nth < 0 ? mupc_ctx_init(ctx, spec) : mupc_ctx_init_nth(ctx, spec, nth);
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
