/* Counter-seeded random numbers for the simulator: every (seed, fiber,
 * purpose) triple has its own independent stream, so the output does not
 * depend on how fibers are spread over threads. */
#ifndef RVS_SIM_RNG_H
#define RVS_SIM_RNG_H

#include <stdint.h>

typedef struct rvs_sim_rng {
  uint64_t s[4]; /* xoshiro256** state */
  int have_spare;
  double spare;
} rvs_sim_rng;

/* Stream ids (the `purpose` argument). */
enum {
  RVS_SIM_STREAM_PARAMS = 1,
  RVS_SIM_STREAM_NOISE = 2,
  RVS_SIM_STREAM_CALIB = 3,
  RVS_SIM_STREAM_DEFECTS = 4,
  RVS_SIM_STREAM_FIBERMAP = 5,
  RVS_SIM_STREAM_GLOBAL = 6
};

void rvs_sim_rng_init(rvs_sim_rng *r, uint64_t seed, uint64_t fiber, uint64_t purpose);
uint64_t rvs_sim_rng_u64(rvs_sim_rng *r);
/* Uniform in (0, 1), never 0 or 1. */
double rvs_sim_rng_uniform(rvs_sim_rng *r);
double rvs_sim_rng_range(rvs_sim_rng *r, double lo, double hi);
/* Standard normal (Marsaglia polar method). */
double rvs_sim_rng_normal(rvs_sim_rng *r);
/* Integer in [0, n). */
uint64_t rvs_sim_rng_below(rvs_sim_rng *r, uint64_t n);
/* Poisson deviate (Knuth; for the small means used here). */
int rvs_sim_rng_poisson(rvs_sim_rng *r, double mean);

#endif
