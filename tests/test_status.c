/* Status codes: names for mupc's, OpenCL's and CLBlast's codes, and the
 * per-thread detail message. */
#include "internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <string.h>

static const int codes[] = {
#define ROW(name, value, text) value,
    MUPC_STATUS_MAP(ROW)
#undef ROW
};
#define NCODES (sizeof codes / sizeof codes[0])

static void test_every_code_has_a_distinct_text(void **state) {
  (void)state;
  for (size_t i = 0; i < NCODES; i++) {
    const char *a = mupc_strerror(codes[i]);
    assert_non_null(a);
    assert_true(strlen(a) > 0);
    assert_string_not_equal(a, "unknown status");
    for (size_t j = 0; j < i; j++) {
      assert_int_not_equal(codes[i], codes[j]);
      assert_string_not_equal(a, mupc_strerror(codes[j]));
    }
  }
}

static void test_mupc_codes_sit_in_their_range(void **state) {
  (void)state;
  for (size_t i = 0; i < NCODES; i++) {
    if (codes[i] == MUPC_OK) continue;
    assert_true(codes[i] <= -3000);
    /* Never shadows an OpenCL or CLBlast name. */
    assert_null(mupc__cl_error_name(codes[i]));
  }
  assert_int_equal(MUPC_OK, 0);
  assert_string_equal(mupc_strerror(MUPC_OK), "success");
}

static void test_opencl_codes_keep_their_names(void **state) {
  (void)state;
  assert_string_equal(mupc_strerror(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES");
  assert_string_equal(mupc_strerror(-5), "CL_OUT_OF_RESOURCES");
  assert_string_equal(mupc_strerror(CL_BUILD_PROGRAM_FAILURE), "CL_BUILD_PROGRAM_FAILURE");
  assert_string_equal(mupc_strerror(CL_INVALID_VALUE), "CL_INVALID_VALUE");
  assert_string_equal(mupc_strerror(CL_MEM_OBJECT_ALLOCATION_FAILURE),
                      "CL_MEM_OBJECT_ALLOCATION_FAILURE");
  assert_string_equal(mupc_strerror(CL_INVALID_WORK_GROUP_SIZE), "CL_INVALID_WORK_GROUP_SIZE");
  assert_string_equal(mupc_strerror(-1001), "CL_PLATFORM_NOT_FOUND_KHR");
  /* Every OpenCL 1.2 code from -1 to -68 has a name, except the gap. */
  for (int c = -1; c >= -68; c--) {
    if (c <= -20 && c >= -29) continue;
    assert_non_null(mupc__cl_error_name(c));
    assert_true(strncmp(mupc_strerror(c), "CL_", 3) == 0);
  }
}

static void test_clblast_codes_keep_their_names(void **state) {
  (void)state;
  assert_string_equal(mupc_strerror(-1024), "CLBlastNotImplemented");
  assert_string_equal(mupc_strerror(-1017), "CLBlastInvalidDimension");
  assert_string_equal(mupc_strerror(-1009), "CLBlastInsufficientMemoryC");
  assert_string_equal(mupc_strerror(-2046), "CLBlastInvalidLocalMemUsage");
  assert_string_equal(mupc_strerror(-2049), "CLBlastInvalidBatchCount");
  assert_string_equal(mupc_strerror(-2039), "CLBlastUnexpectedError");
}

static void test_unknown_codes(void **state) {
  (void)state;
  static const int unknown[] = {1,     12345, -20,   -29,   -999,  -1000,
                                -1023, -2038, -2999, -3000, -3999, INT32_MIN};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    assert_string_equal(mupc_strerror(unknown[i]), "unknown status");
    assert_null(mupc__cl_error_name(unknown[i]));
  }
}

static void test_fail_sets_the_message_and_returns_the_status(void **state) {
  (void)state;
  mupc__clear_errmsg();
  assert_string_equal(mupc_errmsg(), "");
  assert_int_equal(mupc__fail(MUPC_EINVAL, "width must be >= %d, got %d", 1, 0), MUPC_EINVAL);
  assert_string_equal(mupc_errmsg(), "width must be >= 1, got 0");
  mupc__clear_errmsg();
  assert_string_equal(mupc_errmsg(), "");
}

static void test_long_messages_are_cut_not_overrun(void **state) {
  (void)state;
  char big[4000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(mupc__fail(MUPC_EIO, "%s", big), MUPC_EIO);
  size_t n = strlen(mupc_errmsg());
  assert_true(n > 0 && n < sizeof big - 1);
  assert_int_equal(mupc_errmsg()[0], 'x');
}

static void *other_thread(void *arg) {
  const char **seen = arg;
  *seen = mupc_errmsg()[0] ? "not empty" : "";
  mupc__fail(MUPC_EIO, "set on the other thread");
  return NULL;
}

static void test_message_is_per_thread(void **state) {
  (void)state;
  mupc__fail(MUPC_EINVAL, "set on the main thread");
  const char *seen = NULL;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, other_thread, &seen), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_string_equal(seen, "");
  assert_string_equal(mupc_errmsg(), "set on the main thread");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code_has_a_distinct_text),
      cmocka_unit_test(test_mupc_codes_sit_in_their_range),
      cmocka_unit_test(test_opencl_codes_keep_their_names),
      cmocka_unit_test(test_clblast_codes_keep_their_names),
      cmocka_unit_test(test_unknown_codes),
      cmocka_unit_test(test_fail_sets_the_message_and_returns_the_status),
      cmocka_unit_test(test_long_messages_are_cut_not_overrun),
      cmocka_unit_test(test_message_is_per_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
