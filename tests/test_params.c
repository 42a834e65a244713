/* The parameter table (src/params.c): every row's default round-trips
 * through get and set, the defaults are the documented ones, every range
 * edge is accepted and the value past it refused with the CLI's wording,
 * names in any case and spelling, and the CLI's flags generated from the
 * table (src/cli/netflags.c): parsing, --help and --resume's conflicts. */
#include "cli/cli.h"
#include "cli/netflags.h"
#include "mupc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mupc_net_params net_defaults;
static mupc_train_opts train_defaults;

static int set(const mupc_param_info *r, mupc_net_params *p, mupc_train_opts *o, const char *v) {
  return r->scope == MUPC_PSCOPE_NET ? mupc_params_set(p, r->name, v)
                                     : mupc_train_opts_set(o, r->name, v);
}

static int get(const mupc_param_info *r, const mupc_net_params *p, const mupc_train_opts *o,
               char *dst, size_t n) {
  return r->scope == MUPC_PSCOPE_NET ? mupc_params_get(p, r->name, dst, n)
                                     : mupc_train_opts_get(o, r->name, dst, n);
}

/* ---- the rows ------------------------------------------------------------ */

static void test_rows_are_complete(void **state) {
  (void)state;
  const size_t n = mupc_params_count();
  assert_true(n >= 34);
  assert_null(mupc_params_info(n));
  for (size_t i = 0; i < n; i++) {
    const mupc_param_info *r = mupc_params_info(i);
    assert_non_null(r);
    assert_true(r->name && r->name[0] && r->help && r->help[0] && r->allowed && r->allowed[0]);
    assert_non_null(r->def);
    assert_true(r->type == MUPC_PTYPE_BOOL || (r->metavar && r->metavar[0]));
    assert_ptr_equal(mupc_params_find(r->name), r);
    for (size_t j = 0; j < i; j++) {
      const mupc_param_info *q = mupc_params_info(j);
      assert_string_not_equal(q->name, r->name);
      if (q->key && r->key) assert_string_not_equal(q->key, r->key);
    }
  }
}

/* Today's checkpoint keys, and the rows they belong to. */
static void test_checkpoint_keys(void **state) {
  (void)state;
  static const char *const pairs[][2] = {
      {"input-dim", "input_dim"},   {"width", "width"},
      {"output-dim", "output_dim"}, {"depth", "depth"},
      {"batch", "batch"},           {"act", "act"},
      {"param", "param"},           {"skips", "skips"},
      {"loss", "loss"},             {"algo", "algo"},
      {"infer-steps", "infer_steps"}, {"activity-lr", "activity_lr"},
      {"activity-optim", "activity_optim"}, {"lr", "lr"},
      {"optim", "optim"},           {"weight-decay", "weight_decay"},
      {"adam-beta1", "adam_beta1"}, {"adam-beta2", "adam_beta2"},
      {"adam-eps", "adam_eps"},     {"seed", "seed"},
      {"rng", "rng"},               {"wavefront", "wavefront"},
      {"norm-batch", "norm_batch"}, {"steps", "total_steps"},
      {"shuffle", "shuffle"},       {"data", "data_dir"},
      {"format", "data_format"},    {"label", "data_label"},
      {"norm", "norm"},
  };
  size_t keyed = 0;
  for (size_t i = 0; i < mupc_params_count(); i++) keyed += mupc_params_info(i)->key != NULL;
  assert_int_equal(keyed, sizeof pairs / sizeof pairs[0]);
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    const mupc_param_info *r = mupc_params_find(pairs[i][0]);
    assert_non_null(r);
    assert_non_null(r->key);
    assert_string_equal(r->key, pairs[i][1]);
  }
  /* Older files: 0.1.0 had no rng (splitmix64), none had norm_batch, and
   * the data keys came later (IDX, fine labels). */
  assert_string_equal(mupc_params_find("rng")->absent, "splitmix64");
  assert_string_equal(mupc_params_find("norm-batch")->absent, "0");
  assert_string_equal(mupc_params_find("format")->absent, "idx");
  assert_string_equal(mupc_params_find("label")->absent, "fine");
  assert_null(mupc_params_find("width")->absent);
  assert_null(mupc_params_find("norm")->absent); /* norm_mean and norm_std then */
  assert_int_equal(mupc_params_find("input-dim")->flags, MUPC_PFLAG_FROM_DATA);
  assert_int_equal(mupc_params_find("output-dim")->flags, MUPC_PFLAG_FROM_DATA);
  assert_int_equal(mupc_params_find("norm-batch")->flags, MUPC_PFLAG_INTERNAL);
  assert_int_equal(mupc_params_find("depth")->flags, 0);
}

