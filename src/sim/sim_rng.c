#include "sim/sim_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void rvs_sim_rng_init(rvs_sim_rng *r, uint64_t seed, uint64_t fiber, uint64_t purpose) {
  /* Hash the triple through splitmix64 so nearby seeds/fibers decorrelate. */
  uint64_t x = seed;
  uint64_t h = splitmix64(&x);
  x = h ^ (fiber * 0xD1B54A32D192ED03ULL);
  h = splitmix64(&x);
  x = h ^ (purpose * 0x8CB92BA72F3D8DD7ULL);
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
  r->have_spare = 0;
  r->spare = 0.0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rvs_sim_rng_u64(rvs_sim_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double rvs_sim_rng_uniform(rvs_sim_rng *r) {
  /* 53 random bits, shifted by half a step: strictly inside (0, 1). */
  return ((double)(rvs_sim_rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

double rvs_sim_rng_range(rvs_sim_rng *r, double lo, double hi) {
  return lo + (hi - lo) * rvs_sim_rng_uniform(r);
}

double rvs_sim_rng_normal(rvs_sim_rng *r) {
  if (r->have_spare) {
    r->have_spare = 0;
    return r->spare;
  }
  double u, v, s;
  do {
    u = 2.0 * rvs_sim_rng_uniform(r) - 1.0;
    v = 2.0 * rvs_sim_rng_uniform(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double m = sqrt(-2.0 * log(s) / s);
  r->spare = v * m;
  r->have_spare = 1;
  return u * m;
}

uint64_t rvs_sim_rng_below(rvs_sim_rng *r, uint64_t n) {
  if (n <= 1) return 0;
  /* Rejection to avoid modulo bias. */
  uint64_t lim = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = rvs_sim_rng_u64(r);
  while (x >= lim);
  return x % n;
}

int rvs_sim_rng_poisson(rvs_sim_rng *r, double mean) {
  if (mean <= 0) return 0;
  double L = exp(-mean), p = 1.0;
  int k = 0;
  do {
    k++;
    p *= rvs_sim_rng_uniform(r);
  } while (p > L && k < 1000);
  return k - 1;
}
