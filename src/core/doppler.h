/* Relativistic Doppler shift (ALGORITHM.md 3.3).  A source moving away at v
 * (v > 0) is observed at lambda_obs = lambda_rest * rvs_doppler_factor(v); the
 * template is therefore sampled at lambda_obs * sqrt((1-b)/(1+b)), b = v/c,
 * which is exactly upstream's evalRV expression. */
#ifndef RVS_CORE_DOPPLER_H
#define RVS_CORE_DOPPLER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* km/s (scipy.constants.speed_of_light / 1e3, as upstream). */
#define RVS_SPEED_OF_LIGHT 299792.458

/* sqrt((1+b)/(1-b)); NaN for |v| >= c. */
double rvs_doppler_factor(double v_kms);

/* sqrt((1-b)/(1+b)) = 1/rvs_doppler_factor(v), computed as upstream does. */
double rvs_doppler_rest_scale(double v_kms);

/* lam_rest[i] = lam_obs[i] * rvs_doppler_rest_scale(v) (may alias). */
void rvs_doppler_rest_wavelengths(const double *lam_obs, size_t n, double v_kms,
                                  double *lam_rest);

#ifdef __cplusplus
}
#endif
#endif
