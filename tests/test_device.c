/* Device runtime: listing, every SPEC form, the MUPC_DEVICE fallback, bad
 * SPECs, the n-th match of a SPEC, and a context on each OpenCL
 * implementation present. */
#include "internal.h"
#include "testdev.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The listing, or a skip on a machine without OpenCL (unless
 * MUPC_REQUIRE_DEVICES forbids that: then testdev fails the test). */
static size_t list_or_skip(mupc_device_info **devs) {
  const char *specs[4];
  int nspec = testdev_specs(specs, 4);
  assert_true(nspec >= 0);
  size_t n = 0;
  int rc = mupc_device_list(devs, &n);
  if (rc == MUPC_ENOPLATFORM && nspec == 0) skip();
  assert_int_equal(rc, MUPC_OK);
  assert_true(n > 0);
  return n;
}

static int icontains(const char *haystack, const char *needle) {
  char h[256], n[256];
  mupc__lower(h, haystack, sizeof h);
  mupc__lower(n, needle, sizeof n);
  return strstr(h, n) != NULL;
}

static void upper(char *dst, const char *s, size_t n) {
  size_t i = 0;
  for (; s[i] && i + 1 < n; i++)
    dst[i] = (char)toupper((unsigned char)s[i]);
  dst[i] = '\0';
}

static int same_device(const mupc_device_info *a, const mupc_device_info *b) {
  return a->platform_index == b->platform_index && a->device_index == b->device_index &&
         !strcmp(a->name, b->name);
}

/* The test process must not inherit a developer's MUPC_DEVICE. */
static int clear_env(void **state) {
  (void)state;
  return unsetenv("MUPC_DEVICE");
}

static void test_listing(void **state) {
  (void)state;
  mupc_device_info *devs;
  size_t n = list_or_skip(&devs);
  size_t defaults = 0, first_gpu = n, first_cpu = n;
  for (size_t i = 0; i < n; i++) {
    const mupc_device_info *d = &devs[i];
    assert_true(d->platform_index >= 0 && d->device_index >= 0);
    assert_true(strlen(d->platform) > 0);
    assert_true(strlen(d->name) > 0);
    assert_true(!strcmp(d->type, "cpu") || !strcmp(d->type, "gpu") || !strcmp(d->type, "accel") ||
                !strcmp(d->type, "other"));
    assert_true(d->compute_units > 0);
    assert_true(d->global_mem_bytes > 0);
    assert_true(d->max_alloc_bytes > 0 && d->max_alloc_bytes <= d->global_mem_bytes);
    assert_true(d->max_work_group_size > 0);
    assert_true(strncmp(d->opencl_c_version, "OpenCL C ", 9) == 0);
    /* Drivers pad some strings; the library trims them. */
    size_t len = strlen(d->opencl_c_version);
    assert_false(isspace((unsigned char)d->opencl_c_version[len - 1]));
    defaults += d->is_default != 0;
    if (!strcmp(d->type, "gpu") && first_gpu == n) first_gpu = i;
    if (!strcmp(d->type, "cpu") && first_cpu == n) first_cpu = i;
    for (size_t j = 0; j < i; j++)
      assert_false(devs[j].platform_index == d->platform_index &&
                   devs[j].device_index == d->device_index);
  }
  assert_int_equal(defaults, 1);
  size_t want = first_gpu < n ? first_gpu : first_cpu < n ? first_cpu : 0;
  assert_true(devs[want].is_default);
  free(devs);
}

static void test_spec_default(void **state) {
  (void)state;
  mupc_device_info *devs, got;
  size_t n = list_or_skip(&devs);
  assert_int_equal(mupc_device_select(NULL, &got), MUPC_OK);
  assert_true(got.is_default);
  mupc_device_info empty;
  assert_int_equal(mupc_device_select("", &empty), MUPC_OK);
  assert_true(same_device(&got, &empty));
  size_t i = 0;
  while (i < n && !devs[i].is_default)
    i++;
  assert_true(i < n);
  assert_true(same_device(&got, &devs[i]));
  free(devs);
}

