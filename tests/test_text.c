/* Numbers and names as text (src/text.c) and the shared JSON (src/json.c):
 * the strict parsers with their exact messages and untouched outputs on
 * failure, the shortest number text, the closest name, the metrics lines
 * byte for byte, the parameters as JSON, and --resume's conflict check
 * (src/checkpoint.c). No device needed. */
#include "mupc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect_refused(int status, const char *message) {
  assert_int_equal(status, MUPC_EINVAL);
  assert_string_equal(mupc_errmsg(), message);
}

static void test_parse_int(void **state) {
  (void)state;
  int v = 0;
  assert_int_equal(mupc_parse_int("128", 1, LLONG_MAX, &v), MUPC_OK);
  assert_int_equal(v, 128);
  assert_int_equal(mupc_parse_int("-5", -5, 5, &v), MUPC_OK);
  assert_int_equal(v, -5);
  assert_int_equal(mupc_parse_int("2147483647", 0, LLONG_MAX, &v), MUPC_OK);
  assert_int_equal(v, INT_MAX);
  v = 7;
  expect_refused(mupc_parse_int("0", 1, LLONG_MAX, &v), "expected an integer >= 1, got '0'");
  expect_refused(mupc_parse_int("11", 1, 10, &v), "expected an integer in [1, 10], got '11'");
  expect_refused(mupc_parse_int("-6", -5, 5, &v), "expected an integer in [-5, 5], got '-6'");
  /* Past int's range even where the caller's range is wider. */
  expect_refused(mupc_parse_int("2147483648", 0, LLONG_MAX, &v),
                 "expected an integer >= 0, got '2147483648'");
  static const char *const bad[] = {"", " 5", "5 ", "5x", "1e3", "0x10", "2.5", "+", "-"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(mupc_parse_int(bad[i], INT_MIN, INT_MAX, &v), MUPC_EINVAL);
  assert_int_equal(mupc_parse_int(NULL, 0, 1, &v), MUPC_EINVAL);
  assert_int_equal(v, 7); /* never written on failure */
}

static void test_parse_u64(void **state) {
  (void)state;
  uint64_t v = 1;
  assert_int_equal(mupc_parse_u64("18446744073709551615", &v), MUPC_OK);
  assert_true(v == UINT64_MAX);
  assert_int_equal(mupc_parse_u64("0", &v), MUPC_OK);
  assert_true(v == 0);
  v = 5;
  expect_refused(mupc_parse_u64("-1", &v), "expected an integer >= 0 (64-bit), got '-1'");
  static const char *const bad[] = {"", "+1", " 1", "1 ", "18446744073709551616", "1.0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(mupc_parse_u64(bad[i], &v), MUPC_EINVAL);
  assert_true(v == 5);
}

static void test_parse_float(void **state) {
  (void)state;
  float v = 0;
  assert_int_equal(mupc_parse_float("1e-3", 0, INFINITY, 1, 0, &v), MUPC_OK);
  assert_true(v == 1e-3f);
  assert_int_equal(mupc_parse_float("0", 0, 1, 0, 1, &v), MUPC_OK);
  assert_true(v == 0.0f);
  assert_int_equal(mupc_parse_float("-3.5", -INFINITY, 0, 0, 0, &v), MUPC_OK);
  assert_true(v == -3.5f);
  v = 9;
  expect_refused(mupc_parse_float("0", 0, INFINITY, 1, 0, &v), "expected a number > 0, got '0'");
  expect_refused(mupc_parse_float("-1", 0, INFINITY, 0, 0, &v), "expected a number >= 0, got '-1'");
  expect_refused(mupc_parse_float("1", 0, 1, 0, 1, &v), "expected a number in [0, 1), got '1'");
  expect_refused(mupc_parse_float("1", -INFINITY, 0, 0, 1, &v), "expected a number < 0, got '1'");
  expect_refused(mupc_parse_float("2e7", 0, 1e7, 1, 0, &v),
                 "expected a number in (0, 1e+07], got '2e7'");
  /* 1e-50 is 0 as a float: not > 0. 1e39 does not fit a float. */
  static const char *const bad[] = {"", "nan", "inf", "-inf", "1e39", "1e-50", " 1", "1 ", "0.5x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(mupc_parse_float(bad[i], 0, INFINITY, 1, 0, &v), MUPC_EINVAL);
  assert_true(v == 9.0f);
}

static void test_format_number(void **state) {
  (void)state;
  static const struct {
    double v;
    int as_float;
    const char *text;
  } cases[] = {
      {0.5355, 0, "0.5355"},  {0.1f, 1, "0.1"},   {0.1f, 0, "0.10000000149011612"},
      {100.0, 0, "1e+02"},    {3.0, 0, "3.0"},    {-0.0, 0, "-0.0"},
      {1e-8f, 1, "1e-08"},    {NAN, 0, "null"},   {INFINITY, 1, "null"},
      {1e300, 1, "null"}, /* finite as a double, not as a float */
  };
  char text[32];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(mupc_format_number(cases[i].v, cases[i].as_float, text, sizeof text), MUPC_OK);
    assert_string_equal(text, cases[i].text);
  }
  assert_int_equal(mupc_format_number(1.0, 0, text, 31), MUPC_EINVAL);
  assert_int_equal(mupc_format_number(1.0, 0, NULL, 32), MUPC_EINVAL);
}

static void test_closest_name(void **state) {
  (void)state;
  static const char *const names[] = {"steps", "save", NULL, "infer-steps", "warmup", "width"};
  const size_t n = sizeof names / sizeof names[0];
  assert_int_equal(mupc_closest_name("stpes", names, n), 0); /* a swap is one edit */
  assert_int_equal(mupc_closest_name("STEPS", names, n), 0);
  assert_int_equal(mupc_closest_name("infer_step", names, n), 3); /* '_' is '-' */
  assert_int_equal(mupc_closest_name("warmpu", names, n), 4);
  assert_int_equal(mupc_closest_name("widht", names, n), 5);
  assert_int_equal(mupc_closest_name("sav", names, n), 1);
  /* Too far to be a slip: one edit allowed in three letters, two in seven. */
  assert_int_equal(mupc_closest_name("xyzzy", names, n), -1);
  assert_int_equal(mupc_closest_name("sv", names, n), -1);
  assert_int_equal(mupc_closest_name("", names, n), -1);
  /* Three letters allow one edit: a swap is one, not two. */
  static const char *const act[] = {"act"};
  assert_int_equal(mupc_closest_name("cat", act, 1), 0);
  assert_int_equal(mupc_closest_name("tca", act, 1), -1);
  /* The first of equally close names wins. */
  static const char *const tie[] = {"abcd", "abce"};
  assert_int_equal(mupc_closest_name("abcx", tie, 2), 0);
  char longer[64];
  memset(longer, 'a', 50);
  longer[50] = '\0';
  static const char *const one[] = {"aaaa"};
  assert_int_equal(mupc_closest_name(longer, one, 1), -1);
  assert_int_equal(mupc_closest_name(NULL, names, n), -1);
  assert_int_equal(mupc_closest_name("steps", NULL, n), -1);
}

static void test_metrics_json(void **state) {
  (void)state;
  char text[MUPC_METRICS_JSON_MAX];
  mupc_train_metrics m = {.step = 12, .epoch = 2, .train_loss = 0.1f, .energy = 3.0f};
  assert_int_equal(mupc_train_metrics_json(&m, 0.25, text, sizeof text), MUPC_OK);
  assert_string_equal(text,
                      "{\"step\":12,\"epoch\":2,\"train_loss\":0.1,\"energy\":3.0,\"seconds\":0.25}");
  m.evaluated = 1, m.test_acc = 0.8125, m.test_loss = 0.5355;
  m.energy = NAN;
  assert_int_equal(mupc_train_metrics_json(&m, 1.0, text, sizeof text), MUPC_OK);
  assert_string_equal(text, "{\"step\":12,\"epoch\":2,\"train_loss\":0.1,\"energy\":null,"
                            "\"seconds\":1.0,\"test_acc\":0.8125,\"test_loss\":0.5355}");
  const mupc_eval_result ev = {.acc = 0.5, .loss = INFINITY, .count = 4};
  assert_int_equal(mupc_train_final_json(1500, &ev, 61.5, text, sizeof text), MUPC_OK);
  assert_string_equal(text, "{\"final\":true,\"step\":1500,\"test_acc\":0.5,\"test_loss\":null,"
                            "\"seconds\":61.5}");
  /* Too small a buffer: refused, untouched. */
  strcpy(text, "before");
  assert_int_equal(mupc_train_final_json(1500, &ev, 61.5, text, 20), MUPC_EINVAL);
  assert_string_equal(text, "before");
  assert_non_null(strstr(mupc_errmsg(), "the buffer has 20"));
  assert_int_equal(mupc_train_metrics_json(NULL, 0, text, sizeof text), MUPC_EINVAL);
  assert_int_equal(mupc_train_final_json(0, NULL, 0, text, sizeof text), MUPC_EINVAL);
}

static void test_params_json(void **state) {
  (void)state;
  char text[MUPC_PARAMS_JSON_MAX];
  mupc_net_params p = mupc_net_default_params();
  p.skips = 0;
  p.seed = UINT64_MAX;
  assert_int_equal(mupc_params_json(&p, text, sizeof text), MUPC_OK);
  assert_string_equal(
      text, "{\"input_dim\":784,\"output_dim\":10,\"depth\":30,\"width\":128,\"act\":\"relu\","
            "\"param\":\"mupc\",\"skips\":false,\"loss\":\"mse\",\"algo\":\"pc\",\"batch\":64,"
            "\"infer_steps\":30,\"activity_lr\":0.5,\"activity_optim\":\"gd\",\"lr\":0.1,"
            "\"optim\":\"adam\",\"weight_decay\":0.0,\"adam_beta1\":0.9,\"adam_beta2\":0.999,"
            "\"adam_eps\":1e-08,\"seed\":18446744073709551615,\"rng\":\"philox4x32-10\","
            "\"wavefront\":true}");
  assert_int_equal(mupc_params_json(&p, text, 100), MUPC_EINVAL);
  p.act = (mupc_act)99; /* no value of its kind */
  assert_int_equal(mupc_params_json(&p, text, sizeof text), MUPC_EINVAL);
  assert_int_equal(mupc_params_json(NULL, text, sizeof text), MUPC_EINVAL);
}

/* The phrase for row `name` given as (p, o) against ck; "" if it agrees. */
static const char *conflict(const mupc_checkpoint *ck, const mupc_net_params *p,
                            const mupc_train_opts *o, const char *name) {
  static char have[128];
  assert_int_equal(mupc_checkpoint_conflict(ck, p, o, name, have, sizeof have), MUPC_OK);
  return have;
}

static void test_checkpoint_conflict(void **state) {
  (void)state;
  mupc_checkpoint *ck = calloc(1, sizeof *ck);
  mupc_train_opts *o = malloc(sizeof *o);
  assert_non_null(ck);
  assert_non_null(o);
  ck->p = mupc_net_default_params();
  ck->p.output_dim = 12;
  ck->o = mupc_train_default_opts();
  ck->o.data.format = MUPC_DATA_IDX;
  ck->has_run = 1;
  mupc_net_params p = ck->p;
  *o = mupc_train_default_opts();
  assert_string_equal(conflict(ck, &p, o, "width"), "");
  p.width = 8, p.skips = 0, p.weight_decay = -0.0f;
  assert_string_equal(conflict(ck, &p, o, "width"), "width 128");
  assert_string_equal(conflict(ck, &p, o, "skips"), "skips on");
  assert_string_equal(conflict(ck, &p, o, "weight-decay"), ""); /* -0 is 0 */
  assert_string_equal(conflict(ck, &p, o, "format"), "");         /* auto */
  o->data.format = MUPC_DATA_CIFAR10, o->data.classes = 10, o->steps = 9;
  strcpy(o->data_dir, "/elsewhere");
  assert_string_equal(conflict(ck, &p, o, "format"), "format idx");
  assert_string_equal(conflict(ck, &p, o, "classes"), "12 classes");
  assert_string_equal(conflict(ck, &p, o, "steps"), ""); /* of this run */
  assert_string_equal(conflict(ck, &p, o, "data"), "");
  assert_string_equal(conflict(ck, &p, NULL, "classes"), "");
  ck->has_run = 0;
  assert_string_equal(conflict(ck, &p, o, "format"), "");
  char small[4];
  assert_int_equal(mupc_checkpoint_conflict(ck, &p, o, "width", small, sizeof small), MUPC_EINVAL);
  assert_int_equal(mupc_checkpoint_conflict(ck, &p, o, "widht", small, sizeof small), MUPC_EINVAL);
  assert_non_null(strstr(mupc_errmsg(), "no such parameter"));
  free(o);
  free(ck);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_int),       cmocka_unit_test(test_parse_u64),
      cmocka_unit_test(test_parse_float),     cmocka_unit_test(test_format_number),
      cmocka_unit_test(test_closest_name),    cmocka_unit_test(test_metrics_json),
      cmocka_unit_test(test_params_json),     cmocka_unit_test(test_checkpoint_conflict),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
