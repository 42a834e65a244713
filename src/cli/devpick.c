/* See devpick.h. */
#include "devpick.h"

#include "mupc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int contains_nocase(const char *hay, const char *needle) {
  const size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t i = 0;
    while (i < n && hay[i] &&
           tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
      i++;
    if (i == n) return 1;
  }
  return n == 0;
}

static int matches(const mupc_device_info *d, const char *spec, int any_gpu) {
  int p, q;
  char end;
  if (!spec) return any_gpu ? !strcmp(d->type, "gpu") : 1;
  if (sscanf(spec, "%d:%d%c", &p, &q, &end) == 2)
    return d->platform_index == p && d->device_index == q;
  if (!strcmp(spec, "cpu") || !strcmp(spec, "gpu")) return !strcmp(d->type, spec);
  return contains_nocase(d->platform, spec) || contains_nocase(d->name, spec);
}

void devpick_spec(const char *spec, int index, char *out, size_t n) {
  if (!spec || !*spec) spec = getenv("MUPC_DEVICE");
  if (spec && !*spec) spec = NULL;
  snprintf(out, n, "%s", spec ? spec : "");
  mupc_device_info *list = NULL;
  size_t count = 0;
  if (mupc_device_list(&list, &count) != MUPC_OK) return;
  int any_gpu = 0;
  for (size_t i = 0; i < count; i++) any_gpu |= !strcmp(list[i].type, "gpu");
  size_t hits = 0;
  for (size_t i = 0; i < count; i++) hits += (size_t)matches(&list[i], spec, any_gpu);
  if (hits > 0) {
    size_t want = (size_t)index % hits;
    for (size_t i = 0; i < count; i++) {
      if (!matches(&list[i], spec, any_gpu)) continue;
      if (want-- == 0) {
        snprintf(out, n, "%d:%d", list[i].platform_index, list[i].device_index);
        break;
      }
    }
  }
  free(list);
}
