/* Per-fiber, per-arm cleaning of DESI data before a fit (upstream
 * desi_fit.get_specdata, ALGORITHM.md §5.3), and the RVS_WARN bitmask (§5.6). */
#ifndef RVS_DRIVER_DESI_CLEAN_H
#define RVS_DRIVER_DESI_CLEAN_H

#include <stddef.h>
#include <stdint.h>

/* Clean one arm.  Inputs as in the coadd file (flux/ivar float32, mask int32).
 * Outputs: flux_out (bad runs linearly interpolated), sigma_out (bad pixels
 * 1000*|median flux|, small errors clamped to 0.3*median good error), badmask
 * (1 = bad: data, mask, ivar<=0, dichroic 4300-4450 A, and with the
 * resolution matrix the 5 edge pixels at each end).  Returns 1 when the arm
 * is usable, 0 when it must be dropped (every pixel masked, or no sensible
 * median flux).  *nclamped receives the number of clamped errors. */
int rvs_desi_clean_arm(const double *wave, const float *flux, const float *ivar,
                       const int32_t *mask, size_t n, int use_resolution_matrix,
                       double *flux_out, double *sigma_out, unsigned char *badmask,
                       size_t *nclamped);

/* Fill runs of bad pixels by linear interpolation in pixel index between the
 * good neighbours; a run at an end copies the nearest good value. */
void rvs_interpolate_bad_regions(double *spec, const unsigned char *bad, size_t n);

/* NaN-ignoring median (sorts a copy); NaN if no finite value. */
double rvs_nanmedian(const double *x, size_t n, double *scratch);

enum {
  RVS_WARN_CHISQ = 1,
  RVS_WARN_RV = 2,
  RVS_WARN_RVERR = 4,
  RVS_WARN_PARAM = 8,
  RVS_WARN_VSINI = 16,
  RVS_WARN_BAD_SPECTRUM = 32,
  RVS_WARN_BAD_HESSIAN = 64
};

/* RVS_WARN from the fit results (upstream get_rvs_warn). */
long rvs_warn_bits(double chisq_tot, double chisq_c_tot, double vrad, double vrad_err,
                   double teff, double logg, double feh, double vsini, int bad_hessian,
                   double min_vel, double max_vel);

#endif