/* get(default) is the row's default text, and sets the field back to the
 * same value. */
static void test_defaults_round_trip(void **state) {
  (void)state;
  for (size_t i = 0; i < mupc_params_count(); i++) {
    const mupc_param_info *r = mupc_params_info(i);
    mupc_net_params p = net_defaults;
    mupc_train_opts *o = malloc(sizeof *o), *o2 = malloc(sizeof *o2);
    assert_non_null(o);
    assert_non_null(o2);
    *o = train_defaults;
    char text[MUPC_PATH_MAX], again[MUPC_PATH_MAX];
    assert_int_equal(get(r, &p, o, text, sizeof text), MUPC_OK);
    assert_string_equal(text, r->def);
    /* Set into a struct where every other field differs from the default. */
    mupc_net_params q;
    memset(&q, 0xA5, sizeof q);
    memset(o2, 0xA5, sizeof *o2);
    o2->data.channels = 1;
    assert_int_equal(set(r, &q, o2, text), MUPC_OK);
    assert_int_equal(get(r, &q, o2, again, sizeof again), MUPC_OK);
    assert_string_equal(again, text);
    free(o);
    free(o2);
  }
}

static void test_default_values(void **state) {
  (void)state;
  const mupc_net_params p = mupc_net_default_params();
  assert_int_equal(p.input_dim, 784);
  assert_int_equal(p.width, 128);
  assert_int_equal(p.output_dim, 10);
  assert_int_equal(p.depth, 30);
  assert_int_equal(p.batch, 64);
  assert_int_equal(p.act, MUPC_ACT_RELU);
  assert_int_equal(p.param, MUPC_PARAM_MUPC);
  assert_int_equal(p.skips, 1);
  assert_int_equal(p.loss, MUPC_LOSS_MSE);
  assert_int_equal(p.algo, MUPC_ALGO_PC);
  assert_int_equal(p.infer_steps, 30);
  assert_true(p.activity_lr == 0.5f);
  assert_int_equal(p.activity_optim, MUPC_AOPTIM_GD);
  assert_true(p.lr == 0.1f);
  assert_int_equal(p.optim, MUPC_OPTIM_ADAM);
  assert_true(p.weight_decay == 0.0f && !signbit(p.weight_decay));
  assert_true(p.adam_beta1 == 0.9f);
  assert_true(p.adam_beta2 == 0.999f);
  assert_true(p.adam_eps == 1e-8f);
  assert_true(p.seed == 0);
  assert_int_equal(p.rng, MUPC_RNG_PHILOX);
  assert_int_equal(p.wavefront, 1);
  assert_int_equal(p.norm_batch, 0);
  assert_int_equal(mupc_net_params_check(&p), MUPC_OK);

  const mupc_train_opts o = mupc_train_default_opts();
  assert_true(o.steps == 1500);
  assert_int_equal(o.epochs, 0);
  assert_int_equal(o.shuffle, 1);
  assert_int_equal(o.eval_every, 100);
  assert_int_equal(o.save_every, 0);
  assert_string_equal(o.save, "");
  assert_string_equal(o.data_dir, "/usr/share/datasets/fashion-mnist");
  assert_int_equal(o.data.format, MUPC_DATA_AUTO);
  assert_int_equal(o.data.coarse, 0);
  assert_int_equal(o.data.classes, 0);
  assert_int_equal(o.data.channels, 1);
  assert_true(o.data.mean[0] == 0.5f && o.data.std[0] == 0.5f);
}

/* ---- values -------------------------------------------------------------- */

/* Every value in ok sets; every one in bad is refused with "expected
 * <allowed>, got '<bad>'" and leaves the structs as they were. */
