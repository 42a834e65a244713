/* The seeded generator (src/rng.c): Philox4x32-10 against Random123's
 * published answers, the statistics of the initial weights it draws (each
 * layer N(0,1) or U(±1/√fan_in); no two layers, nor two seeds, correlated at
 * any shift), and the same weights on every device. Each statistical check
 * is also run on mupc 0.1's generator (MUPC_RNG_SPLITMIX), whose hidden
 * matrices repeat two layers down, and must catch it: a check that cannot
 * fail proves nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mupc.h"
#include "testdev.h"

/* Random123's tests/kat_vectors for philox4x32 with 10 rounds: counter,
 * key, output. */
static void test_philox_known_answers(void **state) {
  (void)state;
  static const uint32_t kat[3][10] = {
      {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
       0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
       0x94fdcceb, 0x5001e420, 0x24126ea1},
  };
  for (int i = 0; i < 3; i++) {
    uint32_t out[4];
    mupc_philox4x32_10(kat[i], kat[i] + 4, out);
    assert_memory_equal(out, kat[i] + 6, sizeof out);
  }
}

static void test_uniform_mapping(void **state) {
  (void)state;
  /* 24 bits, centred in their cell: never 0 or 1, an odd multiple of 2^-25. */
  assert_true(mupc_rng_uniform(0) == 0x1.0p-25);
  assert_true(mupc_rng_uniform(0xffffffffu) == 1.0 - 0x1.0p-25);
  assert_true(mupc_rng_uniform(0x100u) - mupc_rng_uniform(0xffu) == 0x1.0p-24);
  for (uint32_t x = 0; x < 100000; x++) {
    const double u = mupc_rng_uniform(x * 42949u + 17u);
    const double k = u * 0x1.0p25;
    assert_true(u > 0 && u < 1 && k == floor(k) && fmod(k, 2.0) == 1.0);
  }
}

/* ---- statistics ---------------------------------------------------------- */

typedef struct net_weights {
  int depth;
  size_t *n;
  float **w;
} net_weights;

static net_weights draw(const mupc_net_params *p) {
  net_weights nw = {p->depth, calloc((size_t)p->depth, sizeof(size_t)),
                    calloc((size_t)p->depth, sizeof(float *))};
  assert_non_null(nw.n);
  assert_non_null(nw.w);
  for (int l = 0; l < p->depth; l++) {
    const size_t out = l == p->depth - 1 ? (size_t)p->output_dim : (size_t)p->width;
    const size_t in = l == 0 ? (size_t)p->input_dim : (size_t)p->width;
    nw.n[l] = out * in;
    nw.w[l] = malloc(nw.n[l] * sizeof(float));
    assert_non_null(nw.w[l]);
    mupc_init_weights(p, l, nw.w[l]);
  }
  return nw;
}

static void release(net_weights *nw) {
  for (int l = 0; l < nw->depth; l++) free(nw->w[l]);
  free(nw->w);
  free(nw->n);
}

/* Whether every layer's mean and standard deviation lie within 5 standard
 * errors of N(0, 1), or of U(-b, b) with b = 1/√fan_in for sp. */
static int moments_ok(const mupc_net_params *p, const net_weights *nw) {
  for (int l = 0; l < nw->depth; l++) {
    const double n = (double)nw->n[l];
    double s = 0, s2 = 0, s4 = 0;
    for (size_t i = 0; i < nw->n[l]; i++) {
      const double x = nw->w[l][i];
      s += x;
      s2 += x * x;
      s4 += x * x * x * x;
    }
    const double fan_in = l == 0 ? p->input_dim : p->width;
    const double var = p->param == MUPC_PARAM_SP ? 1.0 / (3.0 * fan_in) : 1.0;
    const double mean = s / n, m2 = s2 / n;
    /* SE of the mean is √(var/n); of the second moment √((E x⁴ − var²)/n),
     * estimated from the sample. */
    const double se_mean = sqrt(var / n), se_m2 = sqrt(fmax(s4 / n - m2 * m2, 1e-30) / n);
    if (fabs(mean) > 5 * se_mean || fabs(m2 - var) > 5 * se_m2) return 0;
  }
  return 1;
}

/* The largest |correlation| of a and b (flattened, over the overlap when
 * their sizes differ) at shifts -64 … 64. */
static double max_xcorr(const float *a, size_t na, const float *b, size_t nb) {
  const size_t n = na < nb ? na : nb;
  double sa = 0, sb = 0;
  for (size_t i = 0; i < n; i++) {
    sa += (double)a[i] * a[i];
    sb += (double)b[i] * b[i];
  }
  double worst = 0;
  for (int k = -64; k <= 64; k++) {
    double dot = 0;
    for (size_t i = k < 0 ? (size_t)-k : 0; i < n && (ptrdiff_t)i + k < (ptrdiff_t)n; i++)
      dot += (double)a[i] * b[i + k];
    worst = fmax(worst, fabs(dot) / sqrt(sa * sb));
  }
  return worst;
}

/* The largest cross-correlation between layers l and m with 0 < |l − m| <=
 * reach (every pair when reach >= depth), within one network or (x != y)
 * between two. */
static double worst_pair(const net_weights *x, const net_weights *y, int reach) {
  double worst = 0;
  for (int l = 0; l < x->depth; l++)
    for (int m = 0; m < y->depth; m++) {
      if (abs(l - m) > reach || (x == y && m <= l)) continue;
      worst = fmax(worst, max_xcorr(x->w[l], x->n[l], y->w[m], y->n[m]));
    }
  return worst;
}

static mupc_net_params deep_net(mupc_rng rng, mupc_param param, uint64_t seed, int depth) {
  mupc_net_params p = mupc_net_default_params();
  p.depth = depth;
  p.width = 64;
  p.rng = rng;
  p.param = param;
  p.seed = seed;
  return p;
}

