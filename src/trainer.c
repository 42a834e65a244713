/* The trainer (mupc.h, "training"): batches in the seeded order, one
 * training step through mupc_net_train_step_hook (with the gradient sum of a
 * data-parallel reduce as its hook), test-set evaluation, periodic
 * checkpoints held back until they are known good, and the run's position,
 * saved and loaded so that a loaded run continues bit-identically.
 *
 * Why a reduce gives the weights of one net with the global batch B (up to
 * float summation order): each rank's net is built with
 * mupc_net_shard_params (batch B/K, gradients normalised by B), so its
 * weight gradients are exactly its share of the global ones and their sum
 * over the ranks is the global gradient; the optimiser sees only that sum
 * and the weights, identical on every rank, so every rank keeps identical
 * weights without ever sending them (init.c says why the shards' activities
 * are those rows of the global run). Losses and energies are per-sample
 * means over equal shards, so their mean over the ranks is the global one. */
#include "checkpoint.h"
#include "internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mupc_trainer {
  mupc_net *net;
  const mupc_dataset *train, *test;
  mupc_train_opts o;
  mupc_reduce r;      /* ranks 1: one process, no reduction */
  int64_t per_epoch;  /* full global batches in the training set */
  int64_t total;      /* the planned last step */
  int64_t step;       /* steps done, counting those before a load */
  int64_t saved_step; /* the last checkpoint save_every wrote, -1: none */
  uint32_t *perm;     /* (train->count) the order of epoch perm_epoch */
  int64_t perm_epoch;
  float *x, *y; /* this rank's rows of the current batch */
  float *grad;  /* every WEIGHT_GRAD back to back, for the reduce */
  size_t ngrad;
  mupc__snapshot *pending; /* a periodic checkpoint not yet known good */
};

/* ---- evaluation (DESIGN §3) ---------------------------------------------- */

static int argmax(const float *v, int n) {
  int best = 0;
  for (int k = 1; k < n; k++)
    if (v[k] > v[best]) best = k;
  return best;
}

/* One sample's loss against its one-hot label, as DESIGN §2 defines the
 * output term (½‖y − ŷ‖², or −log softmax for CE). */
static double sample_loss(const float *yhat, int classes, int label, mupc_loss loss) {
  if (loss == MUPC_LOSS_CE) {
    /* A probability that underflowed to 0 would make the mean infinite;
     * FLT_MIN bounds one sample's loss at about 87. NaN stays NaN: it is
     * how a diverged model shows. */
    float p = yhat[label] >= 0.0f && yhat[label] < FLT_MIN ? FLT_MIN : yhat[label];
    return -log((double)p);
  }
  double sum = 0.0;
  for (int k = 0; k < classes; k++) {
    double d = (k == label ? 1.0 : 0.0) - (double)yhat[k];
    sum += d * d;
  }
  return 0.5 * sum;
}

/* Correct predictions and summed loss over samples first … first + n - 1,
 * as sums so that shards evaluated by several ranks add up to the whole
 * set's result. */
static int eval_sums(mupc_net *net, const mupc_dataset *d, int first, int n, double sums[2]) {
  const mupc_net_params *p = mupc_net_get_params(net);
  const int C = p->output_dim;
  sums[0] = sums[1] = 0.0;
  if (d->dim != p->input_dim || d->classes > C)
    return mupc__fail(MUPC_EINVAL,
                      "the data set has %d values and %d classes a sample, the net takes %d "
                      "values and %d classes",
                      d->dim, d->classes, p->input_dim, C);
  if (n <= 0) return MUPC_OK;
  float *yhat = malloc((size_t)n * (size_t)C * sizeof *yhat);
  if (!yhat) return mupc__fail(MUPC_ENOMEM, "out of host memory for %d predictions", n);
  int st = mupc_net_predict(net, d->x + (size_t)first * (size_t)d->dim, n, yhat);
  for (int i = 0; i < n && st == MUPC_OK; i++) {
    const float *row = yhat + (size_t)i * C;
    sums[0] += argmax(row, C) == d->labels[first + i];
    sums[1] += sample_loss(row, C, d->labels[first + i], p->loss);
  }
  free(yhat);
  return st;
}

