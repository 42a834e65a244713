/* Error reporting and strict flag parsing shared by every subcommand. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
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
  case MUPC_OK:
    return CLI_EXIT_OK;
  case MUPC_EINVAL:
  case MUPC_ENOPLATFORM:
  case MUPC_ENODEVICE:
  case MUPC_EIO:
  case MUPC_EFORMAT:
  case MUPC_ESHAPE:
    return CLI_EXIT_USAGE;
  default:
    return CLI_EXIT_FAIL;
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

void cli_format_bytes(uint64_t bytes, char *dst, size_t n) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = (double)bytes;
  size_t u = 0;
  while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024.0;
    u++;
  }
  if (u == 0)
    snprintf(dst, n, "%" PRIu64 " B", bytes);
  else
    snprintf(dst, n, "%.1f %s", v, units[u]);
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

int cli_set_gemm(const char *cmd, const char *flag, mupc_ctx *ctx, int gemm) {
  if (gemm < 0) return CLI_EXIT_OK;
  const int st = mupc_ctx_set_gemm(ctx, (mupc_gemm)gemm);
  return st ? cli_error(cli_exit_code(st), cmd, "%s %s: %s", flag, mupc_gemm_name((mupc_gemm)gemm),
                        mupc_errmsg())
            : CLI_EXIT_OK;
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
