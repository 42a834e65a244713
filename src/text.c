/* Numbers and names as text, for every front end alike: the strict number
 * parsers behind the parameter table, the checkpoint metadata and the CLI's
 * flags; the shortest decimal text of a number; the closest known name to a
 * mistyped one. And the clock and median of the library's timings. Below
 * everything but status.c. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- strict numbers ------------------------------------------------------ */

/* strtoll and friends skip leading blanks and accept an empty tail; a value
 * must be exactly one number. */
static int starts_clean(const char *s) { return *s && !isspace((unsigned char)*s); }

int mupc__parse_i64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  if (!starts_clean(s)) return 0;
  long long v = strtoll(s, &end, 10);
  if (*end || errno) return 0;
  *out = (int64_t)v;
  return 1;
}

int mupc__parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  /* strtoull would quietly wrap "-1" to the largest value. */
  if (!isdigit((unsigned char)*s)) return 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || errno) return 0;
  *out = (uint64_t)v;
  return 1;
}

/* strtof, not strtod and a cast, which could round twice: the float nearest
 * the text. "1e-50" is 0 as a float and must not pass as "> 0"; "1e39"
 * overflows to inf and is refused. */
int mupc__parse_float(const char *s, float *out) {
  char *end;
  if (!starts_clean(s)) return 0;
  float v = strtof(s, &end);
  if (*end || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

int mupc__in_range(double v, double lo, double hi, int lo_open, int hi_open) {
  if (lo_open ? !(v > lo) : !(v >= lo)) return 0;
  return hi_open ? v < hi : v <= hi;
}

int mupc_parse_int(const char *text, long long lo, long long hi, int *out) {
  if (lo < INT_MIN) lo = INT_MIN;
  if (hi > INT_MAX) hi = INT_MAX;
  int64_t v = 0;
  if (text && mupc__parse_i64(text, &v) && v >= lo && v <= hi) {
    *out = (int)v;
    return MUPC_OK;
  }
  if (hi == INT_MAX) /* no bound but the type's: not worth a number */
    return mupc__fail(MUPC_EINVAL, "expected an integer >= %lld, got '%s'", lo,
                      text ? text : "(null)");
  return mupc__fail(MUPC_EINVAL, "expected an integer in [%lld, %lld], got '%s'", lo, hi,
                    text ? text : "(null)");
}

int mupc_parse_u64(const char *text, uint64_t *out) {
  if (text && mupc__parse_u64(text, out)) return MUPC_OK;
  return mupc__fail(MUPC_EINVAL, "expected an integer >= 0 (64-bit), got '%s'",
                    text ? text : "(null)");
}

/* "> 0", ">= 0", "<= 0", "in [0, 1)" */
static void describe_range(double lo, double hi, int lo_open, int hi_open, char *dst, size_t n) {
  if (isinf(hi) && hi > 0)
    snprintf(dst, n, "%s %g", lo_open ? ">" : ">=", lo);
  else if (isinf(lo) && lo < 0)
    snprintf(dst, n, "%s %g", hi_open ? "<" : "<=", hi);
  else
    snprintf(dst, n, "in %c%g, %g%c", lo_open ? '(' : '[', lo, hi, hi_open ? ')' : ']');
}

int mupc_parse_float(const char *text, double lo, double hi, int lo_open, int hi_open, float *out) {
  float v = 0.0f;
  /* The range applies to the float the caller will use, not to the text. */
  if (text && mupc__parse_float(text, &v) && mupc__in_range(v, lo, hi, lo_open, hi_open)) {
    *out = v;
    return MUPC_OK;
  }
  char want[96];
  describe_range(lo, hi, lo_open, hi_open, want, sizeof want);
  return mupc__fail(MUPC_EINVAL, "expected a number %s, got '%s'", want, text ? text : "(null)");
}

/* ---- shortest decimals ----------------------------------------------------- */

/* The first of %.<min_digits>g … %.17g that strtod (as_float: strtof) reads
 * back to v; %.17g always does for a double and %.9g for a float. */
static void shortest(double v, int as_float, int min_digits, char *dst, size_t n) {
  for (int digits = min_digits; digits <= 17; digits++) {
    snprintf(dst, n, "%.*g", digits, v);
    if (as_float ? strtof(dst, NULL) == (float)v : strtod(dst, NULL) == v) return;
  }
}

/* From %.6g: a float has about 7.2 significant digits, so any value that
 * fewer digits read back exactly prints the same with six ("0.1", not
 * "0.100000001"), in fixed notation up to 999999 as checkpoints have always
 * written it ("100", not "1e+02"). */
void mupc__format_float(float v, char *dst, size_t n) { shortest((double)v, 1, 6, dst, n); }

int mupc_format_number(double v, int as_float, char *dst, size_t n) {
  if (!dst || n < 32)
    return mupc__fail(MUPC_EINVAL, "a number needs 32 bytes, the buffer has %zu", dst ? n : 0);
  if (!isfinite(v) || (as_float && !isfinite((float)v))) {
    snprintf(dst, n, "null");
    return MUPC_OK;
  }
  shortest(v, as_float, 1, dst, n);
  /* As json-c writes doubles, so that readers keep it a float. */
  if (!strpbrk(dst, ".eE")) strcat(dst, ".0");
  return MUPC_OK;
}

/* ---- the closest name ------------------------------------------------------ */

int mupc__name_char(char c) { return c == '_' ? '-' : tolower((unsigned char)c); }

/* Optimal string alignment distance: a swap of two neighbouring letters
 * ("stpes") counts as one edit, as it is one slip. More than `cap` counts as
 * cap + 1, and so does a name too long to be a slip of another. */
static int edits(const char *a, const char *b, int cap) {
  enum { MAXLEN = 40 };
  const size_t na = strlen(a), nb = strlen(b);
  if (na > MAXLEN || nb > MAXLEN) return cap + 1;
  int d[MAXLEN + 1][MAXLEN + 1];
  for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= na; i++)
    for (size_t j = 1; j <= nb; j++) {
      const int ai = mupc__name_char(a[i - 1]), bj = mupc__name_char(b[j - 1]);
      int best = d[i - 1][j - 1] + (ai != bj);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && ai == mupc__name_char(b[j - 2]) && mupc__name_char(a[i - 2]) == bj &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[na][nb] > cap ? cap + 1 : d[na][nb];
}

int mupc_closest_name(const char *name, const char *const *names, size_t count) {
  if (!name || !names) return -1;
  const size_t n = strlen(name);
  /* About one edit in three letters, at least one: further is another
   * word, not a slip. The first of equally close names wins. */
  const int cap = n <= 3 ? 1 : n <= 7 ? 2 : 3;
  int best = -1, best_d = cap + 1;
  for (size_t i = 0; i < count && i < INT_MAX; i++) {
    if (!names[i]) continue;
    const int d = edits(name, names[i], cap);
    if (d < best_d) best_d = d, best = (int)i;
  }
  return best;
}

/* ---- timings --------------------------------------------------------------- */

double mupc__seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double mupc__median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