static void eval_result(const double sums[2], int count, mupc_eval_result *out) {
  out->count = count;
  out->acc = count ? sums[0] / count : 0.0;
  out->loss = count ? sums[1] / count : 0.0;
}

int mupc_evaluate(mupc_net *net, const mupc_dataset *d, mupc_eval_result *out) {
  double sums[2];
  int st = eval_sums(net, d, 0, d->count, sums);
  if (st == MUPC_OK) eval_result(sums, d->count, out);
  return st;
}

/* Each rank predicts its contiguous share of d; the sums are added over
 * the ranks. */
int mupc_trainer_evaluate(mupc_trainer *tr, const mupc_dataset *d, mupc_eval_result *out) {
  if (!d) d = tr->test;
  if (!d)
    return mupc__fail(MUPC_EINVAL, "evaluate: no data set given and the trainer has no test set");
  const int n = d->count, K = tr->r.ranks, k = tr->r.rank;
  const int first = (int)((int64_t)n * k / K), last = (int)((int64_t)n * (k + 1) / K);
  double sums[2];
  int st = eval_sums(tr->net, d, first, last - first, sums);
  if (st == MUPC_OK && K > 1 && (st = tr->r.sum_doubles(sums, 2, tr->r.arg)) != MUPC_OK)
    return mupc__fail(st, "evaluate: the reduce's sum_doubles failed: %s", mupc_strerror(st));
  if (st == MUPC_OK) eval_result(sums, n, out);
  return st;
}

/* ---- plan, batches and the reduce ---------------------------------------- */

static int global_batch(const mupc_trainer *tr) {
  return mupc_net_get_params(tr->net)->batch * tr->r.ranks;
}

/* Full global batches per epoch and the planned total. */
static int plan(mupc_trainer *tr) {
  const int B = global_batch(tr);
  if (tr->train->count < B)
    return mupc__fail(MUPC_EINVAL, "the training set's %d samples hold no full batch of %d",
                      tr->train->count, B);
  tr->per_epoch = tr->train->count / B;
  tr->total = tr->o.epochs > 0 ? (int64_t)tr->o.epochs * tr->per_epoch : tr->o.steps;
  return MUPC_OK;
}

/* This rank's rows [rank·b, (rank+1)·b) of global batch `step`: epoch e takes
 * the samples in the order of mupc_shuffle_rng(rng, seed, e), or in file
 * order, batch after batch, and drops its last partial batch. */
static void gather(mupc_trainer *tr, int64_t step) {
  const mupc_net_params *p = mupc_net_get_params(tr->net);
  const int64_t epoch = step / tr->per_epoch, pos = step % tr->per_epoch;
  const uint32_t count = (uint32_t)tr->train->count;
  if (epoch != tr->perm_epoch) {
    if (tr->o.shuffle)
      mupc_shuffle_rng(p->rng, tr->perm, count, p->seed, (uint64_t)epoch);
    else
      for (uint32_t i = 0; i < count; i++)
        tr->perm[i] = i;
    tr->perm_epoch = epoch;
  }
  const int64_t first = pos * global_batch(tr) + (int64_t)tr->r.rank * p->batch;
  mupc_dataset_gather(tr->train, tr->perm + first, p->batch, tr->x, tr->y);
}

/* The grad hook under a reduce: every rank's WEIGHT_GRAD tensors become the
 * sum of all ranks', each already its share of the global gradient. */
