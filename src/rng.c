/* Every random number the library draws from a seed: the initial weights
 * and the per-epoch shuffle. Both come from Philox4x32-10 (Salmon, Moraes,
 * Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11), a
 * counter-based generator: each 128-bit block is a pure function of
 * (counter, key), so two streams with different counters can never
 * overlap, whatever the seeds. The exact mapping is written out in mupc.h
 * (section "seeded random numbers") so another language can reproduce it.
 *
 * The generator before it (MUPC_RNG_SPLITMIX) is kept only so a run started
 * by an older mupc resumes with the batch order it began with: it started
 * layer l's splitmix64 stream at seed ^ (γ·(l+1)) and added γ per draw, so
 * layer l+1's stream was layer l's one draw later and every hidden matrix
 * repeated two layers down. Nothing new should use it. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ---- Philox4x32-10 -------------------------------------------------------- */

#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9) /* golden ratio */
#define PHILOX_W1 UINT32_C(0xBB67AE85) /* sqrt(3) - 1 */

void mupc_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; round++) {
    if (round) { /* the key schedule: bumped between rounds, not before the first */
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
    const uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
    const uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    const uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/* Block `block` of stream `stream` in `domain` under `seed`: the counter
 * and key layout of mupc.h. */
static void philox_block(uint64_t seed, uint32_t domain, uint64_t stream, uint64_t block,
                         uint32_t out[4]) {
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)stream, (uint32_t)(stream >> 32),
                           domain | (uint32_t)(block >> 32) << 8};
  mupc_philox4x32_10(ctr, key, out);
}

double mupc_rng_uniform(uint32_t word) {
  /* The top 24 bits and a half: every value is a float, none is 0 or 1. */
  return ((double)(word >> 8) + 0.5) * 0x1.0p-24;
}

/* ---- initial weights -------------------------------------------------------- */

static void philox_weights(const mupc_net_params *p, int layer, size_t n, int in_dim, float *w) {
  const int uniform = p->param == MUPC_PARAM_SP;
  const double bound = 1.0 / sqrt((double)in_dim);
  for (size_t i = 0; i < n; i += 4) {
    uint32_t x[4];
    philox_block(p->seed, MUPC_RNG_DOMAIN_WEIGHTS, (uint64_t)layer, i / 4, x);
    const size_t left = n - i < 4 ? n - i : 4;
    if (uniform) {
      for (size_t k = 0; k < left; k++)
        w[i + k] = (float)((2.0 * mupc_rng_uniform(x[k]) - 1.0) * bound);
      continue;
    }
    /* Box–Muller on the pairs (x0, x1) and (x2, x3). */
    for (size_t k = 0; k < left; k += 2) {
      const double r = sqrt(-2.0 * log(mupc_rng_uniform(x[k])));
      const double t = 2.0 * 3.14159265358979323846 * mupc_rng_uniform(x[k + 1]);
      w[i + k] = (float)(r * cos(t));
      if (k + 1 < left) w[i + k + 1] = (float)(r * sin(t));
    }
  }
}

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* The old layout, kept bit for bit (see the top of this file). */
static void splitmix_weights(const mupc_net_params *p, int layer, size_t n, int in_dim, float *w) {
  uint64_t s = p->seed ^ (UINT64_C(0x9E3779B97F4A7C15) * (uint64_t)(layer + 1));
#define U01() (((splitmix64(&s) >> 11) + 1) * 0x1.0p-53)
  if (p->param == MUPC_PARAM_SP) {
    const double bound = 1.0 / sqrt((double)in_dim);
    for (size_t i = 0; i < n; i++) w[i] = (float)((2.0 * U01() - 1.0) * bound);
    return;
  }
  for (size_t i = 0; i < n; i += 2) {
    const double r = sqrt(-2.0 * log(U01()));
    const double t = 2.0 * 3.14159265358979323846 * U01();
    w[i] = (float)(r * cos(t));
    if (i + 1 < n) w[i + 1] = (float)(r * sin(t));
  }
#undef U01
}

void mupc__init_weights(const mupc_net_params *p, int layer, size_t n, int fan_in, float *w) {
  if (p->rng == MUPC_RNG_SPLITMIX)
    splitmix_weights(p, layer, n, fan_in, w);
  else
    philox_weights(p, layer, n, fan_in, w);
}

/* ---- the per-epoch shuffle -------------------------------------------------- */

/* A stream of 64-bit draws: draw k is words (2k mod 4, 2k+1 mod 4) of block
 * k/2, low word first; or the old splitmix64 stream. */
typedef struct draws {
  mupc_rng rng;
  uint64_t seed, epoch, next, state;
  uint32_t x[4];
} draws;

static uint64_t draw(draws *d) {
  if (d->rng == MUPC_RNG_SPLITMIX) return splitmix64(&d->state);
  const uint64_t k = d->next++;
  if (k % 2 == 0) philox_block(d->seed, MUPC_RNG_DOMAIN_SHUFFLE, d->epoch, k / 2, d->x);
  const int w = (int)(k % 2) * 2;
  return (uint64_t)d->x[w] | (uint64_t)d->x[w + 1] << 32;
}

/* Uniform on 0 … bound-1 (bound >= 1): rejecting the lowest 2^64 mod bound
 * values leaves a multiple of bound outcomes, so the modulo carries no bias. */
static uint64_t bounded(draws *d, uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;
  uint64_t x;
  do
    x = draw(d);
  while (x < threshold);
  return x % bound;
}

void mupc_shuffle_rng(mupc_rng rng, uint32_t *perm, uint32_t n, uint64_t seed, uint64_t epoch) {
  draws d = {.rng = rng, .seed = seed, .epoch = epoch};
  d.state = seed ^ (UINT64_C(0xD1B54A32D192ED03) * (epoch + 1)); /* the old stream's start */
  for (uint32_t i = 0; i < n; i++) perm[i] = i;
  for (uint32_t i = n; i > 1; i--) {
    const uint32_t j = (uint32_t)bounded(&d, i);
    const uint32_t t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
}

void mupc_shuffle(uint32_t *perm, uint32_t n, uint64_t seed, uint64_t epoch) {
  mupc_shuffle_rng(MUPC_RNG_PHILOX, perm, n, seed, epoch);
}
