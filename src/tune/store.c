/* The tuned-parameter store (store.h): the cache file, its per-device
 * entries, and their use when a context is created. */
#include "tune/store.h"

#include <clblast_c.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const mupc__tune_param_names[MUPC_TUNE_NPARAMS] = {
    "WGD", "MDIMCD", "NDIMCD", "MDIMAD", "NDIMBD", "KWID", "VWMD", "VWND", "PADA", "PADB"};

int mupc_tune_cache_path(char *dst, size_t n) {
  const char *env = getenv("MUPC_TUNE_CACHE");
  if (env && *env) return snprintf(dst, n, "%s", env) < (int)n ? MUPC_OK : MUPC_EINVAL;
  const char *xdg = getenv("XDG_CACHE_HOME");
  if (xdg && *xdg)
    return snprintf(dst, n, "%s/mupc/tune.json", xdg) < (int)n ? MUPC_OK : MUPC_EINVAL;
  const char *home = getenv("HOME");
  if (!home || !*home) return mupc__fail(MUPC_EINVAL, "no HOME, XDG_CACHE_HOME or MUPC_TUNE_CACHE");
  return snprintf(dst, n, "%s/.cache/mupc/tune.json", home) < (int)n ? MUPC_OK : MUPC_EINVAL;
}

static void device_key(const mupc_ctx *ctx, char *dst, size_t n) {
  snprintf(dst, n, "%s|%s|%s", ctx->info.platform, ctx->info.name, ctx->info.driver_version);
}

int mupc_ctx_tuned(const mupc_ctx *ctx) {
  return ctx->tuned;
}

int mupc__tune_override(mupc_ctx *ctx, const size_t *values) {
  CLBlastStatusCode st =
      CLBlastOverrideParameters(ctx->device, "XgemmDirect", CLBlastPrecisionSingle,
                                MUPC_TUNE_NPARAMS, (const char **)mupc__tune_param_names, values);
  if (st != CLBlastSuccess)
    return mupc__fail(MUPC_EGEMM, "%s: CLBlastOverrideParameters: %s", ctx->info.name,
                      mupc_strerror((int)st));
  return MUPC_OK;
}

mupc__tune_limits mupc__tune_device_limits(const mupc_ctx *ctx) {
  mupc__tune_limits lim = {ctx->info.max_work_group_size, 0};
  cl_ulong local = 0;
  if (clGetDeviceInfo(ctx->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof local, &local, NULL) ==
      CL_SUCCESS)
    lim.local_mem = local;
  return lim;
}

/* The direct kernel's rules: tiles divide evenly into threads and vectors,
 * and the work-group and its two padded local tiles fit the device. */
int mupc__tune_valid(const size_t *v, mupc__tune_limits lim) {
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

/* The device's entry of root, made if absent (root keeps it). */
static json_object *device_entry(const mupc_ctx *ctx, json_object *root) {
  char key[512];
  device_key(ctx, key, sizeof key);
  json_object *entry;
  if (json_object_object_get_ex(root, key, &entry) && json_object_is_type(entry, json_type_object))
    return entry;
  entry = json_object_new_object();
  json_object_object_add(root, key, entry);
  return entry;
}

/* root replaced into the file at path, atomically (atomic.c): a context
 * being created reads this file at any moment, and a crash mid-write must
 * not lose the other devices' entries. Takes root. */
static int write_cache(const char *path, json_object *root) {
  int rc = mkdirs_for(path);
  const char *text = rc ? NULL : json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
  if (!rc)
    rc = text ? mupc__atomic_write(path, text, strlen(text))
              : mupc__fail(MUPC_ENOMEM, "%s: out of memory writing the tuning cache", path);
  json_object_put(root);
  return rc;
}

int mupc__tune_store_save(const mupc_ctx *ctx, const char *path, const size_t *best,
                          const mupc_tune_result *r, const mupc_net_params *p) {
  json_object *root = load_cache(path), *entry = device_entry(ctx, root),
              *params = json_object_new_object();
  for (int i = 0; i < MUPC_TUNE_NPARAMS; i++)
    json_object_object_add(params, mupc__tune_param_names[i],
                           json_object_new_int64((int64_t)best[i]));
  json_object_object_add(entry, "XgemmDirect", params);
  json_object_object_add(entry, "gflops_before", json_object_new_double(r->gflops_before));
  json_object_object_add(entry, "gflops_after", json_object_new_double(r->gflops_after));
  char shape[128];
  snprintf(shape, sizeof shape, "B=%d D=%d N=%d C=%d L=%d", p->batch, p->input_dim, p->width,
           p->output_dim, p->depth);
  json_object_object_add(entry, "tuned_on", json_object_new_string(shape));
  return write_cache(path, root);
}

int mupc__gemm_choice_load(const mupc_ctx *ctx, const char *shape, mupc_gemm *g) {
  char path[512], key[512];
  if (getenv("MUPC_NO_TUNE") || mupc_tune_cache_path(path, sizeof path)) return 0;
  json_object *root = json_object_from_file(path), *entry, *choices, *choice, *name;
  device_key(ctx, key, sizeof key);
  int found = 0;
  if (root && json_object_object_get_ex(root, key, &entry) &&
      json_object_object_get_ex(entry, "gemm_choice", &choices) &&
      json_object_object_get_ex(choices, shape, &choice) &&
      json_object_object_get_ex(choice, "provider", &name)) {
    const int v = mupc_gemm_from_name(json_object_get_string(name));
    found = v == MUPC_GEMM_CLBLAST || v == MUPC_GEMM_KERNELS;
    if (found) *g = (mupc_gemm)v;
  }
  json_object_put(root);
  return found;
}

int mupc__gemm_choice_save(const mupc_ctx *ctx, const char *shape, mupc_gemm g,
                           double seconds_clblast, double seconds_kernels) {
  char path[512];
  MUPC__TRY(mupc_tune_cache_path(path, sizeof path));
  json_object *root = load_cache(path), *entry = device_entry(ctx, root), *choices;
  if (!json_object_object_get_ex(entry, "gemm_choice", &choices) ||
      !json_object_is_type(choices, json_type_object)) {
    choices = json_object_new_object();
    json_object_object_add(entry, "gemm_choice", choices);
  }
  json_object *choice = json_object_new_object();
  json_object_object_add(choice, "provider", json_object_new_string(mupc_gemm_name(g)));
  json_object_object_add(choice, "seconds_clblast", json_object_new_double(seconds_clblast));
  json_object_object_add(choice, "seconds_kernels", json_object_new_double(seconds_kernels));
  json_object_object_add(choices, shape, choice);
  return write_cache(path, root);
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
      found = json_object_object_get_ex(params, mupc__tune_param_names[i], &x) &&
              json_object_get_int64(x) > 0 && json_object_get_int64(x) <= 1024;
      if (found) v[i] = (size_t)json_object_get_int64(x);
    }
    found = found && mupc__tune_valid(v, mupc__tune_device_limits(ctx));
  }
  json_object_put(root);
  return found;
}

void mupc__tune_apply_cached(mupc_ctx *ctx) {
  size_t v[MUPC_TUNE_NPARAMS];
  if (getenv("MUPC_NO_TUNE")) return;
  ctx->tuned = cached_params(ctx, v) && mupc__tune_override(ctx, v) == MUPC_OK;
}
