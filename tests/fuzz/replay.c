/* Replays stored inputs through one fuzz harness without libFuzzer, so the
 * seed corpus and every crash ever found run as an ordinary test under any
 * compiler (and under the sanitizers in the build-asan run of
 * tools/test.sh). A harness signals a failure by crashing or aborting.
 *
 * Usage: replay_<harness> PATH...  (files, or directories whose regular
 * files are replayed in name order; names starting with '.' are skipped) */
#define _DEFAULT_SOURCE /* scandir, alphasort */
#include "fuzz_common.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static size_t replayed;

static void replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(1);
  }
  size_t cap = 4096, n = 0;
  unsigned char *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
    n += got;
    if (n == cap) {
      unsigned char *bigger = realloc(buf, cap *= 2);
      if (!bigger) free(buf);
      buf = bigger;
    }
  }
  if (!buf || ferror(f)) {
    fprintf(stderr, "%s: cannot read\n", path);
    exit(1);
  }
  fclose(f);
  /* Announced first, so a crash names its input. */
  fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
  LLVMFuzzerTestOneInput(buf, n);
  free(buf);
  replayed++;
}

static int visible(const struct dirent *e) { return e->d_name[0] != '.'; }

static void replay_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    perror(path);
    exit(1);
  }
  if (!S_ISDIR(st.st_mode)) {
    replay_file(path);
    return;
  }
  struct dirent **names = NULL;
  int n = scandir(path, &names, visible, alphasort);
  if (n < 0) {
    perror(path);
    exit(1);
  }
  for (int i = 0; i < n; i++) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", path, names[i]->d_name);
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) replay_file(p);
    free(names[i]);
  }
  free(names);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) replay_path(argv[i]);
  printf("%s: replayed %zu inputs\n", argv[0], replayed);
  /* A harness given nothing tests nothing: a wrong path must not pass. */
  return replayed > 0 ? 0 : 1;
}
