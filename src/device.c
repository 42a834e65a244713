/* Platforms and devices: enumeration, SPEC matching, context and queue,
 * and device buffers. A new context takes its GEMM provider (provider.c) and
 * the tuned GEMM parameters stored for its device (tune/store.c). */
#include "internal.h"
#include "tune/store.h"

#include <CL/cl_ext.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MUPC__MAX_PLATFORMS 32
#define MUPC__MAX_DEVICES 64

/* Drivers pad some strings with trailing blanks ("OpenCL C 1.2 "). */
static void trim_right(char *s) {
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
}

/* A string longer than dst is cut, not lost: asking with a short buffer
 * makes the query fail outright, so read the whole value first. */
static void info_string(cl_platform_id p, cl_device_id d, cl_uint what, char *dst, size_t n) {
  size_t len = 0;
  cl_int err =
      d ? clGetDeviceInfo(d, what, 0, NULL, &len) : clGetPlatformInfo(p, what, 0, NULL, &len);
  char *tmp = err == CL_SUCCESS && len > 0 ? malloc(len + 1) : NULL;
  dst[0] = '\0';
  if (!tmp) return;
  err = d ? clGetDeviceInfo(d, what, len, tmp, NULL) : clGetPlatformInfo(p, what, len, tmp, NULL);
  if (err == CL_SUCCESS) {
    tmp[len] = '\0';
    snprintf(dst, n, "%s", tmp);
    trim_right(dst);
  }
  free(tmp);
}

static const char *type_name(cl_device_type t) {
  if (t & CL_DEVICE_TYPE_GPU) return "gpu";
  if (t & CL_DEVICE_TYPE_CPU) return "cpu";
  if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accel";
  return "other";
}

/* One enumerated device. The platform vendor is matched by SPEC too: PoCL
 * names itself only there ("The pocl project"), not in its platform name. */
typedef struct listed {
  mupc_device_info info;
  char platform_vendor[128];
} listed;

static void fill(cl_platform_id plat, cl_device_id dev, int pi, int di, listed *out) {
  mupc_device_info *info = &out->info;
  memset(out, 0, sizeof *out);
  info->platform_index = pi;
  info->device_index = di;
  info_string(plat, NULL, CL_PLATFORM_NAME, info->platform, sizeof info->platform);
  info_string(plat, NULL, CL_PLATFORM_VENDOR, out->platform_vendor, sizeof out->platform_vendor);
  info_string(NULL, dev, CL_DEVICE_NAME, info->name, sizeof info->name);
  info_string(NULL, dev, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
  info_string(NULL, dev, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
              sizeof info->opencl_c_version);
  info_string(NULL, dev, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
  cl_device_type type = 0;
  cl_uint cu = 0;
  cl_ulong mem = 0, alloc = 0;
  size_t wg = 0;
  clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
  clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
  clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
  clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL);
  clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
  snprintf(info->type, sizeof info->type, "%s", type_name(type));
  info->compute_units = cu;
  info->global_mem_bytes = mem;
  info->max_alloc_bytes = alloc;
  info->max_work_group_size = wg;
}

/* Calls visit(platform, device, entry) for every device in clinfo order. */
typedef int (*visit_fn)(cl_platform_id, cl_device_id, const listed *, void *);

static int for_each_device(visit_fn visit, void *arg) {
  cl_platform_id plats[MUPC__MAX_PLATFORMS];
  cl_uint np = 0;
  cl_int err = clGetPlatformIDs(MUPC__MAX_PLATFORMS, plats, &np);
  if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && np == 0))
    return mupc__fail(MUPC_ENOPLATFORM,
                      "no OpenCL platform found: install an ICD such as pocl-opencl-icd "
                      "(CPU) or your GPU vendor's OpenCL driver");
  if (err != CL_SUCCESS)
    return mupc__fail(err, "clGetPlatformIDs failed: %s", mupc_strerror(err));
  if (np > MUPC__MAX_PLATFORMS) np = MUPC__MAX_PLATFORMS;
  for (cl_uint p = 0; p < np; p++) {
    cl_device_id devs[MUPC__MAX_DEVICES];
    cl_uint nd = 0;
    /* A platform with no device (Mesa's Clover on a machine without a
     * supported GPU) answers CL_DEVICE_NOT_FOUND: it simply has none. */
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MUPC__MAX_DEVICES, devs, &nd) != CL_SUCCESS)
      continue;
    if (nd > MUPC__MAX_DEVICES) nd = MUPC__MAX_DEVICES;
    for (cl_uint d = 0; d < nd; d++) {
      listed entry;
      fill(plats[p], devs[d], (int)p, (int)d, &entry);
      int rc = visit(plats[p], devs[d], &entry, arg);
      if (rc) return rc > 0 ? MUPC_OK : rc;
    }
  }
  return MUPC_OK;
}

