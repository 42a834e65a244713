/* The mupc command: subcommand table and helpers every subcommand shares.
 *
 * Exit codes: 0 success, 2 the user's input is wrong (usage, a bad flag
 * value, no such device, an unreadable or malformed file), 1 any other
 * failure. Helpers print one "mupc <command>: <message>" line on stderr and
 * return the exit code, so a subcommand fails with `return cli_error(...)`;
 * nothing below main() calls exit(). */
#ifndef MUPC_CLI_H
#define MUPC_CLI_H

#include "mupc.h"

#include <stdint.h>

enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* The subcommands: X(name, one-line summary). Adding one is one row here,
 * a function `int cli_<name>(int argc, char **argv)` and its file in
 * src/cli/meson.build. argv[0] is "mupc <name>", optind is reset and
 * opterr is 0, so getopt_long works as in a program of its own but keeps
 * quiet about a bad flag: on '?' (or ':')
 * `return cli_bad_flag(CMD, argc, argv, options);` says what was wrong. */
#define CLI_COMMANDS(X)                                                                            \
  X(devices, "list the OpenCL devices; * marks the default")                                       \
  X(bench, "time training steps on synthetic data; GFLOP/s and efficiency")                        \
  X(tune, "search CLBlast GEMM parameters for this device and cache them")                        \
  X(train, "train on an IDX data set (Fashion-MNIST); metrics, checkpoints, resume")               \
  X(eval, "test accuracy and loss of a saved model")                                               \
  X(compare, "the same training on several devices: speed and numerical agreement")

#define CLI__DECLARE(name, summary) int cli_##name(int argc, char **argv);
CLI_COMMANDS(CLI__DECLARE)
#undef CLI__DECLARE

/* "mupc <cmd>: <message>" (or "mupc: <message>" when cmd is NULL) on
 * stderr; returns code. */
int cli_error(int code, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The exit code for a library status (see the top of this file). */
int cli_exit_code(int status);

/* Reports a failed library call: mupc_errmsg() (or the status name when the
 * library left no detail) and, for MUPC_EBUILD with a context, the
 * compiler's build log after it. Returns cli_exit_code(status). */
int cli_report(const char *cmd, int status, const mupc_ctx *ctx);

/* A failed library call whose message (mupc_errmsg(), which names the
 * file) belongs to a flag: "mupc <cmd>: <flag>: <message>". Returns
 * cli_exit_code(status). */
int cli_flag_error(const char *cmd, const char *flag, int status);

struct option;
struct json_object;

/* After getopt_long (with opterr = 0, as main() sets it) returned '?' or
 * ':' for opts: one line naming the flag and what is wrong with it
 * (unknown, with the closest known flag; ambiguous; missing its value;
 * given a value it takes none), pointing to 'mupc <cmd> --help'. Returns
 * CLI_EXIT_USAGE. */
int cli_bad_flag(const char *cmd, int argc, char *const *argv, const struct option *opts);

/* JSON numbers in the shortest text that reads back to the same double, or
 * (cli_json_float) to the same float: 0.5355, not 0.53549999999999998.
 * NULL, which json-c writes as null, for NaN and infinities. */
struct json_object *cli_json_double(double v);
struct json_object *cli_json_float(float v);

/* Strict flag values (the library's mupc_parse_*): the whole text must be a
 * number in range, no blanks, no trailing characters. On failure they print
 * "mupc <cmd>: <flag>: expected an integer >= 1, got '0'" and return
 * CLI_EXIT_USAGE; *out is written only on success. */
int cli_parse_int(const char *cmd, const char *flag, const char *text, long long lo, long long hi,
                  int *out);
int cli_parse_u64(const char *cmd, const char *flag, const char *text, uint64_t *out);

/* Bounds of a float flag; an open end excludes its value (lr > 0). */
typedef struct cli_range {
  double lo, hi;
  int lo_open, hi_open;
} cli_range;

int cli_parse_float(const char *cmd, const char *flag, const char *text, cli_range range,
                    float *out);

/* --gemm auto|clblast|host|kernels: *out is the mupc_gemm, else CLI_EXIT_USAGE
 * naming the choices. */
int cli_parse_gemm(const char *cmd, const char *flag, const char *text, int *out);
/* A context on the device spec selects (NULL: MUPC_DEVICE or the default)
 * or, with nth >= 0 (an MPI rank's index on its machine), on device nth of
 * those spec matches; then the parsed --gemm (gemm < 0: not given, the
 * library's choice, which MUPC_GEMM may set), where a provider the device
 * cannot use is a usage error that says why. */
int cli_ctx_init(const char *cmd, const char *spec, int gemm, int nth, mupc_ctx **ctx);
/* "clblast", or "host (OpenBLAS ..., 2 threads; native kernel)". */
void cli_gemm_describe(const mupc_ctx *ctx, char *dst, size_t n);
#define CLI_GEMM_HELP                                                                    \
  "  --gemm P         GEMM provider: auto (host BLAS on CPU devices, CLBlast elsewhere),\n" \
  "                   clblast, host or kernels (the library's own; default MUPC_GEMM,\n" \
  "                   then auto)\n"

/* Seconds on a monotonic clock, for timing. */
double cli_seconds(void);

/* "4.2 GiB": bytes in binary units, one decimal. */
void cli_format_bytes(uint64_t bytes, char *dst, size_t n);

#endif
