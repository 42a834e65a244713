/* The CLI's shared helpers: strict flag parsing with its exact messages,
 * the line for a flag getopt refused, JSON numbers, exit codes, byte
 * formatting and the build-log report. */
#include "cli/cli.h"
#include "internal.h"
#include "testdev.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* What the code under test writes to stderr, caught in a temporary file. */
static int saved_stderr = -1;
static FILE *capture_file;
static char captured[8192];

static void capture_begin(void) {
  fflush(stderr);
  capture_file = tmpfile();
  assert_non_null(capture_file);
  saved_stderr = dup(2);
  assert_true(saved_stderr >= 0);
  assert_true(dup2(fileno(capture_file), 2) >= 0);
}

static const char *capture_end(void) {
  fflush(stderr);
  assert_true(dup2(saved_stderr, 2) >= 0);
  close(saved_stderr);
  rewind(capture_file);
  size_t n = fread(captured, 1, sizeof captured - 1, capture_file);
  captured[n] = '\0';
  fclose(capture_file);
  return captured;
}

/* Parses text as --width in [lo, hi]; returns the exit code and leaves the
 * message in `captured`. */
static int parse_int(const char *text, long long lo, long long hi, int *out) {
  capture_begin();
  int rc = cli_parse_int("train", "--width", text, lo, hi, out);
  capture_end();
  return rc;
}

static void test_parse_int(void **state) {
  (void)state;
  int v = 0;
  assert_int_equal(parse_int("128", 1, INT64_MAX, &v), CLI_EXIT_OK);
  assert_int_equal(v, 128);
  assert_string_equal(captured, "");
  assert_int_equal(parse_int("-3", -5, 5, &v), CLI_EXIT_OK);
  assert_int_equal(v, -3);
  assert_int_equal(parse_int("2147483647", 0, INT64_MAX, &v), CLI_EXIT_OK);
  assert_int_equal(v, 2147483647);

  v = 7;
  assert_int_equal(parse_int("0", 1, INT64_MAX, &v), CLI_EXIT_USAGE);
  assert_string_equal(captured, "mupc train: --width: expected an integer >= 1, got '0'\n");
  assert_int_equal(v, 7);
  assert_int_equal(parse_int("11", 1, 10, &v), CLI_EXIT_USAGE);
  assert_string_equal(captured, "mupc train: --width: expected an integer in [1, 10], got '11'\n");
  static const char *const bad[] = {"",     " 5",  "5 ",  "5x",         "1e3",
                                    "0x10", "2.5", "abc", "2147483648", "99999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(parse_int(bad[i], 0, INT64_MAX, &v), CLI_EXIT_USAGE);
    assert_int_equal(v, 7);
    assert_non_null(strstr(captured, "--width"));
  }
}

static int parse_u64(const char *text, uint64_t *out) {
  capture_begin();
  int rc = cli_parse_u64("train", "--seed", text, out);
  capture_end();
  return rc;
}

static void test_parse_u64(void **state) {
  (void)state;
  uint64_t v = 1;
  assert_int_equal(parse_u64("0", &v), CLI_EXIT_OK);
  assert_true(v == 0);
  assert_int_equal(parse_u64("18446744073709551615", &v), CLI_EXIT_OK);
  assert_true(v == UINT64_MAX);
  v = 5;
  static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "18446744073709551616", "1.0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(parse_u64(bad[i], &v), CLI_EXIT_USAGE);
    assert_true(v == 5);
  }
  assert_int_equal(parse_u64("-1", &v), CLI_EXIT_USAGE);
  assert_string_equal(captured,
                      "mupc train: --seed: expected an integer >= 0 (64-bit), got '-1'\n");
}

static int parse_float(const char *text, cli_range r, float *out) {
  capture_begin();
  int rc = cli_parse_float("train", "--lr", text, r, out);
  capture_end();
  return rc;
}