static void check_values(const char *name, const char *const *ok, const char *const *bad) {
  const mupc_param_info *r = mupc_params_find(name);
  assert_non_null(r);
  mupc_net_params p = net_defaults;
  mupc_train_opts *o = malloc(sizeof *o);
  assert_non_null(o);
  *o = train_defaults;
  for (; *ok; ok++) {
    if (set(r, &p, o, *ok) != MUPC_OK) fail_msg("%s: '%s' refused: %s", name, *ok, mupc_errmsg());
  }
  for (; *bad; bad++) {
    mupc_net_params p0 = p;
    mupc_train_opts *o0 = malloc(sizeof *o0);
    assert_non_null(o0);
    memcpy(o0, o, sizeof *o);
    if (set(r, &p, o, *bad) != MUPC_EINVAL) fail_msg("%s: '%s' accepted", name, *bad);
    char want[512];
    snprintf(want, sizeof want, "expected %s, got '%s'", r->allowed, *bad);
    assert_string_equal(mupc_errmsg(), want);
    assert_memory_equal(&p, &p0, sizeof p);
    assert_memory_equal(o, o0, sizeof *o);
    free(o0);
  }
  free(o);
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE ((const char *const[]){NULL})

static void test_range_edges(void **state) {
  (void)state;
  check_values("depth", LIST("2", "100000"), LIST("1", "100001", "-2", "", " 2", "2 ", "2.0"));
  check_values("width", LIST("1", "1048576"), LIST("0", "1048577", "0x10", "1e3"));
  check_values("batch", LIST("1", "16777216"), LIST("0", "16777217", "-1"));
  check_values("infer-steps", LIST("0", "1000000"), LIST("-1", "1000001"));
  check_values("input-dim", LIST("1", "2147483647"), LIST("0", "2147483648"));
  check_values("output-dim", LIST("1", "2147483647"), LIST("0", "-1"));
  check_values("norm-batch", LIST("0", "2147483647"), LIST("-1", "2147483648"));
  /* 1e-45 is the smallest float above 0; 1e-50 is 0 as a float. */
  check_values("lr", LIST("1e-45", "0.1", "3.4e38"),
               LIST("0", "-0", "-1", "nan", "inf", "1e-50", "1e39", "0.5x", "", " 1"));
  check_values("activity-lr", LIST("0", "-0", "1e30"), LIST("-1e-45", "-1", "nan"));
  check_values("weight-decay", LIST("0", "1"), LIST("-1e-45", "inf"));
  check_values("adam-beta1", LIST("0", "0.99999994"), LIST("1", "-1e-45", "0.999999999"));
  check_values("adam-beta2", LIST("0", "0.999"), LIST("1", "2"));
  check_values("adam-eps", LIST("1e-45", "1"), LIST("0", "-1e-8"));
  check_values("seed", LIST("0", "18446744073709551615"),
               LIST("-1", "+1", " 1", "1 ", "18446744073709551616", "1.0", ""));
  check_values("steps", LIST("1", "9223372036854775807"),
               LIST("0", "1.5", "-1", "9223372036854775808"));
  check_values("epochs", LIST("1", "2147483647", ""), LIST("0", "-1", "2147483648"));
  check_values("eval-every", LIST("0", "2147483647"), LIST("-1"));
  check_values("save-every", LIST("1", ""), LIST("0"));
  check_values("classes", LIST("1", "2147483647", ""), LIST("0"));
}

/* The CLI's wording, which its tests grep. */
static void test_messages(void **state) {
  (void)state;
  mupc_net_params p = net_defaults;
  mupc_train_opts *o = malloc(sizeof *o);
  assert_non_null(o);
  *o = train_defaults;
  static const struct {
    const char *name, *value, *message;
  } cases[] = {
      {"classes", "0", "expected an integer >= 1, got '0'"},
      {"depth", "1", "expected an integer in [2, 100000], got '1'"},
      {"lr", "nan", "expected a number > 0, got 'nan'"},
      {"loss", "hinge", "expected one of mse, ce, got 'hinge'"},
      {"norm", "1,2,3", "expected MEAN,STD or C means then C stds (C <= 16), got '1,2,3'"},
      {"format", "jpeg", "expected auto, idx, cifar10, cifar100 or tensors, got 'jpeg'"},
      {"label", "medium", "expected fine or coarse, got 'medium'"},
      {"seed", "-1", "expected an integer >= 0 (64-bit), got '-1'"},
      {"adam-beta1", "1", "expected a number in [0, 1), got '1'"},
      {"skips", "maybe", "expected true, false, 1, 0, on, off, yes or no, got 'maybe'"},
      {"norm", "0.5,0", "STD 1: expected a number > 0, got '0'"},
      {"norm", "0.5,x,1,1", "MEAN 2: expected a number, got 'x'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const mupc_param_info *r = mupc_params_find(cases[i].name);
    assert_int_equal(set(r, &p, o, cases[i].value), MUPC_EINVAL);
    assert_string_equal(mupc_errmsg(), cases[i].message);
  }
  free(o);
}

/* The names of values of one enum, as `allowed` lists them. */
/* The row's allowed text is prefix and every name in order, separated by
 * ", ", each name followed by nothing or (with helps) by " (what it is)". */
static void check_names(const char *row, const char *prefix, int count,
                        const char *(*name_of)(int), int helps) {
  const char *text = mupc_params_find(row)->allowed;
  assert_int_equal(strncmp(text, prefix, strlen(prefix)), 0);
  text += strlen(prefix);
  for (int i = 0; i < count; i++) {
    if (i) {
      assert_int_equal(strncmp(text, ", ", 2), 0);
      text += 2;
    }
    const size_t n = strlen(name_of(i));
    if (strncmp(text, name_of(i), n) != 0) fail_msg("%s: '%s' where %s was due", row, text, name_of(i));
    text += n;
    if (!helps) continue;
    assert_true(text[0] == ' ' && text[1] == '(' && text[2] != ')');
    int depth = 0; /* to the parenthesis that closes the help: it may hold some */
    do {
      assert_true(*++text != '\0');
      depth += (*text == '(') - (*text == ')');
    } while (depth > 0);
    text++;
  }
  assert_string_equal(text, "");
}

#define NAME_OF(fn, type)                                                                          \
  static const char *fn##_i(int i) { return fn((type)i); }
NAME_OF(mupc_act_name, mupc_act)
NAME_OF(mupc_param_name, mupc_param)
NAME_OF(mupc_loss_name, mupc_loss)
NAME_OF(mupc_algo_name, mupc_algo)
NAME_OF(mupc_aoptim_name, mupc_aoptim)
NAME_OF(mupc_optim_name, mupc_optim)
NAME_OF(mupc_rng_name, mupc_rng)

static void test_enums(void **state) {
  (void)state;
  check_names("act", "one of ", MUPC_ACT_COUNT, mupc_act_name_i, 1);
  check_names("param", "one of ", MUPC_PARAM_COUNT, mupc_param_name_i, 0);
  check_names("loss", "one of ", MUPC_LOSS_COUNT, mupc_loss_name_i, 0);
  check_names("algo", "one of ", MUPC_ALGO_COUNT, mupc_algo_name_i, 0);
  check_names("activity-optim", "one of ", MUPC_AOPTIM_COUNT, mupc_aoptim_name_i, 1);
  check_names("optim", "one of ", MUPC_OPTIM_COUNT, mupc_optim_name_i, 0);
  check_names("rng", "one of ", MUPC_RNG_COUNT, mupc_rng_name_i, 0);

  mupc_net_params p = net_defaults;
  assert_int_equal(mupc_params_set(&p, "act", "ReLU"), MUPC_OK);
  assert_int_equal(p.act, MUPC_ACT_RELU);
  assert_int_equal(mupc_params_set(&p, "act", "HARD_TANH"), MUPC_OK);
  assert_int_equal(p.act, MUPC_ACT_HARD_TANH);
  assert_int_equal(mupc_params_set(&p, "param", "muPC"), MUPC_OK);
  assert_int_equal(mupc_params_set(&p, "optim", "SGD"), MUPC_OK);
  assert_int_equal(p.optim, MUPC_OPTIM_SGD);
  assert_int_equal(mupc_params_set(&p, "rng", "SplitMix64"), MUPC_OK);
  assert_int_equal(p.rng, MUPC_RNG_SPLITMIX);
  char text[64];
  assert_int_equal(mupc_params_get(&p, "rng", text, sizeof text), MUPC_OK);
  assert_string_equal(text, "splitmix64");
  assert_int_equal(mupc_params_get(&p, "act", text, sizeof text), MUPC_OK);
  assert_string_equal(text, "hard_tanh");
  /* A field holding no value of its enum cannot be written out. */
  p.loss = (mupc_loss)7;
  assert_int_equal(mupc_params_get(&p, "loss", text, sizeof text), MUPC_EINVAL);

  mupc_train_opts *o = malloc(sizeof *o);
  assert_non_null(o);
  *o = train_defaults;
  assert_int_equal(mupc_train_opts_set(o, "format", "CIFAR100"), MUPC_OK);
  assert_int_equal(o->data.format, MUPC_DATA_CIFAR100);
  assert_int_equal(mupc_train_opts_set(o, "label", "Coarse"), MUPC_OK);
  assert_int_equal(o->data.coarse, 1);
  assert_int_equal(mupc_train_opts_get(o, "label", text, sizeof text), MUPC_OK);
  assert_string_equal(text, "coarse");
  free(o);
}

static void test_bools(void **state) {
  (void)state;
  static const char *const on[] = {"1", "true", "TRUE", "on", "Yes"};
  static const char *const off[] = {"0", "false", "Off", "no", "NO"};
  mupc_net_params p = net_defaults;
  char text[8];
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(mupc_params_set(&p, "skips", off[i]), MUPC_OK);
    assert_int_equal(p.skips, 0);
    assert_int_equal(mupc_params_get(&p, "skips", text, sizeof text), MUPC_OK);
    assert_string_equal(text, "0");
    assert_int_equal(mupc_params_set(&p, "skips", on[i]), MUPC_OK);
    assert_int_equal(p.skips, 1);
    assert_int_equal(mupc_params_get(&p, "skips", text, sizeof text), MUPC_OK);
    assert_string_equal(text, "1");
  }
  check_values("wavefront", LIST("yes", "no"), LIST("2", "", "onn", "-1"));
  check_values("shuffle", LIST("off", "on"), LIST("y"));
}

static void test_norm(void **state) {
  (void)state;
  mupc_train_opts *o = malloc(sizeof *o);
  assert_non_null(o);
  *o = train_defaults;
  const char *six = "0.4914,0.4822,0.4465,0.247,0.2435,0.2616";
  char text[MUPC_PATH_MAX];
  assert_int_equal(mupc_train_opts_set(o, "norm", six), MUPC_OK);
  assert_int_equal(o->data.channels, 3);
  assert_true(o->data.mean[2] == 0.4465f && o->data.std[0] == 0.247f);
  assert_int_equal(mupc_train_opts_get(o, "norm", text, sizeof text), MUPC_OK);
  assert_string_equal(text, six);
  /* 16 channels and no more. */
  char many[512] = "";
  for (int i = 0; i < 32; i++) strcat(many, i ? ",1" : "1");
  assert_int_equal(mupc_train_opts_set(o, "norm", many), MUPC_OK);
  assert_int_equal(o->data.channels, 16);
  strcat(many, ",1,1");
  check_values("norm", LIST("1,2"), LIST("1,2,3", "", "1", (const char *)many));
  free(o);
}

static void test_strings(void **state) {
  (void)state;
  mupc_train_opts *o = malloc(sizeof *o);
  assert_non_null(o);
  *o = train_defaults;
  char *longest = malloc(MUPC_PATH_MAX + 1);
  assert_non_null(longest);
  memset(longest, 'a', MUPC_PATH_MAX);
  longest[MUPC_PATH_MAX - 1] = '\0';
  assert_int_equal(mupc_train_opts_set(o, "data", longest), MUPC_OK);
  assert_string_equal(o->data_dir, longest);
  longest[MUPC_PATH_MAX - 1] = 'a';
  longest[MUPC_PATH_MAX] = '\0';
  assert_int_equal(mupc_train_opts_set(o, "save", longest), MUPC_EINVAL);
  assert_string_equal(mupc_errmsg(),
                      "expected a path shorter than 4096 bytes, got one of 4096 bytes");
  assert_string_equal(o->save, "");
  assert_int_equal(mupc_train_opts_set(o, "save", "run.st"), MUPC_OK);
  char text[16];
  assert_int_equal(mupc_train_opts_get(o, "save", text, sizeof text), MUPC_OK);
  assert_string_equal(text, "run.st");
  /* A buffer too small is an error, not a cut value. */
  assert_int_equal(mupc_train_opts_get(o, "save", text, 6), MUPC_EINVAL);
  assert_non_null(strstr(mupc_errmsg(), "needs 7 bytes"));
  free(longest);
  free(o);
}

/* get's text is the shortest that reads back: 0.1, not 0.100000001. */
static void test_floats_shortest(void **state) {
  (void)state;
  mupc_net_params p = net_defaults;
  char text[64];
  static const struct {
    const char *in, *out;
  } cases[] = {{"0.1", "0.1"}, {"1e-8", "1e-08"}, {"0.30000001", "0.3"}, {"5", "5"},
               {"16777217", "16777216"}, {"0.1000000015", "0.1"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(mupc_params_set(&p, "lr", cases[i].in), MUPC_OK);
    assert_int_equal(mupc_params_get(&p, "lr", text, sizeof text), MUPC_OK);
    assert_string_equal(text, cases[i].out);
  }
  /* Every float of a sweep over the exponents comes back exactly, and no
   * shorter text would. */
  uint32_t bits = 0x00000001u;
  for (int k = 0; k < 20000; k++, bits = bits * 2654435761u + 12345u) {
    uint32_t b = (bits & 0x7FFFFFFFu) % 0x7F800000u; /* positive and finite */
    float v;
    memcpy(&v, &b, sizeof v);
    if (!(v > 0)) continue;
    p.lr = v;
    assert_int_equal(mupc_params_get(&p, "lr", text, sizeof text), MUPC_OK);
    mupc_net_params q = net_defaults;
    assert_int_equal(mupc_params_set(&q, "lr", text), MUPC_OK);
    assert_true(q.lr == v);
    /* Six digits whenever they read back (every float that fewer digits
     * give prints the same with six), else the fewest of 7 to 9. */
    int digits = 0, leading = 1;
    for (const char *c = text; *c && *c != 'e'; c++) {
      if (leading && (*c == '0' || *c == '.')) continue;
      leading = 0;
      digits += *c >= '0' && *c <= '9';
    }
    assert_true(digits <= 9);
    if (digits > 6) {
      char shorter[320];
      snprintf(shorter, sizeof shorter, "%.*g", digits - 1, (double)v);
      assert_true(strtof(shorter, NULL) != v);
    }
  }
}

/* ---- names ---------------------------------------------------------------- */

static void test_names(void **state) {
  (void)state;
  const mupc_param_info *r = mupc_params_find("infer-steps");
  assert_non_null(r);
  assert_ptr_equal(mupc_params_find("infer_steps"), r);
  assert_ptr_equal(mupc_params_find("INFER_Steps"), r);
  assert_null(mupc_params_find("infer"));
  assert_null(mupc_params_find(""));
  assert_null(mupc_params_find(NULL));
  mupc_net_params p = net_defaults, p0 = p;
  assert_int_equal(mupc_params_set(&p, "Infer_Steps", "7"), MUPC_OK);
  assert_int_equal(p.infer_steps, 7);

  p = p0;
  assert_int_equal(mupc_params_set(&p, "widht", "5"), MUPC_EINVAL);
  assert_string_equal(mupc_errmsg(), "no parameter 'widht' (did you mean 'width'?)");
  assert_int_equal(mupc_params_set(&p, "infer-step", "5"), MUPC_EINVAL);
  assert_string_equal(mupc_errmsg(), "no parameter 'infer-step' (did you mean 'infer-steps'?)");
  assert_int_equal(mupc_params_set(&p, "xyzzy", "5"), MUPC_EINVAL);
  assert_string_equal(mupc_errmsg(), "no parameter 'xyzzy'");
  /* A training option is not a network parameter, and the other way. */
  assert_int_equal(mupc_params_set(&p, "steps", "5"), MUPC_EINVAL);
  assert_string_equal(mupc_errmsg(),
                      "no parameter 'steps' in mupc_net_params; it is one of mupc_train_opts");
  mupc_train_opts *o = malloc(sizeof *o);
  assert_non_null(o);
  *o = train_defaults;
  assert_int_equal(mupc_train_opts_set(o, "width", "5"), MUPC_EINVAL);
  assert_int_equal(mupc_train_opts_set(o, "stpes", "5"), MUPC_EINVAL);
  assert_string_equal(mupc_errmsg(), "no parameter 'stpes' (did you mean 'steps'?)");
  assert_int_equal(mupc_train_opts_set(o, "steps", "5"), MUPC_OK);
  assert_true(o->steps == 5);
  assert_int_equal(mupc_train_opts_set(o, "eval_every", "0"), MUPC_OK);
  assert_int_equal(o->eval_every, 0);
  assert_memory_equal(&p, &p0, sizeof p);
  assert_int_equal(mupc_params_set(NULL, "width", "5"), MUPC_EINVAL);
  assert_int_equal(mupc_params_set(&p, NULL, "5"), MUPC_EINVAL);
  assert_int_equal(mupc_params_set(&p, "width", NULL), MUPC_EINVAL);
  char text[8];
  assert_int_equal(mupc_params_get(NULL, "width", text, sizeof text), MUPC_EINVAL);
  free(o);
}

/* ---- the CLI's flags ------------------------------------------------------ */

/* What the CLI prints on stderr goes to a memory stream meanwhile (glibc
 * lets stderr be assigned). */
static FILE *real_stderr;
static char *captured_buf;
static size_t captured_len;
static char captured[8192];

static void capture_begin(void) {
  real_stderr = stderr;
  stderr = open_memstream(&captured_buf, &captured_len);
  assert_non_null(stderr);
}

static void capture_end(void) {
  fclose(stderr);
  stderr = real_stderr;
  snprintf(captured, sizeof captured, "%s", captured_buf);
  free(captured_buf);
  captured_buf = NULL;
}

enum { OWN_QUIET = 1 };

/* A command line through getopt_long with the table's flags of `rows`; the
 * exit status, the complaint in `captured`. */
static int parse(unsigned rows, const char *const *words, mupc_net_params *p,
                 mupc_train_opts *o) {
  static const struct option own[] = {{"quiet", no_argument, NULL, OWN_QUIET},
                                      {NULL, 0, NULL, 0}};
  struct option *opts = cli_param_options(own, rows);
  assert_non_null(opts);
  char *argv[32] = {"mupc train"};
  int argc = 1;
  while (*words && argc < 31) argv[argc++] = (char *)*words++;
  argv[argc] = NULL;
  optind = 0;
  opterr = 0;
  int opt, rc = 0;
  capture_begin();
  while (!rc && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (cli_param_flag("train", opt, optarg, p, o, &rc)) continue;
    if (opt != OWN_QUIET) rc = cli_bad_flag("train", argc, argv, opts);
  }
  capture_end();
  free(opts);
  return rc;
}

static void test_flags(void **state) {
  (void)state;
  mupc_net_params p = net_defaults;
  mupc_train_opts *o = malloc(sizeof *o);
  assert_non_null(o);
  *o = train_defaults;
  assert_int_equal(parse(CLI_ROWS_NET | CLI_ROWS_TRAIN,
                         LIST("--width", "32", "--no-skips", "--act", "tanh", "--quiet",
                              "--adam-beta2", "0.99", "--steps", "7", "--no-shuffle", "--norm",
                              "0.1,0.2", "--rng", "splitmix64"),
                         &p, o),
                   CLI_EXIT_OK);
  assert_int_equal(p.width, 32);
  assert_int_equal(p.skips, 0);
  assert_int_equal(p.act, MUPC_ACT_TANH);
  assert_true(p.adam_beta2 == 0.99f);
  assert_int_equal(p.rng, MUPC_RNG_SPLITMIX);
  assert_true(o->steps == 7);
  assert_int_equal(o->shuffle, 0);
  assert_true(o->data.mean[0] == 0.1f && o->data.std[0] == 0.2f);
  assert_true(cli_param_seen("width") && cli_param_seen("skips") && cli_param_seen("no-skips"));
  assert_true(cli_param_seen("shuffle") && cli_param_seen("steps"));
  assert_false(cli_param_seen("depth"));
  /* Flags are spelt with '-' only, as ever. */
  assert_int_equal(parse(CLI_ROWS_NET, LIST("--infer_steps", "3"), &p, NULL), CLI_EXIT_USAGE);
  assert_false(cli_param_seen("infer-steps"));
  assert_string_equal(captured, "mupc train: unknown flag '--infer_steps'; did you mean "
                                "'--infer-steps'? (see 'mupc train --help')\n");

  /* The library's message behind the flag. */
  p = net_defaults;
  assert_int_equal(parse(CLI_ROWS_NET, LIST("--width", "0"), &p, NULL), CLI_EXIT_USAGE);
  assert_string_equal(captured, "mupc train: --width: expected an integer in [1, 1048576], got "
                                "'0'\n");
  assert_int_equal(parse(CLI_ROWS_NET | CLI_ROWS_TRAIN, LIST("--norm", "1,2,3"), &p, o),
                   CLI_EXIT_USAGE);
  assert_string_equal(captured, "mupc train: --norm: expected MEAN,STD or C means then C stds "
                                "(C <= 16), got '1,2,3'\n");
  /* Rows outside `rows` are no flags; norm-batch never is. */
  assert_int_equal(parse(CLI_ROWS_NET, LIST("--steps", "5"), &p, NULL), CLI_EXIT_USAGE);
  assert_int_equal(parse(CLI_ROWS_NET, LIST("--input-dim", "5"), &p, NULL), CLI_EXIT_USAGE);
  assert_int_equal(parse(CLI_ROWS_NET | CLI_ROWS_DIMS | CLI_ROWS_TRAIN,
                         LIST("--norm-batch", "5"), &p, o),
                   CLI_EXIT_USAGE);
  assert_int_equal(parse(CLI_ROWS_NET | CLI_ROWS_DIMS, LIST("--input-dim", "5", "--output-dim", "3"),
                         &p, NULL),
                   CLI_EXIT_OK);
  assert_int_equal(p.input_dim, 5);
  assert_int_equal(p.output_dim, 3);
  free(o);
}

static void test_help(void **state) {
  (void)state;
  FILE *f = tmpfile();
  assert_non_null(f);
  cli_params_help(f, CLI_ROWS_NET | CLI_ROWS_TRAIN);
  rewind(f);
  static char text[16384];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  /* Every flag `mupc train --help` has always described, with a blank after
   * it, and the new ones. */
  static const char *const flags[] = {
      "data",         "norm",     "depth",      "width",      "act",        "param",
      "no-skips",     "loss",     "algo",       "batch",      "infer-steps", "activity-lr",
      "activity-optim", "lr",     "optim",      "weight-decay", "epochs",   "steps",
      "seed",         "no-shuffle", "eval-every", "save",     "save-every", "format",
      "label",        "classes",  "adam-beta1", "adam-beta2", "adam-eps",   "rng",
      "no-wavefront",
  };
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    char want[64];
    snprintf(want, sizeof want, "\n  --%s ", flags[i]);
    if (!strstr(text, want)) fail_msg("--help lacks --%s:\n%s", flags[i], text);
  }
  assert_null(strstr(text, "--norm-batch"));
  assert_null(strstr(text, "--input-dim"));
  assert_non_null(strstr(text, "(default 30)"));
  assert_non_null(strstr(text, "model:\n"));
  for (char *line = text; *line;) {
    char *end = strchr(line, '\n');
    assert_non_null(end);
    assert_true(end - line <= 79);
    line = end + 1;
  }
}

static void test_resume_conflicts(void **state) {
  (void)state;
  mupc_checkpoint *ck = calloc(1, sizeof *ck);
  mupc_train_opts *o = malloc(sizeof *o);
  assert_non_null(ck);
  assert_non_null(o);
  ck->p = net_defaults;
  ck->p.width = 16;
  ck->p.output_dim = 12;
  ck->o = train_defaults;
  ck->o.data.format = MUPC_DATA_IDX;
  ck->has_run = 1;
  static const struct {
    const char *words[9];
    const char *line; /* NULL: no conflict */
  } cases[] = {
      {{"--width", "16"}, NULL},
      {{"--width", "8"},
       "mupc train: --width: conflicts with ck.st, which has width 16; --resume takes the "
       "network, optimiser and data flags from the checkpoint\n"},
      {{"--no-skips"}, "mupc train: --no-skips: conflicts with ck.st, which has skips on; "},
      {{"--no-shuffle"}, "mupc train: --no-shuffle: conflicts with ck.st, which has shuffle on; "},
      {{"--lr", "0.1", "--weight-decay", "-0"}, NULL},
      {{"--lr", "0.2"}, "mupc train: --lr: conflicts with ck.st, which has lr 0.1; "},
      {{"--format", "auto"}, NULL},
      {{"--format", "idx"}, NULL},
      {{"--format", "cifar10"}, "mupc train: --format: conflicts with ck.st, which has format idx; "},
      {{"--classes", "12"}, NULL},
      {{"--classes", "10"}, "mupc train: --classes: conflicts with ck.st, which has 12 classes; "},
      {{"--norm", "0.5,0.5", "--label", "fine"}, NULL},
      {{"--label", "coarse"}, "mupc train: --label: conflicts with ck.st, which has label fine; "},
      {{"--norm", "0.5,0.25"},
       "mupc train: --norm: conflicts with ck.st, which has norm 0.5,0.5; "},
      {{"--steps", "9", "--save", "x.st", "--data", "/elsewhere", "--eval-every", "0"}, NULL},
      {{"--epochs", "2", "--save-every", "3"}, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mupc_net_params p = net_defaults;
    *o = train_defaults;
    assert_int_equal(parse(CLI_ROWS_NET | CLI_ROWS_TRAIN, cases[i].words, &p, o), CLI_EXIT_OK);
    capture_begin();
    int rc = cli_params_check_resume("train", "ck.st", &p, o, ck);
    capture_end();
    if (!cases[i].line) {
      assert_int_equal(rc, CLI_EXIT_OK);
      assert_string_equal(captured, "");
    } else {
      assert_int_equal(rc, CLI_EXIT_USAGE);
      if (strncmp(captured, cases[i].line, strlen(cases[i].line)) != 0)
        fail_msg("case %zu: got %s", i, captured);
    }
  }
  free(o);
  free(ck);
}

static int setup(void **state) {
  (void)state;
  net_defaults = mupc_net_default_params();
  train_defaults = mupc_train_default_opts();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows_are_complete),
      cmocka_unit_test(test_checkpoint_keys),
      cmocka_unit_test(test_defaults_round_trip),
      cmocka_unit_test(test_default_values),
      cmocka_unit_test(test_range_edges),
      cmocka_unit_test(test_messages),
      cmocka_unit_test(test_enums),
      cmocka_unit_test(test_bools),
      cmocka_unit_test(test_norm),
      cmocka_unit_test(test_strings),
      cmocka_unit_test(test_floats_shortest),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_flags),
      cmocka_unit_test(test_help),
      cmocka_unit_test(test_resume_conflicts),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
