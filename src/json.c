/* JSON that every front end shares, from one writer so that all read the
 * same: a training run's metrics lines (README, "Metrics"), which `mupc
 * train --metrics` writes and the Python package's fit returns, and a
 * network's parameters (`mupc bench --json`'s "config"). */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct line {
  char text[MUPC_PARAMS_JSON_MAX];
  size_t used; /* past the end once it overflows */
} line;

static void put(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(line *l, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const size_t room = l->used < sizeof l->text ? sizeof l->text - l->used : 0;
  const int n = vsnprintf(room ? l->text + l->used : NULL, room, fmt, ap);
  va_end(ap);
  l->used += n > 0 ? (size_t)n : 0;
}

/* "key": after a comma unless it is the object's first member. */
static void member(line *l, const char *key) { put(l, "%s\"%s\":", l->used > 1 ? "," : "", key); }

/* A float in the shortest text of the float, not of the double it was
 * widened to. */
static void number(line *l, const char *key, double v, int as_float) {
  char text[32];
  (void)mupc_format_number(v, as_float, text, sizeof text);
  member(l, key);
  put(l, "%s", text);
}

/* The closed object into dst, only if it fits. */
static int finish(line *l, const char *what, char *dst, size_t n) {
  put(l, "}");
  if (!dst || l->used >= n || l->used >= sizeof l->text)
    return mupc__fail(MUPC_EINVAL, "%s: it needs %zu bytes, the buffer has %zu", what,
                      l->used + 1, dst ? n : 0);
  memcpy(dst, l->text, l->used + 1);
  return MUPC_OK;
}

int mupc_train_metrics_json(const mupc_train_metrics *m, double seconds, char *dst, size_t n) {
  if (!m) return mupc__fail(MUPC_EINVAL, "metrics line: no metrics (NULL)");
  line l = {.used = 0};
  put(&l, "{\"step\":%lld,\"epoch\":%lld", (long long)m->step, (long long)m->epoch);
  number(&l, "train_loss", m->train_loss, 1);
  number(&l, "energy", m->energy, 1);
  number(&l, "seconds", seconds, 0);
  if (m->evaluated) {
    number(&l, "test_acc", m->test_acc, 0);
    number(&l, "test_loss", m->test_loss, 0);
  }
  return finish(&l, "metrics line", dst, n);
}

int mupc_train_final_json(int64_t step, const mupc_eval_result *ev, double seconds, char *dst,
                          size_t n) {
  if (!ev) return mupc__fail(MUPC_EINVAL, "metrics line: no evaluation (NULL)");
  line l = {.used = 0};
  put(&l, "{\"final\":true,\"step\":%lld", (long long)step);
  number(&l, "test_acc", ev->acc, 0);
  number(&l, "test_loss", ev->loss, 0);
  number(&l, "seconds", seconds, 0);
  return finish(&l, "metrics line", dst, n);
}

/* Names and paths, escaped as JSON strings. */
static void string(line *l, const char *key, const char *text) {
  member(l, key);
  put(l, "\"");
  for (const char *c = text; *c; c++)
    if (*c == '"' || *c == '\\')
      put(l, "\\%c", *c);
    else if ((unsigned char)*c < 0x20)
      put(l, "\\u%04x", (unsigned)*c);
    else
      put(l, "%c", *c);
  put(l, "\"");
}

int mupc_params_json(const mupc_net_params *p, char *dst, size_t n) {
  if (!p) return mupc__fail(MUPC_EINVAL, "parameters as JSON: no parameters (NULL)");
  line l = {.used = 0};
  char v[MUPC_PATH_MAX];
  put(&l, "{");
  for (size_t i = 0; i < mupc_params_count(); i++) {
    const mupc_param_info *row = mupc_params_info(i);
    if (row->scope != MUPC_PSCOPE_NET || !row->key || (row->flags & MUPC_PFLAG_INTERNAL)) continue;
    const int st = mupc_params_get(p, row->name, v, sizeof v);
    if (st != MUPC_OK) return st;
    const mupc_ptype t = row->type;
    if (t == MUPC_PTYPE_FLOAT)
      number(&l, row->key, strtof(v, NULL), 1);
    else if (t == MUPC_PTYPE_BOOL || t == MUPC_PTYPE_INT || t == MUPC_PTYPE_I64 ||
             t == MUPC_PTYPE_U64) {
      member(&l, row->key);
      put(&l, "%s", t != MUPC_PTYPE_BOOL ? v : strcmp(v, "0") ? "true" : "false");
    } else
      string(&l, row->key, v);
  }
  return finish(&l, "parameters as JSON", dst, n);
}