static void test_spec_platform_device_index(void **state) {
  (void)state;
  mupc_device_info *devs;
  size_t n = list_or_skip(&devs);
  for (size_t i = 0; i < n; i++) {
    char spec[32];
    snprintf(spec, sizeof spec, "%d:%d", devs[i].platform_index, devs[i].device_index);
    mupc_device_info got;
    assert_int_equal(mupc_device_select(spec, &got), MUPC_OK);
    assert_true(same_device(&got, &devs[i]));
    assert_int_equal(got.is_default, devs[i].is_default);
  }
  free(devs);
}

/* "cpu"/"gpu" (any case) pick the first of that type, or fail if none. */
static void check_type_spec(const mupc_device_info *devs, size_t n, const char *type) {
  size_t first = 0;
  while (first < n && strcmp(devs[first].type, type))
    first++;
  char up[8];
  upper(up, type, sizeof up);
  const char *forms[] = {type, up};
  for (size_t f = 0; f < 2; f++) {
    mupc_device_info got;
    int rc = mupc_device_select(forms[f], &got);
    if (first == n) {
      assert_int_equal(rc, MUPC_ENODEVICE);
      assert_non_null(strstr(mupc_errmsg(), forms[f]));
    } else {
      assert_int_equal(rc, MUPC_OK);
      assert_true(same_device(&got, &devs[first]));
    }
  }
}

static void test_spec_type(void **state) {
  (void)state;
  mupc_device_info *devs;
  size_t n = list_or_skip(&devs);
  check_type_spec(devs, n, "cpu");
  check_type_spec(devs, n, "gpu");
  free(devs);
}

/* A name SPEC selects the first device whose platform or device name
 * contains it, whatever the case. */
static void check_name_spec(const mupc_device_info *devs, size_t n, const char *spec) {
  mupc_device_info got;
  assert_int_equal(mupc_device_select(spec, &got), MUPC_OK);
  size_t i = 0;
  while (i < n && !same_device(&got, &devs[i]))
    i++;
  assert_true(i < n);
  /* Nothing earlier in the listing matched by name. */
  for (size_t j = 0; j < i; j++)
    assert_false(icontains(devs[j].platform, spec) || icontains(devs[j].name, spec));
}

static void test_spec_name_substrings(void **state) {
  (void)state;
  mupc_device_info *devs;
  size_t n = list_or_skip(&devs);
  for (size_t i = 0; i < n; i++) {
    char buf[128];
    upper(buf, devs[i].platform, sizeof buf);
    check_name_spec(devs, n, buf);
    upper(buf, devs[i].name, sizeof buf);
    check_name_spec(devs, n, buf);
    /* A part from the middle of the device name. */
    size_t len = strlen(devs[i].name);
    if (len > 4) {
      snprintf(buf, sizeof buf, "%.*s", (int)(len - 2), devs[i].name + 1);
      check_name_spec(devs, n, buf);
    }
  }
  free(devs);
}

/* The names the issue promises work on the implementations present. */
static void test_spec_implementation_names(void **state) {
  (void)state;
  const char *specs[4];
  int nspec = testdev_specs(specs, 4);
  assert_true(nspec >= 0);
  if (nspec == 0) skip();
  for (int i = 0; i < nspec; i++) {
    mupc_device_info lower, up;
    char spec[32];
    upper(spec, specs[i], sizeof spec);
    assert_int_equal(mupc_device_select(specs[i], &lower), MUPC_OK);
    assert_int_equal(mupc_device_select(spec, &up), MUPC_OK);
    assert_true(same_device(&lower, &up));
    if (!strcmp(specs[i], "pocl")) {
      /* PoCL calls its platform "Portable Computing Language"; "pocl" is in
       * its vendor, "The pocl project". */
      assert_string_equal(lower.platform, "Portable Computing Language");
    } else if (!strcmp(specs[i], "llvmpipe")) {
      assert_true(icontains(lower.name, "llvmpipe"));
      mupc_device_info rusticl;
      assert_int_equal(mupc_device_select("RustiCL", &rusticl), MUPC_OK);
      assert_string_equal(rusticl.platform, "rusticl");
    } else {
      /* A SPEC from MUPC_TEST_DEVICES: it names the platform, its vendor or
       * the device. */
      assert_true(icontains(lower.platform, specs[i]) || icontains(lower.vendor, specs[i]) ||
                  icontains(lower.name, specs[i]) || strchr(specs[i], ':') ||
                  !strcmp(specs[i], "gpu") || !strcmp(specs[i], "cpu"));
    }
  }
}

