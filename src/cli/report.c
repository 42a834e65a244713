/* The progress bar and lines, and the JSON-lines metrics, of `mupc train`. */
#include "report.h"

#include "cli.h"

#include <errno.h>
#include <string.h>

/* ---- progress ------------------------------------------------------------ */

#define BAR_CELLS 16
#define BAR_REDRAW_S 0.1 /* a fast tiny model must not flood the terminal */

void progress_start(progress *pg, progress_mode mode, int64_t first, int64_t total,
                    int64_t per_epoch, int64_t line_every, double now) {
  *pg = (progress){.mode = mode, .first = first, .total = total, .per_epoch = per_epoch,
                   .line_every = line_every > 0 ? line_every : 1, .start = now, .last_draw = -1};
}

typedef struct snapshot {
  int64_t epoch; /* 1-based */
  double rate;   /* steps per second in this run */
  char eta[32];  /* "1:02:03" or "2:03"; "-" before the rate is known */
  char test[32];
} snapshot;

static void take(const progress *pg, int64_t step, double now, snapshot *s) {
  const double elapsed = now - pg->start;
  s->epoch = (step - 1) / pg->per_epoch + 1;
  s->rate = elapsed > 0 ? (double)(step - pg->first) / elapsed : 0.0;
  const double eta = s->rate > 0 ? (double)(pg->total - step) / s->rate : -1.0;
  const long t = (long)(eta + 0.5);
  if (!(eta >= 0) || eta > 1e8)
    snprintf(s->eta, sizeof s->eta, "-");
  else if (t >= 3600)
    snprintf(s->eta, sizeof s->eta, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(s->eta, sizeof s->eta, "%ld:%02ld", t / 60, t % 60);
  snprintf(s->test, sizeof s->test, "-");
  if (pg->have_test) snprintf(s->test, sizeof s->test, "%.2f%%", 100.0 * pg->test_acc);
}

static void draw_bar(progress *pg, int64_t step, float loss, double now) {
  snapshot s;
  take(pg, step, now, &s);
  char bar[BAR_CELLS + 1] = "";
  const int64_t done = pg->total > 0 ? step * BAR_CELLS / pg->total : BAR_CELLS;
  for (int i = 0; i < BAR_CELLS; i++) bar[i] = i < done ? '#' : '.';
  /* \r and "erase to end of line": a shorter line leaves no residue. */
  fprintf(stderr, "\r\033[K[%s] %lld/%lld ep %lld %.2f st/s ETA %s loss %.4g acc %s", bar,
          (long long)step, (long long)pg->total, (long long)s.epoch, s.rate, s.eta, (double)loss,
          s.test);
  fflush(stderr);
  pg->drawn = 1;
  pg->last_draw = now;
}

static void print_line(const progress *pg, const mupc_train_metrics *m, double now) {
  snapshot s;
  take(pg, m->step, now, &s);
  fprintf(stderr, "step %lld/%lld  epoch %lld  %.2f steps/s  ETA %s  train loss %.5g",
          (long long)m->step, (long long)pg->total, (long long)s.epoch, s.rate, s.eta,
          (double)m->train_loss);
  if (m->evaluated) fprintf(stderr, "  test acc %.2f%% loss %.5g", 100 * m->test_acc, m->test_loss);
  fputc('\n', stderr);
}

void progress_update(progress *pg, const mupc_train_metrics *m, double now) {
  if (m->evaluated) pg->have_test = 1, pg->test_acc = m->test_acc;
  const int due = m->evaluated || m->step == pg->total;
  if (pg->mode == PROGRESS_LINES && (due || m->step % pg->line_every == 0))
    print_line(pg, m, now);
  if (pg->mode == PROGRESS_BAR && (due || now - pg->last_draw >= BAR_REDRAW_S))
    draw_bar(pg, m->step, m->train_loss, now);
}

void progress_break(progress *pg) {
  if (pg->drawn) fputc('\n', stderr), fflush(stderr);
  pg->drawn = 0;
}

/* ---- metrics ------------------------------------------------------------- */

int metrics_open(metrics *m, const char *cmd, const char *path) {
  *m = (metrics){.f = path ? fopen(path, "w") : NULL, .path = path};
  if (!path || m->f) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_USAGE, cmd, "--metrics: cannot create %s: %s", path, strerror(errno));
}

/* Writes the library's line (st: how making it went) and flushes it, so a
 * full disk shows at once and a reader following the file sees every step. */
static int emit(metrics *m, const char *cmd, int st, const char *text) {
  if (st) return cli_error(CLI_EXIT_FAIL, cmd, "--metrics: %s", mupc_errmsg());
  const int ok = fputs(text, m->f) >= 0 && fputc('\n', m->f) != EOF && fflush(m->f) == 0;
  if (ok) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_FAIL, cmd, "--metrics: writing %s failed: %s", m->path,
                   strerror(errno));
}

int metrics_step(metrics *m, const char *cmd, const mupc_train_metrics *t, double seconds) {
  char text[MUPC_METRICS_JSON_MAX];
  if (!m->f) return CLI_EXIT_OK;
  return emit(m, cmd, mupc_train_metrics_json(t, seconds, text, sizeof text), text);
}

int metrics_final(metrics *m, const char *cmd, int64_t step, const mupc_eval_result *ev,
                  double seconds) {
  char text[MUPC_METRICS_JSON_MAX];
  if (!m->f) return CLI_EXIT_OK;
  return emit(m, cmd, mupc_train_final_json(step, ev, seconds, text, sizeof text), text);
}

int metrics_close(metrics *m, const char *cmd) {
  const int failed = m->f && fclose(m->f) != 0, err = errno;
  m->f = NULL;
  if (!failed) return CLI_EXIT_OK;
  return cli_error(CLI_EXIT_FAIL, cmd, "--metrics: closing %s failed: %s", m->path, strerror(err));
}