typedef struct collect {
  listed *items;
  size_t count, cap;
  int oom;
} collect;

static int collect_visit(cl_platform_id p, cl_device_id d, const listed *entry, void *arg) {
  (void)p;
  (void)d;
  collect *c = arg;
  if (c->count == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 8;
    listed *n = realloc(c->items, cap * sizeof *n);
    if (!n) {
      c->oom = 1;
      return 1;
    }
    c->items = n;
    c->cap = cap;
  }
  c->items[c->count++] = *entry;
  return 0;
}

/* Index of the default device: the first GPU, else the first CPU, else 0. */
static size_t default_index(const listed *items, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(items[i].info.type, "gpu")) return i;
  for (size_t i = 0; i < n; i++)
    if (!strcmp(items[i].info.type, "cpu")) return i;
  return 0;
}

/* Every device, the default marked; *out is malloc'd. */
static int list_all(listed **out, size_t *count) {
  collect c = {0};
  int rc = for_each_device(collect_visit, &c);
  if (rc == MUPC_OK && c.oom) rc = mupc__fail(MUPC_ENOMEM, "out of memory listing devices");
  if (rc == MUPC_OK && c.count == 0)
    rc = mupc__fail(MUPC_ENOPLATFORM,
                    "OpenCL platforms found but no device: install an ICD such as "
                    "pocl-opencl-icd, or set RUSTICL_ENABLE=llvmpipe for Mesa rusticl");
  if (rc != MUPC_OK) {
    free(c.items);
    return rc;
  }
  c.items[default_index(c.items, c.count)].info.is_default = 1;
  *out = c.items;
  *count = c.count;
  return MUPC_OK;
}

int mupc_device_list(mupc_device_info **out, size_t *count) {
  listed *items;
  size_t n;
  int rc = list_all(&items, &n);
  if (rc) return rc;
  mupc_device_info *infos = malloc(n * sizeof *infos);
  if (!infos) {
    free(items);
    return mupc__fail(MUPC_ENOMEM, "out of memory listing devices");
  }
  for (size_t i = 0; i < n; i++) infos[i] = items[i].info;
  free(items);
  *out = infos;
  *count = n;
  return MUPC_OK;
}

static int parse_pd(const char *spec, int *p, int *d) {
  char tail;
  return sscanf(spec, "%d:%d%c", p, d, &tail) == 2 && *p >= 0 && *d >= 0;
}

static int contains(const char *haystack, const char *lspec) {
  char low[128];
  mupc__lower(low, haystack, sizeof low);
  return strstr(low, lspec) != NULL;
}

static int matches(const listed *e, const char *lspec) {
  return contains(e->info.platform, lspec) || contains(e->platform_vendor, lspec) ||
         contains(e->info.name, lspec);
}

/* Whether items[i] is one of the devices SPEC names (non-empty spec): "P:D"
 * that one, "cpu"/"gpu" every device of that type, any other text every
 * device whose platform, platform vendor or name contains it. */
static int spec_matches(const listed *e, const char *spec) {
  int p, d;
  if (parse_pd(spec, &p, &d)) return e->info.platform_index == p && e->info.device_index == d;
  char lspec[128];
  mupc__lower(lspec, spec, sizeof lspec);
  if (!strcmp(lspec, "cpu") || !strcmp(lspec, "gpu")) return !strcmp(e->info.type, lspec);
  return matches(e, lspec);
}

/* Index into items of the first device SPEC names, or -1. */
static long find_spec(const listed *items, size_t n, const char *spec) {
  for (size_t i = 0; i < n; i++)
    if (spec_matches(&items[i], spec)) return (long)i;
  return -1;
}

static int no_match(const listed *items, size_t n, const char *spec, const char *from) {
  char list[768] = "";
  size_t used = 0;
  for (size_t i = 0; i < n && used < sizeof list; i++) {
    const mupc_device_info *d = &items[i].info;
    int w = snprintf(list + used, sizeof list - used, "%s%d:%d %s / %s (%s)", i ? ", " : "",
                     d->platform_index, d->device_index, d->platform, d->name, d->type);
    if (w < 0) break;
    used += (size_t)w;
  }
  return mupc__fail(MUPC_ENODEVICE, "no OpenCL device matches %s '%s'; available: %s", from,
                    spec, list);
}