/* The network: 129 weight matrices of width 64, seeds 0 1 2. Pairs
 * up to 8 layers apart at full depth, every pair at depth 33. */
static void check_generator(mupc_rng rng, int expect_ok) {
  const mupc_param params[2] = {MUPC_PARAM_MUPC, MUPC_PARAM_SP};
  int all_ok = 1;
  double worst_all = 0;
  for (int k = 0; k < 2; k++)
    for (uint64_t seed = 0; seed < 3; seed++) {
      mupc_net_params p = deep_net(rng, params[k], seed, 129);
      net_weights nw = draw(&p);
      const int moments = moments_ok(&p, &nw);
      const double near = worst_pair(&nw, &nw, 8);
      release(&nw);
      p = deep_net(rng, params[k], seed, 33);
      nw = draw(&p);
      const double every = worst_pair(&nw, &nw, 1 << 20);
      release(&nw);
      const double worst = fmax(near, every);
      worst_all = fmax(worst_all, worst);
      if (expect_ok) {
        assert_true(moments);
        assert_true(worst < 0.2);
      }
      all_ok &= moments && worst < 0.2;
    }
  if (!expect_ok) {
    /* The old generator's hidden layers are shifted copies. */
    assert_false(all_ok);
    assert_true(worst_all > 0.99);
  }
}

static void test_philox_weights_independent(void **state) {
  (void)state;
  check_generator(MUPC_RNG_PHILOX, 1);
}

static void test_checks_catch_splitmix(void **state) {
  (void)state;
  check_generator(MUPC_RNG_SPLITMIX, 0);
}

/* Seeds 0, 1, 2 (and two far-apart seeds) give unrelated networks; the old
 * generator fails this too (seeds differing in the low bits shared layers). */
static void check_seeds(mupc_rng rng, int expect_ok) {
  const uint64_t seeds[5] = {0, 1, 2, UINT64_C(0x9E3779B97F4A7C15), UINT64_MAX};
  net_weights nw[5];
  for (int i = 0; i < 5; i++) {
    mupc_net_params p = deep_net(rng, MUPC_PARAM_MUPC, seeds[i], 17);
    nw[i] = draw(&p);
  }
  double worst = 0;
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++) worst = fmax(worst, worst_pair(&nw[i], &nw[j], 1 << 20));
  for (int i = 0; i < 5; i++) release(&nw[i]);
  if (expect_ok)
    assert_true(worst < 0.2);
  else
    assert_true(worst > 0.99);
}

static void test_seeds_unrelated(void **state) {
  (void)state;
  check_seeds(MUPC_RNG_PHILOX, 1);
  check_seeds(MUPC_RNG_SPLITMIX, 0);
}

/* Golden values of the documented mapping, from tests/rng_ref.py (Python,
 * written from mupc.h's text alone). */
static void test_weights_golden(void **state) {
  (void)state;
  mupc_net_params p = mupc_net_default_params();
  p.input_dim = 3;
  p.width = 5;
  p.output_dim = 2;
  p.depth = 3;
  p.seed = 7;
  float w[25];
  mupc_init_weights(&p, 1, w); /* 5 x 5: the first 5 */
  const float normal[5] = {0x1.25dc08p+0f, 0x1.716876p+0f, -0x1.197a62p-2f, -0x1.a6d258p-9f,
                           0x1.26e366p+0f};
  assert_memory_equal(w, normal, sizeof normal);
  mupc_init_weights(&p, 0, w); /* 5 x 3 = 15: an odd count ends on a cosine */
  assert_true(w[14] == 0x1.41765cp+0f);
  p.param = MUPC_PARAM_SP;
  mupc_init_weights(&p, 2, w); /* 2 x 5 */
  const float uniform[3] = {-0x1.439a1cp-3f, -0x1.9d50cep-2f, 0x1.7185b8p-2f};
  assert_memory_equal(w, uniform, sizeof uniform);
}

/* A seed's weights are the host's draws on every implementation. */
static void test_same_weights_on_devices(void **state) {
  (void)state;
  const char *specs[4];
  const int nspec = testdev_specs(specs, 4);
  assert_true(nspec >= 0);
  if (nspec == 0) skip();
  mupc_net_params p = deep_net(MUPC_RNG_PHILOX, MUPC_PARAM_MUPC, 1, 6);
  p.input_dim = 20;
  p.batch = 4;
  net_weights want = draw(&p);
  for (int i = 0; i < nspec; i++) {
    mupc_ctx *ctx = NULL;
    mupc_net *net = NULL;
    assert_int_equal(mupc_ctx_init(&ctx, specs[i]), MUPC_OK);
    assert_int_equal(mupc_net_init(&net, ctx, &p), MUPC_OK);
    for (int l = 0; l < p.depth; l++) {
      float *got = malloc(want.n[l] * sizeof *got);
      assert_non_null(got);
      assert_int_equal(mupc_net_tensor_size(net, MUPC_T_WEIGHT, l), want.n[l]);
      assert_int_equal(mupc_net_read(net, MUPC_T_WEIGHT, l, got), MUPC_OK);
      assert_memory_equal(got, want.w[l], want.n[l] * sizeof *got);
      free(got);
    }
    mupc_net_free(net);
    mupc_ctx_free(ctx);
  }
  release(&want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_philox_known_answers),
      cmocka_unit_test(test_uniform_mapping),
      cmocka_unit_test(test_weights_golden),
      cmocka_unit_test(test_philox_weights_independent),
      cmocka_unit_test(test_checks_catch_splitmix),
      cmocka_unit_test(test_seeds_unrelated),
      cmocka_unit_test(test_same_weights_on_devices),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
