#include "driver/desi_clean.h"

#include "rvs/log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double rvs_nanmedian(const double *x, size_t n, double *scratch) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (!isnan(x[i])) scratch[m++] = x[i];
  if (m == 0) return NAN;
  qsort(scratch, m, sizeof(double), cmp_double);
  return (m % 2) ? scratch[m / 2] : 0.5 * (scratch[m / 2 - 1] + scratch[m / 2]);
}

void rvs_interpolate_bad_regions(double *spec, const unsigned char *bad, size_t n) {
  size_t nbad = 0;
  for (size_t i = 0; i < n; i++) nbad += bad[i] != 0;
  if (nbad == 0 || nbad == n) return;
  size_t i = 0;
  while (i < n) {
    if (!bad[i]) { i++; continue; }
    size_t lh = i, rh = i;
    while (rh + 1 < n && bad[rh + 1]) rh++;
    if (lh == 0) {
      for (size_t k = 0; k <= rh; k++) spec[k] = spec[rh + 1];
    } else if (rh == n - 1) {
      for (size_t k = lh; k < n; k++) spec[k] = spec[lh - 1];
    } else {
      /* np.interp between (lh-1, spec[lh-1]) and (rh+1, spec[rh+1]) */
      double y0 = spec[lh - 1], y1 = spec[rh + 1];
      double span = (double)(rh + 1 - (lh - 1));
      for (size_t k = lh; k <= rh; k++) {
        double t = (double)(k - (lh - 1)) / span;
        spec[k] = y0 + t * (y1 - y0);
      }
    }
    i = rh + 1;
  }
}

int rvs_desi_clean_arm(const double *wave, const float *flux, const float *ivar,
                       const int32_t *mask, size_t n, int use_resolution_matrix,
                       double *flux_out, double *sigma_out, unsigned char *badmask,
                       size_t *nclamped) {
  const double large_error = 1000, minerr_frac = 0.3;
  *nclamped = 0;
  if (n == 0) return 0;
  size_t nmasked = 0;
  for (size_t i = 0; i < n; i++) {
    flux_out[i] = flux[i];
    nmasked += mask[i] > 0;
  }
  if (nmasked == n) return 0;
  /* sigma_out doubles as scratch for the medians until it is filled */
  double med = rvs_nanmedian(flux_out, n, sigma_out);
  if (med == 0) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      if (flux_out[i] > 0 && !(mask[i] > 0)) sigma_out[m++] = flux_out[i];
    double *tmp = malloc(sizeof(double) * (m ? m : 1));
    if (!tmp) return 0;
    med = rvs_nanmedian(sigma_out, m, tmp);
    free(tmp);
    if (!isfinite(med)) {
      double *absx = malloc(sizeof(double) * n);
      if (!absx) return 0;
      for (size_t i = 0; i < n; i++) absx[i] = fabs(flux_out[i]);
      med = rvs_nanmedian(absx, n, sigma_out);
      free(absx);
    }
  }
  if (!isfinite(med) || med == 0) return 0;
  unsigned char *bad_interp = malloc(n);
  if (!bad_interp) return 0;
  size_t nbadall = 0;
  for (size_t i = 0; i < n; i++) {
    int baddat = !isfinite((double)flux[i] + (double)ivar[i]);
    int badmsk = mask[i] > 0;
    int baderr = ivar[i] <= 0; /* NaN ivar is caught by baddat */
    int dichroic = wave[i] > 4300 && wave[i] < 4450;
    int edge = use_resolution_matrix && (i < 5 || i + 5 >= n);
    bad_interp[i] = (unsigned char)(baddat | badmsk | baderr);
    badmask[i] = (unsigned char)(bad_interp[i] | dichroic | edge);
    nbadall += badmask[i];
  }
  rvs_interpolate_bad_regions(flux_out, bad_interp, n);
  free(bad_interp);
  double big_sigma = fabs(med) * large_error; /* 1/sqrt(1/med^2/1000^2) */
  for (size_t i = 0; i < n; i++) sigma_out[i] = badmask[i] ? big_sigma : 1.0 / sqrt((double)ivar[i]);
  if (nbadall == n) {
    rvs_log(RVS_LOG_WARNING, "The whole spectrum was masked...");
    return 1;
  }
  double *good = malloc(sizeof(double) * (n - nbadall)), *tmp = malloc(sizeof(double) * (n - nbadall));
  if (!good || !tmp) {
    free(good);
    free(tmp);
    return 0;
  }
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (!badmask[i]) good[m++] = sigma_out[i];
  double thr = rvs_nanmedian(good, m, tmp) * minerr_frac;
  free(good);
  free(tmp);
  for (size_t i = 0; i < n; i++)
    if (!badmask[i] && sigma_out[i] < thr) {
      sigma_out[i] = thr;
      (*nclamped)++;
    }
  if ((double)*nclamped / (double)(n - nbadall) > .01)
    rvs_log(RVS_LOG_DEBUG, "More than 1%% of spectra had the uncertainty clamped");
  return 1;
}

static int bad_edge(double v, double lo, double hi, double thr) { return v < lo + thr || v > hi - thr; }

long rvs_warn_bits(double chisq_tot, double chisq_c_tot, double vrad, double vrad_err,
                   double teff, double logg, double feh, double vsini, int bad_hessian,
                   double min_vel, double max_vel) {
  long w = 0;
  if (chisq_c_tot - chisq_tot < 50) w |= RVS_WARN_CHISQ;
  if (bad_edge(vrad, min_vel, max_vel, 5)) w |= RVS_WARN_RV;
  if (vsini > 100) w |= RVS_WARN_VSINI;
  if (vrad_err > 100) w |= RVS_WARN_RVERR;
  if (bad_hessian) w |= RVS_WARN_BAD_HESSIAN;
  if (bad_edge(teff, 2300, 15000, 10) || bad_edge(feh, -4, 1, 0.01) || bad_edge(logg, -0.5, 6.5, 0.01))
    w |= RVS_WARN_PARAM;
  return w;
}