static void test_env_fallback(void **state) {
  (void)state;
  mupc_device_info *devs;
  size_t n = list_or_skip(&devs);
  const mupc_device_info *last = &devs[n - 1];
  char spec[32];
  snprintf(spec, sizeof spec, "%d:%d", last->platform_index, last->device_index);
  assert_int_equal(setenv("MUPC_DEVICE", spec, 1), 0);
  mupc_device_info got;
  assert_int_equal(mupc_device_select(NULL, &got), MUPC_OK);
  assert_true(same_device(&got, last));
  assert_int_equal(mupc_device_select("", &got), MUPC_OK);
  assert_true(same_device(&got, last));
  /* An explicit SPEC wins over the environment. */
  char first[32];
  snprintf(first, sizeof first, "%d:%d", devs[0].platform_index, devs[0].device_index);
  assert_int_equal(mupc_device_select(first, &got), MUPC_OK);
  assert_true(same_device(&got, &devs[0]));
  /* A context follows the same rule. */
  mupc_ctx *ctx = NULL;
  assert_int_equal(mupc_ctx_init(&ctx, NULL), MUPC_OK);
  assert_true(same_device(mupc_ctx_device(ctx), last));
  mupc_ctx_free(ctx);

  assert_int_equal(setenv("MUPC_DEVICE", "nosuch", 1), 0);
  assert_int_equal(mupc_device_select(NULL, &got), MUPC_ENODEVICE);
  assert_non_null(strstr(mupc_errmsg(), "MUPC_DEVICE"));
  assert_non_null(strstr(mupc_errmsg(), "'nosuch'"));

  assert_int_equal(setenv("MUPC_DEVICE", "", 1), 0);
  assert_int_equal(mupc_device_select(NULL, &got), MUPC_OK);
  assert_true(got.is_default);
  assert_int_equal(unsetenv("MUPC_DEVICE"), 0);
  assert_int_equal(mupc_device_select(NULL, &got), MUPC_OK);
  assert_true(got.is_default);
  free(devs);
}

static void check_no_match(const mupc_device_info *devs, size_t n, const char *spec) {
  mupc_device_info got;
  memset(&got, 0x5a, sizeof got);
  assert_int_equal(mupc_device_select(spec, &got), MUPC_ENODEVICE);
  /* Outputs are written only on success. */
  for (size_t i = 0; i < sizeof got; i++)
    assert_int_equal(((unsigned char *)&got)[i], 0x5a);
  const char *msg = mupc_errmsg();
  char quoted[64];
  snprintf(quoted, sizeof quoted, "'%s'", spec);
  assert_non_null(strstr(msg, quoted));
  assert_non_null(strstr(msg, "--device"));
  assert_null(strchr(msg, '\n'));
  /* It lists what exists (a handful of devices fit in the message). */
  for (size_t i = 0; i < n && i < 4; i++) {
    char index[32];
    snprintf(index, sizeof index, "%d:%d", devs[i].platform_index, devs[i].device_index);
    assert_non_null(strstr(msg, index));
    assert_non_null(strstr(msg, devs[i].name));
  }
}

static void test_bad_specs(void **state) {
  (void)state;
  mupc_device_info *devs;
  size_t n = list_or_skip(&devs);
  check_no_match(devs, n, "nosuch");
  check_no_match(devs, n, "9:9");
  check_no_match(devs, n, "0:99");
  check_no_match(devs, n, "-1:0");
  mupc_ctx *ctx = (mupc_ctx *)&ctx;
  assert_int_equal(mupc_ctx_init(&ctx, "nosuch"), MUPC_ENODEVICE);
  assert_ptr_equal(ctx, (mupc_ctx *)&ctx);
  free(devs);
}

