/* Which OpenCL implementations the device tests run on (see testdev.h). */
#include "testdev.h"

#include "mupc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Both are CPU devices and every CI machine can have them; rusticl lists
 * llvmpipe only under RUSTICL_ENABLE=llvmpipe, which the test environment
 * sets. MUPC_TEST_DEVICES (comma-separated SPECs, e.g. "nvidia") replaces
 * them, so the same tests check a GPU driver on a machine that has one. */
static const char *const default_list = "pocl,llvmpipe";

/* Is `name` one of the comma-separated words of `list`? */
static int listed(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ",");
    if (len == n && !strncmp(p, name, n)) return 1;
    p += len;
    if (*p == ',') p++;
  }
  return 0;
}

/* The words of `list`, copied into `store` (NUL-separated); returns how many. */
static int split(const char *list, char *store, size_t cap, const char *words[], int max) {
  int n = 0;
  size_t used = 0;
  for (const char *p = list; *p && n < max;) {
    size_t len = strcspn(p, ",");
    if (len > 0 && used + len + 1 <= cap) {
      memcpy(store + used, p, len);
      store[used + len] = '\0';
      words[n++] = store + used;
      used += len + 1;
    }
    p += len;
    if (*p == ',') p++;
  }
  return n;
}

int testdev_specs(const char *specs[], int max) {
  const char *required = getenv("MUPC_REQUIRE_DEVICES");
  if (!required) required = "";
  const char *chosen = getenv("MUPC_TEST_DEVICES");
  if (!chosen || !*chosen) chosen = default_list;
  static char store[256];
  const char *known[8];
  int nknown = split(chosen, store, sizeof store, known, 8);
  int n = 0, missing = 0;
  for (int i = 0; i < nknown; i++) {
    mupc_device_info info;
    int rc = mupc_device_select(known[i], &info);
    if (rc == MUPC_OK && n < max) {
      specs[n++] = known[i];
    } else if (listed(required, known[i])) {
      fprintf(stderr, "testdev: MUPC_REQUIRE_DEVICES names '%s' but it is missing: %s\n", known[i],
              rc ? mupc_errmsg() : "no room in the caller's array");
      missing = 1;
    } else {
      fprintf(stderr, "testdev: '%s' not present, its tests are skipped\n", known[i]);
    }
  }
  /* A name we do not know how to find must not pass silently either. */
  static char req_store[256];
  const char *req[8];
  const int nreq = split(required, req_store, sizeof req_store, req, 8);
  for (int i = 0; i < nreq; i++) {
    if (!listed(chosen, req[i])) {
      fprintf(stderr, "testdev: MUPC_REQUIRE_DEVICES names '%s'; the tested devices are %s\n",
              req[i], chosen);
      missing = 1;
    }
  }
  return missing ? -1 : n;
}

double testdev_rel_diff(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num = fmax(num, fabs((double)a[i] - b[i]));
    den = fmax(den, fabs((double)b[i]));
  }
  return num / den;
}
