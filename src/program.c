/* OpenCL programs: the cl/ sources, device defines, build logs, and a
 * per-context cache keyed by (sources, options). */
#include "internal.h"
#include "kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MUPC_EMBED_KERNELS
const char *mupc__kernel_source(const char *name) {
  for (const mupc__kernel_file *k = mupc__kernel_table; k->name; k++)
    if (!strcmp(k->name, name)) return k->source;
  return NULL;
}
#else
/* Kernel work without rebuilding: read cl/<name> from the source tree on
 * each first use. Read files stay for the life of the process. */
typedef struct loaded {
  char name[64];
  char *text;
} loaded;
static loaded loaded_files[32];

const char *mupc__kernel_source(const char *name) {
  size_t i = 0;
  for (; i < 32 && loaded_files[i].text; i++)
    if (!strcmp(loaded_files[i].name, name)) return loaded_files[i].text;
  if (i == 32) return NULL;
  const char *dir = getenv("MUPC_KERNEL_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir ? dir : MUPC_KERNEL_DIR, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *text = NULL;
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
  if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)n + 1))) {
    if (fread(text, 1, (size_t)n, f) != (size_t)n) {
      free(text);
      text = NULL;
    } else {
      text[n] = '\0';
    }
  }
  fclose(f);
  if (!text) return NULL;
  snprintf(loaded_files[i].name, sizeof loaded_files[i].name, "%s", name);
  loaded_files[i].text = text;
  return text;
}
#endif

static void keep_log(mupc_ctx *ctx, cl_program prog) {
  size_t n = 0;
  free(ctx->build_log);
  ctx->build_log = NULL;
  if (clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) != CL_SUCCESS)
    return;
  ctx->build_log = malloc(n + 1);
  if (!ctx->build_log) return;
  if (clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, n, ctx->build_log, NULL) !=
      CL_SUCCESS)
    n = 0;
  ctx->build_log[n] = '\0';
}

static int build(mupc_ctx *ctx, const char *key, const char *const *srcs, size_t nsrc,
                 const char *options, cl_program *out) {
  for (size_t i = 0; i < ctx->nprograms; i++)
    if (!strcmp(ctx->programs[i].key, key)) {
      *out = ctx->programs[i].program;
      return MUPC_OK;
    }
  char opts[1024];
  snprintf(opts, sizeof opts, "-DMUPC_WG=%zu -DMUPC_DEVICE_%s %s", ctx->wg,
           strcmp(ctx->info.type, "gpu") ? "CPU" : "GPU", options ? options : "");
  cl_int err;
  cl_program prog = clCreateProgramWithSource(ctx->context, (cl_uint)nsrc, (const char **)srcs, NULL, &err);
  if (err != CL_SUCCESS)
    return mupc__fail(MUPC_EBUILD, "%s: clCreateProgramWithSource: %s", ctx->info.name,
                      mupc_strerror(err));
  err = clBuildProgram(prog, 1, &ctx->device, opts, NULL, NULL);
  if (err != CL_SUCCESS) {
    keep_log(ctx, prog);
    clReleaseProgram(prog);
    return mupc__fail(MUPC_EBUILD, "%s: building kernels failed (%s); build log follows",
                      ctx->info.name, mupc_strerror(err));
  }
  mupc__program_entry *grown =
      realloc(ctx->programs, (ctx->nprograms + 1) * sizeof *ctx->programs);
  char *k = grown ? strdup(key) : NULL;
  if (!k) {
    if (grown) ctx->programs = grown;
    clReleaseProgram(prog);
    return mupc__fail(MUPC_ENOMEM, "out of memory caching a program");
  }
  ctx->programs = grown;
  ctx->programs[ctx->nprograms].key = k;
  ctx->programs[ctx->nprograms].program = prog;
  ctx->nprograms++;
  *out = prog;
  return MUPC_OK;
}

int mupc__program_get(mupc_ctx *ctx, const char *const *names, size_t nnames,
                      const char *options, cl_program *out) {
  const char *srcs[16];
  char key[1024];
  size_t used = (size_t)snprintf(key, sizeof key, "%s\n", options ? options : "");
  if (nnames > 16) return mupc__fail(MUPC_EINVAL, "too many kernel files");
  for (size_t i = 0; i < nnames; i++) {
    srcs[i] = mupc__kernel_source(names[i]);
    if (!srcs[i]) return mupc__fail(MUPC_EBUILD, "kernel source cl/%s not found", names[i]);
    if (used < sizeof key) used += (size_t)snprintf(key + used, sizeof key - used, "%s;", names[i]);
  }
  return build(ctx, key, srcs, nnames, options, out);
}

int mupc__program_from_source(mupc_ctx *ctx, const char *source, const char *options,
                              cl_program *out) {
  /* Literal sources are keyed by their text, so two different sources never
   * share a cache slot. */
  size_t n = strlen(source) + (options ? strlen(options) : 0) + 16;
  char *key = malloc(n);
  if (!key) return mupc__fail(MUPC_ENOMEM, "out of memory");
  snprintf(key, n, "%s\nsrc:%s", options ? options : "", source);
  int rc = build(ctx, key, &source, 1, options, out);
  free(key);
  return rc;
}