static int reduce_grads(mupc_net *net, void *arg) {
  mupc_trainer *tr = arg;
  const int L = mupc_net_get_params(net)->depth;
  float *at = tr->grad;
  int st = MUPC_OK;
  for (int l = 0; l < L && st == MUPC_OK; at += mupc_net_tensor_size(net, MUPC_T_WEIGHT_GRAD, l++))
    st = mupc_net_read(net, MUPC_T_WEIGHT_GRAD, l, at);
  if (st != MUPC_OK) return st;
  if ((st = tr->r.sum_floats(tr->grad, tr->ngrad, tr->r.arg)) != MUPC_OK)
    return mupc__fail(st, "the reduce's sum_floats failed: %s", mupc_strerror(st));
  at = tr->grad;
  for (int l = 0; l < L && st == MUPC_OK; at += mupc_net_tensor_size(net, MUPC_T_WEIGHT_GRAD, l++))
    st = mupc_net_write(net, MUPC_T_WEIGHT_GRAD, l, at);
  return st;
}

/* The step's loss and energy as the mean over the ranks, the same on every
 * rank, so that all of them agree on a divergence. */
static int mean_stats(mupc_trainer *tr, mupc_step_stats *s) {
  double v[2] = {s->train_loss, s->energy};
  int st = tr->r.sum_doubles(v, 2, tr->r.arg);
  if (st != MUPC_OK)
    return mupc__fail(st, "the reduce's sum_doubles failed: %s", mupc_strerror(st));
  s->train_loss = (float)(v[0] / tr->r.ranks);
  s->energy = (float)(v[1] / tr->r.ranks);
  if (isfinite(s->train_loss) && isfinite(s->energy)) return MUPC_OK;
  return mupc__fail(MUPC_ENONFINITE, "training loss %g, energy %g (mean over %d ranks)",
                    (double)s->train_loss, (double)s->energy, tr->r.ranks);
}

/* ---- life cycle ------------------------------------------------------------ */

/* The data directory made absolute, so that a checkpoint's is found from any
 * working directory. */
static int absolute_dir(char *dir) {
  char cwd[MUPC_PATH_MAX], abs[MUPC_PATH_MAX];
  if (!dir[0] || dir[0] == '/' || !getcwd(cwd, sizeof cwd)) return MUPC_OK;
  const int n = snprintf(abs, sizeof abs, "%s/%s", cwd, dir);
  if (n < 0 || (size_t)n >= sizeof abs)
    return mupc__fail(MUPC_EINVAL, "data_dir %s/%s: longer than %d bytes", cwd, dir,
                      MUPC_PATH_MAX - 1);
  memcpy(dir, abs, sizeof abs);
  return MUPC_OK;
}

static int check_opts(const mupc_train_opts *o) {
  if (o->steps < 0 || o->epochs < 0 || o->eval_every < 0 || o->save_every < 0)
    return mupc__fail(MUPC_EINVAL,
                      "steps %lld, epochs %d, eval_every %d, save_every %d: expected >= 0",
                      (long long)o->steps, o->epochs, o->eval_every, o->save_every);
  if (o->save_every > 0 && !o->save[0])
    return mupc__fail(MUPC_EINVAL, "save_every %d needs a path in save", o->save_every);
  return MUPC_OK;
}

int mupc_trainer_init(mupc_trainer **out, mupc_net *net, const mupc_dataset *train,
                      const mupc_dataset *test, const mupc_train_opts *o) {
  const mupc_train_opts defaults = mupc_train_default_opts();
  if (!o) o = &defaults;
  const mupc_net_params *p = mupc_net_get_params(net);
  int st = check_opts(o);
  if (st) return st;
  if (train->dim != p->input_dim || train->classes != p->output_dim)
    return mupc__fail(MUPC_EINVAL,
                      "the training set has %d values and %d classes a sample, the net takes %d "
                      "values and %d classes",
                      train->dim, train->classes, p->input_dim, p->output_dim);
  if (test && test->dim != p->input_dim)
    return mupc__fail(MUPC_EINVAL, "the test set has %d values a sample, the net takes %d",
                      test->dim, p->input_dim);
  mupc_trainer *tr = calloc(1, sizeof *tr);
  if (!tr) return mupc__fail(MUPC_ENOMEM, "out of host memory for a trainer");
  *tr = (mupc_trainer){.net = net,
                       .train = train,
                       .test = test,
                       .o = *o,
                       .saved_step = -1,
                       .perm_epoch = -1,
                       .r = {.rank = 0, .ranks = 1}};
  tr->perm = malloc((size_t)train->count * sizeof *tr->perm);
  tr->x = malloc((size_t)p->batch * (size_t)p->input_dim * sizeof *tr->x);
  tr->y = malloc((size_t)p->batch * (size_t)p->output_dim * sizeof *tr->y);
  st = tr->perm && tr->x && tr->y ? plan(tr)
                                  : mupc__fail(MUPC_ENOMEM, "out of host memory for the batches");
  if (!st) st = absolute_dir(tr->o.data_dir);
  if (st) {
    mupc_trainer_free(tr);
    return st;
  }
  *out = tr;
  return MUPC_OK;
}

