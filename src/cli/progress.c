/* The progress bar and the plain progress lines of `mupc train`. */
#include "progress.h"

#include <stdio.h>

#define BAR_CELLS 16
#define BAR_REDRAW_S 0.1 /* a fast tiny model must not flood the terminal */

void progress_start(progress *pg, progress_mode mode, int64_t first, int64_t total,
                    int64_t per_epoch, int64_t line_every, double now) {
  *pg = (progress){.mode = mode,
                   .first = first,
                   .total = total,
                   .per_epoch = per_epoch,
                   .line_every = line_every > 0 ? line_every : 1,
                   .start = now,
                   .last_draw = -1.0};
}

/* "1:02:03" or "2:03"; "-" before the rate is known. */
static void format_eta(double seconds, char *dst, size_t n) {
  if (!(seconds >= 0) || seconds > 1e8) {
    snprintf(dst, n, "-");
    return;
  }
  long s = (long)(seconds + 0.5);
  if (s >= 3600)
    snprintf(dst, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    snprintf(dst, n, "%ld:%02ld", s / 60, s % 60);
}

typedef struct snapshot {
  int64_t epoch; /* 1-based */
  double rate;   /* steps per second in this run */
  char eta[32];
  char test[32];
} snapshot;

static void take(const progress *pg, int64_t step, double now, snapshot *s) {
  const double elapsed = now - pg->start;
  s->epoch = (step - 1) / pg->per_epoch + 1;
  s->rate = elapsed > 0 ? (double)(step - pg->first) / elapsed : 0.0;
  format_eta(s->rate > 0 ? (double)(pg->total - step) / s->rate : -1.0, s->eta, sizeof s->eta);
  if (pg->have_test)
    snprintf(s->test, sizeof s->test, "%.2f%%", 100.0 * pg->test_acc);
  else
    snprintf(s->test, sizeof s->test, "-");
}

static void draw_bar(progress *pg, int64_t step, float loss, double now) {
  snapshot s;
  take(pg, step, now, &s);
  char bar[BAR_CELLS + 1];
  const int64_t done = pg->total > 0 ? step * BAR_CELLS / pg->total : BAR_CELLS;
  for (int i = 0; i < BAR_CELLS; i++)
    bar[i] = i < done ? '#' : '.';
  bar[BAR_CELLS] = '\0';
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
  if (m->evaluated) fprintf(stderr, "  test acc %.2f%% loss %.5g", 100.0 * m->test_acc, m->test_loss);
  fputc('\n', stderr);
}

void progress_update(progress *pg, const mupc_train_metrics *m, double now) {
  const int64_t step = m->step;
  const int ev = m->evaluated;
  if (ev) {
    pg->have_test = 1;
    pg->test_acc = m->test_acc;
  }
  switch (pg->mode) {
  case PROGRESS_QUIET:
    break;
  case PROGRESS_LINES:
    if (ev || step % pg->line_every == 0 || step == pg->total)
      print_line(pg, m, now);
    break;
  case PROGRESS_BAR:
    if (ev || step == pg->total || now - pg->last_draw >= BAR_REDRAW_S)
      draw_bar(pg, step, m->train_loss, now);
    break;
  }
}

void progress_break(progress *pg) {
  if (pg->drawn) {
    fputc('\n', stderr);
    fflush(stderr);
  }
  pg->drawn = 0;
}
