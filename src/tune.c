/* GEMM tuning: a search over CLBlast's direct-GEMM tile parameters on a
 * network's own shapes, a per-device cache file, and its automatic use. */
#include "internal.h"

#include <clblast_c.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const param_names[MUPC_TUNE_NPARAMS] = {
    "WGD", "MDIMCD", "NDIMCD", "MDIMAD", "NDIMBD", "KWID", "VWMD", "VWND", "PADA", "PADB"};

int mupc_tune_cache_path(char *dst, size_t n) {
  const char *env = getenv("MUPC_TUNE_CACHE");
  if (env && *env) return snprintf(dst, n, "%s", env) < (int)n ? MUPC_OK : MUPC_EINVAL;
  const char *xdg = getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return snprintf(dst, n, "%s/mupc/tune.json", xdg) < (int)n ? MUPC_OK : MUPC_EINVAL;
  const char *home = getenv("HOME");
  if (!home || !*home) return mupc__fail(MUPC_EINVAL, "no HOME, XDG_CACHE_HOME or MUPC_TUNE_CACHE");
  return snprintf(dst, n, "%s/.cache/mupc/tune.json", home) < (int)n ? MUPC_OK : MUPC_EINVAL;
}

static void device_key(const mupc_ctx *ctx, char *dst, size_t n) {
  snprintf(dst, n, "%s|%s|%s", ctx->info.platform, ctx->info.name, ctx->info.driver_version);
}

int mupc_ctx_tuned(const mupc_ctx *ctx) { return ctx->tuned; }

static int override(mupc_ctx *ctx, const size_t *values) {
  CLBlastStatusCode st = CLBlastOverrideParameters(ctx->device, "XgemmDirect",
                                                   CLBlastPrecisionSingle, MUPC_TUNE_NPARAMS,
                                                   (const char **)param_names, values);
  if (st != CLBlastSuccess)
    return mupc__fail(MUPC_EGEMM, "%s: CLBlastOverrideParameters: %s", ctx->info.name,
                      mupc_strerror((int)st));
  return MUPC_OK;
}

typedef struct limits {
  size_t max_wg;
  uint64_t local_mem;
} limits;

static limits device_limits(const mupc_ctx *ctx) {
  limits lim = {ctx->info.max_work_group_size, 0};
  cl_ulong local = 0;
  if (clGetDeviceInfo(ctx->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL) ==
      CL_SUCCESS)
    lim.local_mem = local;
  return lim;
}

/* The direct kernel's rules: tiles divide evenly into threads and vectors,
 * and the work-group and its two padded local tiles fit the device. */
static int valid(const size_t *v, limits lim) {
  const size_t wgd = v[0], mdimcd = v[1], ndimcd = v[2], mdimad = v[3], ndimbd = v[4];
  const size_t kwid = v[5], vwmd = v[6], vwnd = v[7], pada = v[8], padb = v[9];
  if (mdimcd * ndimcd > lim.max_wg) return 0;
  if (sizeof(float) * wgd * (2 * wgd + pada + padb) > lim.local_mem) return 0;
  if (wgd % kwid || wgd % (mdimcd * vwmd) || wgd % (ndimcd * vwnd)) return 0;
  if (wgd % (mdimad * vwmd) || wgd % (ndimbd * vwnd)) return 0;
  if ((mdimcd * ndimcd) % mdimad || (mdimcd * ndimcd) % ndimbd) return 0;
  if (wgd % ((mdimcd * ndimcd) / mdimad) || wgd % ((mdimcd * ndimcd) / ndimbd)) return 0;
  return 1;
}

/* Every valid point of a small grid in a fixed scrambled order, large
 * tiles (WGD >= 32) first: each candidate costs a kernel compile, seconds
 * on a CPU driver, so a short budget should start where CPUs and GPUs
 * both tend to do well and still sample the rest. */
static size_t candidates(limits lim, size_t (*out)[MUPC_TUNE_NPARAMS], size_t cap) {
  static const size_t wgd[] = {64, 32, 16, 8}, dim[] = {8, 16}, kwid[] = {1, 2, 8},
                      vw[] = {1, 2, 4};
  size_t n = 0, large = 0;
  for (size_t a = 0; a < 4; a++) {
    for (size_t b = 0; b < 16; b++)
      for (size_t c = 0; c < 3; c++)
        for (size_t d = 0; d < 9 && n < cap; d++) {
          size_t v[MUPC_TUNE_NPARAMS] = {wgd[a],     dim[b & 1], dim[(b >> 1) & 1],
                                         dim[(b >> 2) & 1], dim[(b >> 3) & 1], kwid[c],
                                         vw[d % 3], vw[d / 3], 1, 1};
          if (valid(v, lim)) memcpy(out[n++], v, sizeof v);
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
    used += (size_t)snprintf(dst + used, n - used, "%s%s=%zu", i ? " " : "", param_names[i], v[i]);
}

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int mkdirs_for(const char *path) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", path);
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(dir, 0755) && errno != EEXIST)
      return mupc__fail(MUPC_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    *p = '/';
  }
  return MUPC_OK;
}

