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
      /* np.interp between (lh-1, spec[lh-1]) and (rh+1, spec[rh+1]), in its
       * order of operations: slope*(x - x0) + y0 */
      double y0 = spec[lh - 1], y1 = spec[rh + 1];
      double slope = (y1 - y0) / (double)(rh + 1 - (lh - 1));
      for (size_t k = lh; k <= rh; k++) spec[k] = slope * (double)(k - (lh - 1)) + y0;
    }
    i = rh + 1;
  }
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* np.nanmedian of a float32 array: NaNs dropped, and for an even count the
 * mean of the two middle values computed in float32, as numpy does. */
static float nanmedian_f32(const float *x, size_t n, float *scratch) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (!isnan(x[i])) scratch[m++] = x[i];
  if (m == 0) return NAN;
  qsort(scratch, m, sizeof(float), cmp_float);
  if (m % 2) return scratch[m / 2];
  float s = scratch[m / 2 - 1] + scratch[m / 2];
  return s / 2.0f;
}

/* Upstream works on the file's float32 arrays in float32 (numpy keeps the
 * dtype; python scalars are weak): the median flux, the ivar given to bad
 * pixels, sigma = 1/ivar**0.5, the clamp threshold and the interpolated
 * fluxes are all float32 values.  We do the same so that the arrays match
 * bit for bit; the outputs are doubles holding those float32 values. */
int rvs_desi_clean_arm(const double *wave, const float *flux, const float *ivar,
                       const int32_t *mask, size_t n, int use_resolution_matrix,
                       double *flux_out, double *sigma_out, unsigned char *badmask,
                       size_t *nclamped) {
  const float large_error = 1000, minerr_frac = 0.3f;
  *nclamped = 0;
  if (n == 0) return 0;
  size_t nmasked = 0;
  for (size_t i = 0; i < n; i++) nmasked += mask[i] > 0;
  if (nmasked == n) return 0;
  float *fs = malloc(sizeof(float) * n), *fs2 = malloc(sizeof(float) * n);
  if (!fs || !fs2) {
    free(fs);
    free(fs2);
    return 0;
  }
  float med = nanmedian_f32(flux, n, fs);
  if (med == 0) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      if (flux[i] > 0 && !(mask[i] > 0)) fs2[m++] = flux[i];
    med = nanmedian_f32(fs2, m, fs);
    if (!isfinite(med)) {
      for (size_t i = 0; i < n; i++) fs2[i] = fabsf(flux[i]);
      med = nanmedian_f32(fs2, n, fs);
    }
  }
  unsigned char *bad_interp = malloc(n);
  if (!isfinite(med) || med == 0 || !bad_interp) {
    free(fs);
    free(fs2);
    free(bad_interp);
    return 0;
  }
  size_t nbadall = 0;
  for (size_t i = 0; i < n; i++) {
    float fi = flux[i] + ivar[i]; /* float32 sum, as numpy's spec + curivars */
    int baddat = !isfinite(fi);
    int badmsk = mask[i] > 0;
    int baderr = ivar[i] <= 0; /* NaN ivar is caught by baddat */
    int dichroic = wave[i] > 4300 && wave[i] < 4450;
    int edge = use_resolution_matrix && (i < 5 || i + 5 >= n);
    bad_interp[i] = (unsigned char)(baddat | badmsk | baderr);
    badmask[i] = (unsigned char)(bad_interp[i] | dichroic | edge);
    nbadall += badmask[i];
    flux_out[i] = flux[i];
  }
  rvs_interpolate_bad_regions(flux_out, bad_interp, n);
  free(bad_interp);
  for (size_t i = 0; i < n; i++) flux_out[i] = (double)(float)flux_out[i];
  /* 1. / medspec**2 / large_error**2 in float32 (numpy's float32 ** is powf) */
  float ivar_bad = 1.0f / powf(med, 2.0f) / (large_error * large_error);
  float *sig = fs; /* the medians are done: fs is free */
  for (size_t i = 0; i < n; i++) {
    float iv = badmask[i] ? ivar_bad : ivar[i];
    sig[i] = 1.0f / sqrtf(iv);
  }
  if (nbadall == n) {
    rvs_log(RVS_LOG_WARNING, "The whole spectrum was masked...");
  } else {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      if (!badmask[i]) fs2[m++] = sig[i];
    float *tmp = malloc(sizeof(float) * m);
    if (!tmp) {
      free(fs);
      free(fs2);
      return 0;
    }
    float thr = nanmedian_f32(fs2, m, tmp) * minerr_frac;
    free(tmp);
    for (size_t i = 0; i < n; i++)
      if (!badmask[i] && sig[i] < thr) {
        sig[i] = thr;
        (*nclamped)++;
      }
    if ((double)*nclamped / (double)(n - nbadall) > .01)
      rvs_log(RVS_LOG_DEBUG, "More than 1%% of spectra had the uncertainty clamped");
  }
  for (size_t i = 0; i < n; i++) sigma_out[i] = sig[i];
  free(fs);
  free(fs2);
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
