/* GEMM tuning: a search over CLBlast's direct-GEMM tile parameters on a
 * network's own shapes, timed on a network it builds; the winner goes to
 * the tuned-parameter store (store.c), which contexts read at creation. */
#include "net.h"
#include "tune/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every valid point of a small grid in a fixed scrambled order, large
 * tiles (WGD >= 32) first: each candidate costs a kernel compile, seconds
 * on a CPU driver, so a short budget should start where CPUs and GPUs
 * both tend to do well and still sample the rest. */
static size_t candidates(mupc__tune_limits lim, size_t (*out)[MUPC_TUNE_NPARAMS], size_t cap) {
  static const size_t wgd[] = {64, 32, 16, 8}, dim[] = {8, 16}, kwid[] = {1, 2, 8},
                      vw[] = {1, 2, 4};
  size_t n = 0, large = 0;
  for (size_t a = 0; a < 4; a++) {
    for (size_t b = 0; b < 16; b++)
      for (size_t c = 0; c < 3; c++)
        for (size_t d = 0; d < 9 && n < cap; d++) {
          size_t v[MUPC_TUNE_NPARAMS] = {wgd[a],
                                         dim[b & 1],
                                         dim[(b >> 1) & 1],
                                         dim[(b >> 2) & 1],
                                         dim[(b >> 3) & 1],
                                         kwid[c],
                                         vw[d % 3],
                                         vw[d / 3],
                                         1,
                                         1};
          if (mupc__tune_valid(v, lim)) memcpy(out[n++], v, sizeof v);
        }
    if (a == 1) large = n;
  }
  uint64_t s = 0x2545F4914F6CDD1Dull;
  for (size_t part = 0; part < 2; part++) {
    const size_t lo = part ? large : 0, hi = part ? n : large;
    for (size_t i = hi; i > lo + 1; i--) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      const size_t j = lo + (size_t)(s % (i - lo)), k = i - 1;
      size_t tmp[MUPC_TUNE_NPARAMS];
      memcpy(tmp, out[k], sizeof tmp);
      memcpy(out[k], out[j], sizeof tmp);
      memcpy(out[j], tmp, sizeof tmp);
    }
  }
  return n;
}

static void format_params(const size_t *v, char *dst, size_t n) {
  size_t used = 0;
  dst[0] = '\0';
  for (int i = 0; i < MUPC_TUNE_NPARAMS && used < n; i++)
    used += (size_t)snprintf(dst + used, n - used, "%s%s=%zu", i ? " " : "",
                             mupc__tune_param_names[i], v[i]);
}

/* GEMMs at these sizes take microseconds to milliseconds, so one timing is
 * noise-prone and the fastest of hundreds of single timings is mostly luck
 * (on a launch-bound GPU a "winner" timed 30 % faster and ran slower).
 * Every figure that decides anything is the median of several timings. */
enum { CONFIRM_TIMES = 5, CONFIRM_TOP = 3 };
#define TUNE_MARGIN 1.03 /* the winner must beat the defaults by 3 % */

static int rate_median(mupc_net *net, double *out) {
  double g[CONFIRM_TIMES];
  for (int i = 0; i < CONFIRM_TIMES; i++) {
    int rc = mupc_net_sgemm_rate(net, 3, &g[i]);
    if (rc) return rc;
  }
  *out = mupc__median(g, CONFIRM_TIMES);
  return MUPC_OK;
}

/* The indices of the (at most) `k` largest positive screening rates,
 * largest first. */
static int top_k(const double *gf, size_t n, long *idx, int k) {
  int m = 0;
  for (; m < k; m++) {
    long best = -1;
    for (size_t i = 0; i < n; i++) {
      int taken = 0;
      for (int j = 0; j < m; j++)
        taken |= idx[j] == (long)i;
      if (!taken && gf[i] > 0 && (best < 0 || gf[i] > gf[best])) best = (long)i;
    }
    if (best < 0) break;
    idx[m] = best;
  }
  return m;
}

int mupc_tune(mupc_ctx *ctx, const mupc_net_params *p, double budget_seconds,
              mupc_tune_progress progress, void *arg, mupc_tune_result *out) {
  enum { CAP = 512 };
  size_t(*cand)[MUPC_TUNE_NPARAMS] = malloc(CAP * sizeof *cand);
  double *screen = calloc(CAP, sizeof *screen);
  mupc_net *net = NULL;
  mupc_tune_result r;
  memset(&r, 0, sizeof r);
  int rc = cand && screen ? MUPC_OK : mupc__fail(MUPC_ENOMEM, "out of host memory");
  if (!rc) rc = mupc_tune_cache_path(r.cache_path, sizeof r.cache_path);
  if (!rc) rc = mupc_net_init(&net, ctx, p);
  if (rc) goto ERROR;
  const size_t n = candidates(mupc__tune_device_limits(ctx), cand, CAP);
  /* The baseline is CLBlast's own choice for this device, measured before
   * any override: CLBlast cannot undo an override later. */
  rc = rate_median(net, &r.gflops_before);
  if (rc) goto ERROR;
  r.gflops_after = r.gflops_before;
  const double start = mupc__seconds();
  size_t tried = 0;
  for (; tried < n && mupc__seconds() - start < budget_seconds; tried++) {
    double gf = 0;
    if (mupc__tune_override(ctx, cand[tried]) == MUPC_OK &&
        mupc_net_sgemm_rate(net, 3, &gf) != MUPC_OK)
      gf = 0;
    screen[tried] = gf;
    r.candidates_tried++;
    if (progress) progress((int)tried, (int)n, gf, arg);
  }
  /* Confirm the screening's best few with medians; candidates that failed
   * (0) are never chosen. */
  long top[CONFIRM_TOP], best = -1;
  double best_rate = 0;
  const int m = top_k(screen, tried, top, CONFIRM_TOP);
  for (int i = 0; i < m; i++) {
    double gf = 0;
    if (mupc__tune_override(ctx, cand[top[i]]) != MUPC_OK || rate_median(net, &gf) != MUPC_OK)
      continue;
    if (gf > best_rate) {
      best_rate = gf;
      best = top[i];
    }
  }
  if (best < 0 || best_rate < r.gflops_before * TUNE_MARGIN) {
    /* Nothing beat the defaults by the margin: cache nothing. This process
     * keeps the last override, which only matters to a caller that goes on
     * computing. */
    if (best >= 0) {
      char params[128];
      format_params(cand[best], params, sizeof params);
      snprintf(r.params, sizeof r.params,
               "CLBlast defaults kept (best candidate %.4g GFLOP/s, %.120s; needs +%d %%)",
               best_rate, params, (int)((TUNE_MARGIN - 1) * 100 + 0.5));
    } else {
      snprintf(r.params, sizeof r.params, "CLBlast defaults kept");
    }
    goto ERROR;
  }
  r.gflops_after = best_rate;
  format_params(cand[best], r.params, sizeof r.params);
  rc = mupc__tune_override(ctx, cand[best]);
  if (!rc) rc = mupc__tune_store_save(ctx, r.cache_path, cand[best], &r, p);
  if (!rc) ctx->tuned = 1;
ERROR:
  mupc_net_free(net);
  free(cand);
  free(screen);
  if (!rc) *out = r;
  return rc;
}