/* mupc_device_select_nth: device `index` modulo the count of those SPEC
 * matches, in listing order (what each rank under mpirun takes). */
static void check_nth(const mupc_device_info *devs, size_t n, const char *spec,
                      int (*match)(const mupc_device_info *, const char *)) {
  size_t hits[64], nhits = 0;
  for (size_t i = 0; i < n && nhits < 64; i++)
    if (match(&devs[i], spec)) hits[nhits++] = i;
  mupc_device_info got;
  if (nhits == 0) {
    assert_int_equal(mupc_device_select_nth(spec, 0, &got), MUPC_ENODEVICE);
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s'", spec);
    assert_non_null(strstr(mupc_errmsg(), quoted));
    return;
  }
  for (size_t k = 0; k < 2 * nhits + 1; k++) {
    assert_int_equal(mupc_device_select_nth(spec, (int)k, &got), MUPC_OK);
    assert_true(same_device(&got, &devs[hits[k % nhits]]));
  }
}

static int type_matches(const mupc_device_info *d, const char *type) {
  return !strcmp(d->type, type);
}

static int index_matches(const mupc_device_info *d, const char *spec) {
  char want[32];
  snprintf(want, sizeof want, "%d:%d", d->platform_index, d->device_index);
  return !strcmp(want, spec);
}

static int nothing_matches(const mupc_device_info *d, const char *spec) {
  (void)d, (void)spec;
  return 0;
}

static int is_gpu(const mupc_device_info *d) { return !strcmp(d->type, "gpu"); }

static void test_select_nth(void **state) {
  (void)state;
  mupc_device_info *devs;
  size_t n = list_or_skip(&devs);
  check_nth(devs, n, "cpu", type_matches);
  check_nth(devs, n, "gpu", type_matches);
  for (size_t i = 0; i < n; i++) {
    char spec[32];
    snprintf(spec, sizeof spec, "%d:%d", devs[i].platform_index, devs[i].device_index);
    check_nth(devs, n, spec, index_matches);
  }
  check_nth(devs, n, "nosuch", nothing_matches);
  check_nth(devs, n, "9:9", nothing_matches);
  /* Two CPU implementations (PoCL and llvmpipe here): ranks 0 and 1 of
   * "cpu" get one each. */
  size_t cpus = 0;
  for (size_t i = 0; i < n; i++)
    cpus += type_matches(&devs[i], "cpu");
  if (cpus >= 2) {
    mupc_device_info a, b;
    assert_int_equal(mupc_device_select_nth("cpu", 0, &a), MUPC_OK);
    assert_int_equal(mupc_device_select_nth("cpu", 1, &b), MUPC_OK);
    assert_false(same_device(&a, &b));
  }
  /* Without a SPEC: the group of the default device, which comes first. */
  size_t gpus = 0;
  for (size_t i = 0; i < n; i++)
    gpus += is_gpu(&devs[i]);
  size_t group[64], ngroup = 0;
  for (size_t i = 0; i < n && ngroup < 64; i++)
    if (gpus ? is_gpu(&devs[i]) : 1) group[ngroup++] = i;
  mupc_device_info got;
  assert_int_equal(mupc_device_select_nth(NULL, 0, &got), MUPC_OK);
  assert_true(got.is_default);
  for (size_t k = 0; k < 2 * ngroup; k++) {
    assert_int_equal(mupc_device_select_nth("", (int)k, &got), MUPC_OK);
    assert_true(same_device(&got, &devs[group[k % ngroup]]));
  }
  /* MUPC_DEVICE stands in for a missing SPEC, as in mupc_device_select. */
  assert_int_equal(setenv("MUPC_DEVICE", "cpu", 1), 0);
  if (cpus > 0) {
    /* Index cpus wraps to the first CPU. */
    size_t first = 0;
    while (!type_matches(&devs[first], "cpu"))
      first++;
    assert_int_equal(mupc_device_select_nth(NULL, (int)cpus, &got), MUPC_OK);
    assert_true(same_device(&got, &devs[first]));
  } else {
    assert_int_equal(mupc_device_select_nth(NULL, 0, &got), MUPC_ENODEVICE);
    assert_non_null(strstr(mupc_errmsg(), "MUPC_DEVICE"));
  }
  assert_int_equal(unsetenv("MUPC_DEVICE"), 0);
  assert_int_equal(mupc_device_select_nth("cpu", -1, &got), MUPC_EINVAL);
  free(devs);
}