void mupc_trainer_free(mupc_trainer *tr) {
  if (!tr) return;
  mupc__snapshot_free(tr->pending);
  free(tr->perm);
  free(tr->x);
  free(tr->y);
  free(tr->grad);
  free(tr);
}

int mupc_trainer_set_reduce(mupc_trainer *tr, const mupc_reduce *r) {
  const mupc_reduce none = {.rank = 0, .ranks = 1};
  if (!r) r = &none;
  if (r->ranks < 1 || r->rank < 0 || r->rank >= r->ranks ||
      (r->ranks > 1 && (!r->sum_floats || !r->sum_doubles)))
    return mupc__fail(MUPC_EINVAL,
                      "reduce: rank %d of %d ranks, sum_floats and sum_doubles "
                      "needed: expected 0 <= rank < ranks and both functions",
                      r->rank, r->ranks);
  const mupc_reduce old = tr->r;
  tr->r = *r;
  int st = plan(tr);
  if (st == MUPC_OK && r->ranks > 1 && !tr->grad) {
    const int L = mupc_net_get_params(tr->net)->depth;
    tr->ngrad = 0;
    for (int l = 0; l < L; l++)
      tr->ngrad += mupc_net_tensor_size(tr->net, MUPC_T_WEIGHT_GRAD, l);
    tr->grad = malloc(tr->ngrad * sizeof *tr->grad);
    if (!tr->grad) st = mupc__fail(MUPC_ENOMEM, "out of host memory for the gradient reduce");
  }
  if (st) {
    tr->r = old;
    plan(tr);
  }
  tr->perm_epoch = -1;
  return st;
}

int64_t mupc_trainer_position(const mupc_trainer *tr) {
  return tr->step;
}
int64_t mupc_trainer_total_steps(const mupc_trainer *tr) {
  return tr->total;
}
int64_t mupc_trainer_steps_per_epoch(const mupc_trainer *tr) {
  return tr->per_epoch;
}
int64_t mupc_trainer_saved_step(const mupc_trainer *tr) {
  return tr->saved_step;
}

int mupc_trainer_set_total_steps(mupc_trainer *tr, int64_t steps) {
  if (steps < 0)
    return mupc__fail(MUPC_EINVAL, "total steps %lld: expected >= 0", (long long)steps);
  tr->total = steps;
  return MUPC_OK;
}

/* ---- checkpoints ----------------------------------------------------------- */

/* What a checkpoint records of this run: the global parameters (under a
 * reduce batch is the global batch and norm_batch 0, so that any number of
 * ranks resumes it), the options with the plan resolved into steps (so that
 * a run planned in epochs and one planned in steps write the same bytes),
 * and the position. */
static void run_meta(const mupc_trainer *tr, mupc_checkpoint *ck) {
  const mupc_train_opts d = mupc_train_default_opts();
  memset(ck, 0, sizeof *ck);
  ck->p = *mupc_net_get_params(tr->net);
  ck->p.batch = global_batch(tr);
  ck->p.norm_batch = 0;
  ck->has_run = 1;
  ck->o = tr->o;
  ck->o.steps = tr->total;
  ck->o.epochs = 0;
  memcpy(ck->o.save, d.save, sizeof d.save);
  ck->o.save_every = d.save_every;
  ck->o.eval_every = d.eval_every;
  ck->step = tr->step;
  ck->epoch = tr->step / tr->per_epoch;
  ck->epoch_step = tr->step % tr->per_epoch;
  ck->train_count = tr->train->count;
  ck->optim_t = mupc_net_optim_step(tr->net);
  memcpy(ck->version, MUPC_VERSION, sizeof MUPC_VERSION);
}