int mupc_device_select(const char *spec, mupc_device_info *out) {
  const char *from = "--device";
  if (!spec || !*spec) {
    spec = getenv("MUPC_DEVICE");
    from = "MUPC_DEVICE";
  }
  listed *items;
  size_t n;
  int rc = list_all(&items, &n);
  if (rc) return rc;
  long i = (spec && *spec) ? find_spec(items, n, spec) : (long)default_index(items, n);
  if (i < 0) rc = no_match(items, n, spec, from);
  else *out = items[i].info;
  free(items);
  return rc;
}

/* Without a spec the group is every GPU, else every device: the default
 * device is the group's first either way. */
static int in_group(const listed *items, size_t n, size_t i, const char *spec) {
  if (spec && *spec) return spec_matches(&items[i], spec);
  for (size_t j = 0; j < n; j++)
    if (!strcmp(items[j].info.type, "gpu")) return !strcmp(items[i].info.type, "gpu");
  return 1;
}

int mupc_device_select_nth(const char *spec, int index, mupc_device_info *out) {
  const char *from = "--device";
  if (!spec || !*spec) {
    spec = getenv("MUPC_DEVICE");
    from = "MUPC_DEVICE";
  }
  if (index < 0) return mupc__fail(MUPC_EINVAL, "device index %d: expected >= 0", index);
  listed *items;
  size_t n;
  int rc = list_all(&items, &n);
  if (rc) return rc;
  size_t hits = 0;
  for (size_t i = 0; i < n; i++) hits += (size_t)in_group(items, n, i, spec);
  if (hits == 0) {
    rc = no_match(items, n, spec, from);
  } else {
    size_t want = (size_t)index % hits;
    for (size_t i = 0; i < n; i++)
      if (in_group(items, n, i, spec) && want-- == 0) {
        *out = items[i].info;
        break;
      }
  }
  free(items);
  return rc;
}

typedef struct find_ids {
  int p, d;
  cl_platform_id plat;
  cl_device_id dev;
} find_ids;

static int find_visit(cl_platform_id p, cl_device_id d, const listed *entry, void *arg) {
  find_ids *f = arg;
  if (entry->info.platform_index != f->p || entry->info.device_index != f->d) return 0;
  f->plat = p;
  f->dev = d;
  return 1;
}

/* A context on the device a selection found. */
static int ctx_on(mupc_ctx **out, const mupc_device_info *info) {
  find_ids f = {info->platform_index, info->device_index, NULL, NULL};
  int rc = for_each_device(find_visit, &f);
  if (rc) return rc;
  if (!f.dev) return mupc__fail(MUPC_ENODEVICE, "device %d:%d disappeared", f.p, f.d);

  mupc_ctx *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return mupc__fail(MUPC_ENOMEM, "out of memory");
  ctx->platform = f.plat;
  ctx->device = f.dev;
  ctx->info = *info;
  /* Work-group size of the elementwise kernels, built into them (MUPC_WG,
   * program.c) and launched with (launch.c): 256 where the device allows
   * it (GPUs want many lanes), 64 on CPUs where PoCL packs work-items into
   * vector lanes and large groups only add scheduling cost. */
  ctx->wg = strcmp(info->type, "cpu") ? 256 : 64;
  while (ctx->wg > info->max_work_group_size && ctx->wg > 1) ctx->wg /= 2;
  cl_int err;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)f.plat, 0};
  ctx->context = clCreateContext(props, 1, &f.dev, NULL, NULL, &err);
  if (err != CL_SUCCESS) {
    rc = mupc__fail(err, "%s: clCreateContext failed: %s", info->name, mupc_strerror(err));
    goto ERROR;
  }
  /* Profiling on: `mupc bench` reads the device time of the step's parts
   * (profile.c); drivers only stamp two times per command for it. */
  ctx->queue = clCreateCommandQueue(ctx->context, f.dev, CL_QUEUE_PROFILING_ENABLE, &err);
  if (err != CL_SUCCESS) {
    rc = mupc__fail(err, "%s: clCreateCommandQueue failed: %s", info->name, mupc_strerror(err));
    goto ERROR;
  }
  rc = mupc__gemm_ctx_init(ctx);
  if (rc) goto ERROR;
  mupc__tune_apply_cached(ctx);
  *out = ctx;
  return MUPC_OK;
ERROR:
  mupc_ctx_free(ctx);
  return rc;
}

int mupc_ctx_init(mupc_ctx **out, const char *spec) {
  mupc_device_info info = {0};
  const int rc = mupc_device_select(spec, &info);
  return rc ? rc : ctx_on(out, &info);
}