static json_object *load_cache(const char *path) {
  json_object *root = json_object_from_file(path);
  if (root && !json_object_is_type(root, json_type_object)) {
    json_object_put(root);
    root = NULL;
  }
  return root ? root : json_object_new_object();
}

static int save_cache(const mupc_ctx *ctx, const char *path, const size_t *best,
                      const mupc_tune_result *r, const mupc_net_params *p) {
  int rc = mkdirs_for(path);
  if (rc) return rc;
  json_object *root = load_cache(path), *entry = json_object_new_object(),
              *params = json_object_new_object();
  for (int i = 0; i < MUPC_TUNE_NPARAMS; i++)
    json_object_object_add(params, param_names[i], json_object_new_int64((int64_t)best[i]));
  json_object_object_add(entry, "XgemmDirect", params);
  json_object_object_add(entry, "gflops_before", json_object_new_double(r->gflops_before));
  json_object_object_add(entry, "gflops_after", json_object_new_double(r->gflops_after));
  char shape[128];
  snprintf(shape, sizeof shape, "B=%d D=%d N=%d C=%d L=%d", p->batch, p->input_dim, p->width,
           p->output_dim, p->depth);
  json_object_object_add(entry, "tuned_on", json_object_new_string(shape));
  char key[512];
  device_key(ctx, key, sizeof key);
  json_object_object_add(root, key, entry);
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PRETTY) != 0 || rename(tmp, path) != 0) {
    unlink(tmp);
    rc = mupc__fail(MUPC_EIO, "%s: cannot write the tuning cache", path);
  }
  json_object_put(root);
  return rc;
}

/* Cached parameters of this device into v; 1 if found and complete. */
static int cached_params(const mupc_ctx *ctx, size_t *v) {
  char path[512], key[512];
  if (mupc_tune_cache_path(path, sizeof path)) return 0;
  json_object *root = json_object_from_file(path), *entry, *params, *x;
  int found = 0;
  device_key(ctx, key, sizeof key);
  if (root && json_object_object_get_ex(root, key, &entry) &&
      json_object_object_get_ex(entry, "XgemmDirect", &params)) {
    found = 1;
    for (int i = 0; i < MUPC_TUNE_NPARAMS && found; i++) {
      found = json_object_object_get_ex(params, param_names[i], &x) &&
              json_object_get_int64(x) > 0 && json_object_get_int64(x) <= 1024;
      if (found) v[i] = (size_t)json_object_get_int64(x);
    }
    found = found && valid(v, device_limits(ctx));
  }
  json_object_put(root);
  return found;
}

void mupc__tune_apply_cached(mupc_ctx *ctx) {
  size_t v[MUPC_TUNE_NPARAMS];
  if (getenv("MUPC_NO_TUNE")) return;
  ctx->tuned = cached_params(ctx, v) && override(ctx, v) == MUPC_OK;
}

/* GEMMs at these sizes take microseconds to milliseconds, so one timing is
 * noise-prone and the fastest of hundreds of single timings is mostly luck
 * (on a launch-bound GPU a "winner" timed 30 % faster and ran slower).
 * Every figure that decides anything is the median of several timings. */
enum { CONFIRM_TIMES = 5, CONFIRM_TOP = 3 };
#define TUNE_MARGIN 1.03 /* the winner must beat the defaults by 3 % */

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int rate_median(mupc_net *net, double *out) {
  double g[CONFIRM_TIMES];
  for (int i = 0; i < CONFIRM_TIMES; i++) {
    int rc = mupc_net_sgemm_rate(net, 3, &g[i]);
    if (rc) return rc;
  }
  qsort(g, CONFIRM_TIMES, sizeof g[0], cmp_double);
  *out = g[CONFIRM_TIMES / 2];
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
      for (int j = 0; j < m; j++) taken |= idx[j] == (long)i;
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
  const size_t n = candidates(device_limits(ctx), cand, CAP);
  /* The baseline is CLBlast's own choice for this device, measured before
   * any override: CLBlast cannot undo an override later. */
  rc = rate_median(net, &r.gflops_before);
  if (rc) goto ERROR;
  r.gflops_after = r.gflops_before;
  const double start = seconds();
  size_t tried = 0;
  for (; tried < n && seconds() - start < budget_seconds; tried++) {
    double gf = 0;
    if (override(ctx, cand[tried]) == MUPC_OK && mupc_net_sgemm_rate(net, 3, &gf) != MUPC_OK)
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
    if (override(ctx, cand[top[i]]) != MUPC_OK || rate_median(net, &gf) != MUPC_OK) continue;
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
  rc = override(ctx, cand[best]);
  if (!rc) rc = save_cache(ctx, r.cache_path, cand[best], &r, p);
  if (!rc) ctx->tuned = 1;
ERROR:
  mupc_net_free(net);
  free(cand);
  free(screen);
  if (!rc) *out = r;
  return rc;
}