static int take(mupc_trainer *tr, mupc__snapshot **out) {
  mupc_checkpoint *ck = malloc(sizeof *ck);
  if (!ck) return mupc__fail(MUPC_ENOMEM, "out of host memory for a checkpoint");
  run_meta(tr, ck);
  int st = mupc__snapshot_take(tr->net, ck, out);
  free(ck);
  return st;
}

static void drop_pending(mupc_trainer *tr) {
  mupc__snapshot_free(tr->pending);
  tr->pending = NULL;
}

int mupc_trainer_save(mupc_trainer *tr, const char *path) {
  if (!path) return mupc__fail(MUPC_EINVAL, "mupc_trainer_save: path must be set");
  /* The state now supersedes a periodic checkpoint still held back for the
   * same file. */
  const int periodic = !strcmp(path, tr->o.save);
  if (periodic) drop_pending(tr);
  mupc__snapshot *s = NULL;
  int st = take(tr, &s);
  if (st == MUPC_OK) st = mupc__snapshot_write(s, path);
  if (st == MUPC_OK && periodic) tr->saved_step = tr->step;
  mupc__snapshot_free(s);
  return st;
}

/* The first net parameter stored in checkpoints on which ck and mine
 * differ, compared as --resume compares them (mupc_checkpoint_conflict: one
 * rule, -0 and 0 the same rate): MUPC_EINVAL naming it with both values. */
static int check_net(const char *path, const mupc_checkpoint *ck, const mupc_checkpoint *mine) {
  char have[MUPC_PATH_MAX], want[MUPC_PATH_MAX];
  for (size_t i = 0; i < mupc_params_count(); i++) {
    const mupc_param_info *row = mupc_params_info(i);
    if (row->scope != MUPC_PSCOPE_NET || !row->key || (row->flags & MUPC_PFLAG_INTERNAL)) continue;
    int st = mupc_checkpoint_conflict(ck, &mine->p, NULL, row->name, have, sizeof have);
    if (st == MUPC_OK && have[0])
      st = mupc_checkpoint_conflict(mine, &ck->p, NULL, row->name, want, sizeof want);
    if (st != MUPC_OK) return st;
    if (have[0]) return mupc__fail(MUPC_EINVAL, "%s has %s, this trainer's net %s", path, have, want);
  }
  return MUPC_OK;
}

/* Whether the checkpoint continues this trainer's run: the same network,
 * data order and position arithmetic. */
static int check_run(const mupc_trainer *tr, const char *path, const mupc_checkpoint *ck,
                     const mupc_checkpoint *mine) {
  if (!ck->has_run)
    return mupc__fail(MUPC_EINVAL,
                      "%s holds a net without a training run (mupc_net_save); "
                      "load its weights with mupc_net_load",
                      path);
  const int st = check_net(path, ck, mine);
  if (st != MUPC_OK) return st;
  if (ck->train_count != mine->train_count)
    return mupc__fail(MUPC_EINVAL, "%s was trained on %lld samples, this training set has %lld",
                      path, (long long)ck->train_count, (long long)mine->train_count);
  if (ck->o.shuffle != mine->o.shuffle)
    return mupc__fail(MUPC_EINVAL, "%s has shuffle %s, this trainer %s", path,
                      ck->o.shuffle ? "on" : "off", mine->o.shuffle ? "on" : "off");
  if (ck->epoch * tr->per_epoch + ck->epoch_step != ck->step)
    return mupc__fail(MUPC_EINVAL, "%s: step %lld is not epoch %lld + %lld batches of %lld", path,
                      (long long)ck->step, (long long)ck->epoch, (long long)ck->epoch_step,
                      (long long)tr->per_epoch);
  return MUPC_OK;
}