int mupc_ctx_init_nth(mupc_ctx **out, const char *spec, int index) {
  mupc_device_info info = {0};
  const int rc = mupc_device_select_nth(spec, index, &info);
  return rc ? rc : ctx_on(out, &info);
}

void mupc_ctx_free(mupc_ctx *ctx) {
  if (!ctx) return;
  mupc__gemm_ctx_free(ctx); /* its kernels before their programs */
  for (size_t i = 0; i < ctx->nprograms; i++) {
    clReleaseProgram(ctx->programs[i].program);
    free(ctx->programs[i].key);
  }
  free(ctx->programs);
  free(ctx->build_log);
  free(ctx->prof_events);
  free(ctx->prof_kind);
  if (ctx->queue) {
    clFinish(ctx->queue);
    clReleaseCommandQueue(ctx->queue);
  }
  if (ctx->context) clReleaseContext(ctx->context);
  free(ctx);
}

const mupc_device_info *mupc_ctx_device(const mupc_ctx *ctx) { return &ctx->info; }

const char *mupc_ctx_build_log(const mupc_ctx *ctx) {
  return ctx->build_log ? ctx->build_log : "";
}

uint64_t mupc_ctx_device_bytes(const mupc_ctx *ctx) { return ctx->device_bytes; }

int mupc_ctx_finish(mupc_ctx *ctx) {
  cl_int err = clFinish(ctx->queue);
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: clFinish: %s", ctx->info.name, mupc_strerror(err));
  return mupc__gemm_check_fault(ctx);
}

/* Whole 4-byte words: the zero fill writes a float pattern, and a fill of
 * 0 bytes (a 1-3 byte buffer rounded down) is an OpenCL error. */
static size_t padded(size_t bytes) { return bytes == 0 ? 4 : (bytes + 3) & ~(size_t)3; }

int mupc__buffer_read(mupc_ctx *ctx, cl_mem buf, size_t off, size_t n, float *out,
                      const char *what) {
  cl_int err = clEnqueueReadBuffer(ctx->queue, buf, CL_TRUE, off * sizeof(float),
                                   n * sizeof(float), out, 0, NULL, NULL);
  if (err != CL_SUCCESS)
    return mupc__fail(err, "%s: reading %s failed: %s", ctx->info.name, what, mupc_strerror(err));
  /* The read waited for the queue: a host call that failed since shows now. */
  return mupc__gemm_check_fault(ctx);
}

int mupc__buffer_alloc(mupc_ctx *ctx, size_t bytes, cl_mem *out) {
  bytes = padded(bytes);
  if (bytes > ctx->info.max_alloc_bytes ||
      ctx->device_bytes + bytes > ctx->info.global_mem_bytes)
    return mupc__fail(MUPC_EDEVMEM,
                      "%s: device memory exhausted: a buffer of %zu bytes asked for (%llu "
                      "already held, largest allowed %llu, device total %llu)",
                      ctx->info.name, bytes, (unsigned long long)ctx->device_bytes,
                      (unsigned long long)ctx->info.max_alloc_bytes,
                      (unsigned long long)ctx->info.global_mem_bytes);
  cl_int err;
  cl_mem buf = clCreateBuffer(ctx->context, ctx->mem_flags, bytes, NULL, &err);
  if (err == CL_SUCCESS) {
    /* Fill now: it both zeroes the buffer and makes lazy allocators commit
     * the memory, so exhaustion shows up here and not mid-training. */
    const float zero = 0.0f;
    err = clEnqueueFillBuffer(ctx->queue, buf, &zero, sizeof zero, 0, bytes, 0, NULL, NULL);
    if (err == CL_SUCCESS) err = clFinish(ctx->queue);
    if (err != CL_SUCCESS) clReleaseMemObject(buf);
  }
  if (err != CL_SUCCESS)
    return mupc__fail(MUPC_EDEVMEM, "%s: device memory exhausted: a buffer of %zu bytes (%s)",
                      ctx->info.name, bytes, mupc_strerror(err));
  const int rc = mupc__gemm_note_buffer(ctx, buf, bytes);
  if (rc) {
    clReleaseMemObject(buf);
    return rc;
  }
  ctx->device_bytes += bytes;
  *out = buf;
  return MUPC_OK;
}

void mupc__buffer_free(mupc_ctx *ctx, cl_mem *buf, size_t bytes) {
  if (!*buf) return;
  mupc__gemm_forget_buffer(ctx, *buf);
  clReleaseMemObject(*buf);
  *buf = NULL;
  ctx->device_bytes -= padded(bytes);
}