static void test_parse_float(void **state) {
  (void)state;
  const cli_range positive = {0, INFINITY, 1, 0};
  const cli_range beta = {0, 1, 0, 1};
  const cli_range non_positive = {-INFINITY, 0, 0, 0};
  float v = 0;
  assert_int_equal(parse_float("0.5", positive, &v), CLI_EXIT_OK);
  assert_true(v == 0.5f);
  assert_int_equal(parse_float("1e-3", positive, &v), CLI_EXIT_OK);
  assert_true(v == 1e-3f);
  assert_int_equal(parse_float("0", beta, &v), CLI_EXIT_OK);
  assert_true(v == 0.0f);
  assert_int_equal(parse_float("0.999", beta, &v), CLI_EXIT_OK);

  v = 9;
  assert_int_equal(parse_float("0", positive, &v), CLI_EXIT_USAGE);
  assert_string_equal(captured, "mupc train: --lr: expected a number > 0, got '0'\n");
  assert_int_equal(parse_float("1", beta, &v), CLI_EXIT_USAGE);
  assert_string_equal(captured, "mupc train: --lr: expected a number in [0, 1), got '1'\n");
  assert_int_equal(parse_float("1", non_positive, &v), CLI_EXIT_USAGE);
  assert_string_equal(captured, "mupc train: --lr: expected a number <= 0, got '1'\n");
  /* 1e-50 is 0 as a float: not > 0. 1e39 does not fit a float. */
  static const char *const bad[] = {"",   "nan", "inf",  "-inf", "1e39", "1e-50",
                                    " 1", "1 ",  "0.5x", "-0.5", "abc"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(parse_float(bad[i], positive, &v), CLI_EXIT_USAGE);
    assert_true(v == 9.0f);
    assert_non_null(strstr(captured, "--lr"));
  }
}

static void test_format_bytes(void **state) {
  (void)state;
  char b[32];
  static const struct {
    uint64_t bytes;
    const char *text;
  } cases[] = {
      {0, "0 B"},
      {1023, "1023 B"},
      {1024, "1.0 KiB"},
      {1536, "1.5 KiB"},
      {2147483648ull, "2.0 GiB"},
      {4500126720ull, "4.2 GiB"},
      {25125584896ull, "23.4 GiB"},
      {UINT64_MAX, "16.0 EiB"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cli_format_bytes(cases[i].bytes, b, sizeof b);
    assert_string_equal(b, cases[i].text);
  }
}

static void test_exit_codes(void **state) {
  (void)state;
  assert_int_equal(cli_exit_code(MUPC_OK), CLI_EXIT_OK);
  static const int usage[] = {MUPC_EINVAL, MUPC_ENOPLATFORM, MUPC_ENODEVICE,
                              MUPC_EIO,    MUPC_EFORMAT,     MUPC_ESHAPE};
  for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++)
    assert_int_equal(cli_exit_code(usage[i]), CLI_EXIT_USAGE);
  static const int fail[] = {MUPC_EBUILD, MUPC_EDEVMEM,        MUPC_ENOMEM,
                             MUPC_EGEMM,  MUPC_ENONFINITE,     MUPC_ENOSPC,
                             MUPC_EINTR,  CL_OUT_OF_RESOURCES, -2046};
  for (size_t i = 0; i < sizeof fail / sizeof fail[0]; i++)
    assert_int_equal(cli_exit_code(fail[i]), CLI_EXIT_FAIL);
}

static void test_error_lines(void **state) {
  (void)state;
  capture_begin();
  int rc = cli_error(CLI_EXIT_USAGE, NULL, "unknown command '%s'", "x");
  capture_end();
  assert_int_equal(rc, CLI_EXIT_USAGE);
  assert_string_equal(captured, "mupc: unknown command 'x'\n");

  mupc__fail(MUPC_ENODEVICE, "no OpenCL device matches --device 'nosuch'");
  capture_begin();
  rc = cli_report("devices", MUPC_ENODEVICE, NULL);
  capture_end();
  assert_int_equal(rc, CLI_EXIT_USAGE);
  assert_string_equal(captured, "mupc devices: no OpenCL device matches --device 'nosuch'\n");

  /* No detail left by the library: the status name stands in. */
  mupc__clear_errmsg();
  capture_begin();
  rc = cli_report("train", CL_OUT_OF_RESOURCES, NULL);
  capture_end();
  assert_int_equal(rc, CLI_EXIT_FAIL);
  assert_string_equal(captured, "mupc train: CL_OUT_OF_RESOURCES\n");
}

/* A failed build prints the message, then the compiler's log. */
static void test_report_prints_the_build_log(void **state) {
  (void)state;
  const char *specs[4];
  int n = testdev_specs(specs, 4);
  assert_true(n >= 0);
  if (n == 0) skip();
  mupc_ctx *ctx = NULL;
  assert_int_equal(mupc_ctx_init(&ctx, specs[0]), MUPC_OK);
  cl_program prog = NULL;
  int status = mupc__program_from_source(
      ctx, "kernel void k(global float *y) { y[0] = not_declared_here; }\n", NULL, &prog);
  assert_int_equal(status, MUPC_EBUILD);
  capture_begin();
  int rc = cli_report("train", status, ctx);
  capture_end();
  assert_int_equal(rc, CLI_EXIT_FAIL);
  assert_true(strncmp(captured, "mupc train: ", 12) == 0);
  const char *log = strchr(captured, '\n');
  assert_non_null(log);
  assert_non_null(strstr(log, "not_declared_here"));
  assert_int_equal(captured[strlen(captured) - 1], '\n');
  mupc_ctx_free(ctx);
}

