/* Robust spline continuum, upstream make_ccf.get_continuum (ALGORITHM.md
 * §2.8 step 5): ln-continuum = interpolating quadratic spline through node
 * values at nodes lam_min*(1+step/c)^k (c = 3e5 km/s), fitted by soft-L1
 * robust least squares (f_scale 1) to (exp(S(lam)) - f)/sigma. */
#ifndef RVS_TEMPLATES_CONTINUUM_FIT_H
#define RVS_TEMPLATES_CONTINUUM_FIT_H

#include <stddef.h>

typedef struct rvs_continuum_info {
  int nnodes;     /* spline nodes */
  int iterations; /* accepted Levenberg-Marquardt steps */
  double cost;    /* final 0.5*sum(rho(r^2)), rho(z) = 2(sqrt(1+z)-1) */
  double cost0;   /* cost at the binned-median start */
} rvs_continuum_info;

/* lam[n] (Angstrom, > 0), spec[n], espec[n] (> 0) -> cont[n].
 * splinestep_kms: node spacing in km/s (> 0).  info may be NULL.
 * Thread-safe.  Deviation from upstream: with fewer than 3 nodes (upstream
 * raises) the spline degree drops to nnodes-1. */
int rvs_get_continuum(const double *lam, const double *spec, const double *espec, size_t n,
                      double splinestep_kms, double *cont, rvs_continuum_info *info);

/* Median of x[n] as numpy (mean of the two middle values for even n);
 * scratch needs n doubles (x is not modified). */
double rvs_median(const double *x, size_t n, double *scratch);

#endif
