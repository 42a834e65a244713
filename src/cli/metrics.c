/* JSON-lines metrics of `mupc train`. */
#include "metrics.h"

#include "cli.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

int metrics_open(metrics *m, const char *cmd, const char *path) {
  m->f = NULL;
  m->path = path;
  if (!path) return CLI_EXIT_OK;
  m->f = fopen(path, "w");
  if (m->f) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_USAGE, cmd, "--metrics: cannot create %s: %s", path, strerror(errno));
}

static void add(json_object *o, const char *key, json_object *v) {
  /* A NULL value is JSON null; json-c takes ownership either way. */
  json_object_object_add(o, key, v);
}

static void add_eval(json_object *o, double acc, double loss) {
  add(o, "test_acc", cli_json_double(acc));
  add(o, "test_loss", cli_json_double(loss));
}

/* Writes one line and flushes it, so a full disk shows at once and a
 * reader following the file sees every step. Frees o. */
static int emit(metrics *m, const char *cmd, json_object *o) {
  const char *text =
      json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  int ok = text && fputs(text, m->f) >= 0 && fputc('\n', m->f) != EOF && fflush(m->f) == 0;
  int err = errno;
  json_object_put(o);
  if (ok) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_FAIL, cmd, "--metrics: writing %s failed: %s", m->path,
                   text ? strerror(err) : "out of memory");
}

int metrics_step(metrics *m, const char *cmd, const mupc_train_metrics *t, double seconds) {
  if (!m->f) return CLI_EXIT_OK;
  json_object *o = json_object_new_object();
  if (!o) return cli_error(CLI_EXIT_FAIL, cmd, "--metrics: out of memory");
  add(o, "step", json_object_new_int64(t->step));
  add(o, "epoch", json_object_new_int64(t->epoch));
  /* Floats as floats: the shortest text of the float, not of the double. */
  add(o, "train_loss", cli_json_float(t->train_loss));
  add(o, "energy", cli_json_float(t->energy));
  add(o, "seconds", cli_json_double(seconds));
  if (t->evaluated) add_eval(o, t->test_acc, t->test_loss);
  return emit(m, cmd, o);
}

int metrics_final(metrics *m, const char *cmd, int64_t step, const mupc_eval_result *ev,
                  double seconds) {
  if (!m->f) return CLI_EXIT_OK;
  json_object *o = json_object_new_object();
  if (!o) return cli_error(CLI_EXIT_FAIL, cmd, "--metrics: out of memory");
  add(o, "final", json_object_new_boolean(1));
  add(o, "step", json_object_new_int64(step));
  add_eval(o, ev->acc, ev->loss);
  add(o, "seconds", cli_json_double(seconds));
  return emit(m, cmd, o);
}

int metrics_close(metrics *m, const char *cmd) {
  if (!m->f) return CLI_EXIT_OK;
  int failed = fclose(m->f) != 0;
  int err = errno;
  m->f = NULL;
  if (!failed) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_FAIL, cmd, "--metrics: closing %s failed: %s", m->path, strerror(err));
}