int mupc_trainer_load(mupc_trainer *tr, const char *path) {
  if (!path) return mupc__fail(MUPC_EINVAL, "mupc_trainer_load: path must be set");
  mupc_checkpoint *ck = malloc(2 * sizeof *ck);
  if (!ck) return mupc__fail(MUPC_ENOMEM, "out of host memory for a checkpoint");
  mupc_st_file f = {0};
  run_meta(tr, &ck[1]);
  /* The file is read once: its metadata checked, then its tensors loaded. */
  int st = mupc_st_read(path, &f);
  if (st == MUPC_OK) st = mupc__checkpoint_read_meta(&f, path, &ck[0]);
  if (st == MUPC_OK) st = check_run(tr, path, &ck[0], &ck[1]);
  if (st == MUPC_OK) st = mupc__checkpoint_load_tensors(tr->net, &f, path, 1, ck[0].optim_t);
  if (st == MUPC_OK) {
    tr->step = ck[0].step;
    tr->saved_step = -1;
    drop_pending(tr);
  }
  mupc_st_free(&f);
  free(ck);
  return st;
}

/* ---- steps ----------------------------------------------------------------- */

/* The step's checkpoint duties: a held-back checkpoint is written once this
 * step's loss, computed with its weights, proved finite; a new one is held
 * back every save_every steps but the last (the caller saves the end). Under
 * a reduce rank 0 alone writes. */
static int write_pending(mupc_trainer *tr) {
  if (!tr->pending) return MUPC_OK;
  int st = mupc__snapshot_write(tr->pending, tr->o.save);
  if (st == MUPC_OK) tr->saved_step = mupc__snapshot_step(tr->pending);
  drop_pending(tr);
  return st;
}

int mupc_trainer_step(mupc_trainer *tr, mupc_train_metrics *m) {
  const int64_t step = tr->step, done = step + 1;
  memset(m, 0, sizeof *m);
  m->step = done;
  m->epoch = step / tr->per_epoch + 1;
  gather(tr, step);
  mupc_step_stats s = {0};
  int st = mupc_net_train_step_hook(tr->net, tr->x, tr->y, tr->r.ranks > 1 ? reduce_grads : NULL,
                                    tr, &s);
  /* A rank whose own loss diverged still takes part in the mean, which
   * then diverges on every rank. */
  if (tr->r.ranks > 1 && (st == MUPC_OK || st == MUPC_ENONFINITE)) st = mean_stats(tr, &s);
  m->train_loss = s.train_loss;
  m->energy = s.energy;
  if (st != MUPC_OK && st != MUPC_ENONFINITE) return st;
  tr->step = done; /* the weights are updated either way */
  if (st == MUPC_ENONFINITE) {
    drop_pending(tr); /* the weights it holds led here: not known good */
    return st;
  }
  if ((st = write_pending(tr)) != MUPC_OK) return st;
  if (tr->test && tr->o.eval_every && done % tr->o.eval_every == 0 && done != tr->total) {
    mupc_eval_result ev;
    if ((st = mupc_trainer_evaluate(tr, NULL, &ev)) != MUPC_OK) return st;
    m->evaluated = 1;
    m->test_acc = ev.acc;
    m->test_loss = ev.loss;
  }
  if (tr->o.save_every && tr->o.save[0] && done % tr->o.save_every == 0 && done != tr->total &&
      tr->r.rank == 0)
    st = take(tr, &tr->pending);
  return st;
}

int mupc_trainer_run(mupc_trainer *tr, mupc_train_callback cb, void *arg) {
  while (tr->step < tr->total) {
    mupc_train_metrics m;
    const int st = mupc_trainer_step(tr, &m);
    /* The callback sees a diverged step too: its line shows where. Under a
     * reduce it must decide the same on every rank. */
    const int stop = (st == MUPC_OK || st == MUPC_ENONFINITE) && cb && cb(&m, arg);
    if (st != MUPC_OK) return st;
    if (stop)
      return mupc__fail(MUPC_EINTR, "the callback stopped the run after step %lld",
                        (long long)m.step);
  }
  return MUPC_OK;
}
