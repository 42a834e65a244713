/* Helpers the fuzz harnesses share: a private scratch directory for the
 * files the readers must open, and an invariant check that aborts, so a
 * violated property is a crash to libFuzzer and to the replay test alike.
 *
 * Each harness defines LLVMFuzzerTestOneInput. Built with clang's
 * -fsanitize=fuzzer it is a libFuzzer target (tools/fuzz.sh); linked with
 * replay.c under any compiler it replays stored inputs (the fuzz_replay
 * test). */
#ifndef MUPC_FUZZ_COMMON_H
#define MUPC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* "<scratch dir>/name". The directory is made on first use (under $TMPDIR,
 * else /tmp) and removed with its files at exit. The result is valid until
 * the next call. */
const char *fuzz_path(const char *name);

/* Replaces the file at path with data[0 … n-1]; aborts if it cannot. */
void fuzz_write_file(const char *path, const void *data, size_t n);

/* Aborts with the message when cond is false. */
#define FUZZ_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);            \
  } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
