/* Relativistic Doppler shift (see doppler.h). */
#include "core/doppler.h"

#include <math.h>

double rvs_doppler_factor(double v_kms) {
  double beta = v_kms / RVS_SPEED_OF_LIGHT;
  return sqrt((1 + beta) / (1 - beta));
}

double rvs_doppler_rest_scale(double v_kms) {
  double beta = v_kms / RVS_SPEED_OF_LIGHT;
  return sqrt((1 - beta) / (1 + beta));
}

void rvs_doppler_rest_wavelengths(const double *lam_obs, size_t n, double v_kms,
                                  double *lam_rest) {
  double scale = rvs_doppler_rest_scale(v_kms);
  for (size_t i = 0; i < n; i++) lam_rest[i] = lam_obs[i] * scale;
}