/* getopt_long over words (opterr 0, as main() sets it) with a few of
 * train's flags, then cli_bad_flag on what it refused: the exit code, and
 * the line in `captured`. -1 if nothing was refused. */
static int refuse(const char *const *words) {
  static const struct option opts[] = {
      {"steps", required_argument, NULL, 1},
      {"save", required_argument, NULL, 2},
      {"seed", required_argument, NULL, 3},
      {"quiet", no_argument, NULL, 4},
      {"json", no_argument, NULL, 5},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  char *argv[16] = {"mupc train"};
  int argc = 1;
  while (*words && argc < 15)
    argv[argc++] = (char *)*words++;
  argv[argc] = NULL;
  optind = 0; /* forget any half-read cluster of an earlier call */
  opterr = 0;
  int c, rc = -1;
  capture_begin();
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
    if (c == '?' || c == ':') {
      rc = cli_bad_flag("train", argc, argv, opts);
      break;
    }
  capture_end();
  return rc;
}

static void test_bad_flag_lines(void **state) {
  (void)state;
  static const struct {
    const char *words[5];
    const char *line;
  } cases[] = {
      {{"--stpes", "5"},
       "unknown flag '--stpes'; did you mean '--steps'? (see 'mupc train --help')"},
      {{"--quiet", "--STEPS", "5"},
       "unknown flag '--STEPS'; did you mean '--steps'? (see 'mupc train --help')"},
      {{"--sed=1"}, "unknown flag '--sed'; did you mean '--seed'? (see 'mupc train --help')"},
      {{"--bogus"}, "unknown flag '--bogus' (see 'mupc train --help')"},
      {{"--steps"}, "flag '--steps' needs a value (see 'mupc train --help')"},
      {{"--quiet=1"}, "flag '--quiet' takes no value, got '--quiet=1' (see 'mupc train --help')"},
      {{"--s", "1"}, "flag '--s' is ambiguous: --steps, --save, --seed (see 'mupc train --help')"},
      {{"--json", "-x"}, "unknown flag '-x' (see 'mupc train --help')"},
      {{"--json", "-steps", "5"},
       "unknown flag '-steps'; did you mean '--steps'? (see 'mupc train --help')"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char want[256];
    snprintf(want, sizeof want, "mupc train: %s\n", cases[i].line);
    assert_int_equal(refuse(cases[i].words), CLI_EXIT_USAGE);
    assert_string_equal(captured, want);
  }
  /* Abbreviations getopt accepts are not refused. */
  static const char *const fine[] = {"--ste", "5", "--qui", "--json", NULL};
  assert_int_equal(refuse(fine), -1);
}

static void test_json_numbers(void **state) {
  (void)state;
  static const struct {
    double v;
    const char *text;
  } doubles[] = {
      {0.5355, "0.5355"},
      {0.1, "0.1"},
      {1.0, "1.0"},
      {-0.0, "-0.0"},
      {-2.5e-7, "-2.5e-07"},
      {1e300, "1e+300"},
      {1.0 / 3, "0.3333333333333333"},
  };
  for (size_t i = 0; i < sizeof doubles / sizeof doubles[0]; i++) {
    json_object *o = cli_json_double(doubles[i].v);
    assert_non_null(o);
    assert_string_equal(json_object_to_json_string(o), doubles[i].text);
    assert_true(json_object_get_double(o) == doubles[i].v);
    json_object_put(o);
  }
  /* A float's shortest form as a float, not as the double it widens to
   * (0.1f is 0.100000001490116…). */
  static const struct {
    float v;
    const char *text;
  } floats[] = {
      {0.1f, "0.1"},
      {0.336993f, "0.336993"},
      {1.0f / 3, "0.33333334"},
      {16777216.0f, "16777216.0"},
  };
  for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) {
    json_object *o = cli_json_float(floats[i].v);
    assert_non_null(o);
    assert_string_equal(json_object_to_json_string(o), floats[i].text);
    json_object_put(o);
  }
  assert_null(cli_json_double(NAN));
  assert_null(cli_json_double(INFINITY));
  assert_null(cli_json_float(-INFINITY));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_int),
      cmocka_unit_test(test_parse_u64),
      cmocka_unit_test(test_parse_float),
      cmocka_unit_test(test_bad_flag_lines),
      cmocka_unit_test(test_json_numbers),
      cmocka_unit_test(test_format_bytes),
      cmocka_unit_test(test_exit_codes),
      cmocka_unit_test(test_error_lines),
      cmocka_unit_test(test_report_prints_the_build_log),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