static void test_ctx_on_each_implementation(void **state) {
  (void)state;
  const char *specs[4];
  int nspec = testdev_specs(specs, 4);
  assert_true(nspec >= 0);
  if (nspec == 0) skip();
  for (int i = 0; i < nspec; i++) {
    mupc_device_info want;
    assert_int_equal(mupc_device_select(specs[i], &want), MUPC_OK);
    mupc_ctx *ctx = NULL;
    assert_int_equal(mupc_ctx_init(&ctx, specs[i]), MUPC_OK);
    assert_non_null(ctx);
    assert_true(same_device(mupc_ctx_device(ctx), &want));
    assert_string_equal(mupc_ctx_build_log(ctx), "");
    assert_int_equal(mupc_ctx_device_bytes(ctx), 0);

    /* Buffers come zero-filled and are counted; odd sizes round up to
     * whole words. */
    cl_mem a = NULL, b = NULL;
    assert_int_equal(mupc__buffer_alloc(ctx, 1000, &a), MUPC_OK);
    assert_int_equal(mupc__buffer_alloc(ctx, 3, &b), MUPC_OK);
    assert_int_equal(mupc_ctx_device_bytes(ctx), 1004);
    unsigned char host[1000];
    memset(host, 0xff, sizeof host);
    assert_int_equal(
        clEnqueueReadBuffer(ctx->queue, a, CL_TRUE, 0, sizeof host, host, 0, NULL, NULL),
        CL_SUCCESS);
    for (size_t k = 0; k < sizeof host; k++)
      assert_int_equal(host[k], 0);
    mupc__buffer_free(ctx, &b, 3);
    assert_null(b);
    mupc__buffer_free(ctx, &b, 3); /* a second free is a no-op */
    mupc__buffer_free(ctx, &a, 1000);
    assert_int_equal(mupc_ctx_device_bytes(ctx), 0);

    /* More than one allocation may hold: refused before asking OpenCL. */
    cl_mem big = NULL;
    size_t too_big = (size_t)want.max_alloc_bytes + 4;
    assert_int_equal(mupc__buffer_alloc(ctx, too_big, &big), MUPC_EDEVMEM);
    assert_null(big);
    assert_non_null(strstr(mupc_errmsg(), want.name));
    assert_int_equal(mupc_ctx_device_bytes(ctx), 0);
    mupc_ctx_free(ctx);
  }
  mupc_ctx_free(NULL);
}

int main(void) {
  /* No OpenCL at all: meson's SKIP (77), not a vacuous pass. A missing
   * required implementation still fails every test below. */
  const char *specs[4];
  mupc_device_info *devs;
  size_t n;
  int listed = mupc_device_list(&devs, &n);
  if (listed == MUPC_OK) free(devs);
  if (listed == MUPC_ENOPLATFORM && testdev_specs(specs, 4) == 0) return 77;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_listing),
      cmocka_unit_test(test_spec_default),
      cmocka_unit_test(test_spec_platform_device_index),
      cmocka_unit_test(test_spec_type),
      cmocka_unit_test(test_spec_name_substrings),
      cmocka_unit_test(test_spec_implementation_names),
      cmocka_unit_test(test_env_fallback),
      cmocka_unit_test(test_bad_specs),
      cmocka_unit_test(test_select_nth),
      cmocka_unit_test(test_ctx_on_each_implementation),
  };
  return cmocka_run_group_tests(tests, clear_env, NULL);
}
